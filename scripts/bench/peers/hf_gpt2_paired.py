"""HF transformers GPT-2 train/eval steps on demand, for the paired benchmark.

The model, optimizer, batch and step bodies are those of hf_gpt2_anchor.py (in this
folder); only the timing loop differs. After the anchor's two warm-up
steps it prints `ready`, then answers each stdin line `train N` or `eval N` with the seconds N
steps took; `quit` or the end of input stops it.

Usage: python hf_gpt2_paired.py [threads]
"""
import sys, time, torch
from transformers import GPT2Config, GPT2LMHeadModel
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
torch.manual_seed(0)
cfg = GPT2Config(vocab_size=8192, n_positions=256, n_embd=256, n_layer=4, n_head=4,
                 resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
m = GPT2LMHeadModel(cfg)
print("params", sum(p.numel() for p in m.parameters()), file=sys.stderr)
opt = torch.optim.AdamW(m.parameters(), lr=3e-4)
B, T = 8, 256
x = torch.randint(0, 8192, (B, T))
for i in range(2):
    out = m(x, labels=x); out.loss.backward(); opt.step(); opt.zero_grad()


def train(n):
    m.train()
    for i in range(n):
        out = m(x, labels=x); out.loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step(); opt.zero_grad()


def evaluate(n):
    m.eval()
    with torch.inference_mode():
        for i in range(n): m(x, labels=x)


print("ready", flush=True)
for line in sys.stdin:
    words = line.split()
    if not words or words[0] == "quit":
        break
    kind, n = words[0], int(words[1])
    t = time.time()
    {"train": train, "eval": evaluate}[kind](n)
    print(f"{time.time() - t:.6f}", flush=True)
