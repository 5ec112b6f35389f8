//! Pre-flight: a verdict *before* the full continued pretraining is paid for.
//!
//! Per domain: what the study measures before training (similarity, the base's test perplexity
//! and its token profile), then a **pilot** — continued pretraining on the first share of the
//! planned run's steps (`preflight.pilot_share`), on the same data order, batch and peak
//! learning rate, with dense validation — whose curve fits the loss law of
//! [`odyssey_perplexity::forecast`] (the scaling law with learning-rate annealing, shifted
//! for continued pretraining). The law, evaluated at every step of the *planned* schedule,
//! predicts the full run's validation curve and final loss with an interval; the test
//! perplexity is predicted by the same relative change, and its interval also holds the error
//! of that transfer, measured by the pilot's own pass over the test split ([`transfer_sd`]).
//! The pilot's validation passes shrink so that it costs at most `preflight.max_share` of the
//! planned run's training compute ([`validation_budget`]), and the pilot itself is shortened
//! when even one block per pass would break that cap ([`pilot_steps`]). The verdict is decided
//! from the predicted numbers with the study's own rules, and again at points across the
//! interval: it is *settled* when all of them make the same call ([`VerdictSpread`]). The
//! pilot's token-level decomposition of the test split says which tokens already get worse.
//!
//! The pilot has its own schedule: a pilot made of the planned run's first tenth would be all
//! warm-up (10 % warm-up) and carry no information about the rest. It warms up over its own
//! first tenth, holds the peak, and decays linearly to 0 over its last `decay_share`, so its
//! curve shows both the forward term and the annealing term of the law; the law maps it to
//! the planned schedule through the areas under the two learning-rate curves.

use crate::adapt::blocks;
use crate::config::{StudyConfig, TrainingSettings};
use crate::domain::{relative_change_pct, DecompositionRecord};
use crate::error::{Result, StudyError};
use crate::verdict::{decide, Decision, Verdict, VerdictInputs};
use odyssey_perplexity::forecast::{
    forecast, pilot_scale_to_exclude, CurvePoint, Forecast, LongerPilot, DEFAULT_DECAY,
};
use odyssey_train::trainer::{
    AdamWConfig, Duration, LrSchedule, ScheduleKind, Trainer, TrainerConfig, Warmup,
};
use odyssey_train::{AnyModel, CausalLm};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The planned run's length, as [`crate::adapt::continue_pretraining`] will train it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlannedRun {
    /// Optimizer steps.
    pub steps: usize,
    /// Warm-up steps.
    pub warmup_steps: usize,
    /// Training tokens.
    pub tokens: usize,
}

/// Steps, warm-up and tokens of the run `settings` plan on `train` for `model`.
pub fn planned_run(
    model: &AnyModel,
    train: &[u32],
    settings: &TrainingSettings,
) -> Result<PlannedRun> {
    let block = settings.block_size.min(model.max_positions());
    let b = blocks(train, block, settings.max_train_tokens)?;
    let per_epoch = (b.tokens().len() / block)
        .div_ceil(settings.batch_size)
        .max(1);
    let steps = ((settings.epochs * per_epoch as f64).ceil() as usize).max(1);
    let warmup_steps = Warmup::Ratio(settings.warmup_ratio).steps(steps);
    Ok(PlannedRun {
        steps,
        warmup_steps,
        tokens: steps * settings.batch_size * block,
    })
}

/// What the pilot did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PilotRecord {
    /// Optimizer steps.
    pub steps: usize,
    /// Training tokens.
    pub tokens: usize,
    /// Its schedule, in words.
    pub schedule: String,
    /// Learning rate of each step.
    pub lrs: Vec<f64>,
    /// Validation loss (step 0 = the base) at every evaluation.
    pub curve: Vec<CurvePoint>,
    /// Training loss of every step, on batches the model had not seen (one pass over the
    /// planned run's first blocks): a free, noisier curve beside the validation one.
    #[serde(default)]
    pub train_losses: Vec<f64>,
    /// Validation tokens per evaluation.
    pub valid_tokens: usize,
    /// Tokens scored by all evaluations.
    pub eval_tokens: usize,
    /// Wall-clock seconds of the pilot's training and evaluations.
    pub seconds: f64,
}

/// The base model's test NLL by token category (the token-level profile measured before
/// training).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryProfile {
    /// Category name.
    pub category: String,
    /// Test positions in it.
    pub positions: usize,
    /// Mean NLL of its positions under the base.
    pub mean_nll: f64,
    /// Its share of the base's total test NLL.
    pub share_of_nll: f64,
}

/// The profile of `scores` by the default categories.
pub fn category_profile(
    scores: &odyssey_perplexity::ScoredCorpus,
    tokenizer: &dyn odyssey_core::TokenizerHandle,
) -> Vec<CategoryProfile> {
    let cat = odyssey_perplexity::Categorizer::default();
    let mut by: std::collections::BTreeMap<&'static str, (usize, f64)> = Default::default();
    let mut total = 0.0;
    for (&id, &nll) in scores.token_ids().iter().zip(scores.nlls()) {
        let c = cat.classify(id, &tokenizer.token_text(id).unwrap_or_default());
        let e = by.entry(c.as_str()).or_default();
        e.0 += 1;
        e.1 += f64::from(nll);
        total += f64::from(nll);
    }
    by.into_iter()
        .map(|(category, (n, sum))| CategoryProfile {
            category: category.to_string(),
            positions: n,
            mean_nll: sum / n.max(1) as f64,
            share_of_nll: if total > 0.0 { sum / total } else { 0.0 },
        })
        .collect()
}

