//! A fast path for GPT-2-style byte-level BPE that gives exactly the ids HF `tokenizers` gives.
//!
//! HF's pipeline tracks alignments for every normalised character and builds a full
//! `Encoding` (token strings, offsets, masks) per text. For packing and caching only ids are
//! needed, so this path splits text with the GPT-2 pattern directly on the input, keeps a
//! per-thread cache from pre-token to ids, and calls the tokenizer's own BPE model only for
//! pre-tokens it has not seen. Texts that contain an added token fall back to HF's `encode`.

use ahash::AHashMap;
use regex::Regex;
use std::cell::RefCell;
use tokenizers::models::ModelWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{Model, Tokenizer};

/// GPT-2's split pattern without its look-ahead branch `\s+(?!\S)`, which [`ByteLevelFast::split`]
/// applies by hand (the `regex` crate has no look-around).
const PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+";

/// Entries a per-thread word cache holds before it is cleared.
const CACHE_LIMIT: usize = 1 << 18;

/// Pre-token (raw text) to ids.
type WordCache = AHashMap<Box<str>, Box<[u32]>>;

thread_local! {
    /// The word cache of this thread, with the fingerprint of the tokenizer that filled it.
    static WORD_CACHE: RefCell<(u64, WordCache)> = RefCell::new((0, WordCache::new()));
}

/// GPT-2's reversible byte-to-character table.
fn bytes_to_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u32 {
        let printable = (b'!' as u32..=b'~' as u32).contains(&b)
            || (0xA1..=0xAC).contains(&b)
            || (0xAE..=0xFF).contains(&b);
        let c = if printable {
            b
        } else {
            n += 1;
            256 + n - 1
        };
        table[b as usize] = char::from_u32(c).unwrap_or('\0');
    }
    table
}

/// Ids-only encoder for byte-level BPE tokenizers.
#[derive(Debug)]
pub(crate) struct ByteLevelFast {
    split_re: Regex,
    added_re: Option<Regex>,
    add_prefix_space: bool,
    chars: [char; 256],
    key: u64,
}

impl ByteLevelFast {
    /// Build the fast path if `tok` is a plain byte-level BPE (no normaliser, byte-level
    /// pre-tokenizer with the GPT-2 pattern, BPE without dropout); `None` otherwise.
    pub(crate) fn for_tokenizer(tok: &Tokenizer, key: u64) -> Option<ByteLevelFast> {
        if tok.get_normalizer().is_some() {
            return None;
        }
        let add_prefix_space = match tok.get_pre_tokenizer() {
            Some(PreTokenizerWrapper::ByteLevel(bl)) if bl.use_regex => bl.add_prefix_space,
            _ => return None,
        };
        match tok.get_model() {
            ModelWrapper::BPE(bpe) if bpe.dropout.is_none_or(|d| d == 0.0) => {}
            _ => return None,
        }
        let added: Vec<String> = tok
            .get_added_tokens_decoder()
            .values()
            .map(|t| regex::escape(&t.content))
            .filter(|c| !c.is_empty())
            .collect();
        let added_re = if added.is_empty() {
            None
        } else {
            Some(Regex::new(&added.join("|")).ok()?)
        };
        Some(ByteLevelFast {
            split_re: Regex::new(PATTERN).ok()?,
            added_re,
            add_prefix_space,
            chars: bytes_to_chars(),
            key,
        })
    }

    /// Whether `text` needs HF's full pipeline (it contains an added token).
    pub(crate) fn needs_fallback(&self, text: &str) -> bool {
        self.added_re.as_ref().is_some_and(|re| re.is_match(text))
    }

    /// The pre-tokens of `text`, exactly as GPT-2's pattern (with look-ahead) splits it.
    pub(crate) fn split<'t>(&self, text: &'t str, mut f: impl FnMut(&'t str)) {
        let mut pos = 0;
        while pos < text.len() {
            let Some(m) = self.split_re.find_at(text, pos) else {
                break;
            };
            let (start, mut end) = (m.start(), m.end());
            let piece = m.as_str();
            // Only the whitespace branch matches text ending in whitespace.
            if end < text.len() && piece.chars().next_back().is_some_and(char::is_whitespace) {
                // `\s+(?!\S)`: leave the last whitespace character to the next pre-token, when
                // one remains for this one.
                if let Some((last, _)) = piece.char_indices().next_back() {
                    if last > 0 {
                        end = start + last;
                    }
                }
            }
            f(&text[start..end]);
            pos = end;
        }
    }

    /// Append the ids of `text` to `out`. `model` is the tokenizer's BPE model.
    pub(crate) fn encode_into(
        &self,
        model: &ModelWrapper,
        text: &str,
        out: &mut Vec<u32>,
    ) -> tokenizers::Result<()> {
        let prefixed;
        let text = if self.add_prefix_space && !text.is_empty() && !text.starts_with(' ') {
            prefixed = format!(" {text}");
            prefixed.as_str()
        } else {
            text
        };
        WORD_CACHE.with(|cell| {
            let mut guard = cell.borrow_mut();
            let (owner, cache) = &mut *guard;
            if *owner != self.key || cache.len() > CACHE_LIMIT {
                cache.clear();
                *owner = self.key;
            }
            let mut mapped = String::new();
            let mut result = Ok(());
            self.split(text, |piece| {
                if result.is_err() {
                    return;
                }
                if let Some(ids) = cache.get(piece) {
                    out.extend_from_slice(ids);
                    return;
                }
                mapped.clear();
                for &b in piece.as_bytes() {
                    mapped.push(self.chars[b as usize]);
                }
                match model.tokenize(&mapped) {
                    Ok(tokens) => {
                        let ids: Box<[u32]> = tokens.iter().map(|t| t.id).collect();
                        out.extend_from_slice(&ids);
                        cache.insert(piece.into(), ids);
                    }
                    Err(e) => result = Err(e),
                }
            });
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_gpt2s_alphabet() {
        let ours: std::collections::BTreeSet<char> = bytes_to_chars().into_iter().collect();
        let hf: std::collections::BTreeSet<char> =
            tokenizers::pre_tokenizers::byte_level::ByteLevel::alphabet()
                .into_iter()
                .collect();
        assert_eq!(ours.len(), 256);
        assert_eq!(ours, hf);
        assert_eq!(bytes_to_chars()[b' ' as usize], 'Ġ');
        assert_eq!(bytes_to_chars()[b'\n' as usize], 'Ċ');
    }

    #[test]
    fn split_applies_the_whitespace_lookahead() {
        let tok: Tokenizer = crate::train::train_byte_level_bpe(
            ["a b"].iter(),
            &crate::BpeTrainingOptions::gpt2(260),
        )
        .unwrap()
        .inner()
        .clone();
        let fast = ByteLevelFast::for_tokenizer(&tok, 1).unwrap();
        let mut pieces = Vec::new();
        fast.split("Hello  world\n\nIt's 42!!  ", |p| pieces.push(p));
        assert_eq!(
            pieces,
            ["Hello", " ", " world", "\n", "\n", "It", "'s", " 42", "!!", "  "]
        );
    }
}
