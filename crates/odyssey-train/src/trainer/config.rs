//! The trainer's configuration.

use super::error::TrainerError;
use super::optim::AdamWConfig;
use super::schedule::{ScheduleKind, Warmup};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How long to train.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Duration {
    /// Whole passes over the training blocks.
    Epochs(usize),
    /// A number of optimizer steps (the data order continues across epochs).
    Steps(usize),
}

/// When an evaluation counts against the run for early stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StopRule {
    /// Validation perplexity is higher than at the previous evaluation (it worsens).
    #[default]
    Worsens,
    /// Validation perplexity is not lower than the best so far (HF `EarlyStoppingCallback`).
    NoImprovement,
}

/// Stop when validation perplexity goes the wrong way `patience` evaluations in a row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Evaluations in a row that must count against the run.
    pub patience: usize,
    /// What counts against it.
    pub rule: StopRule,
    /// Perplexity changes smaller than this do not count as worsening or improving.
    pub min_delta: f64,
}

/// Everything [`Trainer`](super::Trainer) needs to know. `Default` gives HF `run_clm.py`-like
/// settings: lr 5e-5, linear schedule, no warmup, batch 8, one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// AdamW settings (betas, eps, weight decay, no-decay groups).
    pub adamw: AdamWConfig,
    /// Learning-rate curve.
    pub schedule: ScheduleKind,
    /// Warmup length.
    pub warmup: Warmup,
    /// Length of the final decay of [`ScheduleKind::WarmupStableDecay`] (other schedules
    /// ignore it).
    #[serde(default)]
    pub decay: Warmup,
    /// Blocks per forward/backward pass.
    pub micro_batch_size: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum_steps: usize,
    /// Global-norm clipping threshold (`None`: no clipping).
    pub max_grad_norm: Option<f64>,
    /// Training length.
    pub duration: Duration,
    /// Seed of the data order and of dropout.
    pub seed: u64,
    /// Token ids left out of the training loss (the token-masked loss; empty: all tokens).
    pub ignore_token_ids: Vec<u32>,
    /// Evaluate every this many optimizer steps (and at the end) when a validation stream is
    /// given; `None`: only at the end.
    pub eval_every: Option<usize>,
    /// Blocks per evaluation batch.
    pub eval_batch_size: usize,
    /// Early stopping on validation perplexity.
    pub early_stopping: Option<EarlyStopping>,
    /// Folder for checkpoints, `metrics.jsonl` and `report.json` (`None`: nothing written).
    pub output_dir: Option<PathBuf>,
    /// Write a checkpoint every this many steps (a checkpoint is also written at the end and at
    /// every new best evaluation).
    pub save_every: Option<usize>,
    /// Step checkpoints to keep besides the best one (at least 1).
    pub keep_last: usize,
    /// Resume from the newest checkpoint in `output_dir` when there is one.
    pub resume: bool,
    /// libtorch intra-op threads (`None`: libtorch's default).
    pub threads: Option<usize>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            lr: 5e-5,
            adamw: AdamWConfig::default(),
            schedule: ScheduleKind::Linear,
            warmup: Warmup::Steps(0),
            decay: Warmup::Steps(0),
            micro_batch_size: 8,
            grad_accum_steps: 1,
            max_grad_norm: Some(1.0),
            duration: Duration::Epochs(1),
            seed: 42,
            ignore_token_ids: Vec::new(),
            eval_every: None,
            eval_batch_size: 8,
            early_stopping: None,
            output_dir: None,
            save_every: None,
            keep_last: 1,
            resume: false,
            threads: None,
            progress: true,
        }
    }
}

impl TrainerConfig {
    /// Check every field; the error names the first one that is wrong.
    pub fn validate(&self) -> Result<(), TrainerError> {
        let c = |field: &'static str, message: String| TrainerError::config(field, message);
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return Err(c("lr", format!("must be finite and >= 0, got {}", self.lr)));
        }
        let (b1, b2) = self.adamw.betas;
        if !((0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2)) {
            return Err(c(
                "adamw.betas",
                format!("must lie in [0, 1), got ({b1}, {b2})"),
            ));
        }
        if !(self.adamw.eps.is_finite() && self.adamw.eps > 0.0) {
            return Err(c(
                "adamw.eps",
                format!("must be > 0, got {}", self.adamw.eps),
            ));
        }
        if !(self.adamw.weight_decay.is_finite() && self.adamw.weight_decay >= 0.0) {
            return Err(c(
                "adamw.weight_decay",
                format!("must be >= 0, got {}", self.adamw.weight_decay),
            ));
        }
        if let Warmup::Ratio(r) = self.warmup {
            if !(0.0..=1.0).contains(&r) {
                return Err(c("warmup", format!("ratio must lie in [0, 1], got {r}")));
            }
        }
        if self.micro_batch_size == 0 {
            return Err(c("micro_batch_size", "must be >= 1".into()));
        }
        if self.grad_accum_steps == 0 {
            return Err(c("grad_accum_steps", "must be >= 1".into()));
        }
        if let Some(m) = self.max_grad_norm {
            if !(m.is_finite() && m > 0.0) {
                return Err(c("max_grad_norm", format!("must be > 0, got {m}")));
            }
        }
        match self.duration {
            Duration::Epochs(0) => return Err(c("duration", "needs at least 1 epoch".into())),
            Duration::Steps(0) => return Err(c("duration", "needs at least 1 step".into())),
            _ => {}
        }
        if self.eval_every == Some(0) {
            return Err(c("eval_every", "must be >= 1".into()));
        }
        if self.save_every == Some(0) {
            return Err(c("save_every", "must be >= 1".into()));
        }
        if self.eval_batch_size == 0 {
            return Err(c("eval_batch_size", "must be >= 1".into()));
        }
        if self.keep_last == 0 {
            return Err(c("keep_last", "must be >= 1".into()));
        }
        if let Some(es) = &self.early_stopping {
            if es.patience == 0 {
                return Err(c("early_stopping.patience", "must be >= 1".into()));
            }
            if !(es.min_delta.is_finite() && es.min_delta >= 0.0) {
                return Err(c("early_stopping.min_delta", "must be >= 0".into()));
            }
        }
        if self.resume && self.output_dir.is_none() {
            return Err(c(
                "resume",
                "needs `output_dir` to find checkpoints in".into(),
            ));
        }
        Ok(())
    }
}
