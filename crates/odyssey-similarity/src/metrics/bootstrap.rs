//! Seeded percentile bootstrap.
//!
//! Replicate `r` draws from a ChaCha8 generator seeded with the run's seed on stream `r`, so
//! the intervals are identical whatever the number of threads.

use crate::error::{Result, SimilarityError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A point estimate with a percentile bootstrap confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The statistic on the full sample.
    pub estimate: f64,
    /// Lower bound of the interval.
    pub low: f64,
    /// Upper bound of the interval.
    pub high: f64,
    /// Confidence level, e.g. 0.95.
    pub level: f64,
    /// Bootstrap replicates that produced a value.
    pub replicates: usize,
}

impl Interval {
    /// An interval with no bootstrap (zero replicates): both bounds equal the estimate.
    pub fn point(estimate: f64, level: f64) -> Self {
        Interval {
            estimate,
            low: estimate,
            high: estimate,
            level,
            replicates: 0,
        }
    }

    /// Whether `v` lies within `[low, high]`.
    pub fn contains(&self, v: f64) -> bool {
        self.low <= v && v <= self.high
    }
}

/// Bootstrap settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// Number of resamples (0 = no interval).
    pub replicates: usize,
    /// Confidence level in (0, 1).
    pub level: f64,
    /// Seed of the resampling.
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig {
            replicates: 200,
            level: 0.95,
            seed: 0,
        }
    }
}

impl BootstrapConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(SimilarityError::InvalidConfig(format!(
                "confidence level {} is not in (0, 1)",
                self.level
            )));
        }
        Ok(())
    }
}

/// The generator of replicate `r`.
pub(crate) fn replicate_rng(seed: u64, r: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(r as u64 + 1);
    rng
}

/// Counts of each index in a resample of size `n` with replacement from `0..n`.
pub(crate) fn resample_counts(rng: &mut impl Rng, n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n];
    for _ in 0..n {
        c[rng.gen_range(0..n)] += 1.0;
    }
    c
}

/// Indices of a resample of size `n` with replacement from `0..n`.
pub(crate) fn resample_indices(rng: &mut impl Rng, n: usize) -> Vec<usize> {
    (0..n).map(|_| rng.gen_range(0..n)).collect()
}

/// Percentile `q` in [0, 1] of sorted values, with linear interpolation (numpy's default).
pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Run `stat` on `cfg.replicates` resamples (in parallel) and wrap `estimate` with the
/// percentile interval. `stat` returns `None` for a degenerate resample, which is skipped;
/// if more than half are degenerate the interval is undefined.
pub(crate) fn bootstrap<F>(estimate: f64, cfg: &BootstrapConfig, stat: F) -> Result<Interval>
where
    F: Fn(&mut ChaCha8Rng) -> Option<f64> + Sync,
{
    cfg.validate()?;
    if cfg.replicates == 0 {
        return Ok(Interval::point(estimate, cfg.level));
    }
    let mut values: Vec<f64> = (0..cfg.replicates)
        .into_par_iter()
        .filter_map(|r| stat(&mut replicate_rng(cfg.seed, r)))
        .filter(|v| v.is_finite())
        .collect();
    if values.len() * 2 < cfg.replicates {
        return Err(SimilarityError::Undefined(format!(
            "only {} of {} bootstrap resamples gave a value",
            values.len(),
            cfg.replicates
        )));
    }
    values.sort_by(f64::total_cmp);
    let alpha = (1.0 - cfg.level) / 2.0;
    Ok(Interval {
        estimate,
        low: percentile(&values, alpha),
        high: percentile(&values, 1.0 - alpha),
        level: cfg.level,
        replicates: values.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 1.0), 4.0);
        assert!((percentile(&v, 0.5) - 2.5).abs() < 1e-12);
        assert!((percentile(&v, 0.025) - 1.075).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_is_deterministic_and_covers_the_mean() {
        let data: Vec<f64> = (0..200).map(|i| ((i * 37) % 101) as f64).collect();
        let mean = data.iter().sum::<f64>() / data.len() as f64;
        let cfg = BootstrapConfig {
            replicates: 300,
            level: 0.9,
            seed: 7,
        };
        let stat = |rng: &mut ChaCha8Rng| {
            let idx = resample_indices(rng, data.len());
            Some(idx.iter().map(|&i| data[i]).sum::<f64>() / data.len() as f64)
        };
        let a = bootstrap(mean, &cfg, stat).unwrap();
        let b = bootstrap(mean, &cfg, stat).unwrap();
        assert_eq!(a, b);
        assert!(a.low < mean && mean < a.high, "{a:?}");
        // The standard error of the mean is about 29/sqrt(200) ≈ 2.1; a 90 % interval spans
        // about 2 × 1.645 × 2.1 ≈ 6.9.
        let width = a.high - a.low;
        assert!(width > 4.0 && width < 10.0, "{width}");
        let other = bootstrap(mean, &BootstrapConfig { seed: 8, ..cfg }, stat).unwrap();
        assert_ne!(a, other);
    }

    #[test]
    fn bad_level_is_rejected() {
        let cfg = BootstrapConfig {
            level: 1.5,
            ..Default::default()
        };
        assert!(matches!(
            bootstrap(0.0, &cfg, |_| Some(0.0)),
            Err(SimilarityError::InvalidConfig(_))
        ));
    }
}
