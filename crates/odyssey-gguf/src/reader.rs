//! Reading a GGUF file: header, metadata, tensor table, tensor data (memory-mapped).
//!
//! Layout (GGUF v2/v3, little-endian): `"GGUF"`, version `u32`, tensor count `u64`, metadata
//! count `u64`; metadata entries (key string, value type `u32`, value); tensor entries (name,
//! rank `u32`, dimensions `u64 × rank` with the fastest-varying first, type `u32`, offset `u64`
//! into the data section); the data section starts at the next multiple of
//! `general.alignment` (32 by default). Strings are a `u64` length and UTF-8 bytes.

use crate::dequant::dequantize_into;
use crate::error::{GgufError, Result};
use crate::types::{GgmlType, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `"GGUF"` read as a little-endian `u32`.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// The data section's alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// One entry of the tensor table.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// The tensor's name (`blk.0.attn_q.weight`, ...).
    pub name: String,
    /// Dimensions as GGUF stores them: the fastest-varying first (`[in, out]` for a weight
    /// that PyTorch shapes `[out, in]`).
    pub dims: Vec<u64>,
    /// Storage type.
    pub ty: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// The shape in PyTorch's order (slowest-varying first).
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }

    /// Bytes of its data.
    pub fn bytes(&self) -> u64 {
        self.ty.bytes_for(self.elements()).unwrap_or(0)
    }
}

enum Data {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Mapped(m) => m,
            Data::Owned(v) => v,
        }
    }
}

/// An open GGUF file: its metadata and tensor table, and its tensors' bytes on demand.
///
/// ```no_run
/// let f = odyssey_gguf::GgufFile::open("SmolLM2-135M-Instruct.Q4_1.gguf")?;
/// assert_eq!(f.string("general.architecture")?, "llama");
/// let emb = f.tensor_f32("token_embd.weight")?; // dequantized to fp32
/// # Ok::<(), odyssey_gguf::GgufError>(())
/// ```
pub struct GgufFile {
    path: PathBuf,
    version: u32,
    metadata: BTreeMap<String, Value>,
    tensors: Vec<TensorInfo>,
    data_start: u64,
    data: Data,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

/// A cursor over the file's bytes whose errors name the file and what was being read.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8]> {
        let end = (self.pos as u64).checked_add(n);
        match end {
            Some(end) if end <= self.bytes.len() as u64 => {
                let s = &self.bytes[self.pos..end as usize];
                self.pos = end as usize;
                Ok(s)
            }
            _ => Err(GgufError::Truncated {
                path: self.path.to_path_buf(),
                what: what(),
                offset: self.pos as u64,
                len: self.bytes.len() as u64,
            }),
        }
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N]> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &dyn Fn() -> String) -> Result<std::result::Result<String, String>> {
        let len = self.u64(what)?;
        let bytes = self.take(len, what)?;
        Ok(String::from_utf8(bytes.to_vec()).map_err(|e| format!("invalid UTF-8: {e}")))
    }
}

const T_U8: u32 = 0;
const T_I8: u32 = 1;
const T_U16: u32 = 2;
const T_I16: u32 = 3;
const T_U32: u32 = 4;
const T_I32: u32 = 5;
const T_F32: u32 = 6;
const T_BOOL: u32 = 7;
const T_STRING: u32 = 8;
const T_ARRAY: u32 = 9;
const T_U64: u32 = 10;
const T_I64: u32 = 11;
const T_F64: u32 = 12;

