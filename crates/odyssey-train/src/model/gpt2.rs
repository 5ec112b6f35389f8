//! GPT-2 (HF `GPT2LMHeadModel`), with variable names equal to HF's state-dict names.

use super::layers::{dropout, Activation, Dense, LayerNorm};
use super::LmNet;
use crate::config::ModelConfig;
use crate::error::{ModelError, ModelResult};
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

/// GPT-2 hyper-parameters, read from and written to HF `config.json` (same field names and
/// defaults as `transformers.GPT2Config`). Fields this crate does not use are kept in `extra`
/// and written back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpt2Config {
    /// Number of token ids (rows of `wte`).
    #[serde(default = "d_vocab")]
    pub vocab_size: usize,
    /// Context length (rows of `wpe`).
    #[serde(default = "d_n_positions")]
    pub n_positions: usize,
    /// Hidden size.
    #[serde(default = "d_n_embd")]
    pub n_embd: usize,
    /// Number of transformer blocks.
    #[serde(default = "d_n_layer")]
    pub n_layer: usize,
    /// Attention heads per block.
    #[serde(default = "d_n_head")]
    pub n_head: usize,
    /// MLP inner size; `None` means `4 * n_embd`.
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// MLP activation (`gelu_new` for GPT-2).
    #[serde(default = "d_act")]
    pub activation_function: String,
    /// Dropout after each residual branch.
    #[serde(default = "d_drop")]
    pub resid_pdrop: f64,
    /// Dropout after the embeddings.
    #[serde(default = "d_drop")]
    pub embd_pdrop: f64,
    /// Dropout on attention probabilities.
    #[serde(default = "d_drop")]
    pub attn_pdrop: f64,
    /// LayerNorm epsilon.
    #[serde(default = "d_eps")]
    pub layer_norm_epsilon: f64,
    /// Standard deviation of the normal initialisation.
    #[serde(default = "d_init")]
    pub initializer_range: f64,
    /// Scale attention scores by `1/sqrt(head_dim)`.
    #[serde(default = "d_true")]
    pub scale_attn_weights: bool,
    /// Also scale attention scores by `1/(layer_index + 1)`.
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    /// Share the output projection with `wte` (HF default `true`).
    #[serde(default = "d_true")]
    pub tie_word_embeddings: bool,
    /// Every other field of config.json, written back as read.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn d_vocab() -> usize {
    50257
}
fn d_n_positions() -> usize {
    1024
}
fn d_n_embd() -> usize {
    768
}
fn d_n_layer() -> usize {
    12
}
fn d_n_head() -> usize {
    12
}
fn d_act() -> String {
    "gelu_new".into()
}
fn d_drop() -> f64 {
    0.1
}
fn d_eps() -> f64 {
    1e-5
}
fn d_init() -> f64 {
    0.02
}
fn d_true() -> bool {
    true
}

impl Default for Gpt2Config {
    /// The 124M GPT-2 of HF's `GPT2Config()`.
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).unwrap_or_else(|_| unreachable!())
    }
}

impl Gpt2Config {
    /// A small config without dropout: `vocab_size`, `n_positions`, `n_embd`, `n_layer`,
    /// `n_head` as given, everything else HF's default.
    pub fn small(
        vocab_size: usize,
        n_positions: usize,
        n_embd: usize,
        n_layer: usize,
        n_head: usize,
    ) -> Self {
        Gpt2Config {
            vocab_size,
            n_positions,
            n_embd,
            n_layer,
            n_head,
            resid_pdrop: 0.0,
            embd_pdrop: 0.0,
            attn_pdrop: 0.0,
            ..Gpt2Config::default()
        }
    }

    /// MLP inner size.
    pub fn inner_dim(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }

