//! The training loop.

use super::checkpoint::{
    latest_checkpoint, load_checkpoint, prune_checkpoints, save_checkpoint, CheckpointState,
    DataIdentity, CHECKPOINT_FORMAT,
};
use super::config::{Duration, StopRule, TrainerConfig};
use super::data::TokenBlocks;
use super::data::{batch_arrays, counted_labels, epoch_order, find_out_of_vocab, fingerprint};
use super::error::TrainerError;
use super::metrics::{
    EvalRecord, Evaluation, MetricsEvent, MetricsLog, StepRecord, StopReason, TrainReport,
};
use super::optim::AdamW;
use super::schedule::LrSchedule;
use crate::model::CausalLm;
use crate::model::IGNORE_INDEX;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Tensor};

/// Trains a [`CausalLm`] on packed token blocks: pretraining from scratch or continued
/// pretraining, depending only on the weights the model starts from.
///
/// See the [module documentation](super) for an example.
#[derive(Debug, Clone)]
pub struct Trainer {
    cfg: TrainerConfig,
}

struct Plan {
    n_blocks: usize,
    per_step: usize,
    steps_per_epoch: usize,
}

impl Plan {
    /// Block indices of the optimizer step with 0-based index `step`, split in micro-batches.
    fn step_blocks(&self, order: &[usize], step: usize, micro: usize) -> Vec<Vec<usize>> {
        let in_epoch = step % self.steps_per_epoch;
        let start = in_epoch * self.per_step;
        let end = (start + self.per_step).min(self.n_blocks);
        order[start..end]
            .chunks(micro)
            .map(|c| c.to_vec())
            .collect()
    }
}

/// Seed of libtorch's generator for the step with 0-based index `step` (SplitMix64 of both).
fn step_seed(seed: u64, step: usize) -> i64 {
    let mut z = seed ^ (step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 1) as i64
}

fn check_blocks(
    stream: &'static str,
    blocks: &dyn TokenBlocks,
    model: &dyn CausalLm,
) -> Result<(), TrainerError> {
    let bad = |message: String| TrainerError::InvalidData { stream, message };
    if blocks.n_blocks() == 0 {
        return Err(bad("no blocks".into()));
    }
    if blocks.block_len() < 2 {
        return Err(bad(format!(
            "blocks of {} token(s) hold no next-token label",
            blocks.block_len()
        )));
    }
    if blocks.block_len() > model.max_positions() {
        return Err(bad(format!(
            "blocks of {} tokens are longer than the model's context of {} positions",
            blocks.block_len(),
            model.max_positions()
        )));
    }
    if let Some((b, p, t)) = find_out_of_vocab(blocks, model.vocab_size()) {
        return Err(bad(format!(
            "token id {t} at block {b}, position {p} is outside the model's vocabulary of {}",
            model.vocab_size()
        )));
    }
    Ok(())
}

fn ids_tensor(values: &[i64], rows: usize, device: Device) -> Result<Tensor, TrainerError> {
    Tensor::from_slice(values)
        .f_view([rows as i64, -1])
        .and_then(|t| t.f_to_device(device))
        .map_err(TrainerError::torch("building a batch"))
}

impl Trainer {
    /// A trainer with this configuration (checked when [`Trainer::fit`] starts).
    pub fn new(cfg: TrainerConfig) -> Self {
        Trainer { cfg }
    }

    /// The configuration.
    pub fn config(&self) -> &TrainerConfig {
        &self.cfg
    }

