//! Training a GPT-2-style byte-level BPE tokenizer.

use crate::error::{CorpusError, Result};
use crate::tokenizer::HfTokenizer;
use odyssey_core::{DocumentSource, Split};
use serde::{Deserialize, Serialize};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainer, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

/// Settings for [`train_byte_level_bpe`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpeTrainingOptions {
    /// Vocabulary size, special tokens and the 256 byte symbols included.
    pub vocab_size: usize,
    /// Pairs seen fewer times are not merged.
    pub min_frequency: u64,
    /// Special tokens, given the first ids (the first is the end-of-document token).
    pub special_tokens: Vec<String>,
}

impl BpeTrainingOptions {
    /// GPT-2's setup at a given vocabulary size: special token `<|endoftext|>`.
    pub fn gpt2(vocab_size: usize) -> Self {
        BpeTrainingOptions {
            vocab_size,
            min_frequency: 0,
            special_tokens: vec!["<|endoftext|>".into()],
        }
    }
}

/// Train a byte-level BPE tokenizer on `texts`, configured as Python's
/// `Tokenizer(models.BPE())` with `pre_tokenizers.ByteLevel(add_prefix_space=False)`,
/// `decoders.ByteLevel()` and `BpeTrainer(vocab_size, special_tokens,
/// initial_alphabet=ByteLevel.alphabet())` — the same library code, so the same merges.
///
/// ```
/// use odyssey_corpus::{train_byte_level_bpe, BpeTrainingOptions};
/// let texts = ["the cat sat on the mat", "the dog sat on the log"];
/// let tok = train_byte_level_bpe(texts.iter(), &BpeTrainingOptions::gpt2(270))?;
/// assert_eq!(tok.token_id("<|endoftext|>"), Some(0));
/// # Ok::<(), odyssey_corpus::CorpusError>(())
/// ```
pub fn train_byte_level_bpe<I, S>(texts: I, options: &BpeTrainingOptions) -> Result<HfTokenizer>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    if options.vocab_size < 256 + options.special_tokens.len() {
        return Err(CorpusError::InvalidInput(format!(
            "vocabulary size {} is smaller than the 256 byte symbols plus {} special tokens",
            options.vocab_size,
            options.special_tokens.len()
        )));
    }
    let mut tokenizer = Tokenizer::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    let bpe = BpeTrainer::builder()
        .vocab_size(options.vocab_size)
        .min_frequency(options.min_frequency)
        .show_progress(false)
        .special_tokens(
            options
                .special_tokens
                .iter()
                .map(|t| AddedToken::from(t.clone(), true))
                .collect(),
        )
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut trainer = TrainerWrapper::BpeTrainer(bpe);
    tokenizer
        .train(&mut trainer, texts)
        .map_err(|source| CorpusError::Tokenizer {
            context: "training a byte-level BPE".into(),
            source,
        })?;
    HfTokenizer::from_tokenizer(tokenizer)
}

/// Train a byte-level BPE on the documents of one split of `source` (streamed).
pub fn train_byte_level_bpe_on(
    source: &dyn DocumentSource,
    split: Split,
    options: &BpeTrainingOptions,
) -> Result<HfTokenizer> {
    let first_err = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = first_err.clone();
    let docs = source.documents(split)?;
    let texts = docs.map_while(move |d| match d {
        Ok(doc) => Some(doc.text),
        Err(e) => {
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(e);
            }
            None
        }
    });
    let tok = train_byte_level_bpe(texts, options);
    let failed = first_err.lock().ok().and_then(|mut g| g.take());
    if let Some(e) = failed {
        return Err(CorpusError::Core(e));
    }
    tok
}
