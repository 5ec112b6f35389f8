//! Causal language models.
//!
//! Networks ([`Gpt2`], ...) are built on a [`nn::Path`] and hold no VarStore; [`Lm`] owns a
//! VarStore together with a network and implements [`CausalLm`]. [`AnyModel`] is the [`Lm`]
//! whose network is chosen at run time from a config.json.

pub mod any;
pub mod gpt2;
pub(crate) mod layers;
pub mod llama;
pub mod lm;

pub use any::{AnyModel, AnyNet};
pub use gpt2::{Gpt2, Gpt2Config};
pub use llama::{Llama, LlamaConfig, LlamaVariant};
pub use lm::{Gpt2Lm, Lm, LmNet};

use tch::{nn, Kind, Tensor};

/// Label value that [`causal_lm_loss`] ignores (HF's `-100`).
pub const IGNORE_INDEX: i64 = -100;

/// A causal language model built on a `tch` [`nn::VarStore`].
///
/// All shapes follow HF transformers: `input_ids` is `[batch, seq]` of `Int64`, logits are
/// `[batch, seq, vocab]`. Position `t`'s logits predict token `t + 1`.
pub trait CausalLm: Send {
    /// Logits for `input_ids`; `train` enables dropout.
    fn forward_t(&self, input_ids: &Tensor, train: bool) -> Tensor;

    /// The final hidden states `[batch, seq, hidden]` (after the final norm).
    fn hidden_states(&self, input_ids: &Tensor) -> Tensor;

    /// The variables (weights) of the model.
    fn var_store(&self) -> &nn::VarStore;

    /// Mutable access to the variables (to load weights, change device or kind).
    fn var_store_mut(&mut self) -> &mut nn::VarStore;

    /// Output vocabulary size.
    fn vocab_size(&self) -> usize;

    /// Longest sequence the model accepts.
    fn max_positions(&self) -> usize;

    /// Width of the hidden states. The default runs the model on one token to find out;
    /// implementations that know it from their config override it.
    fn hidden_size(&self) -> usize {
        let ids = Tensor::zeros([1, 1], (Kind::Int64, self.var_store().device()));
        let h = tch::no_grad(|| self.hidden_states(&ids));
        h.size().last().map(|&d| d as usize).unwrap_or(0)
    }

    /// Mean next-token cross-entropy of `input_ids` (HF's `model(x, labels=x).loss`): position
    /// `t` predicts token `t + 1`, so a `[b, n]` batch has `b * (n - 1)` predicted tokens.
    fn lm_loss(&self, input_ids: &Tensor, train: bool) -> Tensor {
        causal_lm_loss(&self.forward_t(input_ids, train), input_ids)
    }

    /// Summed cross-entropy (fp32) of `targets` `[batch, seq]` under the distributions the
    /// model predicts at the positions of `input_ids`: entry `t` of `targets` is the target of
    /// position `t` (see [`shift_labels`]); entries equal to [`IGNORE_INDEX`] do not count.
    ///
    /// The default builds the full `[batch, seq, vocab]` logits. [`Lm`] overrides it to run the
    /// output layer and the loss over chunks of positions, which never holds all logits at once
    /// and keeps each chunk in cache on CPU; the value and its gradients are the same up to
    /// the order of the summation.
    fn summed_target_loss(&self, input_ids: &Tensor, targets: &Tensor, train: bool) -> Tensor {
        let logits = self.forward_t(input_ids, train);
        summed_cross_entropy(&logits, targets)
    }

    /// `ln p(targets[b, t] | input_ids[b, ..=t])` (fp32, `[batch, seq]`) in eval mode: entry `t`
    /// of `targets` is the token predicted at position `t` (see [`shift_labels`]; any id is
    /// allowed where the result is not used, e.g. padding).
    ///
    /// The default builds the full `[batch, seq, vocab]` logits. [`Lm`] overrides it to run the
    /// output layer over chunks of positions, so that memory holds one chunk's logits at a
    /// time: what the scorer needs, at any context length and vocabulary size.
    fn target_log_probs(&self, input_ids: &Tensor, targets: &Tensor) -> Tensor {
        let logits = self.forward_t(input_ids, false).to_kind(Kind::Float);
        gathered_log_probs(&logits, targets)
    }
}

