//! Mitigations, retrained: when the plain run of a domain degrades, gains too little or
//! overshoots (or always, by a setting), the base is trained on the domain again three times,
//! each with the plain run's settings and one change:
//!
//! - **token mask**: the tokens whose NLL rose most between the base and the plain run on the
//!   domain's *validation* split (never the test split it is then scored on) are left out of
//!   the training loss;
//! - **lower learning rate**: the peak learning rate times `mitigations.lr_factor`;
//! - **replay**: a share `mitigations.replay_ratio` of the training blocks comes from the
//!   pretraining corpus instead of the domain, with the same steps and tokens.
//!
//! Each variant is scored on the same test tokens (on all of them, and on those outside the
//! mask), on the general corpus (forgetting), and costs its training time; the verdict then
//! names the variant that worked, or says that none did.

use crate::config::{MitigationPolicy, StudyConfig};
use crate::domain::{PerplexityRecord, TrainingRecord};
use crate::error::{Result, StudyError};
use crate::forgetting::ForgettingRecord;
use crate::verdict::{Decision, Verdict};
use odyssey_core::TokenizerHandle;
use odyssey_perplexity::{
    decompose, metrics_excluding, Categorizer, DecomposeConfig, Direction, ScoredCorpus, TokenSet,
};
use serde::{Deserialize, Serialize};

/// Which change a retrained variant makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MitigationKind {
    /// Degrading tokens (chosen on the validation split) left out of the loss.
    TokenMask,
    /// A lower peak learning rate.
    LowerLr,
    /// Replay of the pretraining corpus.
    Replay,
}

impl MitigationKind {
    /// All three, in the order they run.
    pub const ALL: [MitigationKind; 3] = [
        MitigationKind::TokenMask,
        MitigationKind::LowerLr,
        MitigationKind::Replay,
    ];

    /// A short name (folder names, tables).
    pub fn name(self) -> &'static str {
        match self {
            MitigationKind::TokenMask => "token_mask",
            MitigationKind::LowerLr => "lower_lr",
            MitigationKind::Replay => "replay",
        }
    }

    /// The decision a variant of this kind stands for when it works.
    pub fn decision(self) -> Decision {
        match self {
            MitigationKind::TokenMask => Decision::AdaptWithTokenFiltering,
            MitigationKind::LowerLr => Decision::AdaptWithLowerLr,
            MitigationKind::Replay => Decision::AdaptWithReplay,
        }
    }
}

/// The token mask and where it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskRecord {
    /// Masked token ids.
    pub ids: Vec<u32>,
    /// Their surface strings.
    pub tokens: Vec<String>,
    /// The split they were chosen on, and how: always the validation split.
    pub chosen_on: String,
    /// Validation positions scored to choose them.
    pub valid_positions: usize,
    /// Share of the validation split's NLL increases the masked tokens carry.
    pub share_of_valid_losses: f64,
}

/// Test perplexity on the positions whose target is not masked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OutsideMask {
    /// Base model.
    pub base_ppl: f64,
    /// The run's model.
    pub adapted_ppl: f64,
    /// Change in %.
    pub delta_ppl_pct: f64,
    /// Positions counted.
    pub positions: usize,
}

/// One retrained variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MitigationRecord {
    /// Which change.
    pub kind: MitigationKind,
    /// The change in words (lr, ratio, mask size).
    pub setting: String,
    /// Test perplexity of the retrained model.
    pub adapted: PerplexityRecord,
    /// Its change against the base, in %.
    pub delta_ppl_pct: f64,
    /// On the tokens outside the mask.
    pub outside_mask: OutsideMask,
    /// Its cost on the general corpus.
    pub forgetting: Option<ForgettingRecord>,
    /// Its training (steps, tokens, seconds: the cost).
    pub training: TrainingRecord,
}

