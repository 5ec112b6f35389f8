//! Bootstrap intervals and permutation p-values for correlations.

use super::correlation::{check_pairs, CorrelationMethod};
use crate::error::Result;
use crate::metrics::bootstrap::{
    bootstrap, replicate_rng, resample_indices, BootstrapConfig, Interval,
};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Settings of [`correlation_test`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InferenceConfig {
    /// Bootstrap resamples of the pairs (0 = no interval).
    pub bootstrap_replicates: usize,
    /// Random permutations of `y` for the p-value (0 = no p-value).
    pub permutations: usize,
    /// Confidence level of the interval.
    pub level: f64,
    /// Seed of both.
    pub seed: u64,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        InferenceConfig {
            bootstrap_replicates: 2000,
            permutations: 10_000,
            level: 0.95,
            seed: 0,
        }
    }
}

/// A correlation with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CorrelationTest {
    /// Which coefficient.
    pub method: CorrelationMethod,
    /// Number of pairs.
    pub n: usize,
    /// Coefficient with a percentile bootstrap interval over resampled pairs (resamples where
    /// a side is constant are skipped).
    pub coefficient: Interval,
    /// Two-sided permutation p-value `(1 + #{|r_perm| ≥ |r|}) / (1 + permutations)`;
    /// `None` when no permutations were asked for.
    pub p_value: Option<f64>,
    /// Permutations used.
    pub permutations: usize,
}

/// Compute `method` on the pairs `(x[i], y[i])` with a bootstrap interval and a two-sided
/// permutation p-value (`y` shuffled against `x`), both seeded.
pub fn correlation_test(
    method: CorrelationMethod,
    x: &[f64],
    y: &[f64],
    config: &InferenceConfig,
) -> Result<CorrelationTest> {
    check_pairs(x, y)?;
    let r = method.compute(x, y)?;
    let boot = BootstrapConfig {
        replicates: config.bootstrap_replicates,
        level: config.level,
        seed: config.seed,
    };
    let coefficient = bootstrap(r, &boot, |rng| {
        let idx = resample_indices(rng, x.len());
        let xs: Vec<f64> = idx.iter().map(|&i| x[i]).collect();
        let ys: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
        method.compute_unchecked(&xs, &ys)
    })?;
    let p_value = if config.permutations == 0 {
        None
    } else {
        // Guard against rounding making an identical statistic look smaller.
        let threshold = r.abs() * (1.0 - 1e-12) - 1e-15;
        let per_chunk = 256;
        let chunks = config.permutations.div_ceil(per_chunk);
        let hits: usize = (0..chunks)
            .into_par_iter()
            .map(|c| {
                // Permutation streams sit after the bootstrap's.
                let mut rng = replicate_rng(config.seed ^ 0x9e37_79b9_7f4a_7c15, c);
                let mut ys = y.to_vec();
                let count = per_chunk.min(config.permutations - c * per_chunk);
                (0..count)
                    .filter(|_| {
                        ys.shuffle(&mut rng);
                        method
                            .compute_unchecked(x, &ys)
                            .is_some_and(|v| v.abs() >= threshold)
                    })
                    .count()
            })
            .sum();
        Some((1 + hits) as f64 / (1 + config.permutations) as f64)
    };
    Ok(CorrelationTest {
        method,
        n: x.len(),
        coefficient,
        p_value,
        permutations: config.permutations,
    })
}

/// All three coefficients of the same pairs.
pub fn correlation_tests(
    x: &[f64],
    y: &[f64],
    config: &InferenceConfig,
) -> Result<Vec<CorrelationTest>> {
    CorrelationMethod::ALL
        .iter()
        .map(|&m| correlation_test(m, x, y, config))
        .collect()
}
