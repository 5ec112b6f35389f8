//! A binary, memory-mapped cache of a tokenized split.
//!
//! Layout (little-endian):
//!
//! | bytes | content |
//! |---|---|
//! | 0..8 | magic `ODYTOKC\0` |
//! | 8..12 | format version (1) |
//! | 12..16 | bytes per token: 2 (vocabulary ≤ 65,536) or 4 |
//! | 16..24 | tokenizer fingerprint |
//! | 24..32 | source fingerprint |
//! | 32..40 | documents |
//! | 40..48 | tokens |
//! | 48..56 | vocabulary size |
//! | 56..64 | items skipped while reading the source |
//! | 64.. | token ids of all documents back to back, zero-padded to a multiple of 8 bytes |
//! | then | `documents + 1` document start offsets (u64, in tokens) |
//!
//! End-of-document tokens are not stored: packing adds them.

use crate::encode::{bytes_progress, for_each_encoded, Dyn};
use crate::error::{CorpusError, Result};
use crate::fingerprint::SourceFingerprint;
use crate::pack::{PackedBlocks, Packer, Remainder};
use crate::policy::SkipLog;
use crate::tokenizer::HfTokenizer;
use memmap2::Mmap;
use odyssey_core::{DocumentSource, Split, TokenizerHandle};
use serde::{Deserialize, Serialize};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The cache file's magic bytes.
pub const CACHE_MAGIC: [u8; 8] = *b"ODYTOKC\0";
/// The cache format version this crate writes and reads.
pub const CACHE_VERSION: u32 = 1;
const HEADER_LEN: usize = 64;

/// The header of a token cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheHeader {
    /// Format version.
    pub version: u32,
    /// Bytes per stored token id (2 or 4).
    pub token_bytes: u32,
    /// Fingerprint of the tokenizer that made it.
    pub tokenizer_fingerprint: u64,
    /// Fingerprint of the source split it was made from.
    pub source_fingerprint: u64,
    /// Number of documents.
    pub documents: u64,
    /// Number of tokens (end-of-document tokens not included).
    pub tokens: u64,
    /// Vocabulary size of the tokenizer.
    pub vocab_size: u64,
    /// Items the source's skip policy skipped while the cache was built.
    pub skipped: u64,
}

impl CacheHeader {
    fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&CACHE_MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&self.token_bytes.to_le_bytes());
        b[16..24].copy_from_slice(&self.tokenizer_fingerprint.to_le_bytes());
        b[24..32].copy_from_slice(&self.source_fingerprint.to_le_bytes());
        b[32..40].copy_from_slice(&self.documents.to_le_bytes());
        b[40..48].copy_from_slice(&self.tokens.to_le_bytes());
        b[48..56].copy_from_slice(&self.vocab_size.to_le_bytes());
        b[56..64].copy_from_slice(&self.skipped.to_le_bytes());
        b
    }

    fn from_bytes(path: &Path, b: &[u8]) -> Result<CacheHeader> {
        let corrupt = |what: String| CorpusError::CacheCorrupt {
            path: path.to_path_buf(),
            what,
        };
        if b.len() < HEADER_LEN {
            return Err(corrupt(format!(
                "{} bytes, shorter than the {HEADER_LEN}-byte header",
                b.len()
            )));
        }
        if b[0..8] != CACHE_MAGIC {
            return Err(corrupt(
                "wrong magic bytes (not an Odyssey token cache)".into(),
            ));
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        let h = CacheHeader {
            version: u32_at(8),
            token_bytes: u32_at(12),
            tokenizer_fingerprint: u64_at(16),
            source_fingerprint: u64_at(24),
            documents: u64_at(32),
            tokens: u64_at(40),
            vocab_size: u64_at(48),
            skipped: u64_at(56),
        };
        if h.version != CACHE_VERSION {
            return Err(corrupt(format!(
                "format version {} (this build reads {CACHE_VERSION})",
                h.version
            )));
        }
        if h.token_bytes != 2 && h.token_bytes != 4 {
            return Err(corrupt(format!(
                "{} bytes per token (expected 2 or 4)",
                h.token_bytes
            )));
        }
        Ok(h)
    }

    fn tokens_len_padded(&self) -> u64 {
        (self.tokens * self.token_bytes as u64).div_ceil(8) * 8
    }

    fn expected_file_len(&self) -> Option<u64> {
        let tok = self
            .tokens
            .checked_mul(self.token_bytes as u64)?
            .checked_add(7)?
            / 8
            * 8;
        let offs = self.documents.checked_add(1)?.checked_mul(8)?;
        (HEADER_LEN as u64).checked_add(tok)?.checked_add(offs)
    }
}

