//! Deterministic samples of documents or paragraphs, e.g. for embedding-based similarity.

use crate::collection::DomainCollection;
use crate::error::Result;
use crate::fingerprint::hash_bytes;
use odyssey_core::{Document, DocumentSource, Split};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleUnit {
    /// Whole documents.
    Documents,
    /// Paragraphs: runs of non-blank lines of a document, separated by blank lines, trimmed;
    /// paragraphs shorter than `min_chars` characters are left out.
    Paragraphs {
        /// Shortest paragraph kept, in characters.
        min_chars: usize,
    },
}

/// The paragraphs of a text (blank-line separated, lines joined with `"\n"`, trimmed).
pub fn paragraphs(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let blank = line.trim().is_empty();
        if blank {
            if let Some(s) = start.take() {
                out.push(text[s..end].trim());
            }
        } else {
            if start.is_none() {
                start = Some(pos);
            }
            end = pos + line.len();
        }
        pos += line.len();
    }
    if let Some(s) = start {
        out.push(text[s..end].trim());
    }
    out.retain(|p| !p.is_empty());
    out
}

/// A uniform sample of `n` units (all of them when there are fewer) of one split, by
/// reservoir sampling in one streaming pass. The same source, seed and unit give the same
/// sample; the sample is returned in corpus order. Paragraph ids are `<document id>#p<k>`.
///
/// ```
/// use odyssey_core::Split;
/// use odyssey_corpus::{sample, DomainCollection, SampleUnit};
/// let corpus = DomainCollection::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/odyssey-mini-sample"))?;
/// let music = corpus.domain("wiki_music")?;
/// let a = sample(music, Split::Valid, 50, 7, SampleUnit::Paragraphs { min_chars: 40 })?;
/// let b = sample(music, Split::Valid, 50, 7, SampleUnit::Paragraphs { min_chars: 40 })?;
/// assert_eq!(a, b);
/// assert_eq!(a.len(), 50);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sample(
    source: &(impl DocumentSource + ?Sized),
    split: Split,
    n: usize,
    seed: u64,
    unit: SampleUnit,
) -> Result<Vec<Document>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut reservoir: Vec<(usize, Document)> = Vec::with_capacity(n);
    let mut seen = 0usize;
    let mut offer = |doc: Document, rng: &mut ChaCha8Rng| {
        if reservoir.len() < n {
            reservoir.push((seen, doc));
        } else {
            let j = rng.gen_range(0..=seen);
            if j < n {
                reservoir[j] = (seen, doc);
            }
        }
        seen += 1;
    };
    for doc in source.documents(split)? {
        let doc = doc?;
        match unit {
            SampleUnit::Documents => offer(doc, &mut rng),
            SampleUnit::Paragraphs { min_chars } => {
                for (k, p) in paragraphs(&doc.text).into_iter().enumerate() {
                    if p.chars().count() < min_chars {
                        continue;
                    }
                    offer(
                        Document {
                            id: format!("{}#p{k}", doc.id),
                            text: p.to_string(),
                            origin: doc.origin.clone(),
                        },
                        &mut rng,
                    );
                }
            }
        }
    }
    reservoir.sort_by_key(|(i, _)| *i);
    Ok(reservoir.into_iter().map(|(_, d)| d).collect())
}

/// [`sample`] for every domain of a collection that has `split`. Each domain's seed is derived
/// from `seed` and its name, so adding a domain does not change the others' samples.
pub fn sample_domains(
    collection: &DomainCollection,
    split: Split,
    n: usize,
    seed: u64,
    unit: SampleUnit,
) -> Result<BTreeMap<String, Vec<Document>>> {
    let mut out = BTreeMap::new();
    for d in collection.domains() {
        if !d.splits().contains(&split) {
            continue;
        }
        let domain_seed = seed ^ hash_bytes(d.name().as_bytes());
        out.insert(
            d.name().to_string(),
            sample(d, split, n, domain_seed, unit)?,
        );
    }
    Ok(out)
}
