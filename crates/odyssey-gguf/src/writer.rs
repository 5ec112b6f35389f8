//! Writing GGUF v3 files: metadata and tensors given as raw bytes of their type. Used to build
//! test files and to re-export tensors; it does not quantize.

use crate::reader::{DEFAULT_ALIGNMENT, MAGIC};
use crate::types::{GgmlType, Value};
use std::io::Write;

/// A tensor to write: name, PyTorch-order shape, type, and its bytes in that type.
#[derive(Debug, Clone)]
pub struct TensorData {
    /// Name.
    pub name: String,
    /// Shape, slowest-varying first (written reversed, as GGUF stores dimensions).
    pub shape: Vec<u64>,
    /// Storage type.
    pub ty: GgmlType,
    /// The bytes, `ty.bytes_for(elements)` of them.
    pub bytes: Vec<u8>,
}

impl TensorData {
    /// An F32 tensor.
    pub fn f32(name: &str, shape: &[u64], values: &[f32]) -> TensorData {
        TensorData {
            name: name.into(),
            shape: shape.to_vec(),
            ty: GgmlType::F32,
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn type_id(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend(x.to_le_bytes()),
        Value::I16(x) => out.extend(x.to_le_bytes()),
        Value::U32(x) => out.extend(x.to_le_bytes()),
        Value::I32(x) => out.extend(x.to_le_bytes()),
        Value::F32(x) => out.extend(x.to_le_bytes()),
        Value::U64(x) => out.extend(x.to_le_bytes()),
        Value::I64(x) => out.extend(x.to_le_bytes()),
        Value::F64(x) => out.extend(x.to_le_bytes()),
        Value::Bool(x) => out.push(u8::from(*x)),
        Value::String(s) => put_str(out, s),
        Value::Array(items) => {
            let elem = items.first().map_or(0, type_id);
            out.extend(elem.to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            for i in items {
                put_value(out, i);
            }
        }
    }
}

/// The bytes of a GGUF v3 file with `metadata` (in the given order) and `tensors`, data aligned
/// to 32 bytes.
pub fn to_bytes(metadata: &[(&str, Value)], tensors: &[TensorData]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(MAGIC);
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend((metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        put_str(&mut out, k);
        out.extend(type_id(v).to_le_bytes());
        put_value(&mut out, v);
    }
    let align = DEFAULT_ALIGNMENT as usize;
    let mut offset = 0usize;
    for t in tensors {
        put_str(&mut out, &t.name);
        out.extend((t.shape.len() as u32).to_le_bytes());
        for d in t.shape.iter().rev() {
            out.extend(d.to_le_bytes());
        }
        out.extend(t.ty.id.to_le_bytes());
        out.extend((offset as u64).to_le_bytes());
        offset += t.bytes.len().div_ceil(align) * align;
    }
    out.resize(out.len().div_ceil(align) * align, 0);
    for t in tensors {
        out.extend(&t.bytes);
        out.resize(out.len().div_ceil(align) * align, 0);
    }
    out
}

/// Write a GGUF v3 file (see [`to_bytes`]) to `path`.
pub fn write(
    path: &std::path::Path,
    metadata: &[(&str, Value)],
    tensors: &[TensorData],
) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(&to_bytes(metadata, tensors))?;
    f.sync_all()
}
