//! Training curves, the final report and the JSON-lines metrics log.
//!
//! Files are written with [`odyssey_core::json`]'s encoding of non-finite numbers (a NaN loss is
//! `"NaN"`). The records that `metrics.jsonl` flattens into tagged lines mark their float fields
//! with its field modules, which serde's buffering of flattened fields requires.

use super::error::TrainerError;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One optimizer step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Optimizer step (1-based).
    pub step: usize,
    /// Epoch position (fractional: 1.5 = half-way through the second epoch).
    #[serde(with = "odyssey_core::json::float")]
    pub epoch: f64,
    /// Mean loss over the step's counted tokens.
    #[serde(with = "odyssey_core::json::float")]
    pub loss: f64,
    /// Learning rate used by the step.
    #[serde(with = "odyssey_core::json::float")]
    pub lr: f64,
    /// Global gradient norm before clipping.
    #[serde(with = "odyssey_core::json::float")]
    pub grad_norm: f64,
    /// Labels counted by the loss in this step.
    pub loss_tokens: usize,
    /// Input tokens seen so far.
    pub tokens_seen: u64,
}

/// Scores of a model on a token stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Mean token loss over all next-token labels of the stream.
    #[serde(with = "odyssey_core::json::float")]
    pub loss: f64,
    /// `exp(loss)`.
    #[serde(with = "odyssey_core::json::float")]
    pub perplexity: f64,
    /// Labels scored.
    pub tokens: usize,
    /// Mean loss over the labels the token-masked loss keeps (only when ids are ignored).
    #[serde(with = "odyssey_core::json::float_opt")]
    pub masked_loss: Option<f64>,
}

/// One evaluation on the validation stream during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// The optimizer step after which it ran.
    pub step: usize,
    /// The scores.
    #[serde(flatten)]
    pub eval: Evaluation,
    /// Whether this evaluation counted against the run for early stopping.
    pub counted_against: bool,
}

/// Why training ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopReason {
    /// The configured duration was reached.
    Completed,
    /// Validation perplexity went the wrong way `patience` evaluations in a row.
    EarlyStopped {
        /// The step of the last evaluation.
        step: usize,
        /// Patience that was exhausted.
        patience: usize,
        /// Perplexities of the evaluations that counted against the run, oldest first.
        #[serde(with = "odyssey_core::json::float_vec")]
        perplexities: Vec<f64>,
    },
}

/// What a run did: curves, best evaluation, why it stopped, tokens and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Per-step training curve (across resumptions).
    pub steps: Vec<StepRecord>,
    /// Validation evaluations.
    pub evals: Vec<EvalRecord>,
    /// Step of the lowest validation perplexity.
    pub best_step: Option<usize>,
    /// The lowest validation perplexity.
    pub best_perplexity: Option<f64>,
    /// Checkpoint holding the best model.
    pub best_checkpoint: Option<PathBuf>,
    /// The newest checkpoint written.
    pub last_checkpoint: Option<PathBuf>,
    /// Why training ended.
    pub stop_reason: StopReason,
    /// Optimizer steps planned.
    pub total_steps: usize,
    /// Input tokens seen.
    pub tokens_seen: u64,
    /// Wall-clock seconds spent training (across resumptions).
    pub train_seconds: f64,
    /// The step a resumed run started from.
    pub resumed_from_step: Option<usize>,
}

/// An event of the metrics log: one JSON object per line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum MetricsEvent {
    /// A training step, with throughput.
    Train {
        /// The step.
        #[serde(flatten)]
        record: StepRecord,
        /// Input tokens per second of this step.
        #[serde(with = "odyssey_core::json::float")]
        tokens_per_second: f64,
    },
    /// An evaluation.
    Eval {
        /// The evaluation.
        #[serde(flatten)]
        record: EvalRecord,
    },
    /// Early stopping triggered.
    EarlyStop {
        /// The reason record.
        reason: StopReason,
    },
}

impl MetricsEvent {
    fn step(&self) -> usize {
        match self {
            MetricsEvent::Train { record, .. } => record.step,
            MetricsEvent::Eval { record } => record.step,
            MetricsEvent::EarlyStop { reason } => match reason {
                StopReason::EarlyStopped { step, .. } => *step,
                StopReason::Completed => 0,
            },
        }
    }
}

