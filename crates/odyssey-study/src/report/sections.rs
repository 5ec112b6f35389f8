//! Sections of `report.md` that only some runs have: forgetting (the general corpus under
//! every adapted model) and the retrained mitigations.

use crate::summary::{show_token, StudyReport};
use std::fmt::Write as _;

/// "Forgetting": each domain's gain next to what it cost the general corpus, by category.
pub fn forgetting(s: &mut String, r: &StudyReport) {
    let measured: Vec<_> = r
        .domains
        .iter()
        .filter_map(|d| d.forgetting.as_ref().map(|f| (d, f)))
        .collect();
    let Some((_, first)) = measured.first() else {
        return;
    };
    let _ = writeln!(
        s,
        "\n### Forgetting: what adaptation cost the general corpus\n"
    );
    let _ = writeln!(
        s,
        "The same {} tokens of `{}` scored by the base and by each adapted model. Positive: the adapted model is worse on general text.\n",
        first.tokens, first.corpus
    );
    let _ = writeln!(
        s,
        "| domain | domain Δ ppl | general ppl, base → adapted | general Δ ppl | general ΔNLL by category |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|");
    for (d, f) in &measured {
        let cats: Vec<String> = f
            .categories
            .iter()
            .map(|c| format!("{} {:+.1}", c.category, c.total_delta))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {:+.1} % | {:.2} → {:.2} | {:+.1} % | {} |",
            d.name,
            d.delta_ppl_pct(),
            f.base_ppl,
            f.adapted_ppl,
            f.delta_ppl_pct,
            cats.join(", ")
        );
    }
    let _ = writeln!(s, "\n![domain gain vs general loss](plots/forgetting.svg)");
}

/// "Pre-flight": the prediction made before each full run, and how it fared.
pub fn preflight(s: &mut String, r: &StudyReport) {
    if r.preflight.is_empty() {
        return;
    }
    let p = &r.config.preflight;
    let _ = writeln!(s, "\n### Pre-flight: the verdict before the full run\n");
    let _ = writeln!(
        s,
        "A pilot of {:.0} % of each planned run's steps (its own schedule: warm-up over its first tenth, the peak, linear decay over its last {:.0} %; the same data order, batch and peak learning rate), validated {} times, fits the loss law with learning-rate annealing (Tissue et al. 2024) shifted for continued pretraining; the law evaluated on the planned schedule predicts the full run. Intervals: {:.0} %, the residual bootstrap joined with a Student-t interval of two errors measured on the pilot: the law's extrapolation (backtests on the pilot's own curve, scaled to the planned run's forward area) and the transfer of the validation change to the test split.\n",
        100.0 * p.pilot_share,
        100.0 * p.decay_share,
        p.evals,
        100.0 * p.level
    );
    let _ = writeln!(
        s,
        "| domain | pilot steps / planned | validation tokens per pass | compute share (with the pilot's test pass) | base test ppl | predicted test ppl [interval] | predicted Δ | error sd: extrapolation / transfer (nats) | pre-flight verdict | across the interval | tokens already worse (share of NLL increases) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for f in &r.preflight {
        let toks: Vec<String> = f
            .pilot_decomposition
            .top_degrading
            .iter()
            .take(5)
            .map(|t| show_token(&t.text))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} / {} | {} | {:.1} % ({:.1} %) | {:.2} | {:.2} [{:.2}, {:.2}] | {:+.1} % | {:.3} / {:.3} | {} | {} | {} ({:.0} %) |",
            f.name,
            f.pilot.steps,
            f.planned.steps,
            f.pilot.valid_tokens,
            100.0 * f.compute_share,
            100.0 * f.total_share,
            f.base_test_ppl,
            f.predicted_test_ppl.0,
            f.predicted_test_ppl.1,
            f.predicted_test_ppl.2,
            f.predicted_delta_pct.0,
            f.forecast.extrapolation_sd,
            f.transfer_sd,
            f.verdict.decision,
            spread_cell(f.spread.as_ref()),
            toks.join(" "),
            100.0 * f.pilot_decomposition.top_degrading_share_of_losses
        );
    }
    if let Some(c) = &r.preflight_comparison {
        let _ = writeln!(s, "\nAgainst the full runs:\n");
        let _ = writeln!(
            s,
            "| domain | predicted test ppl [interval] | actual | covered | error | predicted Δ / actual Δ | verdicts (pre-flight / full run) | pre-flight verdict |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for o in &c.outcomes {
            let _ = writeln!(
                s,
                "| {} | {:.2} [{:.2}, {:.2}] | {:.2} | {} | {:.1} % | {:+.1} % / {:+.1} % | {} / {} {} | {} |",
                o.name,
                o.predicted_test_ppl.0,
                o.predicted_test_ppl.1,
                o.predicted_test_ppl.2,
                o.actual_test_ppl,
                if o.covered { "yes" } else { "no" },
                100.0 * o.abs_rel_error,
                o.delta_pct.0,
                o.delta_pct.1,
                o.decision.0,
                o.decision.1,
                if o.agree { "✓" } else { "✗" },
                if o.settled { "settled" } else { "unsettled" }
            );
        }
        let _ = writeln!(
            s,
            "\nMedian |predicted − actual| / actual: {:.2} %; {:.0} % intervals cover {:.0} % of outcomes; Spearman ρ of predicted and actual Δppl %: {}; verdicts agree in {:.0} % of domains ({:.0} % of the verdicts were settled across their interval; of those, {} agree); the pilot cost at most {:.1} % of a full run's training compute ({:.1} % with its pass over the test split).\n",
            100.0 * c.median_abs_rel_error,
            100.0 * c.level,
            100.0 * c.coverage,
            c.spearman.map_or("– (fewer than 3 domains)".into(), |v| format!("{v:.2}")),
            100.0 * c.agreement,
            100.0 * c.settled_share,
            c.settled_agreement.map_or("none".into(), |v| format!("{:.0} %", 100.0 * v)),
            100.0 * c.max_compute_share,
            100.0 * c.max_total_share
        );
        let _ = writeln!(s, "![pre-flight vs full runs](plots/preflight.svg)");
    }
}

