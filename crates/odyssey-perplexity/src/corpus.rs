//! The scored corpus: per-token arrays (struct of arrays) and document boundaries.

use crate::error::{PerplexityError, Result};
use crate::metrics::Metrics;
use crate::windows::WindowScheme;
use odyssey_core::ScoredToken;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// One document of a scored corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentSpan {
    /// The document's identifier.
    pub id: String,
    /// Range of this document's scored tokens in the corpus arrays.
    pub tokens: Range<usize>,
    /// Tokens of the document (scored or not).
    pub n_tokens: u32,
    /// Words of the text (lm-eval's `len(re.split(r"\s+", text))`).
    pub words: u64,
    /// UTF-8 bytes of the text.
    pub bytes: u64,
    /// Alphabetic characters of the text.
    #[serde(default)]
    pub letters: u64,
    /// Alphabetic characters in scripts written without spaces between words.
    #[serde(default)]
    pub unspaced_letters: u64,
}

/// What [`ScoredCorpus::from_tokens`] needs to know about a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentInfo {
    /// Identifier.
    pub id: String,
    /// Tokens of the document (scored or not).
    pub n_tokens: u32,
    /// Words of the text.
    pub words: u64,
    /// UTF-8 bytes of the text.
    pub bytes: u64,
    /// Alphabetic characters of the text (0 when unknown).
    #[serde(default)]
    pub letters: u64,
    /// Alphabetic characters in scripts written without spaces between words
    /// ([`crate::words::is_unspaced_script`]).
    #[serde(default)]
    pub unspaced_letters: u64,
}

impl DocumentInfo {
    /// Counts for `text` tokenized into `n_tokens` tokens, with lm-eval's word and byte counts.
    pub fn from_text(id: impl Into<String>, text: &str, n_tokens: u32) -> Self {
        let (letters, unspaced_letters) = crate::words::count_letters(text);
        DocumentInfo {
            id: id.into(),
            n_tokens,
            words: crate::words::count_words(text),
            bytes: crate::words::count_bytes(text),
            letters,
            unspaced_letters,
        }
    }
}

/// Per-token scores of a corpus, kept as parallel arrays sorted by (document, position).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredCorpus {
    doc: Vec<u32>,
    position: Vec<u32>,
    token_id: Vec<u32>,
    nll: Vec<f32>,
    byte_start: Vec<u32>,
    byte_end: Vec<u32>,
    documents: Vec<DocumentSpan>,
    tokenizer_fingerprint: Option<u64>,
    scheme: Option<WindowScheme>,
    scorer: String,
}

impl ScoredCorpus {
    /// Build a corpus from scored tokens (sorted by document, then position, each at most once)
    /// and the documents they belong to. Rejects unsorted or duplicated tokens, unknown
    /// documents, positions beyond a document's length, and NaN or infinite NLLs.
    pub fn from_tokens(documents: Vec<DocumentInfo>, tokens: &[ScoredToken]) -> Result<Self> {
        let mut spans = Vec::with_capacity(documents.len());
        let mut c = ScoredCorpus::with_capacity(tokens.len());
        let mut i = 0usize;
        for (d, info) in documents.into_iter().enumerate() {
            let start = i;
            let mut last: Option<u32> = None;
            while i < tokens.len() && tokens[i].doc as usize == d {
                let t = &tokens[i];
                if last.is_some_and(|p| t.position <= p) || t.position >= info.n_tokens {
                    return Err(PerplexityError::StreamMismatch(format!(
                        "token {i}: position {} of document {d} is out of order or beyond its {} tokens",
                        t.position, info.n_tokens
                    )));
                }
                check_finite("scored token", t.doc, t.position, t.nll)?;
                last = Some(t.position);
                c.push(*t);
                i += 1;
            }
            spans.push(DocumentSpan {
                id: info.id,
                tokens: start..i,
                n_tokens: info.n_tokens,
                words: info.words,
                bytes: info.bytes,
                letters: info.letters,
                unspaced_letters: info.unspaced_letters,
            });
        }
        if i < tokens.len() {
            return Err(PerplexityError::StreamMismatch(format!(
                "token {i} belongs to document {} but only {} documents were given (or tokens are not sorted by document)",
                tokens[i].doc,
                spans.len()
            )));
        }
        c.documents = spans;
        Ok(c)
    }

