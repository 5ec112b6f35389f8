//! What can go wrong reading a GGUF file; every error names the file and the field or tensor.

use std::path::PathBuf;

/// A GGUF file could not be read, or does not hold what was asked of it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// Opening or mapping the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The file ends inside a field.
    #[error("{}: truncated: the file ends at byte {len} while reading {what} (at byte {offset})", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What was being read (a header field, a metadata key, a tensor's entry).
        what: String,
        /// Where reading started.
        offset: u64,
        /// The file's length.
        len: u64,
    },
    /// The first four bytes are not `GGUF`.
    #[error("{}: not a GGUF file (magic bytes {found:?}, expected \"GGUF\")", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first bytes found.
        found: Vec<u8>,
    },
    /// A format version this reader does not know (it reads 2 and 3).
    #[error("{}: GGUF version {version} is not supported (2 and 3 are)", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the header.
        version: u32,
    },
    /// A metadata entry is malformed (unknown value type, invalid UTF-8, a count too large).
    #[error("{}: metadata `{key}`: {message}", path.display())]
    BadMetadata {
        /// The file.
        path: PathBuf,
        /// The key (or `<key #n>` when the key itself is unreadable).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A metadata key the operation needs is absent, or has another type.
    #[error("{}: metadata `{key}` {message}", path.display())]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// "is missing", or what type it has instead.
        message: String,
    },
    /// A tensor entry names a type id no GGML version defines.
    #[error("{}: tensor `{tensor}` has unknown GGML type id {type_id}", path.display())]
    UnknownTensorType {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The id found.
        type_id: u32,
    },
    /// A tensor's type is known but this reader does not dequantize it.
    #[error("{}: tensor `{tensor}` is {ty}, which is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K are)", path.display())]
    UnsupportedTensorType {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The type's name.
        ty: String,
    },
    /// A tensor's bytes do not fit its type and shape: the shape is not a whole number of
    /// blocks, the data runs past the file or into the next tensor, or the offset is misaligned.
    #[error("{}: tensor `{tensor}`: {message}", path.display())]
    TensorLayout {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// What disagrees.
        message: String,
    },
    /// The file has no tensor of that name.
    #[error("{}: no tensor `{tensor}`", path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The name asked for.
        tensor: String,
    },
    /// The model's architecture (`general.architecture`) is not one this crate maps.
    #[error("{}: architecture `{architecture}` is not supported (llama is)", path.display())]
    UnsupportedArchitecture {
        /// The file.
        path: PathBuf,
        /// The architecture found.
        architecture: String,
    },
    /// The tokenizer the metadata describes cannot be built.
    #[error("{}: tokenizer: {message}", path.display())]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = GgufError> = std::result::Result<T, E>;
