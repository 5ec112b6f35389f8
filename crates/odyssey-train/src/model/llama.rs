//! The LLaMA family (HF `LlamaForCausalLM`, `Qwen2ForCausalLM`, `Olmo2ForCausalLM`): RMSNorm,
//! rotary position embeddings, SwiGLU MLP, grouped-query attention. Variable names equal HF's
//! state-dict names (`model.layers.0.self_attn.q_proj.weight`, ...).

use super::layers::{cast, Activation, Dense, RmsNorm, Rotary};
use super::LmNet;
use crate::config::ModelConfig;
use crate::error::{ModelError, ModelResult};
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

/// Which member of the family a [`LlamaConfig`] describes; it decides the block layout and
/// the `model_type` written to config.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LlamaVariant {
    /// Llama, SmolLM, Mistral-free Llama-style models: pre-norm blocks, optional biases.
    #[default]
    Llama,
    /// Qwen2: like Llama, with biases on the q, k, v projections.
    Qwen2,
    /// OLMo-2: norms after attention and MLP (no pre-norm), RMSNorm on q and k.
    Olmo2,
}

impl LlamaVariant {
    /// HF `model_type`.
    pub fn model_type(self) -> &'static str {
        match self {
            LlamaVariant::Llama => "llama",
            LlamaVariant::Qwen2 => "qwen2",
            LlamaVariant::Olmo2 => "olmo2",
        }
    }

    /// HF `architectures[0]`.
    pub fn architecture(self) -> &'static str {
        match self {
            LlamaVariant::Llama => "LlamaForCausalLM",
            LlamaVariant::Qwen2 => "Qwen2ForCausalLM",
            LlamaVariant::Olmo2 => "Olmo2ForCausalLM",
        }
    }
}

/// Hyper-parameters of a LLaMA-family model, with HF config.json field names and Llama's
/// defaults. Fields this crate does not use are kept in `extra` and written back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Family member (not a config.json field: it comes from `model_type`).
    #[serde(skip)]
    pub variant: LlamaVariant,
    /// Number of token ids.
    #[serde(default = "d_vocab")]
    pub vocab_size: usize,
    /// Hidden size.
    #[serde(default = "d_hidden")]
    pub hidden_size: usize,
    /// MLP inner size.
    #[serde(default = "d_inter")]
    pub intermediate_size: usize,
    /// Number of decoder layers.
    #[serde(default = "d_layers")]
    pub num_hidden_layers: usize,
    /// Query heads.
    #[serde(default = "d_heads")]
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention); `None` means `num_attention_heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<usize>,
    /// Per-head size; `None` means `hidden_size / num_attention_heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    /// MLP activation (`silu`).
    #[serde(default = "d_act")]
    pub hidden_act: String,
    /// Context length.
    #[serde(default = "d_maxpos")]
    pub max_position_embeddings: usize,
    /// Standard deviation of the normal initialisation.
    #[serde(default = "d_init")]
    pub initializer_range: f64,
    /// RMSNorm epsilon.
    #[serde(default = "d_eps")]
    pub rms_norm_eps: f64,
    /// Share the output projection with the input embedding.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// RoPE base.
    #[serde(default = "d_theta")]
    pub rope_theta: f64,
    /// RoPE scaling (`null`, `{"rope_type": "default"}` or `{"rope_type": "linear", "factor": f}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<serde_json::Value>,
    /// Biases on q, k, v and o projections (Llama, OLMo-2). Qwen2 always has q, k, v biases.
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on the MLP projections.
    #[serde(default)]
    pub mlp_bias: bool,
    /// Dropout on attention probabilities.
    #[serde(default)]
    pub attention_dropout: f64,
    /// Every other field of config.json, written back as read.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn d_vocab() -> usize {
    32000
}
fn d_hidden() -> usize {
    4096
}
fn d_inter() -> usize {
    11008
}
fn d_layers() -> usize {
    32
}
fn d_heads() -> usize {
    32
}
fn d_act() -> String {
    "silu".into()
}
fn d_maxpos() -> usize {
    2048
}
fn d_init() -> f64 {
    0.02
}
fn d_eps() -> f64 {
    1e-6
}
fn d_theta() -> f64 {
    10000.0
}

impl LlamaConfig {
    /// A small config of `variant`: sizes as given, `head_dim = hidden / heads`, rope base
    /// 10000, untied embeddings, everything else HF Llama's default.
    #[allow(clippy::too_many_arguments)]
    pub fn small(
        variant: LlamaVariant,
        vocab_size: usize,
        max_position_embeddings: usize,
        hidden_size: usize,
        intermediate_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        num_key_value_heads: usize,
    ) -> Self {
        LlamaConfig {
            variant,
            vocab_size,
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads: Some(num_key_value_heads),
            head_dim: None,
            hidden_act: d_act(),
            max_position_embeddings,
            initializer_range: d_init(),
            rms_norm_eps: d_eps(),
            tie_word_embeddings: false,
            rope_theta: d_theta(),
            rope_scaling: None,
            attention_bias: false,
            mlp_bias: false,
            attention_dropout: 0.0,
            extra: serde_json::Map::new(),
        }
    }