impl GgufFile {
    /// Open and parse `path` (memory-mapped; tensor data is read when asked for).
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        let path = path.as_ref();
        let io = |source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only and lives as long as the `GgufFile`; a file truncated
        // by another process while mapped is outside what this reader can defend against.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::parse(path, Data::Mapped(map))
    }

    /// Parse a GGUF file held in memory (`path` names it in errors).
    pub fn from_bytes(path: impl AsRef<Path>, bytes: Vec<u8>) -> Result<GgufFile> {
        Self::parse(path.as_ref(), Data::Owned(bytes))
    }

    fn parse(path: &Path, data: Data) -> Result<GgufFile> {
        let bytes: &[u8] = &data;
        let mut c = Cursor {
            bytes,
            pos: 0,
            path,
        };
        let magic: [u8; 4] = match c.array(&|| "the magic bytes".into()) {
            Ok(m) => m,
            Err(_) => {
                return Err(GgufError::BadMagic {
                    path: path.to_path_buf(),
                    found: bytes.to_vec(),
                })
            }
        };
        if magic != MAGIC {
            return Err(GgufError::BadMagic {
                path: path.to_path_buf(),
                found: magic.to_vec(),
            });
        }
        let version = c.u32(&|| "the version".into())?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
            });
        }
        let n_tensors = c.u64(&|| "the tensor count".into())?;
        let n_kv = c.u64(&|| "the metadata count".into())?;
        let mut metadata = BTreeMap::new();
        for i in 0..n_kv {
            let key = c
                .string(&|| format!("the key of metadata entry {i}"))?
                .map_err(|message| GgufError::BadMetadata {
                    path: path.to_path_buf(),
                    key: format!("<key #{i}>"),
                    message,
                })?;
            let ty = c.u32(&|| format!("the value type of metadata `{key}`"))?;
            let value = read_value(&mut c, ty, &key, 0)?;
            metadata.insert(key, value);
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() => a,
                _ => {
                    return Err(GgufError::BadMetadata {
                        path: path.to_path_buf(),
                        key: "general.alignment".into(),
                        message: format!("{v:?} is not a positive power of two"),
                    })
                }
            },
        };
        let mut tensors = Vec::new();
        for i in 0..n_tensors {
            let name = c
                .string(&|| format!("the name of tensor {i}"))?
                .map_err(|message| GgufError::BadMetadata {
                    path: path.to_path_buf(),
                    key: format!("<name of tensor #{i}>"),
                    message,
                })?;
            let what = |field: &str| {
                let (name, field) = (name.clone(), field.to_string());
                move || format!("the {field} of tensor `{name}`")
            };
            let rank = c.u32(&what("rank"))?;
            if rank > 8 {
                return Err(GgufError::TensorLayout {
                    path: path.to_path_buf(),
                    tensor: name,
                    message: format!("rank {rank} is more than GGML's 4 dimensions"),
                });
            }
            let mut dims = Vec::with_capacity(rank as usize);
            for _ in 0..rank {
                dims.push(c.u64(&what("dimensions"))?);
            }
            let type_id = c.u32(&what("type"))?;
            let offset = c.u64(&what("offset"))?;
            let Some(ty) = GgmlType::from_id(type_id) else {
                return Err(GgufError::UnknownTensorType {
                    path: path.to_path_buf(),
                    tensor: name,
                    type_id,
                });
            };
            tensors.push(TensorInfo {
                name,
                dims,
                ty,
                offset,
            });
        }
        let data_start = (c.pos as u64).div_ceil(alignment) * alignment;
        let file = GgufFile {
            path: path.to_path_buf(),
            version,
            metadata,
            tensors,
            data_start,
            data,
        };
        file.check_layout(alignment)?;
        Ok(file)
    }

    /// Every tensor a whole number of blocks, aligned, inside the file, and not overlapping the
    /// next one.
    fn check_layout(&self, alignment: u64) -> Result<()> {
        let bad = |t: &TensorInfo, message: String| GgufError::TensorLayout {
            path: self.path.clone(),
            tensor: t.name.clone(),
            message,
        };
        let data_len = (self.data.len() as u64).saturating_sub(self.data_start);
        let mut by_offset: Vec<&TensorInfo> = self.tensors.iter().collect();
        by_offset.sort_by_key(|t| t.offset);
        for (k, t) in by_offset.iter().enumerate() {
            let elements = t
                .dims
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d))
                .ok_or_else(|| bad(t, format!("dimensions {:?} overflow", t.dims)))?;
            let Some(bytes) = t.ty.bytes_for(elements) else {
                return Err(bad(
                    t,
                    format!(
                        "{elements} elements ({:?}) are not a whole number of {} blocks of {}",
                        t.dims, t.ty, t.ty.block_size
                    ),
                ));
            };
            if t.offset % alignment != 0 {
                return Err(bad(
                    t,
                    format!(
                        "offset {} is not a multiple of the alignment {alignment}",
                        t.offset
                    ),
                ));
            }
            let end = t.offset.saturating_add(bytes);
            let limit = by_offset.get(k + 1).map_or(data_len, |n| n.offset);
            if end > limit {
                let next = by_offset.get(k + 1).map_or_else(
                    || format!("the data section ends after {data_len} bytes"),
                    |n| format!("the next tensor `{}` starts at {}", n.name, n.offset),
                );
                return Err(bad(
                    t,
                    format!(
                        "{} of shape {:?} needs {bytes} bytes from offset {}, but {next}",
                        t.ty,
                        t.shape(),
                        t.offset
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// All metadata, by key.
    pub fn metadata(&self) -> &BTreeMap<String, Value> {
        &self.metadata
    }

    /// The tensor table, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The entry of tensor `name`.
    pub fn tensor_info(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| GgufError::MissingTensor {
                path: self.path.clone(),
                tensor: name.to_string(),
            })
    }

    /// The raw bytes of tensor `name` as stored.
    pub fn tensor_bytes(&self, name: &str) -> Result<&[u8]> {
        let t = self.tensor_info(name)?;
        let start = (self.data_start + t.offset) as usize;
        Ok(&self.data[start..start + t.bytes() as usize])
    }

    /// Tensor `name` dequantized to fp32, in storage order (row-major over
    /// [`TensorInfo::shape`]).
    pub fn tensor_f32(&self, name: &str) -> Result<Vec<f32>> {
        let t = self.tensor_info(name)?;
        let bytes = self.tensor_bytes(name)?;
        let mut out = vec![0f32; t.elements() as usize];
        if !dequantize_into(t.ty, bytes, &mut out) {
            return Err(GgufError::UnsupportedTensorType {
                path: self.path.clone(),
                tensor: t.name.clone(),
                ty: t.ty.to_string(),
            });
        }
        Ok(out)
    }

    /// Metadata `key`, or a [`GgufError::MissingKey`].
    pub fn get(&self, key: &str) -> Result<&Value> {
        self.metadata.get(key).ok_or_else(|| GgufError::MissingKey {
            path: self.path.clone(),
            key: key.to_string(),
            message: "is missing".into(),
        })
    }

    fn wrong_type(&self, key: &str, want: &str, v: &Value) -> GgufError {
        GgufError::MissingKey {
            path: self.path.clone(),
            key: key.to_string(),
            message: format!("is a {}, expected {want}", v.type_name()),
        }
    }

    /// Metadata `key` as a string.
    pub fn string(&self, key: &str) -> Result<&str> {
        let v = self.get(key)?;
        v.as_str()
            .ok_or_else(|| self.wrong_type(key, "a string", v))
    }

    /// Metadata `key` as a non-negative integer.
    pub fn uint(&self, key: &str) -> Result<u64> {
        let v = self.get(key)?;
        v.as_u64()
            .ok_or_else(|| self.wrong_type(key, "a non-negative integer", v))
    }

    /// Metadata `key` as a number.
    pub fn float(&self, key: &str) -> Result<f64> {
        let v = self.get(key)?;
        v.as_f64()
            .ok_or_else(|| self.wrong_type(key, "a number", v))
    }

    /// Metadata `key` as an array.
    pub fn array(&self, key: &str) -> Result<&[Value]> {
        let v = self.get(key)?;
        v.as_array()
            .ok_or_else(|| self.wrong_type(key, "an array", v))
    }
}

fn read_value(c: &mut Cursor<'_>, ty: u32, key: &str, depth: usize) -> Result<Value> {
    let what = || format!("the value of metadata `{key}`");
    let bad = |message: String| GgufError::BadMetadata {
        path: c.path.to_path_buf(),
        key: key.to_string(),
        message,
    };
    Ok(match ty {
        T_U8 => Value::U8(c.array::<1>(&what)?[0]),
        T_I8 => Value::I8(c.array::<1>(&what)?[0] as i8),
        T_U16 => Value::U16(u16::from_le_bytes(c.array(&what)?)),
        T_I16 => Value::I16(i16::from_le_bytes(c.array(&what)?)),
        T_U32 => Value::U32(c.u32(&what)?),
        T_I32 => Value::I32(i32::from_le_bytes(c.array(&what)?)),
        T_F32 => Value::F32(f32::from_le_bytes(c.array(&what)?)),
        T_U64 => Value::U64(c.u64(&what)?),
        T_I64 => Value::I64(i64::from_le_bytes(c.array(&what)?)),
        T_F64 => Value::F64(f64::from_le_bytes(c.array(&what)?)),
        T_BOOL => match c.array::<1>(&what)?[0] {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => return Err(bad(format!("boolean byte {b} is neither 0 nor 1"))),
        },
        T_STRING => Value::String(c.string(&what)?.map_err(bad)?),
        T_ARRAY => {
            if depth > 4 {
                return Err(bad("arrays nested deeper than 4 levels".into()));
            }
            let elem = c.u32(&what)?;
            let n = c.u64(&what)?;
            // Each element takes at least one byte: a count beyond the bytes left is corrupt
            // (and would otherwise allocate without bound).
            let left = (c.bytes.len() - c.pos) as u64;
            if n > left {
                return Err(GgufError::Truncated {
                    path: c.path.to_path_buf(),
                    what: format!("the {n} elements of metadata `{key}`"),
                    offset: c.pos as u64,
                    len: c.bytes.len() as u64,
                });
            }
            let mut v = Vec::with_capacity(n as usize);
            for _ in 0..n {
                v.push(read_value(c, elem, key, depth + 1)?);
            }
            Value::Array(v)
        }
        other => return Err(bad(format!("unknown value type {other}"))),
    })
}
