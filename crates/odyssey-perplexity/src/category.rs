//! Token categories decided from a token's decoded string.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A coarse class of tokens, to see whether a perplexity change comes from tokens that carry
/// no domain information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Only whitespace: newlines, spaces, tabs.
    Whitespace,
    /// Only punctuation and symbols (plus optional surrounding whitespace).
    Punctuation,
    /// Only numeric characters (plus optional surrounding whitespace).
    Digits,
    /// A stop word (function word), compared trimmed and lower-cased.
    StopWord,
    /// Anything else: content words, word pieces, mixed tokens, special tokens.
    Other,
}

impl Category {
    /// Every category in report order.
    pub const ALL: [Category; 5] = [
        Category::Whitespace,
        Category::Punctuation,
        Category::Digits,
        Category::StopWord,
        Category::Other,
    ];

    /// Short name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Whitespace => "newline/whitespace",
            Category::Punctuation => "punctuation",
            Category::Digits => "digits",
            Category::StopWord => "stop word",
            Category::Other => "other",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// English function words (the NLTK English stop-word list).
pub use odyssey_core::words::ENGLISH_STOP_WORDS;

/// Decides a token's [`Category`] from its decoded string. Configurable: the stop-word list
/// and per-id overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Categorizer {
    /// Lower-case stop words.
    pub stop_words: BTreeSet<String>,
    /// Categories forced for particular token ids (special tokens, for example).
    pub overrides: BTreeMap<u32, Category>,
}

impl Default for Categorizer {
    fn default() -> Self {
        Categorizer {
            stop_words: ENGLISH_STOP_WORDS.iter().map(|s| s.to_string()).collect(),
            overrides: BTreeMap::new(),
        }
    }
}

impl Categorizer {
    /// A categorizer with the given stop words (lower-cased) and no overrides.
    pub fn with_stop_words<I, S>(words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Categorizer {
            stop_words: words
                .into_iter()
                .map(|w| w.as_ref().to_lowercase())
                .collect(),
            overrides: BTreeMap::new(),
        }
    }

    /// Force `category` for token `id`.
    pub fn override_id(mut self, id: u32, category: Category) -> Self {
        self.overrides.insert(id, category);
        self
    }

    /// The category of token `id` whose decoded string is `text`.
    ///
    /// Rules, in order: an override; only whitespace → whitespace; empty → other; only numeric
    /// characters (ignoring surrounding whitespace) → digits; only non-alphanumeric characters
    /// other than U+FFFD (a lone byte of a multi-byte character) → punctuation; a stop word
    /// (trimmed, lower-cased) → stop word; else other.
    pub fn classify(&self, id: u32, text: &str) -> Category {
        if let Some(&c) = self.overrides.get(&id) {
            return c;
        }
        let core = text.trim();
        if core.is_empty() {
            return if text.is_empty() {
                Category::Other
            } else {
                Category::Whitespace
            };
        }
        if core.chars().all(char::is_numeric) {
            return Category::Digits;
        }
        if core
            .chars()
            .all(|c| !c.is_alphanumeric() && !c.is_whitespace() && c != '\u{fffd}')
        {
            return Category::Punctuation;
        }
        if self.stop_words.contains(&core.to_lowercase()) {
            return Category::StopWord;
        }
        Category::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_typical_tokens() {
        let c = Categorizer::default();
        assert_eq!(c.classify(0, "\n"), Category::Whitespace);
        assert_eq!(c.classify(0, "   "), Category::Whitespace);
        assert_eq!(c.classify(0, ","), Category::Punctuation);
        assert_eq!(c.classify(0, " ("), Category::Punctuation);
        assert_eq!(c.classify(0, " 1987"), Category::Digits);
        assert_eq!(c.classify(0, " The"), Category::StopWord);
        assert_eq!(c.classify(0, " music"), Category::Other);
        assert_eq!(c.classify(0, "\u{fffd}"), Category::Other);
        assert_eq!(c.classify(0, ""), Category::Other);
        let c = Categorizer::with_stop_words(["Music"]).override_id(7, Category::Whitespace);
        assert_eq!(c.classify(1, " music"), Category::StopWord);
        assert_eq!(c.classify(1, " the"), Category::Other);
        assert_eq!(c.classify(7, "x"), Category::Whitespace);
    }
}
