//! Fréchet distance between Gaussian fits of two embedding samples (as FID/FED):
//!
//! `‖μ_a − μ_b‖² + tr Σ_a + tr Σ_b − 2 tr((Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2})`
//!
//! with sample covariances (denominator `n − 1`). The matrix square roots come from symmetric
//! eigendecompositions, so singular covariances (fewer rows than dimensions) are fine. The
//! value is the squared 2-Wasserstein distance between the Gaussians: never negative, zero for
//! a sample against itself.

use super::bootstrap::{bootstrap, resample_indices, BootstrapConfig, Interval};
use super::check::{check_pair, to_f64};
use super::linalg::{covariance, trace_sqrt_product};
use crate::error::Result;
use ndarray::{Array1, Array2, ArrayView2, Axis};

struct Gaussian {
    mean: Array1<f64>,
    cov: Array2<f64>,
}

fn fit(x: ArrayView2<'_, f64>) -> Gaussian {
    let (mean, cov) = covariance(x);
    Gaussian { mean, cov }
}

fn distance(a: &Gaussian, b: &Gaussian) -> f64 {
    let diff = &a.mean - &b.mean;
    let tr_a: f64 = a.cov.diag().sum();
    let tr_b: f64 = b.cov.diag().sum();
    let cross = trace_sqrt_product(&a.cov, &b.cov);
    (diff.dot(&diff) + tr_a + tr_b - 2.0 * cross).max(0.0)
}

/// Fréchet distance between Gaussian fits of `a` and `b` (each at least 2 rows).
pub fn frechet_distance(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Result<f64> {
    Ok(frechet_distance_ci(
        a,
        b,
        &BootstrapConfig {
            replicates: 0,
            ..Default::default()
        },
    )?
    .estimate)
}

/// [`frechet_distance`] with a bootstrap interval (both samples resampled independently; each
/// replicate refits both Gaussians, so this costs two eigendecompositions per replicate).
pub fn frechet_distance_ci(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    cfg: &BootstrapConfig,
) -> Result<Interval> {
    check_pair(a, b, 2)?;
    let (a, b) = (to_f64(a), to_f64(b));
    let estimate = distance(&fit(a.view()), &fit(b.view()));
    let percentile = bootstrap(estimate, cfg, |rng| {
        let ia = resample_indices(rng, a.nrows());
        let ib = resample_indices(rng, b.nrows());
        let ra = a.select(Axis(0), &ia);
        let rb = b.select(Axis(0), &ib);
        Some(distance(&fit(ra.view()), &fit(rb.view())))
    })?;
    Ok(basic_interval(percentile))
}

/// Resampling with replacement duplicates rows, which shrinks the fitted covariances' rank and
/// inflates the Fréchet distance: the percentile interval sits above the estimate. The basic
/// (reverse-percentile) bootstrap interval `[2θ̂ − q_hi, 2θ̂ − q_lo]` corrects that additive
/// bias to first order; a distance is never negative, so the bounds are clamped at 0.
fn basic_interval(p: Interval) -> Interval {
    Interval {
        low: (2.0 * p.estimate - p.high).max(0.0),
        high: (2.0 * p.estimate - p.low).max(0.0),
        ..p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn basic_interval_reflects_a_biased_bootstrap_around_the_estimate() {
        let p = Interval {
            estimate: 1.2,
            low: 1.4,
            high: 1.5,
            level: 0.95,
            replicates: 100,
        };
        let b = basic_interval(p);
        assert!((b.low - 0.9).abs() < 1e-12 && (b.high - 1.0).abs() < 1e-12);
        let wide = basic_interval(Interval {
            low: 0.1,
            high: 3.0,
            ..p
        });
        assert_eq!(wide.low, 0.0);
        assert!((wide.high - 2.3).abs() < 1e-12);
    }

    #[test]
    fn one_dimensional_gaussians() {
        // 1-D: (μa − μb)² + (σa − σb)².
        let a = array![[0.0f32], [2.0], [4.0]]; // mean 2, var 4
        let b = array![[10.0f32], [11.0], [12.0]]; // mean 11, var 1
        let d = frechet_distance(a.view(), b.view()).unwrap();
        assert!((d - (81.0 + 1.0)).abs() < 1e-9, "{d}");
    }

    #[test]
    fn diagonal_covariances() {
        // Independent coordinates: the distance adds up per coordinate.
        let a = array![[1.0f32, 0.0], [-1.0, 0.0], [0.0, 3.0], [0.0, -3.0]];
        let b = array![[5.0f32, 1.0], [3.0, 1.0], [4.0, 2.0], [4.0, 0.0]];
        // a: mean (0,0), var (2/3, 6); b: mean (4,1), var (2/3, 2/3).
        let want = 16.0 + 1.0 + (6.0f64.sqrt() - (2.0f64 / 3.0).sqrt()).powi(2);
        let d = frechet_distance(a.view(), b.view()).unwrap();
        assert!((d - want).abs() < 1e-9, "{d} vs {want}");
    }
}
