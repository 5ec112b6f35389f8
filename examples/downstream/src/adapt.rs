//! Continue pretraining a model on a domain's train split (a few optimizer steps).

use odyssey_core::{DocumentSource, Split, TokenizerHandle};
use odyssey_corpus::{DomainCollection, HfTokenizer, Remainder};
use odyssey_train::trainer::{Duration, PackedBlocks, Trainer, TrainerConfig, Warmup};
use odyssey_train::AnyModel;
use std::path::Path;

/// Train `model` in place for `steps` steps of 4 blocks of 128 tokens from `domain`'s train
/// split; returns the validation perplexity before and after.
pub fn continue_pretraining(
    model: &mut AnyModel,
    tokenizer: &HfTokenizer,
    domains: &Path,
    domain: &str,
    steps: usize,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let corpus = DomainCollection::open(domains)?;
    let source = corpus.domain(domain)?;
    let pack = |split: Split| -> Result<Vec<u32>, Box<dyn std::error::Error>> {
        let mut texts = Vec::new();
        for doc in source.documents(split)? {
            texts.push(doc?.text);
        }
        let ids = tokenizer.encode_batch_ids(&texts)?;
        let eos = tokenizer
            .eos_id()
            .ok_or("the tokenizer has no end-of-document token")?;
        // HF run_clm's group_texts: documents joined by EOS, cut into 128-token blocks.
        Ok(odyssey_corpus::pack_documents(ids, eos, 128, Remainder::Drop)?.into_tokens())
    };
    let train = PackedBlocks::new(pack(Split::Train)?, 128)?;
    let valid_tokens = pack(Split::Valid)?;
    let valid = PackedBlocks::new(
        valid_tokens[..valid_tokens.len().min(4 * 128)].to_vec(),
        128,
    )?;
    let trainer = Trainer::new(TrainerConfig {
        lr: 1e-3,
        warmup: Warmup::Steps(1),
        micro_batch_size: 4,
        duration: Duration::Steps(steps),
        progress: false,
        ..TrainerConfig::default()
    });
    let before = trainer.evaluate(model, &valid)?.perplexity;
    trainer.fit(model, &train, Some(&valid))?;
    let after = trainer.evaluate(model, &valid)?.perplexity;
    println!("adapt: {steps} steps on {domain}, validation perplexity {before:.2} → {after:.2}");
    Ok((before, after))
}
