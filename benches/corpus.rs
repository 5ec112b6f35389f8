//! Criterion benchmarks for odyssey-corpus (placeholder until written).
fn main() {}
