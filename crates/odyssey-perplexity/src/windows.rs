//! Window schedules: which slices of a document's token stream are sent to the scorer and
//! which of their tokens are kept.
//!
//! Both schedules work on a document's *stream*: its token ids, preceded by a prefix token when
//! the schedule uses one. A window is a contiguous slice of the stream; the scorer returns a
//! log-probability for each of its tokens but the first, and only the last
//! [`WindowPlan::scored`] of them are kept. Every document token is kept at most once.

use crate::error::{PerplexityError, Result};
use serde::{Deserialize, Serialize};

/// How documents are cut into windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WindowScheme {
    /// lm-evaluation-harness's rolling log-likelihood (`get_rolling_token_windows` with
    /// `context_len = 1`, then `make_disjoint_window`, as `HFLM.loglikelihood_rolling` does):
    /// the prefix token is put before the document, the first window predicts the first
    /// `max_length` tokens, each further window predicts the next `max_length` tokens from the
    /// one before them, and the last window is left-filled with earlier tokens so the model
    /// still sees `max_length` tokens. `max_length` is lm-eval's `max_length` (the model's
    /// context); windows sent to the scorer hold up to `max_length + 1` tokens because the last
    /// one is only predicted. Every document token is scored.
    Rolling {
        /// lm-eval's `max_length`: tokens the model conditions on per window.
        max_length: usize,
    },
    /// HF's strided (overlapping) windows ("Perplexity of fixed-length models"): windows of
    /// `max_length` tokens start every `stride` tokens; each keeps only the tokens not kept by
    /// the window before. Without a prefix the document's first token has no context and is
    /// not scored (as in HF's recipe); with `prefix` every token is scored.
    Strided {
        /// Tokens per window (HF's `max_length`, the model's context).
        max_length: usize,
        /// Distance between window starts (HF's `stride`), `1..=max_length`.
        stride: usize,
        /// Put the prefix token before the document so its first token is scored too.
        prefix: bool,
    },
}

impl WindowScheme {
    /// lm-eval's rolling windows for a model with context `max_length`.
    pub fn rolling(max_length: usize) -> Self {
        WindowScheme::Rolling { max_length }
    }

    /// lm-eval's rolling windows sized for `scorer`: windows of up to `scorer.max_length()`
    /// tokens, i.e. lm-eval's `max_length = scorer.max_length() - 1`.
    pub fn rolling_for(scorer: &dyn odyssey_core::TokenScorer) -> Self {
        WindowScheme::Rolling {
            max_length: scorer.max_length().saturating_sub(1),
        }
    }

    /// HF's strided windows, without a prefix token.
    pub fn strided(max_length: usize, stride: usize) -> Self {
        WindowScheme::Strided {
            max_length,
            stride,
            prefix: false,
        }
    }

    /// Whether the stream starts with the prefix token.
    pub fn uses_prefix(&self) -> bool {
        match *self {
            WindowScheme::Rolling { .. } => true,
            WindowScheme::Strided { prefix, .. } => prefix,
        }
    }

    /// The longest window (in tokens) this scheme sends to a scorer.
    pub fn max_window_len(&self) -> usize {
        match *self {
            WindowScheme::Rolling { max_length } => max_length + 1,
            WindowScheme::Strided { max_length, .. } => max_length,
        }
    }

    /// Check the parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            WindowScheme::Rolling { max_length: 0 } => Err(PerplexityError::InvalidConfig(
                "rolling windows need max_length >= 1".into(),
            )),
            WindowScheme::Strided {
                max_length, stride, ..
            } if max_length < 2 || stride == 0 || stride > max_length => {
                Err(PerplexityError::InvalidConfig(format!(
                    "strided windows need max_length >= 2 and 1 <= stride <= max_length \
                     (got max_length {max_length}, stride {stride})"
                )))
            }
            _ => Ok(()),
        }
    }

    /// The windows for a document of `n_tokens` tokens, in order.
    pub fn plan(&self, n_tokens: usize) -> Vec<WindowPlan> {
        match *self {
            WindowScheme::Rolling { max_length } => rolling_plan(n_tokens, max_length),
            WindowScheme::Strided {
                max_length,
                stride,
                prefix,
            } => strided_plan(n_tokens + usize::from(prefix), max_length, stride),
        }
    }
}