    /// Mean next-token loss and perplexity of `model` over all blocks of `blocks` (dropout
    /// off, no gradients). With ignored token ids configured, the masked loss is reported too.
    /// Each target's log-probability comes from [`CausalLm::target_log_probs`], which `Lm`
    /// computes over chunks of positions: an evaluation during training holds one chunk of
    /// logits next to the optimizer state, not a batch's.
    pub fn evaluate(
        &self,
        model: &dyn CausalLm,
        blocks: &dyn TokenBlocks,
    ) -> Result<Evaluation, TrainerError> {
        self.cfg.validate()?;
        check_blocks("valid", blocks, model)?;
        let device = model.var_store().device();
        let ignored = &self.cfg.ignore_token_ids;
        let (mut sum, mut n, mut msum, mut mn) = (0f64, 0usize, 0f64, 0usize);
        let idx: Vec<usize> = (0..blocks.n_blocks()).collect();
        tch::no_grad(|| -> Result<(), TrainerError> {
            for chunk in idx.chunks(self.cfg.eval_batch_size) {
                let (inputs, labels, _) = batch_arrays(blocks, chunk, &[]);
                let x = ids_tensor(&inputs, chunk.len(), device)?;
                // Ignored labels (none here but the padding of short blocks) are gathered as
                // id 0 and left out below.
                let safe: Vec<i64> = labels
                    .iter()
                    .map(|&l| if l == IGNORE_INDEX { 0 } else { l })
                    .collect();
                let y = ids_tensor(&safe, chunk.len(), device)?;
                let per_token = (-model.target_log_probs(&x, &y))
                    .f_reshape([-1])
                    .and_then(|l| l.f_to_device(Device::Cpu))
                    .map_err(TrainerError::torch("scoring a validation batch"))?;
                let losses = Vec::<f32>::try_from(&per_token)
                    .map_err(TrainerError::torch("reading validation losses"))?;
                for (&l, &label) in losses.iter().zip(&labels) {
                    if label == IGNORE_INDEX {
                        continue;
                    }
                    sum += l as f64;
                    n += 1;
                    if !ignored.contains(&(label as u32)) {
                        msum += l as f64;
                        mn += 1;
                    }
                }
            }
            Ok(())
        })?;
        let loss = sum / n as f64;
        Ok(Evaluation {
            loss,
            perplexity: loss.exp(),
            tokens: n,
            masked_loss: (!ignored.is_empty()).then(|| msum / mn.max(1) as f64),
        })
    }

    /// Train `model` on `train` (blocks visited in a seeded order), evaluating on `valid` when
    /// given. Writes checkpoints, `metrics.jsonl` and `report.json` into the output folder when
    /// one is configured, and resumes from its newest checkpoint when asked to.
    pub fn fit(
        &self,
        model: &mut dyn CausalLm,
        train: &dyn TokenBlocks,
        valid: Option<&dyn TokenBlocks>,
    ) -> Result<TrainReport, TrainerError> {
        let cfg = &self.cfg;
        cfg.validate()?;
        if let Some(n) = cfg.threads {
            crate::set_threads(n);
        }
        check_blocks("train", train, model)?;
        if let Some(v) = valid {
            check_blocks("valid", v, model)?;
        }
        let mut optimizer = AdamW::new(model.var_store(), cfg.adamw)?;
        self.run(model, &mut optimizer, train, valid)
    }

