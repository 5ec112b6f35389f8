//! Test perplexity and its token-level decomposition (through `odyssey-perplexity`).

use crate::domain::{
    CategoryContribution, DecompositionRecord, PerplexityRecord, TokenContribution,
};
use crate::error::{Result, StudyError};
use odyssey_core::{Encoding, TokenScorer, TokenizerHandle};
use odyssey_perplexity::{
    decompose, metrics_excluding, Categorizer, Category, DecomposeConfig, Direction, Metrics,
    ScoreOptions, ScoredCorpus, TokenSet, TokenStat, TokenizedDocument, WindowScheme,
};
use std::borrow::Cow;

/// The categories of tokens that carry no domain information (the paper's newline,
/// whitespace, punctuation and function words): the token-filtering set.
pub const FILTERED_CATEGORIES: [Category; 3] = [
    Category::Whitespace,
    Category::Punctuation,
    Category::StopWord,
];

/// Test documents, tokenized once and shared by the base and the adapted model.
#[derive(Debug, Clone)]
pub struct TestSet {
    /// (id, text, encoding) per document; texts are cut at a token boundary when the token
    /// budget ends inside a document.
    pub docs: Vec<(String, String, Encoding)>,
}

impl TestSet {
    /// Tokenize `docs` and keep at most `max_tokens` tokens (0: all). A document that crosses
    /// the budget is cut after its last kept token, text and encoding alike.
    pub fn new(
        tokenizer: &dyn TokenizerHandle,
        docs: Vec<(String, String)>,
        max_tokens: usize,
    ) -> Result<Self> {
        let texts: Vec<&str> = docs.iter().map(|d| d.1.as_str()).collect();
        let encs = tokenizer
            .encode_batch(&texts)
            .map_err(|e| StudyError::stage("tokenizing the test split", e))?;
        let mut out = Vec::new();
        let mut total = 0usize;
        for ((id, text), mut enc) in docs.into_iter().zip(encs) {
            if enc.ids.is_empty() {
                continue;
            }
            let mut text = text;
            if max_tokens > 0 && total + enc.ids.len() > max_tokens {
                let keep = max_tokens - total;
                if keep < 2 {
                    break;
                }
                let mut end = enc.offsets[keep - 1].1.min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                enc.ids.truncate(keep);
                enc.offsets.truncate(keep);
                text.truncate(end);
            }
            total += enc.ids.len();
            out.push((id, text, enc));
            if max_tokens > 0 && total >= max_tokens {
                break;
            }
        }
        if out.is_empty() {
            return Err(StudyError::Invalid("the test split has no tokens".into()));
        }
        Ok(TestSet { docs: out })
    }

    /// Tokens in the set.
    pub fn tokens(&self) -> usize {
        self.docs.iter().map(|d| d.2.ids.len()).sum()
    }
}

/// Score the test set with lm-eval's rolling disjoint windows: the model conditions on up to
/// `window` tokens (0: its whole context).
pub fn score(
    scorer: &dyn TokenScorer,
    tokenizer: &dyn TokenizerHandle,
    test: &TestSet,
    window: usize,
    batch_size: usize,
) -> Result<ScoredCorpus> {
    let ctx = scorer.max_length().saturating_sub(1).max(1);
    let window = if window == 0 { ctx } else { window.min(ctx) };
    let mut opts = ScoreOptions::new(WindowScheme::rolling(window))
        .batch_size(batch_size)
        .progress(true);
    if let Some(eos) = tokenizer.eos_id() {
        opts = opts.prefix_token(eos);
    }
    let docs: Vec<TokenizedDocument> = test
        .docs
        .iter()
        .map(|(id, text, enc)| TokenizedDocument {
            id: Cow::Borrowed(id.as_str()),
            text: Cow::Borrowed(text.as_str()),
            encoding: Cow::Borrowed(enc),
        })
        .collect();
    let scored = odyssey_perplexity::score_tokenized(scorer, &docs, &opts)
        .map_err(|e| StudyError::stage("scoring the test split", e))?;
    Ok(scored.with_tokenizer_fingerprint(tokenizer.fingerprint()))
}

/// The pooled record of a scored test split.
pub fn perplexity_record(m: &Metrics) -> PerplexityRecord {
    PerplexityRecord {
        token_ppl: m.token_perplexity,
        word_ppl: m.word_perplexity_if_applicable(),
        word_ppl_not_applicable: m.word_perplexity_not_applicable(),
        byte_ppl: m.byte_perplexity,
        bits_per_byte: m.bits_per_byte,
        tokens: m.tokens as usize,
        words: m.words,
        bytes: m.bytes,
    }
}

fn contribution(t: &TokenStat) -> TokenContribution {
    TokenContribution {
        id: t.token_id,
        text: t.text.clone(),
        category: t.category.as_str().to_string(),
        count: t.count as usize,
        total_delta: t.total_delta,
        mean_delta: t.mean_delta,
        share: t.share,
    }
}

/// Decompose the change from `base` to `adapted` token by token and compute perplexity without
/// the [`FILTERED_CATEGORIES`].
pub fn decomposition_record(
    base: &ScoredCorpus,
    adapted: &ScoredCorpus,
    tokenizer: &dyn TokenizerHandle,
    top_k: usize,
) -> Result<DecompositionRecord> {
    let stage = |e| StudyError::stage("decomposing the perplexity change", e);
    let cfg = DecomposeConfig {
        direction: Some(Direction::Degradation),
        exclusions: Vec::new(),
        ..DecomposeConfig::default()
    };
    let d = decompose(base, adapted, tokenizer, &cfg).map_err(stage)?;
    let top_degrading: Vec<TokenContribution> = d
        .tokens
        .iter()
        .filter(|t| t.total_delta > 0.0)
        .take(top_k)
        .map(contribution)
        .collect();
    let top_improving: Vec<TokenContribution> = d
        .tokens
        .iter()
        .rev()
        .filter(|t| t.total_delta < 0.0)
        .take(top_k)
        .map(contribution)
        .collect();
    let losses: f64 = d.tokens.iter().map(|t| t.total_delta.max(0.0)).sum::<f64>();
    let top_losses: f64 = top_degrading.iter().map(|t| t.total_delta).sum();
    let set = TokenSet::Categories(FILTERED_CATEGORIES.to_vec());
    let (bf, af) = metrics_excluding(base, adapted, tokenizer, &Categorizer::default(), &set)
        .map_err(stage)?;
    Ok(DecompositionRecord {
        total_delta_nll: d.summary.total_delta,
        positions_worse: d.summary.positions_worse as usize,
        positions: d.summary.positions as usize,
        top_degrading,
        top_improving,
        categories: d
            .categories
            .iter()
            .map(|c| CategoryContribution {
                category: c.category.as_str().to_string(),
                count: c.count as usize,
                total_delta: c.total_delta,
                share: c.share,
            })
            .collect(),
        top_degrading_share_of_losses: if losses > 0.0 {
            top_losses / losses
        } else {
            0.0
        },
        filtered_set: set.describe(),
        filtered_positions: (d.summary.positions - bf.tokens) as usize,
        base_ppl_filtered: bf.token_perplexity,
        adapted_ppl_filtered: af.token_perplexity,
    })
}