/// One window of a document's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowPlan {
    /// First stream index of the window.
    pub start: usize,
    /// Tokens in the window (at least 2).
    pub len: usize,
    /// How many of the window's last tokens are kept (at most `len - 1`).
    pub scored: usize,
}

impl WindowPlan {
    /// Stream index of the first kept token.
    pub fn first_scored(&self) -> usize {
        self.start + self.len - self.scored
    }
}

/// lm-eval's rolling windows (`context_len = 1`, disjoint) in stream coordinates, where stream
/// index 0 is the prefix token and index `i + 1` is document token `i`.
fn rolling_plan(n: usize, max_len: usize) -> Vec<WindowPlan> {
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    // first window: [prefix] + tokens[..first], predicting tokens[..first]
    let first = max_len.min(n);
    out.push(WindowPlan {
        start: 0,
        len: first + 1,
        scored: first,
    });
    let mut predicted = first;
    while predicted < n {
        let pred = (n - predicted).min(max_len);
        let end = predicted + pred; // exclusive, in token coordinates
                                    // tokens[end - max_len - 1 .. end] == stream[end - max_len .. end + 1]
        out.push(WindowPlan {
            start: end - max_len,
            len: max_len + 1,
            scored: pred,
        });
        predicted = end;
    }
    out
}

/// HF's strided recipe over a stream of `seq_len` tokens.
fn strided_plan(seq_len: usize, max_len: usize, stride: usize) -> Vec<WindowPlan> {
    let mut out = Vec::new();
    let mut prev_end = 0usize;
    let mut begin = 0usize;
    while begin < seq_len {
        let end = (begin + max_len).min(seq_len);
        let len = end - begin;
        let trg = end - prev_end;
        // labels shift inside the model: a window's first token is never predicted
        let scored = trg.min(len.saturating_sub(1));
        if scored > 0 {
            out.push(WindowPlan {
                start: begin,
                len,
                scored,
            });
        }
        prev_end = end;
        if end == seq_len {
            break;
        }
        begin += stride;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_covers_every_token_once() {
        for n in 0..40 {
            for l in 1..9 {
                let plan = WindowScheme::rolling(l).plan(n);
                let mut next = 1;
                for w in &plan {
                    assert!(w.len <= l + 1 && w.scored >= 1 && w.scored < w.len);
                    assert_eq!(w.first_scored(), next);
                    next += w.scored;
                }
                assert_eq!(next, n + 1);
            }
        }
    }

    #[test]
    fn rolling_last_window_is_left_filled() {
        // 10 tokens, context 4: windows predict 4, 4, 2; the last sees 4 tokens of context
        let plan = WindowScheme::rolling(4).plan(10);
        assert_eq!(
            plan,
            vec![
                WindowPlan {
                    start: 0,
                    len: 5,
                    scored: 4
                },
                WindowPlan {
                    start: 4,
                    len: 5,
                    scored: 4
                },
                WindowPlan {
                    start: 6,
                    len: 5,
                    scored: 2
                },
            ]
        );
    }

    #[test]
    fn strided_scores_each_token_after_the_first_once() {
        for n in 0..40 {
            for l in 2..9 {
                for s in 1..=l {
                    let plan = WindowScheme::strided(l, s).plan(n);
                    let mut kept = vec![0u32; n];
                    for w in &plan {
                        assert!(w.len <= l);
                        for k in &mut kept[w.first_scored()..w.start + w.len] {
                            *k += 1;
                        }
                    }
                    assert!(kept.iter().all(|&k| k <= 1));
                    if s < l {
                        assert_eq!(kept.iter().sum::<u32>() as usize, n.saturating_sub(1));
                    }
                }
            }
        }
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert!(WindowScheme::rolling(0).validate().is_err());
        assert!(WindowScheme::strided(8, 0).validate().is_err());
        assert!(WindowScheme::strided(8, 9).validate().is_err());
        assert!(WindowScheme::strided(1, 1).validate().is_err());
        assert!(WindowScheme::strided(8, 8).validate().is_ok());
    }
}
