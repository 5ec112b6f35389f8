"""Data-parallel continued pretraining for Odyssey, run by `torchrun` (torch.distributed: Gloo
on CPU, NCCL on GPU) with HF transformers' Trainer (DDP through accelerate).

Odyssey prepares everything in one folder and starts this script on every rank:

    torchrun --nproc-per-node N [--nnodes M --node-rank K --rdzv-endpoint HOST:PORT] \
        hf_ddp_train.py WORK_DIR/launch.json

launch.json names:
  model_dir        an HF folder (config.json + model.safetensors) written by Odyssey
  train, valid     raw little-endian u32 token files, one block after another; the training
                   blocks are already in Odyssey's data order for the whole run (step t uses
                   blocks t*G .. (t+1)*G - 1, G the global batch), read through np.memmap
  block_len, global_batch, grad_accum, total_steps, warmup_steps, lr, weight_decay,
  max_grad_norm, eval_every, save_every, seed, ignore_token_ids, output_dir, timeout_s

Each rank takes global_batch / (world x grad_accum) blocks per micro-batch: accelerate hands
the ranks consecutive micro-batches of a sequential sampler, so global step t sees exactly the
blocks Odyssey's own trainer would. The loss is the mean over all counted tokens of the step
across ranks and micro-batches (average_tokens_across_devices), as Odyssey's trainer
normalises it.

Rank 0 prints one JSON object per line on stdout, which Odyssey reads:
  {"event": "train", "step", "loss", "lr", "grad_norm"}, {"event": "eval", "step", "loss"},
  {"event": "checkpoint", "step", "path"}, {"event": "done", "final_dir"}.
Checkpoints are written by rank 0 only, into a staging folder renamed into place once
complete (a killed save never looks like a checkpoint); a rerun resumes from the newest one.

For tests only: ODYSSEY_DIST_KILL="RANK:STEP" makes that rank SIGKILL itself after STEP.
"""
import json
import os
import shutil
import signal
import sys

import numpy as np
import torch
import torch.distributed as dist
from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

STAGING = ".staging"


