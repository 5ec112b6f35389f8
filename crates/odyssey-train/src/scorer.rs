//! [`LmScorer`]: per-token log-probabilities of a causal LM, behind
//! [`odyssey_core::TokenScorer`].

use crate::error::ModelResult;
use crate::model::{check_sequences, pad_batch, AnyModel, CausalLm};
use odyssey_core::TokenScorer;
use tch::{Kind, Tensor};

/// Scores token windows with a causal LM: windows are grouped by length into batches,
/// right-padded, run once in eval mode without gradients, and each predicted token's
/// `log_softmax` entry is gathered (padding never influences real positions: attention is
/// causal and padding sits at the end).
#[derive(Debug)]
pub struct LmScorer<M = AnyModel> {
    model: M,
    batch_size: usize,
    description: String,
}

impl<M: CausalLm> LmScorer<M> {
    /// Score with `model`, `batch_size` windows per forward pass (at least 1). The logits are
    /// computed over chunks of positions ([`crate::Lm::set_score_chunk_rows`]), so memory per
    /// pass is the activations of the batch plus one chunk of logits, not
    /// `batch_size * window * vocab * 4` bytes.
    pub fn new(model: M, batch_size: usize) -> Self {
        let params: usize = model
            .var_store()
            .trainable_variables()
            .iter()
            .map(|t| t.numel())
            .sum();
        LmScorer {
            description: format!(
                "causal LM ({:.1} M parameters, vocab {}, context {})",
                params as f64 / 1e6,
                model.vocab_size(),
                model.max_positions()
            ),
            model,
            batch_size: batch_size.max(1),
        }
    }

    /// Replace the text [`TokenScorer::describe`] returns (e.g. with the checkpoint's name).
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Give the model back.
    pub fn into_model(self) -> M {
        self.model
    }

    /// Like [`TokenScorer::token_log_probs`], with this crate's error type.
    pub fn score(&self, windows: &[&[u32]]) -> ModelResult<Vec<Vec<f32>>> {
        // The last token of a window is only predicted, so a model with P positions scores
        // windows of up to P + 1 tokens (lm-eval's rolling windows rely on this).
        check_sequences(
            windows,
            self.model.vocab_size(),
            self.model.max_positions() + 1,
            2,
        )?;
        let mut order: Vec<usize> = (0..windows.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(windows[i].len()));
        let mut out = vec![Vec::new(); windows.len()];
        let device = self.model.var_store().device();
        let _guard = tch::no_grad_guard();
        for chunk in order.chunks(self.batch_size) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| windows[i]).collect();
            let ids = pad_batch(&batch, 0, device);
            let n = ids.size()[1];
            // Only each target's log-probability is needed: the model computes it over chunks
            // of positions and never holds the [batch, positions, vocab] logits at once.
            let lp = self
                .model
                .target_log_probs(&ids.narrow(1, 0, n - 1), &ids.narrow(1, 1, n - 1));
            let lp = lp.to_device(tch::Device::Cpu).contiguous();
            let flat = Vec::<f32>::try_from(lp.view([-1]))?;
            let width = (n - 1) as usize;
            for (row, &i) in chunk.iter().enumerate() {
                let len = windows[i].len() - 1;
                out[i] = flat[row * width..row * width + len].to_vec();
            }
        }
        Ok(out)
    }
}

impl<M: CausalLm> TokenScorer for LmScorer<M> {
    fn max_length(&self) -> usize {
        self.model.max_positions() + 1
    }

    fn vocab_size(&self) -> usize {
        self.model.vocab_size()
    }

    fn token_log_probs(&self, windows: &[&[u32]]) -> odyssey_core::Result<Vec<Vec<f32>>> {
        Ok(self.score(windows)?)
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// Log-probabilities straight from logits: `out[b][t] = log_softmax(logits[b, t])[ids[b, t+1]]`
/// for `logits` `[batch, seq, vocab]` and `ids` `[batch, seq]`.
pub fn gather_log_probs(logits: &Tensor, ids: &Tensor) -> Tensor {
    let n = ids.size()[1];
    let logits = logits.narrow(1, 0, n - 1).to_kind(Kind::Float);
    let targets = ids.narrow(1, 1, n - 1).unsqueeze(-1);
    logits
        .log_softmax(-1, Kind::Float)
        .gather(2, &targets, false)
        .squeeze_dim(-1)
}
