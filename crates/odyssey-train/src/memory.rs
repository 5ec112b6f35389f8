//! Memory a training or scoring run needs, estimated from the model's config before anything
//! is allocated, and what the machine has: so that a run that cannot fit is refused with the
//! setting to change, instead of being killed by the kernel half way.
//!
//! The estimate counts fp32 bytes: the weights, their gradients, AdamW's two moments, the
//! activations autograd keeps for the backward pass of one micro-batch (per token and layer:
//! the inputs and outputs of the norms, projections, attention and MLP), and one chunk of
//! logits with its softmax gradient. Scoring keeps no activations for a backward pass: the
//! largest layer's working set for a batch of windows and one chunk of logits.

use crate::config::ModelConfig;
use crate::model::llama::LlamaVariant;

/// Bytes per fp32 value.
const F32: u64 = 4;

/// A memory estimate, in bytes, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// The fp32 weights.
    pub weights: u64,
    /// Their gradients (training only).
    pub gradients: u64,
    /// AdamW's first and second moments (training only).
    pub optimizer: u64,
    /// Activations: kept for the backward pass of one micro-batch (training), or the working
    /// set of one layer for one batch of windows (scoring).
    pub activations: u64,
    /// One chunk of logits (and its gradient when training).
    pub logits: u64,
}

impl MemoryEstimate {
    /// The sum of the parts.
    pub fn total(&self) -> u64 {
        self.weights + self.gradients + self.optimizer + self.activations + self.logits
    }

    /// One line naming the parts in GB.
    pub fn describe(&self) -> String {
        let gb = |b: u64| b as f64 / 1e9;
        format!(
            "{:.2} GB = weights {:.2} + gradients {:.2} + optimizer state {:.2} + activations {:.2} + logits {:.2}",
            gb(self.total()),
            gb(self.weights),
            gb(self.gradients),
            gb(self.optimizer),
            gb(self.activations),
            gb(self.logits)
        )
    }
}

/// `(parameters, layers, hidden, values kept per token and layer, vocabulary)` of `cfg`.
fn shape(cfg: &ModelConfig) -> (u64, u64, u64, u64, u64) {
    match cfg {
        ModelConfig::Gpt2(c) => {
            let (h, l, v, p) = (
                c.n_embd as u64,
                c.n_layer as u64,
                c.vocab_size as u64,
                c.n_positions as u64,
            );
            let inner = c.n_inner.unwrap_or(4 * c.n_embd) as u64;
            let lm_head = if c.tie_word_embeddings { 0 } else { v * h };
            let params =
                v * h + p * h + lm_head + l * (4 * h * h + 2 * h * inner + 9 * h + inner) + 2 * h;
            // ln1 in/out, qkv, attention out, projection out, residual, ln2 in/out, fc, gelu
            // in/out, second projection out, dropout masks.
            let per_token = 10 * h + 3 * inner;
            (params, l, h, per_token, v)
        }
        ModelConfig::Llama(c) => {
            let (h, l, v) = (
                c.hidden_size as u64,
                c.num_hidden_layers as u64,
                c.vocab_size as u64,
            );
            let i = c.intermediate_size as u64;
            let q = (c.num_attention_heads * c.head_size()) as u64;
            let kv = (c.kv_heads() * c.head_size()) as u64;
            let lm_head = if c.tie_word_embeddings { 0 } else { v * h };
            let mut layer = h * q + 2 * h * kv + q * h + 3 * h * i + 2 * h;
            if c.attention_bias {
                layer += q + 2 * kv + h;
            } else if c.variant == LlamaVariant::Qwen2 {
                layer += q + 2 * kv;
            }
            if c.mlp_bias {
                layer += 2 * i + h;
            }
            if c.variant == LlamaVariant::Olmo2 {
                // q and k norms; the post-feed-forward norm replaces the input norm.
                layer += q + kv;
            }
            let params = v * h + lm_head + l * layer + h;
            // What autograd keeps per token and layer in these networks: the two RMSNorms'
            // inputs, inverse roots and outputs (6h); the queries through the rotation, the
            // attention kernel, its output's copy and the output projection's input (6q); keys
            // and values through the rotation and the kernel (4kv); the MLP's gate, up,
            // activation and product (4i).
            let per_token = 6 * h + 6 * q + 4 * kv + 4 * i;
            (params, l, h, per_token, v)
        }
    }
}

