//! Dequantization of every supported type against the `gguf` Python package's
//! `gguf.quants.dequantize`, on a file its GGUFWriter wrote (scripts/fixtures/gguf_dequant.py).

use odyssey_gguf::{GgmlType, GgufFile};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/quants.gguf");

#[test]
fn every_type_dequantizes_bit_for_bit_as_gguf_py() {
    let f = GgufFile::open(FIXTURE).unwrap();
    assert_eq!(f.version(), 3);
    let types = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ];
    for ty in types {
        let info = f.tensor_info(ty.name).unwrap();
        assert_eq!(info.ty, ty, "{}", ty.name);
        assert_eq!(info.shape(), vec![3, 512]);
        let got = f.tensor_f32(ty.name).unwrap();
        let want = f.tensor_f32(&format!("{}.expected", ty.name)).unwrap();
        assert_eq!(got.len(), want.len());
        let differ = got
            .iter()
            .zip(&want)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(
            differ,
            0,
            "{}: {differ} of {} values differ",
            ty.name,
            got.len()
        );
        // The data is not trivial: many distinct values.
        let mut distinct: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 10, "{}", ty.name);
    }
}
