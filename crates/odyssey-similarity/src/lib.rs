//! # odyssey-similarity
//!
//! How close is a domain to the pretraining corpus? Sentence embeddings and similarity metrics.
//!
//! - [`encoder`]: a BERT-family sentence-transformers encoder in `tch` (feature `encoder`,
//!   on by default), e.g. all-MiniLM-L6-v2; implements [`odyssey_core::TextEmbedder`].
//! - [`metrics`]: corpus-to-corpus similarity on embedding samples (centroid cosine, mean
//!   pairwise cosine, MMD², Fréchet distance, kNN precision/recall/coverage) with bootstrap
//!   intervals, gathered in a [`SimilarityReport`].
//! - [`stats`]: Pearson, Spearman and Kendall correlations with bootstrap intervals and
//!   permutation p-values.
//!
//! Metric and statistics code is `ndarray` + `rayon` and builds without libtorch
//! (`--no-default-features`).

pub mod encoder;
pub mod error;
pub mod metrics;
pub mod stats;

pub use encoder::{locate_model_dir, ModelFolder};
#[cfg(feature = "encoder")]
pub use encoder::{EncodeOptions, SentenceEncoder};
pub use error::{Result, SimilarityError};
pub use metrics::{Interval, SimilarityConfig, SimilarityReport};
pub use stats::{correlation_test, CorrelationMethod, CorrelationTest, InferenceConfig};
