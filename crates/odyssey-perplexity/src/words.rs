//! Word and byte counts with lm-evaluation-harness's definitions.

/// Python's `str.isspace` (what `re`'s `\s` matches in a `str` pattern): Unicode White_Space
/// plus the information separators U+001C..U+001F.
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// lm-eval's word count, `len(re.split(r"\s+", text))`: one more than the number of maximal
/// whitespace runs (so an empty text has one word, and leading/trailing whitespace each add an
/// empty "word", exactly as in Python).
pub fn count_words(text: &str) -> u64 {
    let mut runs = 0u64;
    let mut in_space = false;
    for c in text.chars() {
        let s = is_python_space(c);
        if s && !in_space {
            runs += 1;
        }
        in_space = s;
    }
    runs + 1
}

/// Whether `c` belongs to a script written without spaces between words: Han (CJK
/// ideographs), Hiragana, Katakana, Thai, Lao, Khmer, Myanmar, Tibetan, Javanese, Balinese.
/// lm-eval's whitespace word count does not segment text in these scripts.
pub fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF      // Thai, Lao
        | 0x0F00..=0x0FFF    // Tibetan
        | 0x1000..=0x109F    // Myanmar
        | 0x1780..=0x17FF    // Khmer
        | 0x19E0..=0x19FF    // Khmer symbols
        | 0x1B00..=0x1B7F    // Balinese
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x31F0..=0x31FF    // Katakana phonetic extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xA980..=0xA9DF    // Javanese
        | 0xAA60..=0xAA7F    // Myanmar extended-A
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF66..=0xFF9F    // halfwidth Katakana
        | 0x20000..=0x3134F  // CJK extensions B..G
    )
}

/// `(letters, unspaced)`: the alphabetic characters of `text`, and those of them in a script
/// written without spaces between words ([`is_unspaced_script`]).
pub fn count_letters(text: &str) -> (u64, u64) {
    let (mut letters, mut unspaced) = (0u64, 0u64);
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        unspaced += u64::from(is_unspaced_script(c));
    }
    (letters, unspaced)
}

/// lm-eval's byte count: `len(text.encode("utf-8"))`.
pub fn count_bytes(text: &str) -> u64 {
    text.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_split_on_simple_cases() {
        assert_eq!(count_words(""), 1);
        assert_eq!(count_words(" "), 2);
        assert_eq!(count_words("a b"), 2);
        assert_eq!(count_words(" a  b\n"), 4);
        assert_eq!(count_bytes("é"), 2);
    }
}
