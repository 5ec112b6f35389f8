//! Packing token streams into fixed-length blocks, as HF `run_clm`'s `group_texts` does, and
//! deterministic shuffled batches.

use crate::encode::for_each_encoded;
use crate::error::{CorpusError, Result};
use crate::tokenizer::HfTokenizer;
use odyssey_core::{DocumentSource, Split, TokenizerHandle};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What happens to the tokens after the last full block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remainder {
    /// Drop them (`run_clm`'s `group_texts`).
    #[default]
    Drop,
    /// Keep them as a last, shorter block.
    Keep,
}

/// Packs documents into blocks: every document is followed by the end-of-document token, the
/// stream is cut every `block_size` tokens.
///
/// ```
/// use odyssey_corpus::{Packer, Remainder};
/// let mut p = Packer::new(4, 0, Remainder::Keep)?;
/// p.push_document(&[5, 6, 7]);
/// p.push_document(&[8, 9]);
/// let blocks = p.finish();
/// assert_eq!(blocks.block(0), &[5, 6, 7, 0]);
/// assert_eq!(blocks.block(1), &[8, 9, 0]);
/// # Ok::<(), odyssey_corpus::CorpusError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Packer {
    block_size: usize,
    eos: u32,
    remainder: Remainder,
    tokens: Vec<u32>,
    documents: usize,
}

impl Packer {
    /// A packer for blocks of `block_size` tokens with `eos` between documents.
    pub fn new(block_size: usize, eos: u32, remainder: Remainder) -> Result<Packer> {
        if block_size == 0 {
            return Err(CorpusError::InvalidInput(
                "block size must be at least 1".into(),
            ));
        }
        Ok(Packer {
            block_size,
            eos,
            remainder,
            tokens: Vec::new(),
            documents: 0,
        })
    }

    /// Append one document's ids and the end-of-document token.
    pub fn push_document(&mut self, ids: &[u32]) {
        self.tokens.reserve(ids.len() + 1);
        self.tokens.extend_from_slice(ids);
        self.tokens.push(self.eos);
        self.documents += 1;
    }

    /// Cut the stream into blocks.
    pub fn finish(mut self) -> PackedBlocks {
        let total = self.tokens.len();
        let kept = match self.remainder {
            Remainder::Drop => total / self.block_size * self.block_size,
            Remainder::Keep => total,
        };
        self.tokens.truncate(kept);
        self.tokens.shrink_to_fit();
        PackedBlocks {
            block_size: self.block_size,
            tokens: self.tokens,
            documents: self.documents,
            dropped: total - kept,
        }
    }
}

/// Blocks of token ids, stored as one flat buffer (every block is `block_size` long except a
/// kept remainder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackedBlocks {
    block_size: usize,
    tokens: Vec<u32>,
    documents: usize,
    dropped: usize,
}

impl PackedBlocks {
    /// Block length.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.tokens.len().div_ceil(self.block_size)
    }

    /// Whether there is no block.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Block `i` (panics when `i >= len()`, like slice indexing).
    pub fn block(&self, i: usize) -> &[u32] {
        let start = i * self.block_size;
        &self.tokens[start..(start + self.block_size).min(self.tokens.len())]
    }

    /// All blocks in order.
    pub fn iter(&self) -> std::slice::Chunks<'_, u32> {
        self.tokens.chunks(self.block_size)
    }

    /// The packed stream, blocks back to back.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// The flat token buffer, given back without a copy.
    pub fn into_tokens(self) -> Vec<u32> {
        self.tokens
    }

    /// Number of documents packed.
    pub fn documents(&self) -> usize {
        self.documents
    }

    /// Tokens dropped after the last full block.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// The blocks in shuffled batches (see [`batch_indices`]).
    pub fn batches(&self, options: &BatchOptions) -> Vec<Batch<'_>> {
        batch_indices(self.len(), options)
            .into_iter()
            .map(|indices| Batch {
                blocks: indices.iter().map(|&i| self.block(i)).collect(),
                indices,
            })
            .collect()
    }
}

