//! Pooled metrics with lm-evaluation-harness's formulas.

use serde::{Deserialize, Serialize};

/// Pooled perplexity figures of a set of scored tokens.
///
/// With `L = Σ ln p` over the scored tokens (lm-eval's summed log-likelihood):
/// `token_perplexity = exp(-L / tokens)`, `word_perplexity = exp(-L / words)`,
/// `byte_perplexity = exp(-L / bytes)` and `bits_per_byte = -L / bytes / ln 2`, where words are
/// `len(re.split(r"\s+", text))` and bytes the UTF-8 length of the original texts, summed over
/// documents (lm-eval's `weighted_perplexity` and `bits_per_byte` aggregations).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Scored tokens.
    pub tokens: u64,
    /// Words of the texts.
    pub words: u64,
    /// UTF-8 bytes of the texts.
    pub bytes: u64,
    /// Sum of the tokens' negative log-likelihoods (nats).
    pub nll_sum: f64,
    /// `exp(nll_sum / tokens)`.
    pub token_perplexity: f64,
    /// `exp(nll_sum / words)`.
    pub word_perplexity: f64,
    /// `exp(nll_sum / bytes)`.
    pub byte_perplexity: f64,
    /// `nll_sum / bytes / ln 2`.
    pub bits_per_byte: f64,
}

impl Metrics {
    /// Metrics from an NLL sum and the counts it is normalised by. A zero count gives NaN for
    /// the figures that divide by it.
    pub fn from_sums(nll_sum: f64, tokens: u64, words: u64, bytes: u64) -> Self {
        let per = |n: u64| {
            if n == 0 {
                f64::NAN
            } else {
                nll_sum / n as f64
            }
        };
        Metrics {
            tokens,
            words,
            bytes,
            nll_sum,
            token_perplexity: per(tokens).exp(),
            word_perplexity: per(words).exp(),
            byte_perplexity: per(bytes).exp(),
            bits_per_byte: per(bytes) / std::f64::consts::LN_2,
        }
    }

    /// Mean NLL per scored token.
    pub fn mean_nll(&self) -> f64 {
        self.nll_sum / self.tokens as f64
    }
}
