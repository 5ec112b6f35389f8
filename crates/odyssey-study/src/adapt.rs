//! Continued pretraining of the base model on one domain, with its validation record.

use crate::config::TrainingSettings;
use crate::domain::{CurvePoint, TrainingRecord};
use crate::error::{Result, StudyError};
use odyssey_train::trainer::{
    AdamWConfig, Duration, PackedBlocks, ScheduleKind, StopRule, Trainer, TrainerConfig, Warmup,
};
use odyssey_train::{AnyModel, CausalLm};
use std::path::Path;

/// Token blocks of `block_len` from a packed token stream (the remainder is dropped, as HF
/// `run_clm` does), at most `max_tokens` tokens (0: all).
pub fn blocks(tokens: &[u32], block_len: usize, max_tokens: usize) -> Result<PackedBlocks<'_>> {
    let mut n = tokens.len();
    if max_tokens > 0 {
        n = n.min(max_tokens.max(block_len));
    }
    let n = n / block_len * block_len;
    if n == 0 {
        return Err(StudyError::Invalid(format!(
            "{} tokens do not fill one block of {block_len}",
            tokens.len()
        )));
    }
    PackedBlocks::new(&tokens[..n], block_len).map_err(StudyError::Invalid)
}

/// Train `model` in place on `train` tokens for `settings.epochs`, evaluating validation
/// perplexity on `valid` at the start and `settings.evals_per_run` times during the run.
/// Checkpoints go to `checkpoint_dir`; a run killed earlier resumes from its newest one.
/// The model left in `model` is the one at the end of training (as in the paper), not the best.
#[allow(clippy::too_many_arguments)]
pub fn continue_pretraining(
    model: &mut AnyModel,
    train: &[u32],
    valid: &[u32],
    settings: &TrainingSettings,
    seed: u64,
    threads: usize,
    checkpoint_dir: &Path,
    domain: &str,
) -> Result<TrainingRecord> {
    continue_pretraining_masked(
        model,
        train,
        valid,
        settings,
        seed,
        threads,
        checkpoint_dir,
        domain,
        &[],
    )
}

