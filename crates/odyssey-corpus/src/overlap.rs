//! Lexical overlap between two corpora.

use crate::error::Result;
use crate::stats::TokenCounts;
use odyssey_core::{DocumentSource, Split};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

fn word_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // A fixed, valid pattern.
    RE.get_or_init(|| Regex::new(r"\w+").expect("the word pattern is valid"))
}

/// Unigram (word) counts of a corpus: maximal runs of Unicode word characters (`\w+`),
/// lower-cased by default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WordCounts {
    counts: HashMap<String, u64>,
    lowercase: bool,
}

impl WordCounts {
    /// Empty counts; `lowercase` folds case before counting.
    pub fn new(lowercase: bool) -> WordCounts {
        WordCounts {
            counts: HashMap::new(),
            lowercase,
        }
    }

    /// Count the words of `text`.
    pub fn add_text(&mut self, text: &str) {
        for m in word_re().find_iter(text) {
            let w = if self.lowercase {
                m.as_str().to_lowercase()
            } else {
                m.as_str().to_string()
            };
            *self.counts.entry(w).or_default() += 1;
        }
    }

    /// Count every document of one split.
    pub fn from_source(
        source: &(impl DocumentSource + ?Sized),
        split: Split,
        lowercase: bool,
    ) -> Result<WordCounts> {
        let mut wc = WordCounts::new(lowercase);
        for doc in source.documents(split)? {
            wc.add_text(&doc?.text);
        }
        Ok(wc)
    }

    /// Count of one word (give it lower-cased when counting folds case).
    pub fn get(&self, word: &str) -> u64 {
        self.counts.get(word).copied().unwrap_or(0)
    }

    /// Number of distinct words.
    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    /// The `k` most frequent words not in `stopwords` (ties in alphabetical order).
    pub fn top(&self, k: usize, stopwords: &HashSet<String>) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self
            .counts
            .iter()
            .filter(|(w, _)| !stopwords.contains(w.as_str()))
            .map(|(w, &c)| (w.as_str(), c))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(k);
        v
    }
}

/// English stop words (the NLTK list), for [`OverlapOptions::stopwords`].
pub use odyssey_core::words::ENGLISH_STOP_WORDS as ENGLISH_STOPWORDS;

/// Options of [`vocabulary_overlap`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlapOptions {
    /// Size of each corpus's vocabulary: its `top_k` most frequent words.
    pub top_k: usize,
    /// Words left out before ranking.
    pub stopwords: HashSet<String>,
}

impl Default for OverlapOptions {
    /// The top 10,000 words without English stop words, as in "Don't Stop Pretraining"
    /// (Gururangan et al., 2020), whose vocabulary-overlap measure M2D2 reports.
    fn default() -> Self {
        OverlapOptions {
            top_k: 10_000,
            stopwords: ENGLISH_STOPWORDS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Unigram vocabulary overlap: the share of the top-`k` words of `a` that are also among the
/// top-`k` words of `b` (`|A ∩ B| / min(|A|, |B|)`; both sets hold `k` words when the corpora
/// are large enough). 0 when either vocabulary is empty.
///
/// ```
/// use odyssey_corpus::{vocabulary_overlap, OverlapOptions, WordCounts};
/// let mut a = WordCounts::new(true);
/// a.add_text("Guitar riffs and drum solos");
/// let mut b = WordCounts::new(true);
/// b.add_text("guitar strings and bass solos");
/// let o = vocabulary_overlap(&a, &b, &OverlapOptions::default());
/// assert_eq!(o, 0.5); // {guitar, solos} of 4 words each ("and" is a stop word)
/// ```
pub fn vocabulary_overlap(a: &WordCounts, b: &WordCounts, options: &OverlapOptions) -> f64 {
    let ta: HashSet<&str> = a
        .top(options.top_k, &options.stopwords)
        .into_iter()
        .map(|(w, _)| w)
        .collect();
    let tb: HashSet<&str> = b
        .top(options.top_k, &options.stopwords)
        .into_iter()
        .map(|(w, _)| w)
        .collect();
    let denom = ta.len().min(tb.len());
    if denom == 0 {
        return 0.0;
    }
    ta.intersection(&tb).count() as f64 / denom as f64
}

/// Weighted Jaccard similarity of two token frequency distributions:
/// `Σ_i min(p_i, q_i) / Σ_i max(p_i, q_i)` with `p`, `q` the relative frequencies. 1 for
/// identical distributions, 0 for disjoint ones (and when either is empty).
///
/// ```
/// use odyssey_corpus::{weighted_jaccard, TokenCounts};
/// let mut a = TokenCounts::new(4);
/// a.add(&[0, 0, 1, 2]);
/// let mut b = TokenCounts::new(4);
/// b.add(&[0, 1, 1, 3]);
/// // p = (.5, .25, .25, 0), q = (.25, .5, 0, .25): Σmin = .5, Σmax = 1.5
/// assert!((weighted_jaccard(&a, &b) - 1.0 / 3.0).abs() < 1e-12);
/// ```
pub fn weighted_jaccard(a: &TokenCounts, b: &TokenCounts) -> f64 {
    let (ta, tb) = (a.total(), b.total());
    if ta == 0 || tb == 0 {
        return 0.0;
    }
    let (ta, tb) = (ta as f64, tb as f64);
    let (pa, pb) = (a.as_slice(), b.as_slice());
    let n = pa.len().max(pb.len());
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for i in 0..n {
        let p = pa.get(i).copied().unwrap_or(0) as f64 / ta;
        let q = pb.get(i).copied().unwrap_or(0) as f64 / tb;
        num += p.min(q);
        den += p.max(q);
    }
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

/// Both overlap measures between two corpora.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LexicalOverlap {
    /// Unigram vocabulary overlap (see [`vocabulary_overlap`]).
    pub vocabulary_overlap: f64,
    /// Weighted Jaccard of token distributions (see [`weighted_jaccard`]).
    pub weighted_jaccard: f64,
    /// The `k` of the vocabulary overlap.
    pub top_k: usize,
}

/// [`vocabulary_overlap`] and [`weighted_jaccard`] from precomputed counts.
pub fn lexical_overlap(
    words: (&WordCounts, &WordCounts),
    tokens: (&TokenCounts, &TokenCounts),
    options: &OverlapOptions,
) -> LexicalOverlap {
    LexicalOverlap {
        vocabulary_overlap: vocabulary_overlap(words.0, words.1, options),
        weighted_jaccard: weighted_jaccard(tokens.0, tokens.1),
        top_k: options.top_k,
    }
}
