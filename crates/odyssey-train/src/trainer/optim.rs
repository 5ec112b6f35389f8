//! AdamW with decoupled weight decay on `tch` tensors, with a state that can be saved and
//! restored, and global-norm gradient clipping.
//!
//! The update is the one of `torch.optim.AdamW` (single-tensor path): weight decay
//! `p ← p·(1 − lr·wd)`, then `m ← lerp(m, g, 1 − β₁)`, `v ← β₂·v + (1 − β₂)·g²`,
//! `p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)`. The weights, gradients and moments
//! live in one flat buffer each (the variables are views into them), so clipping and the update
//! are about a dozen in-place operations over the whole model, whatever its number of tensors.
//!
//! The variables must be fp32: they are the master weights. (The models of this crate keep
//! fp32 weights and run their matrix products in bf16 on CUDA.)

use super::adamw_cpu::AdamWStep;
use super::error::TrainerError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::{nn::VarStore, Kind, TchError, Tensor};

/// Which parameters are excluded from weight decay, decided from HF-style variable names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoDecay {
    /// Names whose last component is `bias`.
    pub biases: bool,
    /// Normalisation weights: a component starting with `ln` (`ln_1`, `ln_f`) or containing
    /// `norm` (`input_layernorm`, `LayerNorm`, `norm`, `q_norm`).
    pub norms: bool,
    /// Token and position embeddings: a component `wte`, `wpe`, `embed_tokens`,
    /// `embed_positions`, `word_embeddings`, `position_embeddings` or `embeddings`.
    pub embeddings: bool,
}

impl Default for NoDecay {
    /// HF Trainer's rule: biases and norms get no decay, embeddings do.
    fn default() -> Self {
        NoDecay {
            biases: true,
            norms: true,
            embeddings: false,
        }
    }
}

impl NoDecay {
    /// Whether the variable `name` receives weight decay under this rule.
    pub fn decays(&self, name: &str) -> bool {
        let parts: Vec<&str> = name.split('.').collect();
        let last = parts.last().copied().unwrap_or("");
        if self.biases && last == "bias" {
            return false;
        }
        if self.norms
            && parts.iter().any(|p| {
                let p = p.to_ascii_lowercase();
                p.starts_with("ln") || p.contains("norm")
            })
        {
            return false;
        }
        if self.embeddings
            && parts.iter().any(|p| {
                matches!(
                    *p,
                    "wte"
                        | "wpe"
                        | "embed_tokens"
                        | "embed_positions"
                        | "word_embeddings"
                        | "position_embeddings"
                        | "embeddings"
                )
            })
        {
            return false;
        }
        true
    }
}

/// AdamW hyper-parameters (the learning rate is given at each step).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// β₁, β₂.
    pub betas: (f64, f64),
    /// ε added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay for the parameters [`NoDecay`] does not exclude.
    pub weight_decay: f64,
    /// The no-decay rule.
    pub no_decay: NoDecay,
}

impl Default for AdamWConfig {
    /// HF Trainer's defaults: β = (0.9, 0.999), ε = 1e-8, no weight decay.
    fn default() -> Self {
        AdamWConfig {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            no_decay: NoDecay::default(),
        }
    }
}

struct Param {
    name: String,
    var: Tensor,
    /// Offset of the variable (and of its gradient and moments) in the flat buffers.
    offset: i64,
    numel: i64,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    decay: bool,
}

/// One contiguous fp32 buffer each for the weights, the gradients and the two moments. Every
/// variable (and, once a backward pass has defined it, its gradient) is a view into its
/// buffer, so that clipping and the update are a handful of large operations instead of a
/// dozen small ones per variable. Decayed variables come first, so that weight decay is one
/// operation on a prefix.
struct Flat {
    params: Tensor,
    grads: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    scratch: Tensor,
    /// Elements of the decayed prefix.
    n_decay: i64,
}

/// Where the gradients of the current step stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grads {
    /// Not looked at since the last step.
    Unchecked,
    /// Every gradient is defined and is a view into the flat gradient buffer.
    Flat,
    /// Some variables have no gradient (they are skipped by the update, as torch does); the
    /// others are views into the flat gradient buffer, the missing ones' segments are zero.
    Partial,
}

/// AdamW over the trainable variables of a [`VarStore`], in name order.
///
/// Creating the optimizer moves the variables' data into one flat buffer (each variable
/// becomes a view into it; the model sees no difference), and the gradients join a second flat
/// buffer after the first backward pass. Variables whose storage is replaced later (by
/// `VarStore::set_device`, say) are copied back in at the next step.
pub struct AdamW {
    cfg: AdamWConfig,
    params: Vec<Param>,
    step: usize,
    flat: Flat,
    grads: Grads,
}