/// The pre-flight prediction of one domain, made before its full run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightRecord {
    /// Domain name.
    pub name: String,
    /// Fingerprint of the settings and inputs.
    pub fingerprint: String,
    /// Seconds since the Unix epoch when the prediction was made (before the full run).
    pub made_at_unix: u64,
    /// Similarity to the pretraining corpus (measured here when no full run follows; the full
    /// run's record has it otherwise).
    pub similarity: Option<crate::domain::SimilarityRecord>,
    /// The base's test NLL by token category.
    pub base_profile: Vec<CategoryProfile>,
    /// The run it stands for.
    pub planned: PlannedRun,
    /// The pilot.
    pub pilot: PilotRecord,
    /// The fitted law and its prediction of the final validation loss.
    pub forecast: Forecast,
    /// The predicted validation perplexity at every planned step (index = step − 1).
    pub predicted_valid_ppl: Vec<f64>,
    /// The base's test perplexity.
    pub base_test_ppl: f64,
    /// Predicted test perplexity at the end of the planned run, with its interval (the
    /// forecast's interval joined with the Student-t interval of the extrapolation and
    /// transfer errors together).
    pub predicted_test_ppl: (f64, f64, f64),
    /// The error of carrying the predicted validation change over to the test split, as a
    /// standard deviation in nats ([`transfer_sd`]).
    #[serde(default)]
    pub transfer_sd: f64,
    /// Predicted change in %, with its interval.
    pub predicted_delta_pct: (f64, f64, f64),
    /// The pilot model's change on the test split, token by token.
    pub pilot_decomposition: DecompositionRecord,
    /// The verdict from the predicted numbers.
    pub verdict: Verdict,
    /// How settled the verdict is across the predicted interval (none in reports written
    /// before it was measured).
    #[serde(default)]
    pub spread: Option<VerdictSpread>,
    /// The pilot's compute as a share of the planned run's training compute: its training
    /// tokens plus a third of its evaluation tokens (a forward pass is about a third of a
    /// training step), over the planned training tokens.
    pub compute_share: f64,
    /// `compute_share` plus the pilot model's pass over the test split (the token
    /// decomposition of the pilot), also counted as a third of a training token each: all the
    /// pre-flight spends beyond what the study measures before training anyway.
    #[serde(default, with = "odyssey_core::json::float")]
    pub total_share: f64,
}

/// Settings of the pilot derived from the plan.
fn pilot_config(
    settings: &TrainingSettings,
    config: &StudyConfig,
    planned: &PlannedRun,
    block: usize,
    out: &Path,
) -> (TrainerConfig, usize, usize) {
    let p = &config.preflight;
    let (steps, every) = pilot_steps(planned, p.pilot_share, p.evals, block, p.max_share);
    let cfg = TrainerConfig {
        lr: settings.lr,
        adamw: AdamWConfig {
            weight_decay: settings.weight_decay,
            ..AdamWConfig::default()
        },
        schedule: ScheduleKind::WarmupStableDecay,
        warmup: Warmup::Ratio(0.1),
        decay: Warmup::Ratio(p.decay_share),
        micro_batch_size: settings.batch_size,
        max_grad_norm: Some(settings.max_grad_norm),
        duration: Duration::Steps(steps),
        seed: config.seed,
        eval_every: Some(every),
        eval_batch_size: settings.batch_size,
        output_dir: Some(out.to_path_buf()),
        save_every: Some(every),
        keep_last: 1,
        resume: true,
        threads: (config.threads > 0).then_some(config.threads),
        progress: true,
        ..TrainerConfig::default()
    };
    (cfg, steps, every)
}

/// The pilot's length and validation interval: `pilot_share` of the planned steps (at least
/// 3), validated about `evals` times — and fewer steps when even one validation block of
/// `block` tokens per pass would push the pilot past `max_share` of the planned run's
/// training compute (a very short planned run; never fewer than 3 steps, whose share the
/// report then shows).
pub fn pilot_steps(
    planned: &PlannedRun,
    pilot_share: f64,
    evals: usize,
    block: usize,
    max_share: f64,
) -> (usize, usize) {
    let every_of = |steps: usize| (steps / evals.max(1)).max(1);
    let per_step = planned.tokens / planned.steps.max(1);
    let share = |steps: usize| {
        let passes = eval_points(steps, every_of(steps));
        compute_share(planned, steps * per_step, passes * block)
    };
    let mut steps =
        ((planned.steps as f64 * pilot_share).round() as usize).clamp(3, planned.steps.max(3));
    while steps > 3 && share(steps) > max_share {
        steps -= 1;
    }
    (steps, every_of(steps))
}

/// What `train_tokens` of training and `eval_tokens` scored by forward passes cost as a share
/// of the planned run's training compute: a forward pass is about a third of a training step
/// (forward + backward ≈ 3 forwards), so an evaluation token counts a third.
pub fn compute_share(planned: &PlannedRun, train_tokens: usize, eval_tokens: usize) -> f64 {
    (train_tokens as f64 + eval_tokens as f64 / 3.0) / planned.tokens.max(1) as f64
}

