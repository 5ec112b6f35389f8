"""Paired training/eval throughput: odyssey-train against HF transformers in short alternating
bursts, so that both sides run under the same machine load.

Starts `bench_train --serve THREADS` and `hf_gpt2_paired.py THREADS` side by side (each idles,
blocked on its stdin, while the other runs), then for each pair asks both for TRAIN_STEPS
training steps, one after the other, the order alternating between pairs; then the same for
EVAL_STEPS evaluation steps. Writes the seconds of every burst as JSON to OUT.

Usage: python train_gpt2_paired.py OUT PAIRS TRAIN_STEPS EVAL_STEPS RUST_BIN PYTHON THREADS
"""
import json, os, subprocess, sys

out, pairs, train_steps, eval_steps, rust_bin, python, threads = sys.argv[1:8]
pairs, train_steps, eval_steps = int(pairs), int(train_steps), int(eval_steps)
here = os.path.dirname(os.path.abspath(__file__))
env = dict(os.environ, HF_HUB_OFFLINE="1")


def start(cmd):
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=env)
    for line in p.stdout:
        if line.strip() == "ready":
            return p
    raise SystemExit(f"{cmd[0]} exited before it was ready")


def burst(p, kind, n):
    p.stdin.write(f"{kind} {n}\n")
    p.stdin.flush()
    line = p.stdout.readline()
    if not line:
        raise SystemExit(f"a benchmark process exited during `{kind} {n}`")
    return float(line)


sides = {
    "odyssey": start([rust_bin, "--serve", threads]),
    "hf": start([python, os.path.join(here, "peers", "hf_gpt2_paired.py"), threads]),
}
result = {"pairs": pairs, "train_steps": train_steps, "eval_steps": eval_steps,
          "threads": int(threads), "train": [], "eval": []}
for kind, n in (("train", train_steps), ("eval", eval_steps)):
    for i in range(pairs):
        order = ["odyssey", "hf"] if i % 2 == 0 else ["hf", "odyssey"]
        times = {name: burst(sides[name], kind, n) for name in order}
        result[kind].append(times)
        print(f"{kind} pair {i + 1}/{pairs}: odyssey {times['odyssey']:.3f} s, "
              f"HF {times['hf']:.3f} s, ratio {times['hf'] / times['odyssey']:.2f}",
              file=sys.stderr)
for p in sides.values():
    p.stdin.write("quit\n")
    p.stdin.close()
    p.wait()
with open(out, "w") as f:
    json.dump(result, f)