    fn run(
        &self,
        model: &mut dyn CausalLm,
        optimizer: &mut AdamW,
        train: &dyn TokenBlocks,
        valid: Option<&dyn TokenBlocks>,
    ) -> Result<TrainReport, TrainerError> {
        let cfg = &self.cfg;
        let device = model.var_store().device();
        let n_blocks = train.n_blocks();
        let per_step = cfg.micro_batch_size * cfg.grad_accum_steps;
        let steps_per_epoch = n_blocks.div_ceil(per_step);
        let total_steps = match cfg.duration {
            Duration::Epochs(e) => e * steps_per_epoch,
            Duration::Steps(s) => s,
        };
        let plan = Plan {
            n_blocks,
            per_step,
            steps_per_epoch,
        };
        let schedule = LrSchedule::new(cfg.schedule, cfg.warmup, total_steps).with_decay(cfg.decay);
        let identity = DataIdentity {
            n_blocks,
            block_len: train.block_len(),
            fingerprint: fingerprint(train),
        };
        let mut state = CheckpointState {
            format: CHECKPOINT_FORMAT,
            step: 0,
            epoch: 0,
            blocks_consumed_in_epoch: 0,
            seed: cfg.seed,
            schedule,
            lr: cfg.lr,
            micro_batch_size: cfg.micro_batch_size,
            grad_accum_steps: cfg.grad_accum_steps,
            train_data: identity,
            tokens_seen: 0,
            train_seconds: 0.0,
            steps: Vec::new(),
            evals: Vec::new(),
            best: None,
            bad_evals_in_row: 0,
            stopped: None,
            config: cfg.clone(),
        };
        let out_dir = cfg.output_dir.as_deref();
        let mut resumed_from = None;
        let mut last_ckpt: Option<PathBuf> = None;
        let mut best_ckpt: Option<PathBuf> = None;
        if cfg.resume {
            if let Some(dir) = out_dir.map(latest_checkpoint).transpose()?.flatten() {
                // A finished run compacted to its final weights (no optimizer state) needs no
                // optimizer: nothing is left to train.
                let peek = super::checkpoint::read_state(&dir)?;
                let finished = peek.step >= total_steps || peek.stopped.is_some();
                let loaded = if finished && !super::checkpoint::has_optimizer_state(&dir) {
                    super::checkpoint::load_weights(
                        model.var_store(),
                        &dir.join("model.safetensors"),
                    )?;
                    peek
                } else {
                    load_checkpoint(&dir, model.var_store(), optimizer)?
                };
                check_resume(&dir, &loaded, &state)?;
                if let (Some((best_step, _)), Some(out)) = (loaded.best, out_dir) {
                    let p = out.join(super::checkpoint::checkpoint_name(best_step));
                    best_ckpt = p.is_dir().then_some(p);
                }
                state = CheckpointState {
                    config: cfg.clone(),
                    ..loaded
                };
                resumed_from = Some(state.step);
                last_ckpt = Some(dir);
            }
        }
        let mut log = match out_dir {
            Some(d) => Some(MetricsLog::open(&d.join("metrics.jsonl"), resumed_from)?),
            None => None,
        };
        let bar = if cfg.progress {
            ProgressBar::new(total_steps as u64)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {pos}/{len} steps  {msg}  eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_position(state.step as u64);

        let started = Instant::now();
        let seconds_before = state.train_seconds;
        let mut order_epoch = usize::MAX;
        let mut order = Vec::new();
        let mut last_saved_step = resumed_from;

        let save = |state: &CheckpointState,
                    model: &dyn CausalLm,
                    optimizer: &AdamW,
                    last_saved_step: &mut Option<usize>,
                    best: bool,
                    last_ckpt: &mut Option<PathBuf>,
                    best_ckpt: &mut Option<PathBuf>|
         -> Result<(), TrainerError> {
            let Some(out) = out_dir else { return Ok(()) };
            let path = if *last_saved_step == Some(state.step) {
                out.join(super::checkpoint::checkpoint_name(state.step))
            } else {
                save_checkpoint(out, model.var_store(), optimizer, state)?
            };
            *last_saved_step = Some(state.step);
            if best {
                *best_ckpt = Some(path.clone());
            }
            *last_ckpt = Some(path);
            prune_checkpoints(out, cfg.keep_last, best_ckpt.as_deref())
        };

        while state.step < total_steps && state.stopped.is_none() {
            let step_started = Instant::now();
            let epoch = state.step / steps_per_epoch;
            if epoch != order_epoch {
                order = epoch_order(n_blocks, cfg.seed, epoch);
                order_epoch = epoch;
            }
            let micro_batches = plan.step_blocks(&order, state.step, cfg.micro_batch_size);
            let n_tokens: usize = micro_batches
                .iter()
                .map(|mb| counted_labels(train, mb, &cfg.ignore_token_ids))
                .sum();
            tch::manual_seed(step_seed(cfg.seed, state.step));
            let mut loss_sum = 0f64;
            let mut input_tokens = 0u64;
            for mb in &micro_batches {
                let (inputs, labels, _) = batch_arrays(train, mb, &cfg.ignore_token_ids);
                input_tokens += inputs.len() as u64;
                if n_tokens == 0 {
                    continue;
                }
                let x = ids_tensor(&inputs, mb.len(), device)?;
                let y = ids_tensor(&labels, mb.len(), device)?;
                let loss = model.summed_target_loss(&x, &y, true);
                let value = loss
                    .f_double_value(&[])
                    .map_err(TrainerError::torch("reading the loss"))?;
                if !value.is_finite() {
                    optimizer.zero_grad();
                    return Err(TrainerError::NonFiniteLoss {
                        step: state.step + 1,
                        loss: value,
                        last_good_checkpoint: last_ckpt,
                    });
                }
                loss_sum += value;
                (loss / n_tokens as f64)
                    .f_backward()
                    .map_err(TrainerError::torch("backward pass"))?;
            }
            let lr = cfg.lr * schedule.factor(state.step);
            let grad_norm = if n_tokens > 0 {
                let norm = optimizer.clip_grad_norm(cfg.max_grad_norm)?;
                if !norm.is_finite() {
                    optimizer.zero_grad();
                    return Err(TrainerError::NonFiniteGradient {
                        step: state.step + 1,
                        norm,
                        last_good_checkpoint: last_ckpt,
                    });
                }
                optimizer.step(lr)?;
                norm
            } else {
                0.0
            };
            optimizer.zero_grad();
            state.step += 1;
            state.epoch = state.step / steps_per_epoch;
            state.blocks_consumed_in_epoch =
                ((state.step % steps_per_epoch) * per_step).min(n_blocks);
            state.tokens_seen += input_tokens;
            state.train_seconds = seconds_before + started.elapsed().as_secs_f64();
            let record = StepRecord {
                step: state.step,
                epoch: state.step as f64 / steps_per_epoch as f64,
                loss: if n_tokens > 0 {
                    loss_sum / n_tokens as f64
                } else {
                    0.0
                },
                lr,
                grad_norm,
                loss_tokens: n_tokens,
                tokens_seen: state.tokens_seen,
            };
            let tps = input_tokens as f64 / step_started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "loss {:.4}  lr {:.2e}  {:.0} tok/s",
                record.loss, lr, tps
            ));
            bar.inc(1);
            if let Some(log) = log.as_mut() {
                log.write(&MetricsEvent::Train {
                    record: record.clone(),
                    tokens_per_second: tps,
                })?;
            }
            state.steps.push(record);

            let last = state.step == total_steps;
            let eval_due = cfg.eval_every.is_some_and(|k| state.step % k == 0) || last;
            let mut new_best = false;
            if let (Some(v), true) = (valid, eval_due) {
                let eval = self.evaluate(model, v)?;
                let p = eval.perplexity;
                let counted_against = cfg.early_stopping.is_some_and(|es| {
                    counts_against(
                        es.rule,
                        es.min_delta,
                        p,
                        state.evals.last().map(|e| e.eval.perplexity),
                        state.best.map(|b| b.1),
                    )
                });
                if !p.is_finite() {
                    bar.println(format!("step {}: validation perplexity {p}", state.step));
                }
                state.bad_evals_in_row = if counted_against {
                    state.bad_evals_in_row + 1
                } else {
                    0
                };
                if p.is_finite() && state.best.is_none_or(|(_, b)| p < b) {
                    state.best = Some((state.step, p));
                    new_best = true;
                }
                let rec = EvalRecord {
                    step: state.step,
                    eval,
                    counted_against,
                };
                bar.println(format!(
                    "step {}: valid loss {:.4}, perplexity {:.3}{}",
                    state.step,
                    rec.eval.loss,
                    p,
                    if new_best { " (best)" } else { "" }
                ));
                if let Some(log) = log.as_mut() {
                    log.write(&MetricsEvent::Eval {
                        record: rec.clone(),
                    })?;
                }
                state.evals.push(rec);
                if let Some(es) = cfg.early_stopping {
                    if state.bad_evals_in_row >= es.patience {
                        let k = state.evals.len();
                        let reason = StopReason::EarlyStopped {
                            step: state.step,
                            patience: es.patience,
                            perplexities: state.evals[k - es.patience..]
                                .iter()
                                .map(|e| e.eval.perplexity)
                                .collect(),
                        };
                        if let Some(log) = log.as_mut() {
                            log.write(&MetricsEvent::EarlyStop {
                                reason: reason.clone(),
                            })?;
                        }
                        state.stopped = Some(reason);
                    }
                }
            }
            let stopping = last || state.stopped.is_some();
            let save_due = cfg.save_every.is_some_and(|k| state.step % k == 0);
            if new_best || save_due || stopping {
                save(
                    &state,
                    &*model,
                    optimizer,
                    &mut last_saved_step,
                    new_best,
                    &mut last_ckpt,
                    &mut best_ckpt,
                )?;
            }
            if stopping {
                break;
            }
        }
        bar.finish_and_clear();
        let report = TrainReport {
            best_step: state.best.map(|b| b.0),
            best_perplexity: state.best.map(|b| b.1),
            best_checkpoint: best_ckpt,
            last_checkpoint: last_ckpt,
            stop_reason: state.stopped.clone().unwrap_or(StopReason::Completed),
            total_steps,
            tokens_seen: state.tokens_seen,
            train_seconds: state.train_seconds,
            resumed_from_step: resumed_from,
            steps: state.steps,
            evals: state.evals,
        };
        if let Some(out) = out_dir {
            write_report(out, &report)?;
        }
        Ok(report)
    }
}

