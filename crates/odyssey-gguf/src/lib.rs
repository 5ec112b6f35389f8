//! # odyssey-gguf
//!
//! GGUF, the model format of llama.cpp and ollama, read in pure Rust (no libtorch):
//!
//! - [`GgufFile`]: header, metadata and tensor table of GGUF v2/v3, alignment, memory-mapped
//!   tensor data; every tensor checked against its type and shape when the file is opened;
//! - [`GgufFile::tensor_f32`]: dequantization to fp32 of F32, F16, BF16, Q8_0, Q4_0, Q4_1,
//!   Q4_K, Q5_K and Q6_K, bit for bit as ggml's reference (and the `gguf` Python package);
//! - [`llama`]: hyper-parameters of the `llama` architecture, HF tensor names, and the inverse
//!   of llama.cpp's query/key row permutation;
//! - [`tokenizer`]: the HF `tokenizers` tokenizer (`tokenizer.json`) the metadata describes;
//! - [`writer`]: GGUF v3 files from metadata and raw tensors (for tests and tools).
//!
//! Bad input is a typed [`GgufError`] naming the file and the field or tensor: a truncated
//! file, a bad magic or version, an unknown tensor type, a tensor whose bytes disagree with its
//! type and shape, an unsupported architecture, missing tokenizer metadata. `odyssey-train`
//! builds its Llama model from these pieces (`AnyModel::from_gguf`).

pub mod dequant;
pub mod error;
pub mod llama;
pub mod reader;
pub mod tokenizer;
pub mod types;
pub mod writer;

pub use error::{GgufError, Result};
pub use llama::LlamaParams;
pub use reader::{GgufFile, TensorInfo};
pub use types::{GgmlType, Value};
