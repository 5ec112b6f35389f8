//! Decomposition of the change in NLL between a base and an adapted model, token by token.

use crate::aggregate::{Direction, TokenAggregates};
use crate::category::{Categorizer, Category};
use crate::corpus::ScoredCorpus;
use crate::error::{PerplexityError, Result};
use crate::metrics::Metrics;
use odyssey_core::TokenizerHandle;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A set of tokens to leave out of the pooled metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSet {
    /// These token ids.
    Ids(Vec<u32>),
    /// Every token of these categories.
    Categories(Vec<Category>),
    /// The first `k` tokens of the ranking.
    TopK(usize),
}

impl TokenSet {
    /// A short description for reports.
    pub fn describe(&self) -> String {
        match self {
            TokenSet::Ids(ids) => format!("{} token ids", ids.len()),
            TokenSet::Categories(cs) => {
                let names: Vec<&str> = cs.iter().map(|c| c.as_str()).collect();
                format!("categories: {}", names.join(", "))
            }
            TokenSet::TopK(k) => format!("top {k} ranked tokens"),
        }
    }
}

/// Histogram settings for per-position ΔNLL.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HistogramConfig {
    /// Number of equal-width bins (at least 1).
    pub bins: usize,
    /// Value range `(low, high)`; `None`: symmetric around 0, up to the largest |Δ|.
    pub range: Option<(f64, f64)>,
}

/// Decomposition settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecomposeConfig {
    /// How tokens are put in categories.
    pub categorizer: Categorizer,
    /// Ranking direction; `None`: degradation if the total ΔNLL is positive, else gain.
    pub direction: Option<Direction>,
    /// The k values for "the top k tokens explain X % of ΔNLL".
    pub top_ks: Vec<usize>,
    /// Token sets whose exclusion is reported.
    pub exclusions: Vec<TokenSet>,
    /// Histogram of per-position ΔNLL.
    pub histogram: HistogramConfig,
}

impl Default for DecomposeConfig {
    fn default() -> Self {
        DecomposeConfig {
            categorizer: Categorizer::default(),
            direction: None,
            top_ks: vec![1, 5, 10, 20, 50, 100],
            exclusions: vec![
                TokenSet::Categories(vec![Category::Whitespace]),
                TokenSet::Categories(vec![
                    Category::Whitespace,
                    Category::Punctuation,
                    Category::Digits,
                    Category::StopWord,
                ]),
                TokenSet::TopK(10),
            ],
            histogram: HistogramConfig {
                bins: 40,
                range: None,
            },
        }
    }
}

/// Figures of the whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Scorer of the base corpus.
    pub base_scorer: String,
    /// Scorer of the adapted corpus.
    pub adapted_scorer: String,
    /// Documents.
    pub documents: usize,
    /// Aligned scored positions.
    pub positions: u64,
    /// Distinct token ids that occur.
    pub distinct_tokens: usize,
    /// Pooled metrics under the base model.
    pub base: Metrics,
    /// Pooled metrics under the adapted model.
    pub adapted: Metrics,
    /// Σ over positions of (adapted − base) NLL; positive means the adapted model got worse.
    pub total_delta: f64,
    /// `total_delta / positions`.
    pub mean_delta: f64,
    /// Positions whose NLL went up.
    pub positions_worse: u64,
    /// Positions whose NLL went down.
    pub positions_better: u64,
    /// The ranking direction used.
    pub direction: Direction,
}

/// One token id's part in the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenStat {
    /// 1-based rank in the chosen direction.
    pub rank: usize,
    /// Token id.
    pub token_id: u32,
    /// The decoded token string.
    pub text: String,
    /// Its category.
    pub category: Category,
    /// Positions with this id.
    pub count: u64,
    /// Σ ΔNLL over those positions.
    pub total_delta: f64,
    /// `total_delta / count`.
    pub mean_delta: f64,
    /// `total_delta / summary.total_delta` (0 when the total is 0).
    pub share: f64,
    /// Mean NLL under the base model.
    pub mean_nll_base: f64,
    /// Mean NLL under the adapted model.
    pub mean_nll_adapted: f64,
}

