"""Paired real-size benchmark: odyssey-train against HF transformers in short alternating
bursts (each side idles, blocked on its stdin, while the other runs), then each side's peak
resident memory.

Usage: python real_model_paired.py OUT PAIRS RUST_BIN PYTHON THREADS MODEL TOKENS DEVICE
Bursts: 2 training steps (8 x 256 tokens), 4 evaluations of 8 x 256, 4 of 1 x 2048.
Writes JSON with the seconds of every burst, the matmul rate measured on the Rust side
between pairs, and both sides' VmHWM.
"""
import json, os, subprocess, sys

out, pairs, rust_bin, python, threads, model, tokens, device = sys.argv[1:9]
pairs = int(pairs)
here = os.path.dirname(os.path.abspath(__file__))
env = dict(os.environ, HF_HUB_OFFLINE="1")
BURSTS = {"train": 2, "eval256": 4, "eval2048": 4}


def start(cmd):
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=env)
    for line in p.stdout:
        if line.strip() == "ready":
            return p
    raise SystemExit(f"{cmd[0]} exited before it was ready")


def ask(p, command):
    p.stdin.write(command + "\n")
    p.stdin.flush()
    line = p.stdout.readline()
    if not line:
        raise SystemExit(f"a benchmark process exited during `{command}`")
    return float(line)


sides = {"odyssey": start([rust_bin, "--serve", threads, model, tokens, device])}
sides["hf"] = start([python, os.path.join(here, "peers", "hf_real_model_paired.py"),
                     threads, model, tokens, device])
result = {"pairs": pairs, "threads": int(threads), "device": device, "bursts": BURSTS,
          "gflops": [], **{k: [] for k in BURSTS}}
for i in range(pairs):
    for kind, n in BURSTS.items():
        order = ["odyssey", "hf"] if i % 2 == 0 else ["hf", "odyssey"]
        times = {name: ask(sides[name], f"{kind} {n}") for name in order}
        result[kind].append(times)
        print(f"pair {i + 1}/{pairs} {kind}: odyssey {times['odyssey']:.3f} s, HF {times['hf']:.3f} s, "
              f"ratio {times['hf'] / times['odyssey']:.2f}", file=sys.stderr)
    result["gflops"].append(ask(sides["odyssey"], "gflops"))
result["peak_rss"] = {name: int(ask(p, "rss")) for name, p in sides.items()}
for p in sides.values():
    p.stdin.write("quit\n")
    p.stdin.close()
    p.wait()
with open(out, "w") as f:
    json.dump(result, f)
