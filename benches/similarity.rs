//! Criterion benchmarks for odyssey-similarity (placeholder until written).
fn main() {}
