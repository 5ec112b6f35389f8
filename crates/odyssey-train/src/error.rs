//! Errors of the model half of the crate: configs, checkpoints, inputs.

use std::path::PathBuf;

/// Something went wrong building, loading, saving or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// Reading or writing a file or folder failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (config.json, a shard index) does not parse.
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        /// The file being read.
        path: PathBuf,
        /// The parser's error (it carries line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A config field has a value the model cannot use.
    #[error("config field `{field}`: {message}")]
    Config {
        /// The field of config.json.
        field: String,
        /// What was expected and what was found.
        message: String,
    },
    /// config.json names an architecture this crate does not implement.
    #[error("unsupported architecture `{name}` (supported model_type: gpt2, llama, qwen2, olmo2)")]
    UnsupportedArchitecture {
        /// The `model_type` or `architectures[0]` found.
        name: String,
    },
    /// A safetensors file does not parse.
    #[error("{}: invalid safetensors file: {source}", path.display())]
    Safetensors {
        /// The file being read.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// The folder holds no `model.safetensors` nor `model.safetensors.index.json`.
    #[error("{}: no model.safetensors or model.safetensors.index.json in this folder", dir.display())]
    NoWeights {
        /// The checkpoint folder.
        dir: PathBuf,
    },
    /// A tensor the config requires is not in the checkpoint.
    #[error("{}: tensor `{name}` is missing from the checkpoint", path.display())]
    MissingTensor {
        /// The checkpoint folder.
        path: PathBuf,
        /// The HF state-dict name of the tensor.
        name: String,
    },
    /// The checkpoint holds tensors the config has no place for.
    #[error("{}: checkpoint holds tensors the config does not use: {}", path.display(), names.join(", "))]
    ExtraTensors {
        /// The checkpoint folder.
        path: PathBuf,
        /// Their names.
        names: Vec<String>,
    },
    /// A tensor's shape differs from the one the config implies.
    #[error("{}: tensor `{name}` has shape {found:?} in the checkpoint, the config expects {expected:?}", path.display())]
    ShapeMismatch {
        /// The checkpoint folder.
        path: PathBuf,
        /// The HF state-dict name of the tensor.
        name: String,
        /// Shape the config implies.
        expected: Vec<i64>,
        /// Shape in the file.
        found: Vec<i64>,
    },
    /// A tensor is stored in a dtype that is not a float type.
    #[error("{}: tensor `{name}` has dtype {dtype}; expected F32, F16 or BF16", path.display())]
    UnsupportedDtype {
        /// The file holding it.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The dtype found.
        dtype: String,
    },
    /// The tokenizer produces ids the model's embedding has no row for.
    #[error(
        "the tokenizer has {tokenizer} ids but the model's embedding has only {embedding} rows"
    )]
    TokenizerTooLarge {
        /// Tokenizer vocabulary size.
        tokenizer: usize,
        /// Embedding rows (config `vocab_size`).
        embedding: usize,
    },
    /// A sequence is longer than the model's context.
    #[error("sequence {index} has {len} tokens, longer than the model's context of {max} (`n_positions`/`max_position_embeddings`)")]
    SequenceTooLong {
        /// Index of the sequence in its batch.
        index: usize,
        /// Its length.
        len: usize,
        /// The model's context length.
        max: usize,
    },
    /// A token id is not below the vocabulary size.
    #[error("sequence {index} holds token id {id}, outside the model's vocabulary of {vocab}")]
    TokenOutOfRange {
        /// Index of the sequence in its batch.
        index: usize,
        /// The id.
        id: u32,
        /// The vocabulary size.
        vocab: usize,
    },
    /// A sequence is too short for what was asked.
    #[error("sequence {index} has {len} tokens; at least {min} are needed")]
    SequenceTooShort {
        /// Index of the sequence in its batch.
        index: usize,
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A GGUF file could not be read, or does not describe a supported model (the error names
    /// the file and the field or tensor).
    #[error(transparent)]
    Gguf(Box<odyssey_gguf::GgufError>),
}

impl ModelError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }

    /// A config field error.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<ModelError> for odyssey_core::Error {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Io { path, source } => odyssey_core::Error::io(path, source),
            other => odyssey_core::Error::backend(other.to_string(), other),
        }
    }
}

/// Result alias of the model half of the crate.
pub type ModelResult<T> = std::result::Result<T, ModelError>;
