//! The crate's error type.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = SimilarityError> = std::result::Result<T, E>;

/// Everything that can go wrong while loading an encoder, embedding texts or computing metrics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimilarityError {
    /// A sample (of embeddings, documents or paired observations) has no rows.
    #[error("{what} is empty: at least {needed} item(s) are needed")]
    EmptySample {
        /// Which sample.
        what: String,
        /// How many items the operation needs.
        needed: usize,
    },
    /// A sample has too few rows for the statistic.
    #[error("{what} has {found} item(s); {needed} are needed")]
    TooFewSamples {
        /// Which sample and for what.
        what: String,
        /// How many items the operation needs.
        needed: usize,
        /// How many it got.
        found: usize,
    },
    /// Two inputs that must agree in size do not.
    #[error("dimension mismatch in {what}: expected {expected}, found {found}")]
    DimensionMismatch {
        /// What was being compared.
        what: String,
        /// The size the first input fixed.
        expected: usize,
        /// The size of the other input.
        found: usize,
    },
    /// An input holds NaN or infinity.
    #[error("{what} holds a non-finite value at row {row}, column {col}")]
    NonFinite {
        /// Which input.
        what: String,
        /// Row of the first non-finite value.
        row: usize,
        /// Column of the first non-finite value.
        col: usize,
    },
    /// An input is constant where the statistic needs variation (e.g. a correlation).
    #[error("{what} is constant: the statistic is undefined")]
    ConstantInput {
        /// Which input.
        what: String,
    },
    /// The statistic has no value for this input (e.g. a zero centroid has no direction).
    #[error("undefined: {0}")]
    Undefined(String),
    /// A configuration value is outside its valid range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A file the model folder must contain is absent.
    #[error("{}: missing {what}", path.display())]
    MissingFile {
        /// The expected path.
        path: PathBuf,
        /// What the file holds.
        what: String,
    },
    /// A `modules.json` entry names a module this encoder does not implement.
    #[error("{}: unsupported module {module_type:?} (supported: Transformer, Pooling, Normalize)", path.display())]
    UnsupportedModule {
        /// The `modules.json` file.
        path: PathBuf,
        /// The module's `type`.
        module_type: String,
    },
    /// The model folder describes something this encoder does not implement.
    #[error("{}: unsupported model: {message}", path.display())]
    UnsupportedModel {
        /// The file that says so.
        path: PathBuf,
        /// What is unsupported.
        message: String,
    },
    /// A file's content is not what was expected (line 0 = whole file).
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file being read.
        path: PathBuf,
        /// 1-based line, or 0 when the problem concerns the whole file.
        line: usize,
        /// What was expected and what was found.
        message: String,
    },
    /// A weight the architecture needs is absent from the checkpoint.
    #[error("{}: tensor {name:?} not found", path.display())]
    MissingTensor {
        /// The checkpoint.
        path: PathBuf,
        /// The tensor name (without prefix).
        name: String,
    },
    /// A weight has the wrong shape for the configuration.
    #[error("{}: tensor {name:?} has shape {found:?}, expected {expected:?}", path.display())]
    TensorShape {
        /// The checkpoint.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// Shape the configuration implies.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// The sentence-embedding model folder could not be located.
    #[error(
        "no sentence-embedding model folder: pass a path or set ODYSSEY_MINILM_DIR \
         (run scripts/odyssey.sh setup to install all-MiniLM-L6-v2 and write .cargo/config.toml){detail}"
    )]
    ModelNotFound {
        /// Extra detail, e.g. a configured path that does not exist.
        detail: String,
    },
    /// Reading a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The tokenizer failed to load or to encode.
    #[error("tokenizer: {context}")]
    Tokenizer {
        /// What was being done.
        context: String,
        /// The tokenizer's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// libtorch reported an error.
    #[cfg(feature = "encoder")]
    #[error("libtorch: {context}")]
    Torch {
        /// What was being done.
        context: String,
        /// The error from tch.
        #[source]
        source: tch::TchError,
    },
    /// An error from a document source or another Odyssey component.
    #[error("{context}")]
    Core {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: odyssey_core::Error,
    },
}

impl SimilarityError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SimilarityError::Io {
            path: path.into(),
            source,
        }
    }

    /// A torch error with context.
    #[cfg(feature = "encoder")]
    pub(crate) fn torch(context: impl Into<String>, source: tch::TchError) -> Self {
        SimilarityError::Torch {
            context: context.into(),
            source,
        }
    }
}

impl From<SimilarityError> for odyssey_core::Error {
    fn from(e: SimilarityError) -> Self {
        match e {
            SimilarityError::Io { path, source } => odyssey_core::Error::Io { path, source },
            SimilarityError::Parse {
                path,
                line,
                message,
            } => odyssey_core::Error::Parse {
                path,
                line,
                message,
            },
            SimilarityError::Core { source, .. } => source,
            SimilarityError::EmptySample { .. }
            | SimilarityError::TooFewSamples { .. }
            | SimilarityError::DimensionMismatch { .. }
            | SimilarityError::NonFinite { .. }
            | SimilarityError::ConstantInput { .. }
            | SimilarityError::Undefined(_)
            | SimilarityError::InvalidConfig(_) => odyssey_core::Error::InvalidInput(e.to_string()),
            other => odyssey_core::Error::backend("odyssey-similarity", other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn converts_into_core_error_keeping_the_cause() {
        let e: odyssey_core::Error = SimilarityError::MissingFile {
            path: "m/config.json".into(),
            what: "model configuration".into(),
        }
        .into();
        assert!(matches!(e, odyssey_core::Error::Backend { .. }));
        let src = e.source().map(|s| s.to_string()).unwrap_or_default();
        assert!(src.contains("m/config.json"), "{src}");

        let e: odyssey_core::Error = SimilarityError::DimensionMismatch {
            what: "embedding width".into(),
            expected: 384,
            found: 768,
        }
        .into();
        assert!(matches!(e, odyssey_core::Error::InvalidInput(_)));
        assert!(e.to_string().contains("384"));
    }
}
