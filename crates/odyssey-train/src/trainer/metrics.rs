//! Training curves, the final report and the JSON-lines metrics log.

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
    pub epoch: f64,
    /// Mean loss over the step's counted tokens.
    pub loss: f64,
    /// Learning rate used by the step.
    pub lr: f64,
    /// Global gradient norm before clipping.
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
    pub loss: f64,
    /// `exp(loss)`.
    pub perplexity: f64,
    /// Labels scored.
    pub tokens: usize,
    /// Mean loss over the labels the token-masked loss keeps (only when ids are ignored).
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
                    match serde_json::from_str::<MetricsEvent>(line) {
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
        let mut line = serde_json::to_vec(ev).map_err(|source| TrainerError::Json {
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
}
