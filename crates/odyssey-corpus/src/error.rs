//! The crate's error type, with file and line wherever the input is at fault.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = CorpusError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, tokenizing, packing or caching a corpus.
///
/// Errors about the content of a file name the file and the 1-based line (0 when the problem
/// concerns the whole file). They convert into [`odyssey_core::Error`]: content errors become
/// [`odyssey_core::Error::Parse`], I/O errors [`odyssey_core::Error::Io`], the rest
/// [`odyssey_core::Error::Backend`] with this error as the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CorpusError {
    /// Reading, decompressing or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not valid UTF-8.
    #[error("{}:{line}: invalid UTF-8: {source}", path.display())]
    InvalidUtf8 {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Where the bad byte sequence is.
        #[source]
        source: std::str::Utf8Error,
    },
    /// A JSONL line is not valid JSON.
    #[error("{}:{line}: malformed JSON line (expected one JSON object per line): {source}", path.display())]
    MalformedJson {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The JSON parser's error (with column).
        #[source]
        source: serde_json::Error,
    },
    /// A JSONL record has no string field `text`.
    #[error("{}:{line}: expected a string field \"text\", found {found}", path.display())]
    MissingText {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was there instead (`no such field`, `a number`, `not an object`, ...).
        found: String,
    },
    /// A split file holds no document at all.
    #[error("{}: empty file (expected at least one document)", path.display())]
    EmptyFile {
        /// The empty file.
        path: PathBuf,
    },
    /// A folder has none of the split files a domain needs.
    #[error("{}: not a domain: {expected}", path.display())]
    EmptyDomain {
        /// The folder.
        path: PathBuf,
        /// What was looked for.
        expected: String,
    },
    /// A split was asked for that the source does not have.
    #[error("{}: no {split} split (looked for {looked_for}; present: {present})", path.display())]
    MissingSplit {
        /// The domain folder or file.
        path: PathBuf,
        /// The split asked for.
        split: odyssey_core::Split,
        /// The file names tried.
        looked_for: String,
        /// The splits that exist.
        present: String,
    },
    /// Two files could both be the same split (for example `train.jsonl` and `train.jsonl.gz`).
    #[error("{}: ambiguous {split} split: {candidates}", path.display())]
    AmbiguousSplit {
        /// The domain folder.
        path: PathBuf,
        /// The split.
        split: odyssey_core::Split,
        /// The competing files.
        candidates: String,
    },
    /// A domain name that the collection does not hold.
    #[error("{}: no domain {name:?} (domains: {available})", path.display())]
    UnknownDomain {
        /// The collection folder.
        path: PathBuf,
        /// The name asked for.
        name: String,
        /// The names that exist.
        available: String,
    },
    /// A `tokenizer.json` that HF `tokenizers` cannot load.
    #[error("{}: not a valid tokenizer.json: {source}", path.display())]
    TokenizerParse {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// The tokenizers library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The tokenizer failed on an input or during training.
    #[error("tokenizer: {context}")]
    Tokenizer {
        /// What was being done.
        context: String,
        /// The tokenizers library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A token cache was made from another tokenizer or other source files.
    #[error("{}: token cache does not match: {what}", path.display())]
    CacheMismatch {
        /// The cache file.
        path: PathBuf,
        /// Which field differs, with both values.
        what: String,
    },
    /// A token cache file is truncated or not a token cache.
    #[error("{}: not a valid token cache: {what}", path.display())]
    CacheCorrupt {
        /// The cache file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// An argument the operation cannot accept.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A GGUF file's tokenizer metadata cannot be read (the error names the file and key).
    #[error(transparent)]
    Gguf(Box<odyssey_gguf::GgufError>),
    /// An error from a document source or tokenizer behind a core trait.
    #[error(transparent)]
    Core(#[from] odyssey_core::Error),
}

impl CorpusError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CorpusError::Io {
            path: path.into(),
            source,
        }
    }

    /// The file and 1-based line this error is about, when it is about a line of a file.
    pub fn location(&self) -> Option<(&std::path::Path, usize)> {
        match self {
            CorpusError::InvalidUtf8 { path, line, .. }
            | CorpusError::MalformedJson { path, line, .. }
            | CorpusError::MissingText { path, line, .. } => Some((path, *line)),
            CorpusError::EmptyFile { path } => Some((path, 0)),
            _ => None,
        }
    }
}

impl From<CorpusError> for odyssey_core::Error {
    fn from(e: CorpusError) -> Self {
        match e {
            CorpusError::Core(inner) => inner,
            CorpusError::Io { path, source } => odyssey_core::Error::Io { path, source },
            ref content @ (CorpusError::InvalidUtf8 { .. }
            | CorpusError::MalformedJson { .. }
            | CorpusError::MissingText { .. }
            | CorpusError::EmptyFile { .. }) => {
                let (path, line) = content
                    .location()
                    .map(|(p, l)| (p.to_path_buf(), l))
                    .unwrap_or_default();
                let full = content.to_string();
                // The message without the "path:line: " prefix that Parse adds itself.
                let prefix = format!("{}:{line}: ", path.display());
                let message = full
                    .strip_prefix(&prefix)
                    .or_else(|| full.strip_prefix(&format!("{}: ", path.display())))
                    .unwrap_or(&full)
                    .to_string();
                odyssey_core::Error::Parse {
                    path,
                    line,
                    message,
                }
            }
            CorpusError::InvalidInput(m) => odyssey_core::Error::InvalidInput(m),
            other => odyssey_core::Error::backend(other.to_string(), other),
        }
    }
}