/// Curve points of a pilot of `steps` validated every `every` steps: the base (step 0), every
/// multiple of `every`, and the last step.
pub fn eval_points(steps: usize, every: usize) -> usize {
    let every = every.max(1);
    1 + steps / every + usize::from(steps % every != 0)
}

/// Validation tokens per pilot evaluation: `want`, or fewer whole blocks of `block` (at least
/// one) when `points` passes of it at a third of a training token each would push the pilot of
/// `steps` steps past `max_share` of the planned run's training tokens.
pub fn validation_budget(
    planned: &PlannedRun,
    steps: usize,
    points: usize,
    block: usize,
    want: usize,
    max_share: f64,
) -> usize {
    let per_step = planned.tokens as f64 / planned.steps.max(1) as f64;
    let spare = max_share * planned.tokens as f64 - steps as f64 * per_step;
    let per_pass = (3.0 * spare / points.max(1) as f64).max(0.0);
    let block = block.max(1);
    let fit = ((per_pass / block as f64).floor() as usize).max(1) * block;
    want.min(fit).max(block.min(want))
}

/// How much wider the change of the test split can be than the validation change the law
/// predicts, as a standard deviation in nats: the pilot measures both changes at its end
/// (`pilot_valid_delta`, on its validation sample, and `pilot_test_delta`, on the test
/// split); their difference, scaled by how much larger the predicted change is (at most by the
/// ratio of forward areas), is the error of carrying the one over to the other.
pub fn transfer_sd(forecast: &Forecast, pilot_valid_delta: f64, pilot_test_delta: f64) -> f64 {
    let ratio = if forecast.pilot_area > 0.0 {
        (forecast.planned_area / forecast.pilot_area).max(1.0)
    } else {
        1.0
    };
    let predicted = (forecast.final_loss - forecast.law.l_start).abs();
    let scale = if pilot_valid_delta.abs() > 0.0 {
        (predicted / pilot_valid_delta.abs()).min(ratio)
    } else {
        ratio
    };
    let sd = (pilot_test_delta - pilot_valid_delta).abs() * scale;
    if sd.is_finite() {
        sd
    } else {
        0.0
    }
}

/// `want` tokens of whole blocks of `block` spread evenly over the first `window` tokens of
/// `valid` (0: all of them; `want` 0: every block): the pilot validates on a sample of the very
/// tokens the full run validates on, not on their beginning, which in a domain of long
/// documents is the opening of one document.
pub fn spread_blocks(valid: &[u32], block: usize, window: usize, want: usize) -> Vec<u32> {
    let block = block.max(1);
    let n = if window > 0 {
        valid.len().min(window.max(block))
    } else {
        valid.len()
    };
    let total = n / block;
    if total == 0 {
        return valid[..n].to_vec();
    }
    let k = if want == 0 {
        total
    } else {
        (want / block).clamp(1, total)
    };
    (0..k)
        .flat_map(|i| {
            let b = i * total / k;
            valid[b * block..(b + 1) * block].iter().copied()
        })
        .collect()
}

/// Train the pilot on `model` (in place) and fit the law; returns the pilot, the forecast and
/// the predicted validation perplexity per planned step.
pub fn run_pilot(
    model: &mut AnyModel,
    train: &[u32],
    valid: &[u32],
    config: &StudyConfig,
    checkpoint_dir: &Path,
    name: &str,
) -> Result<(PlannedRun, PilotRecord, Forecast, Vec<f64>)> {
    let settings = &config.training;
    let planned = planned_run(model, train, settings)?;
    let block = settings.block_size.min(model.max_positions());
    let train_blocks = blocks(train, block, settings.max_train_tokens)?;
    let (cfg, steps, every) = pilot_config(settings, config, &planned, block, checkpoint_dir);
    let valid_sample = spread_blocks(
        valid,
        block,
        settings.max_valid_tokens,
        validation_budget(
            &planned,
            steps,
            eval_points(steps, every),
            block,
            config.preflight.valid_tokens,
            config.preflight.max_share,
        ),
    );
    let valid_blocks = blocks(&valid_sample, block, 0)?;
    let schedule = format!(
        "warm-up {} steps, peak lr {:.0e}, linear decay over the last {} of {steps} steps; validation every {every} steps",
        Warmup::Ratio(0.1).steps(steps),
        settings.lr,
        Warmup::Ratio(config.preflight.decay_share).steps(steps)
    );
    let trainer = Trainer::new(cfg);
    let stage = |what: &str| format!("{name}: pre-flight {what}");
    let start = trainer
        .evaluate(model, &valid_blocks)
        .map_err(|e| StudyError::stage(stage("validation of the base"), e))?;
    let report = trainer
        .fit(model, &train_blocks, Some(&valid_blocks))
        .map_err(|e| StudyError::stage(stage("pilot"), e))?;
    let mut curve = vec![CurvePoint {
        step: 0,
        loss: start.loss,
    }];
    curve.extend(report.evals.iter().map(|e| CurvePoint {
        step: e.step,
        loss: e.eval.loss,
    }));
    let lrs: Vec<f64> = report.steps.iter().map(|s| s.lr).collect();
    let planned_schedule = LrSchedule::new(
        ScheduleKind::Linear,
        Warmup::Ratio(settings.warmup_ratio),
        planned.steps,
    );
    let planned_lrs: Vec<f64> = (0..planned.steps)
        .map(|s| settings.lr * planned_schedule.factor(s))
        .collect();
    let f = forecast(
        &curve,
        &lrs,
        &planned_lrs,
        settings.lr,
        DEFAULT_DECAY,
        config.preflight.level,
        config.preflight.bootstrap,
        config.seed,
    )
    .map_err(|e| StudyError::Invalid(format!("{name}: pre-flight forecast: {e}")))?;
    let areas = odyssey_perplexity::forecast::areas(&planned_lrs, settings.lr, DEFAULT_DECAY);
    let predicted_valid_ppl = areas
        .s1
        .iter()
        .zip(&areas.s2)
        .map(|(&a, &b)| f.law.loss(a, b).exp())
        .collect();
    let eval_tokens = curve.len() * valid_blocks.tokens().len();
    let pilot = PilotRecord {
        steps,
        tokens: report.tokens_seen as usize,
        schedule,
        lrs,
        curve,
        train_losses: report.steps.iter().map(|s| s.loss).collect(),
        valid_tokens: valid_blocks.tokens().len(),
        eval_tokens,
        seconds: report.train_seconds,
    };
    Ok((planned, pilot, f, predicted_valid_ppl))
}

