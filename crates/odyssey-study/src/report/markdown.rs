//! `report.md`: the study for people, with its figures.

use crate::error::{Result, StudyError};
use crate::summary::{show_token, StudyReport};
use std::fmt::Write as _;
use std::path::Path;

/// Render the report as Markdown. Figures are linked from `plots/`.
pub fn render(r: &StudyReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Odyssey study report\n");
    let _ = writeln!(
        s,
        "Base model: {} on {}. Pretraining corpus: `{}`. Domains: `{}`. Odyssey {}; {:.0} s.\n",
        r.model,
        r.device,
        r.config.pretraining_corpus.display(),
        r.config.domains.display(),
        r.version,
        r.seconds
    );
    let _ = writeln!(s, "## Findings\n");
    for f in &r.findings {
        let _ = writeln!(s, "- {f}");
    }
    let _ = writeln!(
        s,
        "\n## Domains (most to least similar to the pretraining corpus)\n"
    );
    let _ = writeln!(
        s,
        "| domain | centroid cosine [95 % CI] | MMD² | unigram overlap | trained on (tokens) | base ppl | adapted ppl | Δ ppl | best valid step | verdict |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for d in &r.domains {
        let c = d.similarity.centroid_cosine;
        let _ = writeln!(
            s,
            "| {} | {:.3} [{:.3}, {:.3}] | {} | {} | {} of {} | {:.2} | {:.2} | {:+.1} % | {} / {} | {} |",
            d.name,
            c.value,
            c.lo,
            c.hi,
            d.similarity
                .mmd2
                .map(|m| format!("{:.4}", m.value))
                .unwrap_or_else(|| "–".into()),
            d.similarity
                .unigram_overlap
                .map(|m| format!("{m:.3}"))
                .unwrap_or_else(|| "–".into()),
            d.training.tokens,
            d.train_tokens,
            d.base.token_ppl,
            d.adapted.token_ppl,
            d.delta_ppl_pct(),
            d.training.best_step,
            d.training.steps,
            d.verdict.decision
        );
    }
    let _ = writeln!(
        s,
        "\n![similarity vs Δppl](plots/similarity_vs_delta.svg)\n\n![before and after](plots/perplexity_before_after.svg)\n"
    );
    let _ = writeln!(s, "## Correlation of Δ perplexity with similarity\n");
    if r.correlations.is_empty() {
        let _ = writeln!(s, "Fewer than 3 domains: no correlation.\n");
    } else {
        let _ = writeln!(
            s,
            "| similarity measure | n | Pearson r [CI] | Spearman ρ [CI] (p) | Kendall τ [CI] (p) | fit: Δppl % = a + b·x |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for c in &r.correlations {
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} [{:.2}, {:.2}] | {:.2} [{:.2}, {:.2}] ({:.3}) | {:.2} [{:.2}, {:.2}] ({:.3}) | a = {:.1}, b = {:.1} |",
                c.measure,
                c.n,
                c.pearson.estimate.value,
                c.pearson.estimate.lo,
                c.pearson.estimate.hi,
                c.spearman.estimate.value,
                c.spearman.estimate.lo,
                c.spearman.estimate.hi,
                c.spearman.p_value,
                c.kendall.estimate.value,
                c.kendall.estimate.lo,
                c.kendall.estimate.hi,
                c.kendall.p_value,
                c.intercept,
                c.slope
            );
        }
        let _ = writeln!(
            s,
            "\nIntervals: bootstrap over domains (percentile, 95 %); with few domains they are wide.\n"
        );
    }
    let _ = writeln!(s, "## Verdicts and evidence\n");
    for d in &r.domains {
        let _ = writeln!(s, "### {}: {}\n", d.name, d.verdict.decision);
        for e in &d.verdict.evidence {
            let _ = writeln!(s, "- {e}");
        }
        let t = &d.training;
        let _ = writeln!(
            s,
            "- training: {} steps, {} tokens, lr {:.0e}, {:.2} epoch(s), {:.0} s; early stopping {}",
            t.steps,
            t.tokens,
            t.lr,
            t.epochs,
            t.seconds,
            match (t.early_stop_step, t.stopped_early) {
                (Some(st), true) => format!("stopped the run at step {st}"),
                (Some(st), false) => format!("would have stopped at step {st} (recorded only)"),
                (None, _) => "never triggered".into(),
            }
        );
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## Which tokens explain the change\n");
    let _ = writeln!(
        s,
        "ΔNLL = NLL(adapted) − NLL(base) summed over a token's occurrences in the test split; positive = the adapted model is worse on it.\n"
    );
    for d in &r.domains {
        let dec = &d.decomposition;
        let _ = writeln!(
            s,
            "**{}**: total ΔNLL {:+.1} over {} positions ({:.1} % of positions got worse); the top {} degrading tokens carry {:.0} % of all NLL increases.\n",
            d.name,
            dec.total_delta_nll,
            dec.positions,
            100.0 * dec.positions_worse as f64 / dec.positions.max(1) as f64,
            dec.top_degrading.len(),
            100.0 * dec.top_degrading_share_of_losses
        );
        let _ = writeln!(s, "| token | category | count | total ΔNLL | mean ΔNLL |");
        let _ = writeln!(s, "|---|---|---|---|---|");
        for t in &dec.top_degrading {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:+.2} | {:+.3} |",
                show_token(&t.text),
                t.category,
                t.count,
                t.total_delta,
                t.mean_delta
            );
        }
        let cats: Vec<String> = dec
            .categories
            .iter()
            .map(|c| format!("{} {:+.1}", c.category, c.total_delta))
            .collect();
        let _ = writeln!(s, "\nBy category: {}.\n", cats.join(", "));
    }
    let _ = writeln!(
        s,
        "![top token contributions](plots/token_contributions.svg)\n\n## Training curves\n\n![training curves](plots/training_curves.svg)\n"
    );
    let _ = writeln!(
        s,
        "## Method\n\nSimilarity: {} paragraphs per domain (train split) against {} paragraphs of the pretraining corpus, embedded with a sentence encoder; centroid cosine as in the paper, with bootstrap intervals ({} resamples). Perplexity: test split, disjoint windows (lm-evaluation-harness's rolling log-likelihood). Continued pretraining: {} epoch(s) at lr {:.0e} ({} warmup ratio, batch {}×{}), validation every 1/{} of the run. Settings fingerprint `{}`.",
        r.config.similarity.domain_samples,
        r.config.similarity.pretraining_samples,
        r.config.similarity.bootstrap,
        r.config.training.epochs,
        r.config.training.lr,
        r.config.training.warmup_ratio,
        r.config.training.batch_size,
        r.config.training.block_size,
        r.config.training.evals_per_run,
        r.config.result_fingerprint()
    );
    s
}

