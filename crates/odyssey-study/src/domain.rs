//! The per-domain record: everything the study measured for one domain.

use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};

/// A value with a confidence interval (bootstrap percentile interval).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The point estimate on the full sample.
    pub value: f64,
    /// Lower end of the interval.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
}

/// How close a domain is to the pretraining corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarityRecord {
    /// Cosine of the centroids of the two embedding samples (the paper's measure).
    pub centroid_cosine: Estimate,
    /// Mean cosine over all cross pairs.
    pub mean_pairwise_cosine: Option<Estimate>,
    /// Unbiased MMD² with an RBF kernel (0 = same distribution).
    pub mmd2: Option<Estimate>,
    /// Fréchet distance between Gaussian fits of the embeddings (point estimate).
    pub frechet: Option<f64>,
    /// Unigram vocabulary overlap (M2D2's lexical measure), 0..1.
    pub unigram_overlap: Option<f64>,
    /// Weighted Jaccard of token frequency distributions, 0..1.
    pub weighted_jaccard: Option<f64>,
    /// Centroid cosine of the same two samples embedded by the base model itself (mean final
    /// hidden state): similarity as the model sees it, with no sentence encoder involved.
    #[serde(default)]
    pub model_centroid_cosine: Option<Estimate>,
    /// Paragraphs embedded from the domain.
    pub domain_samples: usize,
    /// Paragraphs embedded from the pretraining corpus.
    pub pretraining_samples: usize,
}

/// Pooled perplexity of one model on one test split (lm-eval formulas).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerplexityRecord {
    /// Token perplexity.
    pub token_ppl: f64,
    /// Word perplexity (lm-eval's whitespace words); `None` where it does not apply, with the
    /// reason in `word_ppl_not_applicable`.
    pub word_ppl: Option<f64>,
    /// Why word perplexity does not apply to this split (scripts written without spaces), when
    /// it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word_ppl_not_applicable: Option<String>,
    /// Byte perplexity.
    pub byte_ppl: f64,
    /// Bits per byte.
    pub bits_per_byte: f64,
    /// Tokens scored.
    pub tokens: usize,
    /// lm-eval words of the scored texts.
    #[serde(default)]
    pub words: u64,
    /// UTF-8 bytes of the scored texts.
    #[serde(default)]
    pub bytes: u64,
}

/// One point of a training curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Optimizer step.
    pub step: usize,
    /// Tokens seen so far.
    pub tokens: usize,
    /// Value (training loss, or validation perplexity).
    pub value: f64,
}

/// What happened during continued pretraining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// Peak learning rate.
    pub lr: f64,
    /// Passes over the train split.
    pub epochs: f64,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Training tokens seen.
    pub tokens: usize,
    /// Training loss over steps.
    pub train_loss: Vec<CurvePoint>,
    /// Validation perplexity over steps (step 0 = the base model).
    pub valid_ppl: Vec<CurvePoint>,
    /// Step of the best validation perplexity.
    pub best_step: usize,
    /// Best validation perplexity.
    pub best_valid_ppl: f64,
    /// Step where early stopping (patience evaluations without improvement) triggers, if it did.
    pub early_stop_step: Option<usize>,
    /// Whether training actually stopped there.
    pub stopped_early: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// One token's part in the change of test NLL between the base and the adapted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenContribution {
    /// Token id.
    pub id: u32,
    /// Decoded surface string.
    pub text: String,
    /// Category (newline/whitespace, punctuation, digits, stop word, other).
    pub category: String,
    /// Occurrences in the test split.
    pub count: usize,
    /// Sum of ΔNLL over its occurrences (positive: the adapted model is worse).
    pub total_delta: f64,
    /// Mean ΔNLL per occurrence.
    pub mean_delta: f64,
    /// Share of the total ΔNLL of the domain (signed).
    pub share: f64,
}

/// ΔNLL of one token category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryContribution {
    /// Category name.
    pub category: String,
    /// Positions in the category.
    pub count: usize,
    /// Sum of ΔNLL.
    pub total_delta: f64,
    /// Share of the total ΔNLL (signed).
    pub share: f64,
}