/// Positions per chunk of the output layer in training (as `Lm` picks on CPU: 16 MiB of
/// logits, at least 128 positions).
fn training_chunk_rows(vocab: u64) -> u64 {
    ((16u64 << 20) / (F32 * vocab.max(1))).max(128)
}

/// Memory to train `cfg` with micro-batches of `batch` sequences of `block` tokens.
pub fn training_estimate(cfg: &ModelConfig, batch: usize, block: usize) -> MemoryEstimate {
    let (params, layers, _, per_token, vocab) = shape(cfg);
    let tokens = (batch * block) as u64;
    let rows = training_chunk_rows(vocab).min(tokens);
    MemoryEstimate {
        weights: params * F32,
        gradients: params * F32,
        optimizer: 2 * params * F32,
        activations: tokens * layers * per_token * F32,
        // logits, their softmax and its gradient for one chunk
        logits: 3 * rows * vocab * F32,
    }
}

/// Memory to score with `cfg` in batches of `batch` windows of `window` tokens (no gradients).
pub fn scoring_estimate(cfg: &ModelConfig, batch: usize, window: usize) -> MemoryEstimate {
    let (params, _, h, per_token, vocab) = shape(cfg);
    let tokens = (batch * window) as u64;
    let rows = (crate::model::lm::SCORE_CHUNK_BYTES as u64 / (F32 * vocab.max(1)))
        .max(16)
        .min(tokens);
    MemoryEstimate {
        weights: params * F32,
        gradients: 0,
        optimizer: 0,
        // One layer's working set plus the residual stream and the final hidden states.
        activations: tokens * (per_token + 2 * h) * F32,
        logits: 2 * rows * vocab * F32,
    }
}

/// Bytes of memory this process can still take: `MemAvailable` of `/proc/meminfo`, bounded by
/// the cgroup's limit when one is set; `None` where neither can be read.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let avail = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)?;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let used = std::fs::read_to_string("/sys/fs/cgroup/memory.current")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    Some(match (cgroup, used) {
        (Some(max), Some(used)) => avail.min(max.saturating_sub(used)),
        _ => avail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::llama::LlamaConfig;
    use crate::model::{AnyModel, Gpt2Config};

    #[test]
    fn parameter_counts_are_those_of_the_models() {
        for variant in [
            LlamaVariant::Llama,
            LlamaVariant::Qwen2,
            LlamaVariant::Olmo2,
        ] {
            let mut l = LlamaConfig::small(variant, 300, 64, 48, 96, 2, 4, 2);
            for (tied, bias) in [(false, false), (true, true)] {
                l.tie_word_embeddings = tied;
                l.attention_bias = bias;
                l.mlp_bias = bias;
                let cfg = ModelConfig::Llama(l.clone());
                let m = AnyModel::from_config(&cfg, tch::Device::Cpu).unwrap();
                assert_eq!(
                    shape(&cfg).0,
                    m.num_parameters() as u64,
                    "{variant:?} {tied} {bias}"
                );
            }
        }
        let g = ModelConfig::Gpt2(Gpt2Config::small(300, 64, 48, 2, 4));
        let m = AnyModel::from_config(&g, tch::Device::Cpu).unwrap();
        assert_eq!(shape(&g).0, m.num_parameters() as u64);
    }

    #[test]
    fn training_adds_gradients_optimizer_and_activations() {
        let cfg = ModelConfig::Llama(LlamaConfig::small(
            LlamaVariant::Llama,
            49152,
            8192,
            576,
            1536,
            30,
            9,
            3,
        ));
        let t = training_estimate(&cfg, 8, 256);
        assert_eq!(t.gradients, t.weights);
        assert_eq!(t.optimizer, 2 * t.weights);
        let s = scoring_estimate(&cfg, 8, 8192);
        assert_eq!(s.gradients + s.optimizer, 0);
        // Chunked scoring: a chunk of logits, not 8 × 8192 × 49152 floats (12.9 GB).
        assert!(s.logits < 200 << 20, "{}", s.describe());
        assert!(t.describe().contains("optimizer state"));
        assert!(available_memory().is_some_and(|m| m > 0));
    }
}
