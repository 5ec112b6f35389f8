//! Reading a sentence-transformers model folder: `modules.json`, the transformer's
//! `config.json` and `sentence_bert_config.json`, the pooling configuration and the Normalize
//! module. Pure parsing: no libtorch needed.

use crate::error::{Result, SimilarityError};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The environment variable (also set by `scripts/odyssey.sh setup` in `.cargo/config.toml`)
/// that points at the all-MiniLM-L6-v2 folder.
pub const MINILM_DIR_ENV: &str = "ODYSSEY_MINILM_DIR";

/// Find the sentence-embedding model folder: an explicit path wins, then the
/// `ODYSSEY_MINILM_DIR` environment variable at run time, then the value it had when this crate
/// was compiled (cargo passes the `[env]` table of `.cargo/config.toml` to both). The folder
/// must hold a `modules.json`.
pub fn locate_model_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    let (dir, origin) = if let Some(p) = explicit {
        (p.to_path_buf(), "the given path")
    } else if let Some(p) = std::env::var_os(MINILM_DIR_ENV).filter(|p| !p.is_empty()) {
        (PathBuf::from(p), MINILM_DIR_ENV)
    } else if let Some(p) = option_env!("ODYSSEY_MINILM_DIR").filter(|p| !p.is_empty()) {
        (PathBuf::from(p), "ODYSSEY_MINILM_DIR at build time")
    } else {
        return Err(SimilarityError::ModelNotFound {
            detail: String::new(),
        });
    };
    if !dir.join("modules.json").is_file() {
        return Err(SimilarityError::ModelNotFound {
            detail: format!(
                " ({origin} is {}, which holds no modules.json)",
                dir.display()
            ),
        });
    }
    Ok(dir)
}

/// How token embeddings become one sentence vector (sentence-transformers' Pooling module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolingMode {
    /// The first token (`[CLS]`).
    Cls,
    /// Element-wise maximum over the attended tokens.
    Max,
    /// Mean over the attended tokens.
    Mean,
    /// Sum over the attended tokens divided by the square root of their count.
    MeanSqrtLen,
}

/// The activation of the feed-forward block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Exact GELU (`gelu` in transformers).
    Gelu,
    /// Tanh-approximated GELU (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// ReLU.
    Relu,
}

/// The parts of a BERT `config.json` the encoder uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward block.
    pub intermediate_size: usize,
    /// Activation name as written by transformers.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Number of learned positions.
    pub max_position_embeddings: usize,
    /// Number of token types (segments).
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Position embedding kind; only `absolute` is implemented.
    #[serde(default = "default_pos_kind")]
    pub position_embedding_type: String,
    /// `model_type`, e.g. `bert`.
    #[serde(default)]
    pub model_type: Option<String>,
    /// `architectures`, e.g. `["BertModel"]`.
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    /// Padding token id.
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_pos_kind() -> String {
    "absolute".into()
}

