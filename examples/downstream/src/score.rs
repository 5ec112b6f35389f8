//! Score a corpus: a domain's test split under a causal LM, with lm-evaluation-harness's
//! rolling windows and pooled metrics.

use odyssey_core::{Document, DocumentSource, Split, TokenizerHandle};
use odyssey_corpus::{DomainCollection, HfTokenizer};
use odyssey_perplexity::{score_documents, ScoreOptions, ScoredCorpus, WindowScheme};
use odyssey_train::{AnyModel, LmScorer};
use std::path::Path;

/// The first `max_docs` test documents of `domain` in the collection at `domains`.
pub fn test_documents(
    domains: &Path,
    domain: &str,
    max_docs: usize,
) -> Result<Vec<Document>, Box<dyn std::error::Error>> {
    let corpus = DomainCollection::open(domains)?;
    let source = corpus.domain(domain)?;
    let mut docs = Vec::new();
    for doc in source.documents(Split::Test)?.take(max_docs) {
        docs.push(doc?);
    }
    Ok(docs)
}

/// Score `docs` with the HF model folder `model_dir` (config.json, model.safetensors,
/// tokenizer.json); gives the scored tokens and the model back.
pub fn score(
    model_dir: &Path,
    docs: &[Document],
) -> Result<(ScoredCorpus, AnyModel, HfTokenizer), Box<dyn std::error::Error>> {
    let tokenizer = HfTokenizer::from_file(model_dir.join("tokenizer.json"))?;
    let model = AnyModel::from_pretrained(model_dir, odyssey_train::default_device())?;
    let scorer = LmScorer::new(model, 8);
    // Disjoint windows of 128 tokens, the first predicted from the end-of-document token.
    let mut opts = ScoreOptions::new(WindowScheme::rolling(128)).batch_size(8);
    if let Some(eos) = tokenizer.eos_id() {
        opts = opts.prefix_token(eos);
    }
    let scored = score_documents(&scorer, &tokenizer, docs, &opts)?;
    let m = scored.metrics();
    println!(
        "score: {} tokens, token ppl {:.2}, word ppl {}, bits per byte {:.3}",
        m.tokens,
        m.token_perplexity,
        m.word_perplexity_if_applicable()
            .map_or_else(|| "n/a".to_string(), |w| format!("{w:.2}")),
        m.bits_per_byte
    );
    Ok((scored, scorer.into_model(), tokenizer))
}