fn tch_err(context: &'static str) -> impl Fn(TchError) -> TrainerError {
    move |source| TrainerError::Torch {
        context: context.to_string(),
        source,
    }
}

/// Whether `t` is a contiguous view of `buf` starting at element `offset`.
fn is_view_at(t: &Tensor, buf: &Tensor, offset: i64) -> bool {
    t.defined()
        && t.is_contiguous()
        && t.device() == buf.device()
        && t.data_ptr() as usize == buf.data_ptr() as usize + 4 * offset as usize
}

/// Copy `t` into `buf[offset..offset + numel]` and make `t` a view of that segment.
fn alias_into(t: &Tensor, buf: &Tensor, offset: i64, numel: i64) -> Result<(), TchError> {
    let seg = buf.f_narrow(0, offset, numel)?;
    tch::no_grad(|| {
        seg.f_view([-1])
            .and_then(|mut s| s.f_copy_(&t.f_reshape([-1])?))
    })?;
    let mut t = t.shallow_clone();
    t.f_set_data(&seg.f_view(&t.size()[..])?)
}

impl AdamW {
    /// An optimizer for the trainable variables of `vs`, with zero moments. Every trainable
    /// variable must be fp32 (the error names the first that is not).
    pub fn new(vs: &VarStore, cfg: AdamWConfig) -> Result<Self, TrainerError> {
        let e = tch_err("creating AdamW state");
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let device = vs.device();
        for (name, var) in &vars {
            if var.kind() != Kind::Float {
                return Err(TrainerError::UnsupportedModel {
                    message: format!(
                        "variable `{name}` is {:?}; AdamW updates fp32 master weights",
                        var.kind()
                    ),
                });
            }
        }
        let decays: Vec<bool> = vars.iter().map(|(n, _)| cfg.no_decay.decays(n)).collect();
        let mut offsets = vec![0i64; vars.len()];
        let mut total = 0i64;
        for want in [true, false] {
            for (i, (_, var)) in vars.iter().enumerate() {
                if decays[i] == want {
                    offsets[i] = total;
                    total += var.numel() as i64;
                }
            }
            if want {
                // `total` is now the size of the decayed prefix.
                offsets.push(total);
            }
        }
        let n_decay = offsets.pop().unwrap_or(0);
        let opts = (Kind::Float, device);
        let zeros = || Tensor::f_zeros([total.max(1)], opts);
        let flat = Flat {
            params: zeros().map_err(&e)?,
            grads: zeros().map_err(&e)?,
            exp_avg: zeros().map_err(&e)?,
            exp_avg_sq: zeros().map_err(&e)?,
            scratch: Tensor::f_empty([total.max(1)], opts).map_err(&e)?,
            n_decay,
        };
        let mut params = Vec::with_capacity(vars.len());
        for (i, (name, var)) in vars.into_iter().enumerate() {
            let (offset, numel) = (offsets[i], var.numel() as i64);
            let size = var.size();
            alias_into(&var, &flat.params, offset, numel).map_err(&e)?;
            let moment = |buf: &Tensor| buf.f_narrow(0, offset, numel)?.f_view(&size[..]);
            params.push(Param {
                exp_avg: moment(&flat.exp_avg).map_err(&e)?,
                exp_avg_sq: moment(&flat.exp_avg_sq).map_err(&e)?,
                decay: decays[i],
                name,
                var,
                offset,
                numel,
            });
        }
        Ok(AdamW {
            cfg,
            params,
            step: 0,
            flat,
            grads: Grads::Unchecked,
        })
    }

    /// Optimizer steps taken so far.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// Names of the parameters that receive weight decay and of those that do not.
    pub fn groups(&self) -> (Vec<&str>, Vec<&str>) {
        let (d, n): (Vec<&Param>, Vec<&Param>) = self.params.iter().partition(|p| p.decay);
        (
            d.iter().map(|p| p.name.as_str()).collect(),
            n.iter().map(|p| p.name.as_str()).collect(),
        )
    }