/// The token-level decomposition of the perplexity change on a domain's test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecompositionRecord {
    /// Total ΔNLL (adapted − base) over all scored positions.
    pub total_delta_nll: f64,
    /// Positions whose NLL went up.
    pub positions_worse: usize,
    /// Positions scored.
    pub positions: usize,
    /// Tokens that got worse the most (largest positive total ΔNLL).
    pub top_degrading: Vec<TokenContribution>,
    /// Tokens that gained the most (most negative total ΔNLL).
    pub top_improving: Vec<TokenContribution>,
    /// Per category.
    pub categories: Vec<CategoryContribution>,
    /// Sum of the positive ΔNLL of the top degrading tokens as a share of all positive ΔNLL.
    pub top_degrading_share_of_losses: f64,
    /// The token set left out of the filtered perplexities, fixed in advance (not chosen from
    /// the test results): tokens that carry no domain information — newline/whitespace,
    /// punctuation and stop words.
    pub filtered_set: String,
    /// Test positions that fall in the filtered set.
    pub filtered_positions: usize,
    /// Base token perplexity without the filtered tokens.
    pub base_ppl_filtered: f64,
    /// Adapted token perplexity without the filtered tokens.
    pub adapted_ppl_filtered: f64,
}

/// Everything measured for one domain, saved as `domains/<name>.json` in the output folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainResult {
    /// Domain name (folder name).
    pub name: String,
    /// Fingerprint of the settings and inputs that produced this result.
    pub fingerprint: String,
    /// Train / valid / test sizes in tokens.
    pub train_tokens: usize,
    /// Validation tokens used per evaluation.
    pub valid_tokens: usize,
    /// Similarity to the pretraining corpus.
    pub similarity: SimilarityRecord,
    /// Base model on the test split.
    pub base: PerplexityRecord,
    /// Adapted model on the test split.
    pub adapted: PerplexityRecord,
    /// Continued pretraining.
    pub training: TrainingRecord,
    /// Token-level decomposition.
    pub decomposition: DecompositionRecord,
    /// The decision and its evidence.
    pub verdict: Verdict,
    /// The control arm on this domain's test split, when the study runs one.
    #[serde(default)]
    pub control: Option<ControlRecord>,
    /// Disk the domain's checkpoints took.
    #[serde(default)]
    pub disk: DiskRecord,
    /// What the plain run cost the general (pretraining) corpus.
    #[serde(default)]
    pub forgetting: Option<crate::forgetting::ForgettingRecord>,
    /// The retrained mitigations, when they ran.
    #[serde(default)]
    pub mitigations: Option<crate::mitigation::MitigationReport>,
    /// The plain run's decision, when the mitigations replaced it.
    #[serde(default)]
    pub plain_decision: Option<crate::verdict::Decision>,
}

/// Disk used by a domain's checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DiskRecord {
    /// Bytes of its checkpoint folder when training ended (the newest and the best checkpoint,
    /// with optimizer state).
    pub at_end_of_training: u64,
    /// Bytes kept after the checkpoint policy was applied.
    pub kept: u64,
}

/// The control model (the base after the same budget of continued pretraining on the
/// pretraining corpus) on one domain's test split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ControlRecord {
    /// Test token perplexity under the control model.
    pub token_ppl: f64,
    /// Its change against the base, in % (negative: better).
    pub delta_ppl_pct: f64,
    /// The domain's own effect in percentage points: the domain run's gain minus the control's
    /// gain (gain = −Δppl %). Negative: training on the domain did less for its own test split
    /// than training on generic text did — the paper's failure case.
    pub own_effect_pp: f64,
}

impl ControlRecord {
    /// The record for a domain whose own run changed test perplexity by `domain_delta_pct`,
    /// given the control model's perplexity `control_ppl` and the base's `base_ppl`.
    pub fn new(base_ppl: f64, control_ppl: f64, domain_delta_pct: f64) -> Self {
        let delta = relative_change_pct(base_ppl, control_ppl);
        ControlRecord {
            token_ppl: control_ppl,
            delta_ppl_pct: delta,
            own_effect_pp: delta - domain_delta_pct,
        }
    }
}

