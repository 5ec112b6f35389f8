//! The study across domains: correlations, degradation statement, tokens that explain it.

use crate::config::StudyConfig;
use crate::domain::{DomainResult, Estimate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A correlation coefficient with its bootstrap interval and permutation p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    /// The coefficient and its interval.
    pub estimate: Estimate,
    /// Two-sided permutation p-value.
    pub p_value: f64,
}

/// Pearson, Spearman and Kendall between a similarity measure and the perplexity change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationRecord {
    /// The similarity measure (x).
    pub measure: String,
    /// Domains used.
    pub n: usize,
    /// Pearson's r.
    pub pearson: Correlation,
    /// Spearman's ρ.
    pub spearman: Correlation,
    /// Kendall's τ.
    pub kendall: Correlation,
    /// Least-squares fit Δppl% = intercept + slope · x.
    pub slope: f64,
    /// Intercept of the fit.
    pub intercept: f64,
}

/// A token that got worse in several domains, summed over them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedToken {
    /// Surface string.
    pub text: String,
    /// Category.
    pub category: String,
    /// Domains where it is among the top degrading tokens.
    pub domains: Vec<String>,
    /// Sum of its ΔNLL over those domains.
    pub total_delta: f64,
}

/// The whole study: per-domain results and what they show together. Saved as `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyReport {
    /// Odyssey version that wrote the report.
    pub version: String,
    /// The settings of the run.
    pub config: StudyConfig,
    /// The base model's description.
    pub model: String,
    /// The device the model ran on.
    pub device: String,
    /// Per-domain results, ordered from most to least similar to the pretraining corpus.
    pub domains: Vec<DomainResult>,
    /// Correlations of Δppl % with each similarity measure (needs ≥ 3 domains).
    pub correlations: Vec<CorrelationRecord>,
    /// Whether any domain's test perplexity got worse.
    pub any_degraded: bool,
    /// The plain statement of what the study found.
    pub findings: Vec<String>,
    /// Tokens among the top degrading ones in more than one domain.
    pub shared_degrading_tokens: Vec<SharedToken>,
    /// Domains whose results were reused from an earlier, interrupted run.
    pub resumed: Vec<String>,
    /// The control arm's run, when the study had one.
    #[serde(default)]
    pub control: Option<crate::control::ControlSummary>,
    /// The memory the run was estimated to need before it started, and what was available.
    #[serde(default)]
    pub memory: Option<crate::memory::MemoryRecord>,
    /// Correlations of each domain's change beyond the control arm with each similarity
    /// measure (with a control arm and at least 3 domains).
    #[serde(default)]
    pub own_effect_correlations: Vec<CorrelationRecord>,
    /// The pre-flight predictions, made before the full runs.
    #[serde(default)]
    pub preflight: Vec<crate::preflight::PreflightRecord>,
    /// The predictions against the full runs, when both ran.
    #[serde(default)]
    pub preflight_comparison: Option<crate::preflight::PreflightComparison>,
    /// Wall-clock seconds of the run (this invocation; resumed domains cost nothing).
    pub seconds: f64,
}

