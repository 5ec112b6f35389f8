//! What to do with a bad line: stop with a typed error, or skip it and count it.

use crate::error::CorpusError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// How a source treats bad items (invalid UTF-8, malformed JSON, missing `text`, empty files).
///
/// I/O errors (a file that cannot be read, a truncated compressed stream) always stop the run:
/// skipping them would silently shorten the corpus.
///
/// ```
/// use odyssey_corpus::{ErrorPolicy, SkipLog};
/// let log = SkipLog::new();
/// let policy = ErrorPolicy::Skip(log.clone());
/// assert!(policy.is_skip());
/// assert_eq!(log.total(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub enum ErrorPolicy {
    /// Stop at the first bad item with an error naming file and line (the default).
    #[default]
    Fail,
    /// Skip bad items and record them in the shared log.
    Skip(SkipLog),
}

impl ErrorPolicy {
    /// Whether bad items are skipped.
    pub fn is_skip(&self) -> bool {
        matches!(self, ErrorPolicy::Skip(_))
    }

    /// Either record `err` in the skip log (returns `None`) or hand it back to be raised.
    pub(crate) fn handle(&self, err: CorpusError) -> Option<CorpusError> {
        match self {
            ErrorPolicy::Fail => Some(err),
            ErrorPolicy::Skip(log) => {
                if SkipKind::of(&err).is_some() {
                    log.record(&err);
                    None
                } else {
                    Some(err)
                }
            }
        }
    }

    pub(crate) fn tag(&self) -> u8 {
        match self {
            ErrorPolicy::Fail => 0,
            ErrorPolicy::Skip(_) => 1,
        }
    }
}

/// The kinds of items a skip policy may skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipKind {
    /// A line that is not valid UTF-8.
    InvalidUtf8,
    /// A JSONL line that is not valid JSON.
    MalformedJson,
    /// A JSONL record without a string `text`.
    MissingText,
    /// A split file without any document.
    EmptyFile,
}

impl SkipKind {
    /// The kind of a skippable error, `None` for errors that always stop the run.
    pub fn of(err: &CorpusError) -> Option<SkipKind> {
        match err {
            CorpusError::InvalidUtf8 { .. } => Some(SkipKind::InvalidUtf8),
            CorpusError::MalformedJson { .. } => Some(SkipKind::MalformedJson),
            CorpusError::MissingText { .. } => Some(SkipKind::MissingText),
            CorpusError::EmptyFile { .. } => Some(SkipKind::EmptyFile),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
struct SkipInner {
    counts: BTreeMap<SkipKind, usize>,
    examples: Vec<String>,
}

/// A shared, thread-safe record of skipped items: counts per kind and the first few messages.
/// Clones share the same record.
#[derive(Debug, Clone, Default)]
pub struct SkipLog {
    inner: Arc<Mutex<SkipInner>>,
}

/// How many skipped-item messages a [`SkipLog`] keeps verbatim.
pub const SKIP_EXAMPLES_KEPT: usize = 20;

impl SkipLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SkipInner> {
        // A poisoned lock only means another thread panicked while counting; counts stay usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn record(&self, err: &CorpusError) {
        if let Some(kind) = SkipKind::of(err) {
            let mut g = self.lock();
            *g.counts.entry(kind).or_default() += 1;
            if g.examples.len() < SKIP_EXAMPLES_KEPT {
                g.examples.push(err.to_string());
            }
        }
    }

    /// Total number of skipped items.
    pub fn total(&self) -> usize {
        self.lock().counts.values().sum()
    }

    /// Skipped items per kind.
    pub fn counts(&self) -> BTreeMap<SkipKind, usize> {
        self.lock().counts.clone()
    }

    /// The messages of the first skipped items (file, line, reason).
    pub fn examples(&self) -> Vec<String> {
        self.lock().examples.clone()
    }
}
