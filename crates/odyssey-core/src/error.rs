//! The error type shared across Odyssey's traits.

use std::path::PathBuf;

/// Result alias used by the core traits.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error crossing a core trait boundary. Crate-specific errors convert into
/// [`Error::Backend`] and stay reachable through [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is not what was expected at a given line (1-based; 0 = whole file).
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number, or 0 when the problem concerns the whole file.
        line: usize,
        /// What was expected and what was found.
        message: String,
    },
    /// An argument or data value that the operation cannot accept.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An error raised by an implementation (tokenizer, model, encoder), with its cause.
    #[error("{context}")]
    Backend {
        /// What was being done.
        context: String,
        /// The implementation's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl Error {
    /// Wrap any error with a description of what was being done.
    pub fn backend(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error::Backend {
            context: context.into(),
            source: source.into(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn backend_keeps_its_source() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = Error::backend("loading model", inner);
        assert_eq!(e.to_string(), "loading model");
        assert_eq!(e.source().map(|s| s.to_string()), Some("gone".to_string()));
    }

    #[test]
    fn parse_error_names_file_and_line() {
        let e = Error::Parse {
            path: "a/b.jsonl".into(),
            line: 7,
            message: "expected a JSON object".into(),
        };
        assert_eq!(e.to_string(), "a/b.jsonl:7: expected a JSON object");
    }
}
