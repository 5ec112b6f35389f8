//! The verdict per domain: adapt, don't adapt, or adapt with a mitigation — with its evidence.
//!
//! The rules follow the paper's practical advice (measure, watch token-level changes, stop or
//! filter tokens or lower the learning rate when degradation appears):
//!
//! 1. **Degraded** (test perplexity up by more than `degradation_tolerance_pct`):
//!    - if perplexity *without* the tokens that carry no domain information (a category set
//!      fixed in advance: newlines, whitespace, punctuation, stop words) improves by at least `min_gain_pct`,
//!      the domain's content was learned and those tokens cost it: **adapt with token
//!      filtering** (a loss that ignores them);
//!    - else, if validation perplexity was better than the base at some point during training,
//!      the run overshot: **adapt with a lower learning rate** (or stop at the best step);
//!    - else **don't adapt**.
//! 2. **No meaningful gain** (change within (−`min_gain_pct`, +tolerance]): **don't adapt** —
//!    the base is as good.
//! 3. **Gain**: **adapt**; but if validation perplexity rose again after its best point by more
//!    than the tolerance (the early-stopping signal), **adapt with a lower learning rate** (or
//!    stop at the best step).

use crate::config::VerdictSettings;
use crate::domain::relative_change_pct;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What to do with a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Continued pretraining helps: do it.
    Adapt,
    /// Continued pretraining does not help: the base model is as good (or better).
    DontAdapt,
    /// Helps only once tokens without domain information are left out of the loss.
    AdaptWithTokenFiltering,
    /// Helps, but the run overshoots: lower the learning rate or stop at the best step.
    AdaptWithLowerLr,
    /// Helps once the domain is mixed with replayed pretraining text (a retrained variant).
    AdaptWithReplay,
}

