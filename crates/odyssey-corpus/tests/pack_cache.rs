//! Packing, batches and the token cache: properties and real-data checks.

use odyssey_core::{DocumentSource, Split, TokenizerHandle};
use odyssey_corpus::{
    batch_indices, pack_documents, pack_source, BatchOptions, CacheOptions, CacheStatus,
    ContentFingerprint, CorpusError, DomainCollection, HfTokenizer, OnMismatch, Remainder,
    SourceFingerprint, TextSource, TokenCache,
};
use proptest::prelude::*;
use std::sync::OnceLock;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/odyssey-mini-sample"
);
const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const EOS: u32 = 0;

fn tok() -> &'static HfTokenizer {
    static T: OnceLock<HfTokenizer> = OnceLock::new();
    T.get_or_init(|| HfTokenizer::from_file(format!("{FIX}/bpe1024/tokenizer.json")).unwrap())
}

fn docs_strategy(max_id: u32) -> impl Strategy<Value = Vec<Vec<u32>>> {
    proptest::collection::vec(proptest::collection::vec(1..max_id, 0..40), 0..30)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// No token is lost or invented, and documents meet only through EOS.
    #[test]
    fn packing_loses_nothing_and_joins_only_through_eos(docs in docs_strategy(5000), block in 1usize..64) {
        let stream: Vec<u32> = docs.iter().flat_map(|d| d.iter().copied().chain([EOS])).collect();
        let keep = pack_documents(&docs, EOS, block, Remainder::Keep).unwrap();
        let kept: Vec<u32> = keep.iter().flatten().copied().collect();
        prop_assert_eq!(&kept, &stream);
        prop_assert!(keep.iter().rev().skip(1).all(|b| b.len() == block));
        prop_assert_eq!(keep.dropped(), 0);
        // splitting the stream at EOS gives back exactly the documents
        let mut rebuilt: Vec<Vec<u32>> = kept.split(|&t| t == EOS).map(<[u32]>::to_vec).collect();
        prop_assert_eq!(rebuilt.pop(), Some(vec![]));
        prop_assert_eq!(&rebuilt, &docs);
        let drop = pack_documents(&docs, EOS, block, Remainder::Drop).unwrap();
        prop_assert_eq!(drop.len(), stream.len() / block);
        prop_assert!(drop.iter().all(|b| b.len() == block));
        prop_assert_eq!(drop.tokens(), &stream[..drop.len() * block]);
        prop_assert_eq!(drop.dropped(), stream.len() % block);
    }

    /// A cache gives back exactly the documents written, and its lazy blocks are the packed
    /// blocks; 16-bit and 32-bit ids both.
    #[test]
    fn cache_round_trips_exactly(docs in docs_strategy(70_000), block in 1usize..50, vocab in prop_oneof![Just(1024u64), Just(70_000u64)]) {
        let docs: Vec<Vec<u32>> = docs.into_iter().map(|d| d.into_iter().map(|t| t % vocab as u32).collect()).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.tok");
        let cache = TokenCache::write_documents(&path, &docs, vocab, 11, 22).unwrap();
        let reopened = TokenCache::open_checked(&path, 11, 22).unwrap();
        prop_assert_eq!(reopened.header().token_bytes, if vocab <= 65536 { 2 } else { 4 });
        prop_assert_eq!(reopened.documents(), docs.len());
        for (i, d) in docs.iter().enumerate() {
            prop_assert_eq!(&reopened.document(i).to_vec(), d);
        }
        for remainder in [Remainder::Drop, Remainder::Keep] {
            let packed = cache.pack(block, remainder, EOS).unwrap();
            let lazy = cache.blocks(block, remainder, EOS).unwrap();
            prop_assert_eq!(lazy.len(), packed.len());
            for i in 0..packed.len() {
                prop_assert_eq!(lazy.block(i).unwrap(), packed.block(i).to_vec());
            }
            prop_assert!(lazy.block(packed.len()).is_none());
        }
    }

    /// The same seed gives the same batches; every block appears exactly once per epoch.
    #[test]
    fn same_seed_same_batches(n in 0usize..500, batch in 1usize..40, seed in any::<u64>(), epoch in 0u64..4) {
        let opts = BatchOptions { epoch, ..BatchOptions::new(batch, seed) };
        let a = batch_indices(n, &opts);
        prop_assert_eq!(&a, &batch_indices(n, &opts));
        let mut all: Vec<usize> = a.concat();
        all.sort_unstable();
        prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
        prop_assert!(a.iter().rev().skip(1).all(|b| b.len() == batch));
        let dropped = batch_indices(n, &BatchOptions { drop_last: true, ..opts });
        prop_assert_eq!(dropped.len(), n / batch);
    }
}

