//! [`HfTokenizer`]: HF `tokenizers` behind [`odyssey_core::TokenizerHandle`].

use crate::bytelevel::ByteLevelFast;
use crate::error::{CorpusError, Result};
use crate::fingerprint::hash_bytes;
use odyssey_core::{Encoding, TokenizerHandle};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tokenizers::Tokenizer;

/// End-of-document tokens recognised by name, in order of preference: GPT-2/GPT-NeoX/OLMo,
/// Llama/Mistral/T5, Gemma, Llama 3, ChatML, and BERT's separator as a last resort.
pub const EOS_CANDIDATES: [&str; 6] = [
    "<|endoftext|>",
    "</s>",
    "<eos>",
    "<|end_of_text|>",
    "<|im_end|>",
    "[SEP]",
];

/// A `tokenizer.json` loaded with HF `tokenizers` (GPT-2-style byte-level BPE, BERT WordPiece,
/// Llama-style SentencePiece BPE, ...).
///
/// * Ids match HF `tokenizers` (Rust and Python) exactly; encoding never adds special tokens.
/// * [`encode`](TokenizerHandle::encode) gives byte offsets into the text.
/// * [`encode_ids`](Self::encode_ids) and [`encode_batch_ids`](Self::encode_batch_ids) are the
///   fast paths for packing and caching (ids only; batches run in parallel with rayon, order
///   kept). Plain byte-level BPE tokenizers get a dedicated splitter with a per-thread word
///   cache; others go through HF's pipeline.
/// * The end-of-document token is found by name (see [`EOS_CANDIDATES`]) or set with
///   [`with_eos_token`](Self::with_eos_token).
/// * The fingerprint is a hash of the tokenizer's JSON as HF serialises it.
///
/// ```
/// use odyssey_core::TokenizerHandle;
/// use odyssey_corpus::HfTokenizer;
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bpe1024/tokenizer.json");
/// let tok = HfTokenizer::from_file(path)?;
/// let ids = tok.encode_ids("The orchestra played Mahler.")?;
/// assert_eq!(tok.decode(&ids)?, "The orchestra played Mahler.");
/// assert_eq!(tok.eos_id(), tok.token_id("<|endoftext|>"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct HfTokenizer {
    inner: Tokenizer,
    eos: Option<u32>,
    fingerprint: u64,
    fast: Option<ByteLevelFast>,
    path: Option<PathBuf>,
}

fn tok_err(context: impl Into<String>, e: tokenizers::Error) -> CorpusError {
    CorpusError::Tokenizer {
        context: context.into(),
        source: e,
    }
}

