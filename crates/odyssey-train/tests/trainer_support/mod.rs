//! Shared pieces of the trainer tests: real text from data/odyssey-mini-sample as byte tokens and a tiny
//! GPT-2 over the 256 byte values.

#![allow(dead_code)]

use odyssey_train::trainer::{
    Duration, PackedBlocks, ScheduleKind, TokenBlocks, TrainerConfig, Warmup,
};
use odyssey_train::{Gpt2Config, Gpt2Lm};
use std::path::PathBuf;
use tch::Device;

pub const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/odyssey-mini-sample"
);
pub const BLOCK: usize = 32;
pub const NEWLINE: u32 = b'\n' as u32;

/// The UTF-8 bytes of the `text` fields of `<domain>/<split>.jsonl` (documents joined by a
/// blank line), cut to `n_blocks` whole blocks of [`BLOCK`] byte tokens.
pub fn byte_blocks(domain: &str, split: &str, n_blocks: usize) -> PackedBlocks<'static> {
    let path = PathBuf::from(DATA)
        .join(domain)
        .join(format!("{split}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut tokens = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        tokens.extend(v["text"].as_str().unwrap().bytes().map(u32::from));
        tokens.extend([NEWLINE, NEWLINE]);
        if tokens.len() >= n_blocks * BLOCK {
            break;
        }
    }
    assert!(
        tokens.len() >= n_blocks * BLOCK,
        "{} is too short",
        path.display()
    );
    tokens.truncate(n_blocks * BLOCK);
    PackedBlocks::new(tokens, BLOCK).unwrap()
}

/// All blocks of `blocks` as one `[n_blocks, BLOCK]` batch of `Int64` ids on the CPU.
pub fn as_batch(blocks: &PackedBlocks) -> tch::Tensor {
    let ids: Vec<i64> = (0..blocks.n_blocks())
        .flat_map(|i| blocks.block(i).iter().map(|&t| t as i64))
        .collect();
    tch::Tensor::from_slice(&ids).view([blocks.n_blocks() as i64, BLOCK as i64])
}

/// The small pretraining run several tests share: 40 steps of 8 blocks at lr 3e-3 (cosine,
/// 10 % warmup), evaluation every 10 steps in batches of 16, checkpoints in `out`, no progress
/// bar.
pub fn pretraining_config(out: PathBuf) -> TrainerConfig {
    TrainerConfig {
        lr: 3e-3,
        schedule: ScheduleKind::Cosine,
        warmup: Warmup::Ratio(0.1),
        micro_batch_size: 8,
        duration: Duration::Steps(40),
        eval_every: Some(10),
        eval_batch_size: 16,
        output_dir: Some(out),
        progress: false,
        ..TrainerConfig::default()
    }
}

/// A 2-layer GPT-2 (n_embd 32, 2 heads, context 32) over byte tokens, initialised from `seed`.
pub fn tiny_gpt2(seed: i64, dropout: f64) -> Gpt2Lm {
    tch::manual_seed(seed);
    let cfg = Gpt2Config {
        resid_pdrop: dropout,
        embd_pdrop: dropout,
        attn_pdrop: dropout,
        ..Gpt2Config::small(256, BLOCK, 32, 2, 2)
    };
    Gpt2Lm::gpt2(&cfg, Device::Cpu).unwrap()
}

/// All variables of a model, by name, as flat f32 vectors.
pub fn weights(vs: &tch::nn::VarStore) -> Vec<(String, Vec<f32>)> {
    let mut v: Vec<(String, Vec<f32>)> = vs
        .variables()
        .into_iter()
        .map(|(k, t)| (k, Vec::<f32>::try_from(t.view([-1])).unwrap()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// A tiny GPT-2 whose training forward passes go through `hook(call, logits)`: `call` counts
/// the training forward passes from 0, and the hook returns the logits to use (it may also
/// panic, as a killed process dies, or stall). Evaluation passes are not hooked.
pub struct Hooked<F> {
    pub inner: Gpt2Lm,
    calls: std::sync::atomic::AtomicUsize,
    hook: F,
}

impl<F> Hooked<F>
where
    F: Fn(usize, tch::Tensor) -> tch::Tensor + Send,
{
    pub fn new(inner: Gpt2Lm, hook: F) -> Self {
        Hooked {
            inner,
            calls: std::sync::atomic::AtomicUsize::new(0),
            hook,
        }
    }
}

impl<F> odyssey_train::CausalLm for Hooked<F>
where
    F: Fn(usize, tch::Tensor) -> tch::Tensor + Send,
{
    fn forward_t(&self, x: &tch::Tensor, train: bool) -> tch::Tensor {
        let logits = self.inner.forward_t(x, train);
        if !train {
            return logits;
        }
        let call = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        (self.hook)(call, logits)
    }
    fn hidden_states(&self, x: &tch::Tensor) -> tch::Tensor {
        self.inner.hidden_states(x)
    }
    fn var_store(&self) -> &tch::nn::VarStore {
        self.inner.var_store()
    }
    fn var_store_mut(&mut self) -> &mut tch::nn::VarStore {
        self.inner.var_store_mut()
    }
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }
    fn max_positions(&self) -> usize {
        self.inner.max_positions()
    }
}
