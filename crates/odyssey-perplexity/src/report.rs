//! JSON and Markdown output of a [`Decomposition`].

use crate::decompose::Decomposition;
use crate::error::{PerplexityError, Result};
use std::fmt::Write as _;
use std::path::Path;

impl Decomposition {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String> {
        odyssey_core::json::to_string_pretty(self).map_err(PerplexityError::Json)
    }

    /// Write the report as JSON, atomically (complete or absent).
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let json = self.to_json()?;
        odyssey_core::fs::write_atomic(path, json.as_bytes()).map_err(PerplexityError::Write)
    }

    /// Write the Markdown rendering (see [`Self::to_markdown`]), atomically.
    pub fn write_markdown(&self, path: &Path, top: usize) -> Result<()> {
        let md = self.to_markdown(top);
        odyssey_core::fs::write_atomic(path, md.as_bytes()).map_err(PerplexityError::Write)
    }

    /// Markdown tables: summary, top-k shares, the first `top` ranked tokens, categories,
    /// exclusions, the `top` documents with the largest |ΔNLL|, and the histogram.
    pub fn to_markdown(&self, top: usize) -> String {
        let s = &self.summary;
        let mut o = String::new();
        let _ = writeln!(o, "## Perplexity change: base → adapted\n");
        let _ = writeln!(o, "| metric | base | adapted | change |");
        let _ = writeln!(o, "|---|---:|---:|---:|");
        let rows = [
            (
                "token perplexity",
                s.base.token_perplexity,
                s.adapted.token_perplexity,
            ),
            (
                "word perplexity",
                s.base.word_perplexity,
                s.adapted.word_perplexity,
            ),
            (
                "byte perplexity",
                s.base.byte_perplexity,
                s.adapted.byte_perplexity,
            ),
            (
                "bits per byte",
                s.base.bits_per_byte,
                s.adapted.bits_per_byte,
            ),
        ];
        for (name, b, a) in rows {
            if name == "word perplexity" {
                if let Some(why) = s.base.word_perplexity_not_applicable() {
                    let _ = writeln!(o, "| {name} | n/a | n/a | not applicable: {why} |");
                    continue;
                }
            }
            let _ = writeln!(o, "| {name} | {b:.4} | {a:.4} | {} |", pct(a, b));
        }
        let _ = writeln!(
            o,
            "\n{} documents, {} scored positions, {} distinct tokens; total ΔNLL {:+.3} nats \
             (mean {:+.5} per position); {} positions worse, {} better; ranked by {}.\n",
            s.documents,
            s.positions,
            s.distinct_tokens,
            s.total_delta,
            s.mean_delta,
            s.positions_worse,
            s.positions_better,
            match s.direction {
                crate::Direction::Degradation => "degradation",
                crate::Direction::Gain => "gain",
            }
        );
        if !self.top_k.is_empty() {
            let _ = writeln!(o, "| top k tokens | ΔNLL | share of total ΔNLL |");
            let _ = writeln!(o, "|---:|---:|---:|");
            for t in &self.top_k {
                let _ = writeln!(
                    o,
                    "| {} | {:+.3} | {:.1} % |",
                    t.k,
                    t.delta,
                    100.0 * t.share
                );
            }
            o.push('\n');
        }
        let _ = writeln!(
            o,
            "| rank | token | id | category | count | total Δ | mean Δ | share | NLL base | NLL adapted |"
        );
        let _ = writeln!(o, "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|");
        for t in self.tokens.iter().take(top) {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {:+.3} | {:+.4} | {:.1} % | {:.3} | {:.3} |",
                t.rank,
                escape(&t.text),
                t.token_id,
                t.category,
                t.count,
                t.total_delta,
                t.mean_delta,
                100.0 * t.share,
                t.mean_nll_base,
                t.mean_nll_adapted
            );
        }
        let _ = writeln!(
            o,
            "\n| category | tokens | count | total Δ | mean Δ | share | NLL base | NLL adapted |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for c in &self.categories {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:+.3} | {:+.4} | {:.1} % | {:.3} | {:.3} |",
                c.category,
                c.distinct_tokens,
                c.count,
                c.total_delta,
                c.mean_delta,
                100.0 * c.share,
                c.mean_nll_base,
                c.mean_nll_adapted
            );
        }
        if !self.exclusions.is_empty() {
            let _ = writeln!(
                o,
                "\n| excluded | ids | positions | token ppl base | token ppl adapted | change |"
            );
            let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|");
            for e in &self.exclusions {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {:.4} | {:.4} | {} |",
                    escape(&e.description),
                    e.excluded_ids,
                    e.excluded_positions,
                    e.base.token_perplexity,
                    e.adapted.token_perplexity,
                    pct(e.adapted.token_perplexity, e.base.token_perplexity)
                );
            }
        }
        let mut docs: Vec<_> = self.documents.iter().collect();
        docs.sort_by(|a, b| b.total_delta.abs().total_cmp(&a.total_delta.abs()));
        let _ = writeln!(
            o,
            "\n| document | positions | total Δ | mean Δ | share | token ppl base | token ppl adapted |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|");
        for d in docs.into_iter().take(top) {
            let _ = writeln!(
                o,
                "| {} | {} | {:+.3} | {:+.4} | {:.1} % | {:.4} | {:.4} |",
                escape(&d.id),
                d.positions,
                d.total_delta,
                d.mean_delta,
                100.0 * d.share,
                d.base.token_perplexity,
                d.adapted.token_perplexity
            );
        }
        let h = &self.histogram;
        let _ = writeln!(o, "\n| ΔNLL bin | positions |");
        let _ = writeln!(o, "|---|---:|");
        if h.below > 0 {
            let _ = writeln!(o, "| < {:.3} | {} |", h.edges[0], h.below);
        }
        for (k, c) in h.counts.iter().enumerate() {
            let _ = writeln!(o, "| [{:.3}, {:.3}) | {} |", h.edges[k], h.edges[k + 1], c);
        }
        if h.above > 0 {
            let _ = writeln!(o, "| > {:.3} | {} |", h.edges[h.edges.len() - 1], h.above);
        }
        o
    }
}

fn pct(after: f64, before: f64) -> String {
    if before == 0.0 || !before.is_finite() || !after.is_finite() {
        return "—".into();
    }
    format!("{:+.2} %", 100.0 * (after / before - 1.0))
}

/// Make a token string visible and table-safe: escapes newlines, tabs, pipes and backticks,
/// shows a leading or trailing space as `␣`.
fn escape(s: &str) -> String {
    let mut out = String::from("`");
    for (i, c) in s.chars().enumerate() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '|' => out.push_str("\\|"),
            '`' => out.push('\''),
            ' ' if i == 0 || i + 1 == s.chars().count() => out.push('␣'),
            c => out.push(c),
        }
    }
    out.push('`');
    out
}
