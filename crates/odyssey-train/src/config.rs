//! HF `config.json`: which architecture, with which hyper-parameters.

use crate::error::{ModelError, ModelResult};
use crate::model::llama::{LlamaConfig, LlamaVariant};
use crate::model::Gpt2Config;
use serde_json::Value;
use std::path::Path;

/// The config of any supported architecture.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelConfig {
    /// GPT-2.
    Gpt2(Gpt2Config),
    /// Llama, SmolLM, Qwen2, OLMo-2.
    Llama(LlamaConfig),
}

impl ModelConfig {
    /// Read `dir/config.json` (or the file itself when `path` is a file).
    pub fn from_file(path: &Path) -> ModelResult<Self> {
        let file = if path.is_dir() {
            path.join("config.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|e| ModelError::io(&file, e))?;
        let value: Value = serde_json::from_str(&text).map_err(|source| ModelError::Json {
            path: file.clone(),
            source,
        })?;
        Self::from_json(value).map_err(|e| match e {
            ModelError::Config { field, message } => ModelError::Config {
                field,
                message: format!("{message} (in {})", file.display()),
            },
            other => other,
        })
    }

    /// Interpret a parsed config.json. The architecture comes from `model_type`, or from
    /// `architectures[0]` when `model_type` is absent.
    pub fn from_json(value: Value) -> ModelResult<Self> {
        let Value::Object(mut map) = value else {
            return Err(ModelError::config(
                "",
                "config.json must hold a JSON object",
            ));
        };
        let arch = map
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(|a| a.as_str())
            .map(str::to_string);
        let model_type = map
            .get("model_type")
            .and_then(|m| m.as_str())
            .map(str::to_string);
        let key = match (&model_type, &arch) {
            (Some(m), _) => m.clone(),
            (None, Some(a)) => match a.as_str() {
                "GPT2LMHeadModel" | "GPT2Model" => "gpt2".into(),
                "LlamaForCausalLM" => "llama".into(),
                "Qwen2ForCausalLM" => "qwen2".into(),
                "Olmo2ForCausalLM" => "olmo2".into(),
                other => other.to_string(),
            },
            (None, None) => {
                return Err(ModelError::config(
                    "model_type",
                    "config.json has neither `model_type` nor `architectures`",
                ))
            }
        };
        // Fields re-derived on save.
        for k in ["model_type", "architectures", "torch_dtype", "dtype"] {
            map.remove(k);
        }
        let variant = match key.as_str() {
            "gpt2" => {
                if let Some(n_ctx) = map.remove("n_ctx") {
                    map.entry("n_positions").or_insert(n_ctx);
                }
                let cfg: Gpt2Config = serde_json::from_value(Value::Object(map))
                    .map_err(|e| ModelError::config("config.json", e.to_string()))?;
                cfg.validate()?;
                return Ok(ModelConfig::Gpt2(cfg));
            }
            "llama" => LlamaVariant::Llama,
            "qwen2" => LlamaVariant::Qwen2,
            "olmo2" => LlamaVariant::Olmo2,
            _ => return Err(ModelError::UnsupportedArchitecture { name: key }),
        };
        if variant == LlamaVariant::Qwen2 {
            // Qwen2 defaults that differ from Llama's.
            map.entry("rms_norm_eps").or_insert(Value::from(1e-6));
            if map.get("use_sliding_window").and_then(|v| v.as_bool()) == Some(true) {
                let window = map.get("sliding_window").and_then(|v| v.as_u64());
                let maxpos = map.get("max_position_embeddings").and_then(|v| v.as_u64());
                if let (Some(w), Some(m)) = (window, maxpos) {
                    if w < m {
                        return Err(ModelError::config(
                            "use_sliding_window",
                            format!("sliding-window attention (window {w} < context {m}) is not supported"),
                        ));
                    }
                }
            }
        }
        if variant == LlamaVariant::Olmo2 {
            map.entry("rms_norm_eps").or_insert(Value::from(1e-5));
        }
        // transformers 5 moves rope settings into `rope_parameters`.
        if let Some(Value::Object(rp)) = map.get("rope_parameters").cloned() {
            if let Some(theta) = rp.get("rope_theta") {
                map.entry("rope_theta").or_insert(theta.clone());
            }
            let rope_type = rp.get("rope_type").and_then(|v| v.as_str());
            if rope_type.is_some_and(|t| t != "default") {
                map.entry("rope_scaling")
                    .or_insert(Value::Object(rp.clone()));
            }
        }
        let mut cfg: LlamaConfig = serde_json::from_value(Value::Object(map))
            .map_err(|e| ModelError::config("config.json", e.to_string()))?;
        cfg.variant = variant;
        cfg.validate()?;
        Ok(ModelConfig::Llama(cfg))
    }

    /// The config.json content HF transformers reads back (weights are written in fp32).
    pub fn to_json(&self) -> Value {
        let (mut map, model_type, arch) = match self {
            ModelConfig::Gpt2(c) => (to_map(serde_json::to_value(c)), "gpt2", "GPT2LMHeadModel"),
            ModelConfig::Llama(c) => (
                to_map(serde_json::to_value(c)),
                c.variant.model_type(),
                c.variant.architecture(),
            ),
        };
        if let ModelConfig::Llama(c) = self {
            if let Some(Value::Object(rp)) = map.get_mut("rope_parameters") {
                rp.insert("rope_theta".into(), Value::from(c.rope_theta));
            }
        }
        map.insert("model_type".into(), Value::from(model_type));
        map.insert("architectures".into(), Value::from(vec![arch]));
        map.insert("torch_dtype".into(), Value::from("float32"));
        Value::Object(map)
    }

    /// Output vocabulary size.
    pub fn vocab_size(&self) -> usize {
        match self {
            ModelConfig::Gpt2(c) => c.vocab_size,
            ModelConfig::Llama(c) => c.vocab_size,
        }
    }

    /// Context length.
    pub fn max_positions(&self) -> usize {
        match self {
            ModelConfig::Gpt2(c) => c.n_positions,
            ModelConfig::Llama(c) => c.max_position_embeddings,
        }
    }

    /// Whether the output projection shares the input embedding.
    pub fn tied_embeddings(&self) -> bool {
        match self {
            ModelConfig::Gpt2(c) => c.tie_word_embeddings,
            ModelConfig::Llama(c) => c.tie_word_embeddings,
        }
    }

    /// Check the values are usable; the error names the field.
    pub fn validate(&self) -> ModelResult<()> {
        match self {
            ModelConfig::Gpt2(c) => c.validate(),
            ModelConfig::Llama(c) => c.validate(),
        }
    }
}

fn to_map(v: Result<Value, serde_json::Error>) -> serde_json::Map<String, Value> {
    match v {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}