class Blocks(torch.utils.data.Dataset):
    """Token blocks of a raw u32 file, read in place."""

    def __init__(self, path, block_len, ignore):
        data = np.memmap(path, dtype="<u4", mode="r")
        self.blocks = data[: len(data) // block_len * block_len].reshape(-1, block_len)
        self.ignore = np.asarray(sorted(ignore), dtype=np.int64)

    def __len__(self):
        return len(self.blocks)

    def __getitem__(self, i):
        ids = torch.from_numpy(self.blocks[i].astype(np.int64))
        labels = ids.clone()
        if len(self.ignore):
            labels[torch.from_numpy(np.isin(self.blocks[i], self.ignore))] = -100
        # The first label is never a target (the model shifts labels by one), but transformers
        # counts it in the number of items a step's loss is divided by; masking it makes that
        # count the number of predicted tokens, as Odyssey's trainer divides by.
        labels[0] = -100
        return {"input_ids": ids, "labels": labels}


def rank():
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def emit(event):
    if rank() == 0:
        print(json.dumps(event), flush=True)


class Events(TrainerCallback):
    """Training and evaluation records for Odyssey; the test hook that kills a rank."""

    def __init__(self, kill):
        self.kill = kill

    def on_log(self, args, state, control, logs=None, **kw):
        logs = logs or {}
        if "loss" in logs:
            emit({"event": "train", "step": state.global_step, "loss": logs["loss"],
                  "lr": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm")})
        if "eval_loss" in logs:
            emit({"event": "eval", "step": state.global_step, "loss": logs["eval_loss"]})

    def on_step_end(self, args, state, control, **kw):
        if self.kill and self.kill[0] == rank() and state.global_step >= self.kill[1]:
            os.kill(os.getpid(), signal.SIGKILL)


class OdysseyTrainer(Trainer):
    """Odyssey's data order (sequential over the prepared blocks) and atomic checkpoints."""

    def _get_train_sampler(self, train_dataset=None):
        return torch.utils.data.SequentialSampler(train_dataset or self.train_dataset)

    def _get_output_dir(self, trial):
        # Checkpoints are written under the staging folder, then renamed into place below.
        return os.path.join(self.args.output_dir, STAGING)

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        name = f"checkpoint-{self.state.global_step}"
        if dist.is_initialized():
            dist.barrier()
        if self.args.should_save:
            src = os.path.join(self.args.output_dir, STAGING, name)
            dst = os.path.join(self.args.output_dir, name)
            if os.path.exists(dst):
                shutil.rmtree(dst)
            os.replace(src, dst)
            fd = os.open(self.args.output_dir, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
            keep = sorted(
                (d for d in os.listdir(self.args.output_dir) if d.startswith("checkpoint-")),
                key=lambda d: int(d.split("-")[1]),
            )
            for old in keep[:-2]:
                shutil.rmtree(os.path.join(self.args.output_dir, old), ignore_errors=True)
            emit({"event": "checkpoint", "step": self.state.global_step, "path": dst})
        if dist.is_initialized():
            dist.barrier()


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cfg = json.load(f)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = cfg["global_batch"]
    if per_step % (world * cfg["grad_accum"]):
        sys.exit(f"the global batch {per_step} is not a multiple of world size {world} x grad_accum {cfg['grad_accum']}")
    micro = per_step // (world * cfg["grad_accum"])
    cuda = torch.cuda.is_available()
    out = cfg["output_dir"]
    os.makedirs(out, exist_ok=True)
    shutil.rmtree(os.path.join(out, STAGING), ignore_errors=True) if int(os.environ.get("RANK", "0")) == 0 else None
    kill = os.environ.get("ODYSSEY_DIST_KILL")
    kill = tuple(int(x) for x in kill.split(":")) if kill else None
    torch.manual_seed(cfg["seed"])
    model = AutoModelForCausalLM.from_pretrained(cfg["model_dir"], dtype=torch.float32)
    train = Blocks(cfg["train"], cfg["block_len"], cfg["ignore_token_ids"])
    valid = Blocks(cfg["valid"], cfg["block_len"], [])
    args = TrainingArguments(
        output_dir=out,
        per_device_train_batch_size=micro,
        per_device_eval_batch_size=micro,
        gradient_accumulation_steps=cfg["grad_accum"],
        learning_rate=cfg["lr"],
        lr_scheduler_type="linear",
        warmup_steps=cfg["warmup_steps"],
        max_steps=cfg["total_steps"],
        weight_decay=cfg["weight_decay"],
        max_grad_norm=cfg["max_grad_norm"],
        adam_beta1=0.9,
        adam_beta2=0.999,
        adam_epsilon=1e-8,
        logging_steps=1,
        eval_strategy="steps",
        eval_steps=cfg["eval_every"],
        save_strategy="steps",
        save_steps=cfg["save_every"],
        seed=cfg["seed"],
        data_seed=cfg["seed"],
        report_to=[],
        use_cpu=not cuda,
        bf16=cuda,
        ddp_backend="nccl" if cuda else "gloo",
        ddp_timeout=cfg["timeout_s"],
        dataloader_drop_last=False,
        disable_tqdm=True,
        average_tokens_across_devices=True,
        save_only_model=False,
        remove_unused_columns=False,
    )
    trainer = OdysseyTrainer(model=model, args=args, train_dataset=train, eval_dataset=valid,
                             callbacks=[Events(kill)])
    resume = any(d.startswith("checkpoint-") for d in os.listdir(out))
    trainer.train(resume_from_checkpoint=True if resume else None)
    final = os.path.join(out, "final")
    if trainer.args.should_save:
        staging = os.path.join(out, STAGING, "final")
        trainer.save_model(staging)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.replace(staging, final)
    emit({"event": "done", "final_dir": final})
    if dist.is_initialized():
        # Every rank leaves together and tears its process group down before the interpreter
        # does: a rank whose peers have closed their sockets while its own group is still alive
        # can abort (SIGABRT) at exit, failing a run whose final model is already written.
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
