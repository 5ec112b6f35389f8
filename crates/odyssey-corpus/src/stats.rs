//! Corpus statistics per domain and split.

use crate::collection::DomainCollection;
use crate::encode::{bytes_progress, for_each_encoded, Dyn};
use crate::error::Result;
use crate::tokenizer::HfTokenizer;
use crate::words::lm_eval_word_count;
use odyssey_core::{DocumentSource, Split, TokenizerHandle};
use serde::{Deserialize, Serialize};

/// How often each token id occurs (dense over the vocabulary).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenCounts {
    counts: Vec<u64>,
}

impl TokenCounts {
    /// Zero counts for a vocabulary of `vocab_size` ids (grows if larger ids come).
    pub fn new(vocab_size: usize) -> TokenCounts {
        TokenCounts {
            counts: vec![0; vocab_size],
        }
    }

    /// Count `ids`.
    pub fn add(&mut self, ids: &[u32]) {
        for &id in ids {
            let i = id as usize;
            if i >= self.counts.len() {
                self.counts.resize(i + 1, 0);
            }
            self.counts[i] += 1;
        }
    }

    /// The count of one id.
    pub fn get(&self, id: u32) -> u64 {
        self.counts.get(id as usize).copied().unwrap_or(0)
    }

    /// Counts indexed by id.
    pub fn as_slice(&self) -> &[u64] {
        &self.counts
    }

    /// Total number of tokens counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `k` most frequent ids with their counts (ties by smaller id).
    pub fn top(&self, k: usize) -> Vec<(u32, u64)> {
        let mut v: Vec<(u32, u64)> = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| (i as u32, c))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(k);
        v
    }
}

/// One of the most frequent tokens of a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenFrequency {
    /// Token id.
    pub id: u32,
    /// The token decoded on its own.
    pub text: String,
    /// Occurrences.
    pub count: u64,
    /// Share of all tokens of the split.
    pub share: f64,
}

/// Statistics of one split of one domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitStats {
    /// Domain name.
    pub domain: String,
    /// Split.
    pub split: Split,
    /// Documents.
    pub documents: u64,
    /// UTF-8 bytes of the document texts.
    pub bytes: u64,
    /// Words as lm-evaluation-harness counts them (`len(re.split(r"\s+", text))`, summed over
    /// documents).
    pub words: u64,
    /// Tokens (no special tokens added), when a tokenizer was given.
    pub tokens: Option<u64>,
    /// Tokens per UTF-8 byte.
    pub tokens_per_byte: Option<f64>,
    /// The most frequent tokens.
    pub top_tokens: Vec<TokenFrequency>,
}

/// Options of [`split_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsOptions {
    /// How many most frequent tokens to report.
    pub top_k: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Default for StatsOptions {
    fn default() -> Self {
        StatsOptions {
            top_k: 20,
            progress: false,
        }
    }
}

/// Statistics of one split, and its token counts when a tokenizer is given.
///
/// ```
/// use odyssey_core::Split;
/// use odyssey_corpus::{split_stats, DomainCollection, HfTokenizer, StatsOptions};
/// let tok = HfTokenizer::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bpe1024/tokenizer.json"))?;
/// let corpus = DomainCollection::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/odyssey-mini-sample"))?;
/// let (stats, counts) = split_stats(corpus.domain("arxiv_cs")?, Split::Test, Some(&tok), &StatsOptions::default())?;
/// assert_eq!(stats.documents, 1);
/// assert_eq!(stats.tokens, counts.map(|c| c.total()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn split_stats(
    source: &(impl DocumentSource + ?Sized),
    split: Split,
    tokenizer: Option<&HfTokenizer>,
    options: &StatsOptions,
) -> Result<(SplitStats, Option<TokenCounts>)> {
    let (mut documents, mut bytes, mut words) = (0u64, 0u64, 0u64);
    let progress = options
        .progress
        .then(|| bytes_progress(&format!("{} {split}", source.name())));
    let counts = match tokenizer {
        Some(tok) => {
            let mut counts = TokenCounts::new(tok.vocab_size());
            for_each_encoded(&Dyn(source), split, tok, progress.as_ref(), |doc, ids| {
                documents += 1;
                bytes += doc.text.len() as u64;
                words += lm_eval_word_count(&doc.text) as u64;
                counts.add(ids);
                Ok(())
            })?;
            Some(counts)
        }
        None => {
            for doc in source.documents(split)? {
                let doc = doc?;
                documents += 1;
                bytes += doc.text.len() as u64;
                words += lm_eval_word_count(&doc.text) as u64;
                if let Some(p) = &progress {
                    p.inc(doc.text.len() as u64);
                }
            }
            None
        }
    };
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let tokens = counts.as_ref().map(TokenCounts::total);
    let top_tokens = match (&counts, tokenizer) {
        (Some(c), Some(tok)) => {
            let total = c.total().max(1) as f64;
            c.top(options.top_k)
                .into_iter()
                .map(|(id, count)| TokenFrequency {
                    id,
                    text: tok.token_text(id).unwrap_or_default(),
                    count,
                    share: count as f64 / total,
                })
                .collect()
        }
        _ => Vec::new(),
    };
    let stats = SplitStats {
        domain: source.name().to_string(),
        split,
        documents,
        bytes,
        words,
        tokens,
        tokens_per_byte: tokens.map(|t| {
            if bytes == 0 {
                0.0
            } else {
                t as f64 / bytes as f64
            }
        }),
        top_tokens,
    };
    Ok((stats, counts))
}

/// [`split_stats`] for every split of every domain of a collection, in name and split order.
pub fn collection_stats(
    collection: &DomainCollection,
    tokenizer: Option<&HfTokenizer>,
    options: &StatsOptions,
) -> Result<Vec<SplitStats>> {
    let mut out = Vec::new();
    for d in collection.domains() {
        for split in d.splits() {
            out.push(split_stats(d, split, tokenizer, options)?.0);
        }
    }
    Ok(out)
}
