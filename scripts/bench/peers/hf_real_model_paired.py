"""HF transformers side of the real-size benchmark: SmolLM2-135M loaded by transformers from
its GGUF file (fp32), answering the same commands as examples/bench_real_model.rs.

Training steps on a batch of 8 x 256 tokens (model(x, labels=x).loss, backward, global-norm
clip at 1.0, torch AdamW lr 1e-4 weight decay 0.01); evaluation of model(x, labels=x).loss
under inference_mode on 8 windows of 256 or 1 window of 2,048 tokens. On CUDA, bf16 autocast.

Usage: python hf_real_model_paired.py THREADS MODEL.gguf TOKENS.u32 [cpu|cuda]
Commands on stdin: `train N`, `eval256 N`, `eval2048 N` (answered with seconds), `rss` (peak
resident bytes, VmHWM), `quit`.
"""
import contextlib
import os
import sys
import time

import numpy as np
import torch
from transformers import AutoModelForCausalLM

threads, model_path, tokens_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
device = sys.argv[4] if len(sys.argv) > 4 else "cpu"
torch.set_num_threads(threads)
torch.manual_seed(0)
folder, name = os.path.split(model_path)
m = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).to(device)
ids = torch.tensor(np.fromfile(tokens_path, dtype="<u4")[:2048].astype(np.int64), device=device)
batch, long = ids.view(8, 256), ids.view(1, 2048)
opt = torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=0.01)
autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device == "cuda" else contextlib.nullcontext


def sync():
    if device == "cuda":
        torch.cuda.synchronize()


def train(n):
    m.train()
    for _ in range(n):
        with autocast():
            loss = m(batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        loss.item()


def evaluate(x, n):
    m.eval()
    with torch.inference_mode(), autocast():
        for _ in range(n):
            m(x, labels=x).loss.item()


def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


train(2)
print("ready", flush=True)
for line in sys.stdin:
    words = line.split()
    if not words or words[0] == "quit":
        break
    if words[0] == "rss":
        print(peak_rss(), flush=True)
        continue
    kind, n = words[0], int(words[1])
    sync()
    t = time.time()
    {"train": train, "eval256": lambda k: evaluate(batch, k), "eval2048": lambda k: evaluate(long, k)}[kind](n)
    sync()
    print(f"{time.time() - t:.6f}", flush=True)