/// Pack already-encoded documents.
pub fn pack_documents<I, D>(
    docs: I,
    eos: u32,
    block_size: usize,
    remainder: Remainder,
) -> Result<PackedBlocks>
where
    I: IntoIterator<Item = D>,
    D: AsRef<[u32]>,
{
    let mut p = Packer::new(block_size, eos, remainder)?;
    for d in docs {
        p.push_document(d.as_ref());
    }
    Ok(p.finish())
}

/// Tokenize and pack one split of `source` (documents encoded in parallel, order kept).
///
/// ```
/// use odyssey_core::Split;
/// use odyssey_corpus::{pack_source, DomainCollection, HfTokenizer, Remainder};
/// let tok = HfTokenizer::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bpe1024/tokenizer.json"))?;
/// let corpus = DomainCollection::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/odyssey-mini-sample"))?;
/// let blocks = pack_source(corpus.domain("arxiv_cs")?, Split::Valid, &tok, 256, Remainder::Drop)?;
/// assert!(blocks.len() > 10 && blocks.block(0).len() == 256);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pack_source(
    source: &dyn DocumentSource,
    split: Split,
    tokenizer: &HfTokenizer,
    block_size: usize,
    remainder: Remainder,
) -> Result<PackedBlocks> {
    let eos = require_eos(tokenizer)?;
    let mut p = Packer::new(block_size, eos, remainder)?;
    for_each_encoded(source, split, tokenizer, None, |_, ids| {
        p.push_document(ids);
        Ok(())
    })?;
    Ok(p.finish())
}

pub(crate) fn require_eos(tokenizer: &HfTokenizer) -> Result<u32> {
    tokenizer.eos_id().ok_or_else(|| {
        CorpusError::InvalidInput(
            "the tokenizer has no end-of-document token; set one with HfTokenizer::with_eos_token"
                .into(),
        )
    })
}

/// How blocks are grouped into batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchOptions {
    /// Blocks per batch.
    pub batch_size: usize,
    /// Shuffle seed; the same seed gives the same batches.
    pub seed: u64,
    /// Epoch number: each epoch of the same seed has its own order.
    pub epoch: u64,
    /// Leave out a last, smaller batch.
    pub drop_last: bool,
    /// Shuffle (`false` keeps the blocks in order).
    pub shuffle: bool,
}

impl BatchOptions {
    /// Shuffled batches of `batch_size` blocks, epoch 0, last partial batch kept.
    pub fn new(batch_size: usize, seed: u64) -> BatchOptions {
        BatchOptions {
            batch_size,
            seed,
            epoch: 0,
            drop_last: false,
            shuffle: true,
        }
    }
}

/// A permutation of `0..n` from `seed` and `epoch` (ChaCha8, portable across platforms).
pub fn shuffled_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch);
    order.shuffle(&mut rng);
    order
}

/// Block indices grouped into batches: a seeded permutation of `0..n_blocks` (or the identity
/// when not shuffling) cut into `batch_size` pieces. A batch size of 0 counts as 1.
pub fn batch_indices(n_blocks: usize, options: &BatchOptions) -> Vec<Vec<usize>> {
    let order = if options.shuffle {
        shuffled_order(n_blocks, options.seed, options.epoch)
    } else {
        (0..n_blocks).collect()
    };
    let size = options.batch_size.max(1);
    order
        .chunks(size)
        .filter(|c| !options.drop_last || c.len() == size)
        .map(<[usize]>::to_vec)
        .collect()
}

/// One batch: the block indices and the blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<'a> {
    /// Indices of the blocks in the packed corpus.
    pub indices: Vec<usize>,
    /// The blocks, in batch order.
    pub blocks: Vec<&'a [u32]>,
}

impl Batch<'_> {
    /// The blocks back to back (a `batch × block` matrix in row-major order when all blocks are
    /// full).
    pub fn flat(&self) -> Vec<u32> {
        self.blocks.concat()
    }
}
