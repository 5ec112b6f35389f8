//! GGUF files (llama.cpp, ollama) as models: [`AnyModel::from_gguf`] builds the Llama model a
//! `llama` GGUF file describes and fills it with the dequantized (fp32) weights, the query and
//! key rows put back in HF's order; [`gguf_config`] gives its config alone.

use crate::config::ModelConfig;
use crate::error::{ModelError, ModelResult};
use crate::model::llama::{LlamaConfig, LlamaVariant};
use crate::model::{AnyModel, CausalLm};
use odyssey_gguf::llama::{hf_name, unpermute_rows};
use odyssey_gguf::{GgufFile, LlamaParams};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Tensor};

/// Whether `path` is a file that starts with GGUF's magic bytes.
pub fn is_gguf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    path.is_file()
        && std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
        && magic == odyssey_gguf::reader::MAGIC
}

fn gguf_err(e: odyssey_gguf::GgufError) -> ModelError {
    ModelError::Gguf(Box::new(e))
}

/// The config of the model at `path` (a GGUF file or an HF folder), without loading weights.
pub fn model_config(path: &Path) -> ModelResult<ModelConfig> {
    if is_gguf(path) {
        gguf_config(&GgufFile::open(path).map_err(gguf_err)?)
    } else {
        ModelConfig::from_file(path)
    }
}

/// The HF config of the model in an open GGUF file (`llama` architecture only).
pub fn gguf_config(file: &GgufFile) -> ModelResult<ModelConfig> {
    let p = LlamaParams::from_file(file).map_err(gguf_err)?;
    let mut cfg = LlamaConfig::small(
        LlamaVariant::Llama,
        p.vocab_size,
        p.max_position_embeddings,
        p.hidden_size,
        p.intermediate_size,
        p.num_hidden_layers,
        p.num_attention_heads,
        p.num_key_value_heads,
    );
    if p.head_dim * p.num_attention_heads != p.hidden_size {
        cfg.head_dim = Some(p.head_dim);
    }
    cfg.rms_norm_eps = p.rms_norm_eps;
    cfg.rope_theta = p.rope_theta;
    cfg.tie_word_embeddings = p.tie_word_embeddings;
    if let Some((kind, factor)) = &p.rope_scaling {
        cfg.rope_scaling = Some(serde_json::json!({"rope_type": kind, "factor": factor}));
    }
    let [bos, eos, _, pad] = odyssey_gguf::tokenizer::special_ids(file);
    for (key, id) in [
        ("bos_token_id", bos),
        ("eos_token_id", eos),
        ("pad_token_id", pad),
    ] {
        if let Some(id) = id {
            cfg.extra.insert(key.into(), id.into());
        }
    }
    let cfg = ModelConfig::Llama(cfg);
    cfg.validate()?;
    Ok(cfg)
}

impl AnyModel {
    /// Load the model of a `llama` GGUF file onto `device`: the config from its metadata, the
    /// weights dequantized to fp32 (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K), the
    /// query and key projections unpermuted. Every variable must be filled by a tensor of the
    /// right shape and every tensor must have a place (precomputed rotary tables aside), or the
    /// error names the tensor.
    pub fn from_gguf(path: impl AsRef<Path>, device: Device) -> ModelResult<AnyModel> {
        let path = path.as_ref();
        let file = GgufFile::open(path).map_err(gguf_err)?;
        let cfg = gguf_config(&file)?;
        let ModelConfig::Llama(lc) = &cfg else {
            return Err(ModelError::UnsupportedArchitecture {
                name: "gguf".into(),
            });
        };
        let (heads, kv_heads) = (lc.num_attention_heads, lc.kv_heads());
        let model = AnyModel::from_config(&cfg, device)?;
        let vars: HashMap<String, Tensor> = model.var_store().variables();
        let mut filled = std::collections::HashSet::new();
        let mut extra = Vec::new();
        for info in file.tensors() {
            let Some(name) = hf_name(&info.name) else {
                if info.name.starts_with("rope_freqs") {
                    continue;
                }
                extra.push(info.name.clone());
                continue;
            };
            let Some(var) = vars.get(&name) else {
                extra.push(info.name.clone());
                continue;
            };
            let shape: Vec<i64> = info.shape().iter().map(|&d| d as i64).collect();
            if shape != var.size() {
                return Err(ModelError::ShapeMismatch {
                    path: path.to_path_buf(),
                    name: info.name.clone(),
                    expected: var.size(),
                    found: shape,
                });
            }
            let mut data = file.tensor_f32(&info.name).map_err(gguf_err)?;
            let rows = shape.first().copied().unwrap_or(1) as usize;
            let cols = data.len() / rows.max(1);
            if info.name.ends_with(".attn_q.weight") {
                data = unpermute_rows(&data, rows, cols, heads);
            } else if info.name.ends_with(".attn_k.weight") {
                data = unpermute_rows(&data, rows, cols, kv_heads);
            }
            let t = Tensor::from_slice(&data).view(shape.as_slice());
            tch::no_grad(|| var.shallow_clone().f_copy_(&t.to_device(var.device())))?;
            filled.insert(name);
        }
        if !extra.is_empty() {
            return Err(ModelError::ExtraTensors {
                path: path.to_path_buf(),
                names: extra,
            });
        }
        let mut missing: Vec<&String> = vars.keys().filter(|k| !filled.contains(*k)).collect();
        missing.sort();
        if let Some(name) = missing.first() {
            return Err(ModelError::MissingTensor {
                path: path.to_path_buf(),
                name: (*name).clone(),
            });
        }
        Ok(model)
    }
}
