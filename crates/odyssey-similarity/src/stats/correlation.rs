//! Pearson, Spearman and Kendall (tau-b) correlation coefficients, as scipy.stats computes them.

use super::rank::average_ranks;
use crate::error::{Result, SimilarityError};
use serde::{Deserialize, Serialize};

/// A correlation coefficient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CorrelationMethod {
    /// Linear correlation.
    Pearson,
    /// Pearson correlation of average ranks.
    Spearman,
    /// Kendall's tau-b (adjusted for ties).
    Kendall,
}

impl CorrelationMethod {
    /// All methods.
    pub const ALL: [CorrelationMethod; 3] = [
        CorrelationMethod::Pearson,
        CorrelationMethod::Spearman,
        CorrelationMethod::Kendall,
    ];

    /// The coefficient of `x` and `y` (checked: equal lengths, at least 2 pairs, finite,
    /// neither constant).
    pub fn compute(self, x: &[f64], y: &[f64]) -> Result<f64> {
        check_pairs(x, y)?;
        self.compute_unchecked(x, y)
            .ok_or_else(|| SimilarityError::ConstantInput {
                what: "x or y".into(),
            })
    }

    /// The coefficient without input checks; `None` when undefined (a constant input).
    pub(crate) fn compute_unchecked(self, x: &[f64], y: &[f64]) -> Option<f64> {
        match self {
            CorrelationMethod::Pearson => pearson_raw(x, y),
            CorrelationMethod::Spearman => pearson_raw(&average_ranks(x), &average_ranks(y)),
            CorrelationMethod::Kendall => kendall_raw(x, y),
        }
    }
}

impl std::fmt::Display for CorrelationMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CorrelationMethod::Pearson => "pearson",
            CorrelationMethod::Spearman => "spearman",
            CorrelationMethod::Kendall => "kendall",
        })
    }
}

/// Check paired observations: same length, at least two pairs, finite values, neither side
/// constant.
pub(crate) fn check_pairs(x: &[f64], y: &[f64]) -> Result<()> {
    if x.len() != y.len() {
        return Err(SimilarityError::DimensionMismatch {
            what: "paired observations (length of y against x)".into(),
            expected: x.len(),
            found: y.len(),
        });
    }
    if x.is_empty() {
        return Err(SimilarityError::EmptySample {
            what: "paired observations".into(),
            needed: 2,
        });
    }
    if x.len() < 2 {
        return Err(SimilarityError::TooFewSamples {
            what: "paired observations".into(),
            needed: 2,
            found: x.len(),
        });
    }
    for (name, v) in [("x", x), ("y", y)] {
        if let Some(i) = v.iter().position(|a| !a.is_finite()) {
            return Err(SimilarityError::NonFinite {
                what: name.into(),
                row: i,
                col: 0,
            });
        }
        if v.iter().all(|&a| a == v[0]) {
            return Err(SimilarityError::ConstantInput { what: name.into() });
        }
    }
    Ok(())
}

fn pearson_raw(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    Some((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// Kendall's tau-b over all pairs: `(C − D) / sqrt((n0 − n1)(n0 − n2))` with `n1`, `n2` the
/// pairs tied in x and in y. O(n²), meant for study-sized inputs (domains, runs).
fn kendall_raw(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    let (mut s, mut tx, mut ty) = (0i64, 0i64, 0i64);
    let mut total = 0i64;
    for i in 0..n {
        for j in i + 1..n {
            let dx = (x[i] - x[j])
                .partial_cmp(&0.0)
                .map(|o| o as i64)
                .unwrap_or(0);
            let dy = (y[i] - y[j])
                .partial_cmp(&0.0)
                .map(|o| o as i64)
                .unwrap_or(0);
            total += 1;
            if dx == 0 {
                tx += 1;
            }
            if dy == 0 {
                ty += 1;
            }
            s += dx * dy;
        }
    }
    let denom = (((total - tx) as f64) * ((total - ty) as f64)).sqrt();
    if denom == 0.0 {
        return None;
    }
    Some((s as f64 / denom).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_reversed_orders() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [10.0, 20.0, 30.0, 40.0];
        let r: Vec<f64> = y.iter().rev().copied().collect();
        for m in CorrelationMethod::ALL {
            assert!((m.compute(&x, &y).unwrap() - 1.0).abs() < 1e-12);
            assert!((m.compute(&x, &r).unwrap() + 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let m = CorrelationMethod::Pearson;
        assert!(matches!(
            m.compute(&[1.0, 2.0], &[1.0]),
            Err(SimilarityError::DimensionMismatch { .. })
        ));
        assert!(matches!(
            m.compute(&[], &[]),
            Err(SimilarityError::EmptySample { .. })
        ));
        assert!(matches!(
            m.compute(&[1.0], &[1.0]),
            Err(SimilarityError::TooFewSamples { .. })
        ));
        assert!(matches!(
            m.compute(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]),
            Err(SimilarityError::ConstantInput { .. })
        ));
        assert!(matches!(
            m.compute(&[1.0, f64::NAN], &[1.0, 2.0]),
            Err(SimilarityError::NonFinite { .. })
        ));
    }
}