/// The pre-flight verdict from predicted numbers: the study's rules with the predicted test
/// perplexity, the predicted validation curve (its best and last points) and the pilot's
/// token decomposition extrapolated by the predicted change.
pub fn preflight_verdict(
    base_test_ppl: f64,
    predicted_test_ppl: f64,
    valid_start_ppl: f64,
    predicted_valid_ppl: &[f64],
    pilot: &DecompositionRecord,
    pilot_test_ppl: f64,
    config: &StudyConfig,
) -> Verdict {
    // The filtered perplexity moves by the pilot's filtered change, scaled to the predicted
    // total change (in log space).
    let scale = {
        let pilot_log = (pilot_test_ppl / base_test_ppl).ln();
        let pred_log = (predicted_test_ppl / base_test_ppl).ln();
        if pilot_log.abs() > 1e-9 {
            pred_log / pilot_log
        } else {
            1.0
        }
    };
    let filtered_pred = pilot.base_ppl_filtered
        * (pilot.adapted_ppl_filtered / pilot.base_ppl_filtered).powf(scale);
    let (best_step, best) = predicted_valid_ppl
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, &v)| (i + 1, v))
        .unwrap_or((0, f64::NAN));
    let end = predicted_valid_ppl.last().copied().unwrap_or(f64::NAN);
    let mut v = decide(
        &VerdictInputs {
            base_ppl: base_test_ppl,
            adapted_ppl: predicted_test_ppl,
            base_ppl_filtered: pilot.base_ppl_filtered,
            adapted_ppl_filtered: filtered_pred,
            filtered_set: pilot.filtered_set.clone(),
            filtered_share: pilot.filtered_positions as f64 / pilot.positions.max(1) as f64,
            valid_ppl_start: valid_start_ppl,
            valid_ppl_best: (best, best_step),
            valid_ppl_end: (end, predicted_valid_ppl.len()),
            early_stop_step: None,
            top_degrading: (
                pilot.top_degrading_share_of_losses,
                pilot
                    .top_degrading
                    .iter()
                    .take(5)
                    .map(|t| crate::summary::show_token(&t.text))
                    .collect(),
            ),
        },
        &config.verdict,
    );
    v.evidence[0] = format!(
        "predicted test perplexity {:.2} → {:.2} ({:+.1} %) at the end of the planned run",
        base_test_ppl,
        predicted_test_ppl,
        relative_change_pct(base_test_ppl, predicted_test_ppl)
    );
    v
}

/// Whether two decisions agree on what to do: adapt (in any form) or not.
pub fn same_call(a: Decision, b: Decision) -> bool {
    (a == Decision::DontAdapt) == (b == Decision::DontAdapt)
}

/// Test perplexities across the interval at which the verdict is decided again.
pub const SPREAD_POINTS: usize = 33;

/// How settled a pre-flight verdict is: the study's rules applied again across the predicted
/// test perplexity's interval ([`SPREAD_POINTS`] test perplexities evenly spaced in log space
/// from its lower to its upper end: the rules are not monotone in perplexity — a small gain is "don't adapt", a
/// small loss with a filtered gain "adapt with token filtering" — so the ends alone do not
/// say). A verdict is *settled* when every one of them makes the point prediction's call
/// (adapt or not, [`same_call`]); an unsettled one is the pilot saying it cannot tell, and
/// that a longer pilot (`preflight.pilot_share`) is what narrows the interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VerdictSpread {
    /// The interval's level.
    pub level: f64,
    /// The decision if the test perplexity ends at the interval's lower end.
    pub at_lower: Decision,
    /// The decision if it ends at the interval's upper end.
    pub at_upper: Decision,
    /// The test perplexity nearest to the point prediction, inside the interval, at which the
    /// rules make the other call, and that decision (none: settled).
    pub dissent: Option<(f64, Decision)>,
    /// Whether every point of the interval makes the point prediction's call.
    pub settled: bool,
    /// For an unsettled verdict, how much longer a pilot would have to be for its interval to
    /// leave the dissenting perplexity out, by the pilot's own error model
    /// ([`pilot_scale_to_exclude`]); none when settled or when the errors were not given.
    #[serde(default)]
    pub longer_pilot: Option<LongerPilot>,
    /// That pilot's share of the planned run's steps (the measured pilot's share × the
    /// scale), when one shorter than the run would do.
    #[serde(default)]
    pub settling_share: Option<f64>,
}

