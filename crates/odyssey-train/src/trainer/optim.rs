//! AdamW with decoupled weight decay on `tch` tensors, with a state that can be saved and
//! restored, and global-norm gradient clipping.
//!
//! The update is the one of `torch.optim.AdamW` (single-tensor path): weight decay
//! `p ← p·(1 − lr·wd)`, then `m ← lerp(m, g, 1 − β₁)`, `v ← β₂·v + (1 − β₂)·g²`,
//! `p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)`. All of it runs in place, reusing one
//! scratch buffer, so a step allocates nothing per parameter.
//!
//! Variables kept in reduced precision (bf16 on GPU) get an fp32 master copy here: gradients are
//! read in fp32, the master is updated, and the variable receives the rounded master.

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
    /// fp32 copy of a reduced-precision variable.
    master: Option<Tensor>,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    decay: bool,
}

/// AdamW over the trainable variables of a [`VarStore`], in name order.
pub struct AdamW {
    cfg: AdamWConfig,
    params: Vec<Param>,
    step: usize,
    scratch: Tensor,
    /// fp32 gradients of the current step, set by [`AdamW::clip_grad_norm`].
    grads: Option<Vec<Option<Tensor>>>,
}

fn tch_err(context: &'static str) -> impl Fn(TchError) -> TrainerError {
    move |source| TrainerError::Torch {
        context: context.to_string(),
        source,
    }
}