    /// Key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Per-head size.
    pub fn head_size(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Positions are divided by this before the rotary angles are taken (`linear` scaling).
    pub fn rope_position_scale(&self) -> ModelResult<f64> {
        let Some(s) = self.rope_scaling.as_ref().filter(|s| !s.is_null()) else {
            return Ok(1.0);
        };
        let kind = s
            .get("rope_type")
            .or_else(|| s.get("type"))
            .and_then(|v| v.as_str())
            .unwrap_or("default");
        match kind {
            "default" => Ok(1.0),
            "linear" => match s.get("factor").and_then(|f| f.as_f64()) {
                Some(f) if f > 0.0 => Ok(f),
                _ => Err(ModelError::config(
                    "rope_scaling.factor",
                    "linear rope scaling needs a positive `factor`",
                )),
            },
            other => Err(ModelError::config(
                "rope_scaling",
                format!("rope type `{other}` is not supported (default, linear)"),
            )),
        }
    }

    /// Check the values are usable; the error names the field.
    pub fn validate(&self) -> ModelResult<()> {
        for (field, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.kv_heads()),
            ("max_position_embeddings", self.max_position_embeddings),
            ("head_dim", self.head_size()),
        ] {
            if v == 0 {
                return Err(ModelError::config(field, "must be at least 1"));
            }
        }
        if self.head_dim.is_none() && self.hidden_size % self.num_attention_heads != 0 {
            return Err(ModelError::config(
                "num_attention_heads",
                format!(
                    "hidden_size {} is not divisible by num_attention_heads {}",
                    self.hidden_size, self.num_attention_heads
                ),
            ));
        }
        if self.num_attention_heads % self.kv_heads() != 0 {
            return Err(ModelError::config(
                "num_key_value_heads",
                format!(
                    "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                    self.num_attention_heads,
                    self.kv_heads()
                ),
            ));
        }
        if self.head_size() % 2 != 0 {
            return Err(ModelError::config(
                "head_dim",
                "rotary embeddings need an even head size",
            ));
        }
        if Activation::from_hf(&self.hidden_act).is_none() {
            return Err(ModelError::config(
                "hidden_act",
                format!("`{}` is not supported (silu, gelu, relu)", self.hidden_act),
            ));
        }
        if self.rope_theta.is_nan() || self.rope_theta <= 0.0 {
            return Err(ModelError::config("rope_theta", "must be positive"));
        }
        if !(0.0..1.0).contains(&self.attention_dropout) {
            return Err(ModelError::config("attention_dropout", "must be in [0, 1)"));
        }
        self.rope_position_scale()?;
        Ok(())
    }
}

#[derive(Debug)]
struct Layer {
    input_layernorm: Option<RmsNorm>,
    q_proj: Dense,
    k_proj: Dense,
    v_proj: Dense,
    o_proj: Dense,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    post_attention_layernorm: RmsNorm,
    post_feedforward_layernorm: Option<RmsNorm>,
    gate_proj: Dense,
    up_proj: Dense,
    down_proj: Dense,
}

/// A LLaMA-family network built on a [`nn::Path`] with HF variable names.
#[derive(Debug)]
pub struct Llama {
    cfg: LlamaConfig,
    embed_tokens: Tensor,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Option<Tensor>,
    rotary: Rotary,
    act: Activation,
}