/// Whether validation perplexity `p` counts against the run under `rule`, given the previous
/// evaluation's and the best perplexity so far.
fn counts_against(
    rule: StopRule,
    min_delta: f64,
    p: f64,
    previous: Option<f64>,
    best: Option<f64>,
) -> bool {
    match rule {
        StopRule::Worsens => previous.is_some_and(|prev| p > prev + min_delta),
        StopRule::NoImprovement => best.is_some_and(|b| {
            !matches!(
                p.partial_cmp(&(b - min_delta)),
                Some(std::cmp::Ordering::Less)
            )
        }),
    }
}

fn check_resume(
    dir: &Path,
    ckpt: &CheckpointState,
    fresh: &CheckpointState,
) -> Result<(), TrainerError> {
    let mismatch = |what: &str, a: String, b: String| TrainerError::Checkpoint {
        path: dir.to_path_buf(),
        message: format!("was written with {what} {a}, this run has {b}"),
    };
    if ckpt.train_data != fresh.train_data {
        return Err(mismatch(
            "training data",
            format!("{:?}", ckpt.train_data),
            format!("{:?}", fresh.train_data),
        ));
    }
    if ckpt.seed != fresh.seed {
        return Err(mismatch(
            "seed",
            ckpt.seed.to_string(),
            fresh.seed.to_string(),
        ));
    }
    if (ckpt.micro_batch_size, ckpt.grad_accum_steps)
        != (fresh.micro_batch_size, fresh.grad_accum_steps)
    {
        return Err(mismatch(
            "(micro_batch_size, grad_accum_steps)",
            format!("{:?}", (ckpt.micro_batch_size, ckpt.grad_accum_steps)),
            format!("{:?}", (fresh.micro_batch_size, fresh.grad_accum_steps)),
        ));
    }
    if ckpt.schedule != fresh.schedule {
        return Err(mismatch(
            "schedule",
            format!("{:?}", ckpt.schedule),
            format!("{:?}", fresh.schedule),
        ));
    }
    Ok(())
}

