//! Criterion benchmarks of odyssey-similarity's metric kernels on embedding-sized inputs
//! (1000 × 384 against 1000 × 384, like two all-MiniLM-L6-v2 samples), no bootstrap.

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::Array2;
use odyssey_similarity::metrics::{
    centroid_cosine, frechet_distance, knn_coverage, mean_pairwise_cosine, mmd2_unbiased,
    BootstrapConfig,
};
use odyssey_similarity::stats::CorrelationMethod;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn sample(n: usize, d: usize, shift: f32, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::from_shape_fn((n, d), |_| rng.gen_range(-1.0f32..1.0) + shift);
    for mut r in x.rows_mut() {
        let norm = r.dot(&r).sqrt();
        r /= norm;
    }
    x
}

fn metrics(c: &mut Criterion) {
    let a = sample(1000, 384, 0.0, 1);
    let b = sample(1000, 384, 0.05, 2);
    let none = BootstrapConfig {
        replicates: 0,
        ..Default::default()
    };
    let mut g = c.benchmark_group("metrics_1000x384");
    g.sample_size(10);
    g.bench_function("mmd2_unbiased", |bch| {
        bch.iter(|| mmd2_unbiased(a.view(), b.view()).unwrap())
    });
    g.bench_function("frechet_distance", |bch| {
        bch.iter(|| frechet_distance(a.view(), b.view()).unwrap())
    });
    g.bench_function("knn_coverage_k5", |bch| {
        bch.iter(|| knn_coverage(a.view(), b.view(), 5, &none).unwrap())
    });
    g.bench_function("centroid_cosine", |bch| {
        bch.iter(|| centroid_cosine(a.view(), b.view()).unwrap())
    });
    g.bench_function("mean_pairwise_cosine", |bch| {
        bch.iter(|| mean_pairwise_cosine(a.view(), b.view()).unwrap())
    });
    g.finish();
}

fn correlations(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x: Vec<f64> = (0..1000).map(|_| rng.gen_range(0..50) as f64).collect();
    let y: Vec<f64> = x.iter().map(|v| v + rng.gen_range(-10.0..10.0)).collect();
    let mut g = c.benchmark_group("correlation_n1000");
    for m in CorrelationMethod::ALL {
        g.bench_function(m.to_string(), |bch| bch.iter(|| m.compute(&x, &y).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, metrics, correlations);
criterion_main!(benches);
