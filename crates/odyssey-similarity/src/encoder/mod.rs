//! Sentence embeddings from BERT-family sentence-transformers folders.
//!
//! [`folder`] parses a model folder without libtorch; with the `encoder` feature,
//! [`SentenceEncoder`] runs the model in `tch` and implements [`odyssey_core::TextEmbedder`].

pub mod folder;

#[cfg(feature = "encoder")]
mod bert;
#[cfg(feature = "encoder")]
mod pooling;
#[cfg(feature = "encoder")]
mod sentence;
#[cfg(feature = "encoder")]
mod weights;

pub use folder::{locate_model_dir, ModelFolder, PoolingMode, MINILM_DIR_ENV};
#[cfg(feature = "encoder")]
pub use sentence::{EncodeOptions, SentenceEncoder};
