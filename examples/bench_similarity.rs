//! Sentence-embedding throughput of odyssey-similarity's encoder (all-MiniLM-L6-v2 in `tch`).
//! The Python peer doing the same work is `scripts/bench/peers/st_minilm_anchor.py`
//! (sentence-transformers); `scripts/bench/similarity_embed.sh` runs both.
//!
//! ```text
//! bench_similarity [DOMAIN_JSONL] [N_SENTENCES] [THREADS] [BATCH]
//! ```
//!
//! Sentences are the paragraphs (lines of more than 40 characters) of the documents, in file
//! order, the first `N_SENTENCES` (default 2000) of `wiki_music/train.jsonl` of the full
//! odyssey-mini corpus (`$ODYSSEY_MINI_DIR`, default `../shared/data/odyssey-mini`). Like the peer: a
//! warm-up on 64 sentences, then one timed `encode` of all of them with L2 normalisation.
//! Prints one JSON line.

use odyssey_similarity::{EncodeOptions, SentenceEncoder};
use std::io::BufRead;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let default_data = format!(
        "{}/wiki_music/train.jsonl",
        std::env::var("ODYSSEY_MINI_DIR").unwrap_or_else(|_| concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/data/odyssey-mini"
        )
        .to_string())
    );
    let path = args.first().map_or(default_data.as_str(), |s| s.as_str());
    let n: usize = args.get(1).map_or(Ok(2000), |s| s.parse())?;
    let threads: i32 = args.get(2).map_or(Ok(2), |s| s.parse())?;
    let batch: usize = args.get(3).map_or(Ok(32), |s| s.parse())?;
    tch::set_num_threads(threads);

    let file = std::fs::File::open(path).map_err(|e| {
        format!("{path}: {e} (pass a domain JSONL file, or set ODYSSEY_MINI_DIR to the full odyssey-mini corpus)")
    })?;
    let mut sents: Vec<String> = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("{path}:{}: {e}", i + 1))?;
        let text = v["text"]
            .as_str()
            .ok_or_else(|| format!("{path}:{}: no \"text\" string", i + 1))?;
        sents.extend(
            text.split('\n')
                .filter(|p| p.chars().count() > 40)
                .map(str::to_string),
        );
        if sents.len() >= n {
            break;
        }
    }
    sents.truncate(n);
    let refs: Vec<&str> = sents.iter().map(|s| s.as_str()).collect();

    let encoder = SentenceEncoder::minilm(None)?;
    let options = EncodeOptions {
        batch_size: batch,
        normalize: true,
        progress: false,
    };
    encoder.encode_with(&refs[..refs.len().min(64)], &options)?;
    let t0 = Instant::now();
    let emb = encoder.encode_with(&refs, &options)?;
    let secs = t0.elapsed().as_secs_f64();
    let tokens: usize = encoder.token_lengths(&refs)?.iter().sum();
    println!(
        "{}",
        serde_json::json!({
            "sentences": emb.nrows(),
            "dim": emb.ncols(),
            "tokens": tokens,
            "threads": threads,
            "batch_size": batch,
            "seconds": secs,
            "sentences_per_s": emb.nrows() as f64 / secs,
        })
    );
    Ok(())
}
