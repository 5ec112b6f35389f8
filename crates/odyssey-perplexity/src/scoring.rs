//! Scoring documents through a [`TokenScorer`]: windows, batches, per-token NLLs.

use crate::corpus::{DocumentSpan, ScoredCorpus};
use crate::error::{PerplexityError, Result};
use crate::windows::{WindowPlan, WindowScheme};
use crate::words::{count_bytes, count_words};
use odyssey_core::{Document, Encoding, ScoredToken, TokenScorer, TokenizerHandle};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Log-probabilities above this are rejected as impossible (a little above 0 is float noise).
const MAX_LOG_PROB: f32 = 1e-4;

/// How to score documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreOptions {
    /// The window schedule.
    pub scheme: WindowScheme,
    /// Windows per scorer call.
    pub batch_size: usize,
    /// The token put before a document when the scheme uses one (lm-eval uses the
    /// end-of-text token). `None`: [`score_documents`] takes the tokenizer's `eos_id()`.
    pub prefix_token: Option<u32>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

impl ScoreOptions {
    /// Options with the given scheme, batches of 8 windows, no explicit prefix, no progress bar.
    pub fn new(scheme: WindowScheme) -> Self {
        ScoreOptions {
            scheme,
            batch_size: 8,
            prefix_token: None,
            progress: false,
        }
    }

    /// Set the batch size.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Set the prefix token.
    pub fn prefix_token(mut self, id: u32) -> Self {
        self.prefix_token = Some(id);
        self
    }

    /// Show or hide the progress bar.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }
}

/// A document already tokenized: its text (for word and byte counts) and its encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizedDocument<'a> {
    /// Identifier.
    pub id: Cow<'a, str>,
    /// The text that was encoded.
    pub text: Cow<'a, str>,
    /// Token ids and byte offsets.
    pub encoding: Cow<'a, Encoding>,
}

/// Tokenize `docs` with `tokenizer` and score them with `scorer`. The rolling scheme's prefix
/// defaults to the tokenizer's end-of-text token. The corpus records the tokenizer's
/// fingerprint.
pub fn score_documents(
    scorer: &dyn TokenScorer,
    tokenizer: &dyn TokenizerHandle,
    docs: &[Document],
    opts: &ScoreOptions,
) -> Result<ScoredCorpus> {
    let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
    let encodings = tokenizer
        .encode_batch(&texts)
        .map_err(|source| PerplexityError::Backend {
            context: "tokenizing documents for scoring".into(),
            source,
        })?;
    if encodings.len() != docs.len() {
        return Err(PerplexityError::StreamMismatch(format!(
            "tokenizer returned {} encodings for {} documents",
            encodings.len(),
            docs.len()
        )));
    }
    let tokenized: Vec<TokenizedDocument> = docs
        .iter()
        .zip(encodings)
        .map(|(d, e)| TokenizedDocument {
            id: Cow::Borrowed(d.id.as_str()),
            text: Cow::Borrowed(d.text.as_str()),
            encoding: Cow::Owned(e),
        })
        .collect();
    let mut opts = *opts;
    if opts.prefix_token.is_none() {
        opts.prefix_token = tokenizer.eos_id();
    }
    Ok(score_tokenized(scorer, &tokenized, &opts)?
        .with_tokenizer_fingerprint(tokenizer.fingerprint()))
}

