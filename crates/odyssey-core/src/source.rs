//! Document sources: anything that yields the documents of a split.

use crate::{Document, Result, Split};

/// A boxed, sendable iterator of documents; each item can fail (bad line, bad file).
pub type DocumentIter<'a> = Box<dyn Iterator<Item = Result<Document>> + Send + 'a>;

/// A corpus, or one domain of a collection, that yields documents per split.
///
/// Implementations stream: iterating a split must not load the whole corpus into memory.
/// Errors are per item so a caller can decide whether a bad line stops the run.
pub trait DocumentSource: Send + Sync {
    /// A short name (the domain name for a domain of a collection).
    fn name(&self) -> &str;

    /// The splits this source has.
    fn splits(&self) -> Vec<Split>;

    /// Stream the documents of `split`, in a stable order.
    fn documents(&self, split: Split) -> Result<DocumentIter<'_>>;
}
