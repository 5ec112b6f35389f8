//! Dense helpers: parallel Gram matrices, squared distances, covariance, and the trace of a
//! matrix square root through symmetric eigendecompositions (nalgebra).

use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;

const BLOCK: usize = 64;

/// `a · bᵀ`, computed in row blocks in parallel.
pub(crate) fn gram(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    let bt = b.t();
    let blocks: Vec<Array2<f64>> = (0..a.nrows().div_ceil(BLOCK))
        .into_par_iter()
        .map(|c| {
            let end = ((c + 1) * BLOCK).min(a.nrows());
            a.slice(s![c * BLOCK..end, ..]).dot(&bt)
        })
        .collect();
    let views: Vec<_> = blocks.iter().map(|m| m.view()).collect();
    ndarray::concatenate(Axis(0), &views).unwrap_or_else(|_| Array2::zeros((0, b.nrows())))
}

/// Squared row norms.
pub(crate) fn sq_norms(a: ArrayView2<'_, f64>) -> Array1<f64> {
    a.outer_iter().map(|r| r.dot(&r)).collect()
}

/// Squared Euclidean distances between the rows of `a` and of `b` (clamped at zero).
pub(crate) fn sq_dists(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    let na = sq_norms(a);
    let nb = sq_norms(b);
    let mut g = gram(a, b);
    g.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(i, mut row)| {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (na[i] + nb[j] - 2.0 * *v).max(0.0);
            }
        });
    g
}

/// Row mean.
pub(crate) fn mean_row(a: ArrayView2<'_, f64>) -> Array1<f64> {
    let n = a.nrows().max(1) as f64;
    a.sum_axis(Axis(0)) / n
}

/// Sample covariance (denominator `n - 1`, as `numpy.cov`) and mean of the rows of `a`.
pub(crate) fn covariance(a: ArrayView2<'_, f64>) -> (Array1<f64>, Array2<f64>) {
    let mu = mean_row(a);
    let centred = &a - &mu;
    let n = a.nrows();
    let mut cov = gram(centred.t(), centred.t());
    cov /= (n.saturating_sub(1)).max(1) as f64;
    (mu, cov)
}

fn to_nalgebra(m: &Array2<f64>) -> nalgebra::DMatrix<f64> {
    let d = m.nrows();
    nalgebra::DMatrix::from_fn(d, d, |i, j| 0.5 * (m[[i, j]] + m[[j, i]]))
}

/// `tr((S_a^{1/2} S_b S_a^{1/2})^{1/2})` for symmetric positive semi-definite `S_a`, `S_b`:
/// the square root of `S_a` from its symmetric eigendecomposition, then the eigenvalues of the
/// symmetric product. Negative eigenvalues from rounding are treated as zero.
pub(crate) fn trace_sqrt_product(sa: &Array2<f64>, sb: &Array2<f64>) -> f64 {
    let a = to_nalgebra(sa);
    let b = to_nalgebra(sb);
    let eig = a.symmetric_eigen();
    let roots = eig.eigenvalues.map(|l| l.max(0.0).sqrt());
    let v = &eig.eigenvectors;
    let sqrt_a = v * nalgebra::DMatrix::from_diagonal(&roots) * v.transpose();
    let m = &sqrt_a * b * &sqrt_a;
    let m = (&m + m.transpose()) * 0.5;
    m.symmetric_eigenvalues()
        .iter()
        .map(|l| l.max(0.0).sqrt())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn gram_matches_dot() {
        let a = Array2::from_shape_fn((130, 5), |(i, j)| ((i * 7 + j * 3) % 11) as f64 - 5.0);
        let b = Array2::from_shape_fn((70, 5), |(i, j)| ((i * 5 + j) % 13) as f64 * 0.5);
        let g = gram(a.view(), b.view());
        let r = a.dot(&b.t());
        assert_eq!(g, r);
    }

    #[test]
    fn trace_sqrt_of_commuting_diagonals() {
        let a = array![[4.0, 0.0], [0.0, 9.0]];
        let b = array![[1.0, 0.0], [0.0, 4.0]];
        // sqrt(4*1) + sqrt(9*4) = 2 + 6
        assert!((trace_sqrt_product(&a, &b) - 8.0).abs() < 1e-10);
    }

    #[test]
    fn covariance_matches_the_textbook_formula() {
        let a = array![[1.0, 2.0], [3.0, 5.0], [5.0, 11.0]];
        let (mu, c) = covariance(a.view());
        assert_eq!(mu, array![3.0, 6.0]);
        assert!((c[[0, 0]] - 4.0).abs() < 1e-12);
        assert!((c[[0, 1]] - 9.0).abs() < 1e-12);
        assert!((c[[1, 1]] - 21.0).abs() < 1e-12);
    }
}
