#!/usr/bin/env bash
# Data-parallel training through torchrun: what 1 and 2 ranks cost against Odyssey's
# in-process trainer, and the communication time per step. Writes docs/bench-distributed.md
# (docs/bench-distributed-cuda.md on a machine where torch sees a GPU: NCCL instead of Gloo).
#
#   scripts/bench/distributed.sh [threads (2)] [steps (16)] [rounds (2)] [smollm2 comm steps (2; 0 skips)]
#
# 1. examples/bench_distributed.rs: the GPT-2 of docs/bench-train.md (5.3 M parameters,
#    batch 8 × 256) trained in-process, by `Trainer::fit_distributed` with 1 rank and with 2
#    ranks; steady-state seconds per step and the fixed cost of a launch.
# 2. scripts/bench/peers/ddp_comm.py under torchrun with 1 and 2 ranks: per-step time with the
#    gradient all-reduce against the same step under DDP's no_sync(), and a bare all_reduce of
#    the gradients' size — for that GPT-2 and for SmolLM2-135M's architecture.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
THREADS="${1:-2}"
STEPS="${2:-16}"
ROUNDS="${3:-2}"
SMOL_STEPS="${4:-2}"
source "$ROOT/scripts/bench/common.sh"
PY="$(odyssey_python "torch + transformers + accelerate")"
TORCHRUN="$(dirname "$PY")/torchrun"
[[ -x "$TORCHRUN" ]] || { echo "no torchrun beside $PY: run scripts/odyssey.sh setup" >&2; exit 1; }
"$PY" -c "import accelerate" 2>/dev/null || {
    echo "the hand-off needs accelerate: run scripts/odyssey.sh setup" >&2; exit 1; }
CUDA="$("$PY" -c 'import torch; print(int(torch.cuda.is_available()))')"

cargo build --release --quiet --example bench_distributed
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "throughput: in-process, 1 rank, 2 ranks ($STEPS and $((2 * STEPS)) steps, $ROUNDS rounds)" >&2
ODYSSEY_PYTHON="$PY" target/release/examples/bench_distributed "$STEPS" "$THREADS" "$ROUNDS" \
    | tee "$TMP/throughput.txt" >&2

comm() { # model steps ranks
    OMP_NUM_THREADS=$((THREADS / $3 > 0 ? THREADS / $3 : 1)) HF_HUB_OFFLINE=1 \
        "$TORCHRUN" --standalone --nproc-per-node="$3" scripts/bench/peers/ddp_comm.py "$1" "$2" \
        2>>"$TMP/comm.log" | tail -1 >>"$TMP/comm.jsonl"
}
for ranks in 1 2; do
    echo "communication: gpt2-bench, $ranks rank(s)" >&2
    comm gpt2-bench 8 "$ranks"
    if [[ "$SMOL_STEPS" -gt 0 ]]; then
        echo "communication: smollm2, $ranks rank(s)" >&2
        comm smollm2 "$SMOL_STEPS" "$ranks"
    fi
done

OUT="docs/bench-distributed.md"
[[ "$CUDA" == 1 ]] && OUT="docs/bench-distributed-cuda.md"
"$PY" - "$TMP" "$THREADS" "$STEPS" "$ROUNDS" "$SMOL_STEPS" "$OUT" <<'PY'
import datetime, json, os, sys
tmp, threads, steps, rounds, smol, out = sys.argv[1:7]
lines = open(f"{tmp}/throughput.txt").read().splitlines()
table = [l for l in lines if l.startswith("|")]
record = json.loads(lines[-1])
comm = [json.loads(l) for l in open(f"{tmp}/comm.jsonl") if l.strip()]
cpu = os.cpu_count()
doc = f"""# Data-parallel training: overhead of 1 and 2 ranks, communication per step

Measured {datetime.date.today().isoformat()} on this machine ({cpu} cores), {threads} threads in
all, shared evenly by the ranks. Command:

```bash
scripts/bench/distributed.sh {threads} {steps} {rounds} {smol}
```

Both ranks share the same {cpu} cores, so no speed-up is expected here; the figures show what the
hand-off costs (a Python launch, the HF Trainer loop, the all-reduce) and what a real multi-GPU
or multi-machine run would pay for communication. Timings are medians; none of them is a test.

## Throughput: `Trainer::fit_distributed` against the in-process trainer

GPT-2 of `docs/bench-train.md` (5.3 M parameters, vocab 8192), batch 8 × 256, AdamW, norm
clipping, fp32. Seconds per step are the difference of a {steps}-step and a {2 * int(steps)}-step
run over {steps} (start-up, data preparation, the final checkpoint and the read-back cancel out);
the launch overhead is what remains of the {steps}-step run.

{chr(10).join(table)}

## Communication per step (torch.distributed, `scripts/bench/peers/ddp_comm.py`)

A step under DDP (forward, backward with the bucketed gradient all-reduce, clipping, AdamW)
against the same step under `no_sync()`; their difference is the communication time that the
backward pass does not hide. `all_reduce` is one bare collective of a flat buffer of the
gradients' size.

| model | ranks | backend | params | gradient MB | step (s) | step without sync (s) | communication per step (s) | share of the step | bare all_reduce (s) | tokens/s |
|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|
"""
for c in comm:
    share = c["comm_s"] / c["step_s"] if c["step_s"] > 0 else float("nan")
    doc += (f"| {c['model']} | {c['world']} | {c['backend']} | {c['params'] / 1e6:.1f} M | "
            f"{c['grad_bytes'] / 1e6:.0f} | {c['step_s']:.3f} | {c['step_no_sync_s']:.3f} | "
            f"{c['comm_s']:.3f} | {100 * share:.0f} % | {c['allreduce_s']:.3f} | "
            f"{c['tokens_per_s']:.0f} |\n")
doc += """
With one rank the all-reduce is local (the difference is noise around zero). Negative or tiny
differences mean that the collective hides behind the backward pass; on a shared 2-core CPU
the ranks also compete for the same cores, which the step times include.

Raw records:

```json
""" + json.dumps({"throughput": record, "communication": comm}, indent=1) + "\n```\n"
tmp_out = out + ".tmp"
open(tmp_out, "w").write(doc)
os.replace(tmp_out, out)
print(f"wrote {out}", file=sys.stderr)
PY
