//! Helpers shared by the integration tests: the sentence-transformers fixture.
#![allow(dead_code)]

use ndarray::Array2;
use std::path::PathBuf;

pub fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

pub fn read_f32(name: &str, rows: usize, cols: usize) -> Array2<f32> {
    let bytes = std::fs::read(fixtures().join(name)).unwrap();
    assert_eq!(bytes.len(), rows * cols * 4, "{name}: unexpected size");
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Array2::from_shape_vec((rows, cols), v).unwrap()
}

/// The parity fixture written by scripts/fixtures/similarity_st_parity.py.
pub struct StParity {
    pub meta: serde_json::Value,
    pub texts: Vec<String>,
    pub domains: Vec<String>,
    pub embeddings: Array2<f32>,
    pub raw: Array2<f32>,
}

pub fn st_parity() -> StParity {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("st_parity.json")).unwrap())
            .unwrap();
    let rows = meta["rows"].as_u64().unwrap() as usize;
    let dim = meta["dim"].as_u64().unwrap() as usize;
    let raw_rows = meta["raw_rows"].as_u64().unwrap() as usize;
    let strings = |k: &str| -> Vec<String> {
        meta[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    StParity {
        texts: strings("texts"),
        domains: strings("domains"),
        embeddings: read_f32("st_parity.f32", rows, dim),
        raw: read_f32("st_parity_raw.f32", raw_rows, dim),
        meta,
    }
}
