//! Maximum mean discrepancy with an RBF kernel.
//!
//! `k(x, y) = exp(-‖x − y‖² / (2σ²))` with σ the median pairwise Euclidean distance of the
//! pooled sample (the median heuristic), and the unbiased estimate
//!
//! `MMD²_u = 1/(n(n−1)) Σ_{i≠j} k(a_i, a_j) + 1/(m(m−1)) Σ_{i≠j} k(b_i, b_j) − 2/(nm) Σ k(a_i, b_j)`
//!
//! (Gretton et al., 2012). Its expectation is zero when both samples come from one
//! distribution, so it can be slightly negative. A sample against itself gives
//! `2/n · (mean off-diagonal kernel − 1) ≤ 0`.

use super::bootstrap::{bootstrap, resample_counts, BootstrapConfig, Interval};
use super::check::{check_pair, to_f64};
use super::linalg::sq_dists;
use crate::error::Result;
use ndarray::{concatenate, s, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// An MMD² estimate with its interval and kernel bandwidth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mmd {
    /// Unbiased MMD² with a bootstrap interval.
    pub mmd2: Interval,
    /// The RBF bandwidth σ (median pairwise distance of the pooled sample).
    pub bandwidth: f64,
}

/// The median of the pairwise distances `i < j` (lower median), given squared distances.
fn median_distance(d2: &Array2<f64>) -> f64 {
    let n = d2.nrows();
    let mut v: Vec<f64> = Vec::with_capacity(n * (n.saturating_sub(1)) / 2);
    for i in 0..n {
        v.extend(d2.slice(s![i, i + 1..]).iter().copied());
    }
    if v.is_empty() {
        return 0.0;
    }
    let mid = (v.len() - 1) / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    m.sqrt()
}

/// `Σ_{i≠j} w_i w_j K_ij / Σ_{i≠j} w_i w_j`: the within-sample kernel mean over distinct
/// original items, for resample weights `w` (all ones on the original sample).
fn within_mean(k: ArrayView2<'_, f64>, w: &[f64]) -> f64 {
    let quad: f64 = k
        .outer_iter()
        .into_par_iter()
        .zip(w.par_iter())
        .map(|(row, &wi)| {
            if wi == 0.0 {
                return 0.0;
            }
            let mut s = 0.0;
            for (kij, &wj) in row.iter().zip(w) {
                s += kij * wj;
            }
            wi * s
        })
        .sum();
    let diag: f64 = w
        .iter()
        .enumerate()
        .map(|(i, &wi)| wi * wi * k[[i, i]])
        .sum();
    let total: f64 = w.iter().sum();
    let sq: f64 = w.iter().map(|x| x * x).sum();
    (quad - diag) / (total * total - sq)
}

fn cross_mean(k: ArrayView2<'_, f64>, wa: &[f64], wb: &[f64]) -> f64 {
    let quad: f64 = k
        .outer_iter()
        .into_par_iter()
        .zip(wa.par_iter())
        .map(|(row, &wi)| {
            if wi == 0.0 {
                return 0.0;
            }
            wi * row.iter().zip(wb).map(|(kij, &wj)| kij * wj).sum::<f64>()
        })
        .sum();
    quad / (wa.iter().sum::<f64>() * wb.iter().sum::<f64>())
}

/// The RBF kernel matrix of the pooled sample and its bandwidth.
fn pooled_kernel(a: &Array2<f64>, b: &Array2<f64>) -> (Array2<f64>, f64) {
    let z = concatenate(Axis(0), &[a.view(), b.view()])
        .unwrap_or_else(|_| Array2::zeros((0, a.ncols())));
    let mut k = sq_dists(z.view(), z.view());
    let mut sigma = median_distance(&k);
    if sigma.is_nan() || sigma <= 0.0 {
        // Every pooled pair coincides (or nearly): any bandwidth gives the same kernel.
        sigma = 1.0;
    }
    let gamma = 1.0 / (2.0 * sigma * sigma);
    k.par_mapv_inplace(|d2| (-gamma * d2).exp());
    (k, sigma)
}