/// Appends metrics events to `metrics.jsonl`, each line with one `write` on a file opened in
/// append mode, so a killed run leaves only whole lines.
pub struct MetricsLog {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsLog {
    /// Open (create) `path` for appending. With `keep_up_to_step`, lines of steps after it
    /// (written by a run that was killed after its last checkpoint) are dropped first, by an
    /// atomic rewrite.
    pub fn open(path: &Path, keep_up_to_step: Option<usize>) -> Result<Self, TrainerError> {
        if let Some(limit) = keep_up_to_step {
            if path.exists() {
                let text = std::fs::read_to_string(path).map_err(TrainerError::io(path))?;
                let mut kept = String::new();
                for line in text.lines() {
                    match odyssey_core::json::from_str::<MetricsEvent>(line) {
                        Ok(ev) if ev.step() <= limit => {
                            kept.push_str(line);
                            kept.push('\n');
                        }
                        _ => {}
                    }
                }
                odyssey_core::fs::write_atomic(path, kept.as_bytes()).map_err(|source| {
                    TrainerError::Write {
                        what: "metrics log",
                        source,
                    }
                })?;
            }
        } else if path.exists() {
            std::fs::remove_file(path).map_err(TrainerError::io(path))?;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(TrainerError::io(dir))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(TrainerError::io(path))?;
        Ok(MetricsLog {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Append one event as a line.
    pub fn write(&mut self, ev: &MetricsEvent) -> Result<(), TrainerError> {
        let mut line = odyssey_core::json::to_vec(ev).map_err(|source| TrainerError::Json {
            path: self.path.clone(),
            source,
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(TrainerError::io(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(step: usize) -> StepRecord {
        StepRecord {
            step,
            epoch: 0.5,
            loss: 2.0,
            lr: 1e-3,
            grad_norm: 0.5,
            loss_tokens: 10,
            tokens_seen: 12,
        }
    }

    #[test]
    fn reopening_for_resume_drops_lines_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        let mut log = MetricsLog::open(&p, None).unwrap();
        for s in 1..=5 {
            log.write(&MetricsEvent::Train {
                record: rec(s),
                tokens_per_second: 1.0,
            })
            .unwrap();
        }
        drop(log);
        let mut log = MetricsLog::open(&p, Some(3)).unwrap();
        log.write(&MetricsEvent::Train {
            record: rec(4),
            tokens_per_second: 1.0,
        })
        .unwrap();
        let steps: Vec<usize> = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["event"], "train");
                v["step"].as_u64().unwrap() as usize
            })
            .collect();
        assert_eq!(steps, vec![1, 2, 3, 4]);
    }

    #[test]
    fn non_finite_numbers_round_trip_through_the_log_and_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        let mut log = MetricsLog::open(&p, None).unwrap();
        let nan_step = StepRecord {
            loss: f64::NAN,
            grad_norm: f64::INFINITY,
            ..rec(1)
        };
        let eval = EvalRecord {
            step: 1,
            eval: Evaluation {
                loss: f64::INFINITY,
                perplexity: f64::INFINITY,
                tokens: 4,
                masked_loss: Some(f64::NAN),
            },
            counted_against: true,
        };
        let stop = StopReason::EarlyStopped {
            step: 1,
            patience: 1,
            perplexities: vec![f64::INFINITY, f64::NEG_INFINITY],
        };
        log.write(&MetricsEvent::Train {
            record: nan_step.clone(),
            tokens_per_second: f64::NAN,
        })
        .unwrap();
        log.write(&MetricsEvent::Eval {
            record: eval.clone(),
        })
        .unwrap();
        log.write(&MetricsEvent::EarlyStop {
            reason: stop.clone(),
        })
        .unwrap();
        drop(log);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(r#""loss":"NaN""#), "{text}");
        let events: Vec<MetricsEvent> = text
            .lines()
            .map(|l| odyssey_core::json::from_str(l).unwrap())
            .collect();
        match &events[0] {
            MetricsEvent::Train {
                record,
                tokens_per_second,
            } => {
                assert!(record.loss.is_nan() && record.grad_norm == f64::INFINITY);
                assert!(tokens_per_second.is_nan());
            }
            other => panic!("{other:?}"),
        }
        match &events[1] {
            MetricsEvent::Eval { record } => {
                assert_eq!(record.eval.perplexity, f64::INFINITY);
                assert!(record.eval.masked_loss.is_some_and(f64::is_nan));
            }
            other => panic!("{other:?}"),
        }
        match &events[2] {
            MetricsEvent::EarlyStop { reason } => assert_eq!(reason, &stop),
            other => panic!("{other:?}"),
        }
        // Reopening for a resume keeps the lines it can read: all of them.
        drop(MetricsLog::open(&p, Some(1)).unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap().lines().count(), 3);

        let report = TrainReport {
            steps: vec![nan_step],
            evals: vec![eval],
            best_step: None,
            best_perplexity: Some(f64::INFINITY),
            best_checkpoint: None,
            last_checkpoint: None,
            stop_reason: stop,
            total_steps: 1,
            tokens_seen: 12,
            train_seconds: 0.5,
            resumed_from_step: None,
        };
        let bytes = odyssey_core::json::to_vec_pretty(&report).unwrap();
        let back: TrainReport = odyssey_core::json::from_slice(&bytes).unwrap();
        assert!(back.steps[0].loss.is_nan());
        assert_eq!(back.best_perplexity, Some(f64::INFINITY));
        assert_eq!(back.evals[0].eval.perplexity, f64::INFINITY);
        assert_eq!(back.stop_reason, report.stop_reason);
    }
}
