//! Pooled metrics with lm-evaluation-harness's formulas.

use serde::{Deserialize, Serialize};

/// Pooled perplexity figures of a set of scored tokens.
///
/// With `L = Σ ln p` over the scored tokens (lm-eval's summed log-likelihood):
/// `token_perplexity = exp(-L / tokens)`, `word_perplexity = exp(-L / words)`,
/// `byte_perplexity = exp(-L / bytes)` and `bits_per_byte = -L / bytes / ln 2`, where words are
/// `len(re.split(r"\s+", text))` and bytes the UTF-8 length of the original texts, summed over
/// documents (lm-eval's `weighted_perplexity` and `bits_per_byte` aggregations).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Scored tokens.
    pub tokens: u64,
    /// Words of the texts.
    pub words: u64,
    /// UTF-8 bytes of the texts.
    pub bytes: u64,
    /// Sum of the tokens' negative log-likelihoods (nats).
    pub nll_sum: f64,
    /// `exp(nll_sum / tokens)`.
    pub token_perplexity: f64,
    /// `exp(nll_sum / words)`.
    pub word_perplexity: f64,
    /// `exp(nll_sum / bytes)`.
    pub byte_perplexity: f64,
    /// `nll_sum / bytes / ln 2`.
    pub bits_per_byte: f64,
    /// Alphabetic characters of the texts (0 when not counted).
    #[serde(default)]
    pub letters: u64,
    /// Alphabetic characters in scripts written without spaces between words.
    #[serde(default)]
    pub unspaced_letters: u64,
}

impl Metrics {
    /// Metrics from an NLL sum and the counts it is normalised by. A zero count gives NaN for
    /// the figures that divide by it.
    pub fn from_sums(nll_sum: f64, tokens: u64, words: u64, bytes: u64) -> Self {
        let per = |n: u64| {
            if n == 0 {
                f64::NAN
            } else {
                nll_sum / n as f64
            }
        };
        Metrics {
            tokens,
            words,
            bytes,
            nll_sum,
            token_perplexity: per(tokens).exp(),
            word_perplexity: per(words).exp(),
            byte_perplexity: per(bytes).exp(),
            bits_per_byte: per(bytes) / std::f64::consts::LN_2,
            letters: 0,
            unspaced_letters: 0,
        }
    }

    /// The same metrics with the texts' letter counts (see
    /// [`crate::words::count_letters`]), which decide whether word perplexity applies.
    pub fn with_letters(mut self, letters: u64, unspaced_letters: u64) -> Self {
        self.letters = letters;
        self.unspaced_letters = unspaced_letters.min(letters);
        self
    }

    /// Mean NLL per scored token.
    pub fn mean_nll(&self) -> f64 {
        self.nll_sum / self.tokens as f64
    }

    /// Why word perplexity does not apply to these texts, or `None` when it does.
    ///
    /// lm-eval counts words as `len(re.split(r"\s+", text))`, which segments only scripts that
    /// put spaces between words. Japanese, Chinese or Thai text gives about one "word" per
    /// document (or per hard-wrapped line), and `exp(nll / words)` becomes astronomically large
    /// or infinite: a number that measures the whitespace, not the model. Word perplexity is
    /// reported as not applicable when at least [`MAX_UNSPACED_SHARE`] of the letters are in
    /// such scripts ([`crate::words::is_unspaced_script`]), when the texts average more than
    /// [`MAX_BYTES_PER_WORD`] UTF-8 bytes per word (English averages about 6; German, Russian,
    /// Arabic or Hindi stay below 20), when there are no words, or when the value is not finite.
    pub fn word_perplexity_not_applicable(&self) -> Option<String> {
        if self.words == 0 {
            return Some("the texts hold no whitespace-separated words".into());
        }
        if self.letters > 0 {
            let share = self.unspaced_letters as f64 / self.letters as f64;
            if share >= MAX_UNSPACED_SHARE {
                return Some(format!(
                    "{:.0} % of the letters are in scripts written without spaces between words (Han, kana, Thai, Lao, Khmer, Myanmar, ...): lm-eval's word count, re.split(r\"\\s+\"), does not segment them",
                    100.0 * share
                ));
            }
        }
        let per_word = self.bytes as f64 / self.words as f64;
        if per_word > MAX_BYTES_PER_WORD {
            return Some(format!(
                "{} whitespace-separated words in {} UTF-8 bytes ({per_word:.0} bytes per word, more than {MAX_BYTES_PER_WORD:.0}): lm-eval's word count, re.split(r\"\\s+\"), does not segment scripts written without spaces",
                self.words, self.bytes
            ));
        }
        if !self.word_perplexity.is_finite() {
            return Some(format!(
                "the value is not finite ({}) for {} words",
                self.word_perplexity, self.words
            ));
        }
        None
    }

