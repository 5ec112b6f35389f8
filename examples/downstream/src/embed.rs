//! Embed texts with a sentence-transformers model (all-MiniLM-L6-v2) and compare them.

use odyssey_similarity::SentenceEncoder;

/// Cosine similarities of the pairs (1, 2), (1, 3), (2, 3) of three sentences.
pub fn cosines() -> Result<[f32; 3], Box<dyn std::error::Error>> {
    // The model folder: $ODYSSEY_MINILM_DIR, which `scripts/odyssey.sh setup` provides.
    let encoder = SentenceEncoder::minilm(None)?;
    let texts = [
        "The weather is lovely today.",
        "It's so sunny outside!",
        "He drove to the stadium.",
    ];
    let e = encoder.encode(&texts)?;
    let cos = |i: usize, j: usize| {
        let (a, b) = (e.row(i), e.row(j));
        a.dot(&b) / (a.dot(&a).sqrt() * b.dot(&b).sqrt())
    };
    let c = [cos(0, 1), cos(0, 2), cos(1, 2)];
    println!("embed: cosines {:.4} {:.4} {:.4}", c[0], c[1], c[2]);
    Ok(c)
}
