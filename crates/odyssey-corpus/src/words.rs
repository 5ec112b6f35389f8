//! Word counts as lm-evaluation-harness defines them.

/// Whether Python's `re` treats `c` as `\s` in a `str` pattern (`str.isspace()`): Unicode
/// white space plus the four information separators U+001C..U+001F.
pub fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `len(re.split(r"\s+", text))`, lm-evaluation-harness's word count for word perplexity.
/// Leading or trailing white space counts as an extra (empty) word, as in Python.
///
/// ```
/// use odyssey_corpus::lm_eval_word_count;
/// assert_eq!(lm_eval_word_count("a b  c"), 3);
/// assert_eq!(lm_eval_word_count(" a b\n"), 4);
/// assert_eq!(lm_eval_word_count(""), 1);
/// ```
pub fn lm_eval_word_count(text: &str) -> usize {
    let mut runs = 0;
    let mut in_space = false;
    for c in text.chars() {
        let s = is_python_whitespace(c);
        if s && !in_space {
            runs += 1;
        }
        in_space = s;
    }
    runs + 1
}