    /// Make every variable and every defined gradient a view into the flat buffers (a no-op
    /// after the first step, unless something replaced their storage), and note whether some
    /// gradient is missing.
    fn gather_grads(&mut self) -> Result<Grads, TrainerError> {
        if self.grads != Grads::Unchecked {
            return Ok(self.grads);
        }
        let e = tch_err("reading gradients");
        let flat = &self.flat;
        let mut state = Grads::Flat;
        for p in &self.params {
            if p.var.device() != flat.params.device() {
                return Err(e(TchError::Kind(format!(
                    "variable `{}` moved to {:?} after the optimizer was created on {:?}",
                    p.name,
                    p.var.device(),
                    flat.params.device()
                ))));
            }
            if !is_view_at(&p.var, &flat.params, p.offset) {
                alias_into(&p.var, &flat.params, p.offset, p.numel).map_err(&e)?;
            }
            let g = p.var.grad();
            if !g.defined() {
                state = Grads::Partial;
                let _ = tch::no_grad(|| flat.grads.f_narrow(0, p.offset, p.numel)?.f_zero_())
                    .map_err(&e)?;
                continue;
            }
            if g.kind() != Kind::Float {
                return Err(e(TchError::Kind(format!(
                    "gradient of `{}` is {:?}, expected Float",
                    p.name,
                    g.kind()
                ))));
            }
            if !is_view_at(&g, &flat.grads, p.offset) {
                alias_into(&g, &flat.grads, p.offset, p.numel).map_err(&e)?;
            }
        }
        self.grads = state;
        Ok(state)
    }

    /// The global L2 norm of all gradients, as `torch.nn.utils.clip_grad_norm_` computes it;
    /// with `max_norm`, gradients are scaled by `min(1, max_norm / (norm + 1e-6))`. Returns the
    /// norm before clipping (NaN or infinite when a gradient is).
    pub fn clip_grad_norm(&mut self, max_norm: Option<f64>) -> Result<f64, TrainerError> {
        let e = tch_err("clipping gradients");
        if self.gather_grads()? == Grads::Partial
            && self.params.iter().all(|p| !p.var.grad().defined())
        {
            return Ok(0.0);
        }
        // Missing gradients have zero segments, so the norm of the buffer is the global norm.
        let norm = tch::no_grad(|| self.flat.grads.f_norm())
            .and_then(|t| t.f_double_value(&[]))
            .map_err(&e)?;
        if let Some(max_norm) = max_norm {
            let coef = max_norm / (norm + 1e-6);
            if coef < 1.0 && norm.is_finite() {
                let mut g = self.flat.grads.shallow_clone();
                let _ = tch::no_grad(|| g.f_mul_scalar_(coef)).map_err(&e)?;
            }
        }
        Ok(norm)
    }

    /// One AdamW update with learning rate `lr` using the gradients currently stored (clipped if
    /// [`AdamW::clip_grad_norm`] was called since the last step). Parameters without a gradient
    /// are left alone, as torch does.
    pub fn step(&mut self, lr: f64) -> Result<(), TrainerError> {
        let e = tch_err("AdamW update");
        let state = self.gather_grads()?;
        self.grads = Grads::Unchecked;
        self.step += 1;
        let (b1, b2) = self.cfg.betas;
        let t = self.step as i32;
        let bc1 = 1.0 - b1.powi(t);
        let bc2_sqrt = (1.0 - b2.powi(t)).sqrt();
        let step_size = lr / bc1;
        let wd = self.cfg.weight_decay;
        let eps = self.cfg.eps;
        let flat = &self.flat;
        // The update of one segment (the whole buffers, or one variable's views).
        let update = |mut target: Tensor,
                      g: Tensor,
                      mut m: Tensor,
                      mut v: Tensor,
                      mut s: Tensor,
                      decay: Option<Tensor>|
         -> Result<(), TchError> {
            if let Some(mut d) = decay {
                if wd != 0.0 && lr != 0.0 {
                    let _ = d.f_mul_scalar_(1.0 - lr * wd)?;
                }
            }
            let _ = m.f_lerp_(&g, 1.0 - b1)?;
            let _ = g.f_mul_out(&s, &g)?;
            let _ = s.f_mul_scalar_(1.0 - b2)?;
            let _ = v.f_mul_scalar_(b2)?;
            let _ = v.f_add_(&s)?;
            if step_size != 0.0 {
                let _ = v.f_sqrt_out(&s)?;
                let _ = s.f_div_scalar_(bc2_sqrt)?;
                let _ = s.f_add_scalar_(eps)?;
                let _ = s.f_div_scalar_(-step_size)?;
                let _ = target.f_addcdiv_(&m, &s)?;
            }
            Ok(())
        };
        if state == Grads::Flat
            && super::adamw_cpu::adamw_step(
                &flat.params,
                &flat.grads,
                &flat.exp_avg,
                &flat.exp_avg_sq,
                flat.n_decay as usize,
                AdamWStep {
                    lr,
                    weight_decay: wd,
                    beta1: b1,
                    beta2: b2,
                    eps,
                    step_size,
                    bias_correction2_sqrt: bc2_sqrt,
                },
            )
        {
            return Ok(());
        }
        tch::no_grad(|| -> Result<(), TchError> {
            if state == Grads::Flat {
                return update(
                    flat.params.shallow_clone(),
                    flat.grads.shallow_clone(),
                    flat.exp_avg.shallow_clone(),
                    flat.exp_avg_sq.shallow_clone(),
                    flat.scratch.shallow_clone(),
                    Some(flat.params.f_narrow(0, 0, flat.n_decay)?),
                );
            }
            for p in &self.params {
                let g = p.var.grad();
                if !g.defined() {
                    continue;
                }
                let s = flat
                    .scratch
                    .f_narrow(0, p.offset, p.numel)?
                    .f_view(&g.size()[..])?;
                update(
                    p.var.shallow_clone(),
                    g,
                    p.exp_avg.shallow_clone(),
                    p.exp_avg_sq.shallow_clone(),
                    s,
                    p.decay.then(|| p.var.shallow_clone()),
                )?;
            }
            Ok(())
        })
        .map_err(&e)
    }

