//! Fingerprints of sources, so a token cache knows when its inputs changed.

use crate::collection::{Domain, NamedDomain};
use crate::error::{CorpusError, Result};
use crate::jsonl::JsonlSource;
use crate::text::TextSource;
use odyssey_core::{DocumentSource, Split};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

/// The first 8 bytes of a SHA-256 digest, little-endian.
pub(crate) fn digest_u64(hasher: Sha256) -> u64 {
    let d = hasher.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

/// A 64-bit hash of some bytes (SHA-256, truncated).
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = Sha256::new();
    h.update(bytes);
    digest_u64(h)
}

/// Sources that can say cheaply whether a split's content may have changed.
pub trait SourceFingerprint {
    /// A hash that changes when the documents of `split` may have changed.
    fn fingerprint(&self, split: Split) -> Result<u64>;
}

fn files_fingerprint(tag: &[u8], files: &[PathBuf]) -> Result<u64> {
    let mut h = Sha256::new();
    h.update(tag);
    for path in files {
        let meta = std::fs::metadata(path).map_err(|e| CorpusError::io(path, e))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.update(path.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(meta.len().to_le_bytes());
        h.update(mtime.to_le_bytes());
    }
    Ok(digest_u64(h))
}

/// File-based sources hash each file's path, size and modification time (not the content:
/// a changed file gets a new modification time), plus the options that change the documents.
impl SourceFingerprint for JsonlSource {
    fn fingerprint(&self, split: Split) -> Result<u64> {
        files_fingerprint(&[b'j', self.policy().tag()], self.files(split)?)
    }
}

impl SourceFingerprint for TextSource {
    fn fingerprint(&self, split: Split) -> Result<u64> {
        files_fingerprint(
            &[b't', self.unit().tag(), self.policy().tag()],
            self.files(split)?,
        )
    }
}

impl SourceFingerprint for Domain {
    fn fingerprint(&self, split: Split) -> Result<u64> {
        match self {
            Domain::Jsonl(s) => s.fingerprint(split),
            Domain::Text(s) => s.fingerprint(split),
        }
    }
}

impl SourceFingerprint for NamedDomain {
    fn fingerprint(&self, split: Split) -> Result<u64> {
        self.domain().fingerprint(split)
    }
}

/// Fingerprints any [`DocumentSource`] by hashing every document's id and text (reads the
/// whole split).
pub struct ContentFingerprint<'a, S: ?Sized>(pub &'a S);

impl<S: DocumentSource + ?Sized> SourceFingerprint for ContentFingerprint<'_, S> {
    fn fingerprint(&self, split: Split) -> Result<u64> {
        let mut h = Sha256::new();
        for doc in self.0.documents(split)? {
            let doc = doc?;
            h.update((doc.id.len() as u64).to_le_bytes());
            h.update(doc.id.as_bytes());
            h.update((doc.text.len() as u64).to_le_bytes());
            h.update(doc.text.as_bytes());
        }
        Ok(digest_u64(h))
    }
}
