#!/usr/bin/env bash
# Side-by-side tokenize + pack throughput: odyssey-corpus (examples/bench_corpus.rs) against HF
# tokenizers from Python (scripts/bench/peers/hf_tokenize_anchor.py, the project's Python
# anchor for this job). Both load the same tokenizer.json (a byte-level BPE,
# vocab 8192, trained on general_mix/train by the Rust side on first use), read every JSONL split
# of the data folder, add an end-of-document token after each document and cut 256-token blocks
# per file (run_clm's group_texts). Writes docs/bench-corpus.md.
#
#   scripts/bench/corpus_tokenize.sh [data dir] [rounds (2)]
#
# The data dir is the full odyssey-mini corpus (default: $ODYSSEY_MINI_DIR, else
# ../shared/data/odyssey-mini beside the repository; the script stops with a message when absent).
#
# Rounds alternate Rust and Python; the best figure of each side is kept (the machine is shared
# and noisy; the best run is the least disturbed one). Both sides must report the same token and
# block counts, or the script fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
source "$ROOT/scripts/bench/common.sh"
DATA="${1:-$(odyssey_mini_dir)}"
ROUNDS="${2:-2}"
BLOCK=256
PY="$(odyssey_python "tokenizers")"

cargo build --release --quiet --example bench_corpus
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
TOK="$TMP/tokenizer.json"
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r/$ROUNDS: odyssey-corpus" >&2
    target/release/examples/bench_corpus "$DATA" "$TOK" "$BLOCK" 1 | tee "$TMP/rust.$r.txt" >&2
    echo "round $r/$ROUNDS: HF tokenizers (Python)" >&2
    HF_HUB_OFFLINE=1 "$PY" scripts/bench/peers/hf_tokenize_anchor.py "$DATA" "$TOK" "$BLOCK" | tee "$TMP/py.$r.txt" >&2
done

"$PY" - "$TMP" "$ROUNDS" "$BLOCK" "$PY" <<'PY'
import datetime, glob, json, os, re, subprocess, sys
tmp, rounds, block, py = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rust = [json.loads(open(f).read().strip().splitlines()[-1]) for f in sorted(glob.glob(f"{tmp}/rust.*.txt"))]
hf = []
for f in sorted(glob.glob(f"{tmp}/py.*.txt")):
    m = re.search(r"bytes (\d+) tokens (\d+) blocks (\d+) seconds ([\d.]+) tokens/s (\d+)", open(f).read())
    hf.append({"bytes": int(m[1]), "tokens": int(m[2]), "blocks": int(m[3]), "seconds": float(m[4]), "tokens_per_s": float(m[5])})
for r, h in zip(rust, hf):
    if (r["tokens"], r["blocks"], r["bytes"]) != (h["tokens"], h["blocks"], h["bytes"]):
        sys.exit(f"the two sides disagree: rust {r} python {h}")
ro = max(r["tokens_per_s"] for r in rust); ho = max(h["tokens_per_s"] for h in hf)
ratio = ro / ho
tv = subprocess.run([py, "-c", "import tokenizers; print(tokenizers.__version__)"], capture_output=True, text=True).stdout.strip()
cpu = "unknown CPU"
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except Exception:
    pass
r0 = rust[0]
print(f"\nodyssey-corpus {ro:,.0f} tok/s, HF tokenizers (Python) {ho:,.0f} tok/s, ratio {ratio:.2f}x (goal >= 3x)")
lines = [
    "# Tokenize + pack throughput: odyssey-corpus vs HF tokenizers (Python)",
    "",
    f"Measured {datetime.date.today()} on {cpu}, {os.cpu_count()} logical CPUs visible, "
    f"best of {rounds} alternating rounds; Rust used {r0['threads']} rayon threads, Python HF tokenizers "
    f"{tv} with its default parallelism.",
    "",
    f"Command: `scripts/bench/corpus_tokenize.sh` (Rust: `examples/bench_corpus.rs`; peer: "
    "`scripts/bench/peers/hf_tokenize_anchor.py`).",
    "",
    f"Work: every Dolma-style JSONL split of `odyssey-mini` ({r0['bytes']:,} bytes of text), read and parsed, "
    "encoded with one byte-level BPE `tokenizer.json` (vocab 8192, trained on `general_mix/train`, "
    "loaded by both sides), end-of-document token after every document, cut into "
    f"{block}-token blocks per file with the remainder dropped (`run_clm`'s `group_texts`). Both sides "
    f"produce {r0['tokens']:,} tokens and {r0['blocks']:,} blocks (checked by the script).",
    "",
    "| side | tokens/s | MB/s of text | seconds |",
    "|---|---|---|---|",
    f"| odyssey-corpus | {ro:,.0f} | {max(r['bytes'] / r['seconds'] for r in rust) / 1e6:.2f} | {min(r['seconds'] for r in rust):.2f} |",
    f"| HF tokenizers (Python) | {ho:,.0f} | {max(h['bytes'] / h['seconds'] for h in hf) / 1e6:.2f} | {min(h['seconds'] for h in hf):.2f} |",
    "",
    f"Ratio: **{ratio:.2f}×** (goal ≥ 3×). The machine is shared: absolute figures move with "
    "its load, the ratio within one run is what compares.",
    "",
    "Why it is faster: ids are produced without HF's full `Encoding` (no per-token strings, offsets "
    "or alignment tracking); a GPT-2 pre-tokenizer split with the `regex` crate plus a per-thread "
    "cache from pre-token to ids means the BPE merges (HF's own model) run once per distinct word; "
    "documents are encoded in parallel with rayon in chunks, order kept; packing appends into one "
    "flat buffer. The fast path is checked id for id against HF's pipeline (tests, including a "
    "property test over white space, scripts, digits, contractions and special tokens).",
    "",
    "All runs:",
    "",
]
for i, (r, h) in enumerate(zip(rust, hf), 1):
    lines.append(f"- round {i}: odyssey-corpus {r['tokens_per_s']:,.0f} tok/s ({r['seconds']:.2f} s); "
                 f"HF tokenizers {h['tokens_per_s']:,.0f} tok/s ({h['seconds']:.2f} s)")
open("docs/bench-corpus.md", "w").write("\n".join(lines) + "\n")
print("wrote docs/bench-corpus.md")
PY