    pub(crate) fn with_capacity(n: usize) -> Self {
        ScoredCorpus {
            doc: Vec::with_capacity(n),
            position: Vec::with_capacity(n),
            token_id: Vec::with_capacity(n),
            nll: Vec::with_capacity(n),
            byte_start: Vec::with_capacity(n),
            byte_end: Vec::with_capacity(n),
            documents: Vec::new(),
            tokenizer_fingerprint: None,
            scheme: None,
            scorer: String::new(),
        }
    }

    pub(crate) fn push(&mut self, t: ScoredToken) {
        self.doc.push(t.doc);
        self.position.push(t.position);
        self.token_id.push(t.token_id);
        self.nll.push(t.nll);
        self.byte_start.push(t.bytes.0);
        self.byte_end.push(t.bytes.1);
    }

    pub(crate) fn set_documents(&mut self, documents: Vec<DocumentSpan>) {
        self.documents = documents;
    }

    pub(crate) fn nll_mut(&mut self) -> &mut [f32] {
        &mut self.nll
    }

    /// Record which tokenizer produced the ids (see `TokenizerHandle::fingerprint`).
    pub fn with_tokenizer_fingerprint(mut self, fingerprint: u64) -> Self {
        self.tokenizer_fingerprint = Some(fingerprint);
        self
    }

    /// Record the window scheme and scorer description.
    pub fn with_provenance(mut self, scheme: WindowScheme, scorer: impl Into<String>) -> Self {
        self.scheme = Some(scheme);
        self.scorer = scorer.into();
        self
    }

    /// Number of scored tokens.
    pub fn len(&self) -> usize {
        self.nll.len()
    }

    /// Whether no token was scored.
    pub fn is_empty(&self) -> bool {
        self.nll.is_empty()
    }

    /// Document index of each scored token.
    pub fn docs(&self) -> &[u32] {
        &self.doc
    }

    /// Position within its document of each scored token.
    pub fn positions(&self) -> &[u32] {
        &self.position
    }

    /// Token id of each scored token.
    pub fn token_ids(&self) -> &[u32] {
        &self.token_id
    }

    /// Negative log-likelihood (nats) of each scored token.
    pub fn nlls(&self) -> &[f32] {
        &self.nll
    }

