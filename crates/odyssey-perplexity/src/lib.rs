//! # odyssey-perplexity
//!
//! Token-level perplexity of language models, seen only through
//! [`odyssey_core::TokenScorer`] (so this crate never links libtorch), and the decomposition
//! of a perplexity change between a base and an adapted model, token by token.
//!
//! - **Scoring** ([`score_documents`], [`score_tokenized`]): documents → per-token negative
//!   log-likelihoods, with lm-evaluation-harness's rolling disjoint windows
//!   ([`WindowScheme::Rolling`]) or HF's strided overlapping windows
//!   ([`WindowScheme::Strided`]), batched. The result, a [`ScoredCorpus`], keeps per-token
//!   arrays (document, position, token id, NLL, byte span) and document boundaries.
//! - **Pooled metrics** ([`Metrics`]): token, word and byte perplexity and bits per byte, with
//!   lm-eval's formulas, per corpus and per document.
//! - **Decomposition** ([`decompose()`]): ΔNLL per position, per token id, per [`Category`], per
//!   document; the ranking of tokens that explain the change; "the top k tokens explain X %";
//!   perplexity with a token set excluded; a histogram; JSON and Markdown output.
//!
//! ```
//! use odyssey_perplexity::{WindowScheme, ScoreOptions};
//! // lm-eval's rolling windows for a model with a 1024-token context, 8 windows per call
//! let opts = ScoreOptions::new(WindowScheme::rolling(1024)).batch_size(8);
//! assert_eq!(opts.scheme.max_window_len(), 1025);
//! ```

pub mod aggregate;
pub mod category;
pub mod corpus;
pub mod decompose;
pub mod error;
pub mod forecast;
pub mod metrics;
mod report;
pub mod scoring;
pub mod windows;
pub mod words;

pub use aggregate::{Direction, TokenAggregates};
pub use category::{Categorizer, Category};
pub use corpus::{DocumentInfo, DocumentSpan, ScoredCorpus};
pub use decompose::{
    decompose, metrics_excluding, CategoryStat, DecomposeConfig, Decomposition, DocumentDelta,
    Exclusion, Histogram, HistogramConfig, Summary, TokenSet, TokenStat, TopKShare,
};
pub use error::{PerplexityError, Result};
pub use metrics::Metrics;
pub use scoring::{score_documents, score_tokenized, ScoreOptions, TokenizedDocument};
pub use windows::{WindowPlan, WindowScheme};
pub use words::{count_bytes, count_words};