impl AdamW {
    /// An optimizer for the trainable variables of `vs`, with zero moments.
    pub fn new(vs: &VarStore, cfg: AdamWConfig) -> Result<Self, TrainerError> {
        let e = tch_err("creating AdamW state");
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let device = vs.device();
        let mut params = Vec::with_capacity(vars.len());
        let mut max_numel = 1i64;
        for (name, var) in vars {
            let master = if var.kind() == Kind::Float {
                None
            } else {
                Some(tch::no_grad(|| var.f_to_kind(Kind::Float)).map_err(&e)?)
            };
            let exp_avg = Tensor::f_zeros(var.size(), (Kind::Float, device)).map_err(&e)?;
            let exp_avg_sq = Tensor::f_zeros(var.size(), (Kind::Float, device)).map_err(&e)?;
            max_numel = max_numel.max(var.numel() as i64);
            params.push(Param {
                decay: cfg.no_decay.decays(&name),
                name,
                var,
                master,
                exp_avg,
                exp_avg_sq,
            });
        }
        let scratch = Tensor::f_empty([max_numel], (Kind::Float, device)).map_err(&e)?;
        Ok(AdamW {
            cfg,
            params,
            step: 0,
            scratch,
            grads: None,
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

    fn gather_grads(&mut self) -> Result<&Vec<Option<Tensor>>, TrainerError> {
        if self.grads.is_none() {
            let e = tch_err("reading gradients");
            let mut grads = Vec::with_capacity(self.params.len());
            for p in &self.params {
                let g = p.var.grad();
                grads.push(if !g.defined() {
                    None
                } else if g.kind() == Kind::Float {
                    Some(g)
                } else {
                    Some(g.f_to_kind(Kind::Float).map_err(&e)?)
                });
            }
            self.grads = Some(grads);
        }
        Ok(self.grads.get_or_insert_with(Vec::new))
    }

    /// The global L2 norm of all gradients, as `torch.nn.utils.clip_grad_norm_` computes it;
    /// with `max_norm`, gradients are scaled by `min(1, max_norm / (norm + 1e-6))`. Returns the
    /// norm before clipping (NaN or infinite when a gradient is).
    pub fn clip_grad_norm(&mut self, max_norm: Option<f64>) -> Result<f64, TrainerError> {
        let e = tch_err("clipping gradients");
        let grads = self.gather_grads()?;
        let norms: Vec<Tensor> = grads
            .iter()
            .flatten()
            .map(|g| g.f_norm())
            .collect::<Result<_, _>>()
            .map_err(&e)?;
        if norms.is_empty() {
            return Ok(0.0);
        }
        let total = Tensor::f_stack(&norms, 0)
            .and_then(|t| t.f_norm())
            .map_err(&e)?;
        let norm = total.f_double_value(&[]).map_err(&e)?;
        if let Some(max_norm) = max_norm {
            let coef = max_norm / (norm + 1e-6);
            if coef < 1.0 && norm.is_finite() {
                tch::no_grad(|| -> Result<(), TchError> {
                    for g in grads.iter().flatten() {
                        let mut g = g.shallow_clone();
                        g.f_mul_scalar_(coef)?;
                    }
                    Ok(())
                })
                .map_err(&e)?;
            }
        }
        Ok(norm)
    }

    /// One AdamW update with learning rate `lr` using the gradients currently stored (clipped if
    /// [`AdamW::clip_grad_norm`] was called since the last step). Parameters without a gradient
    /// are left alone, as torch does.
    pub fn step(&mut self, lr: f64) -> Result<(), TrainerError> {
        let e = tch_err("AdamW update");
        self.gather_grads()?;
        let grads = self.grads.take().unwrap_or_default();
        self.step += 1;
        let (b1, b2) = self.cfg.betas;
        let t = self.step as i32;
        let bc1 = 1.0 - b1.powi(t);
        let bc2_sqrt = (1.0 - b2.powi(t)).sqrt();
        let step_size = lr / bc1;
        let wd = self.cfg.weight_decay;
        let eps = self.cfg.eps;
        let scratch = &self.scratch;
        tch::no_grad(|| -> Result<(), TchError> {
            for (p, g) in self.params.iter_mut().zip(grads) {
                let Some(g) = g else { continue };
                let mut target = p.master.as_ref().unwrap_or(&p.var).shallow_clone();
                if p.decay && wd != 0.0 && lr != 0.0 {
                    target.f_mul_scalar_(1.0 - lr * wd)?;
                }
                p.exp_avg.f_lerp_(&g, 1.0 - b1)?;
                let mut s = scratch.f_narrow(0, 0, g.numel() as i64)?.f_view(&g.size()[..])?;
                g.f_mul_out(&s, &g)?;
                s.f_mul_scalar_(1.0 - b2)?;
                p.exp_avg_sq.f_mul_scalar_(b2)?;
                p.exp_avg_sq.f_add_(&s)?;
                if step_size != 0.0 {
                    p.exp_avg_sq.f_sqrt_out(&s)?;
                    s.f_div_scalar_(bc2_sqrt)?;
                    s.f_add_scalar_(eps)?;
                    s.f_div_scalar_(-step_size)?;
                    target.f_addcdiv_(&p.exp_avg, &s)?;
                }
                if p.master.is_some() {
                    p.var.f_copy_(&target)?;
                }
            }
            Ok(())
        })
        .map_err(&e)
    }

    /// Whether some variables run in reduced precision with an fp32 master copy here.
    pub fn has_masters(&self) -> bool {
        self.params.iter().any(|p| p.master.is_some())
    }

    /// Copy the fp32 masters into their variables and drop them; call it after turning the
    /// variables back to fp32 so that they hold the full-precision weights.
    pub fn release_masters(&mut self) -> Result<(), TrainerError> {
        for p in &mut self.params {
            if let Some(m) = p.master.take() {
                tch::no_grad(|| p.var.f_copy_(&m))
                    .map_err(tch_err("copying master weights into the model"))?;
            }
        }
        Ok(())
    }

    /// Drop the stored gradients of all parameters (set them to zero).
    pub fn zero_grad(&mut self) {
        self.grads = None;
        for p in &mut self.params {
            p.var.zero_grad();
        }
    }

    /// The state to save: `exp_avg.<name>`, `exp_avg_sq.<name>` and, for reduced-precision
    /// variables, `master.<name>` (fp32 weights), all fp32.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(self.params.len() * 2);
        for p in &self.params {
            out.push((format!("exp_avg.{}", p.name), p.exp_avg.shallow_clone()));
            out.push((format!("exp_avg_sq.{}", p.name), p.exp_avg_sq.shallow_clone()));
            if let Some(m) = &p.master {
                out.push((format!("master.{}", p.name), m.shallow_clone()));
            }
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
            let mut targets: Vec<(String, &mut Tensor)> = vec![
                (format!("exp_avg.{}", p.name), &mut p.exp_avg),
                (format!("exp_avg_sq.{}", p.name), &mut p.exp_avg_sq),
            ];
            if let Some(m) = p.master.as_mut() {
                targets.push((format!("master.{}", p.name), m));
            }
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
            if let Some(m) = &p.master {
                let mut var = p.var.shallow_clone();
                tch::no_grad(|| var.f_copy_(m)).map_err(|e| format!("`{}`: {e}", p.name))?;
            }
        }
        if let Some(extra) = tensors.keys().min() {
            return Err(format!(
                "optimizer state holds `{extra}`, which matches no trainable variable"
            ));
        }
        self.step = step;
        self.grads = None;
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