impl BertConfig {
    /// The feed-forward activation, if supported.
    pub fn activation(&self) -> Option<Activation> {
        match self.hidden_act.as_str() {
            "gelu" => Some(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "relu" => Some(Activation::Relu),
            _ => None,
        }
    }

    fn validate(&self, path: &Path) -> Result<Activation> {
        let unsupported = |message: String| SimilarityError::UnsupportedModel {
            path: path.to_path_buf(),
            message,
        };
        let is_bert_type = self.model_type.as_deref() == Some("bert");
        let is_bert_arch = self
            .architectures
            .as_ref()
            .is_some_and(|a| a.iter().any(|s| s.starts_with("Bert")));
        if !(is_bert_type || is_bert_arch) {
            return Err(unsupported(format!(
                "model_type {:?}, architectures {:?}: only the BERT family (BertModel) is implemented",
                self.model_type, self.architectures
            )));
        }
        if self.position_embedding_type != "absolute" {
            return Err(unsupported(format!(
                "position_embedding_type {:?} (only \"absolute\")",
                self.position_embedding_type
            )));
        }
        if self.num_attention_heads == 0 || self.hidden_size % self.num_attention_heads != 0 {
            return Err(unsupported(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if self.hidden_size == 0 || self.num_hidden_layers == 0 || self.max_position_embeddings < 2
        {
            return Err(unsupported(
                "hidden_size, num_hidden_layers and max_position_embeddings must be positive"
                    .into(),
            ));
        }
        self.activation().ok_or_else(|| {
            unsupported(format!(
                "hidden_act {:?} (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)",
                self.hidden_act
            ))
        })
    }
}

/// Everything the encoder needs to know about a sentence-transformers folder.
#[derive(Debug, Clone)]
pub struct ModelFolder {
    /// The folder holding `modules.json`.
    pub root: PathBuf,
    /// The transformer module's folder (usually the root itself).
    pub transformer_dir: PathBuf,
    /// The transformer's configuration.
    pub config: BertConfig,
    /// The feed-forward activation.
    pub activation: Activation,
    /// Longest input in tokens (special tokens included); longer inputs are truncated.
    pub max_seq_length: usize,
    /// Lower-case texts before tokenizing (`do_lower_case` of `sentence_bert_config.json`).
    pub do_lower_case: bool,
    /// Pooling modes, concatenated in this order.
    pub pooling: Vec<PoolingMode>,
    /// Whether a Normalize module follows pooling (L2 normalisation).
    pub normalize: bool,
    /// The weights file.
    pub weights: PathBuf,
    /// The tokenizer file.
    pub tokenizer: PathBuf,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    module_type: String,
}

#[derive(Deserialize, Default)]
struct SentenceBertConfig {
    #[serde(default)]
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

#[derive(Deserialize, Default)]
struct TokenizerConfig {
    #[serde(default)]
    model_max_length: Option<f64>,
}

fn read_text(path: &Path, what: &str) -> Result<String> {
    if !path.is_file() {
        return Err(SimilarityError::MissingFile {
            path: path.to_path_buf(),
            what: what.into(),
        });
    }
    std::fs::read_to_string(path).map_err(|e| SimilarityError::io(path, e))
}

fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| SimilarityError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        message: format!("expected {what}: {e}"),
    })
}

fn require_file(path: PathBuf, what: &str) -> Result<PathBuf> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(SimilarityError::MissingFile {
            path,
            what: what.into(),
        })
    }
}

/// Parse a Pooling module's `config.json` (both the boolean `pooling_mode_*_tokens` keys and
/// the newer `pooling_mode` string or list).
fn parse_pooling(path: &Path, hidden: usize) -> Result<Vec<PoolingMode>> {
    let text = read_text(path, "pooling configuration (1_Pooling/config.json)")?;
    let value: serde_json::Value = parse_json(path, &text, "a JSON object")?;
    let unsupported = |message: String| SimilarityError::UnsupportedModel {
        path: path.to_path_buf(),
        message,
    };
    if let Some(dim) = value
        .get("word_embedding_dimension")
        .and_then(|v| v.as_u64())
    {
        if dim as usize != hidden {
            return Err(SimilarityError::DimensionMismatch {
                what: format!(
                    "{}: word_embedding_dimension against the transformer's hidden_size",
                    path.display()
                ),
                expected: hidden,
                found: dim as usize,
            });
        }
    }
    let by_name = |name: &str| -> Result<PoolingMode> {
        match name {
            "cls" | "cls_token" => Ok(PoolingMode::Cls),
            "max" | "max_tokens" => Ok(PoolingMode::Max),
            "mean" | "mean_tokens" => Ok(PoolingMode::Mean),
            "mean_sqrt_len_tokens" | "mean_sqrt_len" => Ok(PoolingMode::MeanSqrtLen),
            other => Err(unsupported(format!(
                "pooling mode {other:?} (supported: cls, max, mean, mean_sqrt_len_tokens)"
            ))),
        }
    };
    let mut modes = Vec::new();
    match value.get("pooling_mode") {
        Some(serde_json::Value::String(s)) => modes.push(by_name(s)?),
        Some(serde_json::Value::Array(a)) => {
            for v in a {
                let s = v.as_str().ok_or_else(|| SimilarityError::Parse {
                    path: path.to_path_buf(),
                    line: 0,
                    message: "pooling_mode: expected a list of strings".into(),
                })?;
                modes.push(by_name(s)?);
            }
        }
        Some(_) => {
            return Err(SimilarityError::Parse {
                path: path.to_path_buf(),
                line: 0,
                message: "pooling_mode: expected a string or a list of strings".into(),
            })
        }
        None => {
            // sentence-transformers concatenates in this order.
            let keys = [
                ("pooling_mode_cls_token", Some(PoolingMode::Cls)),
                ("pooling_mode_max_tokens", Some(PoolingMode::Max)),
                ("pooling_mode_mean_tokens", Some(PoolingMode::Mean)),
                (
                    "pooling_mode_mean_sqrt_len_tokens",
                    Some(PoolingMode::MeanSqrtLen),
                ),
                ("pooling_mode_weightedmean_tokens", None),
                ("pooling_mode_lasttoken", None),
            ];
            for (key, mode) in keys {
                if value.get(key).and_then(|v| v.as_bool()) == Some(true) {
                    match mode {
                        Some(m) => modes.push(m),
                        None => {
                            return Err(unsupported(format!(
                                "{key} (supported: cls, max, mean, mean_sqrt_len_tokens)"
                            )))
                        }
                    }
                }
            }
        }
    }
    if modes.is_empty() {
        return Err(unsupported("no pooling mode is enabled".into()));
    }
    Ok(modes)
}

