//! [`Lm`]: a VarStore and the network built on it, as one [`CausalLm`].

use super::{CausalLm, Gpt2, Gpt2Config};
use crate::config::ModelConfig;
use crate::error::{ModelError, ModelResult};
use tch::{nn, Device, Kind, Tensor};

/// A network whose variables live in a VarStore it does not own.
pub trait LmNet: Send {
    /// Final hidden states `[batch, seq, hidden]` in fp32; matrix products run in `kind`
    /// (fp32, or bf16/fp16 on CUDA) while norms and the residual stream stay fp32.
    fn hidden(&self, input_ids: &Tensor, train: bool, kind: Kind) -> Tensor;

    /// Logits `[.., vocab]` (fp32) from final hidden states, the product computed in `kind`.
    fn logits(&self, hidden: &Tensor, kind: Kind) -> Tensor;

    /// Output vocabulary size.
    fn vocab_size(&self) -> usize;

    /// Context length.
    fn max_positions(&self) -> usize;

    /// The config the network was built from (written to config.json when saving).
    fn model_config(&self) -> ModelConfig;

    /// Width of the hidden states.
    fn hidden_size(&self) -> usize;

    /// Move tensors that are not VarStore variables (rotary tables) to `device`.
    fn to_device(&mut self, _device: Device) {}
}

/// A causal LM: the [`nn::VarStore`] holding the weights and the network using them.
#[derive(Debug)]
pub struct Lm<N> {
    vs: nn::VarStore,
    net: N,
    compute: Kind,
    loss_chunk_rows: Option<usize>,
    score_chunk_rows: Option<usize>,
}

/// GPT-2 with its own VarStore.
pub type Gpt2Lm = Lm<Gpt2>;

/// The precision matrix products use by default on `device`: bf16 on CUDA, fp32 elsewhere
/// (bf16 on CPU is far slower than fp32).
pub fn default_compute_kind(device: Device) -> Kind {
    if device.is_cuda() {
        Kind::BFloat16
    } else {
        Kind::Float
    }
}

impl<N: LmNet> Lm<N> {
    /// Create a VarStore on `device`, build the network on its root with `build`.
    pub fn build(device: Device, build: impl FnOnce(nn::Path) -> N) -> Self {
        let vs = nn::VarStore::new(device);
        let net = build(vs.root());
        Lm {
            vs,
            net,
            compute: default_compute_kind(device),
            loss_chunk_rows: None,
            score_chunk_rows: None,
        }
    }

    /// Join a VarStore and a network built on its root.
    pub fn from_parts(vs: nn::VarStore, net: N) -> Self {
        let compute = default_compute_kind(vs.device());
        Lm {
            vs,
            net,
            compute,
            loss_chunk_rows: None,
            score_chunk_rows: None,
        }
    }

    /// The network.
    pub fn net(&self) -> &N {
        &self.net
    }

    /// The config of the network.
    pub fn config(&self) -> ModelConfig {
        self.net.model_config()
    }

    /// Device of the weights.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Precision of matrix products (weights stay fp32).
    pub fn compute_kind(&self) -> Kind {
        self.compute
    }

    /// Set the precision of matrix products: `Kind::Float`, or `Kind::BFloat16`/`Kind::Half`
    /// (mixed precision with fp32 master weights; meant for CUDA).
    pub fn set_compute_kind(&mut self, kind: Kind) {
        self.compute = kind;
    }

    /// Positions per chunk when [`CausalLm::summed_target_loss`] runs the output layer and the
    /// loss chunk by chunk; `None` (the default) picks about 16 MiB of logits per chunk on CPU
    /// and no chunking on CUDA.
    pub fn set_loss_chunk_rows(&mut self, rows: Option<usize>) {
        self.loss_chunk_rows = rows.map(|r| r.max(1));
    }

    /// Positions per chunk when [`CausalLm::target_log_probs`] (scoring) runs the output layer
    /// chunk by chunk; `None` (the default) picks [`SCORE_CHUNK_BYTES`] of fp32 logits per
    /// chunk on every device. `Some(usize::MAX)` computes all logits at once.
    pub fn set_score_chunk_rows(&mut self, rows: Option<usize>) {
        self.score_chunk_rows = rows.map(|r| r.max(1));
    }

