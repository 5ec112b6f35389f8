//! # odyssey-corpus
//!
//! Turns text on disk into documents, token ids, packed blocks and corpus statistics.
//!
//! * **Sources** ([`odyssey_core::DocumentSource`]): Dolma-style JSONL ([`JsonlSource`]; plain,
//!   `.gz`, `.zst`), M2D2's `<domain>/{train,valid,test}.txt` and plain text files or folders
//!   ([`TextSource`], cut by [`TextUnit`]), and folders of domains in either layout
//!   ([`DomainCollection`]). Everything streams. Bad input is a typed [`CorpusError`] naming file
//!   and line, or, with [`ErrorPolicy::Skip`], skipped and counted in a [`SkipLog`].
//! * **Tokenizers**: [`HfTokenizer`] wraps HF `tokenizers` (any `tokenizer.json`) as an
//!   [`odyssey_core::TokenizerHandle`]; [`train_byte_level_bpe`] trains a GPT-2-style BPE.
//! * **Packing**: [`Packer`] / [`pack_source`] as `run_clm`'s `group_texts` (end-of-document
//!   token after every document, fixed blocks, remainder dropped or kept), seeded batches
//!   ([`batch_indices`]), and [`TokenCache`], a memory-mapped token cache on disk that is reused
//!   while tokenizer and source are unchanged.
//! * **Sampling** ([`sample()`], [`sample_domains`]), **statistics** ([`split_stats`],
//!   [`collection_stats`]) and **lexical overlap** ([`vocabulary_overlap`], [`weighted_jaccard`]).
//!
//! ```
//! use odyssey_core::{DocumentSource, Split};
//! use odyssey_corpus::{pack_source, DomainCollection, HfTokenizer, Remainder};
//!
//! let corpus = DomainCollection::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/odyssey-mini-sample"))?;
//! let tok = HfTokenizer::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bpe1024/tokenizer.json"))?;
//! for domain in corpus.domains() {
//!     assert!(domain.splits().contains(&Split::Test), "{}", domain.name());
//! }
//! let blocks = pack_source(corpus.domain("speeches_us_gov")?, Split::Test, &tok, 512, Remainder::Drop)?;
//! assert!(blocks.iter().all(|b| b.len() == 512));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bytelevel;
pub mod cache;
pub mod collection;
pub mod encode;
pub mod error;
pub mod fingerprint;
pub mod jsonl;
mod layout;
pub mod overlap;
pub mod pack;
pub mod policy;
mod reader;
pub mod sample;
pub mod stats;
pub mod text;
pub mod tokenizer;
pub mod train;
pub mod words;

pub use cache::{
    CacheBlocks, CacheHeader, CacheOptions, CacheStatus, OnMismatch, TokenCache, TokenSlice,
};
pub use collection::{CollectionOptions, Domain, DomainCollection, Layout, NamedDomain};
pub use encode::for_each_encoded;
pub use error::{CorpusError, Result};
pub use fingerprint::{hash_bytes, ContentFingerprint, SourceFingerprint};
pub use jsonl::{JsonlDocuments, JsonlSource};
pub use layout::{JSONL_EXTENSIONS, TEXT_EXTENSIONS};
pub use overlap::{
    lexical_overlap, vocabulary_overlap, weighted_jaccard, LexicalOverlap, OverlapOptions,
    WordCounts, ENGLISH_STOPWORDS,
};
pub use pack::{
    batch_indices, pack_documents, pack_source, shuffled_order, Batch, BatchOptions, PackedBlocks,
    Packer, Remainder,
};
pub use policy::{ErrorPolicy, SkipKind, SkipLog};
pub use sample::{paragraphs, sample, sample_domains, SampleUnit};
pub use stats::{
    collection_stats, split_stats, SplitStats, StatsOptions, TokenCounts, TokenFrequency,
};
pub use text::{TextDocuments, TextLayout, TextSource, TextUnit};
pub use tokenizer::{HfTokenizer, EOS_CANDIDATES};
pub use train::{train_byte_level_bpe, train_byte_level_bpe_on, BpeTrainingOptions};
pub use words::{is_python_whitespace, lm_eval_word_count};