/// The mitigations of one domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MitigationReport {
    /// The token mask (chosen on the validation split).
    pub mask: MaskRecord,
    /// The plain run on the tokens outside the mask, for comparison.
    pub plain_outside_mask: OutsideMask,
    /// The retrained variants.
    pub variants: Vec<MitigationRecord>,
    /// The variant the verdict names, when one worked.
    pub chosen: Option<MitigationKind>,
}

/// Whether the policy asks for the mitigations of a domain whose plain run got `verdict`.
pub fn needed(policy: MitigationPolicy, verdict: &Verdict) -> bool {
    match policy {
        MitigationPolicy::Never => false,
        MitigationPolicy::Always => true,
        MitigationPolicy::WhenNeeded => verdict.decision != Decision::Adapt,
    }
}

/// The token mask: the `top_k` token ids with the largest positive summed ΔNLL between the base
/// (`base_valid`) and the plain run (`adapted_valid`) on the validation split.
pub fn choose_mask(
    base_valid: &ScoredCorpus,
    adapted_valid: &ScoredCorpus,
    tokenizer: &dyn TokenizerHandle,
    top_k: usize,
) -> Result<MaskRecord> {
    let cfg = DecomposeConfig {
        direction: Some(Direction::Degradation),
        exclusions: Vec::new(),
        ..DecomposeConfig::default()
    };
    let d = decompose(base_valid, adapted_valid, tokenizer, &cfg)
        .map_err(|e| StudyError::stage("choosing the token mask on the validation split", e))?;
    let worse: Vec<_> = d
        .tokens
        .iter()
        .filter(|t| t.total_delta > 0.0)
        .take(top_k)
        .collect();
    let losses: f64 = d.tokens.iter().map(|t| t.total_delta.max(0.0)).sum();
    let masked: f64 = worse.iter().map(|t| t.total_delta).sum();
    Ok(MaskRecord {
        ids: worse.iter().map(|t| t.token_id).collect(),
        tokens: worse.iter().map(|t| t.text.clone()).collect(),
        chosen_on: format!(
            "validation split: the top {top_k} tokens by summed NLL increase from the base to the plain run"
        ),
        valid_positions: d.summary.positions as usize,
        share_of_valid_losses: if losses > 0.0 { masked / losses } else { 0.0 },
    })
}

/// Test perplexity of `base` and `adapted` outside the token ids `mask`.
pub fn outside_mask(
    base: &ScoredCorpus,
    adapted: &ScoredCorpus,
    tokenizer: &dyn TokenizerHandle,
    mask: &[u32],
) -> Result<OutsideMask> {
    let (b, a) = metrics_excluding(
        base,
        adapted,
        tokenizer,
        &Categorizer::default(),
        &TokenSet::Ids(mask.to_vec()),
    )
    .map_err(|e| StudyError::stage("test perplexity outside the token mask", e))?;
    Ok(OutsideMask {
        base_ppl: b.token_perplexity,
        adapted_ppl: a.token_perplexity,
        delta_ppl_pct: crate::domain::relative_change_pct(b.token_perplexity, a.token_perplexity),
        positions: b.tokens as usize,
    })
}

/// The training stream of the replay variant: the first `domain_blocks` blocks of `block_len`
/// tokens of the plain run, a share `ratio` of them replaced by blocks of the pretraining
/// stream `pretraining` (every `1/ratio`-th block, so replay is spread over the run; the
/// trainer's seeded order shuffles them anyway). Same number of blocks and tokens.
pub fn replay_stream(
    domain: &[u32],
    pretraining: &[u32],
    block_len: usize,
    domain_blocks: usize,
    ratio: f64,
) -> Result<Vec<u32>> {
    let n = domain_blocks;
    let k = ((n as f64) * ratio).round() as usize;
    let have_pre = pretraining.len() / block_len;
    if k > have_pre {
        return Err(StudyError::Invalid(format!(
            "replay needs {k} blocks of {block_len} tokens from the pretraining corpus, which has {have_pre}"
        )));
    }
    let mut out = Vec::with_capacity(n * block_len);
    let (mut d, mut p) = (0usize, 0usize);
    for i in 0..n {
        // Block i is a replay block when the running replay count falls behind i · ratio.
        let take_pre = p < k && ((i + 1) as f64 * ratio).round() as usize > p;
        let (src, j) = if take_pre {
            p += 1;
            (pretraining, p - 1)
        } else {
            d += 1;
            (domain, d - 1)
        };
        out.extend_from_slice(&src[j * block_len..(j + 1) * block_len]);
    }
    Ok(out)
}

