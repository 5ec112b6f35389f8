//! The per-token-id aggregation kernel of the decomposition.

use crate::error::{PerplexityError, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Positions per partial accumulator at least; the split depends only on the input length, so
/// sums do not depend on the thread count.
const MIN_CHUNK: usize = 1 << 20;
/// At most this many partial accumulators (each holds 32 bytes per vocabulary entry).
const MAX_CHUNKS: usize = 16;

/// Which way tokens are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Largest ΔNLL first: the tokens that got worse.
    Degradation,
    /// Smallest (most negative) ΔNLL first: the tokens that improved.
    Gain,
}

/// Per-token-id sums over aligned positions: counts, Σ(adapted − base), Σ base, Σ adapted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenAggregates {
    /// Positions per id.
    pub count: Vec<u64>,
    /// Σ (adapted − base) NLL per id.
    pub total_delta: Vec<f64>,
    /// Σ base NLL per id.
    pub sum_base: Vec<f64>,
    /// Σ adapted NLL per id (formed as Σ base + Σ ΔNLL).
    pub sum_adapted: Vec<f64>,
}

impl TokenAggregates {
    /// Aggregate aligned positions. `ids`, `base` and `adapted` must have the same length and
    /// every id must be below `vocab`. Runs on the current rayon pool; the result is
    /// bit-identical for any number of threads.
    pub fn compute(ids: &[u32], base: &[f32], adapted: &[f32], vocab: usize) -> Result<Self> {
        let n = ids.len();
        if base.len() != n || adapted.len() != n {
            return Err(PerplexityError::StreamMismatch(format!(
                "{} ids, {} base scores, {} adapted scores",
                n,
                base.len(),
                adapted.len()
            )));
        }
        let chunk = MIN_CHUNK.max(n.div_ceil(MAX_CHUNKS)).max(1);
        // per entry: count, Σ Δ, Σ base (Σ adapted = Σ base + Σ Δ, formed at the merge)
        let partials: Vec<std::result::Result<Vec<[f64; 3]>, usize>> = ids
            .par_chunks(chunk)
            .zip(base.par_chunks(chunk))
            .zip(adapted.par_chunks(chunk))
            .enumerate()
            .map(|(c, ((ids, base), adapted))| {
                let mut acc = vec![[0f64; 3]; vocab];
                for (i, ((&id, &b), &a)) in ids.iter().zip(base).zip(adapted).enumerate() {
                    let b = f64::from(b);
                    // an out-of-vocabulary id stops the chunk (checked here, not in a
                    // separate pass over the ids)
                    let Some(e) = acc.get_mut(id as usize) else {
                        return Err(c * chunk + i);
                    };
                    e[0] += 1.0;
                    e[1] += f64::from(a) - b;
                    e[2] += b;
                }
                Ok(acc)
            })
            .collect();
        let partials = partials
            .into_iter()
            .collect::<std::result::Result<Vec<_>, usize>>()
            .map_err(|i| {
                PerplexityError::StreamMismatch(format!(
                    "position {i}: token id {} is outside the vocabulary of {vocab}",
                    ids[i]
                ))
            })?;
        let mut out = TokenAggregates {
            count: vec![0; vocab],
            total_delta: vec![0.0; vocab],
            sum_base: vec![0.0; vocab],
            sum_adapted: vec![0.0; vocab],
        };
        const BLOCK: usize = 4096;
        out.count
            .par_chunks_mut(BLOCK)
            .zip(out.total_delta.par_chunks_mut(BLOCK))
            .zip(out.sum_base.par_chunks_mut(BLOCK))
            .zip(out.sum_adapted.par_chunks_mut(BLOCK))
            .enumerate()
            .for_each(|(blk, (((c, d), sb), sa))| {
                let off = blk * BLOCK;
                for p in &partials {
                    for (j, e) in p[off..off + c.len()].iter().enumerate() {
                        c[j] += e[0] as u64;
                        d[j] += e[1];
                        sb[j] += e[2];
                    }
                }
                for j in 0..c.len() {
                    sa[j] = sb[j] + d[j];
                }
            });
        Ok(out)
    }

    /// The sums as a `vocab × 4` matrix with columns count, Σ ΔNLL, Σ base NLL, Σ adapted NLL.
    pub fn to_array(&self) -> ndarray::Array2<f64> {
        ndarray::Array2::from_shape_fn((self.vocab(), 4), |(i, j)| match j {
            0 => self.count[i] as f64,
            1 => self.total_delta[i],
            2 => self.sum_base[i],
            _ => self.sum_adapted[i],
        })
    }

    /// Vocabulary size.
    pub fn vocab(&self) -> usize {
        self.count.len()
    }

    /// Ids that occur, ranked by total ΔNLL in `direction` (ties by id).
    pub fn ranking(&self, direction: Direction) -> Vec<u32> {
        let mut ids: Vec<u32> = (0..self.vocab() as u32)
            .filter(|&i| self.count[i as usize] > 0)
            .collect();
        let d = &self.total_delta;
        ids.par_sort_unstable_by(|&x, &y| {
            let (a, b) = (d[x as usize], d[y as usize]);
            let ord = match direction {
                Direction::Degradation => b.total_cmp(&a),
                Direction::Gain => a.total_cmp(&b),
            };
            ord.then(x.cmp(&y))
        });
        ids
    }

    /// Each id's share of the total ΔNLL (`total_delta / Σ total_delta`; 0 when the total is 0).
    pub fn shares(&self) -> Vec<f64> {
        let total = self.total();
        self.total_delta
            .iter()
            .map(|&d| if total == 0.0 { 0.0 } else { d / total })
            .collect()
    }

    /// Σ ΔNLL over all ids (in id order).
    pub fn total(&self) -> f64 {
        self.total_delta.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_by_id_and_ranks() {
        let ids = [2, 0, 2, 1];
        let base = [1.0, 2.0, 3.0, 4.0];
        let adapted = [2.0, 1.0, 5.0, 4.0];
        let a = TokenAggregates::compute(&ids, &base, &adapted, 4).unwrap();
        assert_eq!(a.count, vec![1, 1, 2, 0]);
        assert_eq!(a.total_delta, vec![-1.0, 0.0, 3.0, 0.0]);
        assert_eq!(a.sum_base, vec![2.0, 4.0, 4.0, 0.0]);
        assert_eq!(a.ranking(Direction::Degradation), vec![2, 1, 0]);
        assert_eq!(a.ranking(Direction::Gain), vec![0, 1, 2]);
        let m = a.to_array();
        assert_eq!(m.shape(), &[4, 4]);
        assert_eq!(m[[2, 0]], 2.0);
        assert_eq!(m[[2, 1]], 3.0);
        assert_eq!(m[[1, 3]], 4.0);
        assert!(TokenAggregates::compute(&[4], &[1.0], &[1.0], 4).is_err());
        assert!(TokenAggregates::compute(&[0], &[1.0], &[], 4).is_err());
    }
}