fn module_kind(module_type: &str) -> &str {
    module_type.rsplit('.').next().unwrap_or(module_type)
}

impl ModelFolder {
    /// Read and check a sentence-transformers folder. The module list must be a `Transformer`
    /// (BERT family), then a `Pooling`, then optionally a `Normalize`; anything else is an
    /// [`SimilarityError::UnsupportedModule`].
    pub fn open(root: &Path) -> Result<Self> {
        let modules_path = root.join("modules.json");
        let text = read_text(&modules_path, "module list (modules.json)")?;
        let modules: Vec<ModuleEntry> = parse_json(
            &modules_path,
            &text,
            "a list of {\"path\", \"type\"} module entries",
        )?;
        let mut transformer: Option<PathBuf> = None;
        let mut pooling_dir: Option<PathBuf> = None;
        let mut normalize = false;
        for m in &modules {
            let kind = module_kind(&m.module_type);
            let out_of_order = |msg: &str| SimilarityError::UnsupportedModel {
                path: modules_path.clone(),
                message: format!("module {:?}: {msg}", m.module_type),
            };
            match kind {
                "Transformer" => {
                    if transformer.is_some() {
                        return Err(out_of_order("a second Transformer"));
                    }
                    transformer = Some(root.join(&m.path));
                }
                "Pooling" => {
                    if transformer.is_none() || pooling_dir.is_some() {
                        return Err(out_of_order("Pooling must follow exactly one Transformer"));
                    }
                    pooling_dir = Some(root.join(&m.path));
                }
                "Normalize" => {
                    if pooling_dir.is_none() {
                        return Err(out_of_order("Normalize must follow Pooling"));
                    }
                    normalize = true;
                }
                _ => {
                    return Err(SimilarityError::UnsupportedModule {
                        path: modules_path.clone(),
                        module_type: m.module_type.clone(),
                    })
                }
            }
        }
        let (Some(transformer_dir), Some(pooling_dir)) = (transformer, pooling_dir) else {
            return Err(SimilarityError::UnsupportedModel {
                path: modules_path,
                message: "expected a Transformer module followed by a Pooling module".into(),
            });
        };

        let config_path = transformer_dir.join("config.json");
        let text = read_text(&config_path, "transformer configuration (config.json)")?;
        let config: BertConfig = parse_json(&config_path, &text, "a BERT configuration")?;
        let activation = config.validate(&config_path)?;

        let sbert_path = transformer_dir.join("sentence_bert_config.json");
        let sbert: SentenceBertConfig = if sbert_path.is_file() {
            let text = read_text(&sbert_path, "sentence_bert_config.json")?;
            parse_json(&sbert_path, &text, "a sentence-transformers configuration")?
        } else {
            SentenceBertConfig::default()
        };
        let tok_cfg_path = transformer_dir.join("tokenizer_config.json");
        let tok_cfg: TokenizerConfig = if tok_cfg_path.is_file() {
            let text = read_text(&tok_cfg_path, "tokenizer_config.json")?;
            parse_json(&tok_cfg_path, &text, "a tokenizer configuration")?
        } else {
            TokenizerConfig::default()
        };
        let model_max = tok_cfg
            .model_max_length
            .filter(|v| v.is_finite() && *v >= 2.0 && *v < 1e9)
            .map(|v| v as usize);
        let max_seq_length = sbert
            .max_seq_length
            .or(model_max)
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);
        if max_seq_length < 2 {
            return Err(SimilarityError::UnsupportedModel {
                path: sbert_path,
                message: format!("max_seq_length {max_seq_length} leaves no room for text"),
            });
        }

