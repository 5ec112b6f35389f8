//! The study's error type.

use std::path::PathBuf;

/// Result alias of the study.
pub type Result<T, E = StudyError> = std::result::Result<T, E>;

/// What can stop a study run. Every variant names the file or stage involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StudyError {
    /// A configuration file or value is not acceptable.
    #[error("{}: {message}", path.display())]
    Config {
        /// The configuration file (or `<arguments>` for command-line values).
        path: PathBuf,
        /// What was expected and what was found.
        message: String,
    },
    /// A study input (model folder, corpus, domain) is missing or unusable.
    #[error("invalid study input: {0}")]
    Invalid(String),
    /// A stage of the study failed in one of Odyssey's crates.
    #[error("{context}")]
    Stage {
        /// What the study was doing (domain and stage).
        context: String,
        /// The underlying error.
        #[source]
        source: odyssey_core::Error,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// A result file could not be parsed or serialised.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file involved.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The run would need more memory than the machine has; nothing was started.
    #[error("{what} needs about {needed} but {available:.2} GB are available: {advice}")]
    Memory {
        /// What needs it (training or scoring, with the settings).
        what: String,
        /// The estimate with its parts.
        needed: String,
        /// Available memory in GB.
        available: f64,
        /// The settings to change.
        advice: String,
    },
    /// Drawing a plot failed.
    #[error("plot {name}: {message}")]
    Plot {
        /// The plot's file name.
        name: String,
        /// The drawing backend's message.
        message: String,
    },
}

impl StudyError {
    /// Wrap an error from another Odyssey crate with the stage it happened in.
    pub fn stage(context: impl Into<String>, source: impl Into<odyssey_core::Error>) -> Self {
        StudyError::Stage {
            context: context.into(),
            source: source.into(),
        }
    }
}

impl From<StudyError> for odyssey_core::Error {
    fn from(e: StudyError) -> Self {
        match e {
            StudyError::Io { path, source } => odyssey_core::Error::Io { path, source },
            StudyError::Invalid(m) => odyssey_core::Error::InvalidInput(m),
            other => odyssey_core::Error::backend("study", other),
        }
    }
}