/// Score already-tokenized documents with `scorer`.
///
/// Every window is checked against the scorer's `max_length()`, every id against its
/// `vocab_size()`, and every returned value for shape, finiteness and sign. Per-token NLLs do
/// not depend on the batch size (for a scorer whose scores do not).
pub fn score_tokenized(
    scorer: &dyn TokenScorer,
    docs: &[TokenizedDocument],
    opts: &ScoreOptions,
) -> Result<ScoredCorpus> {
    opts.scheme.validate()?;
    if opts.batch_size == 0 {
        return Err(PerplexityError::InvalidConfig(
            "batch_size must be >= 1".into(),
        ));
    }
    if docs.is_empty() {
        return Err(PerplexityError::EmptyCorpus("no documents to score".into()));
    }
    let vocab = scorer.vocab_size();
    let prefix = if opts.scheme.uses_prefix() {
        let p = opts
            .prefix_token
            .ok_or(PerplexityError::MissingPrefixToken)?;
        if p as usize >= vocab {
            return Err(PerplexityError::InvalidConfig(format!(
                "prefix token {p} is outside the scorer's vocabulary of {vocab}"
            )));
        }
        Some(p)
    } else {
        None
    };
    let shift = usize::from(prefix.is_some());

    // validate encodings, build streams and window plans
    let mut streams: Vec<Cow<[u32]>> = Vec::with_capacity(docs.len());
    let mut plans: Vec<(u32, WindowPlan, usize)> = Vec::new(); // (doc, window, flat offset)
    let mut spans = Vec::with_capacity(docs.len());
    let mut total = 0usize;
    for (d, doc) in docs.iter().enumerate() {
        validate_encoding(d, doc, vocab)?;
        let ids = &doc.encoding.ids;
        let stream: Cow<[u32]> = match prefix {
            Some(p) => {
                let mut v = Vec::with_capacity(ids.len() + 1);
                v.push(p);
                v.extend_from_slice(ids);
                Cow::Owned(v)
            }
            None => Cow::Borrowed(ids.as_slice()),
        };
        let start = total;
        for w in opts.scheme.plan(ids.len()) {
            if w.len > scorer.max_length() {
                return Err(PerplexityError::WindowTooLong {
                    len: w.len,
                    max: scorer.max_length(),
                });
            }
            plans.push((d as u32, w, total));
            total += w.scored;
        }
        let (letters, unspaced_letters) = crate::words::count_letters(&doc.text);
        spans.push(DocumentSpan {
            id: doc.id.to_string(),
            tokens: start..total,
            n_tokens: ids.len() as u32,
            words: count_words(&doc.text),
            bytes: count_bytes(&doc.text),
            letters,
            unspaced_letters,
        });
        streams.push(stream);
    }

    // token metadata is known before scoring; NLLs are filled in per window
    let mut corpus = ScoredCorpus::with_capacity(total);
    for &(d, w, _) in &plans {
        let enc = &docs[d as usize].encoding;
        for k in w.first_scored()..w.start + w.len {
            let pos = k - shift;
            let (b0, b1) = enc.offsets[pos];
            corpus.push(ScoredToken {
                doc: d,
                position: pos as u32,
                token_id: enc.ids[pos],
                nll: 0.0,
                bytes: (b0 as u32, b1 as u32),
            });
        }
    }
    corpus.set_documents(spans);

    let bar = if opts.progress {
        indicatif::ProgressBar::new(plans.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_message("scoring windows");
    let nll = corpus.nll_mut();
    for batch in plans.chunks(opts.batch_size) {
        let windows: Vec<&[u32]> = batch
            .iter()
            .map(|&(d, w, _)| &streams[d as usize][w.start..w.start + w.len])
            .collect();
        let out = scorer
            .token_log_probs(&windows)
            .map_err(|source| PerplexityError::Backend {
                context: format!("scoring a batch of {} windows", windows.len()),
                source,
            })?;
        if out.len() != windows.len() {
            return Err(PerplexityError::ScorerShape(format!(
                "{} windows in, {} score lists out",
                windows.len(),
                out.len()
            )));
        }
        for ((&(d, w, offset), lp), win) in batch.iter().zip(&out).zip(&windows) {
            if lp.len() + 1 != win.len() {
                return Err(PerplexityError::ScorerShape(format!(
                    "window of {} tokens (document {d}) got {} log-probabilities, expected {}",
                    win.len(),
                    lp.len(),
                    win.len() - 1
                )));
            }
            let kept = &lp[lp.len() - w.scored..];
            for (j, &v) in kept.iter().enumerate() {
                let position = (w.first_scored() + j - shift) as u32;
                if !v.is_finite() {
                    return Err(PerplexityError::NonFiniteScore {
                        what: "scorer output".into(),
                        doc: d,
                        position,
                        value: v,
                    });
                }
                if v > MAX_LOG_PROB {
                    return Err(PerplexityError::PositiveLogProb {
                        doc: d,
                        position,
                        value: v,
                    });
                }
                nll[offset + j] = -v;
            }
        }
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    Ok(corpus.with_provenance(opts.scheme, scorer.describe()))
}

fn validate_encoding(d: usize, doc: &TokenizedDocument, vocab: usize) -> Result<()> {
    let bad = |message: String| PerplexityError::BadEncoding {
        doc: d,
        id: doc.id.to_string(),
        message,
    };
    let enc = &doc.encoding;
    if enc.ids.len() != enc.offsets.len() {
        return Err(bad(format!(
            "{} token ids but {} offsets",
            enc.ids.len(),
            enc.offsets.len()
        )));
    }
    if enc.ids.len() >= u32::MAX as usize || doc.text.len() >= u32::MAX as usize {
        return Err(bad(
            "document too long (more than 2^32 tokens or bytes)".into()
        ));
    }
    for (i, (&id, &(a, b))) in enc.ids.iter().zip(&enc.offsets).enumerate() {
        if id as usize >= vocab {
            return Err(PerplexityError::TokenOutOfVocab {
                doc: d as u32,
                position: i as u32,
                id,
                vocab,
            });
        }
        if a > b || b > doc.text.len() {
            return Err(bad(format!(
                "token {i} has byte span {a}..{b} outside the text's {} bytes",
                doc.text.len()
            )));
        }
    }
    Ok(())
}