#[test]
fn seeds_and_epochs_change_the_order() {
    let base = BatchOptions::new(8, 1);
    let a = batch_indices(1000, &base);
    assert_ne!(a, batch_indices(1000, &BatchOptions::new(8, 2)));
    assert_ne!(a, batch_indices(1000, &BatchOptions { epoch: 1, ..base }));
    assert_ne!(a.concat(), (0..1000).collect::<Vec<_>>());
    let ordered = batch_indices(
        10,
        &BatchOptions {
            shuffle: false,
            ..BatchOptions::new(4, 0)
        },
    );
    assert_eq!(
        ordered,
        vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
    );
}

#[test]
fn packing_real_text_is_group_texts() {
    let corpus = DomainCollection::open(DATA).unwrap();
    let domain = corpus.domain("legal_licenses").unwrap();
    let t = tok();
    let docs: Vec<String> = domain
        .documents(Split::Test)
        .unwrap()
        .map(|d| d.unwrap().text)
        .collect();
    let mut stream = Vec::new();
    for d in &docs {
        stream.extend(t.encode(d).unwrap().ids);
        stream.push(t.eos_id().unwrap());
    }
    let blocks = pack_source(domain, Split::Test, t, 128, Remainder::Drop).unwrap();
    assert_eq!(blocks.documents(), docs.len());
    assert_eq!(blocks.len(), stream.len() / 128);
    assert_eq!(blocks.tokens(), &stream[..blocks.len() * 128]);
    let batches = blocks.batches(&BatchOptions::new(16, 3));
    assert_eq!(
        batches.iter().map(|b| b.blocks.len()).sum::<usize>(),
        blocks.len()
    );
    assert_eq!(batches[0].flat().len(), 16 * 128);
    assert_eq!(batches[0].blocks[1], blocks.block(batches[0].indices[1]));
    assert!(matches!(
        pack_source(domain, Split::Test, t, 0, Remainder::Drop),
        Err(CorpusError::InvalidInput(_))
    ));
}

