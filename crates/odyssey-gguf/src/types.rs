//! GGML tensor types and GGUF metadata values.

use std::fmt;

/// A GGML tensor type: how elements are stored (plain floats or quantized blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GgmlType {
    /// The type id written in the tensor table.
    pub id: u32,
    /// llama.cpp's name (`Q4_K`, `F16`, ...).
    pub name: &'static str,
    /// Elements per block (1 for plain types).
    pub block_size: usize,
    /// Bytes per block.
    pub type_size: usize,
}

/// Every type of GGML's `ggml_type` enum: `(id, name, elements per block, bytes per block)`.
const TYPES: [(u32, &str, usize, usize); 36] = [
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 40),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
    (31, "Q4_0_4_4", 32, 18),
    (32, "Q4_0_4_8", 32, 18),
];

impl GgmlType {
    /// Plain 32-bit floats.
    pub const F32: GgmlType = GgmlType::known(0);
    /// IEEE half floats.
    pub const F16: GgmlType = GgmlType::known(1);
    /// bfloat16.
    pub const BF16: GgmlType = GgmlType::known(30);
    /// 32 elements: an f16 scale and 8-bit integers.
    pub const Q8_0: GgmlType = GgmlType::known(8);
    /// 32 elements: an f16 scale and 4-bit integers centred on 8.
    pub const Q4_0: GgmlType = GgmlType::known(2);
    /// 32 elements: f16 scale and minimum, 4-bit integers.
    pub const Q4_1: GgmlType = GgmlType::known(3);
    /// 256 elements in 8 sub-blocks: f16 super-scale and super-minimum, 6-bit sub-scales and
    /// sub-minima, 4-bit integers.
    pub const Q4_K: GgmlType = GgmlType::known(12);
    /// Like Q4_K with a fifth bit per element.
    pub const Q5_K: GgmlType = GgmlType::known(13);
    /// 256 elements in 16 sub-blocks: 8-bit sub-scales, an f16 super-scale, 6-bit integers.
    pub const Q6_K: GgmlType = GgmlType::known(14);

    const fn known(id: u32) -> GgmlType {
        let mut i = 0;
        while i < TYPES.len() {
            if TYPES[i].0 == id {
                return GgmlType {
                    id,
                    name: TYPES[i].1,
                    block_size: TYPES[i].2,
                    type_size: TYPES[i].3,
                };
            }
            i += 1;
        }
        panic!("not a GGML type id");
    }

    /// The type of id `id`, if GGML defines one.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TYPES
            .iter()
            .find(|t| t.0 == id)
            .map(|&(id, name, block_size, type_size)| GgmlType {
                id,
                name,
                block_size,
                type_size,
            })
    }

    /// Whether [`crate::dequantize`] converts this type to fp32.
    pub fn is_supported(self) -> bool {
        [
            GgmlType::F32,
            GgmlType::F16,
            GgmlType::BF16,
            GgmlType::Q8_0,
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q4_K,
            GgmlType::Q5_K,
            GgmlType::Q6_K,
        ]
        .contains(&self)
    }

    /// Bytes that `elements` elements take, or `None` when `elements` is not a whole number of
    /// blocks.
    pub fn bytes_for(self, elements: u64) -> Option<u64> {
        let b = self.block_size as u64;
        (elements % b == 0).then(|| elements / b * self.type_size as u64)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `u8`.
    U8(u8),
    /// `i8`.
    I8(i8),
    /// `u16`.
    U16(u16),
    /// `i16`.
    I16(i16),
    /// `u32`.
    U32(u32),
    /// `i32`.
    I32(i32),
    /// `u64`.
    U64(u64),
    /// `i64`.
    I64(i64),
    /// `f32`.
    F32(f32),
    /// `f64`.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string.
    String(String),
    /// An array of values of one type.
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, if it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::U64(v) => i64::try_from(v).ok(),
            Value::I64(v) => Some(v),
            _ => self
                .as_u64()
                .and_then(|v| i64::try_from(v).ok())
                .or(match *self {
                    Value::I8(v) => Some(v.into()),
                    Value::I16(v) => Some(v.into()),
                    Value::I32(v) => Some(v.into()),
                    _ => None,
                }),
        }
    }

    /// The value as a float, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, if it is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) => Some(v),
            _ => None,
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Array(_) => "array",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_ggml() {
        assert_eq!(GgmlType::Q4_K.bytes_for(512), Some(288));
        assert_eq!(GgmlType::Q8_0.bytes_for(64), Some(68));
        assert_eq!(GgmlType::Q8_0.bytes_for(33), None);
        assert_eq!(GgmlType::F16.bytes_for(3), Some(6));
        assert_eq!(GgmlType::from_id(14), Some(GgmlType::Q6_K));
        assert!(GgmlType::from_id(4).is_none());
        assert!(!GgmlType::from_id(10).unwrap().is_supported());
    }

    #[test]
    fn integers_convert_only_when_they_fit() {
        assert_eq!(Value::I32(-1).as_u64(), None);
        assert_eq!(Value::I32(-1).as_i64(), Some(-1));
        assert_eq!(Value::U64(u64::MAX).as_i64(), None);
        assert_eq!(Value::U32(7).as_f64(), Some(7.0));
        assert_eq!(Value::String("x".into()).as_u64(), None);
    }
}
