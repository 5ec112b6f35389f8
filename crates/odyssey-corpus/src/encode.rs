//! Streaming a split through the tokenizer, in parallel chunks, in document order.

use crate::error::Result;
use crate::tokenizer::HfTokenizer;
use indicatif::{ProgressBar, ProgressStyle};
use odyssey_core::{Document, DocumentSource, Split};
use rayon::prelude::*;

/// Documents gathered before a chunk is encoded in parallel.
const CHUNK_DOCS: usize = 1024;
/// Text bytes gathered before a chunk is encoded in parallel.
const CHUNK_BYTES: usize = 8 << 20;

/// A progress bar over bytes of text, drawn on stderr (hidden when stderr is not a terminal).
pub fn bytes_progress(label: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {msg} {bytes} read, {bytes_per_sec}, {elapsed}")
    {
        bar.set_style(style);
    }
    bar.set_message(label.to_string());
    bar
}

/// Encode every document of `split` and hand `(document, ids)` to `f` in document order.
/// Documents are read in chunks (a few MB) and each chunk is encoded in parallel, so memory
/// stays bounded. Returns the number of documents.
pub fn for_each_encoded(
    source: &dyn DocumentSource,
    split: Split,
    tokenizer: &HfTokenizer,
    progress: Option<&ProgressBar>,
    mut f: impl FnMut(&Document, &[u32]) -> Result<()>,
) -> Result<usize> {
    let mut docs = source.documents(split)?;
    let mut chunk: Vec<Document> = Vec::with_capacity(CHUNK_DOCS);
    let mut total = 0;
    loop {
        chunk.clear();
        let mut bytes = 0;
        for doc in docs.by_ref() {
            let doc = doc?;
            bytes += doc.text.len();
            chunk.push(doc);
            if chunk.len() >= CHUNK_DOCS || bytes >= CHUNK_BYTES {
                break;
            }
        }
        if chunk.is_empty() {
            return Ok(total);
        }
        let ids: Vec<Vec<u32>> = chunk
            .par_iter()
            .map(|d| tokenizer.encode_ids(&d.text))
            .collect::<Result<_>>()?;
        for (doc, ids) in chunk.iter().zip(&ids) {
            f(doc, ids)?;
        }
        total += chunk.len();
        if let Some(p) = progress {
            p.inc(bytes as u64);
        }
    }
}

/// Adapts an unsized source reference to `&dyn DocumentSource`.
pub(crate) struct Dyn<'a, S: ?Sized>(pub(crate) &'a S);

impl<S: DocumentSource + ?Sized> DocumentSource for Dyn<'_, S> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn splits(&self) -> Vec<Split> {
        self.0.splits()
    }
    fn documents(&self, split: Split) -> odyssey_core::Result<odyssey_core::DocumentIter<'_>> {
        self.0.documents(split)
    }
}