/// Degrees of freedom of the test perplexity's t interval: one per measured error sample, the
/// backtests and the transfer.
pub fn test_interval_dof(forecast: &Forecast) -> usize {
    forecast.backtests.len() + 1
}

/// What a pilot measured about its own errors, from which an unsettled verdict learns how
/// much longer a pilot would settle it ([`VerdictSpread::with_longer_pilot`]).
#[derive(Debug, Clone, Copy)]
pub struct PilotErrors<'a> {
    /// The pilot's forecast (its backtests and forward areas).
    pub forecast: &'a Forecast,
    /// The transfer error ([`transfer_sd`]).
    pub transfer_sd: f64,
    /// The measured pilot's share of the planned run's steps.
    pub pilot_share: f64,
}

impl VerdictSpread {
    /// The spread of the point prediction's `(test perplexity, decision)`, from the
    /// decisions `decided` at test perplexities across the interval (lower end first, upper
    /// end last).
    pub fn new(level: f64, point: (f64, Decision), decided: &[(f64, Decision)]) -> Self {
        let (point_ppl, point) = point;
        let distance = |p: f64| (p.ln() - point_ppl.ln()).abs();
        let dissent = decided
            .iter()
            .filter(|(_, d)| !same_call(point, *d))
            .min_by(|a, b| distance(a.0).total_cmp(&distance(b.0)))
            .copied();
        Self {
            level,
            at_lower: decided.first().map_or(point, |d| d.1),
            at_upper: decided.last().map_or(point, |d| d.1),
            dissent,
            settled: dissent.is_none(),
            longer_pilot: None,
            settling_share: None,
        }
    }

    /// The spread with, when unsettled, how much longer a pilot would settle it: the shortest
    /// pilot whose interval leaves out the dissenting test perplexity `dissent`, `point_ppl`
    /// being the point prediction.
    pub fn with_longer_pilot(mut self, point_ppl: f64, errors: PilotErrors<'_>) -> Self {
        if let Some((ppl, _)) = self.dissent {
            if ppl > 0.0 && point_ppl > 0.0 {
                let longer = match pilot_scale_to_exclude(
                    errors.forecast,
                    errors.transfer_sd,
                    test_interval_dof(errors.forecast),
                    (ppl / point_ppl).ln(),
                ) {
                    // A pilot as long as the run is the run.
                    LongerPilot::Scale(k) if errors.pilot_share * k >= 1.0 => {
                        LongerPilot::NotBeforeTheRun
                    }
                    other => other,
                };
                self.settling_share = match longer {
                    LongerPilot::Scale(k) => Some(errors.pilot_share * k),
                    _ => None,
                };
                self.longer_pilot = Some(longer);
            }
        }
        self
    }

    /// One sentence of evidence: settled, or where in the interval the rules make the other
    /// call.
    pub fn evidence(&self, interval: (f64, f64)) -> String {
        let level = 100.0 * self.level;
        match self.dissent {
            None => format!(
                "settled: the same call across the {level:.0} % interval (test perplexity {:.2}–{:.2})",
                interval.0, interval.1
            ),
            Some((ppl, decision)) => format!(
                "unsettled: at test perplexity {ppl:.2}, inside the {level:.0} % interval ({:.2}–{:.2}), the rules say \"{}\"; {}",
                interval.0,
                interval.1,
                decision.label(),
                self.longer_pilot_sentence()
            ),
        }
    }

    /// What a longer pilot would do for an unsettled verdict, in words.
    pub fn longer_pilot_sentence(&self) -> String {
        match (self.longer_pilot, self.settling_share) {
            (Some(LongerPilot::Scale(k)), Some(share)) => format!(
                "by the pilot's own error model a pilot of {:.0} % of the run ({k:.1} × this one, preflight.pilot_share) would settle it",
                100.0 * share
            ),
            (Some(LongerPilot::NotBeforeTheRun), _) => "by the pilot's own error model no pilot shorter than the run settles it: the validation-to-test transfer error alone reaches that far (a longer pilot measures that error again, and a short pilot's measure of it is itself noisy)".into(),
            (Some(LongerPilot::Unmeasured), _) => "the pilot is too short to measure its own extrapolation error, so what a longer pilot (preflight.pilot_share) would settle is not known".into(),
            _ => "a longer pilot (preflight.pilot_share) narrows the interval".into(),
        }
    }
}