/// The stored ids of some tokens, 16- or 32-bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSlice<'a> {
    /// 16-bit ids.
    U16(&'a [u16]),
    /// 32-bit ids.
    U32(&'a [u32]),
}

impl<'a> TokenSlice<'a> {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        match self {
            TokenSlice::U16(s) => s.len(),
            TokenSlice::U32(s) => s.len(),
        }
    }

    /// Whether there is no token.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Token `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<u32> {
        match self {
            TokenSlice::U16(s) => s.get(i).map(|&x| x as u32),
            TokenSlice::U32(s) => s.get(i).copied(),
        }
    }

    /// A sub-range.
    pub fn slice(&self, range: std::ops::Range<usize>) -> TokenSlice<'a> {
        match *self {
            TokenSlice::U16(s) => TokenSlice::U16(&s[range]),
            TokenSlice::U32(s) => TokenSlice::U32(&s[range]),
        }
    }

    /// Append the ids to `out` as `u32`.
    pub fn extend_into(&self, out: &mut Vec<u32>) {
        match self {
            TokenSlice::U16(s) => out.extend(s.iter().map(|&x| x as u32)),
            TokenSlice::U32(s) => out.extend_from_slice(s),
        }
    }

    /// The ids as `u32`.
    pub fn to_vec(&self) -> Vec<u32> {
        let mut v = Vec::with_capacity(self.len());
        self.extend_into(&mut v);
        v
    }
}

/// What to do when an existing cache was made from another tokenizer or source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMismatch {
    /// Rebuild it (also when the file is not a valid cache).
    #[default]
    Rebuild,
    /// Return [`CorpusError::CacheMismatch`] (or [`CorpusError::CacheCorrupt`]).
    Error,
}

/// Options of [`TokenCache::load_or_build`].
#[derive(Debug, Clone, Default)]
pub struct CacheOptions {
    /// Mismatch handling.
    pub on_mismatch: OnMismatch,
    /// Show a progress bar on stderr while building.
    pub progress: bool,
    /// The skip log of the source's policy, if it has one: its growth while building is
    /// recorded in the header.
    pub skip_log: Option<SkipLog>,
}

/// What [`TokenCache::load_or_build`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    /// The file matched and was reused.
    Reused,
    /// There was no file; it was built.
    Built,
    /// The file did not match (reason given) and was rebuilt.
    Rebuilt(String),
}

/// A tokenized split on disk, memory-mapped.
///
/// ```
/// use odyssey_core::{Split, TokenizerHandle};
/// use odyssey_corpus::{CacheOptions, CacheStatus, DomainCollection, HfTokenizer, Remainder, TokenCache};
/// let tok = HfTokenizer::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bpe1024/tokenizer.json"))?;
/// let corpus = DomainCollection::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/odyssey-mini-sample"))?;
/// let domain = corpus.domain("arxiv_cs")?;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("arxiv_cs.valid.tok");
/// let (cache, status) = TokenCache::load_or_build(&path, domain, Split::Valid, &tok, &CacheOptions::default())?;
/// assert_eq!(status, CacheStatus::Built);
/// let (again, status) = TokenCache::load_or_build(&path, domain, Split::Valid, &tok, &CacheOptions::default())?;
/// assert_eq!(status, CacheStatus::Reused);
/// assert_eq!(again.document(0).to_vec(), cache.document(0).to_vec());
/// let blocks = again.pack(256, Remainder::Drop, tok.eos_id().unwrap())?;
/// assert!(blocks.len() > 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TokenCache {
    path: PathBuf,
    header: CacheHeader,
    map: Mmap,
}

