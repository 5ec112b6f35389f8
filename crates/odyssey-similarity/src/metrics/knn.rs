//! k-nearest-neighbour manifold measures (Kynkäänniemi et al., 2019; Naeem et al., 2020).
//!
//! Each point's ball reaches its k-th nearest neighbour within its own sample (itself
//! excluded). With `a` the domain sample and `b` the reference (pretraining) sample:
//!
//! - **precision**: the share of `a` that falls inside some ball of `b` (the domain lies on the
//!   reference manifold);
//! - **recall**: the share of `b` inside some ball of `a`;
//! - **coverage**: the share of `b` whose own ball holds at least one point of `a`.
//!
//! A sample against itself scores 1 on all three; `precision(a, b) = recall(b, a)`.
//! Distances are Euclidean on the embeddings. The bootstrap keeps both manifolds (the balls) of
//! the full samples and resamples the per-point outcomes.

use super::bootstrap::{bootstrap, resample_indices, BootstrapConfig, Interval};
use super::check::{check_pair, to_f64};
use super::linalg::sq_dists;
use crate::error::{Result, SimilarityError};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// kNN precision, recall and coverage with bootstrap intervals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KnnCoverage {
    /// Neighbourhood size.
    pub k: usize,
    /// Share of `a` inside the `b` manifold.
    pub precision: Interval,
    /// Share of `b` inside the `a` manifold.
    pub recall: Interval,
    /// Share of `b` whose ball holds a point of `a`.
    pub coverage: Interval,
}

/// Squared radius of each point's ball: the k-th smallest distance to another point.
fn radii(d2_self: &Array2<f64>, k: usize) -> Array1<f64> {
    d2_self
        .axis_iter(Axis(0))
        .into_par_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut v: Vec<f64> = row
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &d)| d)
                .collect();
            let (_, kth, _) = v.select_nth_unstable_by(k - 1, f64::total_cmp);
            *kth
        })
        .collect::<Vec<_>>()
        .into()
}

fn share(hits: &[bool], idx: Option<&[usize]>) -> f64 {
    match idx {
        None => hits.iter().filter(|&&h| h).count() as f64 / hits.len() as f64,
        Some(idx) => idx.iter().filter(|&&i| hits[i]).count() as f64 / idx.len() as f64,
    }
}

/// kNN precision, recall and coverage of `a` against `b` with neighbourhood size `k`
/// (`1 <= k`, both samples need more than `k` rows).
pub fn knn_coverage(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    k: usize,
    cfg: &BootstrapConfig,
) -> Result<KnnCoverage> {
    if k == 0 {
        return Err(SimilarityError::InvalidConfig(
            "kNN neighbourhood size k must be at least 1".into(),
        ));
    }
    check_pair(a, b, k + 1)?;
    let (a, b) = (to_f64(a), to_f64(b));
    let ra = radii(&sq_dists(a.view(), a.view()), k);
    let rb = radii(&sq_dists(b.view(), b.view()), k);
    let dab = sq_dists(a.view(), b.view());
    // a_i inside some ball of b.
    let a_in_b: Vec<bool> = dab
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|row| row.iter().zip(rb.iter()).any(|(d, r)| d <= r))
        .collect();
    // b_j inside some ball of a; b_j's own ball holds some a_i.
    let (b_in_a, b_covered): (Vec<bool>, Vec<bool>) = dab
        .axis_iter(Axis(1))
        .into_par_iter()
        .enumerate()
        .map(|(j, col)| {
            let inside = col.iter().zip(ra.iter()).any(|(d, r)| d <= r);
            let covered = col.iter().any(|&d| d <= rb[j]);
            (inside, covered)
        })
        .unzip();
    let interval = |hits: &[bool]| {
        bootstrap(share(hits, None), cfg, |rng| {
            let idx = resample_indices(rng, hits.len());
            Some(share(hits, Some(&idx)))
        })
    };
    Ok(KnnCoverage {
        k,
        precision: interval(&a_in_b)?,
        recall: interval(&b_in_a)?,
        coverage: interval(&b_covered)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn hand_computed_example() {
        // a: three points near the origin; b: two near the origin, two far away.
        let a = array![[0.0f32, 0.0], [1.0, 0.0], [0.0, 1.0]];
        let b = array![[0.5f32, 0.5], [0.6, 0.4], [10.0, 10.0], [11.0, 10.0]];
        let none = BootstrapConfig {
            replicates: 0,
            ..Default::default()
        };
        let r = knn_coverage(a.view(), b.view(), 1, &none).unwrap();
        // b balls (k=1): (0.5,0.5)/(0.6,0.4) radius² 0.02; far pair radius² 1.
        // No a point is within 0.02 of the near pair: precision 0.
        assert_eq!(r.precision.estimate, 0.0);
        // a balls: radius² 1 for each. (0.5,0.5) and (0.6,0.4) are within 1 of (0,0): recall 2/4.
        assert_eq!(r.recall.estimate, 0.5);
        // No b ball holds an a point: coverage 0.
        assert_eq!(r.coverage.estimate, 0.0);
        let r2 = knn_coverage(a.view(), b.view(), 2, &none).unwrap();
        // b radii² with k=2: the near pair reach the far pair (180.5), so all of a is inside;
        // (10,10) has radius² 180.5 and the nearest a point is at 181: not covered;
        // (11,10) has radius² 200.32 and (1,0) is at 200: covered.
        assert_eq!(r2.precision.estimate, 1.0);
        assert_eq!(r2.coverage.estimate, 0.75);
    }

    #[test]
    fn k_must_fit_the_samples() {
        let a = array![[0.0f32], [1.0]];
        let b = array![[0.0f32], [1.0], [2.0]];
        let cfg = BootstrapConfig::default();
        assert!(matches!(
            knn_coverage(a.view(), b.view(), 2, &cfg),
            Err(SimilarityError::TooFewSamples {
                needed: 3,
                found: 2,
                ..
            })
        ));
        assert!(matches!(
            knn_coverage(a.view(), b.view(), 0, &cfg),
            Err(SimilarityError::InvalidConfig(_))
        ));
    }
}