/// "Mitigations, retrained": per domain, the plain run and every variant.
pub fn mitigations(s: &mut String, r: &StudyReport) {
    let with: Vec<_> = r
        .domains
        .iter()
        .filter_map(|d| d.mitigations.as_ref().map(|m| (d, m)))
        .collect();
    if with.is_empty() {
        return;
    }
    let m = &r.config.mitigations;
    let _ = writeln!(s, "\n### Mitigations, retrained\n");
    let _ = writeln!(
        s,
        "Each variant retrains the base on the domain with the plain run's settings and one change: the loss without the top {} tokens by NLL increase on the **validation** split (token mask), the learning rate × {}, or {:.0} % of the training blocks replayed from the pretraining corpus (same steps and tokens). All are scored on the same test tokens.\n",
        m.mask_top_k,
        m.lr_factor,
        100.0 * m.replay_ratio
    );
    for (d, rep) in with {
        let mask: Vec<String> = rep.mask.tokens.iter().map(|t| show_token(t)).collect();
        let _ = writeln!(
            s,
            "**{}** — mask chosen on the validation split ({} positions): {} ({:.0} % of its NLL increases). Verdict: {}.\n",
            d.name,
            rep.mask.valid_positions,
            mask.join(" "),
            100.0 * rep.mask.share_of_valid_losses,
            d.verdict.decision
        );
        let _ = writeln!(
            s,
            "| run | setting | test ppl | Δ ppl, all tokens | Δ ppl, outside the mask | general Δ ppl | steps | seconds |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        let _ = writeln!(
            s,
            "| plain | lr {:.0e} | {:.2} | {:+.2} % | {:+.2} % | {} | {} | {:.0} |",
            d.training.lr,
            d.adapted.token_ppl,
            d.delta_ppl_pct(),
            rep.plain_outside_mask.delta_ppl_pct,
            d.forgetting
                .as_ref()
                .map(|f| format!("{:+.2} %", f.delta_ppl_pct))
                .unwrap_or_else(|| "–".into()),
            d.training.steps,
            d.training.seconds
        );
        for v in &rep.variants {
            let chosen = if rep.chosen == Some(v.kind) {
                " **(chosen)**"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "| {}{} | {} | {:.2} | {:+.2} % | {:+.2} % | {} | {} | {:.0} |",
                v.kind.name(),
                chosen,
                v.setting,
                v.adapted.token_ppl,
                v.delta_ppl_pct,
                v.outside_mask.delta_ppl_pct,
                v.forgetting
                    .as_ref()
                    .map(|f| format!("{:+.2} %", f.delta_ppl_pct))
                    .unwrap_or_else(|| "–".into()),
                v.training.steps,
                v.training.seconds
            );
        }
        let _ = writeln!(s);
    }
}

/// The report's cell for a verdict's spread across its interval.
fn spread_cell(spread: Option<&crate::preflight::VerdictSpread>) -> String {
    use odyssey_perplexity::forecast::LongerPilot;
    let Some(spread) = spread else {
        return "–".into();
    };
    let Some((ppl, d)) = spread.dissent else {
        return "settled".into();
    };
    let longer = match (spread.longer_pilot, spread.settling_share) {
        (Some(LongerPilot::Scale(_)), Some(share)) => {
            format!("; settled by a {:.0} % pilot", 100.0 * share)
        }
        (Some(LongerPilot::NotBeforeTheRun), _) => "; no shorter pilot settles it".into(),
        (Some(LongerPilot::Unmeasured), _) => "; too short a pilot to say what settles it".into(),
        _ => String::new(),
    };
    format!("unsettled: {d} at {ppl:.2}{longer}")
}
