//! [`LmEmbedder`]: text vectors from a causal LM (mean of the last hidden state), behind
//! [`odyssey_core::TextEmbedder`].

use crate::error::{ModelError, ModelResult};
use crate::model::{pad_batch, AnyModel, CausalLm};
use ndarray::Array2;
use odyssey_core::{TextEmbedder, TokenizerHandle};
use std::sync::Arc;
use tch::{Kind, Tensor};

/// Embeds texts as the mean of the model's final hidden states over their tokens (padding
/// masked out). Texts longer than the context are truncated to their first `max_length`
/// tokens, as sentence-transformers does.
pub struct LmEmbedder<M = AnyModel> {
    model: M,
    tokenizer: Arc<dyn TokenizerHandle>,
    batch_size: usize,
    max_length: usize,
}

impl<M: CausalLm> LmEmbedder<M> {
    /// Embed with `model` and `tokenizer`, `batch_size` texts per pass. Errors when the
    /// tokenizer has ids the model's embedding lacks.
    pub fn new(
        model: M,
        tokenizer: Arc<dyn TokenizerHandle>,
        batch_size: usize,
    ) -> ModelResult<Self> {
        if tokenizer.vocab_size() > model.vocab_size() {
            return Err(ModelError::TokenizerTooLarge {
                tokenizer: tokenizer.vocab_size(),
                embedding: model.vocab_size(),
            });
        }
        let max_length = model.max_positions();
        Ok(LmEmbedder {
            model,
            tokenizer,
            batch_size: batch_size.max(1),
            max_length,
        })
    }

    /// Truncate texts to `max_length` tokens (at most the model's context).
    pub fn with_max_length(mut self, max_length: usize) -> Self {
        self.max_length = max_length.clamp(1, self.model.max_positions());
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

    /// Mean final hidden state of each token sequence (each non-empty, ids below the
    /// vocabulary, no longer than the context).
    pub fn embed_ids(&self, seqs: &[&[u32]]) -> ModelResult<Array2<f32>> {
        crate::model::check_sequences(
            seqs,
            self.model.vocab_size(),
            self.model.max_positions(),
            1,
        )?;
        let dim = self.model.hidden_size();
        let mut out = Array2::<f32>::zeros((seqs.len(), dim));
        let device = self.model.var_store().device();
        let _guard = tch::no_grad_guard();
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(seqs[i].len()));
        for chunk in order.chunks(self.batch_size) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| seqs[i]).collect();
            let ids = pad_batch(&batch, 0, device);
            let width = ids.size()[1];
            let lens: Vec<i64> = batch.iter().map(|s| s.len() as i64).collect();
            let lens_t = Tensor::from_slice(&lens).to_device(device);
            let mask = Tensor::arange(width, (Kind::Int64, device))
                .unsqueeze(0)
                .lt_tensor(&lens_t.unsqueeze(1))
                .to_kind(Kind::Float)
                .unsqueeze(-1);
            let h = self.model.hidden_states(&ids).to_kind(Kind::Float);
            let mean = (h * &mask).sum_dim_intlist(1, false, Kind::Float)
                / lens_t.to_kind(Kind::Float).unsqueeze(1);
            let mean = mean.to_device(tch::Device::Cpu).contiguous();
            let flat = Vec::<f32>::try_from(mean.view([-1]))?;
            for (row, &i) in chunk.iter().enumerate() {
                for (d, v) in flat[row * dim..(row + 1) * dim].iter().enumerate() {
                    out[[i, d]] = *v;
                }
            }
        }
        Ok(out)
    }
}

impl<M: CausalLm> TextEmbedder for LmEmbedder<M> {
    fn dim(&self) -> usize {
        self.model.hidden_size()
    }

    fn embed(&self, texts: &[&str]) -> odyssey_core::Result<Array2<f32>> {
        let encodings = self.tokenizer.encode_batch(texts)?;
        let seqs: Vec<&[u32]> = encodings
            .iter()
            .map(|e| &e.ids[..e.ids.len().min(self.max_length)])
            .collect();
        Ok(self.embed_ids(&seqs)?)
    }

    fn describe(&self) -> String {
        format!(
            "causal LM mean hidden state (dim {}, context {})",
            self.model.hidden_size(),
            self.model.max_positions()
        )
    }
}