impl DomainResult {
    /// Relative change of test token perplexity in percent (positive: the adapted model is
    /// worse).
    pub fn delta_ppl_pct(&self) -> f64 {
        relative_change_pct(self.base.token_ppl, self.adapted.token_ppl)
    }

    /// Whether the adapted model is worse than the base on the test split.
    pub fn degraded(&self, tolerance_pct: f64) -> bool {
        self.delta_ppl_pct() > tolerance_pct
    }
}

/// `(after / before − 1) · 100`.
pub fn relative_change_pct(before: f64, after: f64) -> f64 {
    (after / before - 1.0) * 100.0
}

/// A complete, made-up result for unit tests of the parts that only read results.
#[cfg(test)]
pub(crate) fn example_result(name: &str, cos: f64, base: f64, adapted: f64) -> DomainResult {
    use crate::verdict::{Decision, Verdict};
    let est = |v: f64| Estimate {
        value: v,
        lo: v - 0.01,
        hi: v + 0.01,
    };
    let ppl = |p: f64| PerplexityRecord {
        token_ppl: p,
        word_ppl: Some(p * 1.5),
        word_ppl_not_applicable: None,
        byte_ppl: p.powf(0.25),
        bits_per_byte: p.powf(0.25).log2(),
        tokens: 1000,
        words: 750,
        bytes: 4000,
    };
    let tok = |id: u32, text: &str, delta: f64| TokenContribution {
        id,
        text: text.into(),
        category: "punctuation".into(),
        count: 10,
        total_delta: delta,
        mean_delta: delta / 10.0,
        share: delta / 100.0,
    };
    DomainResult {
        name: name.into(),
        fingerprint: "f00d".into(),
        train_tokens: 5000,
        valid_tokens: 500,
        similarity: SimilarityRecord {
            centroid_cosine: est(cos),
            mean_pairwise_cosine: Some(est(cos / 2.0)),
            mmd2: Some(est(1.0 - cos)),
            frechet: None,
            unigram_overlap: Some(0.5),
            weighted_jaccard: Some(0.4),
            model_centroid_cosine: Some(est(cos * 0.9)),
            domain_samples: 20,
            pretraining_samples: 40,
        },
        base: ppl(base),
        adapted: ppl(adapted),
        training: TrainingRecord {
            lr: 1e-4,
            epochs: 1.0,
            steps: 10,
            tokens: 5000,
            train_loss: (1..=10)
                .map(|s| CurvePoint {
                    step: s,
                    tokens: s * 500,
                    value: 5.0 - 0.1 * s as f64,
                })
                .collect(),
            valid_ppl: vec![
                CurvePoint {
                    step: 0,
                    tokens: 0,
                    value: base,
                },
                CurvePoint {
                    step: 10,
                    tokens: 5000,
                    value: adapted,
                },
            ],
            best_step: 10,
            best_valid_ppl: adapted.min(base),
            early_stop_step: None,
            stopped_early: false,
            seconds: 1.0,
        },
        decomposition: DecompositionRecord {
            total_delta_nll: (adapted / base).ln() * 1000.0,
            positions_worse: 400,
            positions: 1000,
            top_degrading: vec![tok(10, "\n", 5.0), tok(11, ",", 2.0), tok(12, " the", 1.0)],
            top_improving: vec![tok(13, " music", -9.0)],
            categories: vec![CategoryContribution {
                category: "punctuation".into(),
                count: 20,
                total_delta: 7.0,
                share: 0.07,
            }],
            top_degrading_share_of_losses: 0.3,
            filtered_set: "categories: punctuation".into(),
            filtered_positions: 20,
            base_ppl_filtered: base,
            adapted_ppl_filtered: adapted,
        },
        verdict: Verdict {
            decision: if adapted < base {
                Decision::Adapt
            } else {
                Decision::DontAdapt
            },
            degraded: adapted > base,
            evidence: vec!["made up".into()],
        },
        control: None,
        disk: DiskRecord::default(),
        forgetting: None,
        mitigations: None,
        plain_decision: None,
    }
}
