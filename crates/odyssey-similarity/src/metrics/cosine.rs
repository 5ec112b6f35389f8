//! Cosine measures between two embedding samples.
//!
//! - **Centroid cosine**: the cosine between the two mean embeddings, the measure of
//!   "Adaptation Odyssey in LLMs" (Öncel et al., 2024). A sample against itself gives 1.
//! - **Mean pairwise cosine**: the mean of `cos(a_i, b_j)` over all pairs, which equals the dot
//!   product of the means of the unit-normalised rows.

use super::bootstrap::{bootstrap, resample_counts, BootstrapConfig, Interval};
use super::check::{check_pair, to_f64};
use crate::error::{Result, SimilarityError};
use ndarray::{Array1, Array2, ArrayView2, Axis};

fn cosine(u: &Array1<f64>, v: &Array1<f64>) -> Option<f64> {
    let nu = u.dot(u).sqrt();
    let nv = v.dot(v).sqrt();
    if nu == 0.0 || nv == 0.0 {
        return None;
    }
    Some((u.dot(v) / (nu * nv)).clamp(-1.0, 1.0))
}

fn weighted_mean(x: &Array2<f64>, counts: &[f64]) -> Array1<f64> {
    let n: f64 = counts.iter().sum();
    let w = Array1::from(counts.to_vec());
    w.dot(x) / n
}

fn unit_rows(x: &Array2<f64>, what: &str) -> Result<Array2<f64>> {
    let mut out = x.clone();
    for (i, mut r) in out.axis_iter_mut(Axis(0)).enumerate() {
        let n = r.dot(&r).sqrt();
        if n == 0.0 {
            return Err(SimilarityError::Undefined(format!(
                "row {i} of {what} is a zero vector, which has no direction"
            )));
        }
        r /= n;
    }
    Ok(out)
}

/// Cosine between the centroids of `a` and `b`.
pub fn centroid_cosine(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Result<f64> {
    Ok(centroid_cosine_ci(
        a,
        b,
        &BootstrapConfig {
            replicates: 0,
            ..Default::default()
        },
    )?
    .estimate)
}

/// [`centroid_cosine`] with a bootstrap interval (both samples resampled independently).
pub fn centroid_cosine_ci(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    cfg: &BootstrapConfig,
) -> Result<Interval> {
    check_pair(a, b, 1)?;
    let (a, b) = (to_f64(a), to_f64(b));
    let ca = a
        .mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(a.ncols()));
    let cb = b
        .mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(b.ncols()));
    let estimate = cosine(&ca, &cb).ok_or_else(|| {
        SimilarityError::Undefined("a sample's centroid is the zero vector".into())
    })?;
    bootstrap(estimate, cfg, |rng| {
        let wa = resample_counts(rng, a.nrows());
        let wb = resample_counts(rng, b.nrows());
        cosine(&weighted_mean(&a, &wa), &weighted_mean(&b, &wb))
    })
}

/// Mean cosine similarity over all pairs `(a_i, b_j)`. Rows must be non-zero.
pub fn mean_pairwise_cosine(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Result<f64> {
    Ok(mean_pairwise_cosine_ci(
        a,
        b,
        &BootstrapConfig {
            replicates: 0,
            ..Default::default()
        },
    )?
    .estimate)
}

/// [`mean_pairwise_cosine`] with a bootstrap interval.
pub fn mean_pairwise_cosine_ci(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    cfg: &BootstrapConfig,
) -> Result<Interval> {
    check_pair(a, b, 1)?;
    let ua = unit_rows(&to_f64(a), "sample a")?;
    let ub = unit_rows(&to_f64(b), "sample b")?;
    let ones_a = vec![1.0; ua.nrows()];
    let ones_b = vec![1.0; ub.nrows()];
    let estimate = weighted_mean(&ua, &ones_a).dot(&weighted_mean(&ub, &ones_b));
    bootstrap(estimate, cfg, |rng| {
        let wa = resample_counts(rng, ua.nrows());
        let wb = resample_counts(rng, ub.nrows());
        Some(weighted_mean(&ua, &wa).dot(&weighted_mean(&ub, &wb)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn centroid_cosine_of_known_vectors() {
        let a = array![[1.0f32, 0.0], [1.0, 0.0]];
        let b = array![[0.0f32, 1.0], [1.0, 1.0]];
        // centroids (1, 0) and (0.5, 1): cos = 0.5 / sqrt(1.25)
        let c = centroid_cosine(a.view(), b.view()).unwrap();
        assert!((c - 0.5 / 1.25f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn mean_pairwise_cosine_equals_the_double_loop() {
        let a = array![[1.0f32, 2.0, 0.5], [-1.0, 0.3, 2.0], [0.2, 0.2, 0.1]];
        let b = array![[0.5f32, -1.0, 1.0], [3.0, 1.0, 0.0]];
        let mut s = 0.0;
        for x in a.outer_iter() {
            for y in b.outer_iter() {
                let x = x.mapv(f64::from);
                let y = y.mapv(f64::from);
                s += x.dot(&y) / (x.dot(&x).sqrt() * y.dot(&y).sqrt());
            }
        }
        let want = s / 6.0;
        let got = mean_pairwise_cosine(a.view(), b.view()).unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn zero_rows_and_zero_centroids_are_undefined() {
        let a = array![[1.0f32, 0.0], [-1.0, 0.0]];
        let b = array![[0.0f32, 1.0]];
        assert!(matches!(
            centroid_cosine(a.view(), b.view()),
            Err(SimilarityError::Undefined(_))
        ));
        let z = array![[0.0f32, 0.0]];
        assert!(matches!(
            mean_pairwise_cosine(z.view(), b.view()),
            Err(SimilarityError::Undefined(_))
        ));
    }
}