impl HfTokenizer {
    /// Load a `tokenizer.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<HfTokenizer> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|e| CorpusError::io(path, e))?;
        let mut tok = Self::parse(&json, path)?;
        tok.path = Some(path.to_path_buf());
        Ok(tok)
    }

    /// The tokenizer a GGUF model file describes in its `tokenizer.ggml.*` metadata (see
    /// [`odyssey_gguf::tokenizer`]): byte-level BPE with the file's pre-tokenizer, control
    /// tokens matched whole. The end-of-document token is chosen by name as for any tokenizer
    /// ([`EOS_CANDIDATES`]: `<|endoftext|>` before the chat-end token a GGUF may name as EOS).
    pub fn from_gguf(path: impl AsRef<Path>) -> Result<HfTokenizer> {
        let path = path.as_ref();
        let gguf = |e| CorpusError::Gguf(Box::new(e));
        let file = odyssey_gguf::GgufFile::open(path).map_err(gguf)?;
        let inner = odyssey_gguf::tokenizer::tokenizer(&file).map_err(gguf)?;
        let mut tok = Self::from_tokenizer(inner)?;
        tok.path = Some(path.to_path_buf());
        Ok(tok)
    }

    /// Load a tokenizer from the text of a `tokenizer.json`.
    pub fn from_json(json: &str) -> Result<HfTokenizer> {
        Self::parse(json, Path::new("<memory>"))
    }

    fn parse(json: &str, path: &Path) -> Result<HfTokenizer> {
        let inner = Tokenizer::from_str(json).map_err(|source| CorpusError::TokenizerParse {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_tokenizer(inner)
    }

    /// Wrap an HF tokenizer built in code.
    pub fn from_tokenizer(inner: Tokenizer) -> Result<HfTokenizer> {
        let json = inner
            .to_string(false)
            .map_err(|e| tok_err("serialising the tokenizer", e))?;
        let fingerprint = hash_bytes(json.as_bytes());
        let eos = EOS_CANDIDATES.iter().find_map(|t| inner.token_to_id(t));
        let fast = ByteLevelFast::for_tokenizer(&inner, fingerprint);
        Ok(HfTokenizer {
            inner,
            eos,
            fingerprint,
            fast,
            path: None,
        })
    }

    /// Use `token` as the end-of-document token.
    pub fn with_eos_token(mut self, token: &str) -> Result<HfTokenizer> {
        let id = self.inner.token_to_id(token).ok_or_else(|| {
            CorpusError::InvalidInput(format!(
                "end-of-document token {token:?} is not in the vocabulary"
            ))
        })?;
        self.eos = Some(id);
        Ok(self)
    }

    /// The HF tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// The file it was loaded from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The id of a token string (added tokens included).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Whether ids-only encoding uses the dedicated byte-level path.
    pub fn has_fast_path(&self) -> bool {
        self.fast.is_some()
    }

    /// The `tokenizer.json` text, as HF serialises it.
    pub fn to_json(&self, pretty: bool) -> Result<String> {
        self.inner
            .to_string(pretty)
            .map_err(|e| tok_err("serialising the tokenizer", e))
    }

    /// Save as `tokenizer.json` at `path`, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let json = self.to_json(true)?;
        odyssey_core::fs::write_atomic(path.as_ref(), json.as_bytes()).map_err(CorpusError::Core)
    }

    /// Token ids of `text` (no special tokens added).
    pub fn encode_ids(&self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        self.encode_ids_into(text, &mut out)?;
        Ok(out)
    }

    /// Append the token ids of `text` to `out`.
    pub fn encode_ids_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        match &self.fast {
            Some(fast) if !fast.needs_fallback(text) => fast
                .encode_into(self.inner.get_model(), text, out)
                .map_err(|e| tok_err("encoding a text", e)),
            _ => {
                let enc = self
                    .inner
                    .encode_fast(text, false)
                    .map_err(|e| tok_err("encoding a text", e))?;
                out.extend_from_slice(enc.get_ids());
                Ok(())
            }
        }
    }

    /// Token ids of HF's own pipeline, bypassing the byte-level fast path (for checks).
    pub fn encode_ids_reference(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| tok_err("encoding a text", e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Token ids of many texts, in parallel over texts; the output order is the input order.
    pub fn encode_batch_ids<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        texts
            .par_iter()
            .map(|t| self.encode_ids(t.as_ref()))
            .collect()
    }
}

impl TokenizerHandle for HfTokenizer {
    fn encode(&self, text: &str) -> odyssey_core::Result<Encoding> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| tok_err("encoding a text", e))?;
        Ok(Encoding {
            ids: enc.get_ids().to_vec(),
            offsets: enc.get_offsets().to_vec(),
        })
    }

    fn encode_batch(&self, texts: &[&str]) -> odyssey_core::Result<Vec<Encoding>> {
        texts.par_iter().map(|t| self.encode(t)).collect()
    }

    fn decode(&self, ids: &[u32]) -> odyssey_core::Result<String> {
        Ok(self
            .inner
            .decode(ids, false)
            .map_err(|e| tok_err("decoding ids", e))?)
    }

    fn token_text(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)?;
        self.inner.decode(&[id], false).ok()
    }

    fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}
