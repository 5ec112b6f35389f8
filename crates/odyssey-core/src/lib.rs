//! # odyssey-core
//!
//! The traits and types where Odyssey's crates meet. Nothing here links libtorch.
//!
//! | trait | implemented by | consumed by |
//! |---|---|---|
//! | [`DocumentSource`] | `odyssey-corpus` (M2D2 text, Dolma JSONL, plain text) | corpus statistics, packing, sampling, the study |
//! | [`TokenizerHandle`] | `odyssey-corpus` (HF `tokenizers`) | packing, scoring, decomposition |
//! | [`TokenScorer`] | `odyssey-train` (causal LMs in `tch`) | `odyssey-perplexity` |
//! | [`TextEmbedder`] | `odyssey-similarity` (sentence encoders), `odyssey-train` (mean hidden state) | `odyssey-similarity` metrics |
//!
//! Every JSON file Odyssey writes goes through [`json`], which round-trips non-finite numbers.
//!
//! Errors from every crate convert into [`Error`], which keeps the underlying cause as its
//! `source()`.

pub mod document;
pub mod embedder;
pub mod error;
pub mod fs;
pub mod json;
pub mod scorer;
pub mod source;
pub mod tokenizer;
pub mod words;

pub use document::{Document, Origin, Split};
pub use embedder::TextEmbedder;
pub use error::{Error, Result};
pub use scorer::{ScoredToken, TokenScorer};
pub use source::{DocumentIter, DocumentSource};
pub use tokenizer::{Encoding, TokenizerHandle};