/// Unbiased MMD² between `a` and `b` (each at least 2 rows).
pub fn mmd2_unbiased(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Result<Mmd> {
    mmd2_unbiased_ci(
        a,
        b,
        &BootstrapConfig {
            replicates: 0,
            ..Default::default()
        },
    )
}

/// [`mmd2_unbiased`] with a bootstrap interval. The bandwidth stays the full sample's; each
/// resample reweights the kernel sums, leaving out pairs of copies of one item.
pub fn mmd2_unbiased_ci(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    cfg: &BootstrapConfig,
) -> Result<Mmd> {
    check_pair(a, b, 2)?;
    let (a, b) = (to_f64(a), to_f64(b));
    let (n, m) = (a.nrows(), b.nrows());
    let (k, bandwidth) = pooled_kernel(&a, &b);
    let kaa = k.slice(s![..n, ..n]);
    let kbb = k.slice(s![n.., n..]);
    let kab = k.slice(s![..n, n..]);
    let value = |wa: &[f64], wb: &[f64]| {
        within_mean(kaa, wa) + within_mean(kbb, wb) - 2.0 * cross_mean(kab, wa, wb)
    };
    let estimate = value(&vec![1.0; n], &vec![1.0; m]);
    let mmd2 = bootstrap(estimate, cfg, |rng| {
        let wa = resample_counts(rng, n);
        let wb = resample_counts(rng, m);
        // A resample made of one item repeated has no distinct pairs.
        if wa.iter().filter(|&&c| c > 0.0).count() < 2
            || wb.iter().filter(|&&c| c > 0.0).count() < 2
        {
            return None;
        }
        Some(value(&wa, &wb))
    })?;
    Ok(Mmd { mmd2, bandwidth })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// The textbook double loop.
    fn naive(a: &Array2<f32>, b: &Array2<f32>, sigma: f64) -> f64 {
        let k = |x: ndarray::ArrayView1<f32>, y: ndarray::ArrayView1<f32>| {
            let d2: f64 = x.iter().zip(y).map(|(p, q)| ((p - q) as f64).powi(2)).sum();
            (-d2 / (2.0 * sigma * sigma)).exp()
        };
        let (n, m) = (a.nrows(), b.nrows());
        let mut xx = 0.0;
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    xx += k(a.row(i), a.row(j));
                }
            }
        }
        let mut yy = 0.0;
        for i in 0..m {
            for j in 0..m {
                if i != j {
                    yy += k(b.row(i), b.row(j));
                }
            }
        }
        let mut xy = 0.0;
        for i in 0..n {
            for j in 0..m {
                xy += k(a.row(i), b.row(j));
            }
        }
        xx / (n * (n - 1)) as f64 + yy / (m * (m - 1)) as f64 - 2.0 * xy / (n * m) as f64
    }

    #[test]
    fn matches_the_double_loop_and_the_median_heuristic() {
        let a = array![[0.0f32, 0.0], [1.0, 0.0], [0.0, 2.0]];
        let b = array![[3.0f32, 1.0], [2.0, 2.0], [4.0, 0.5], [1.0, 1.0]];
        let r = mmd2_unbiased(a.view(), b.view()).unwrap();
        // Pooled distances (21 pairs); the lower median is the 11th smallest.
        let z: Vec<_> = a.outer_iter().chain(b.outer_iter()).collect();
        let mut d: Vec<f64> = Vec::new();
        for i in 0..z.len() {
            for j in i + 1..z.len() {
                let d2: f32 = z[i].iter().zip(z[j]).map(|(p, q)| (p - q) * (p - q)).sum();
                d.push((d2 as f64).sqrt());
            }
        }
        d.sort_by(f64::total_cmp);
        assert!((r.bandwidth - d[10]).abs() < 1e-12);
        let want = naive(&a, &b, r.bandwidth);
        assert!(
            (r.mmd2.estimate - want).abs() < 1e-12,
            "{} vs {want}",
            r.mmd2.estimate
        );
        assert!(r.mmd2.estimate > 0.0);
    }

    #[test]
    fn too_few_rows_is_a_typed_error() {
        let a = array![[0.0f32, 0.0]];
        let b = array![[1.0f32, 0.0], [0.0, 1.0]];
        assert!(matches!(
            mmd2_unbiased(a.view(), b.view()),
            Err(crate::SimilarityError::TooFewSamples {
                needed: 2,
                found: 1,
                ..
            })
        ));
    }
}
