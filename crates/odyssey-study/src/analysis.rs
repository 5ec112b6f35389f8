//! Across domains: Δ perplexity against similarity, with Pearson, Spearman and Kendall, their
//! bootstrap intervals and permutation p-values (`odyssey-similarity`), and a least-squares fit.

use crate::config::StudyConfig;
use crate::domain::{DomainResult, Estimate};
use crate::error::{Result, StudyError};
use crate::plots::least_squares;
use crate::summary::{Correlation, CorrelationRecord};
use odyssey_similarity::stats::{correlation_test, CorrelationMethod, InferenceConfig};

/// Fewest domains for a correlation.
pub const MIN_DOMAINS: usize = 3;

type Measure = (&'static str, fn(&DomainResult) -> Option<f64>);

/// The similarity measures correlated with Δppl %, the paper's (centroid cosine) first. The
/// last two need no pretraining corpus at all: they are measured from the base model itself
/// (its own embeddings of the two samples, and how well it already predicts the domain).
pub const MEASURES: [Measure; 7] = [
    ("centroid cosine", |d| {
        Some(d.similarity.centroid_cosine.value)
    }),
    ("mean pairwise cosine", |d| {
        d.similarity.mean_pairwise_cosine.map(|e| e.value)
    }),
    ("MMD² (a distance)", |d| d.similarity.mmd2.map(|e| e.value)),
    ("unigram vocabulary overlap", |d| {
        d.similarity.unigram_overlap
    }),
    ("token weighted Jaccard", |d| d.similarity.weighted_jaccard),
    ("model centroid cosine (base model's own embeddings)", |d| {
        d.similarity.model_centroid_cosine.map(|e| e.value)
    }),
    ("base bits per byte on the test split (a distance)", |d| {
        Some(d.base.bits_per_byte)
    }),
];

/// Correlations of Δppl % with each similarity measure that every domain has (none with fewer
/// than [`MIN_DOMAINS`] domains). A measure that is constant across domains is left out.
pub fn correlations(
    domains: &[DomainResult],
    config: &StudyConfig,
) -> Result<Vec<CorrelationRecord>> {
    let ys: Vec<f64> = domains.iter().map(|d| d.delta_ppl_pct()).collect();
    correlate(domains, &ys, config)
}

/// Correlations of each domain's change *beyond the control arm* (its Δppl % minus the
/// control's on the same test tokens, in points: the negative of its own effect) with each
/// similarity measure; empty without a control arm or with fewer than [`MIN_DOMAINS`] domains.
/// The paper's finding reads here as a positive correlation: the more similar a domain, the
/// less its own text does beyond generic text.
pub fn own_effect_correlations(
    domains: &[DomainResult],
    config: &StudyConfig,
) -> Result<Vec<CorrelationRecord>> {
    let Some(ys) = domains
        .iter()
        .map(|d| d.control.map(|c| -c.own_effect_pp))
        .collect::<Option<Vec<f64>>>()
    else {
        return Ok(Vec::new());
    };
    correlate(domains, &ys, config)
}

fn correlate(
    domains: &[DomainResult],
    ys: &[f64],
    config: &StudyConfig,
) -> Result<Vec<CorrelationRecord>> {
    if domains.len() < MIN_DOMAINS {
        return Ok(Vec::new());
    }
    let ys = ys.to_vec();
    let inference = InferenceConfig {
        bootstrap_replicates: 2000,
        permutations: 10_000,
        level: 0.95,
        seed: config.seed,
    };
    let mut out = Vec::new();
    for (name, get) in MEASURES {
        let Some(xs) = domains.iter().map(get).collect::<Option<Vec<f64>>>() else {
            continue;
        };
        let Some((intercept, slope)) = least_squares(&xs, &ys) else {
            continue;
        };
        let test = |m: CorrelationMethod| -> Result<Correlation> {
            let t = correlation_test(m, &xs, &ys, &inference)
                .map_err(|e| StudyError::stage(format!("correlating Δppl with {name}"), e))?;
            Ok(Correlation {
                estimate: Estimate {
                    value: t.coefficient.estimate,
                    lo: t.coefficient.low,
                    hi: t.coefficient.high,
                },
                p_value: t.p_value.unwrap_or(1.0),
            })
        };
        out.push(CorrelationRecord {
            measure: name.to_string(),
            n: xs.len(),
            pearson: test(CorrelationMethod::Pearson)?,
            spearman: test(CorrelationMethod::Spearman)?,
            kendall: test(CorrelationMethod::Kendall)?,
            slope,
            intercept,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::example_result;

    #[test]
    fn perfectly_ordered_domains_give_rank_correlation_one() {
        let ds = vec![
            example_result("a", 0.9, 100.0, 99.0),
            example_result("b", 0.6, 100.0, 80.0),
            example_result("c", 0.3, 100.0, 50.0),
            example_result("d", 0.1, 100.0, 30.0),
        ];
        let c = correlations(&ds, &StudyConfig::default()).unwrap();
        let cos = &c[0];
        assert_eq!(cos.measure, "centroid cosine");
        assert_eq!(cos.n, 4);
        assert!((cos.spearman.estimate.value - 1.0).abs() < 1e-12);
        assert!((cos.kendall.estimate.value - 1.0).abs() < 1e-12);
        assert!(cos.pearson.estimate.value > 0.9);
        assert!(cos.slope > 0.0);
        // 4 pairs: the smallest two-sided permutation p-value is about 2/24.
        assert!(cos.spearman.p_value > 0.05 && cos.spearman.p_value < 0.2);
        assert!(correlations(&ds[..2], &StudyConfig::default())
            .unwrap()
            .is_empty());
    }
}