impl TokenCache {
    /// Open a cache file and check its structure.
    pub fn open(path: impl AsRef<Path>) -> Result<TokenCache> {
        let path = path.as_ref();
        if cfg!(target_endian = "big") {
            return Err(CorpusError::CacheCorrupt {
                path: path.to_path_buf(),
                what: "token caches are little-endian and this machine is big-endian".into(),
            });
        }
        let file = std::fs::File::open(path).map_err(|e| CorpusError::io(path, e))?;
        let len = file.metadata().map_err(|e| CorpusError::io(path, e))?.len();
        if len < HEADER_LEN as u64 {
            return Err(CorpusError::CacheCorrupt {
                path: path.to_path_buf(),
                what: format!("{len} bytes, shorter than the {HEADER_LEN}-byte header"),
            });
        }
        // SAFETY: the file is only read through the map. Caches are written to a temporary
        // file and renamed into place, so a file being rebuilt is a new inode and never changes
        // under an existing map.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| CorpusError::io(path, e))?;
        let header = CacheHeader::from_bytes(path, &map)?;
        let corrupt = |what: String| CorpusError::CacheCorrupt {
            path: path.to_path_buf(),
            what,
        };
        match header.expected_file_len() {
            Some(n) if n == map.len() as u64 => {}
            Some(n) => {
                return Err(corrupt(format!(
                    "{} bytes, the header announces {n}",
                    map.len()
                )))
            }
            None => return Err(corrupt("header counts overflow".into())),
        }
        let cache = TokenCache {
            path: path.to_path_buf(),
            header,
            map,
        };
        let offs = cache.offsets();
        if offs.first() != Some(&0)
            || offs.last() != Some(&header.tokens)
            || offs.windows(2).any(|w| w[0] > w[1])
        {
            return Err(corrupt(
                "document offsets are not increasing from 0 to the token count".into(),
            ));
        }
        Ok(cache)
    }

    /// Open a cache and check that it was made by `tokenizer_fingerprint` from
    /// `source_fingerprint`; a difference is [`CorpusError::CacheMismatch`].
    pub fn open_checked(
        path: impl AsRef<Path>,
        tokenizer_fingerprint: u64,
        source_fingerprint: u64,
    ) -> Result<TokenCache> {
        let cache = Self::open(path)?;
        if let Some(what) = cache.mismatch(tokenizer_fingerprint, source_fingerprint) {
            return Err(CorpusError::CacheMismatch {
                path: cache.path.clone(),
                what,
            });
        }
        Ok(cache)
    }

    fn mismatch(&self, tokenizer_fp: u64, source_fp: u64) -> Option<String> {
        if self.header.tokenizer_fingerprint != tokenizer_fp {
            return Some(format!(
                "tokenizer fingerprint {:016x}, expected {tokenizer_fp:016x}",
                self.header.tokenizer_fingerprint
            ));
        }
        if self.header.source_fingerprint != source_fp {
            return Some(format!(
                "source fingerprint {:016x}, expected {source_fp:016x} (the source files changed)",
                self.header.source_fingerprint
            ));
        }
        None
    }

