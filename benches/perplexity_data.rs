//! Synthetic scored positions for the decomposition benchmarks, generated like
//! `scripts/bench/peers/numpy_decompose_anchor.py`: token ids `min(zipf(1.2) - 1, vocab - 1)`,
//! base NLL ~ gamma(shape 2, scale 2), adapted NLL = base + normal(0, 0.5).
//! (Same distributions as the numpy peer; the random streams differ.)

use rand::SeedableRng;
use rand_distr::{Distribution, Gamma, Normal, Zeta};

/// Aligned ids, base NLLs and adapted NLLs.
pub struct Positions {
    pub ids: Vec<u32>,
    pub base: Vec<f32>,
    pub adapted: Vec<f32>,
}

/// `n` positions over a `vocab`-token vocabulary, seeded.
pub fn positions(n: usize, vocab: usize, seed: u64) -> Positions {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (zipf, gamma, noise) = match (
        Zeta::new(1.2f64),
        Gamma::new(2.0f32, 2.0),
        Normal::new(0.0f32, 0.5),
    ) {
        (Ok(z), Ok(g), Ok(e)) => (z, g, e),
        _ => unreachable!("constant distribution parameters are valid"),
    };
    let cap = (vocab - 1) as f64;
    let ids = (0..n)
        .map(|_| (zipf.sample(&mut rng) - 1.0).min(cap) as u32)
        .collect();
    let base: Vec<f32> = (0..n).map(|_| gamma.sample(&mut rng)).collect();
    let adapted = base.iter().map(|&b| b + noise.sample(&mut rng)).collect();
    Positions { ids, base, adapted }
}

/// The work the numpy peer times: per-id count, Σ Δ, Σ base, Σ adapted, the ranking by
/// contribution to the degradation, and each id's share of the total.
pub fn aggregate(
    p: &Positions,
    vocab: usize,
) -> (odyssey_perplexity::TokenAggregates, Vec<u32>, Vec<f64>) {
    let agg = match odyssey_perplexity::TokenAggregates::compute(&p.ids, &p.base, &p.adapted, vocab)
    {
        Ok(a) => a,
        Err(e) => panic!("aggregation failed: {e}"),
    };
    let ranking = agg.ranking(odyssey_perplexity::Direction::Degradation);
    let shares = agg.shares();
    (agg, ranking, shares)
}
