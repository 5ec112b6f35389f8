//! Memory stated up front: before anything is loaded, the study estimates what continued
//! pretraining and scoring need with its settings (`odyssey_train::memory`) and refuses, naming
//! the settings to change, when that exceeds what the machine has.

use crate::config::StudyConfig;
use crate::error::{Result, StudyError};
use odyssey_train::memory::{available_memory, scoring_estimate, training_estimate};
use serde::{Deserialize, Serialize};
use tch::Device;

/// Memory in fp32 for the study's model and settings, plus a fixed allowance.
pub const OVERHEAD_BYTES: u64 = 600 << 20;

/// What the estimate said before the run, in bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryRecord {
    /// Continued pretraining: weights, gradients, AdamW state, activations of one micro-batch,
    /// a chunk of logits, and [`OVERHEAD_BYTES`] (the sentence encoder, data, libtorch).
    pub training_bytes: u64,
    /// Its parts, in words.
    pub training: String,
    /// Scoring: weights, one layer's working set for a batch of windows, a chunk of logits.
    pub scoring_bytes: u64,
    /// Memory available when the run started (`None` where it cannot be read).
    pub available_bytes: Option<u64>,
}

/// Estimate the run's memory and refuse it when it does not fit (host memory only: on CUDA
/// the model's memory is the GPU's).
pub fn check(config: &StudyConfig, device: Device) -> Result<MemoryRecord> {
    let model = odyssey_train::gguf::model_config(&config.model).map_err(|e| {
        StudyError::stage(
            format!("reading the model's config from {}", config.model.display()),
            e,
        )
    })?;
    let t = &config.training;
    let block = t.block_size.min(model.max_positions());
    let train = training_estimate(&model, t.batch_size, block);
    let window = match config.eval.window {
        0 => model.max_positions(),
        w => w.min(model.max_positions()),
    };
    let score = scoring_estimate(&model, config.eval.batch_size, window);
    let record = MemoryRecord {
        training_bytes: train.total() + OVERHEAD_BYTES,
        training: train.describe(),
        scoring_bytes: score.total() + OVERHEAD_BYTES,
        available_bytes: available_memory(),
    };
    if device.is_cuda() {
        return Ok(record);
    }
    if let Some(avail) = record.available_bytes {
        let gb = avail as f64 / 1e9;
        if record.training_bytes > avail {
            return Err(StudyError::Memory {
                what: format!(
                    "continued pretraining (micro-batches of {} × {block} tokens)",
                    t.batch_size
                ),
                needed: format!("{} (+ {:.1} GB overhead)", train.describe(), OVERHEAD_BYTES as f64 / 1e9),
                available: gb,
                advice: "lower training.batch_size (or training.block_size); activations grow with both, the rest is the model's".into(),
            });
        }
        if record.scoring_bytes > avail {
            return Err(StudyError::Memory {
                what: format!(
                    "scoring (batches of {} windows of {window} tokens)",
                    config.eval.batch_size
                ),
                needed: score.describe(),
                available: gb,
                advice: "lower eval.batch_size or eval.window (0 means the model's whole context)"
                    .into(),
            });
        }
    }
    Ok(record)
}
