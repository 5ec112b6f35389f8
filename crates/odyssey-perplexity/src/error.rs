//! Errors of the perplexity crate.

/// Result alias of this crate.
pub type Result<T, E = PerplexityError> = std::result::Result<T, E>;

/// What can go wrong while scoring, pooling or decomposing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PerplexityError {
    /// There is nothing to score or to compare.
    #[error("empty corpus: {0}")]
    EmptyCorpus(String),
    /// A score is NaN or infinite.
    #[error("non-finite score {value} for document {doc}, position {position} ({what})")]
    NonFiniteScore {
        /// Which stream the value belongs to (for example "base" or "scorer output").
        what: String,
        /// Document index.
        doc: u32,
        /// Token position within the document.
        position: u32,
        /// The offending value.
        value: f32,
    },
    /// A scorer returned a log-probability above zero (a probability above one).
    #[error("scorer returned log-probability {value} > 0 for document {doc}, position {position}")]
    PositiveLogProb {
        /// Document index.
        doc: u32,
        /// Token position within the document.
        position: u32,
        /// The offending value.
        value: f32,
    },
    /// Two token streams that should be identical are not.
    #[error("token streams differ: {0}")]
    StreamMismatch(String),
    /// The two corpora (or a corpus and a tokenizer) were tokenized by different tokenizers.
    #[error(
        "tokenizer mismatch: {left} has fingerprint {left_fp:#018x}, {right} has {right_fp:#018x}"
    )]
    TokenizerMismatch {
        /// Name of the first side.
        left: String,
        /// Its tokenizer fingerprint.
        left_fp: u64,
        /// Name of the second side.
        right: String,
        /// Its tokenizer fingerprint.
        right_fp: u64,
    },
    /// A scorer answered with the wrong number of windows or values.
    #[error("scorer output shape: {0}")]
    ScorerShape(String),
    /// A window would be longer than the scorer accepts.
    #[error("window of {len} tokens exceeds the scorer's maximum of {max}")]
    WindowTooLong {
        /// Tokens in the window.
        len: usize,
        /// The scorer's `max_length()`.
        max: usize,
    },
    /// A token id is outside the vocabulary.
    #[error("token id {id} in document {doc} at position {position} is outside the vocabulary of {vocab}")]
    TokenOutOfVocab {
        /// Document index.
        doc: u32,
        /// Token position within the document.
        position: u32,
        /// The id.
        id: u32,
        /// Vocabulary size.
        vocab: usize,
    },
    /// The encoding of a document is inconsistent (ids and offsets differ in length, offsets
    /// out of the text).
    #[error("document {doc} ({id}): {message}")]
    BadEncoding {
        /// Document index.
        doc: usize,
        /// Document identifier.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// Rolling windows need a prefix token (lm-eval uses the end-of-text token) and none was
    /// given nor offered by the tokenizer.
    #[error("rolling windows need a prefix token: set ScoreOptions::prefix_token or use a tokenizer with an end-of-text token")]
    MissingPrefixToken,
    /// An option is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The scorer or tokenizer failed.
    #[error("{context}")]
    Backend {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: odyssey_core::Error,
    },
    /// Serialising a report failed.
    #[error("serialising the report: {0}")]
    Json(#[source] serde_json::Error),
    /// Writing a report failed.
    #[error("writing the report")]
    Write(#[source] odyssey_core::Error),
}

impl From<PerplexityError> for odyssey_core::Error {
    fn from(e: PerplexityError) -> Self {
        match e {
            PerplexityError::InvalidConfig(m) => odyssey_core::Error::InvalidInput(m),
            PerplexityError::Write(inner) => inner,
            other => odyssey_core::Error::backend("perplexity", other),
        }
    }
}