    /// Check the values are usable; the error names the field.
    pub fn validate(&self) -> ModelResult<()> {
        for (field, v) in [
            ("vocab_size", self.vocab_size),
            ("n_positions", self.n_positions),
            ("n_embd", self.n_embd),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
        ] {
            if v == 0 {
                return Err(ModelError::config(field, "must be at least 1"));
            }
        }
        if self.n_embd % self.n_head != 0 {
            return Err(ModelError::config(
                "n_head",
                format!(
                    "n_embd {} is not divisible by n_head {}",
                    self.n_embd, self.n_head
                ),
            ));
        }
        if Activation::from_hf(&self.activation_function).is_none() {
            return Err(ModelError::config(
                "activation_function",
                format!(
                    "`{}` is not supported (gelu_new, gelu_pytorch_tanh, gelu, relu, silu)",
                    self.activation_function
                ),
            ));
        }
        for (field, v) in [
            ("resid_pdrop", self.resid_pdrop),
            ("embd_pdrop", self.embd_pdrop),
            ("attn_pdrop", self.attn_pdrop),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(ModelError::config(field, format!("{v} is not in [0, 1)")));
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Block {
    ln_1: LayerNorm,
    c_attn: Dense,
    attn_proj: Dense,
    ln_2: LayerNorm,
    c_fc: Dense,
    mlp_proj: Dense,
    n_head: i64,
    scale: f64,
}

/// The GPT-2 network (`GPT2LMHeadModel`). Build it on a [`nn::Path`] (normally a VarStore's
/// root): its variables are named exactly like HF's state dict (`transformer.wte.weight`,
/// `transformer.h.0.attn.c_attn.weight` in Conv1D `[in, out]` layout, ...), and `lm_head.weight`
/// exists only when embeddings are untied.
#[derive(Debug)]
pub struct Gpt2 {
    cfg: Gpt2Config,
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Option<Tensor>,
    act: Activation,
}

impl Gpt2 {
    /// Create the variables under `vs_path` with HF's initialisation: `N(0, initializer_range)`
    /// for embeddings and projections, `c_proj` weights scaled by `1/sqrt(2 * n_layer)`, zero
    /// biases, unit LayerNorm weights.
    ///
    /// The config should be checked with [`Gpt2Config::validate`] first (the loaders do);
    /// an invalid activation name falls back to `gelu_new`.
    pub fn new(vs_path: nn::Path, cfg: &Gpt2Config) -> Gpt2 {
        let std = cfg.initializer_range;
        let proj_std = std / (2.0 * cfg.n_layer as f64).sqrt();
        let e = cfg.n_embd as i64;
        let inner = cfg.inner_dim() as i64;
        let t = &vs_path / "transformer";
        let wte = (&t / "wte").var(
            "weight",
            &[cfg.vocab_size as i64, e],
            nn::Init::Randn {
                mean: 0.0,
                stdev: std,
            },
        );
        let wpe = (&t / "wpe").var(
            "weight",
            &[cfg.n_positions as i64, e],
            nn::Init::Randn {
                mean: 0.0,
                stdev: std,
            },
        );
        let head_dim = (cfg.n_embd / cfg.n_head.max(1)) as f64;
        let blocks = (0..cfg.n_layer)
            .map(|i| {
                let h = &t / "h" / i;
                let mut scale = if cfg.scale_attn_weights {
                    1.0 / head_dim.sqrt()
                } else {
                    1.0
                };
                if cfg.scale_attn_by_inverse_layer_idx {
                    scale /= (i + 1) as f64;
                }
                Block {
                    ln_1: LayerNorm::new(&h / "ln_1", e, cfg.layer_norm_epsilon),
                    c_attn: Dense::conv1d(&h / "attn" / "c_attn", e, 3 * e, std),
                    attn_proj: Dense::conv1d(&h / "attn" / "c_proj", e, e, proj_std),
                    ln_2: LayerNorm::new(&h / "ln_2", e, cfg.layer_norm_epsilon),
                    c_fc: Dense::conv1d(&h / "mlp" / "c_fc", e, inner, std),
                    mlp_proj: Dense::conv1d(&h / "mlp" / "c_proj", inner, e, proj_std),
                    n_head: cfg.n_head as i64,
                    scale,
                }
            })
            .collect();
        let ln_f = LayerNorm::new(&t / "ln_f", e, cfg.layer_norm_epsilon);
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
        Gpt2 {
            cfg: cfg.clone(),
            wte,
            wpe,
            blocks,
            ln_f,
            lm_head,
            act: Activation::from_hf(&cfg.activation_function).unwrap_or(Activation::GeluTanh),
        }
    }

    /// The config this network was built from.
    pub fn config(&self) -> &Gpt2Config {
        &self.cfg
    }

    /// Logits `[batch, seq, vocab]` in fp32; `train` enables dropout.
    pub fn forward_t(&self, input_ids: &Tensor, train: bool) -> Tensor {
        let h = self.hidden(input_ids, train, Kind::Float);
        self.logits(&h, Kind::Float)
    }

    /// Final hidden states `[batch, seq, n_embd]` (after `ln_f`) in fp32.
    pub fn hidden_states(&self, input_ids: &Tensor) -> Tensor {
        self.hidden(input_ids, false, Kind::Float)
    }

    fn block(&self, b: &Block, x: &Tensor, train: bool, kind: Kind) -> Tensor {
        let (bsz, seq, e) = x.size3().unwrap_or((1, 1, 1));
        let hd = e / b.n_head;
        let qkv = b.c_attn.forward(&b.ln_1.forward(x), kind);
        let heads = |t: &Tensor| t.view([bsz, seq, b.n_head, hd]).transpose(1, 2);
        let parts = qkv.split(e, -1);
        let (q, k, v) = (heads(&parts[0]), heads(&parts[1]), heads(&parts[2]));
        let p = if train { self.cfg.attn_pdrop } else { 0.0 };
        let y = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            None::<Tensor>,
            p,
            true,
            Some(b.scale),
            false,
        );
        let y = y.transpose(1, 2).reshape([bsz, seq, e]);
        let y = dropout(b.attn_proj.forward(&y, kind), self.cfg.resid_pdrop, train);
        let x = x + y;
        let m = self.act.apply(&b.c_fc.forward(&b.ln_2.forward(&x), kind));
        let m = dropout(b.mlp_proj.forward(&m, kind), self.cfg.resid_pdrop, train);
        x + m
    }
}

impl LmNet for Gpt2 {
    fn hidden(&self, input_ids: &Tensor, train: bool, kind: Kind) -> Tensor {
        let seq = input_ids.size().last().copied().unwrap_or(0);
        let pos = Tensor::arange(seq, (Kind::Int64, input_ids.device()));
        let x = Tensor::embedding(&self.wte, input_ids, -1, false, false)
            + Tensor::embedding(&self.wpe, &pos, -1, false, false);
        let mut x = dropout(x, self.cfg.embd_pdrop, train);
        for b in &self.blocks {
            x = self.block(b, &x, train, kind);
        }
        self.ln_f.forward(&x)
    }

    fn logits(&self, hidden: &Tensor, kind: Kind) -> Tensor {
        let w = self.lm_head.as_ref().unwrap_or(&self.wte);
        let h = super::layers::cast(hidden, kind);
        let w = super::layers::cast(w, kind);
        super::layers::cast(&h.linear(&w, None::<Tensor>), Kind::Float)
    }

    fn vocab_size(&self) -> usize {
        self.cfg.vocab_size
    }

    fn max_positions(&self) -> usize {
        self.cfg.n_positions
    }

    fn model_config(&self) -> ModelConfig {
        ModelConfig::Gpt2(self.cfg.clone())
    }

    fn hidden_size(&self) -> usize {
        self.cfg.n_embd
    }
}
