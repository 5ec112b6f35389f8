//! Token scorers: per-token log-probabilities under a language model.

use crate::Result;
use serde::{Deserialize, Serialize};

/// A causal language model seen only through the log-probabilities it assigns.
///
/// `odyssey-train` implements it for its `tch` models; `odyssey-perplexity` builds windows,
/// calls it and pools the results, and so never links libtorch.
pub trait TokenScorer {
    /// The longest window (in tokens) [`token_log_probs`](Self::token_log_probs) accepts.
    ///
    /// A window's last token is only predicted, never fed to the model, so a model with `P`
    /// positions accepts windows of `P + 1` tokens and reports `P + 1` here.
    fn max_length(&self) -> usize;

    /// Size of the model's output vocabulary; ids must be below it.
    fn vocab_size(&self) -> usize;

    /// For each window `w` (length `n >= 2`), return `n - 1` values: entry `j` is
    /// `ln p(w[j + 1] | w[..=j])`. Windows in one call may differ in length.
    fn token_log_probs(&self, windows: &[&[u32]]) -> Result<Vec<Vec<f32>>>;

    /// A short description (model name, parameter count) for reports.
    fn describe(&self) -> String {
        String::from("token scorer")
    }
}

/// One scored token of a document.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoredToken {
    /// Index of the document in the scored corpus.
    pub doc: u32,
    /// Index of the token within its document's token sequence.
    pub position: u32,
    /// The token id that was predicted.
    pub token_id: u32,
    /// Negative natural-log likelihood of this token given its context.
    pub nll: f32,
    /// Byte span `(start, end)` of the token in the document text.
    pub bytes: (u32, u32),
}