    /// The positions per scoring chunk in effect (see [`Lm::set_score_chunk_rows`]).
    pub fn score_chunk_rows(&self) -> usize {
        self.score_chunk_rows
            .unwrap_or_else(|| score_chunk_rows(self.net.vocab_size()))
    }

    /// Number of scalar parameters (a tied embedding counts once).
    pub fn num_parameters(&self) -> usize {
        self.vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel())
            .sum()
    }

    /// Check `input_ids` `[batch, seq]` against the model: ids below the vocabulary size and
    /// `seq` no longer than the context. The error names the offending row.
    pub fn check_input(&self, input_ids: &Tensor) -> ModelResult<()> {
        let size = input_ids.size();
        if size.len() != 2 {
            return Err(ModelError::config(
                "input_ids",
                format!("expected a [batch, seq] tensor, got shape {size:?}"),
            ));
        }
        let (b, n) = (size[0], size[1]);
        if n as usize > self.net.max_positions() {
            return Err(ModelError::SequenceTooLong {
                index: 0,
                len: n as usize,
                max: self.net.max_positions(),
            });
        }
        if b * n == 0 {
            return Ok(());
        }
        let ids = input_ids.to_kind(Kind::Int64);
        let vocab = self.net.vocab_size() as i64;
        let bad = ids.lt(0).logical_or(&ids.ge(vocab));
        if bad.any().int64_value(&[]) != 0 {
            let row = bad
                .any_dim(1, false)
                .to_kind(Kind::Int64)
                .argmax(0, false)
                .int64_value(&[]);
            let pos = bad
                .get(row)
                .to_kind(Kind::Int64)
                .argmax(0, false)
                .int64_value(&[]);
            let id = ids.int64_value(&[row, pos]);
            return Err(ModelError::TokenOutOfRange {
                index: row as usize,
                id: id.clamp(0, u32::MAX as i64) as u32,
                vocab: vocab as usize,
            });
        }
        Ok(())
    }

    /// [`CausalLm::forward_t`] after [`Lm::check_input`]: bad input is an error, not a panic.
    pub fn try_forward_t(&self, input_ids: &Tensor, train: bool) -> ModelResult<Tensor> {
        self.check_input(input_ids)?;
        Ok(self.forward_t(input_ids, train))
    }

    /// Error unless every id of a tokenizer with `tokenizer_vocab` ids has an embedding row.
    pub fn check_tokenizer_vocab(&self, tokenizer_vocab: usize) -> ModelResult<()> {
        if tokenizer_vocab > self.net.vocab_size() {
            return Err(ModelError::TokenizerTooLarge {
                tokenizer: tokenizer_vocab,
                embedding: self.net.vocab_size(),
            });
        }
        Ok(())
    }

    /// Move the weights to `device` (they stay fp32) and pick that device's default compute
    /// precision (bf16 on CUDA, fp32 on CPU).
    pub fn to_device(&mut self, device: Device) {
        self.vs.set_device(device);
        self.net.to_device(device);
        self.compute = default_compute_kind(device);
    }

    /// Write `config.json` and `model.safetensors` (fp32) into `dir` so that HF transformers'
    /// `from_pretrained(dir)` loads them. The folder is written next to `dir` under a temporary
    /// name and renamed into place; other files already in `dir` (tokenizer files) are kept.
    pub fn save_pretrained(&self, dir: impl AsRef<std::path::Path>) -> ModelResult<()> {
        crate::weights::save_pretrained(&self.vs, &self.net.model_config(), dir.as_ref())
    }

    /// Copy the weights of the HF checkpoint folder `dir` (`model.safetensors` or a sharded
    /// index) into this model, converting them to fp32. Every variable must be present with
    /// the right shape, and every tensor of the checkpoint must be used.
    pub fn load_weights(&mut self, dir: impl AsRef<std::path::Path>) -> ModelResult<()> {
        crate::weights::load_into(&mut self.vs, dir.as_ref())
    }
}

impl Lm<Gpt2> {
    /// A freshly initialised GPT-2 (HF initialisation) on `device`.
    pub fn gpt2(cfg: &Gpt2Config, device: Device) -> ModelResult<Self> {
        cfg.validate()?;
        Ok(Lm::build(device, |p| Gpt2::new(p, cfg)))
    }
}

