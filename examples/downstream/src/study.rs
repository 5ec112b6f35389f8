//! Run the whole study: similarity, base perplexity, continued pretraining, adapted perplexity,
//! decomposition and a verdict per domain, with a report.

use odyssey_study::{run_study, StudyConfig, StudyReport};
use std::path::Path;

/// The study on two domains of the data folder `data` (the layout of Odyssey's `data/default`),
/// with settings small enough for a smoke run; the report goes to `out`.
pub fn tiny_study(data: &Path, out: &Path) -> Result<StudyReport, Box<dyn std::error::Error>> {
    let mut cfg = StudyConfig {
        model: data.join("base-model"),
        pretraining_corpus: data.join("pretraining"),
        domains: data.join("domains"),
        only_domains: vec!["wiki_music".into(), "arxiv_cs".into()],
        out: out.to_path_buf(),
        ..StudyConfig::default()
    };
    cfg.training.max_train_tokens = 2 * 8 * 128;
    cfg.training.block_size = 128;
    cfg.training.evals_per_run = 1;
    cfg.training.max_valid_tokens = 256;
    cfg.eval.max_test_tokens = 512;
    cfg.similarity.domain_samples = 4;
    cfg.similarity.pretraining_samples = 8;
    cfg.similarity.bootstrap = 10;
    let report = run_study(&cfg)?;
    for d in &report.domains {
        println!(
            "study: {} {:.2} → {:.2}: {}",
            d.name, d.base.token_ppl, d.adapted.token_ppl, d.verdict.decision
        );
    }
    Ok(report)
}
