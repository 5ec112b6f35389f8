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