/// The pre-flight verdict at the point prediction and across its interval
/// `predicted_test_ppl = (point, lower, upper)`: the verdict (with the spread's sentence as
/// its last evidence) and the spread. The predicted validation curve moves with each test
/// perplexity by the same ratio. With the pilot's `errors`, an unsettled spread says how much
/// longer a pilot would settle it.
#[allow(clippy::too_many_arguments)]
pub fn preflight_verdict_with_spread(
    base_test_ppl: f64,
    predicted_test_ppl: (f64, f64, f64),
    valid_start_ppl: f64,
    predicted_valid_ppl: &[f64],
    pilot: &DecompositionRecord,
    pilot_test_ppl: f64,
    config: &StudyConfig,
    errors: Option<PilotErrors<'_>>,
) -> (Verdict, VerdictSpread) {
    let (point, lower, upper) = predicted_test_ppl;
    let verdict_at = |ppl: f64| {
        let r = if point > 0.0 { ppl / point } else { 1.0 };
        let curve: Vec<f64> = predicted_valid_ppl.iter().map(|v| v * r).collect();
        preflight_verdict(
            base_test_ppl,
            ppl,
            valid_start_ppl,
            &curve,
            pilot,
            pilot_test_ppl,
            config,
        )
    };
    let mut verdict = verdict_at(point);
    let decided: Vec<(f64, Decision)> = if lower > 0.0 && upper >= lower && upper.is_finite() {
        (0..SPREAD_POINTS)
            .map(|i| {
                let t = i as f64 / (SPREAD_POINTS - 1) as f64;
                let ppl = (lower.ln() + t * (upper.ln() - lower.ln())).exp();
                (ppl, verdict_at(ppl).decision)
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut spread =
        VerdictSpread::new(config.preflight.level, (point, verdict.decision), &decided);
    if let Some(errors) = errors {
        spread = spread.with_longer_pilot(point, errors);
    }
    verdict.evidence.push(spread.evidence((lower, upper)));
    (verdict, spread)
}

/// One domain's prediction next to its full run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightOutcome {
    /// Domain name.
    pub name: String,
    /// Predicted final test perplexity and its interval.
    pub predicted_test_ppl: (f64, f64, f64),
    /// The full run's test perplexity.
    pub actual_test_ppl: f64,
    /// Whether the interval covers it.
    pub covered: bool,
    /// `|predicted − actual| / actual`.
    pub abs_rel_error: f64,
    /// Predicted and actual Δppl %.
    pub delta_pct: (f64, f64),
    /// Predicted and actual decision (the full run's before any mitigation).
    pub decision: (Decision, Decision),
    /// Whether they agree on adapt / don't adapt.
    pub agree: bool,
    /// Whether the pre-flight verdict was settled across its interval ([`VerdictSpread`]);
    /// true for reports written before the spread was measured.
    #[serde(default = "settled_by_default")]
    pub settled: bool,
    /// The pilot's share of the full run's training compute.
    pub compute_share: f64,
    /// With the pilot's pass over the test split (see [`PreflightRecord::total_share`]).
    #[serde(default, with = "odyssey_core::json::float")]
    pub total_share: f64,
}

fn settled_by_default() -> bool {
    true
}

/// The predictions against the full runs, with the figures the acceptance asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightComparison {
    /// Per domain.
    pub outcomes: Vec<PreflightOutcome>,
    /// Median `|predicted − actual| / actual` of the final test perplexity.
    pub median_abs_rel_error: f64,
    /// Share of outcomes the intervals cover.
    pub coverage: f64,
    /// The intervals' level.
    pub level: f64,
    /// Spearman ρ between predicted and actual Δppl % (with fewer than 3 domains: none).
    pub spearman: Option<f64>,
    /// Share of domains whose verdicts agree.
    pub agreement: f64,
    /// Share of domains whose pre-flight verdict was settled across its interval.
    #[serde(default, with = "odyssey_core::json::float")]
    pub settled_share: f64,
    /// Share of the settled verdicts that agree with the full run (none when no verdict was
    /// settled).
    #[serde(default)]
    pub settled_agreement: Option<f64>,
    /// Largest pilot compute share.
    pub max_compute_share: f64,
    /// Largest total share (the pilot's test-split pass included).
    #[serde(default, with = "odyssey_core::json::float")]
    pub max_total_share: f64,
}

/// Set each prediction of `pre` against the full run of the same domain in `results`.
pub fn compare(
    pre: &[PreflightRecord],
    results: &[crate::domain::DomainResult],
    level: f64,
) -> Option<PreflightComparison> {
    let outcomes: Vec<PreflightOutcome> = pre
        .iter()
        .filter_map(|p| {
            let d = results.iter().find(|d| d.name == p.name)?;
            let actual = d.adapted.token_ppl;
            let (pred, lo, hi) = p.predicted_test_ppl;
            let actual_decision = d.plain_decision.unwrap_or(d.verdict.decision);
            Some(PreflightOutcome {
                name: p.name.clone(),
                predicted_test_ppl: p.predicted_test_ppl,
                actual_test_ppl: actual,
                covered: lo <= actual && actual <= hi,
                abs_rel_error: (pred - actual).abs() / actual,
                delta_pct: (p.predicted_delta_pct.0, d.delta_ppl_pct()),
                decision: (p.verdict.decision, actual_decision),
                agree: same_call(p.verdict.decision, actual_decision),
                settled: p.spread.is_none_or(|v| v.settled),
                compute_share: p.compute_share,
                total_share: p.total_share,
            })
        })
        .collect();
    if outcomes.is_empty() {
        return None;
    }
    let n = outcomes.len() as f64;
    let mut errors: Vec<f64> = outcomes.iter().map(|o| o.abs_rel_error).collect();
    errors.sort_by(|a, b| a.total_cmp(b));
    let median = if errors.len() % 2 == 1 {
        errors[errors.len() / 2]
    } else {
        0.5 * (errors[errors.len() / 2 - 1] + errors[errors.len() / 2])
    };
    let spearman = (outcomes.len() >= 3)
        .then(|| {
            let xs: Vec<f64> = outcomes.iter().map(|o| o.delta_pct.0).collect();
            let ys: Vec<f64> = outcomes.iter().map(|o| o.delta_pct.1).collect();
            odyssey_similarity::stats::correlation_test(
                odyssey_similarity::stats::CorrelationMethod::Spearman,
                &xs,
                &ys,
                &odyssey_similarity::stats::InferenceConfig {
                    bootstrap_replicates: 0,
                    permutations: 0,
                    level: 0.95,
                    seed: 0,
                },
            )
            .ok()
            .map(|t| t.coefficient.estimate)
        })
        .flatten();
    Some(PreflightComparison {
        median_abs_rel_error: median,
        coverage: outcomes.iter().filter(|o| o.covered).count() as f64 / n,
        level,
        spearman,
        agreement: outcomes.iter().filter(|o| o.agree).count() as f64 / n,
        settled_share: outcomes.iter().filter(|o| o.settled).count() as f64 / n,
        settled_agreement: {
            let settled: Vec<&PreflightOutcome> = outcomes.iter().filter(|o| o.settled).collect();
            (!settled.is_empty())
                .then(|| settled.iter().filter(|o| o.agree).count() as f64 / settled.len() as f64)
        },
        max_compute_share: outcomes.iter().map(|o| o.compute_share).fold(0.0, f64::max),
        max_total_share: outcomes.iter().map(|o| o.total_share).fold(0.0, f64::max),
        outcomes,
    })
}

#[cfg(test)]
mod tests {
    use super::{
        eval_points, pilot_steps, spread_blocks, transfer_sd, validation_budget, PilotErrors,
        PlannedRun, VerdictSpread,
    };
    use odyssey_perplexity::forecast::{Forecast, LossLaw};

    #[test]
    fn the_validation_passes_fit_in_the_pilots_budget() {
        // 83 steps of 2,048 tokens; a 7-step pilot validated 8 times.
        let planned = PlannedRun {
            steps: 83,
            warmup_steps: 8,
            tokens: 83 * 2048,
        };
        assert_eq!(eval_points(7, 1), 8);
        assert_eq!(eval_points(46, 4), 13);
        let v = validation_budget(&planned, 7, 8, 256, 2048, 0.1);
        assert_eq!(v % 256, 0);
        assert!((256..2048).contains(&v), "{v}");
        let share = (7.0 * 2048.0 + 8.0 * v as f64 / 3.0) / planned.tokens as f64;
        assert!(share <= 0.1, "{share}");
        // A long run has room for all of it; a pilot already at the cap keeps one block.
        let long = PlannedRun {
            steps: 5000,
            warmup_steps: 500,
            tokens: 5000 * 2048,
        };
        assert_eq!(validation_budget(&long, 400, 11, 256, 2048, 0.1), 2048);
        assert_eq!(validation_budget(&planned, 8, 9, 256, 2048, 0.09), 256);
    }

    #[test]
    fn a_verdict_is_settled_only_when_the_whole_interval_makes_its_call() {
        use crate::verdict::Decision::{
            Adapt, AdaptWithLowerLr, AdaptWithTokenFiltering, DontAdapt,
        };
        let settled = VerdictSpread::new(
            0.8,
            (100.0, Adapt),
            &[(90.0, AdaptWithLowerLr), (110.0, Adapt)],
        );
        assert!(settled.settled, "lower lr is still a call to adapt");
        assert!(settled.evidence((90.0, 110.0)).starts_with("settled"));
        // Both ends adapt, the middle does not: unsettled, and the dissent nearest the point.
        let middle = VerdictSpread::new(
            0.8,
            (111.5, Adapt),
            &[
                (101.1, Adapt),
                (108.0, Adapt),
                (113.0, DontAdapt),
                (116.0, DontAdapt),
                (122.97, AdaptWithTokenFiltering),
            ],
        );
        assert!(!middle.settled);
        assert_eq!(middle.dissent, Some((113.0, DontAdapt)));
        assert_eq!(
            (middle.at_lower, middle.at_upper),
            (Adapt, AdaptWithTokenFiltering)
        );
        let e = middle.evidence((101.1, 122.97));
        assert!(
            e.starts_with("unsettled: at test perplexity 113.00") && e.contains("don't adapt"),
            "{e}"
        );
        // Nothing decided (a degenerate interval): settled by the point alone.
        assert!(VerdictSpread::new(0.8, (100.0, DontAdapt), &[]).settled);
    }

    #[test]
    fn an_unsettled_verdict_says_what_pilot_would_settle_it() {
        use crate::verdict::Decision::{Adapt, DontAdapt};
        use odyssey_perplexity::forecast::{Backtest, LongerPilot};
        // Extrapolation sd 0.1 nats over a planned area 10 times the pilot's; t(0.9, 2) =
        // 1.886. A dissent 0.1 nats away needs sd ≤ 0.0530: with a transfer error of 0.02 the
        // extrapolation error must shrink to 0.0491, i.e. (100 − 10k)/90 = 0.491, k = 5.58.
        let f = Forecast {
            final_loss: 4.8,
            interval: (4.5, 5.1),
            bootstrap_interval: (4.79, 4.81),
            backtests: vec![Backtest {
                points: 5,
                error: 0.01,
                scaled: 0.1,
            }],
            extrapolation_sd: 0.1,
            ..pilot_forecast()
        };
        let errors = |transfer_sd: f64, pilot_share: f64| PilotErrors {
            forecast: &f,
            transfer_sd,
            pilot_share,
        };
        let point = 100.0;
        let dissent = point * 0.1f64.exp();
        let spread = || {
            VerdictSpread::new(
                0.8,
                (point, Adapt),
                &[(80.0, Adapt), (dissent, DontAdapt), (130.0, DontAdapt)],
            )
        };
        let s = spread().with_longer_pilot(point, errors(0.02, 0.08));
        let Some(LongerPilot::Scale(k)) = s.longer_pilot else {
            panic!("{:?}", s.longer_pilot);
        };
        assert!((k - 5.58).abs() < 0.02, "{k}");
        let share = s.settling_share.unwrap();
        assert!((share - 0.08 * k).abs() < 1e-12);
        let e = s.evidence((80.0, 130.0));
        assert!(e.contains("a pilot of 45 % of the run"), "{e}");
        // The same pilot at 20 % of its run would need more than the run.
        let s = spread().with_longer_pilot(point, errors(0.02, 0.2));
        assert_eq!(s.longer_pilot, Some(LongerPilot::NotBeforeTheRun));
        assert_eq!(s.settling_share, None);
        // A transfer error whose t-interval alone (0.113) reaches the dissent.
        let s = spread().with_longer_pilot(point, errors(0.06, 0.08));
        assert_eq!(s.longer_pilot, Some(LongerPilot::NotBeforeTheRun));
        assert!(s
            .evidence((80.0, 130.0))
            .contains("no pilot shorter than the run"));
        // A settled verdict asks for nothing.
        let s = VerdictSpread::new(0.8, (point, Adapt), &[(80.0, Adapt), (130.0, Adapt)])
            .with_longer_pilot(point, errors(0.02, 0.08));
        assert_eq!((s.longer_pilot, s.settling_share), (None, None));
    }

    #[test]
    fn a_pilot_shortens_when_one_block_per_pass_would_break_the_cap() {
        // The SmolLM2 plan: 48 steps of 2 × 256 tokens; an 8 % pilot is 4 steps, and 5
        // passes of one 256-token block on top of them cost 10.07 %.
        let planned = PlannedRun {
            steps: 48,
            warmup_steps: 5,
            tokens: 48 * 512,
        };
        assert_eq!(pilot_steps(&planned, 0.08, 10, 256, 1.0), (4, 1));
        assert_eq!(pilot_steps(&planned, 0.08, 10, 256, 0.10), (3, 1));
        // Never below three steps, whatever the cap.
        assert_eq!(pilot_steps(&planned, 0.08, 10, 256, 0.01), (3, 1));
        // A long plan keeps its share and validates about `evals` times.
        let long = PlannedRun {
            steps: 574,
            warmup_steps: 57,
            tokens: 574 * 2048,
        };
        assert_eq!(pilot_steps(&long, 0.08, 10, 256, 0.10), (46, 4));
    }

    /// A forecast of a 10-point pilot whose planned run reaches 10 times its forward area,
    /// predicted at 4.4 nats (from 5.0) without backtests.
    fn pilot_forecast() -> Forecast {
        Forecast {
            law: LossLaw {
                l_start: 5.0,
                l_inf: 4.0,
                s0: 10.0,
                alpha: 1.0,
                c: 0.0,
            },
            final_loss: 4.4,
            interval: (4.3, 4.5),
            bootstrap_interval: (4.3, 4.5),
            level: 0.8,
            rmse: 0.0,
            points: 10,
            backtests: Vec::new(),
            extrapolation_sd: 0.0,
            pilot_area: 10.0,
            planned_area: 100.0,
        }
    }

    #[test]
    fn the_transfer_error_grows_with_the_gap_and_the_extrapolation() {
        let mut f = pilot_forecast();
        // The pilot moved validation by −0.2 and test by −0.25; the run is predicted at −0.6:
        // three times the pilot's change, so three times the gap.
        assert!((transfer_sd(&f, -0.2, -0.25) - 0.15).abs() < 1e-12);
        assert_eq!(transfer_sd(&f, -0.2, -0.2), 0.0);
        // A pilot that barely moved: the scale is capped by the ratio of areas (10).
        f.final_loss = 4.9;
        assert!((transfer_sd(&f, -1e-6, 0.01) - 0.1).abs() < 1e-4);
    }

    #[test]
    fn pilot_validation_blocks_spread_over_the_full_runs_window() {
        let valid: Vec<u32> = (0..100).collect();
        // 2 blocks of 10 out of the first 80 tokens: blocks 0 and 4 of 8.
        let s = spread_blocks(&valid, 10, 80, 20);
        assert_eq!(s, (0..10).chain(40..50).collect::<Vec<u32>>());
        // Asking for more than the window holds gives the whole window, in order.
        assert_eq!(
            spread_blocks(&valid, 10, 30, 1000),
            (0..30).collect::<Vec<u32>>()
        );
        // Window 0: the whole split; want 0: every block.
        assert_eq!(spread_blocks(&valid, 25, 0, 0), valid);
        // Too short for a block: returned as is (the caller's `blocks` reports it).
        assert_eq!(spread_blocks(&valid[..5], 10, 0, 10), vec![0, 1, 2, 3, 4]);
    }
}