impl Decision {
    /// A short human label.
    pub fn label(self) -> &'static str {
        match self {
            Decision::Adapt => "adapt",
            Decision::DontAdapt => "don't adapt (the base is as good)",
            Decision::AdaptWithTokenFiltering => "adapt with token filtering",
            Decision::AdaptWithLowerLr => "adapt with a lower learning rate / early stop",
            Decision::AdaptWithReplay => "adapt with replay of the pretraining corpus",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A decision and the evidence behind it (sentences with the numbers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The decision.
    pub decision: Decision,
    /// Whether test perplexity got worse than the base.
    pub degraded: bool,
    /// The evidence, one sentence each.
    pub evidence: Vec<String>,
}

/// The numbers a verdict is decided from.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictInputs {
    /// Base test token perplexity.
    pub base_ppl: f64,
    /// Adapted test token perplexity.
    pub adapted_ppl: f64,
    /// Base test perplexity without the filtered tokens.
    pub base_ppl_filtered: f64,
    /// Adapted test perplexity without the filtered tokens.
    pub adapted_ppl_filtered: f64,
    /// What the filtered set is (for the evidence).
    pub filtered_set: String,
    /// Share of test positions in the filtered set (0 when nothing is filtered).
    pub filtered_share: f64,
    /// Validation perplexity of the base (first evaluation).
    pub valid_ppl_start: f64,
    /// Best validation perplexity during training, and its step.
    pub valid_ppl_best: (f64, usize),
    /// Validation perplexity at the end of training, and the last step.
    pub valid_ppl_end: (f64, usize),
    /// Step where early stopping would trigger (or did).
    pub early_stop_step: Option<usize>,
    /// Share of the positive ΔNLL carried by the top degrading tokens, with their texts.
    pub top_degrading: (f64, Vec<String>),
}

/// Decide the verdict for one domain (rules in the module documentation).
pub fn decide(x: &VerdictInputs, s: &VerdictSettings) -> Verdict {
    let change = relative_change_pct(x.base_ppl, x.adapted_ppl);
    let filtered_change = relative_change_pct(x.base_ppl_filtered, x.adapted_ppl_filtered);
    let valid_best_change = relative_change_pct(x.valid_ppl_start, x.valid_ppl_best.0);
    let late_rise = relative_change_pct(x.valid_ppl_best.0, x.valid_ppl_end.0);
    let degraded = change > s.degradation_tolerance_pct;
    let mut ev = vec![format!(
        "test perplexity {:.2} → {:.2} ({:+.1} %)",
        x.base_ppl, x.adapted_ppl, change
    )];
    let (tok_share, tok_names) = &x.top_degrading;
    if !tok_names.is_empty() {
        ev.push(format!(
            "tokens that got worse the most: {} ({:.0} % of all NLL increases)",
            tok_names.join(" "),
            tok_share * 100.0
        ));
    }
    let filtered_sentence = format!(
        "without tokens that carry no domain information ({}, {:.0} % of test positions): {:.2} → {:.2} ({:+.1} %)",
        x.filtered_set, x.filtered_share * 100.0, x.base_ppl_filtered, x.adapted_ppl_filtered, filtered_change
    );
    let valid_sentence = format!(
        "validation perplexity {:.2} at the start, best {:.2} at step {} ({:+.1} %), {:.2} at the end (step {})",
        x.valid_ppl_start, x.valid_ppl_best.0, x.valid_ppl_best.1, valid_best_change, x.valid_ppl_end.0, x.valid_ppl_end.1
    );
    let decision = if degraded {
        if x.filtered_share > 0.0 && filtered_change <= -s.min_gain_pct {
            ev.push(filtered_sentence);
            ev.push("the domain's content was learned; the tokens above cost the gain".into());
            Decision::AdaptWithTokenFiltering
        } else if valid_best_change <= -s.min_gain_pct {
            ev.push(valid_sentence);
            ev.push("the model was better than the base during training: the run overshot".into());
            Decision::AdaptWithLowerLr
        } else {
            if x.filtered_share > 0.0 {
                ev.push(filtered_sentence);
            }
            ev.push(valid_sentence);
            ev.push("no setting of this run beat the base".into());
            Decision::DontAdapt
        }
    } else if change > -s.min_gain_pct {
        ev.push(format!(
            "the change is within the {:.1} % needed to pay for training",
            s.min_gain_pct
        ));
        Decision::DontAdapt
    } else if late_rise > s.degradation_tolerance_pct {
        ev.push(valid_sentence);
        if let Some(step) = x.early_stop_step {
            ev.push(format!("early stopping triggers at step {step}"));
        }
        ev.push("validation perplexity rose after its best point".into());
        Decision::AdaptWithLowerLr
    } else {
        Decision::Adapt
    };
    Verdict {
        decision,
        degraded,
        evidence: ev,
    }
}

/// The evidence sentence of the control arm for a domain whose own run changed test
/// perplexity by `domain_delta_pct`.
pub fn control_sentence(domain_delta_pct: f64, c: &crate::domain::ControlRecord) -> String {
    let verdict = if c.own_effect_pp < 0.0 {
        "the domain's own effect is negative: training on the domain did less for its test split than training on generic text — the paper's failure case"
    } else {
        "the domain's own effect is positive: the domain's text itself helped beyond what generic text does"
    };
    format!(
        "control arm (the same budget on the pretraining corpus): {:+.1} % on this test split against {:+.1} % for the domain's own run; own effect {:+.1} pp: {verdict}",
        c.delta_ppl_pct, domain_delta_pct, c.own_effect_pp
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(base: f64, adapted: f64) -> VerdictInputs {
        VerdictInputs {
            base_ppl: base,
            adapted_ppl: adapted,
            base_ppl_filtered: base,
            adapted_ppl_filtered: adapted,
            filtered_set: "categories: punctuation".into(),
            filtered_share: 0.3,
            valid_ppl_start: base,
            valid_ppl_best: (adapted.min(base), 10),
            valid_ppl_end: (adapted, 10),
            early_stop_step: None,
            top_degrading: (0.4, vec!["\\n".into(), ",".into()]),
        }
    }

    #[test]
    fn clear_gain_is_adapt() {
        let v = decide(&inputs(100.0, 80.0), &VerdictSettings::default());
        assert_eq!(v.decision, Decision::Adapt);
        assert!(!v.degraded);
        assert!(v.evidence[0].contains("-20.0 %"), "{:?}", v.evidence);
    }

    #[test]
    fn small_change_is_dont_adapt() {
        let s = VerdictSettings::default();
        assert_eq!(
            decide(&inputs(100.0, 99.0), &s).decision,
            Decision::DontAdapt
        );
        assert_eq!(
            decide(&inputs(100.0, 100.3), &s).decision,
            Decision::DontAdapt
        );
    }

    #[test]
    fn degradation_explained_by_filtered_tokens_is_token_filtering() {
        let mut x = inputs(100.0, 110.0);
        x.adapted_ppl_filtered = 90.0;
        let v = decide(&x, &VerdictSettings::default());
        assert_eq!(v.decision, Decision::AdaptWithTokenFiltering);
        assert!(v.degraded);
    }

    #[test]
    fn degradation_with_better_midrun_valid_is_lower_lr() {
        let mut x = inputs(100.0, 110.0);
        x.valid_ppl_best = (90.0, 4);
        x.valid_ppl_end = (112.0, 10);
        assert_eq!(
            decide(&x, &VerdictSettings::default()).decision,
            Decision::AdaptWithLowerLr
        );
    }

    #[test]
    fn degradation_without_any_better_point_is_dont_adapt() {
        let x = inputs(100.0, 110.0);
        let v = decide(&x, &VerdictSettings::default());
        assert_eq!(v.decision, Decision::DontAdapt);
        assert!(v.degraded);
    }

    #[test]
    fn gain_with_late_valid_rise_is_lower_lr() {
        let mut x = inputs(100.0, 80.0);
        x.valid_ppl_best = (70.0, 5);
        x.valid_ppl_end = (80.0, 10);
        x.early_stop_step = Some(7);
        let v = decide(&x, &VerdictSettings::default());
        assert_eq!(v.decision, Decision::AdaptWithLowerLr);
        assert!(v.evidence.iter().any(|e| e.contains("step 7")));
    }

    #[test]
    fn thresholds_come_from_settings() {
        let s = VerdictSettings {
            min_gain_pct: 25.0,
            ..VerdictSettings::default()
        };
        assert_eq!(
            decide(&inputs(100.0, 80.0), &s).decision,
            Decision::DontAdapt
        );
    }
}
