//! Packed token blocks, their seeded order and the tensors built from them.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::borrow::Cow;

use crate::model::IGNORE_INDEX;

/// A stream of equal-length token blocks (the output of packing a tokenized corpus).
pub trait TokenBlocks {
    /// Tokens per block.
    fn block_len(&self) -> usize;
    /// Number of blocks.
    fn n_blocks(&self) -> usize;
    /// Block `i` (`i < n_blocks()`), `block_len()` tokens.
    fn block(&self, i: usize) -> &[u32];
}

/// Blocks stored back to back in one token buffer, borrowed or owned.
#[derive(Debug, Clone)]
pub struct PackedBlocks<'a> {
    tokens: Cow<'a, [u32]>,
    block_len: usize,
}

impl<'a> PackedBlocks<'a> {
    /// Blocks of `block_len` tokens over `tokens`, whose length must be a non-zero multiple of
    /// `block_len` (the error message says what is wrong).
    pub fn new(tokens: impl Into<Cow<'a, [u32]>>, block_len: usize) -> Result<Self, String> {
        let tokens = tokens.into();
        if block_len < 2 {
            return Err(format!(
                "block length must be at least 2 tokens, got {block_len}"
            ));
        }
        if tokens.is_empty() {
            return Err("no tokens".into());
        }
        if tokens.len() % block_len != 0 {
            return Err(format!(
                "{} tokens are not a whole number of {block_len}-token blocks",
                tokens.len()
            ));
        }
        Ok(PackedBlocks { tokens, block_len })
    }

    /// All tokens, block after block.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
}

impl TokenBlocks for PackedBlocks<'_> {
    fn block_len(&self) -> usize {
        self.block_len
    }
    fn n_blocks(&self) -> usize {
        self.tokens.len() / self.block_len
    }
    fn block(&self, i: usize) -> &[u32] {
        &self.tokens[i * self.block_len..(i + 1) * self.block_len]
    }
}

/// The order of the blocks in `epoch` (0-based) for `seed`: a permutation that depends only on
/// both, so a resumed run visits the same blocks in the same order.
pub fn epoch_order(n_blocks: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n_blocks).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64);
    order.shuffle(&mut rng);
    order
}

/// 64-bit FNV-1a over the block length and all tokens: a fingerprint that tells a resumed run
/// whether it sees the data it was started on.
pub fn fingerprint(blocks: &dyn TokenBlocks) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(blocks.block_len() as u64);
    eat(blocks.n_blocks() as u64);
    for i in 0..blocks.n_blocks() {
        for &t in blocks.block(i) {
            eat(t as u64);
        }
    }
    h
}

/// Inputs and next-token labels for a batch of blocks: `inputs` is `[b, T]`; `labels[t]` is
/// the token at `t + 1`, or [`IGNORE_INDEX`] at the last position and where that token is in
/// `ignored`. Returns the number of counted (non-ignored) labels too.
pub fn batch_arrays(
    blocks: &dyn TokenBlocks,
    indices: &[usize],
    ignored: &[u32],
) -> (Vec<i64>, Vec<i64>, usize) {
    let t = blocks.block_len();
    let mut inputs = Vec::with_capacity(indices.len() * t);
    let mut labels = Vec::with_capacity(indices.len() * t);
    let mut counted = 0;
    for &i in indices {
        let b = blocks.block(i);
        inputs.extend(b.iter().map(|&x| x as i64));
        for &next in &b[1..] {
            if ignored.contains(&next) {
                labels.push(IGNORE_INDEX);
            } else {
                labels.push(next as i64);
                counted += 1;
            }
        }
        labels.push(IGNORE_INDEX);
    }
    (inputs, labels, counted)
}

/// Number of labels a batch counts (see [`batch_arrays`]), without building it.
pub fn counted_labels(blocks: &dyn TokenBlocks, indices: &[usize], ignored: &[u32]) -> usize {
    indices
        .iter()
        .map(|&i| {
            blocks.block(i)[1..]
                .iter()
                .filter(|x| !ignored.contains(x))
                .count()
        })
        .sum()
}

/// The first token id `>= vocab` with its block and position, if any.
pub fn find_out_of_vocab(blocks: &dyn TokenBlocks, vocab: usize) -> Option<(usize, usize, u32)> {
    (0..blocks.n_blocks()).find_map(|i| {
        blocks
            .block(i)
            .iter()
            .position(|&t| t as usize >= vocab)
            .map(|p| (i, p, blocks.block(i)[p]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_blocks_reject_ragged_buffers() {
        assert!(PackedBlocks::new(vec![1u32; 10], 4).is_err());
        assert!(PackedBlocks::new(Vec::<u32>::new(), 4).is_err());
        assert!(PackedBlocks::new(vec![1u32; 10], 1).is_err());
        let b = PackedBlocks::new(&[1u32, 2, 3, 4, 5, 6][..], 3).unwrap();
        assert_eq!(b.n_blocks(), 2);
        assert_eq!(b.block(1), &[4, 5, 6]);
    }

    #[test]
    fn order_is_a_seeded_permutation_that_changes_per_epoch() {
        let a = epoch_order(50, 7, 0);
        assert_eq!(a, epoch_order(50, 7, 0));
        let mut s = a.clone();
        s.sort_unstable();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
        assert_ne!(a, epoch_order(50, 7, 1));
        assert_ne!(a, epoch_order(50, 8, 0));
    }

    #[test]
    fn labels_shift_and_skip_ignored_tokens() {
        let b = PackedBlocks::new(vec![5u32, 10, 6, 10, 7, 8, 9, 10], 4).unwrap();
        let (x, y, n) = batch_arrays(&b, &[1, 0], &[10]);
        assert_eq!(x, vec![7, 8, 9, 10, 5, 10, 6, 10]);
        assert_eq!(y, vec![8, 9, -100, -100, -100, 6, -100, -100]);
        assert_eq!(n, 3);
        assert_eq!(counted_labels(&b, &[1, 0], &[10]), 3);
        assert_eq!(counted_labels(&b, &[1, 0], &[]), 6);
        assert_eq!(find_out_of_vocab(&b, 10), Some((0, 1, 10)));
        assert_eq!(find_out_of_vocab(&b, 11), None);
        assert_ne!(
            fingerprint(&b),
            fingerprint(&PackedBlocks::new(vec![5u32, 10, 6, 10], 2).unwrap())
        );
    }
}
