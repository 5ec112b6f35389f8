"""Communication time per data-parallel training step, measured with torch.distributed itself.

Run by torchrun (scripts/bench/distributed.sh does):

    torchrun --standalone --nproc-per-node N scripts/bench/peers/ddp_comm.py MODEL STEPS [BATCH SEQ]

MODEL is `gpt2-bench` (the 5.3 M-parameter GPT-2 of docs/bench-train.md) or `smollm2` (the
architecture of SmolLM2-135M, random weights). Gloo on the CPU, NCCL on a GPU (each rank on
`cuda:LOCAL_RANK`, matrix products in bf16 autocast). The global batch BATCH x SEQ (default
8 x 256) is split over the ranks, as Odyssey's hand-off splits it.

Each rank runs, alternately, STEPS full steps under DDP (forward, backward with the gradient
all-reduce, norm clipping, AdamW) and STEPS steps under `no_sync()` (the same work without the
all-reduce). The difference of their medians is the communication time a step pays beyond its
compute (DDP overlaps the bucketed all-reduce with the backward pass, so this is the part that
does not hide). It also times a bare `all_reduce` of one flat buffer of the gradients' size.
Rank 0 prints one JSON line.
"""
import contextlib
import json
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist


def build(name):
    import transformers

    if name == "gpt2-bench":
        cfg = transformers.GPT2Config(
            vocab_size=8192, n_positions=256, n_embd=256, n_layer=4, n_head=4,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        )
        return transformers.GPT2LMHeadModel(cfg), 8192
    if name == "smollm2":
        cfg = transformers.LlamaConfig(
            vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
            num_attention_heads=9, num_key_value_heads=3, rope_theta=100000.0,
            max_position_embeddings=8192, tie_word_embeddings=True, rms_norm_eps=1e-5,
        )
        return transformers.LlamaForCausalLM(cfg), 49152
    sys.exit(f"unknown model {name!r}: expected gpt2-bench or smollm2")


def main():
    name, steps = sys.argv[1], int(sys.argv[2])
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    seq = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if batch % world:
        sys.exit(f"batch {batch} does not split over {world} ranks")
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    torch.manual_seed(0)
    model, vocab = build(name)
    model.to(device)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
    gen = torch.Generator().manual_seed(rank)
    x = torch.randint(vocab, (batch // world, seq), generator=gen).to(device)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
    )

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def step(with_sync):
        ctx = contextlib.nullcontext() if with_sync else ddp.no_sync()
        sync()
        t = time.perf_counter()
        with ctx:
            with autocast:
                loss = ddp(input_ids=x, labels=x).loss
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        return time.perf_counter() - t

    step(True)
    step(False)
    dist.barrier()
    with_comm, without = [], []
    for _ in range(steps):
        with_comm.append(step(True))
        without.append(step(False))
    numel = sum(p.numel() for p in model.parameters())
    flat = torch.zeros(numel, device=device)
    dist.all_reduce(flat)
    reduce_s = []
    for _ in range(max(steps, 3)):
        sync()
        t = time.perf_counter()
        dist.all_reduce(flat)
        sync()
        reduce_s.append(time.perf_counter() - t)
    dist.barrier()
    if rank == 0:
        s, n = statistics.median(with_comm), statistics.median(without)
        print(json.dumps({
            "model": name, "world": world, "backend": dist.get_backend(),
            "device": str(device), "threads_per_rank": torch.get_num_threads(),
            "params": numel, "grad_bytes": numel * 4, "batch": batch, "seq": seq,
            "step_s": s, "step_no_sync_s": n, "comm_s": s - n,
            "allreduce_s": statistics.median(reduce_s),
            "tokens_per_s": batch * seq / s,
            "with_comm_s": with_comm, "no_sync_s": without,
        }), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
