//! Criterion benchmarks for odyssey-perplexity: aggregating 10 M scored positions over a
//! 50k-token vocabulary (Zipf-distributed ids) into the per-token decomposition (counts, Σ ΔNLL,
//! Σ NLL before/after, ranking, shares), on 1 and 2 threads. The numpy `bincount` peer doing the
//! same work is `scripts/bench/peers/numpy_decompose_anchor.py`; the side-by-side run is
//! `scripts/bench/perplexity_decompose.sh`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "perplexity_data.rs"]
mod perplexity_data;

const N: usize = 10_000_000;
const VOCAB: usize = 50_000;

fn decompose_aggregate(c: &mut Criterion) {
    let p = perplexity_data::positions(N, VOCAB, 0);
    let mut group = c.benchmark_group("decompose_aggregate_10m_50k");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N as u64));
    for threads in [1usize, 2] {
        let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
            Ok(p) => p,
            Err(e) => panic!("building a {threads}-thread pool: {e}"),
        };
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| pool.install(|| perplexity_data::aggregate(&p, VOCAB)))
        });
    }
    group.finish();
}

criterion_group!(benches, decompose_aggregate);
criterion_main!(benches);