/// Order domains from most to least similar (centroid cosine, descending; name on ties).
pub fn order_by_similarity(domains: &mut [DomainResult]) {
    domains.sort_by(|a, b| {
        b.similarity
            .centroid_cosine
            .value
            .total_cmp(&a.similarity.centroid_cosine.value)
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// Tokens appearing among the top degrading tokens of at least two domains.
pub fn shared_degrading_tokens(domains: &[DomainResult]) -> Vec<SharedToken> {
    let mut by_text: BTreeMap<String, SharedToken> = BTreeMap::new();
    for d in domains {
        for t in d
            .decomposition
            .top_degrading
            .iter()
            .filter(|t| t.total_delta > 0.0)
        {
            let e = by_text
                .entry(t.text.clone())
                .or_insert_with(|| SharedToken {
                    text: t.text.clone(),
                    category: t.category.clone(),
                    domains: Vec::new(),
                    total_delta: 0.0,
                });
            e.domains.push(d.name.clone());
            e.total_delta += t.total_delta;
        }
    }
    let mut v: Vec<SharedToken> = by_text
        .into_values()
        .filter(|t| t.domains.len() >= 2)
        .collect();
    v.sort_by(|a, b| {
        b.domains
            .len()
            .cmp(&a.domains.len())
            .then(b.total_delta.total_cmp(&a.total_delta))
    });
    v
}

/// The plain findings: degradation or not, the ordering and its correlation, the tokens.
pub fn findings(
    domains: &[DomainResult],
    correlations: &[CorrelationRecord],
    shared: &[SharedToken],
    tolerance_pct: f64,
) -> Vec<String> {
    let mut out = Vec::new();
    let degraded: Vec<&DomainResult> = domains
        .iter()
        .filter(|d| d.degraded(tolerance_pct))
        .collect();
    if degraded.is_empty() {
        let rose: Vec<String> = domains
            .iter()
            .filter(|d| d.delta_ppl_pct() > 0.0)
            .map(|d| format!("{} ({:+.1} %)", d.name, d.delta_ppl_pct()))
            .collect();
        if rose.is_empty() {
            out.push(format!(
                "No domain degraded: continued pretraining lowered the test perplexity of all {} domains.",
                domains.len()
            ));
        } else {
            out.push(format!(
                "No domain degraded beyond the {tolerance_pct} % tolerance, but test perplexity rose slightly for {}: continued pretraining bought nothing there.",
                rose.join(", ")
            ));
        }
    } else {
        let names: Vec<String> = degraded
            .iter()
            .map(|d| format!("{} ({:+.1} %)", d.name, d.delta_ppl_pct()))
            .collect();
        out.push(format!(
            "{} of {} domains degraded after continued pretraining: {}.",
            degraded.len(),
            domains.len(),
            names.join(", ")
        ));
    }
    let order: Vec<String> = domains
        .iter()
        .map(|d| {
            format!(
                "{} (cos {:.3}, {:+.1} %)",
                d.name,
                d.similarity.centroid_cosine.value,
                d.delta_ppl_pct()
            )
        })
        .collect();
    out.push(format!(
        "From most to least similar to the pretraining corpus: {}.",
        order.join(" > ")
    ));
    if let Some(c) = correlations.first() {
        let sign = if c.spearman.estimate.value > 0.0 {
            "the more similar a domain, the smaller its gain (or the larger its loss), as in the paper"
        } else if c.spearman.estimate.value < 0.0 {
            "the more similar a domain, the larger its gain: the opposite of the paper's finding"
        } else {
            "no monotone relation"
        };
        let significant = c.spearman.p_value < 0.05;
        out.push(format!(
            "Δppl % against {} over {} domains: Pearson r = {:.2} [{:.2}, {:.2}], Spearman ρ = {:.2} [{:.2}, {:.2}] (permutation p = {:.3}), Kendall τ = {:.2} [{:.2}, {:.2}] (p = {:.3}): {sign}; {}.",
            c.measure, c.n,
            c.pearson.estimate.value, c.pearson.estimate.lo, c.pearson.estimate.hi,
            c.spearman.estimate.value, c.spearman.estimate.lo, c.spearman.estimate.hi, c.spearman.p_value,
            c.kendall.estimate.value, c.kendall.estimate.lo, c.kendall.estimate.hi, c.kendall.p_value,
            if significant {
                "the rank correlation is significant at 5 %".to_string()
            } else {
                format!("with {} domains this is not significant at 5 % (bootstrap intervals over so few domains are unreliable; the permutation p-value is the guide)", c.n)
            }
        ));
    } else {
        out.push("Fewer than 3 domains: no correlation is reported.".into());
    }
    let controlled: Vec<(&DomainResult, crate::domain::ControlRecord)> = domains
        .iter()
        .filter_map(|d| d.control.map(|c| (d, c)))
        .collect();
    if !controlled.is_empty() {
        let failures: Vec<String> = controlled
            .iter()
            .filter(|(_, c)| c.own_effect_pp < 0.0)
            .map(|(d, c)| format!("{} ({:+.1} pp)", d.name, c.own_effect_pp))
            .collect();
        let effects: Vec<String> = controlled
            .iter()
            .map(|(d, c)| {
                format!(
                    "{} {:+.1} % vs control {:+.1} %",
                    d.name,
                    d.delta_ppl_pct(),
                    c.delta_ppl_pct
                )
            })
            .collect();
        out.push(if failures.is_empty() {
            format!(
                "Against the control arm (the same budget on the pretraining corpus), every domain's own effect is positive: {}.",
                effects.join("; ")
            )
        } else {
            format!(
                "Against the control arm (the same budget on the pretraining corpus), {} of {} domains have a negative own effect — the paper's failure case: {}. All: {}.",
                failures.len(),
                controlled.len(),
                failures.join(", "),
                effects.join("; ")
            )
        });
    }
    let forgot: Vec<(&DomainResult, f64)> = domains
        .iter()
        .filter_map(|d| d.forgetting.as_ref().map(|f| (d, f.delta_ppl_pct)))
        .collect();
    if !forgot.is_empty() {
        let worst = forgot
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(d, v)| format!("{} ({v:+.1} %)", d.name))
            .unwrap_or_default();
        let all: Vec<String> = forgot
            .iter()
            .map(|(d, v)| format!("{} {v:+.1} %", d.name))
            .collect();
        out.push(format!(
            "Forgetting (perplexity of the pretraining corpus's held-out text after adaptation): {}; the largest cost: {worst}.",
            all.join(", ")
        ));
    }
    let mitigated: Vec<String> = domains
        .iter()
        .filter_map(|d| {
            d.mitigations.as_ref().map(|m| match m.chosen {
                Some(k) => format!("{}: {} worked ({})", d.name, k.name(), d.verdict.decision),
                None => format!(
                    "{}: none of the retrained variants worked ({})",
                    d.name, d.verdict.decision
                ),
            })
        })
        .collect();
    if !mitigated.is_empty() {
        out.push(format!(
            "Mitigations retrained (token mask chosen on the validation split, lower learning rate, replay): {}.",
            mitigated.join("; ")
        ));
    }
    if !shared.is_empty() {
        let toks: Vec<String> = shared
            .iter()
            .take(8)
            .map(|t| {
                format!(
                    "{} [{}] in {}",
                    show_token(&t.text),
                    t.category,
                    t.domains.len()
                )
            })
            .collect();
        out.push(format!(
            "Tokens that got worse in several domains: {}.",
            toks.join(", ")
        ));
    }
    out
}

/// A token's text made visible in reports (newlines and spaces spelled out).
pub fn show_token(text: &str) -> String {
    let s = text
        .replace('\n', "\\n")
        .replace('\t', "\\t")
        .replace(' ', "␣")
        .replace('|', "\\|")
        .replace('`', "'");
    if s.is_empty() {
        "∅".into()
    } else {
        format!("`{s}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::example_result;

    #[test]
    fn ordering_and_degradation_statement() {
        let mut ds = vec![
            example_result("far", 0.2, 100.0, 50.0),
            example_result("near", 0.9, 100.0, 104.0),
        ];
        order_by_similarity(&mut ds);
        assert_eq!(ds[0].name, "near");
        let f = findings(&ds, &[], &shared_degrading_tokens(&ds), 0.5);
        assert!(f[0].starts_with("1 of 2 domains degraded"), "{f:?}");
        assert!(f[0].contains("near (+4.0 %)"), "{f:?}");
        assert!(f[1].contains("near (cos 0.900, +4.0 %) > far"), "{f:?}");
        assert!(f.iter().any(|l| l.contains("Fewer than 3 domains")));
        assert!(f.iter().any(|l| l.contains("`\\n`")), "{f:?}");
    }

    #[test]
    fn no_degradation_is_said_plainly() {
        let ds = vec![example_result("a", 0.5, 100.0, 90.0)];
        let f = findings(&ds, &[], &[], 0.5);
        assert!(f[0].starts_with("No domain degraded: "), "{f:?}");
    }

    #[test]
    fn a_rise_within_the_tolerance_is_named() {
        let ds = vec![
            example_result("a", 0.5, 100.0, 90.0),
            example_result("b", 0.9, 100.0, 100.2),
        ];
        let f = findings(&ds, &[], &[], 0.5);
        assert!(
            f[0].starts_with("No domain degraded beyond the 0.5 % tolerance"),
            "{f:?}"
        );
        assert!(f[0].contains("b (+0.2 %)"), "{f:?}");
        assert!(!f[0].contains("a ("), "{f:?}");
    }

    #[test]
    fn the_control_arm_names_the_failure_cases() {
        let mut ds = vec![
            example_result("near", 0.9, 100.0, 95.0),
            example_result("far", 0.2, 100.0, 60.0),
        ];
        // The control run took both test splits to −8 %: "near" gained less (own effect −3 pp).
        ds[0].control = Some(crate::domain::ControlRecord::new(100.0, 92.0, -5.0));
        ds[1].control = Some(crate::domain::ControlRecord::new(100.0, 92.0, -40.0));
        assert!((ds[0].control.unwrap().own_effect_pp + 3.0).abs() < 1e-9);
        assert!((ds[1].control.unwrap().own_effect_pp - 32.0).abs() < 1e-9);
        let f = findings(&ds, &[], &[], 0.5);
        let line = f.iter().find(|l| l.contains("control arm")).unwrap();
        assert!(
            line.contains("1 of 2 domains have a negative own effect"),
            "{line}"
        );
        assert!(
            line.contains("near (-3.0 pp)") && !line.contains("far (+"),
            "{line}"
        );
        let s = crate::verdict::control_sentence(-5.0, &ds[0].control.unwrap());
        assert!(s.contains("failure case"), "{s}");
    }

    #[test]
    fn shared_tokens_need_two_domains() {
        let ds = vec![
            example_result("a", 0.5, 100.0, 90.0),
            example_result("b", 0.4, 100.0, 90.0),
        ];
        let s = shared_degrading_tokens(&ds);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].text, "\n");
        assert_eq!(s[0].total_delta, 10.0);
        assert_eq!(shared_degrading_tokens(&ds[..1]).len(), 0);
    }

    #[test]
    fn tokens_are_shown_visibly() {
        assert_eq!(show_token("\n"), "`\\n`");
        assert_eq!(show_token(" the"), "`␣the`");
        assert_eq!(show_token(""), "∅");
    }
}