#[test]
fn cache_is_reused_while_inputs_are_unchanged_and_rebuilt_when_they_change() {
    let dir = tempfile::tempdir().unwrap();
    // a private copy of a real M2D2 domain so it can be changed
    let domain_dir = dir.path().join("arxiv_cs");
    std::fs::create_dir(&domain_dir).unwrap();
    for s in ["train", "valid", "test"] {
        std::fs::copy(
            format!("{DATA}/m2d2-layout/arxiv_cs/{s}.txt"),
            domain_dir.join(format!("{s}.txt")),
        )
        .unwrap();
    }
    let source = TextSource::m2d2(&domain_dir).unwrap();
    let t = tok();
    let path = dir.path().join("cache/arxiv_cs.valid.tok");
    let opts = CacheOptions::default();
    let (built, status) =
        TokenCache::load_or_build(&path, &source, Split::Valid, t, &opts).unwrap();
    assert_eq!(status, CacheStatus::Built);
    let lines: Vec<String> = source
        .documents(Split::Valid)
        .unwrap()
        .map(|d| d.unwrap().text)
        .collect();
    assert_eq!(built.documents(), lines.len());
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(built.document(i).to_vec(), t.encode_ids(line).unwrap());
    }
    assert_eq!(built.header().tokenizer_fingerprint, t.fingerprint());
    assert_eq!(built.header().token_bytes, 2);
    drop(built);
    let (_, status) = TokenCache::load_or_build(&path, &source, Split::Valid, t, &opts).unwrap();
    assert_eq!(status, CacheStatus::Reused);
    // no temporary files left beside the cache
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );

    // the source changes: rebuilt, with the new content
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(
        domain_dir.join("valid.txt"),
        "A new first line.\nAnd a second.\n",
    )
    .unwrap();
    let strict = CacheOptions {
        on_mismatch: OnMismatch::Error,
        ..Default::default()
    };
    match TokenCache::load_or_build(&path, &source, Split::Valid, t, &strict) {
        Err(CorpusError::CacheMismatch { what, .. }) => assert!(what.contains("source"), "{what}"),
        other => panic!("{other:?}"),
    }
    let (rebuilt, status) =
        TokenCache::load_or_build(&path, &source, Split::Valid, t, &opts).unwrap();
    assert!(
        matches!(status, CacheStatus::Rebuilt(ref r) if r.contains("source")),
        "{status:?}"
    );
    assert_eq!(rebuilt.documents(), 2);
    assert_eq!(
        rebuilt.document(1).to_vec(),
        t.encode_ids("And a second.").unwrap()
    );

    // another tokenizer: a mismatch too
    let other = odyssey_corpus::train_byte_level_bpe(
        lines.iter(),
        &odyssey_corpus::BpeTrainingOptions::gpt2(300),
    )
    .unwrap();
    let fp = source.fingerprint(Split::Valid).unwrap();
    match TokenCache::open_checked(&path, other.fingerprint(), fp) {
        Err(CorpusError::CacheMismatch { what, .. }) => {
            assert!(what.contains("tokenizer"), "{what}")
        }
        other => panic!("{other:?}"),
    }
    let (_, status) =
        TokenCache::load_or_build(&path, &source, Split::Valid, &other, &opts).unwrap();
    assert!(
        matches!(status, CacheStatus::Rebuilt(ref r) if r.contains("tokenizer")),
        "{status:?}"
    );

    // a damaged file: typed error, or rebuilt by option
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    assert!(matches!(
        TokenCache::open(&path),
        Err(CorpusError::CacheCorrupt { .. })
    ));
    assert!(matches!(
        TokenCache::load_or_build(&path, &source, Split::Valid, &other, &strict),
        Err(CorpusError::CacheCorrupt { .. })
    ));
    let (_, status) =
        TokenCache::load_or_build(&path, &source, Split::Valid, &other, &opts).unwrap();
    assert!(matches!(status, CacheStatus::Rebuilt(_)));
    std::fs::write(
        &path,
        b"not a cache at all, just some bytes that are long enough to hold a header",
    )
    .unwrap();
    match TokenCache::open(&path) {
        Err(CorpusError::CacheCorrupt { what, .. }) => assert!(what.contains("magic"), "{what}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn content_fingerprint_follows_the_text() {
    let corpus = DomainCollection::open(DATA).unwrap();
    let a = ContentFingerprint(corpus.domain("arxiv_cs").unwrap())
        .fingerprint(Split::Valid)
        .unwrap();
    let b = ContentFingerprint(corpus.domain("m2d2-layout/arxiv_cs").unwrap())
        .fingerprint(Split::Valid)
        .unwrap();
    let a2 = ContentFingerprint(corpus.domain("arxiv_cs").unwrap())
        .fingerprint(Split::Valid)
        .unwrap();
    assert_eq!(a, a2);
    assert_ne!(a, b, "one document vs. one document per line");
}
