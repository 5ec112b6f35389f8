#!/usr/bin/env bash
# Side-by-side training/eval throughput: odyssey-train (examples/bench_train.rs) against HF
# transformers, same GPT-2 config, batch, optimizer and thread count, in one session. Writes
# docs/bench-train.md.
#
#   scripts/bench/train_gpt2.sh [threads (2)] [rounds (2)] [pairs (8)]
#
# Two measurements:
# - rounds: the anchor script scripts/bench/peers/hf_gpt2_anchor.py and the Rust example, each a whole process of 10 steps,
#   run back to back; the per-round ratio and its median.
# - pairs: both sides kept running (scripts/bench/train_gpt2_paired.py) and asked alternately
#   for bursts of 3 training or 8 evaluation steps, so that the two figures of a pair are taken
#   seconds apart under the same machine load; the median of the per-pair ratios is the
#   headline figure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
THREADS="${1:-2}"
ROUNDS="${2:-2}"
PAIRS="${3:-8}"
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
echo "paired bursts: $PAIRS pairs" >&2
"$PY" scripts/bench/train_gpt2_paired.py "$TMP/paired.json" "$PAIRS" 3 8 \
    target/release/examples/bench_train "$PY" "$THREADS"

"$PY" - "$TMP" "$ROUNDS" "$THREADS" <<'PY'
import glob, json, os, re, sys, datetime
tmp, rounds, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
paired = json.load(open(f"{tmp}/paired.json"))
B_T = 8 * 256
GOALS = {"train": 1.2, "eval": 1.3}  # ratios to HF asked for by the issue
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
def pair_stats(kind):
    n = paired[f"{kind}_steps"] * B_T
    ps = paired[kind]
    ratios = [p["hf"] / p["odyssey"] for p in ps]
    return {
        "odyssey": n * len(ps) / sum(p["odyssey"] for p in ps),
        "hf": n * len(ps) / sum(p["hf"] for p in ps),
        "ratios": ratios,
        "median": statistics.median(ratios),
    }
pairs_ = {k: pair_stats(k) for k in ("train", "eval")}
rows = [
    ("train", rt, ht, rt / ht, med_train, GOALS["train"], share(rt, tf), share(ht, tf)),
    ("eval", re_, he, re_ / he, med_eval, GOALS["eval"], share(re_, ef), share(he, ef)),
]
print(f"\n{'job':6} {'paired odyssey':>14} {'paired HF':>10} {'median pair ratio':>17} {'goal':>5}")
for job, g in GOALS.items():
    p = pairs_[job]
    print(f"{job:6} {p['odyssey']:14.0f} {p['hf']:10.0f} {p['median']:17.2f} {g:5.1f}")
print(f"\n{'job':6} {'odyssey tok/s':>14} {'HF tok/s':>10} {'ratio':>7} {'median':>7} {'goal':>5}  {'odyssey % peak':>14} {'HF % peak':>9}")
for job, o, h, r, m, g, so, sh in rows:
    print(f"{job:6} {o:14.0f} {h:10.0f} {r:7.2f} {m:7.2f} {g:5.1f}  {so:14.1f} {sh:9.1f}")
print(f"fp32 matmul peak (1024^3, tch, {threads} threads): {peak:.1f} GFLOP/s")
lines = [
    "# Training and evaluation throughput: odyssey-train vs HF transformers",
    "",
    f"Measured {datetime.date.today()} on {cpu}, {os.cpu_count()} logical CPUs visible, "
    f"{threads} intra-op threads on both sides, fp32; 1-minute load average when the figures were "
    f"written: {os.getloadavg()[0]:.1f}.",
    "",
    "Command: `scripts/bench/train_gpt2.sh " + f"{threads} {rounds} {paired['pairs']}` (Rust: "
    "`examples/bench_train.rs`; peers: `scripts/bench/peers/hf_gpt2_anchor.py` and `scripts/bench/peers/hf_gpt2_paired.py`, the same "
    "model, optimizer and step bodies answering requests for bursts of steps).",
    "",
    f"Model: GPT-2, {best['params']:,} parameters (vocab 8192, n_embd 256, 4 layers, 4 heads, "
    "256 positions, tied embeddings, no dropout); batch 8×256 tokens; training step = forward, "
    "loss, backward, global-norm clip 1.0, AdamW lr 3e-4 (torch defaults, weight decay 0.01); "
    "eval = forward + loss without gradients.",
    "",
    "## Paired bursts (headline)",
    "",
    f"Both sides stay running and are asked in turn, {paired['pairs']} pairs per job, for "
    f"{paired['train_steps']} training steps or {paired['eval_steps']} evaluation steps; the order "
    "within a pair alternates. The two figures of a pair are taken seconds apart, so a change in "
    "the load of this shared machine moves both; whole-process rounds (below) are taken half a "
    "minute apart and scatter much more.",
    "",
    "| job | odyssey-train tok/s | HF transformers tok/s | median of per-pair ratios | per-pair ratios | goal |",
    "|---|---|---|---|---|---|",
]
for job, g in GOALS.items():
    p = pairs_[job]
    lines.append(f"| {job} | {p['odyssey']:,.0f} | {p['hf']:,.0f} | {p['median']:.2f}× | "
                 + " / ".join(f"{r:.2f}" for r in p["ratios"]) + f" | ≥ {g}× |")
