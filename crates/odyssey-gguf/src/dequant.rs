//! Dequantization to fp32, block by block, with the arithmetic of ggml's reference
//! `dequantize_row_*` (and of the `gguf` Python package's `gguf.quants.dequantize`): scales are
//! widened from f16 to f32 and every product is an f32 product, so the results agree bit for
//! bit.

use crate::types::GgmlType;
use half::{bf16, f16};
use rayon::prelude::*;

/// Elements per K-quant super-block.
const QK_K: usize = 256;

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Dequantize `data` (whole blocks of `ty`) into `out`, which must hold
/// `data.len() / ty.type_size * ty.block_size` values. Returns `false` for a type this module
/// does not convert; the caller checks sizes.
pub fn dequantize_into(ty: GgmlType, data: &[u8], out: &mut [f32]) -> bool {
    let (bs, ts) = (ty.block_size, ty.type_size);
    debug_assert_eq!(data.len() / ts * bs, out.len());
    let block: fn(&[u8], &mut [f32]) = match ty {
        GgmlType::F32 => |b, o| o[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        GgmlType::F16 => |b, o| o[0] = f16_at(b, 0),
        GgmlType::BF16 => |b, o| o[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32(),
        GgmlType::Q8_0 => q8_0,
        GgmlType::Q4_0 => q4_0,
        GgmlType::Q4_1 => q4_1,
        GgmlType::Q4_K => q4_k,
        GgmlType::Q5_K => q5_k,
        GgmlType::Q6_K => q6_k,
        _ => return false,
    };
    // Rows of many blocks per task; plain types go in chunks of 4096 elements.
    let per_task = if bs == 1 { 4096 } else { 16 };
    data.par_chunks(ts * per_task)
        .zip(out.par_chunks_mut(bs * per_task))
        .for_each(|(d, o)| {
            for (b, ob) in d.chunks_exact(ts).zip(o.chunks_exact_mut(bs)) {
                block(b, ob);
            }
        });
    true
}

/// Q8_0: `d` (f16), 32 × i8; `x = d · q`.
fn q8_0(b: &[u8], o: &mut [f32]) {
    let d = f16_at(b, 0);
    for (v, &q) in o.iter_mut().zip(&b[2..34]) {
        *v = d * f32::from(q as i8);
    }
}

/// Q4_0: `d` (f16), 16 bytes of nibbles; element `j` is the low nibble of byte `j`, element
/// `16 + j` its high nibble; `x = d · (q − 8)`.
fn q4_0(b: &[u8], o: &mut [f32]) {
    let d = f16_at(b, 0);
    for (j, &q) in b[2..18].iter().enumerate() {
        o[j] = d * f32::from((q & 0x0F) as i8 - 8);
        o[j + 16] = d * f32::from((q >> 4) as i8 - 8);
    }
}

/// Q4_1: `d`, `m` (f16), 16 bytes of nibbles as Q4_0; `x = d · q + m`.
fn q4_1(b: &[u8], o: &mut [f32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    for (j, &q) in b[4..20].iter().enumerate() {
        o[j] = d * f32::from(q & 0x0F) + m;
        o[j + 16] = d * f32::from(q >> 4) + m;
    }
}

/// The 8 six-bit scales and minima packed in 12 bytes (K-quants of 4 and 5 bits).
fn scales_mins(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let (mut sc, mut mn) = ([0u8; 8], [0u8; 8]);
    for j in 0..4 {
        sc[j] = s[j] & 0x3F;
        mn[j] = s[j + 4] & 0x3F;
        sc[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 2) & 0x30);
        mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 2) & 0x30);
    }
    (sc, mn)
}