/// One category's part in the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryStat {
    /// The category.
    pub category: Category,
    /// Distinct token ids in it that occur.
    pub distinct_tokens: usize,
    /// Positions.
    pub count: u64,
    /// Σ ΔNLL.
    pub total_delta: f64,
    /// `total_delta / count` (0 when empty).
    pub mean_delta: f64,
    /// Share of the total ΔNLL.
    pub share: f64,
    /// Mean NLL under the base model (0 when empty).
    pub mean_nll_base: f64,
    /// Mean NLL under the adapted model (0 when empty).
    pub mean_nll_adapted: f64,
}

/// One document's part in the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentDelta {
    /// Index in the corpus.
    pub doc: usize,
    /// Identifier.
    pub id: String,
    /// Scored positions.
    pub positions: u64,
    /// Σ ΔNLL.
    pub total_delta: f64,
    /// `total_delta / positions` (0 when none).
    pub mean_delta: f64,
    /// Share of the total ΔNLL.
    pub share: f64,
    /// Base model's metrics on this document.
    pub base: Metrics,
    /// Adapted model's metrics on this document.
    pub adapted: Metrics,
}

/// "The top k tokens explain X % of ΔNLL".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TopKShare {
    /// k.
    pub k: usize,
    /// Σ ΔNLL of the first k ranked tokens.
    pub delta: f64,
    /// `delta / total_delta`.
    pub share: f64,
}

/// Pooled metrics with a token set left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exclusion {
    /// The set.
    pub set: TokenSet,
    /// Its description.
    pub description: String,
    /// Distinct ids excluded that occur.
    pub excluded_ids: usize,
    /// Positions excluded.
    pub excluded_positions: u64,
    /// Base metrics over the remaining tokens.
    pub base: Metrics,
    /// Adapted metrics over the remaining tokens.
    pub adapted: Metrics,
}

/// Histogram of per-position ΔNLL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Bin edges (`bins + 1` values).
    pub edges: Vec<f64>,
    /// Positions per bin.
    pub counts: Vec<u64>,
    /// Positions below the first edge.
    pub below: u64,
    /// Positions above the last edge.
    pub above: u64,
}

/// The whole decomposition report (serde/JSON; see also [`Decomposition::to_markdown`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decomposition {
    /// Whole-comparison figures.
    pub summary: Summary,
    /// Every token id that occurs, in ranking order.
    pub tokens: Vec<TokenStat>,
    /// Every category, in [`Category::ALL`] order.
    pub categories: Vec<CategoryStat>,
    /// Every document, in corpus order.
    pub documents: Vec<DocumentDelta>,
    /// Shares of the top k tokens for the configured k.
    pub top_k: Vec<TopKShare>,
    /// Metrics with the configured token sets excluded.
    pub exclusions: Vec<Exclusion>,
    /// Per-position ΔNLL histogram.
    pub histogram: Histogram,
}

