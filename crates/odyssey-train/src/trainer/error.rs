//! The trainer's error type.

use std::path::PathBuf;

/// Everything that can stop [`Trainer::fit`](super::Trainer::fit) or a checkpoint operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainerError {
    /// A configuration field holds a value the trainer cannot use.
    #[error("invalid trainer config: `{field}` {message}")]
    InvalidConfig {
        /// The field of [`TrainerConfig`](super::TrainerConfig).
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The token blocks cannot be used with this model or configuration.
    #[error("invalid {stream} data: {message}")]
    InvalidData {
        /// `train` or `valid`.
        stream: &'static str,
        /// What is wrong (block and position where it applies).
        message: String,
    },
    /// The training loss of a step was NaN or infinite; the model was not updated with it.
    #[error(
        "non-finite training loss {loss} at step {step}; last good checkpoint: {}",
        last_good_checkpoint.as_ref().map_or("none".to_string(), |p| p.display().to_string())
    )]
    NonFiniteLoss {
        /// The optimizer step (1-based) that produced the loss.
        step: usize,
        /// The loss value.
        loss: f64,
        /// The newest checkpoint written before the failure, left untouched.
        last_good_checkpoint: Option<PathBuf>,
    },
    /// The global gradient norm was NaN or infinite; the model was not updated with it.
    #[error(
        "non-finite gradient norm {norm} at step {step}; last good checkpoint: {}",
        last_good_checkpoint.as_ref().map_or("none".to_string(), |p| p.display().to_string())
    )]
    NonFiniteGradient {
        /// The optimizer step (1-based).
        step: usize,
        /// The norm.
        norm: f64,
        /// The newest checkpoint written before the failure, left untouched.
        last_good_checkpoint: Option<PathBuf>,
    },
    /// A checkpoint is missing a part, holds tensors that do not fit, or was written for other
    /// data or another configuration.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint folder or file.
        path: PathBuf,
        /// What does not fit.
        message: String,
    },
    /// The model cannot be trained as it is (e.g. its variables are not fp32).
    #[error("unsupported model: {message}")]
    UnsupportedModel {
        /// What does not fit.
        message: String,
    },
    /// A libtorch operation failed.
    #[error("libtorch error while {context}")]
    Torch {
        /// What was being done.
        context: String,
        /// libtorch's error.
        #[source]
        source: tch::TchError,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file could not be read or written.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A distributed run (torchrun) failed; the message says which rank, after which step,
    /// and where the run resumes.
    #[error("distributed run: {message}")]
    Distributed {
        /// What happened.
        message: String,
    },
    /// The model reported an error.
    #[error("model error")]
    Model(#[from] crate::error::ModelError),
    /// An atomic write through `odyssey_core::fs` failed.
    #[error("writing {what}")]
    Write {
        /// What was being written.
        what: &'static str,
        /// The core error (holds the path).
        #[source]
        source: odyssey_core::Error,
    },
}

impl TrainerError {
    pub(crate) fn torch(context: impl Into<String>) -> impl FnOnce(tch::TchError) -> Self {
        let context = context.into();
        move |source| TrainerError::Torch { context, source }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| TrainerError::Io { path, source }
    }

    pub(crate) fn config(field: &'static str, message: impl Into<String>) -> Self {
        TrainerError::InvalidConfig {
            field,
            message: message.into(),
        }
    }
}

impl From<TrainerError> for odyssey_core::Error {
    fn from(e: TrainerError) -> Self {
        match e {
            TrainerError::InvalidConfig { .. } | TrainerError::InvalidData { .. } => {
                odyssey_core::Error::InvalidInput(e.to_string())
            }
            TrainerError::Io { path, source } => odyssey_core::Error::io(path, source),
            TrainerError::Write { source, .. } => source,
            other => odyssey_core::Error::backend("training", other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn torch_error_keeps_source_and_converts_to_core() {
        let e = TrainerError::torch("loading optimizer state")(tch::TchError::Kind("bad".into()));
        assert!(e.to_string().contains("loading optimizer state"));
        assert!(e.source().is_some());
        let core: odyssey_core::Error = e.into();
        assert_eq!(core.to_string(), "training");
        let inner = core.source().unwrap();
        assert!(inner.to_string().contains("loading optimizer state"));
    }

    #[test]
    fn invalid_config_becomes_invalid_input() {
        let core: odyssey_core::Error = TrainerError::config("lr", "must be > 0, got -1").into();
        assert!(matches!(core, odyssey_core::Error::InvalidInput(ref m) if m.contains("`lr`")));
    }
}