    /// Set the stored gradients of all parameters to zero.
    pub fn zero_grad(&mut self) {
        self.grads = Grads::Unchecked;
        for p in &mut self.params {
            let g = p.var.grad();
            if g.defined() && !is_view_at(&g, &self.flat.grads, p.offset) {
                p.var.zero_grad();
            }
        }
        let mut g = self.flat.grads.shallow_clone();
        let _ = tch::no_grad(|| g.f_zero_());
    }

    /// The state to save: `exp_avg.<name>` and `exp_avg_sq.<name>` (fp32) of every parameter.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(self.params.len() * 2);
        for p in &self.params {
            out.push((format!("exp_avg.{}", p.name), p.exp_avg.shallow_clone()));
            out.push((
                format!("exp_avg_sq.{}", p.name),
                p.exp_avg_sq.shallow_clone(),
            ));
        }
        out
    }

    /// Restore a state saved with [`AdamW::state_tensors`] after `step` steps. Every tensor must
    /// be present with the variable's shape; the error names the first that is not.
    pub fn load_state(
        &mut self,
        mut tensors: HashMap<String, Tensor>,
        step: usize,
    ) -> Result<(), String> {
        for p in &mut self.params {
            let targets: [(String, &mut Tensor); 2] = [
                (format!("exp_avg.{}", p.name), &mut p.exp_avg),
                (format!("exp_avg_sq.{}", p.name), &mut p.exp_avg_sq),
            ];
            for (key, dst) in targets {
                let src = tensors
                    .remove(&key)
                    .ok_or_else(|| format!("optimizer state lacks `{key}`"))?;
                if src.size() != dst.size() {
                    return Err(format!(
                        "optimizer tensor `{key}` has shape {:?}, the model needs {:?}",
                        src.size(),
                        dst.size()
                    ));
                }
                tch::no_grad(|| dst.f_copy_(&src)).map_err(|e| format!("`{key}`: {e}"))?;
            }
        }
        if let Some(extra) = tensors.keys().min() {
            return Err(format!(
                "optimizer state holds `{extra}`, which matches no trainable variable"
            ));
        }
        self.step = step;
        self.grads = Grads::Unchecked;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_decay_rule_reads_hf_names() {
        let r = NoDecay::default();
        assert!(r.decays("transformer.h.0.attn.c_attn.weight"));
        assert!(!r.decays("transformer.h.0.attn.c_attn.bias"));
        assert!(!r.decays("transformer.h.0.ln_1.weight"));
        assert!(!r.decays("transformer.ln_f.weight"));
        assert!(!r.decays("model.layers.3.post_attention_layernorm.weight"));
        assert!(!r.decays("model.norm.weight"));
        assert!(!r.decays("model.layers.0.self_attn.q_norm.weight"));
        assert!(r.decays("transformer.wte.weight"));
        assert!(r.decays("model.embed_tokens.weight"));
        assert!(r.decays("lm_head.weight"));
        let r = NoDecay {
            embeddings: true,
            ..NoDecay::default()
        };
        assert!(!r.decays("transformer.wte.weight"));
        assert!(!r.decays("transformer.wpe.weight"));
        assert!(!r.decays("model.embed_tokens.weight"));
        assert!(r.decays("lm_head.weight"));
        assert!(r.decays("model.layers.0.mlp.gate_proj.weight"));
    }
}