        let pooling = parse_pooling(&pooling_dir.join("config.json"), config.hidden_size)?;
        let weights = require_file(
            transformer_dir.join("model.safetensors"),
            "weights (model.safetensors)",
        )?;
        let tokenizer = require_file(
            transformer_dir.join("tokenizer.json"),
            "tokenizer (tokenizer.json)",
        )?;
        Ok(ModelFolder {
            root: root.to_path_buf(),
            transformer_dir,
            config,
            activation,
            max_seq_length,
            do_lower_case: sbert.do_lower_case,
            pooling,
            normalize,
            weights,
            tokenizer,
        })
    }

    /// Width of the sentence vectors (hidden size times the number of pooling modes).
    pub fn embedding_dim(&self) -> usize {
        self.config.hidden_size * self.pooling.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minilm() -> PathBuf {
        locate_model_dir(None).expect("run scripts/odyssey.sh setup")
    }

    /// Copy the small files of the real model folder so a test can break one of them.
    fn copy_small_files(dst: &Path) {
        let src = minilm();
        for f in [
            "modules.json",
            "config.json",
            "sentence_bert_config.json",
            "tokenizer_config.json",
            "tokenizer.json",
        ] {
            std::fs::copy(src.join(f), dst.join(f)).unwrap();
        }
        std::fs::create_dir_all(dst.join("1_Pooling")).unwrap();
        std::fs::copy(
            src.join("1_Pooling/config.json"),
            dst.join("1_Pooling/config.json"),
        )
        .unwrap();
        std::fs::write(dst.join("model.safetensors"), b"").unwrap();
    }

    #[test]
    fn reads_the_real_minilm_folder() {
        let f = ModelFolder::open(&minilm()).unwrap();
        assert_eq!(f.config.hidden_size, 384);
        assert_eq!(f.config.num_hidden_layers, 6);
        assert_eq!(f.activation, Activation::Gelu);
        assert_eq!(f.max_seq_length, 256);
        assert_eq!(f.pooling, vec![PoolingMode::Mean]);
        assert!(f.normalize);
        assert_eq!(f.embedding_dim(), 384);
    }

    #[test]
    fn explicit_path_without_modules_is_model_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let e = locate_model_dir(Some(dir.path())).unwrap_err();
        assert!(matches!(e, SimilarityError::ModelNotFound { .. }));
        assert!(e.to_string().contains("scripts/odyssey.sh setup"), "{e}");
    }

    #[test]
    fn unsupported_module_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        copy_small_files(dir.path());
        let modules = r#"[
 {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
 {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
 {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
]"#;
        std::fs::write(dir.path().join("modules.json"), modules).unwrap();
        match ModelFolder::open(dir.path()).unwrap_err() {
            SimilarityError::UnsupportedModule { module_type, .. } => {
                assert_eq!(module_type, "sentence_transformers.models.Dense")
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn missing_pooling_config_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        copy_small_files(dir.path());
        std::fs::remove_file(dir.path().join("1_Pooling/config.json")).unwrap();
        match ModelFolder::open(dir.path()).unwrap_err() {
            SimilarityError::MissingFile { path, .. } => {
                assert!(path.ends_with("1_Pooling/config.json"))
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn missing_weights_and_bad_json_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        copy_small_files(dir.path());
        std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
        assert!(matches!(
            ModelFolder::open(dir.path()).unwrap_err(),
            SimilarityError::MissingFile { .. }
        ));
        std::fs::write(dir.path().join("model.safetensors"), b"").unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            "{\n \"hidden_size\": 384,\n oops\n}",
        )
        .unwrap();
        match ModelFolder::open(dir.path()).unwrap_err() {
            SimilarityError::Parse { line, .. } => assert_eq!(line, 3),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn non_bert_architecture_and_pooling_modes_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        copy_small_files(dir.path());
        let cfg = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            cfg.replace("\"bert\"", "\"t5\"")
                .replace("BertModel", "T5Model"),
        )
        .unwrap();
        assert!(matches!(
            ModelFolder::open(dir.path()).unwrap_err(),
            SimilarityError::UnsupportedModel { .. }
        ));
        std::fs::write(dir.path().join("config.json"), cfg).unwrap();
        std::fs::write(
            dir.path().join("1_Pooling/config.json"),
            r#"{"word_embedding_dimension": 384, "pooling_mode": ["cls", "max"]}"#,
        )
        .unwrap();
        let f = ModelFolder::open(dir.path()).unwrap();
        assert_eq!(f.pooling, vec![PoolingMode::Cls, PoolingMode::Max]);
        assert_eq!(f.embedding_dim(), 768);
        std::fs::write(
            dir.path().join("1_Pooling/config.json"),
            r#"{"word_embedding_dimension": 384, "pooling_mode_lasttoken": true}"#,
        )
        .unwrap();
        assert!(matches!(
            ModelFolder::open(dir.path()).unwrap_err(),
            SimilarityError::UnsupportedModel { .. }
        ));
    }
}
