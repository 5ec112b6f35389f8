//! Train a GPT-2-style byte-level BPE on one split of one domain and save it as
//! `tokenizer.json`.
//!
//! ```text
//! cargo run --release -p odyssey-corpus --example train_tokenizer -- \
//!     data/odyssey-mini-sample wiki_music train 1024 out/tokenizer.json
//! ```

use odyssey_corpus::{train_byte_level_bpe_on, BpeTrainingOptions, DomainCollection};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, domain, split, vocab, out] = args.as_slice() else {
        return Err("usage: train_tokenizer DATA_DIR DOMAIN SPLIT VOCAB_SIZE OUT.json".into());
    };
    let corpus = DomainCollection::open(data)?;
    let source = corpus.domain(domain)?;
    let tok = train_byte_level_bpe_on(
        source,
        split.parse()?,
        &BpeTrainingOptions::gpt2(vocab.parse()?),
    )?;
    tok.save(out)?;
    println!("saved {out}");
    Ok(())
}