/// Compare `base` and `adapted`, two scorings of the same token stream, token by token.
///
/// Errors: empty corpora, streams that differ (length, documents, positions or ids), corpora
/// or `tokenizer` with different fingerprints, non-finite NLLs. Runs on the current rayon pool;
/// the report does not depend on the thread count.
pub fn decompose(
    base: &ScoredCorpus,
    adapted: &ScoredCorpus,
    tokenizer: &dyn TokenizerHandle,
    config: &DecomposeConfig,
) -> Result<Decomposition> {
    check_aligned(base, adapted, tokenizer)?;
    if config.histogram.bins == 0 {
        return Err(PerplexityError::InvalidConfig(
            "histogram needs at least one bin".into(),
        ));
    }
    let ids = base.token_ids();
    let max_id = ids.par_iter().copied().max().unwrap_or(0) as usize;
    let vocab = tokenizer.vocab_size().max(max_id + 1);
    let agg = TokenAggregates::compute(ids, base.nlls(), adapted.nlls(), vocab)?;

    // per document (sequential inside a document, then in document order)
    let per_doc: Vec<(f64, u64, u64)> = base
        .documents()
        .par_iter()
        .map(|d| {
            let (mut s, mut worse, mut better) = (0f64, 0u64, 0u64);
            for i in d.tokens.clone() {
                let delta = f64::from(adapted.nlls()[i]) - f64::from(base.nlls()[i]);
                s += delta;
                worse += u64::from(delta > 0.0);
                better += u64::from(delta < 0.0);
            }
            (s, worse, better)
        })
        .collect();
    let total: f64 = per_doc.iter().map(|x| x.0).sum();
    if !total.is_finite() {
        find_non_finite(base, adapted)?;
    }
    let base_m = base.metrics();
    let adapted_m = adapted.metrics();
    let share = |x: f64| if total == 0.0 { 0.0 } else { x / total };
    let direction = config.direction.unwrap_or(if total > 0.0 {
        Direction::Degradation
    } else {
        Direction::Gain
    });
    let ranking = agg.ranking(direction);
    let categories: Vec<Category> = (0..vocab as u32)
        .map(|id| {
            let text = tokenizer.token_text(id).unwrap_or_default();
            config.categorizer.classify(id, &text)
        })
        .collect();

    let tokens: Vec<TokenStat> = ranking
        .iter()
        .enumerate()
        .map(|(r, &id)| {
            let i = id as usize;
            let c = agg.count[i] as f64;
            TokenStat {
                rank: r + 1,
                token_id: id,
                text: tokenizer.token_text(id).unwrap_or_default(),
                category: categories[i],
                count: agg.count[i],
                total_delta: agg.total_delta[i],
                mean_delta: agg.total_delta[i] / c,
                share: share(agg.total_delta[i]),
                mean_nll_base: agg.sum_base[i] / c,
                mean_nll_adapted: agg.sum_adapted[i] / c,
            }
        })
        .collect();

    let cats = Category::ALL
        .iter()
        .map(|&cat| {
            let (mut distinct, mut n, mut d, mut sb, mut sa) = (0usize, 0u64, 0f64, 0f64, 0f64);
            for i in (0..vocab).filter(|&i| categories[i] == cat && agg.count[i] > 0) {
                distinct += 1;
                n += agg.count[i];
                d += agg.total_delta[i];
                sb += agg.sum_base[i];
                sa += agg.sum_adapted[i];
            }
            let per = |x: f64| if n == 0 { 0.0 } else { x / n as f64 };
            CategoryStat {
                category: cat,
                distinct_tokens: distinct,
                count: n,
                total_delta: d,
                mean_delta: per(d),
                share: share(d),
                mean_nll_base: per(sb),
                mean_nll_adapted: per(sa),
            }
        })
        .collect();

    let documents = base
        .documents()
        .iter()
        .enumerate()
        .zip(&per_doc)
        .filter_map(|((d, span), &(s, _, _))| {
            let n = span.tokens.len() as u64;
            Some(DocumentDelta {
                doc: d,
                id: span.id.clone(),
                positions: n,
                total_delta: s,
                mean_delta: if n == 0 { 0.0 } else { s / n as f64 },
                share: share(s),
                base: base.document_metrics(d)?,
                adapted: adapted.document_metrics(d)?,
            })
        })
        .collect();

    let top_k = config
        .top_ks
        .iter()
        .map(|&k| {
            let delta: f64 = ranking
                .iter()
                .take(k)
                .map(|&id| agg.total_delta[id as usize])
                .sum();
            TopKShare {
                k,
                delta,
                share: share(delta),
            }
        })
        .collect();

    let exclusions = config
        .exclusions
        .iter()
        .map(|set| {
            let mask = token_mask(set, vocab, &categories, &ranking)?;
            let (b, excluded_positions) = base.metrics_excluding(Some(&mask));
            let (a, _) = adapted.metrics_excluding(Some(&mask));
            Ok(Exclusion {
                set: set.clone(),
                description: set.describe(),
                excluded_ids: (0..vocab).filter(|&i| mask[i] && agg.count[i] > 0).count(),
                excluded_positions,
                base: b,
                adapted: a,
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let histogram = histogram(base.nlls(), adapted.nlls(), &config.histogram)?;

    Ok(Decomposition {
        summary: Summary {
            base_scorer: base.scorer().to_string(),
            adapted_scorer: adapted.scorer().to_string(),
            documents: base.documents().len(),
            positions: base.len() as u64,
            distinct_tokens: ranking.len(),
            base: base_m,
            adapted: adapted_m,
            total_delta: total,
            mean_delta: total / base.len() as f64,
            positions_worse: per_doc.iter().map(|x| x.1).sum(),
            positions_better: per_doc.iter().map(|x| x.2).sum(),
            direction,
        },
        tokens,
        categories: cats,
        documents,
        top_k,
        exclusions,
        histogram,
    })
}

impl Decomposition {
    /// Share of the total ΔNLL explained by the first `k` tokens of the ranking.
    pub fn top_k_share(&self, k: usize) -> f64 {
        let d: f64 = self.tokens.iter().take(k).map(|t| t.total_delta).sum();
        if self.summary.total_delta == 0.0 {
            0.0
        } else {
            d / self.summary.total_delta
        }
    }
}

/// Pooled metrics of `base` and `adapted` with `set` left out (see
/// [`ScoredCorpus::metrics_excluding`]), outside a full decomposition.
pub fn metrics_excluding(
    base: &ScoredCorpus,
    adapted: &ScoredCorpus,
    tokenizer: &dyn TokenizerHandle,
    categorizer: &Categorizer,
    set: &TokenSet,
) -> Result<(Metrics, Metrics)> {
    check_aligned(base, adapted, tokenizer)?;
    let max_id = base.token_ids().par_iter().copied().max().unwrap_or(0) as usize;
    let vocab = tokenizer.vocab_size().max(max_id + 1);
    let categories: Vec<Category> = (0..vocab as u32)
        .map(|id| categorizer.classify(id, &tokenizer.token_text(id).unwrap_or_default()))
        .collect();
    let ranking = match set {
        TokenSet::TopK(_) => {
            let agg =
                TokenAggregates::compute(base.token_ids(), base.nlls(), adapted.nlls(), vocab)?;
            let dir = if agg.total() > 0.0 {
                Direction::Degradation
            } else {
                Direction::Gain
            };
            agg.ranking(dir)
        }
        _ => Vec::new(),
    };
    let mask = token_mask(set, vocab, &categories, &ranking)?;
    Ok((
        base.metrics_excluding(Some(&mask)).0,
        adapted.metrics_excluding(Some(&mask)).0,
    ))
}

fn token_mask(
    set: &TokenSet,
    vocab: usize,
    categories: &[Category],
    ranking: &[u32],
) -> Result<Vec<bool>> {
    let mut mask = vec![false; vocab];
    match set {
        TokenSet::Ids(ids) => {
            for &id in ids {
                match mask.get_mut(id as usize) {
                    Some(m) => *m = true,
                    None => {
                        return Err(PerplexityError::InvalidConfig(format!(
                            "excluded token id {id} is outside the vocabulary of {vocab}"
                        )))
                    }
                }
            }
        }
        TokenSet::Categories(cs) => {
            for (m, c) in mask.iter_mut().zip(categories) {
                *m = cs.contains(c);
            }
        }
        TokenSet::TopK(k) => {
            for &id in ranking.iter().take(*k) {
                mask[id as usize] = true;
            }
        }
    }
    Ok(mask)
}

fn check_aligned(
    base: &ScoredCorpus,
    adapted: &ScoredCorpus,
    tokenizer: &dyn TokenizerHandle,
) -> Result<()> {
    let tfp = tokenizer.fingerprint();
    for (name, fp) in [
        ("base corpus", base.tokenizer_fingerprint()),
        ("adapted corpus", adapted.tokenizer_fingerprint()),
    ] {
        if let Some(fp) = fp {
            if fp != tfp {
                return Err(PerplexityError::TokenizerMismatch {
                    left: name.into(),
                    left_fp: fp,
                    right: "tokenizer".into(),
                    right_fp: tfp,
                });
            }
        }
    }
    if base.is_empty() || adapted.is_empty() {
        return Err(PerplexityError::EmptyCorpus(format!(
            "base has {} scored tokens, adapted has {}",
            base.len(),
            adapted.len()
        )));
    }
    if base.len() != adapted.len() {
        return Err(PerplexityError::StreamMismatch(format!(
            "base has {} scored tokens, adapted has {}",
            base.len(),
            adapted.len()
        )));
    }
    if base.documents().len() != adapted.documents().len() {
        return Err(PerplexityError::StreamMismatch(format!(
            "base has {} documents, adapted has {}",
            base.documents().len(),
            adapted.documents().len()
        )));
    }
    for (what, x, y) in [
        ("token id", base.token_ids(), adapted.token_ids()),
        ("document", base.docs(), adapted.docs()),
        ("position", base.positions(), adapted.positions()),
    ] {
        if x != y {
            let i = x.iter().zip(y).position(|(a, b)| a != b).unwrap_or(0);
            return Err(PerplexityError::StreamMismatch(format!(
                "{what} differs at scored token {i}: base {} vs adapted {}",
                x[i], y[i]
            )));
        }
    }
    Ok(())
}

fn find_non_finite(base: &ScoredCorpus, adapted: &ScoredCorpus) -> Result<()> {
    for (what, c) in [("base", base), ("adapted", adapted)] {
        if let Some(i) = c.nlls().iter().position(|x| !x.is_finite()) {
            return Err(PerplexityError::NonFiniteScore {
                what: what.into(),
                doc: c.docs()[i],
                position: c.positions()[i],
                value: c.nlls()[i],
            });
        }
    }
    Err(PerplexityError::NonFiniteScore {
        what: "total ΔNLL overflowed".into(),
        doc: 0,
        position: 0,
        value: f32::INFINITY,
    })
}

fn histogram(base: &[f32], adapted: &[f32], cfg: &HistogramConfig) -> Result<Histogram> {
    let (lo, hi) = match cfg.range {
        Some((lo, hi)) if lo.is_finite() && hi.is_finite() && lo < hi => (lo, hi),
        Some((lo, hi)) => {
            return Err(PerplexityError::InvalidConfig(format!(
                "histogram range ({lo}, {hi}) must be finite and increasing"
            )))
        }
        None => {
            let m = base
                .par_iter()
                .zip(adapted)
                .map(|(&b, &a)| (f64::from(a) - f64::from(b)).abs())
                .reduce(|| 0.0, f64::max);
            let m = if m > 0.0 { m } else { 1.0 };
            (-m, m)
        }
    };
    let bins = cfg.bins;
    let width = (hi - lo) / bins as f64;
    let (counts, below, above) = base
        .par_iter()
        .zip(adapted)
        .fold(
            || (vec![0u64; bins], 0u64, 0u64),
            |(mut c, mut below, mut above), (&b, &a)| {
                let d = f64::from(a) - f64::from(b);
                if d < lo {
                    below += 1;
                } else if d > hi {
                    above += 1;
                } else {
                    let k = (((d - lo) / width) as usize).min(bins - 1);
                    c[k] += 1;
                }
                (c, below, above)
            },
        )
        .reduce(
            || (vec![0u64; bins], 0, 0),
            |(mut c1, b1, a1), (c2, b2, a2)| {
                for (x, y) in c1.iter_mut().zip(c2) {
                    *x += y;
                }
                (c1, b1 + b2, a1 + a2)
            },
        );
    let edges = (0..=bins).map(|k| lo + width * k as f64).collect();
    Ok(Histogram {
        edges,
        counts,
        below,
        above,
    })
}
