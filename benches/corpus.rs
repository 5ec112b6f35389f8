//! Criterion benchmarks for odyssey-corpus on real text: packing encoded documents into
//! 256-token blocks (`group_texts`), reading a memory-mapped token cache (whole documents,
//! random blocks, full pack), and ids-only encoding with the byte-level fast path.
//!
//! Text: the train split of `wiki_music` from the full odyssey-mini corpus (`$ODYSSEY_MINI_DIR`,
//! default `../shared/data/odyssey-mini` beside the repository; `ODYSSEY_MINI_DIR=data/odyssey-mini-sample`
//! runs it on the shipped sample); tokenizer: the committed byte-level BPE (vocab 1024) of
//! odyssey-corpus's test fixtures.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use odyssey_core::TokenizerHandle;
use odyssey_core::{DocumentSource, Split};
use odyssey_corpus::{pack_documents, DomainCollection, HfTokenizer, Remainder, TokenCache};
use rand::{Rng, SeedableRng};
use std::hint::black_box;

/// The odyssey-mini folder: `$ODYSSEY_MINI_DIR`, else `../shared/data/odyssey-mini`.
fn data_dir() -> String {
    std::env::var("ODYSSEY_MINI_DIR").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/odyssey-mini").to_string()
    })
}
const TOKENIZER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/crates/odyssey-corpus/tests/fixtures/bpe1024/tokenizer.json"
);
const BLOCK: usize = 256;

fn setup() -> (HfTokenizer, Vec<String>, Vec<Vec<u32>>) {
    let tok = match HfTokenizer::from_file(TOKENIZER) {
        Ok(t) => t,
        Err(e) => panic!("loading {TOKENIZER}: {e}"),
    };
    let data = data_dir();
    let corpus = match DomainCollection::open(&data) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("opening the odyssey-mini corpus at {data}: {e}\nset ODYSSEY_MINI_DIR to the full corpus (or to data/odyssey-mini-sample)");
            std::process::exit(2);
        }
    };
    let texts: Vec<String> = match corpus.domain("wiki_music").and_then(|d| {
        d.documents(Split::Train)?
            .map(|r| r.map(|d| d.text))
            .collect::<odyssey_core::Result<Vec<_>>>()
            .map_err(Into::into)
    }) {
        Ok(t) => t,
        Err(e) => panic!("reading wiki_music: {e}"),
    };
    let ids = match tok.encode_batch_ids(&texts) {
        Ok(i) => i,
        Err(e) => panic!("encoding: {e}"),
    };
    (tok, texts, ids)
}

fn benches(c: &mut Criterion) {
    let (tok, texts, ids) = setup();
    let eos = tok.eos_id().unwrap_or(0);
    let n_tokens: usize = ids.iter().map(|d| d.len() + 1).sum();
    let bytes: usize = texts.iter().map(String::len).sum();

    let mut g = c.benchmark_group("pack");
    g.throughput(Throughput::Elements(n_tokens as u64));
    g.bench_function("group_texts_256", |b| {
        b.iter(|| pack_documents(black_box(&ids), eos, BLOCK, Remainder::Drop))
    });
    g.finish();

    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("temporary folder: {e}"),
    };
    let path = dir.path().join("wiki_music.train.tok");
    let cache = match TokenCache::write_documents(&path, &ids, 1024, 1, 2) {
        Ok(c) => c,
        Err(e) => panic!("writing the cache: {e}"),
    };
    let mut g = c.benchmark_group("cache_read");
    g.throughput(Throughput::Elements(cache.token_count() as u64));
    g.bench_function("all_documents", |b| {
        let mut out = Vec::with_capacity(cache.token_count());
        b.iter(|| {
            out.clear();
            for i in 0..cache.documents() {
                cache.document(i).extend_into(&mut out);
            }
            black_box(out.len())
        })
    });
    g.bench_function("pack_256", |b| {
        b.iter(|| cache.pack(BLOCK, Remainder::Drop, eos))
    });
    let blocks = match cache.blocks(BLOCK, Remainder::Drop, eos) {
        Ok(b) => b,
        Err(e) => panic!("block view: {e}"),
    };
    g.throughput(Throughput::Elements((64 * BLOCK) as u64));
    g.bench_function("random_blocks_64x256", |b| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut out = Vec::with_capacity(BLOCK);
        b.iter_batched(
            || {
                (0..64)
                    .map(|_| rng.gen_range(0..blocks.len()))
                    .collect::<Vec<_>>()
            },
            |idx| {
                for i in idx {
                    blocks.read_block(i, &mut out);
                    black_box(&out);
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("cache_open");
    g.bench_function("open_and_check", |b| {
        b.iter(|| TokenCache::open(&path).map(|c| c.documents()))
    });
    g.finish();

    let mut g = c.benchmark_group("encode");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("wiki_music_train_ids", |b| {
        b.iter(|| tok.encode_batch_ids(black_box(&texts)))
    });
    g.finish();
}

criterion_group!(corpus, benches);
criterion_main!(corpus);