/// Q4_K: `d`, `dmin` (f16), 12 bytes of scales and minima, 128 bytes of nibbles. Sub-block
/// `2k` holds the low nibbles of bytes `32k..32k+32`, sub-block `2k + 1` their high nibbles;
/// `x = (d · sc) · q − (dmin · m)`.
fn q4_k(b: &[u8], o: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let (sc, mn) = scales_mins(&b[4..16]);
    let qs = &b[16..144];
    for s in 0..8 {
        let (ds, dm) = (d * f32::from(sc[s]), dmin * f32::from(mn[s]));
        let bytes = &qs[32 * (s / 2)..32 * (s / 2) + 32];
        let shift = 4 * (s % 2);
        for (i, &q) in bytes.iter().enumerate() {
            o[32 * s + i] = ds * f32::from((q >> shift) & 0x0F) - dm;
        }
    }
}

/// Q5_K: as Q4_K, with 32 bytes of fifth bits after the scales: bit `s` of byte `i` is the
/// high bit of element `i` of sub-block `s`.
fn q5_k(b: &[u8], o: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let (sc, mn) = scales_mins(&b[4..16]);
    let qh = &b[16..48];
    let qs = &b[48..176];
    for s in 0..8 {
        let (ds, dm) = (d * f32::from(sc[s]), dmin * f32::from(mn[s]));
        let bytes = &qs[32 * (s / 2)..32 * (s / 2) + 32];
        let shift = 4 * (s % 2);
        for i in 0..32 {
            let q = ((bytes[i] >> shift) & 0x0F) | (((qh[i] >> s) & 1) << 4);
            o[32 * s + i] = ds * f32::from(q) - dm;
        }
    }
}

/// Q6_K: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 signed 8-bit scales, `d`
/// (f16). Element `v` of the 256: half `h = v / 128`; its low nibble is nibble `(v % 128) / 64`
/// of byte `64h + v % 64`, its high pair is pair `(v % 128) / 32` of byte `32h + v % 32`;
/// `x = (d · scale[v / 16]) · (q − 32)`.
fn q6_k(b: &[u8], o: &mut [f32]) {
    let (ql, qh, sc) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = f16_at(b, 208);
    for (v, x) in o.iter_mut().enumerate().take(QK_K) {
        let (h, r) = (v / 128, v % 128);
        let lo = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0F;
        let hi = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 0x03;
        let q = (lo | (hi << 4)) as i8 - 32;
        *x = (d * f32::from(sc[v / 16] as i8)) * f32::from(q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn half(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn q8_0_and_q4_0_by_hand() {
        let mut b = half(0.5).to_vec();
        b.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let mut o = vec![0.0; 32];
        assert!(dequantize_into(GgmlType::Q8_0, &b, &mut o));
        assert_eq!(o[0], -8.0);
        assert_eq!(o[31], 7.5);

        let mut b = half(2.0).to_vec();
        b.extend((0..16).map(|j| (j as u8) | (15 - j as u8) << 4));
        let mut o = vec![0.0; 32];
        assert!(dequantize_into(GgmlType::Q4_0, &b, &mut o));
        assert_eq!(o[0], -16.0); // (0 − 8) · 2
        assert_eq!(o[15], 14.0); // (15 − 8) · 2
        assert_eq!(o[16], 14.0); // high nibble of byte 0 = 15
    }

    #[test]
    fn q4_k_scale_packing() {
        // Scales 1..8 and minima 0: bytes 0..4 hold scales 0..3, bytes 8..12 the low bits of
        // scales 4..7.
        let mut s = [0u8; 12];
        for j in 0..4 {
            s[j] = j as u8 + 1;
            s[j + 8] = j as u8 + 5;
        }
        let (sc, mn) = scales_mins(&s);
        assert_eq!(sc, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(mn, [0; 8]);
        // A six-bit scale of 63 split over the two places.
        let mut s = [0u8; 12];
        s[0] = 0xC0 | 0x3F; // scale 0 = 63, bits 4..5 of scale 4 = 3
        s[8] = 0x0F; // bits 0..3 of scale 4
        assert_eq!(scales_mins(&s).0[..5], [63, 0, 0, 0, 63]);
    }

    #[test]
    fn unsupported_types_are_refused() {
        let t = GgmlType::from_id(10).unwrap();
        assert!(!dequantize_into(t, &[0; 84], &mut [0.0; 256]));
    }
}