impl Llama {
    /// Create the variables under `vs_path` with HF's initialisation (`N(0, initializer_range)`
    /// for embeddings and projections, zero biases, unit norm weights).
    ///
    /// Check the config with [`LlamaConfig::validate`] first (the loaders do).
    pub fn new(vs_path: nn::Path, cfg: &LlamaConfig) -> Llama {
        let std = cfg.initializer_range;
        let e = cfg.hidden_size as i64;
        let hd = cfg.head_size() as i64;
        let nh = cfg.num_attention_heads as i64;
        let nkv = cfg.kv_heads() as i64;
        let inter = cfg.intermediate_size as i64;
        let eps = cfg.rms_norm_eps;
        let olmo2 = cfg.variant == LlamaVariant::Olmo2;
        let qkv_bias = cfg.attention_bias || cfg.variant == LlamaVariant::Qwen2;
        let o_bias = cfg.attention_bias;
        let m = &vs_path / "model";
        let embed_tokens = (&m / "embed_tokens").var(
            "weight",
            &[cfg.vocab_size as i64, e],
            nn::Init::Randn {
                mean: 0.0,
                stdev: std,
            },
        );
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = &m / "layers" / i;
                let a = &l / "self_attn";
                let mlp = &l / "mlp";
                Layer {
                    input_layernorm: (!olmo2).then(|| RmsNorm::new(&l / "input_layernorm", e, eps)),
                    q_proj: Dense::linear(&a / "q_proj", e, nh * hd, qkv_bias, std),
                    k_proj: Dense::linear(&a / "k_proj", e, nkv * hd, qkv_bias, std),
                    v_proj: Dense::linear(&a / "v_proj", e, nkv * hd, qkv_bias, std),
                    o_proj: Dense::linear(&a / "o_proj", nh * hd, e, o_bias, std),
                    q_norm: olmo2.then(|| RmsNorm::new(&a / "q_norm", nh * hd, eps)),
                    k_norm: olmo2.then(|| RmsNorm::new(&a / "k_norm", nkv * hd, eps)),
                    post_attention_layernorm: RmsNorm::new(&l / "post_attention_layernorm", e, eps),
                    post_feedforward_layernorm: olmo2
                        .then(|| RmsNorm::new(&l / "post_feedforward_layernorm", e, eps)),
                    gate_proj: Dense::linear(&mlp / "gate_proj", e, inter, cfg.mlp_bias, std),
                    up_proj: Dense::linear(&mlp / "up_proj", e, inter, cfg.mlp_bias, std),
                    down_proj: Dense::linear(&mlp / "down_proj", inter, e, cfg.mlp_bias, std),
                }
            })
            .collect();
        let norm = RmsNorm::new(&m / "norm", e, eps);
        let lm_head = (!cfg.tie_word_embeddings).then(|| {
            (&vs_path / "lm_head").var(
                "weight",
                &[cfg.vocab_size as i64, e],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: std,
                },
            )
        });
        let rotary = Rotary::new(
            hd,
            cfg.max_position_embeddings as i64,
            cfg.rope_theta,
            cfg.rope_position_scale().unwrap_or(1.0),
            vs_path.device(),
        );
        Llama {
            cfg: cfg.clone(),
            embed_tokens,
            layers,
            norm,
            lm_head,
            rotary,
            act: Activation::from_hf(&cfg.hidden_act).unwrap_or(Activation::Silu),
        }
    }

    /// The config this network was built from.
    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    fn attention(&self, l: &Layer, h: &Tensor, train: bool, kind: Kind) -> Tensor {
        let (b, t, _) = h.size3().unwrap_or((1, 1, 1));
        let hd = self.cfg.head_size() as i64;
        let nh = self.cfg.num_attention_heads as i64;
        let nkv = self.cfg.kv_heads() as i64;
        let mut q = l.q_proj.forward(h, kind);
        let mut k = l.k_proj.forward(h, kind);
        let v = l.v_proj.forward(h, kind);
        if let (Some(qn), Some(kn)) = (&l.q_norm, &l.k_norm) {
            q = qn.forward(&q);
            k = kn.forward(&k);
        }
        let q = self.rotary.apply(&q.view([b, t, nh, hd]).transpose(1, 2));
        let k = self.rotary.apply(&k.view([b, t, nkv, hd]).transpose(1, 2));
        let v = v.view([b, t, nkv, hd]).transpose(1, 2);
        let p = if train {
            self.cfg.attention_dropout
        } else {
            0.0
        };
        let y = Tensor::scaled_dot_product_attention(
            &cast(&q, kind),
            &cast(&k, kind),
            &cast(&v, kind),
            None::<Tensor>,
            p,
            true,
            Some(1.0 / (hd as f64).sqrt()),
            nkv != nh,
        );
        let y = y.transpose(1, 2).reshape([b, t, nh * hd]);
        l.o_proj.forward(&y, kind)
    }

    fn mlp(&self, l: &Layer, h: &Tensor, kind: Kind) -> Tensor {
        let g = self.act.apply(&l.gate_proj.forward(h, kind));
        l.down_proj.forward(&(g * l.up_proj.forward(h, kind)), kind)
    }
}

impl LmNet for Llama {
    fn hidden(&self, input_ids: &Tensor, train: bool, kind: Kind) -> Tensor {
        let mut x = Tensor::embedding(&self.embed_tokens, input_ids, -1, false, false);
        for l in &self.layers {
            match (&l.input_layernorm, &l.post_feedforward_layernorm) {
                (Some(pre), _) => {
                    let a = self.attention(l, &pre.forward(&x), train, kind);
                    x = &x + a;
                    let m = self.mlp(l, &l.post_attention_layernorm.forward(&x), kind);
                    x = &x + m;
                }
                (None, post_ff) => {
                    let a = self.attention(l, &x, train, kind);
                    x = &x + l.post_attention_layernorm.forward(&a);
                    let m = self.mlp(l, &x, kind);
                    x = match post_ff {
                        Some(n) => &x + n.forward(&m),
                        None => &x + m,
                    };
                }
            }
        }
        self.norm.forward(&x)
    }

    fn logits(&self, hidden: &Tensor, kind: Kind) -> Tensor {
        let w = self.lm_head.as_ref().unwrap_or(&self.embed_tokens);
        cast(
            &cast(hidden, kind).linear(&cast(w, kind), None::<Tensor>),
            Kind::Float,
        )
    }

    fn vocab_size(&self) -> usize {
        self.cfg.vocab_size
    }

    fn max_positions(&self) -> usize {
        self.cfg.max_position_embeddings
    }

    fn model_config(&self) -> ModelConfig {
        ModelConfig::Llama(self.cfg.clone())
    }

    fn hidden_size(&self) -> usize {
        self.cfg.hidden_size
    }

    fn to_device(&mut self, device: tch::Device) {
        self.rotary.move_to(device);
    }
}