    /// The NLLs as an `ndarray` view.
    pub fn nll_view(&self) -> ndarray::ArrayView1<'_, f32> {
        ndarray::ArrayView1::from(&self.nll[..])
    }

    /// Per-position ΔNLL `other − self` (for two scorings of the same stream), as `f64`.
    pub fn delta(&self, other: &ScoredCorpus) -> Result<ndarray::Array1<f64>> {
        if self.token_id != other.token_id || self.doc != other.doc {
            return Err(PerplexityError::StreamMismatch(format!(
                "cannot subtract scorings of different token streams ({} vs {} tokens)",
                self.len(),
                other.len()
            )));
        }
        let a = other.nll_view().mapv(f64::from);
        Ok(a - self.nll_view().mapv(f64::from))
    }

    /// Byte start of each scored token in its document's text.
    pub fn byte_starts(&self) -> &[u32] {
        &self.byte_start
    }

    /// Byte end of each scored token in its document's text.
    pub fn byte_ends(&self) -> &[u32] {
        &self.byte_end
    }

    /// The documents, in corpus order.
    pub fn documents(&self) -> &[DocumentSpan] {
        &self.documents
    }

    /// The tokenizer fingerprint recorded at scoring time, if any.
    pub fn tokenizer_fingerprint(&self) -> Option<u64> {
        self.tokenizer_fingerprint
    }

    /// The window scheme used for scoring, if recorded.
    pub fn scheme(&self) -> Option<WindowScheme> {
        self.scheme
    }

    /// The scorer's description, if recorded.
    pub fn scorer(&self) -> &str {
        &self.scorer
    }

    /// The `i`-th scored token.
    pub fn token(&self, i: usize) -> Option<ScoredToken> {
        (i < self.len()).then(|| ScoredToken {
            doc: self.doc[i],
            position: self.position[i],
            token_id: self.token_id[i],
            nll: self.nll[i],
            bytes: (self.byte_start[i], self.byte_end[i]),
        })
    }

    /// All scored tokens in order.
    pub fn iter(&self) -> impl Iterator<Item = ScoredToken> + '_ {
        (0..self.len()).filter_map(|i| self.token(i))
    }

    /// Pooled metrics over the whole corpus (words and bytes of every document count, as in
    /// lm-eval, even where a document has no scored token).
    pub fn metrics(&self) -> Metrics {
        self.metrics_excluding(None).0
    }

    /// Metrics of one document.
    pub fn document_metrics(&self, doc: usize) -> Option<Metrics> {
        let d = self.documents.get(doc)?;
        let sum: f64 = self.nll[d.tokens.clone()]
            .iter()
            .map(|&x| f64::from(x))
            .sum();
        Some(
            Metrics::from_sums(sum, d.tokens.len() as u64, d.words, d.bytes)
                .with_letters(d.letters, d.unspaced_letters),
        )
    }

    /// Metrics of every document, in corpus order.
    pub fn per_document_metrics(&self) -> Vec<Metrics> {
        (0..self.documents.len())
            .into_par_iter()
            .filter_map(|d| self.document_metrics(d))
            .collect()
    }

    /// Pooled metrics over the tokens whose id is not marked in `excluded` (indexed by token id;
    /// ids beyond its length count as kept). Bytes covered by excluded tokens are taken out of
    /// the byte count; the word count stays that of the texts. Also returns the number of
    /// excluded positions. Sums run per document, then over documents in order, so the result
    /// does not depend on the thread count, and excluding nothing gives [`Self::metrics`].
    pub fn metrics_excluding(&self, excluded: Option<&[bool]>) -> (Metrics, u64) {
        let per_doc: Vec<(f64, u64, u64)> = self
            .documents
            .par_iter()
            .map(|d| {
                let r = d.tokens.clone();
                match excluded {
                    None => (
                        self.nll[r.clone()].iter().map(|&x| f64::from(x)).sum(),
                        r.len() as u64,
                        0,
                    ),
                    Some(mask) => {
                        let (mut s, mut n, mut b) = (0f64, 0u64, 0u64);
                        for i in r {
                            let id = self.token_id[i] as usize;
                            if mask.get(id).copied().unwrap_or(false) {
                                b += u64::from(self.byte_end[i].saturating_sub(self.byte_start[i]));
                            } else {
                                s += f64::from(self.nll[i]);
                                n += 1;
                            }
                        }
                        (s, n, b)
                    }
                }
            })
            .collect();
        let (mut sum, mut tokens, mut ex_bytes) = (0f64, 0u64, 0u64);
        for (s, n, b) in per_doc {
            sum += s;
            tokens += n;
            ex_bytes += b;
        }
        let words = self.documents.iter().map(|d| d.words).sum();
        let bytes: u64 = self.documents.iter().map(|d| d.bytes).sum();
        let letters = self.documents.iter().map(|d| d.letters).sum();
        let unspaced = self.documents.iter().map(|d| d.unspaced_letters).sum();
        let excluded_positions = self.len() as u64 - tokens;
        (
            Metrics::from_sums(sum, tokens, words, bytes.saturating_sub(ex_bytes))
                .with_letters(letters, unspaced),
            excluded_positions,
        )
    }
}

pub(crate) fn check_finite(what: &str, doc: u32, position: u32, value: f32) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(PerplexityError::NonFiniteScore {
            what: what.to_string(),
            doc,
            position,
            value,
        })
    }
}