    /// Word perplexity where it applies (see [`Self::word_perplexity_not_applicable`]).
    pub fn word_perplexity_if_applicable(&self) -> Option<f64> {
        self.word_perplexity_not_applicable()
            .is_none()
            .then_some(self.word_perplexity)
    }
}

/// Share of letters in scripts written without spaces between words at or above which
/// [`Metrics::word_perplexity_not_applicable`] reports word perplexity as not applicable.
pub const MAX_UNSPACED_SHARE: f64 = 0.25;

/// Mean UTF-8 bytes per whitespace-separated word above which
/// [`Metrics::word_perplexity_not_applicable`] reports word perplexity as not applicable.
pub const MAX_BYTES_PER_WORD: f64 = 40.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(text: &str, nll_per_token: f64, tokens: u64) -> Metrics {
        let (letters, unspaced) = crate::words::count_letters(text);
        Metrics::from_sums(
            nll_per_token * tokens as f64,
            tokens,
            crate::words::count_words(text),
            text.len() as u64,
        )
        .with_letters(letters, unspaced)
    }

    #[test]
    fn word_perplexity_applies_to_spaced_scripts_only() {
        for spaced in [
            "The orchestra played Mahler's second symphony in the new hall.",
            "Оркестр исполнил вторую симфонию Малера в новом зале.",
            "الأوركسترا عزفت السيمفونية الثانية لماهلر في القاعة الجديدة.",
            "ऑर्केस्ट्रा ने नए हॉल में महलर की दूसरी सिम्फनी बजाई।",
        ] {
            let m = metrics(spaced, 3.0, 20);
            assert_eq!(m.word_perplexity_not_applicable(), None, "{spaced}");
            assert_eq!(m.word_perplexity_if_applicable(), Some(m.word_perplexity));
        }
        for unspaced in [
            "オーケストラは新しいホールでマーラーの交響曲第二番を演奏した。",
            "管弦乐团在新音乐厅演奏了马勒的第二交响曲。",
            "วงออร์เคสตราบรรเลงซิมโฟนีหมายเลขสองของมาห์เลอร์ในหอประชุมใหม่",
        ] {
            let m = metrics(unspaced, 3.0, 20);
            let why = m.word_perplexity_not_applicable().unwrap();
            assert!(why.contains("without spaces"), "{why}");
            assert_eq!(m.word_perplexity_if_applicable(), None);
            // Without letter counts, the bytes-per-word rule still catches it.
            let counts_only = Metrics::from_sums(m.nll_sum, m.tokens, m.words, m.bytes);
            assert!(counts_only
                .word_perplexity_not_applicable()
                .is_some_and(|w| w.contains("bytes per word")));
        }
        // Hard-wrapped Japanese: a "word" per line, few bytes per word, still not applicable.
        let wrapped = "Python の開発は、1990 年ごろから開始されています。\n開発者の Guido van Rossum は教育用の\nプログラミング言語「ABC」の開発に参加していました。";
        assert!(metrics(wrapped, 3.0, 20)
            .word_perplexity_not_applicable()
            .is_some());
        // English quoting a few Japanese words: applicable.
        let mixed = "The word for Python in Japanese is パイソン, and the language is described as simple and easy to learn in its documentation.";
        assert_eq!(
            metrics(mixed, 3.0, 20).word_perplexity_not_applicable(),
            None
        );
        let empty = Metrics::from_sums(1.0, 1, 0, 0);
        assert!(empty.word_perplexity_not_applicable().is_some());
        // Spaced, but so many nats per word that the value overflows.
        let huge = Metrics::from_sums(1e6, 1000, 2, 60);
        assert!(huge.word_perplexity.is_infinite());
        assert!(huge
            .word_perplexity_not_applicable()
            .is_some_and(|w| w.contains("not finite")));
    }
}