fn write_report(out: &Path, report: &TrainReport) -> Result<(), TrainerError> {
    let path = out.join("report.json");
    let json = odyssey_core::json::to_vec_pretty(report).map_err(|source| TrainerError::Json {
        path: path.clone(),
        source,
    })?;
    odyssey_core::fs::write_atomic(&path, &json).map_err(|source| TrainerError::Write {
        what: "training report",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_rules_count_worsening_or_missing_improvement() {
        // 10 → 12 worsens; 12 → 11 does not worsen but does not beat the best 10.
        assert!(counts_against(
            StopRule::Worsens,
            0.0,
            12.0,
            Some(10.0),
            Some(10.0)
        ));
        assert!(!counts_against(
            StopRule::Worsens,
            0.0,
            11.0,
            Some(12.0),
            Some(10.0)
        ));
        assert!(counts_against(
            StopRule::NoImprovement,
            0.0,
            11.0,
            Some(12.0),
            Some(10.0)
        ));
        assert!(!counts_against(
            StopRule::NoImprovement,
            0.0,
            9.0,
            Some(12.0),
            Some(10.0)
        ));
        // min_delta: small moves count neither way.
        assert!(!counts_against(
            StopRule::Worsens,
            0.5,
            10.3,
            Some(10.0),
            Some(10.0)
        ));
        assert!(counts_against(
            StopRule::NoImprovement,
            0.5,
            9.8,
            Some(10.0),
            Some(10.0)
        ));
        // The first evaluation never counts; NaN counts as no improvement.
        assert!(!counts_against(StopRule::Worsens, 0.0, 50.0, None, None));
        assert!(counts_against(
            StopRule::NoImprovement,
            0.0,
            f64::NAN,
            None,
            Some(10.0)
        ));
    }

    #[test]
    fn steps_take_consecutive_slices_of_the_epoch_order() {
        let plan = Plan {
            n_blocks: 10,
            per_step: 4,
            steps_per_epoch: 3,
        };
        let order: Vec<usize> = (0..10).rev().collect();
        assert_eq!(plan.step_blocks(&order, 0, 3), vec![vec![9, 8, 7], vec![6]]);
        assert_eq!(plan.step_blocks(&order, 2, 3), vec![vec![1, 0]]);
        assert_eq!(plan.step_blocks(&order, 4, 2), vec![vec![5, 4], vec![3, 2]]);
        assert_ne!(step_seed(1, 0), step_seed(1, 1));
        assert_ne!(step_seed(1, 0), step_seed(2, 0));
    }
}
