//! Deterministic document samples.

use crate::error::{Result, SimilarityError};
use odyssey_core::{Document, DocumentSource, Split};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A sample of documents and how many were available.
#[derive(Debug, Clone)]
pub struct DocumentSample {
    /// The sampled documents, in the source's order.
    pub documents: Vec<Document>,
    /// Non-blank documents the source yielded (the sample is drawn from these).
    pub seen: usize,
}

/// Draw up to `n` non-blank documents of `split` uniformly at random (reservoir sampling with a
/// seeded ChaCha8 generator): the same source, split, `n` and `seed` always give the same
/// sample. The source is streamed once; the sample keeps the source's order. A source that
/// yields an error stops the sampling with that error.
pub fn sample_documents(
    source: &dyn DocumentSource,
    split: Split,
    n: usize,
    seed: u64,
) -> Result<DocumentSample> {
    let wrap = |e: odyssey_core::Error| SimilarityError::Core {
        context: format!("reading {} ({split})", source.name()),
        source: e,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut reservoir: Vec<(usize, Document)> = Vec::with_capacity(n);
    let mut seen = 0usize;
    for doc in source.documents(split).map_err(wrap)? {
        let doc = doc.map_err(wrap)?;
        if doc.text.trim().is_empty() {
            continue;
        }
        if reservoir.len() < n {
            reservoir.push((seen, doc));
        } else if n > 0 {
            let j = rng.gen_range(0..=seen);
            if j < n {
                reservoir[j] = (seen, doc);
            }
        }
        seen += 1;
    }
    reservoir.sort_by_key(|(i, _)| *i);
    Ok(DocumentSample {
        documents: reservoir.into_iter().map(|(_, d)| d).collect(),
        seen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use odyssey_core::DocumentIter;

    struct Numbers(usize);

    impl DocumentSource for Numbers {
        fn name(&self) -> &str {
            "numbers"
        }
        fn splits(&self) -> Vec<Split> {
            vec![Split::Train]
        }
        fn documents(&self, _split: Split) -> odyssey_core::Result<DocumentIter<'_>> {
            Ok(Box::new((0..self.0).map(|i| {
                let text = if i % 10 == 3 {
                    " ".to_string()
                } else {
                    format!("doc {i}")
                };
                Ok(Document::new(i.to_string(), text))
            })))
        }
    }

    #[test]
    fn sample_is_deterministic_ordered_and_skips_blank_documents() {
        let src = Numbers(1000);
        let s1 = sample_documents(&src, Split::Train, 50, 3).unwrap();
        let s2 = sample_documents(&src, Split::Train, 50, 3).unwrap();
        assert_eq!(s1.documents, s2.documents);
        assert_eq!(s1.seen, 900);
        assert_eq!(s1.documents.len(), 50);
        let ids: Vec<usize> = s1.documents.iter().map(|d| d.id.parse().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(ids.iter().all(|i| i % 10 != 3));
        // Not just the first 50.
        assert!(*ids.last().unwrap() > 500);
        let s3 = sample_documents(&src, Split::Train, 50, 4).unwrap();
        assert_ne!(s1.documents, s3.documents);
        let all = sample_documents(&Numbers(20), Split::Train, 50, 3).unwrap();
        assert_eq!(all.documents.len(), 18);
    }
}
