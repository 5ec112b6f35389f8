//! Decompose a perplexity change: which tokens got worse, which got better, by category.

use odyssey_core::TokenizerHandle;
use odyssey_perplexity::{decompose, DecomposeConfig, Decomposition, Direction, ScoredCorpus};

/// The token-level decomposition of the change from `base` to `adapted` (the same documents
/// scored by two models), tokens that got worse first.
pub fn explain(
    base: &ScoredCorpus,
    adapted: &ScoredCorpus,
    tokenizer: &dyn TokenizerHandle,
) -> Result<Decomposition, Box<dyn std::error::Error>> {
    let cfg = DecomposeConfig {
        direction: Some(Direction::Degradation),
        ..DecomposeConfig::default()
    };
    let d = decompose(base, adapted, tokenizer, &cfg)?;
    println!(
        "decompose: total ΔNLL {:+.1} over {} positions, {} got worse",
        d.summary.total_delta, d.summary.positions, d.summary.positions_worse
    );
    for t in d.tokens.iter().take(3) {
        println!(
            "  {:?} ({}): {:+.2} over {} occurrences",
            t.text,
            t.category.as_str(),
            t.total_delta,
            t.count
        );
    }
    Ok(d)
}