lines += [
    "",
    "## Whole-process rounds with the anchor script",
    "",
    f"{rounds} rounds, each running the Rust example and then the anchor script as whole "
    "processes: 2 warm-up training steps, 10 timed training steps, then 10 timed evaluation "
    "steps, the first of them included, as the anchor script times them. The table gives the best "
    "run of each side, their ratio, and the median of the per-round ratios.",
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
    "elementwise operations took about 15 % of the step. On the CPU the update itself is one "
    "pass of Rust over the four buffers (`crates/odyssey-train/src/trainer/adamw_cpu.rs`): 9.4 ms "
    "for the 5.3 M parameters against 23.0 ms for the ten tensor operations "
    "(`cargo bench --bench train -- adamw`), about 1.5 % of a training step.",
    "- Fewer operations in the model: fused tanh GELU (one kernel where HF's `NewGELUActivation` "
    "runs five), `scaled_dot_product_attention` with `is_causal` and no mask tensor, q/k/v as "
    "views of the fused projection, no dropout calls at rate 0.",
    "- The output layer and the loss run over chunks of 512 positions (`Lm::summed_target_loss`, "
    "about 16 MiB of logits per chunk): the product, log-softmax and their gradients stay in cache "
    "instead of making full passes over the 2048×8192 logits (67 MB) in memory. This raised "
    "odyssey's training throughput by about 9 % on this machine (2,011–2,180 → 2,252–2,389 tok/s "
    "over three rounds each, same day).",
    "",
    "Where the rest of the time goes, from `perf record -F 499 -g target/release/examples/bench_train 2 10` "
    "(`perf report --no-children --sort dso,symbol`): MKL's sgemm kernel 58 %, its operand packing "
    "(`scopy_*`) 10.6 % and output scaling 1.5 %; libgomp 7.1 % (threads waiting at the end of "
    "parallel regions); the kernel 4.2 % (page faults); tanh 2.9 % (GELU), exp 2.0 %, log-softmax "
    "1.3 %. Of the matrix products, the output layer's forward product (512×256 by 256×8192, "
    "inner dimension 256) runs at about 55–75 % of the 1024³ rate measured in the same run, while "
    "its input-gradient product (inner dimension 8192) runs near it.",
    "",
    "Why evaluation gains less than training: an evaluation step is the forward pass only, "
    "and about three quarters of it is matrix products that both sides run with the same MKL "
    "kernels (the output layer's product alone, 2048×256 by 256×8192, is about a third of the "
    "step). What odyssey saves there, the chunked log-softmax, the fused GELU and HF's copy "
    "of the shifted logits, is a few percent of the step. The whole-process rounds show a "
    "larger evaluation ratio than the paired bursts because the anchor script times its first "
    "evaluation step, the first call in inference mode, which costs HF more than it costs "
    "odyssey; the paired bursts measure steady state. (Before this benchmark had paired "
    "bursts, the Rust example also ran one untimed evaluation step that the anchor does not; "
    "it now times evaluation exactly as the anchor does.)",
    "",
    "Tried and not kept (measured alternately with the current code, same session):",
    "",
    "- A fused output layer and cross-entropy that computes the logits' gradient chunk by chunk in "
    "the forward pass and hands it to autograd through a surrogate (as Liger Kernel's fused linear "
    "cross-entropy does): identical losses and 100 MB less peak memory (885 → 790 MB RSS), but "
    "training throughput 2–8 % lower in three alternating rounds (2,020–2,110 against "
    "2,141–2,196 tok/s).",
    "- glibc allocator tuning (`mallopt`: blocks up to 32 MiB from the heap, trim threshold "
    "1 GiB): page faults per run fall from 345,000 to 181,000, but they are warm-up faults (5 or 20 "
    "timed steps change the count by about 3,000), and throughput did not move beyond the noise.",
    "- `OMP_WAIT_POLICY=passive` or `active`, `GOMP_SPINCOUNT=10000`: no change beyond the noise.",
    "- Loss chunks of 256, 1024 or 2048 positions instead of 512 (third argument of "
    "`bench_train`): five alternating rounds of 256 against 512 gave medians of 2,189 against "
    "2,304 tok/s for training and 7,016 against 7,126 for evaluation.",
    "- oneDNN's `mkldnn_linear` for the output layer's forward product: faster than MKL's sgemm "
    "at some chunk sizes in isolation, but the conversions into and out of oneDNN's tensor layout "
    "cost as much as it saves.",
    "- Computing the output layer's product in blocks of 1,024 vocabulary columns and "
    "concatenating them: in isolation a 512×256 by 256×1024 product runs at the 1024³ rate "
    "(112–118 GFLOP/s in one run) where 512×256 by 256×8192 runs at 60–79, but with the "
    "concatenation and the backward pass the output layer and loss were not faster (280–370 "
    "against 297–311 ms per 2,048 positions for forward and backward, 98–130 against 112–121 "
    "ms for forward only, in a Python prototype).",
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
