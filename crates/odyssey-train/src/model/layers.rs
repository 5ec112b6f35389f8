//! Building blocks shared by the architectures: projections in a chosen compute precision,
//! norms, activations and rotary position embeddings.

use tch::{nn, Kind, Tensor};

/// Cast `t` to `kind` unless it already is (no copy in the common fp32 case).
pub(crate) fn cast(t: &Tensor, kind: Kind) -> Tensor {
    if t.kind() == kind {
        t.shallow_clone()
    } else {
        t.to_kind(kind)
    }
}

/// A dense projection stored either as HF `nn.Linear` (`weight` is `[out, in]`) or as GPT-2's
/// `Conv1D` (`weight` is `[in, out]`), so that variable names and layouts match HF state dicts.
#[derive(Debug)]
pub(crate) struct Dense {
    weight: Tensor,
    bias: Option<Tensor>,
    conv1d: bool,
}

impl Dense {
    /// An `nn.Linear(in_dim, out_dim)` with weights `N(0, std)` and zero bias.
    pub(crate) fn linear(p: nn::Path, in_dim: i64, out_dim: i64, bias: bool, std: f64) -> Self {
        let weight = p.var(
            "weight",
            &[out_dim, in_dim],
            nn::Init::Randn {
                mean: 0.0,
                stdev: std,
            },
        );
        let bias = bias.then(|| p.var("bias", &[out_dim], nn::Init::Const(0.0)));
        Dense {
            weight,
            bias,
            conv1d: false,
        }
    }

    /// A GPT-2 `Conv1D(out_dim, in_dim)`: weight `[in, out]` `N(0, std)`, zero bias.
    pub(crate) fn conv1d(p: nn::Path, in_dim: i64, out_dim: i64, std: f64) -> Self {
        let weight = p.var(
            "weight",
            &[in_dim, out_dim],
            nn::Init::Randn {
                mean: 0.0,
                stdev: std,
            },
        );
        let bias = Some(p.var("bias", &[out_dim], nn::Init::Const(0.0)));
        Dense {
            weight,
            bias,
            conv1d: true,
        }
    }

    /// `x @ W (+ b)` over the last dimension, computed in `kind`.
    pub(crate) fn forward(&self, x: &Tensor, kind: Kind) -> Tensor {
        let x = cast(x, kind);
        let w = cast(&self.weight, kind);
        let b = self.bias.as_ref().map(|b| cast(b, kind));
        if self.conv1d {
            let mut size = x.size();
            let in_dim = size.pop().unwrap_or(1);
            let out_dim = w.size()[1];
            let x2 = x.reshape([-1, in_dim]);
            let y = match &b {
                Some(b) => b.addmm(&x2, &w),
                None => x2.mm(&w),
            };
            size.push(out_dim);
            y.view(size.as_slice())
        } else {
            x.linear(&w, b.as_ref())
        }
    }
}

/// `nn.LayerNorm` with HF names `weight` and `bias` (ones and zeros at initialisation).
#[derive(Debug)]
pub(crate) struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
    dim: i64,
}

impl LayerNorm {
    pub(crate) fn new(p: nn::Path, dim: i64, eps: f64) -> Self {
        LayerNorm {
            weight: p.var("weight", &[dim], nn::Init::Const(1.0)),
            bias: p.var("bias", &[dim], nn::Init::Const(0.0)),
            eps,
            dim,
        }
    }

    /// Normalise in fp32 (the residual stream's precision).
    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm(
            [self.dim],
            Some(&self.weight),
            Some(&self.bias),
            self.eps,
            true,
        )
    }
}

/// RMSNorm as in HF Llama: `w * x / sqrt(mean(x²) + eps)`, computed in fp32.
#[derive(Debug)]
pub(crate) struct RmsNorm {
    weight: Tensor,
    eps: f64,
    dim: i64,
}

impl RmsNorm {
    pub(crate) fn new(p: nn::Path, dim: i64, eps: f64) -> Self {
        RmsNorm {
            weight: p.var("weight", &[dim], nn::Init::Const(1.0)),
            eps,
            dim,
        }
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        let x = cast(x, Kind::Float);
        x.rms_norm([self.dim], Some(&self.weight), self.eps)
    }
}

/// Activation functions named by HF's `activation_function` / `hidden_act`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`: tanh approximation.
    GeluTanh,
    /// `gelu`: exact erf form.
    Gelu,
    /// `relu`.
    Relu,
    /// `silu` / `swish`.
    Silu,
}

impl Activation {
    /// Parse an HF activation name; `None` when unknown.
    pub(crate) fn from_hf(name: &str) -> Option<Self> {
        Some(match name {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "gelu" => Activation::Gelu,
            "relu" => Activation::Relu,
            "silu" | "swish" => Activation::Silu,
            _ => return None,
        })
    }

    pub(crate) fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::GeluTanh => x.gelu("tanh"),
            Activation::Gelu => x.gelu("none"),
            Activation::Relu => x.relu(),
            Activation::Silu => x.silu(),
        }
    }
}

/// Dropout that is a no-op outside training or at rate 0.
pub(crate) fn dropout(x: Tensor, p: f64, train: bool) -> Tensor {
    if train && p > 0.0 {
        x.dropout(p, true)
    } else {
        x
    }
}

/// Rotary position embedding tables (HF "rotate half" convention), `[max_pos, head_dim]`.
#[derive(Debug)]
pub(crate) struct Rotary {
    cos: Tensor,
    sin: Tensor,
}

impl Rotary {
    /// Tables computed in fp32 exactly as HF's default rope does.
    pub(crate) fn new(
        head_dim: i64,
        max_pos: i64,
        theta: f64,
        position_scale: f64,
        device: tch::Device,
    ) -> Self {
        let opts = (Kind::Float, device);
        let exponents = Tensor::arange_start_step(0, head_dim, 2, (Kind::Int64, device))
            .to_kind(Kind::Float)
            / head_dim as f64;
        let inv_freq = Tensor::pow_scalar(theta, &exponents).reciprocal();
        let pos = Tensor::arange(max_pos, opts) / position_scale;
        let freqs = pos.unsqueeze(1) * inv_freq.unsqueeze(0);
        let emb = Tensor::cat(&[&freqs, &freqs], -1);
        Rotary {
            cos: emb.cos(),
            sin: emb.sin(),
        }
    }

    pub(crate) fn move_to(&mut self, device: tch::Device) {
        self.cos = self.cos.to_device(device);
        self.sin = self.sin.to_device(device);
    }

    /// Rotate `x` `[batch, heads, seq, head_dim]`, positions `0..seq`.
    pub(crate) fn apply(&self, x: &Tensor) -> Tensor {
        let seq = x.size()[2];
        let kind = x.kind();
        let cos = cast(&self.cos.narrow(0, 0, seq), kind);
        let sin = cast(&self.sin.narrow(0, 0, seq), kind);
        let half = x.size()[3] / 2;
        let x1 = x.narrow(-1, 0, half);
        let x2 = x.narrow(-1, half, half);
        let rotated = Tensor::cat(&[&(-x2), &x1], -1);
        x * cos + rotated * sin
    }
}
