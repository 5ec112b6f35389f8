//! Criterion benchmarks for odyssey-perplexity (placeholder until written).
fn main() {}