impl<N: LmNet> CausalLm for Lm<N> {
    fn forward_t(&self, input_ids: &Tensor, train: bool) -> Tensor {
        let h = self.net.hidden(input_ids, train, self.compute);
        self.net.logits(&h, self.compute)
    }

    fn hidden_states(&self, input_ids: &Tensor) -> Tensor {
        self.net.hidden(input_ids, false, self.compute)
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    fn vocab_size(&self) -> usize {
        self.net.vocab_size()
    }

    fn max_positions(&self) -> usize {
        self.net.max_positions()
    }

    fn hidden_size(&self) -> usize {
        self.net.hidden_size()
    }

    fn lm_loss(&self, input_ids: &Tensor, train: bool) -> Tensor {
        let targets = super::shift_labels(input_ids);
        super::mean_over_targets(
            &self.summed_target_loss(input_ids, &targets, train),
            &targets,
        )
    }

    fn summed_target_loss(&self, input_ids: &Tensor, targets: &Tensor, train: bool) -> Tensor {
        let h = self.net.hidden(input_ids, train, self.compute);
        let width = h.size().last().copied().unwrap_or(0);
        let h = h.reshape([-1, width]);
        let targets = targets.reshape([-1]);
        let rows = h.size()[0];
        let chunk = match self.loss_chunk_rows {
            Some(r) => r as i64,
            None => loss_chunk_rows(self.vs.device(), self.net.vocab_size()),
        };
        // One chunk when everything fits (an empty batch included: its sum is 0 with a
        // gradient, as for the full logits).
        (0..rows.max(1))
            .step_by(chunk as usize)
            .map(|start| {
                let len = chunk.min(rows - start);
                let logits = self.net.logits(&h.narrow(0, start, len), self.compute);
                super::summed_cross_entropy(&logits, &targets.narrow(0, start, len))
            })
            .reduce(|total, part| total + part)
            .unwrap_or_else(|| Tensor::zeros([], (Kind::Float, self.vs.device())))
    }

    fn target_log_probs(&self, input_ids: &Tensor, targets: &Tensor) -> Tensor {
        let (b, n) = input_ids.size2().unwrap_or((0, 0));
        let h = self.net.hidden(input_ids, false, self.compute);
        let width = h.size().last().copied().unwrap_or(0);
        let h = h.reshape([-1, width]);
        let targets = targets.reshape([-1]);
        let rows = b * n;
        let chunk = self.score_chunk_rows().min(i64::MAX as usize) as i64;
        let parts: Vec<Tensor> = (0..rows)
            .step_by(chunk.max(1) as usize)
            .map(|start| {
                let len = chunk.min(rows - start);
                let logits = self.net.logits(&h.narrow(0, start, len), self.compute);
                super::gathered_log_probs(&logits, &targets.narrow(0, start, len))
            })
            .collect();
        if parts.is_empty() {
            return Tensor::zeros([b, n], (Kind::Float, self.vs.device()));
        }
        Tensor::cat(&parts, 0).view([b, n])
    }
}

/// Bytes of fp32 logits per chunk when scoring: 64 MiB, so a batch of 8 windows of 8,192
/// positions over a 49,152-token vocabulary (12.9 GB of logits at once) takes 192 chunks and
/// the memory of one.
pub const SCORE_CHUNK_BYTES: usize = 64 << 20;

/// Positions per scoring chunk: [`SCORE_CHUNK_BYTES`] of fp32 logits, at least 16 positions.
fn score_chunk_rows(vocab: usize) -> usize {
    (SCORE_CHUNK_BYTES / (4 * vocab.max(1))).max(16)
}

/// Positions per chunk of the output layer and loss: about 16 MiB of fp32 logits on CPU (so a
/// chunk's logits stay in cache between the product, the softmax and their gradients), and no
/// chunking on CUDA.
fn loss_chunk_rows(device: Device, vocab: usize) -> i64 {
    if device.is_cuda() {
        return i64::MAX;
    }
    const LOGIT_BYTES: usize = 16 << 20;
    (LOGIT_BYTES / (4 * vocab.max(1))).max(128) as i64
}
