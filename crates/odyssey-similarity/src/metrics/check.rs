//! Input checks shared by the metrics: non-empty, same width, finite.

use crate::error::{Result, SimilarityError};
use ndarray::{Array2, ArrayView2};

/// Check one embedding sample: at least `needed` rows, at least one column, finite values.
pub(crate) fn check_sample(x: ArrayView2<'_, f32>, what: &str, needed: usize) -> Result<()> {
    if x.nrows() == 0 {
        return Err(SimilarityError::EmptySample {
            what: what.into(),
            needed,
        });
    }
    if x.nrows() < needed {
        return Err(SimilarityError::TooFewSamples {
            what: what.into(),
            needed,
            found: x.nrows(),
        });
    }
    if x.ncols() == 0 {
        return Err(SimilarityError::EmptySample {
            what: format!("{what} (zero-width embeddings)"),
            needed: 1,
        });
    }
    for (row, r) in x.outer_iter().enumerate() {
        if let Some(col) = r.iter().position(|v| !v.is_finite()) {
            return Err(SimilarityError::NonFinite {
                what: what.into(),
                row,
                col,
            });
        }
    }
    Ok(())
}

/// Check a pair of samples (see [`check_sample`]) and that their widths agree.
pub(crate) fn check_pair(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    needed: usize,
) -> Result<()> {
    check_sample(a, "sample a", needed)?;
    check_sample(b, "sample b", needed)?;
    if a.ncols() != b.ncols() {
        return Err(SimilarityError::DimensionMismatch {
            what: "embedding width of sample b against sample a".into(),
            expected: a.ncols(),
            found: b.ncols(),
        });
    }
    Ok(())
}

/// Widen to f64 (all statistics accumulate in f64).
pub(crate) fn to_f64(x: ArrayView2<'_, f32>) -> Array2<f64> {
    x.mapv(f64::from)
}
