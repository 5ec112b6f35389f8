//! Tokenize and pack every Dolma-style JSONL split of a domain collection, as HF `run_clm`'s
//! `group_texts` does (end-of-document token after every document, 256-token blocks, remainder
//! dropped per file), and print tokens per second. The Python peer doing the same work is
//! `scripts/bench/peers/hf_tokenize_anchor.py`; `scripts/bench/corpus_tokenize.sh` runs both.
//!
//! ```text
//! bench_corpus DATA_DIR TOKENIZER_JSON [BLOCK] [ROUNDS]
//! ```
//!
//! Without the tokenizer file, a byte-level BPE (vocab 8192) is first trained on
//! `general_mix/train` (not timed) and saved there, so the peer can load the same file.
//! Timing covers reading and parsing the JSONL, encoding and packing. Prints one JSON line.

use odyssey_core::{DocumentSource, Split};
use odyssey_corpus::{
    pack_source, train_byte_level_bpe_on, BpeTrainingOptions, DomainCollection, HfTokenizer,
    Layout, Remainder,
};
use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (data, tok_path) = match args.as_slice() {
        [d, t, ..] => (d.clone(), t.clone()),
        _ => return Err("usage: bench_corpus DATA_DIR TOKENIZER_JSON [BLOCK] [ROUNDS]".into()),
    };
    let block: usize = args.get(2).map_or(Ok(256), |s| s.parse())?;
    let rounds: usize = args.get(3).map_or(Ok(3), |s| s.parse())?;
    let corpus = DomainCollection::open(&data)?;
    let tok = if Path::new(&tok_path).exists() {
        HfTokenizer::from_file(&tok_path)?
    } else {
        eprintln!("training a byte-level BPE (vocab 8192) on general_mix/train ...");
        let t = train_byte_level_bpe_on(
            corpus.domain("general_mix")?,
            Split::Train,
            &BpeTrainingOptions::gpt2(8192),
        )?;
        t.save(&tok_path)?;
        t
    };
    let jsonl: Vec<_> = corpus
        .domains()
        .iter()
        .filter(|d| d.layout() == Layout::Jsonl)
        .collect();
    let mut bytes = 0u64;
    for d in &jsonl {
        for split in d.splits() {
            for f in d.domain().files(split)? {
                bytes += file_text_bytes(f)?;
            }
        }
    }
    let mut best: Option<(f64, u64, u64)> = None;
    for _ in 0..rounds {
        let t0 = Instant::now();
        let (mut tokens, mut blocks) = (0u64, 0u64);
        for d in &jsonl {
            for split in d.splits() {
                let packed = pack_source(*d, split, &tok, block, Remainder::Drop)?;
                tokens += (packed.tokens().len() + packed.dropped()) as u64;
                blocks += packed.len() as u64;
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        eprintln!(
            "bytes {bytes} tokens {tokens} blocks {blocks} seconds {secs:.2} tokens/s {:.0}",
            tokens as f64 / secs
        );
        if best.is_none_or(|b| secs < b.0) {
            best = Some((secs, tokens, blocks));
        }
    }
    if let Some((secs, tokens, blocks)) = best {
        println!(
            "{{\"tokens\": {tokens}, \"blocks\": {blocks}, \"bytes\": {bytes}, \"seconds\": {secs:.4}, \"tokens_per_s\": {:.0}, \"threads\": {}, \"fast_path\": {}}}",
            tokens as f64 / secs,
            rayon::current_num_threads(),
            tok.has_fast_path()
        );
    }
    Ok(())
}

/// UTF-8 bytes of the `text` fields of a JSONL file (what the peer reports as bytes).
fn file_text_bytes(path: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    let src = odyssey_corpus::JsonlSource::from_files("f", [(Split::Train, path.to_path_buf())]);
    let mut n = 0;
    for d in src.iter(Split::Train)? {
        n += d?.text.len() as u64;
    }
    Ok(n)
}