/// The verdict once the mitigations have been measured: the variant with the lowest test
/// perplexity is named when it gains at least `min_gain_pct` over the base and beats the plain
/// run by more than `tolerance_pct`; otherwise the plain verdict stands when it was "adapt",
/// and "don't adapt" when no variant worked.
pub fn decide_with_mitigations(
    plain: &Verdict,
    base_ppl: f64,
    plain_delta_pct: f64,
    report: &mut MitigationReport,
    min_gain_pct: f64,
    tolerance_pct: f64,
) -> Verdict {
    let mut evidence = plain.evidence.clone();
    let mask = report
        .mask
        .tokens
        .iter()
        .map(|t| crate::summary::show_token(t))
        .collect::<Vec<_>>()
        .join(" ");
    evidence.push(format!(
        "retrained with mitigations; token mask chosen on the validation split ({} tokens: {mask}; {:.0} % of its NLL increases)",
        report.mask.ids.len(),
        100.0 * report.mask.share_of_valid_losses
    ));
    for v in &report.variants {
        evidence.push(format!(
            "{} ({}): test perplexity {:.2} → {:.2} ({:+.1} %), outside the mask {:+.1} % (plain run {:+.1} %){}, {} steps in {:.0} s",
            v.kind.name(),
            v.setting,
            base_ppl,
            v.adapted.token_ppl,
            v.delta_ppl_pct,
            v.outside_mask.delta_ppl_pct,
            report.plain_outside_mask.delta_ppl_pct,
            v.forgetting
                .as_ref()
                .map(|f| format!(", general corpus {:+.1} %", f.delta_ppl_pct))
                .unwrap_or_default(),
            v.training.steps,
            v.training.seconds
        ));
    }
    let best = report
        .variants
        .iter()
        .min_by(|a, b| a.delta_ppl_pct.total_cmp(&b.delta_ppl_pct));
    let worked = best.filter(|b| {
        b.delta_ppl_pct <= -min_gain_pct && b.delta_ppl_pct < plain_delta_pct - tolerance_pct
    });
    report.chosen = worked.map(|b| b.kind);
    let decision = match worked {
        Some(b) => {
            evidence.push(format!(
                "{} worked: {:+.1} % against {:+.1} % for the plain run",
                b.kind.name(),
                b.delta_ppl_pct,
                plain_delta_pct
            ));
            b.kind.decision()
        }
        None if plain.decision == Decision::Adapt => {
            evidence.push("no mitigation beat the plain run: adapt as it is".into());
            Decision::Adapt
        }
        None => {
            evidence.push(format!(
                "no retrained variant gained {min_gain_pct:.1} % over the base and beat the plain run: none of the mitigations worked"
            ));
            Decision::DontAdapt
        }
    };
    Verdict {
        decision,
        degraded: plain.degraded,
        evidence,
    }
}

