//! Loading a safetensors checkpoint into fp32 tensors.
//!
//! Tensors are read straight from the file and converted to fp32 whatever their stored type
//! (fp32, fp16 or bf16), so a half-precision checkpoint never leaves half-precision weights
//! behind (bf16 matmuls are two orders of magnitude slower on CPU).

use crate::error::{Result, SimilarityError};
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// The named fp32 tensors of one checkpoint, with the prefix (`bert.` or none) resolved.
pub(crate) struct Weights {
    path: PathBuf,
    prefix: String,
    tensors: HashMap<String, Tensor>,
}

fn kind_of(path: &Path, name: &str, dtype: Dtype) -> Result<Option<Kind>> {
    Ok(match dtype {
        Dtype::F32 => Some(Kind::Float),
        Dtype::F16 => Some(Kind::Half),
        Dtype::BF16 => Some(Kind::BFloat16),
        Dtype::F64 => Some(Kind::Double),
        // Integer buffers (e.g. `position_ids`) are not weights.
        Dtype::I64 | Dtype::I32 | Dtype::I16 | Dtype::I8 | Dtype::U8 | Dtype::BOOL => None,
        other => {
            return Err(SimilarityError::UnsupportedModel {
                path: path.to_path_buf(),
                message: format!("tensor {name:?} has unsupported dtype {other:?}"),
            })
        }
    })
}

impl Weights {
    /// Read every floating-point tensor of `path` as fp32 on `device`.
    pub(crate) fn load(path: &Path, device: Device) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| SimilarityError::io(path, e))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| SimilarityError::Parse {
            path: path.to_path_buf(),
            line: 0,
            message: format!("expected a safetensors file: {e}"),
        })?;
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let Some(kind) = kind_of(path, &name, view.dtype())? else {
                continue;
            };
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            let t = Tensor::f_from_data_size(view.data(), &shape, kind)
                .and_then(|t| t.f_to_kind(Kind::Float))
                .and_then(|t| t.f_to_device(device))
                .map_err(|e| SimilarityError::torch(format!("loading tensor {name:?}"), e))?;
            tensors.insert(name, t);
        }
        let prefix = ["", "bert.", "model.", "0.auto_model."]
            .into_iter()
            .find(|p| tensors.contains_key(&format!("{p}embeddings.word_embeddings.weight")))
            .ok_or_else(|| SimilarityError::MissingTensor {
                path: path.to_path_buf(),
                name: "embeddings.word_embeddings.weight".into(),
            })?
            .to_string();
        Ok(Weights {
            path: path.to_path_buf(),
            prefix,
            tensors,
        })
    }

    /// Take the tensor `name` (without prefix) and check its shape. Older checkpoints name
    /// layer-norm parameters `gamma`/`beta`; those are accepted too.
    pub(crate) fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let full = format!("{}{}", self.prefix, name);
        let legacy = full
            .strip_suffix("LayerNorm.weight")
            .map(|s| format!("{s}LayerNorm.gamma"))
            .or_else(|| {
                full.strip_suffix("LayerNorm.bias")
                    .map(|s| format!("{s}LayerNorm.beta"))
            });
        let t = self
            .tensors
            .remove(&full)
            .or_else(|| legacy.and_then(|l| self.tensors.remove(&l)))
            .ok_or_else(|| SimilarityError::MissingTensor {
                path: self.path.clone(),
                name: name.into(),
            })?;
        let found: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        if found != shape {
            return Err(SimilarityError::TensorShape {
                path: self.path.clone(),
                name: name.into(),
                expected: shape.to_vec(),
                found,
            });
        }
        Ok(t)
    }
}