    /// Reuse the cache at `path` if it matches `tokenizer` and the current state of `source`,
    /// otherwise build it (atomically: the file is complete or absent).
    pub fn load_or_build<S>(
        path: impl AsRef<Path>,
        source: &S,
        split: Split,
        tokenizer: &HfTokenizer,
        options: &CacheOptions,
    ) -> Result<(TokenCache, CacheStatus)>
    where
        S: DocumentSource + SourceFingerprint + ?Sized,
    {
        let path = path.as_ref();
        let source_fp = source.fingerprint(split)?;
        let tok_fp = tokenizer.fingerprint();
        let reason = if path.exists() {
            match Self::open(path) {
                Ok(cache) => match cache.mismatch(tok_fp, source_fp) {
                    None => return Ok((cache, CacheStatus::Reused)),
                    Some(what) => {
                        if options.on_mismatch == OnMismatch::Error {
                            return Err(CorpusError::CacheMismatch {
                                path: path.to_path_buf(),
                                what,
                            });
                        }
                        Some(what)
                    }
                },
                Err(e @ CorpusError::CacheCorrupt { .. }) => {
                    if options.on_mismatch == OnMismatch::Error {
                        return Err(e);
                    }
                    Some(e.to_string())
                }
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let cache = Self::build(path, source, split, tokenizer, source_fp, options)?;
        let status = match reason {
            None => CacheStatus::Built,
            Some(r) => {
                tracing::info!(path = %path.display(), reason = %r, "token cache rebuilt");
                CacheStatus::Rebuilt(r)
            }
        };
        Ok((cache, status))
    }

    /// Tokenize `split` of `source` into a new cache file at `path` (replaced atomically).
    pub fn build(
        path: impl AsRef<Path>,
        source: &(impl DocumentSource + ?Sized),
        split: Split,
        tokenizer: &HfTokenizer,
        source_fingerprint: u64,
        options: &CacheOptions,
    ) -> Result<TokenCache> {
        let path = path.as_ref();
        let skipped_before = options.skip_log.as_ref().map_or(0, SkipLog::total);
        let progress = options
            .progress
            .then(|| bytes_progress(&format!("tokenizing {} {split}", source.name())));
        let mut writer = CacheWriter::create(path, tokenizer.vocab_size() as u64)?;
        for_each_encoded(
            &Dyn(source),
            split,
            tokenizer,
            progress.as_ref(),
            |_, ids| writer.push(ids),
        )?;
        if let Some(p) = progress {
            p.finish_and_clear();
        }
        let skipped = options.skip_log.as_ref().map_or(0, SkipLog::total) - skipped_before;
        writer.finish(tokenizer.fingerprint(), source_fingerprint, skipped as u64)
    }

    /// Write already-encoded documents as a cache file at `path` (replaced atomically).
    /// Ids must be below `vocab_size`.
    pub fn write_documents<I, D>(
        path: impl AsRef<Path>,
        documents: I,
        vocab_size: u64,
        tokenizer_fingerprint: u64,
        source_fingerprint: u64,
    ) -> Result<TokenCache>
    where
        I: IntoIterator<Item = D>,
        D: AsRef<[u32]>,
    {
        let mut writer = CacheWriter::create(path.as_ref(), vocab_size)?;
        for d in documents {
            writer.push(d.as_ref())?;
        }
        writer.finish(tokenizer_fingerprint, source_fingerprint, 0)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header.
    pub fn header(&self) -> &CacheHeader {
        &self.header
    }

    /// Number of documents.
    pub fn documents(&self) -> usize {
        self.header.documents as usize
    }

    /// Number of tokens (end-of-document tokens not included).
    pub fn token_count(&self) -> usize {
        self.header.tokens as usize
    }

    fn offsets(&self) -> &[u64] {
        let start = HEADER_LEN + self.header.tokens_len_padded() as usize;
        // The file length was checked against the header and the map is page-aligned, so the
        // range is in bounds and 8-byte aligned.
        bytemuck::cast_slice(&self.map[start..])
    }

    /// All tokens, documents back to back.
    pub fn tokens(&self) -> TokenSlice<'_> {
        let n = self.header.tokens as usize;
        let bytes = &self.map[HEADER_LEN..HEADER_LEN + n * self.header.token_bytes as usize];
        if self.header.token_bytes == 2 {
            TokenSlice::U16(bytemuck::cast_slice(bytes))
        } else {
            TokenSlice::U32(bytemuck::cast_slice(bytes))
        }
    }

    /// The tokens of document `i` (panics when `i >= documents()`).
    pub fn document(&self, i: usize) -> TokenSlice<'_> {
        let offs = self.offsets();
        self.tokens().slice(offs[i] as usize..offs[i + 1] as usize)
    }

    /// Pack all documents into blocks with `eos` after each (like [`crate::pack_documents`]).
    pub fn pack(&self, block_size: usize, remainder: Remainder, eos: u32) -> Result<PackedBlocks> {
        let mut p = Packer::new(block_size, eos, remainder)?;
        let mut doc = Vec::new();
        for i in 0..self.documents() {
            doc.clear();
            self.document(i).extend_into(&mut doc);
            p.push_document(&doc);
        }
        Ok(p.finish())
    }

    /// A lazy view of the packed blocks, read from the map on demand (no copy of the corpus).
    pub fn blocks(
        &self,
        block_size: usize,
        remainder: Remainder,
        eos: u32,
    ) -> Result<CacheBlocks<'_>> {
        if block_size == 0 {
            return Err(CorpusError::InvalidInput(
                "block size must be at least 1".into(),
            ));
        }
        let stream = self.header.tokens as usize + self.documents();
        let len = match remainder {
            Remainder::Drop => stream / block_size,
            Remainder::Keep => stream.div_ceil(block_size),
        };
        Ok(CacheBlocks {
            cache: self,
            block_size,
            eos,
            len,
            stream,
        })
    }
}

/// Packed blocks read lazily from a [`TokenCache`]; the same blocks [`TokenCache::pack`] makes.
#[derive(Debug, Clone, Copy)]
pub struct CacheBlocks<'a> {
    cache: &'a TokenCache,
    block_size: usize,
    eos: u32,
    len: usize,
    stream: usize,
}

