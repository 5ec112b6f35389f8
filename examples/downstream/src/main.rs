//! Odyssey's crates from another project: every example of docs/library.md, checked.
//!
//! ```text
//! odyssey-downstream DATA_DIR OUT_DIR
//! ```
//!
//! `DATA_DIR` has Odyssey's `data/default` layout (base-model/, pretraining/, domains/).
//! Exits non-zero when an example fails or gives a result outside its expected range.

mod adapt;
mod decompose;
mod embed;
mod score;
mod study;

use std::path::PathBuf;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn check(ok: bool, what: String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(what.into())
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, out] = args.as_slice() else {
        return Err("usage: odyssey-downstream DATA_DIR OUT_DIR".into());
    };
    let (data, out) = (PathBuf::from(data), PathBuf::from(out));
    let domains = data.join("domains");
    let model_dir = data.join("base-model");

    let docs = score::test_documents(&domains, "wiki_music", 3)?;
    let (base, mut model, tokenizer) = score::score(&model_dir, &docs)?;
    let m = base.metrics();
    check(
        m.token_perplexity.is_finite() && m.token_perplexity > 1.0,
        format!("base token perplexity {}", m.token_perplexity),
    )?;

    let (before, after) =
        adapt::continue_pretraining(&mut model, &tokenizer, &domains, "wiki_music", 4)?;
    check(
        after.is_finite() && before.is_finite(),
        format!("validation perplexity {before} → {after}"),
    )?;

    let scorer = odyssey_train::LmScorer::new(model, 8);
    let mut opts =
        odyssey_perplexity::ScoreOptions::new(odyssey_perplexity::WindowScheme::rolling(128))
            .batch_size(8);
    if let Some(eos) = odyssey_core::TokenizerHandle::eos_id(&tokenizer) {
        opts = opts.prefix_token(eos);
    }
    let adapted = odyssey_perplexity::score_documents(&scorer, &tokenizer, &docs, &opts)?;
    let d = decompose::explain(&base, &adapted, &tokenizer)?;
    // ΔNLL summed over positions is n · ln(adapted ppl / base ppl).
    let expected = m.tokens as f64 * (adapted.metrics().token_perplexity / m.token_perplexity).ln();
    check(
        (d.summary.total_delta - expected).abs() < 1e-3 * expected.abs().max(1.0),
        format!("total ΔNLL {} vs {expected}", d.summary.total_delta),
    )?;

    // sentence-transformers gives 0.6660, 0.1046, 0.1411 for these pairs.
    let c = embed::cosines()?;
    for (got, want) in c.iter().zip([0.6660f32, 0.1046, 0.1411]) {
        check((got - want).abs() < 2e-3, format!("cosine {got} vs {want}"))?;
    }

    let report = study::tiny_study(&data, &out)?;
    check(
        report.domains.len() == 2 && out.join("report.md").is_file(),
        format!("{} domains in {}", report.domains.len(), out.display()),
    )?;
    println!("all examples ran");
    Ok(())
}