/// Write `report.md` into `out` atomically.
pub fn write_report(out: &Path, r: &StudyReport) -> Result<()> {
    let path = out.join("report.md");
    odyssey_core::fs::write_atomic(&path, render(r).as_bytes())
        .map_err(|e| StudyError::stage(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StudyConfig;
    use crate::domain::example_result;

    #[test]
    fn report_lists_every_domain_verdict_and_figure() {
        let domains = vec![
            example_result("wiki_music", 0.9, 100.0, 95.0),
            example_result("arxiv_cs", 0.3, 200.0, 120.0),
        ];
        let r = StudyReport {
            version: "0".into(),
            config: StudyConfig::default(),
            model: "gpt2".into(),
            device: "cpu".into(),
            findings: vec!["No domain degraded.".into()],
            shared_degrading_tokens: vec![],
            correlations: vec![],
            any_degraded: false,
            resumed: vec![],
            domains,
            seconds: 1.0,
        };
        let md = render(&r);
        for needle in [
            "| wiki_music | 0.900 [0.890, 0.910]",
            "| 5000 of 5000 |",
            "| -5.0 % |",
            "### arxiv_cs: adapt",
            "plots/similarity_vs_delta.svg",
            "plots/training_curves.svg",
            "plots/token_contributions.svg",
            "plots/perplexity_before_after.svg",
            "| `\\n` | punctuation | 10 | +5.00 |",
            "- No domain degraded.",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        let dir = tempfile::tempdir().unwrap();
        write_report(dir.path(), &r).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("report.md")).unwrap(),
            md
        );
    }
}
