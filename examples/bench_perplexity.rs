//! Throughput of the perplexity decomposition's aggregation: 10 M scored positions over a 50k
//! vocabulary (Zipf ids), per-token counts / Σ ΔNLL / Σ NLL before and after / ranking /
//! shares, as `scripts/bench/peers/numpy_decompose_anchor.py` does with numpy `bincount`.
//!
//!     cargo run --release --example bench_perplexity -- [threads (2)] [positions] [vocab]
//!
//! Prints one line per thread count: `positions N vocab V threads T seconds S positions/s X`.

use std::time::Instant;

#[path = "../benches/perplexity_data.rs"]
mod perplexity_data;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads: usize = args.first().map_or(Ok(2), |s| s.parse())?;
    let n: usize = args.get(1).map_or(Ok(10_000_000), |s| s.parse())?;
    let vocab: usize = args.get(2).map_or(Ok(50_000), |s| s.parse())?;
    anyhow::ensure!(
        threads >= 1 && n >= 1 && vocab >= 1,
        "threads, positions and vocab must be >= 1"
    );
    let p = perplexity_data::positions(n, vocab, 0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    pool.install(|| {
        // warm-up, as the numpy peer does
        std::hint::black_box(perplexity_data::aggregate(&p, vocab));
        let reps = 5;
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(perplexity_data::aggregate(&p, vocab));
        }
        let dt = t.elapsed().as_secs_f64() / reps as f64;
        println!(
            "positions {n} vocab {vocab} threads {threads} seconds {dt:.4} positions/s {:.3e}",
            n as f64 / dt
        );
    });
    Ok(())
}
