//! # Odyssey
//!
//! Will continued pretraining of a base language model on a domain corpus help, and if not,
//! why? This facade re-exports Odyssey's crates:
//!
//! - [`core`]: the shared traits ([`core::DocumentSource`], [`core::TokenizerHandle`],
//!   [`core::TokenScorer`], [`core::TextEmbedder`]) and the error type;
//! - [`corpus`]: loading, tokenizing, packing and describing corpora;
//! - [`gguf`]: GGUF model files (llama.cpp's format): metadata, dequantization, tokenizer;
//! - [`train`]: causal LMs in `tch` and the continued-pretraining trainer;
//! - [`perplexity`]: token-level perplexity and its decomposition;
//! - [`similarity`]: sentence embeddings and corpus similarity;
//! - [`study`]: the study end to end, from corpora to a verdict per domain and a report.
//!
//! See `docs/architecture.md` for how data flows through the study.

pub use odyssey_core as core;
pub use odyssey_corpus as corpus;
pub use odyssey_gguf as gguf;
pub use odyssey_perplexity as perplexity;
pub use odyssey_similarity as similarity;
pub use odyssey_study as study;
pub use odyssey_train as train;
