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
        "| domain | centroid cosine [95 % CI] | MMD² | unigram overlap | trained on (tokens) | base ppl | adapted ppl | Δ ppl | general corpus Δ ppl (forgetting) | best valid step | verdict |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for d in &r.domains {
        let c = d.similarity.centroid_cosine;
        let _ = writeln!(
            s,
            "| {} | {:.3} [{:.3}, {:.3}] | {} | {} | {} of {} | {:.2} | {:.2} | {:+.1} % | {} | {} / {} | {} |",
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
            d.forgetting
                .as_ref()
                .map(|f| format!("{:+.1} %", f.delta_ppl_pct))
                .unwrap_or_else(|| "–".into()),
            d.training.best_step,
            d.training.steps,
            d.verdict.decision
        );
    }
    let _ = writeln!(
        s,
        "\n### Perplexity per token, word and byte (lm-evaluation-harness definitions)\n"
    );
    let _ = writeln!(
        s,
        "| domain | token ppl | word ppl | byte ppl | bits per byte | test tokens / words / bytes |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for d in &r.domains {
        let word = match (d.base.word_ppl, d.adapted.word_ppl) {
            (Some(b), Some(a)) => format!("{b:.2} → {a:.2}"),
            _ => format!(
                "n/a: {}",
                d.base
                    .word_ppl_not_applicable
                    .as_deref()
                    .or(d.adapted.word_ppl_not_applicable.as_deref())
                    .unwrap_or("not measured")
            ),
        };
        let _ = writeln!(
            s,
            "| {} | {:.2} → {:.2} | {} | {:.4} → {:.4} | {:.4} → {:.4} | {} / {} / {} |",
            d.name,
            d.base.token_ppl,
            d.adapted.token_ppl,
            word,
            d.base.byte_ppl,
            d.adapted.byte_ppl,
            d.base.bits_per_byte,
            d.adapted.bits_per_byte,
            d.base.tokens,
            d.base.words,
            d.base.bytes
        );
    }
    let with_model_sim: Vec<_> = r
        .domains
        .iter()
        .filter(|d| d.similarity.model_centroid_cosine.is_some())
        .collect();
    if !with_model_sim.is_empty() {
        let _ = writeln!(
            s,
            "\n### Similarity measured from the base model itself (no pretraining corpus or sentence encoder needed)\n"
        );
        let _ = writeln!(
            s,
            "| domain | base bits per byte (test) | centroid cosine under the base model's own embeddings [95 % CI] | sentence-encoder centroid cosine |"
        );
        let _ = writeln!(s, "|---|---|---|---|");
        for d in with_model_sim {
            let m = d
                .similarity
                .model_centroid_cosine
                .unwrap_or(crate::domain::Estimate {
                    value: f64::NAN,
                    lo: f64::NAN,
                    hi: f64::NAN,
                });
            let _ = writeln!(
                s,
                "| {} | {:.4} | {:.4} [{:.4}, {:.4}] | {:.3} |",
                d.name,
                d.base.bits_per_byte,
                m.value,
                m.lo,
                m.hi,
                d.similarity.centroid_cosine.value
            );
        }
    }
    let with_control: Vec<_> = r
        .domains
        .iter()
        .filter_map(|d| d.control.map(|c| (d, c)))
        .collect();
    if !with_control.is_empty() {
        let _ = writeln!(
            s,
            "\n### Control arm: the same budget of continued pretraining on the pretraining corpus\n"
        );
        if let Some(c) = &r.control {
            let _ = writeln!(
                s,
                "The control model is the base after continued pretraining on `{}` ({} tokens, {} steps, the domains' settings); every domain's test split is scored with it. A domain's own effect is its own run's gain minus the control's gain on the same test tokens (gain = −Δppl %).\n",
                c.corpus.display(),
                c.training.tokens,
                c.training.steps
            );
        }
        let _ = writeln!(
            s,
            "| domain | Δ ppl, domain run | Δ ppl, control run | own effect (pp) | reading |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|");
        for (d, c) in &with_control {
            let _ = writeln!(
                s,
                "| {} | {:+.2} % | {:+.2} % | {:+.2} | {} |",
                d.name,
                d.delta_ppl_pct(),
                c.delta_ppl_pct,
                c.own_effect_pp,
                if c.own_effect_pp < 0.0 {
                    "**failure case**: the domain did less for itself than generic text"
                } else {
                    "the domain helped beyond generic text"
                }
            );
        }
        if !r.own_effect_correlations.is_empty() {
            let _ = writeln!(
                s,
                "\nThe change beyond the control (Δppl domain − Δppl control, in points; positive: the domain's own text did less than generic text) against similarity — the paper's finding reads here as a positive correlation:\n"
            );
            let _ = writeln!(
                s,
                "| similarity measure | n | Pearson r | Spearman ρ (p) | Kendall τ (p) |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|");
            for c in &r.own_effect_correlations {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.2} | {:.2} ({:.3}) | {:.2} ({:.3}) |",
                    c.measure,
                    c.n,
                    c.pearson.estimate.value,
                    c.spearman.estimate.value,
                    c.spearman.p_value,
                    c.kendall.estimate.value,
                    c.kendall.p_value
                );
            }
        }
    }
    super::sections::preflight(&mut s, r);
    super::sections::forgetting(&mut s, r);
    super::sections::mitigations(&mut s, r);
    if r.domains.is_empty() {
        // `--preflight-only`: no full run, so none of the study's figures was drawn.
        let _ = writeln!(
            s,
            "\nNo full runs in this report (`--preflight-only`): the pre-flight's predictions above are all it holds.\n"
        );
        method(&mut s, r);
        return s;
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
        let _ = writeln!(
            s,
            "- checkpoints on disk: {:.1} MB when training ended, {:.1} MB kept (`training.checkpoints = \"{}\"`)",
            d.disk.at_end_of_training as f64 / 1e6,
            d.disk.kept as f64 / 1e6,
            match r.config.training.checkpoints {
                crate::config::CheckpointPolicy::Resume => "resume",
                crate::config::CheckpointPolicy::All => "all",
                crate::config::CheckpointPolicy::None => "none",
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
    method(&mut s, r);
    s
}

/// The report's "Method" section.
fn method(s: &mut String, r: &StudyReport) {
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
            control: None,
            domains,
            memory: None,
            own_effect_correlations: Vec::new(),
            preflight: Vec::new(),
            preflight_comparison: None,
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
