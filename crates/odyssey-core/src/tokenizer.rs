//! Tokenizer handles.

use crate::Result;

/// The result of encoding one text: token ids and each token's byte span in the text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoding {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Byte offsets `(start, end)` of each token in the encoded text (same length as `ids`).
    pub offsets: Vec<(usize, usize)>,
}

/// A tokenizer shared by every stage that must agree on token ids.
pub trait TokenizerHandle: Send + Sync {
    /// Encode one text without adding special tokens.
    fn encode(&self, text: &str) -> Result<Encoding>;

    /// Encode many texts; the output order matches the input order.
    fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Encoding>> {
        texts.iter().map(|t| self.encode(t)).collect()
    }

    /// Decode ids back to text.
    fn decode(&self, ids: &[u32]) -> Result<String>;

    /// The surface string of one token (decoded on its own), if the id exists.
    fn token_text(&self, id: u32) -> Option<String>;

    /// Number of ids, special tokens included.
    fn vocab_size(&self) -> usize;

    /// The end-of-document token placed between documents when packing, if any.
    fn eos_id(&self) -> Option<u32>;

    /// A stable hash of the tokenizer definition (vocabulary, merges, normalisation), used to
    /// invalidate token caches and to check that two models share a tokenizer.
    fn fingerprint(&self) -> u64;
}