/// [`continue_pretraining`] with the token ids `ignore` left out of the training loss (as
/// labels; they still feed the model as inputs).
#[allow(clippy::too_many_arguments)]
pub fn continue_pretraining_masked(
    model: &mut AnyModel,
    train: &[u32],
    valid: &[u32],
    settings: &TrainingSettings,
    seed: u64,
    threads: usize,
    checkpoint_dir: &Path,
    domain: &str,
    ignore: &[u32],
) -> Result<TrainingRecord> {
    let block_len = settings.block_size.min(model.max_positions());
    let train_blocks = blocks(train, block_len, settings.max_train_tokens)?;
    let valid_blocks = blocks(valid, block_len, settings.max_valid_tokens)?;
    let steps_per_epoch = train_blocks.tokens().len() / block_len;
    let steps_per_epoch = steps_per_epoch.div_ceil(settings.batch_size).max(1);
    let total_steps = ((settings.epochs * steps_per_epoch as f64).ceil() as usize).max(1);
    let duration = if settings.epochs.fract() == 0.0 {
        Duration::Epochs(settings.epochs as usize)
    } else {
        Duration::Steps(total_steps)
    };
    let eval_every = (total_steps / settings.evals_per_run).max(1);
    let cfg = TrainerConfig {
        lr: settings.lr,
        adamw: AdamWConfig {
            weight_decay: settings.weight_decay,
            ..AdamWConfig::default()
        },
        schedule: ScheduleKind::Linear,
        warmup: Warmup::Ratio(settings.warmup_ratio),
        micro_batch_size: settings.batch_size,
        grad_accum_steps: 1,
        max_grad_norm: Some(settings.max_grad_norm),
        duration,
        seed,
        eval_every: Some(eval_every),
        eval_batch_size: settings.batch_size,
        early_stopping: settings
            .stop_early
            .then_some(odyssey_train::trainer::EarlyStopping {
                patience: settings.patience,
                rule: StopRule::Worsens,
                min_delta: 0.0,
            }),
        output_dir: Some(checkpoint_dir.to_path_buf()),
        save_every: Some(eval_every),
        keep_last: 1,
        resume: true,
        threads: (threads > 0).then_some(threads),
        progress: true,
        ignore_token_ids: ignore.to_vec(),
        ..TrainerConfig::default()
    };
    let trainer = Trainer::new(cfg);
    let stage = |what: &str| format!("{domain}: {what}");
    let start = trainer
        .evaluate(model, &valid_blocks)
        .map_err(|e| StudyError::stage(stage("validation perplexity of the base"), e))?;
    let report = match settings.distributed.launch() {
        Some(dist) => trainer.fit_distributed(model, &train_blocks, Some(&valid_blocks), &dist),
        None => trainer.fit(model, &train_blocks, Some(&valid_blocks)),
    }
    .map_err(|e| StudyError::stage(stage("continued pretraining"), e))?;
    let mut valid_ppl = vec![CurvePoint {
        step: 0,
        tokens: 0,
        value: start.perplexity,
    }];
    let tokens_at = |step: usize| {
        report
            .steps
            .iter()
            .find(|s| s.step == step)
            .map(|s| s.tokens_seen as usize)
            .unwrap_or(step * settings.batch_size * block_len)
    };
    for e in &report.evals {
        valid_ppl.push(CurvePoint {
            step: e.step,
            tokens: tokens_at(e.step),
            value: e.eval.perplexity,
        });
    }
    let (best_step, best_valid_ppl) = valid_ppl
        .iter()
        .min_by(|a, b| a.value.total_cmp(&b.value))
        .map(|p| (p.step, p.value))
        .unwrap_or((0, start.perplexity));
    let stopped_early = matches!(
        report.stop_reason,
        odyssey_train::trainer::StopReason::EarlyStopped { .. }
    );
    let steps = report.steps.last().map(|s| s.step).unwrap_or(0);
    Ok(TrainingRecord {
        lr: settings.lr,
        epochs: settings.epochs,
        steps,
        tokens: report.tokens_seen as usize,
        train_loss: report
            .steps
            .iter()
            .map(|s| CurvePoint {
                step: s.step,
                tokens: s.tokens_seen as usize,
                value: s.loss,
            })
            .collect(),
        early_stop_step: early_stop_point(&valid_ppl, settings.patience),
        valid_ppl,
        best_step,
        best_valid_ppl,
        stopped_early,
        seconds: report.train_seconds,
    })
}

/// The step where early stopping triggers: the first evaluation after which validation
/// perplexity has risen `patience` evaluations in a row (each higher than the one before).
pub fn early_stop_point(curve: &[CurvePoint], patience: usize) -> Option<usize> {
    let mut run = 0;
    for w in curve.windows(2) {
        if w[1].value > w[0].value {
            run += 1;
            if run >= patience {
                return Some(w[1].step);
            }
        } else {
            run = 0;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(v: &[f64]) -> Vec<CurvePoint> {
        v.iter()
            .enumerate()
            .map(|(i, &value)| CurvePoint {
                step: i * 10,
                tokens: i,
                value,
            })
            .collect()
    }

    #[test]
    fn early_stop_needs_patience_rises_in_a_row() {
        assert_eq!(early_stop_point(&curve(&[10.0, 9.0, 8.0, 7.0]), 2), None);
        assert_eq!(
            early_stop_point(&curve(&[10.0, 9.0, 9.5, 9.0, 9.2]), 2),
            None
        );
        assert_eq!(
            early_stop_point(&curve(&[10.0, 9.0, 9.5, 9.8, 9.0]), 2),
            Some(30)
        );
        assert_eq!(early_stop_point(&curve(&[10.0, 11.0]), 1), Some(10));
    }

    #[test]
    fn blocks_drop_the_remainder_and_respect_the_cap() {
        let t: Vec<u32> = (0..1000).collect();
        assert_eq!(blocks(&t, 128, 0).unwrap().tokens().len(), 896);
        assert_eq!(blocks(&t, 128, 300).unwrap().tokens().len(), 256);
        assert_eq!(blocks(&t, 128, 10).unwrap().tokens().len(), 128);
        assert!(blocks(&t[..100], 128, 0).is_err());
    }
}
