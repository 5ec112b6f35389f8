//! Learning-rate schedules with warmup, following the formulas of HF transformers'
//! `get_{constant,linear,cosine}_schedule_with_warmup` (the multiplier applied to the peak rate
//! for the optimizer step with 0-based index `step`).

use serde::{Deserialize, Serialize};

/// The shape of the learning-rate curve after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// Stay at the peak rate.
    Constant,
    /// Decay linearly from the peak to 0 at the last step.
    #[default]
    Linear,
    /// Half a cosine from the peak to 0 at the last step.
    Cosine,
    /// Stay at the peak, then decay linearly to 0 over the last steps (the schedule's
    /// `decay_steps`; warmup-stable-decay, as a pre-flight pilot uses). Its warm-up starts
    /// above 0 — step `s` of `w` at `(s + 1) / (w + 1)` of the peak — so that no step of a
    /// short run is spent at a zero learning rate.
    WarmupStableDecay,
}

/// How long the linear warmup from 0 to the peak rate lasts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Warmup {
    /// A number of optimizer steps.
    Steps(usize),
    /// A share of the total optimizer steps, rounded up (HF `TrainingArguments` rule).
    Ratio(f64),
}

impl Default for Warmup {
    fn default() -> Self {
        Warmup::Steps(0)
    }
}

impl Warmup {
    /// Warmup length in steps for a run of `total_steps` optimizer steps.
    pub fn steps(&self, total_steps: usize) -> usize {
        match *self {
            Warmup::Steps(n) => n,
            Warmup::Ratio(r) => (total_steps as f64 * r).ceil() as usize,
        }
    }
}

/// A learning-rate schedule resolved for a run's length.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    /// The curve after warmup.
    pub kind: ScheduleKind,
    /// Warmup steps.
    pub warmup_steps: usize,
    /// Total optimizer steps of the run.
    pub total_steps: usize,
    /// Steps of the final linear decay of [`ScheduleKind::WarmupStableDecay`].
    #[serde(default)]
    pub decay_steps: usize,
}

impl LrSchedule {
    /// A schedule of `kind` with `warmup` for a run of `total_steps` steps.
    pub fn new(kind: ScheduleKind, warmup: Warmup, total_steps: usize) -> Self {
        LrSchedule {
            kind,
            warmup_steps: warmup.steps(total_steps),
            total_steps,
            decay_steps: 0,
        }
    }

    /// The same schedule with the final decay of [`ScheduleKind::WarmupStableDecay`] lasting
    /// `decay` (steps, or a share of the total steps).
    pub fn with_decay(mut self, decay: Warmup) -> Self {
        self.decay_steps = decay.steps(self.total_steps).min(self.total_steps);
        self
    }

    /// The multiplier of the peak rate at the optimizer step with 0-based index `step`.
    pub fn factor(&self, step: usize) -> f64 {
        let (s, w, t) = (
            step as f64,
            self.warmup_steps as f64,
            self.total_steps as f64,
        );
        if step < self.warmup_steps {
            return match self.kind {
                ScheduleKind::WarmupStableDecay => (s + 1.0) / (w + 1.0),
                _ => s / w.max(1.0),
            };
        }
        match self.kind {
            ScheduleKind::Constant => 1.0,
            ScheduleKind::Linear => ((t - s) / (t - w).max(1.0)).max(0.0),
            ScheduleKind::Cosine => {
                let progress = (s - w) / (t - w).max(1.0);
                (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
            }
            ScheduleKind::WarmupStableDecay => {
                let start = self
                    .total_steps
                    .saturating_sub(self.decay_steps)
                    .max(self.warmup_steps) as f64;
                if s < start {
                    1.0
                } else {
                    ((t - s) / (t - start).max(1.0)).max(0.0)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_rises_linearly_then_linear_decays_to_zero() {
        let s = LrSchedule::new(ScheduleKind::Linear, Warmup::Steps(4), 12);
        assert_eq!(s.factor(0), 0.0);
        assert_eq!(s.factor(2), 0.5);
        assert_eq!(s.factor(4), 1.0);
        assert_eq!(s.factor(8), 0.5);
        assert_eq!(s.factor(12), 0.0);
        assert_eq!(s.factor(20), 0.0);
    }

    #[test]
    fn warmup_stable_decay_holds_the_peak_then_decays() {
        let s = LrSchedule::new(ScheduleKind::WarmupStableDecay, Warmup::Steps(2), 10)
            .with_decay(Warmup::Ratio(0.3));
        assert_eq!(s.decay_steps, 3);
        let f: Vec<f64> = (0..10).map(|i| s.factor(i)).collect();
        assert!((f[0] - 1.0 / 3.0).abs() < 1e-12 && (f[1] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(&f[2..7], &[1.0, 1.0, 1.0, 1.0, 1.0]);
        assert!((f[7] - 1.0).abs() < 1e-12 && (f[8] - 2.0 / 3.0).abs() < 1e-12);
        assert!((f[9] - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn ratio_rounds_up() {
        assert_eq!(Warmup::Ratio(0.1).steps(37), 4);
        assert_eq!(Warmup::Ratio(0.0).steps(37), 0);
    }
}