/// `log_softmax(logits)[.., targets[..]]` for `logits` `[.., vocab]` and aligned `targets`
/// `[..]`, computed as the target's logit minus the log-sum-exp (fp32).
pub fn gathered_log_probs(logits: &Tensor, targets: &Tensor) -> Tensor {
    let logits = layers::cast(logits, Kind::Float);
    let t = targets.to_kind(Kind::Int64).unsqueeze(-1);
    logits.gather(-1, &t, false).squeeze_dim(-1) - logits.logsumexp([-1], false)
}

/// Summed fp32 cross-entropy of `logits` `[.., vocab]` against aligned `targets` `[..]`,
/// [`IGNORE_INDEX`] left out.
pub fn summed_cross_entropy(logits: &Tensor, targets: &Tensor) -> Tensor {
    let v = logits.size().last().copied().unwrap_or(1);
    layers::cast(logits, Kind::Float)
        .reshape([-1, v])
        .cross_entropy_loss(
            &targets.reshape([-1]),
            None::<Tensor>,
            tch::Reduction::Sum,
            IGNORE_INDEX,
            0.0,
        )
}

/// Check a batch of token sequences against a model's limits: every id below `vocab`, no
/// sequence longer than `max_len` nor shorter than `min_len`. The error names the sequence.
pub fn check_sequences(
    seqs: &[&[u32]],
    vocab: usize,
    max_len: usize,
    min_len: usize,
) -> crate::ModelResult<()> {
    for (index, s) in seqs.iter().enumerate() {
        if s.len() > max_len {
            return Err(crate::ModelError::SequenceTooLong {
                index,
                len: s.len(),
                max: max_len,
            });
        }
        if s.len() < min_len {
            return Err(crate::ModelError::SequenceTooShort {
                index,
                len: s.len(),
                min: min_len,
            });
        }
        if let Some(&id) = s.iter().find(|&&id| id as usize >= vocab) {
            return Err(crate::ModelError::TokenOutOfRange { index, id, vocab });
        }
    }
    Ok(())
}

/// Right-pad `seqs` with `pad` into an `Int64` tensor `[len(seqs), max_len]` on `device`.
pub fn pad_batch(seqs: &[&[u32]], pad: u32, device: tch::Device) -> Tensor {
    let width = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut flat = Vec::with_capacity(seqs.len() * width);
    for s in seqs {
        flat.extend(s.iter().map(|&id| id as i64));
        flat.extend(std::iter::repeat_n(pad as i64, width - s.len()));
    }
    Tensor::from_slice(&flat)
        .view([seqs.len() as i64, width as i64])
        .to_device(device)
}

/// Shift `labels` `[batch, seq]` left by one and fill the last column with [`IGNORE_INDEX`]:
/// entry `t` is then the target of position `t`'s logits.
pub fn shift_labels(labels: &Tensor) -> Tensor {
    let (b, n) = labels.size2().unwrap_or((0, 0));
    if n == 0 {
        return labels.shallow_clone();
    }
    let pad = Tensor::full([b, 1], IGNORE_INDEX, (Kind::Int64, labels.device()));
    Tensor::cat(&[&labels.narrow(1, 1, n - 1).to_kind(Kind::Int64), &pad], 1)
}

/// Mean cross-entropy of `logits` `[batch, seq, vocab]` against `labels` `[batch, seq]` shifted
/// by one (HF's causal-LM loss). Labels equal to [`IGNORE_INDEX`] do not count; the mean is
/// over the counted tokens. Computed in fp32.
pub fn causal_lm_loss(logits: &Tensor, labels: &Tensor) -> Tensor {
    causal_lm_loss_shifted(logits, &shift_labels(labels))
}

/// Like [`causal_lm_loss`], but `targets` are already aligned with the logits (entry `t` is
/// the target of position `t`), e.g. from [`shift_labels`] with some ids masked.
pub fn causal_lm_loss_shifted(logits: &Tensor, targets: &Tensor) -> Tensor {
    mean_over_targets(&summed_cross_entropy(logits, targets), targets)
}

/// `summed` divided by the number of `targets` that count (not [`IGNORE_INDEX`]): NaN when
/// none does, like HF's mean loss.
pub(crate) fn mean_over_targets(summed: &Tensor, targets: &Tensor) -> Tensor {
    summed / targets.ne(IGNORE_INDEX).sum(Kind::Float)
}