/// What a variant's training settings are, given the plain run's (`config.training`).
pub fn variant_settings(
    kind: MitigationKind,
    config: &StudyConfig,
) -> (crate::config::TrainingSettings, String) {
    let mut t = config.training.clone();
    let m = &config.mitigations;
    let setting = match kind {
        MitigationKind::TokenMask => format!("top {} validation tokens masked", m.mask_top_k),
        MitigationKind::LowerLr => {
            t.lr *= m.lr_factor;
            format!("lr {:.0e} (× {})", t.lr, m.lr_factor)
        }
        MitigationKind::Replay => format!("{:.0} % pretraining blocks", 100.0 * m.replay_ratio),
    };
    (t, setting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keeps_the_length_and_spreads_the_share() {
        let dom: Vec<u32> = (0..40).collect();
        let pre: Vec<u32> = (1000..1040).collect();
        let s = replay_stream(&dom, &pre, 4, 8, 0.25).unwrap();
        assert_eq!(s.len(), 32);
        let replayed: Vec<usize> = (0..8).filter(|&i| s[i * 4] >= 1000).collect();
        assert_eq!(replayed.len(), 2, "{s:?}");
        assert!(replayed[1] - replayed[0] >= 3, "{replayed:?}");
        // Domain blocks in their order, the first six of them.
        let dom_blocks: Vec<u32> = (0..8)
            .filter(|&i| s[i * 4] < 1000)
            .map(|i| s[i * 4])
            .collect();
        assert_eq!(dom_blocks, vec![0, 4, 8, 12, 16, 20]);
        assert!(replay_stream(&dom, &pre[..4], 4, 8, 0.5).is_err());
        assert_eq!(
            replay_stream(&dom, &pre, 4, 8, 0.0).unwrap(),
            dom[..32].to_vec()
        );
    }

    fn verdict(d: Decision) -> Verdict {
        Verdict {
            decision: d,
            degraded: false,
            evidence: vec!["plain".into()],
        }
    }

    fn report(deltas: [f64; 3]) -> MitigationReport {
        let ppl = |p: f64| PerplexityRecord {
            token_ppl: p,
            word_ppl: None,
            word_ppl_not_applicable: None,
            byte_ppl: 1.0,
            bits_per_byte: 1.0,
            tokens: 10,
            words: 0,
            bytes: 0,
        };
        let out = OutsideMask {
            base_ppl: 100.0,
            adapted_ppl: 100.0,
            delta_ppl_pct: 0.0,
            positions: 5,
        };
        let training = crate::domain::example_result("x", 0.5, 100.0, 90.0).training;
        MitigationReport {
            mask: MaskRecord {
                ids: vec![1],
                tokens: vec!["\n".into()],
                chosen_on: "validation split".into(),
                valid_positions: 10,
                share_of_valid_losses: 0.5,
            },
            plain_outside_mask: out,
            variants: MitigationKind::ALL
                .iter()
                .zip(deltas)
                .map(|(&kind, d)| MitigationRecord {
                    kind,
                    setting: String::new(),
                    adapted: ppl(100.0 * (1.0 + d / 100.0)),
                    delta_ppl_pct: d,
                    outside_mask: out,
                    forgetting: None,
                    training: training.clone(),
                })
                .collect(),
            chosen: None,
        }
    }

    #[test]
    fn the_verdict_names_the_variant_that_worked() {
        let mut r = report([1.0, -5.0, -3.0]);
        let v =
            decide_with_mitigations(&verdict(Decision::DontAdapt), 100.0, 2.0, &mut r, 2.0, 0.5);
        assert_eq!(v.decision, Decision::AdaptWithLowerLr);
        assert_eq!(r.chosen, Some(MitigationKind::LowerLr));
        assert!(
            v.evidence.iter().any(|e| e.contains("lower_lr worked")),
            "{:?}",
            v.evidence
        );

        let mut r = report([1.0, -1.0, 0.5]);
        let v =
            decide_with_mitigations(&verdict(Decision::DontAdapt), 100.0, 2.0, &mut r, 2.0, 0.5);
        assert_eq!(v.decision, Decision::DontAdapt);
        assert_eq!(r.chosen, None);
        assert!(v
            .evidence
            .iter()
            .any(|e| e.contains("none of the mitigations worked")));

        // A plain "adapt" stays when no variant beats it.
        let mut r = report([-4.0, -4.2, -3.0]);
        let v = decide_with_mitigations(&verdict(Decision::Adapt), 100.0, -4.0, &mut r, 2.0, 0.5);
        assert_eq!(v.decision, Decision::Adapt);
    }
}