impl CacheBlocks<'_> {
    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no block.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Block length.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Write block `i` into `out` (cleared first); `None` when `i >= len()`.
    pub fn read_block(&self, i: usize, out: &mut Vec<u32>) -> Option<()> {
        if i >= self.len {
            return None;
        }
        out.clear();
        let offs = self.cache.offsets();
        let tokens = self.cache.tokens();
        let mut pos = i * self.block_size;
        let end = (pos + self.block_size).min(self.stream);
        // Document d occupies stream positions offs[d] + d ..= offs[d + 1] + d (its EOS last).
        let (mut lo, mut hi) = (0usize, offs.len() - 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if offs[mid + 1] as usize + mid < pos {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut d = lo;
        while pos < end {
            let doc_start = offs[d] as usize + d;
            let doc_end = offs[d + 1] as usize + d; // position of its EOS
            let from = pos - doc_start;
            let take = (doc_end - pos).min(end - pos);
            tokens
                .slice(offs[d] as usize + from..offs[d] as usize + from + take)
                .extend_into(out);
            pos += take;
            if pos < end && pos == doc_end {
                out.push(self.eos);
                pos += 1;
                d += 1;
            }
        }
        Some(())
    }

    /// Block `i` as a new vector; `None` when `i >= len()`.
    pub fn block(&self, i: usize) -> Option<Vec<u32>> {
        let mut v = Vec::with_capacity(self.block_size);
        self.read_block(i, &mut v).map(|_| v)
    }
}

/// Streams documents into a temporary file next to the target, then renames it into place.
struct CacheWriter {
    path: PathBuf,
    w: BufWriter<tempfile::NamedTempFile>,
    token_bytes: u32,
    vocab_size: u64,
    offsets: Vec<u64>,
    n_tokens: u64,
    buf: Vec<u8>,
}

impl CacheWriter {
    fn create(path: &Path, vocab_size: u64) -> Result<CacheWriter> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).map_err(|e| CorpusError::io(dir, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".tokcache")
            .tempfile_in(dir)
            .map_err(|e| CorpusError::io(dir, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, tmp);
        w.write_all(&[0u8; HEADER_LEN])
            .map_err(|e| CorpusError::io(path, e))?;
        Ok(CacheWriter {
            path: path.to_path_buf(),
            w,
            token_bytes: if vocab_size <= 1 << 16 { 2 } else { 4 },
            vocab_size,
            offsets: vec![0],
            n_tokens: 0,
            buf: Vec::new(),
        })
    }

    fn push(&mut self, ids: &[u32]) -> Result<()> {
        self.buf.clear();
        for &id in ids {
            if id as u64 >= self.vocab_size {
                return Err(CorpusError::InvalidInput(format!(
                    "token id {id} is outside the vocabulary of {} ids",
                    self.vocab_size
                )));
            }
            if self.token_bytes == 2 {
                self.buf.extend_from_slice(&(id as u16).to_le_bytes());
            } else {
                self.buf.extend_from_slice(&id.to_le_bytes());
            }
        }
        self.w
            .write_all(&self.buf)
            .map_err(|e| CorpusError::io(&self.path, e))?;
        self.n_tokens += ids.len() as u64;
        self.offsets.push(self.n_tokens);
        Ok(())
    }

    fn finish(
        mut self,
        tokenizer_fingerprint: u64,
        source_fingerprint: u64,
        skipped: u64,
    ) -> Result<TokenCache> {
        let path = self.path.clone();
        let io = |e| CorpusError::io(&path, e);
        let header = CacheHeader {
            version: CACHE_VERSION,
            token_bytes: self.token_bytes,
            tokenizer_fingerprint,
            source_fingerprint,
            documents: self.offsets.len() as u64 - 1,
            tokens: self.n_tokens,
            vocab_size: self.vocab_size,
            skipped,
        };
        let pad = header.tokens_len_padded() - self.n_tokens * self.token_bytes as u64;
        self.w.write_all(&vec![0u8; pad as usize]).map_err(io)?;
        for o in &self.offsets {
            self.w.write_all(&o.to_le_bytes()).map_err(io)?;
        }
        let mut tmp = self.w.into_inner().map_err(|e| io(e.into_error()))?;
        tmp.seek(SeekFrom::Start(0)).map_err(io)?;
        tmp.write_all(&header.to_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        TokenCache::open(&path)
    }
}
