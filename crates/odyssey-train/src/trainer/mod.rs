//! The trainer: pretraining from scratch and continued pretraining of a [`CausalLm`] on packed
//! token blocks.
//!
//! - AdamW with decoupled weight decay and no-decay groups chosen from HF-style variable names
//!   ([`AdamW`], [`NoDecay`]), its state saved and restored;
//! - constant, linear and cosine learning-rate schedules with warmup in steps or as a ratio
//!   ([`LrSchedule`], HF transformers' formulas);
//! - gradient accumulation with the loss normalised by the number of counted tokens over all
//!   micro-batches of a step, global-norm clipping, a seeded data order;
//! - validation perplexity every N steps, the best checkpoint kept, early stopping when
//!   perplexity goes the wrong way P evaluations in a row, an optional token-masked loss
//!   (ids left out of the training loss, e.g. the newline), a typed error on NaN/inf loss;
//! - atomic checkpoints (weights, optimizer, schedule position, random state, data position):
//!   a killed run resumed from its newest checkpoint continues with the same losses (tested by
//!   killing a training process with SIGKILL), and a run that stopped early stays stopped when
//!   rerun;
//! - a progress bar, a `metrics.jsonl` log and a [`TrainReport`].
//!
//! The trainer runs on the device of the model's variables. The models of this crate keep fp32
//! weights (the master weights AdamW updates) and run their matrix products in bf16 on CUDA and
//! in fp32 on CPU; build the model on [`default_device`](crate::default_device) to use a GPU
//! when there is one. libtorch's thread count is set from [`TrainerConfig::threads`].
//!
//! [`CausalLm`]: crate::CausalLm
//!
//! # Example
//!
//! ```no_run
//! use odyssey_train::trainer::{Duration, PackedBlocks, Trainer, TrainerConfig, Warmup};
//! use odyssey_train::{Gpt2Config, Gpt2Lm};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Token blocks from a packed corpus: n_blocks × block_len token ids.
//! let train_tokens: Vec<u32> = vec![0; 64 * 128];
//! let valid_tokens: Vec<u32> = vec![0; 8 * 128];
//! let train = PackedBlocks::new(train_tokens, 128)?;
//! let valid = PackedBlocks::new(valid_tokens, 128)?;
//!
//! let cfg = Gpt2Config::default();
//! let mut model = Gpt2Lm::gpt2(&cfg, odyssey_train::default_device())?;
//! let trainer = Trainer::new(TrainerConfig {
//!     lr: 1e-4,
//!     warmup: Warmup::Ratio(0.1),
//!     duration: Duration::Epochs(1),
//!     eval_every: Some(100),
//!     output_dir: Some("runs/wiki_music".into()),
//!     ..TrainerConfig::default()
//! });
//! let report = trainer.fit(&mut model, &train, Some(&valid))?;
//! println!("best perplexity {:?} at step {:?}", report.best_perplexity, report.best_step);
//! # Ok(())
//! # }
//! ```

mod adamw_cpu;
mod checkpoint;
mod config;
mod data;
mod error;
mod fit;
mod handoff;
mod metrics;
mod optim;
mod schedule;

pub use checkpoint::{
    checkpoint_name, compact_finished_run, folder_bytes, has_optimizer_state, latest_checkpoint,
    list_checkpoints, load_checkpoint, load_weights, read_state, save_checkpoint, CheckpointState,
    DataIdentity, CHECKPOINT_FORMAT,
};
pub use config::{Duration, EarlyStopping, StopRule, TrainerConfig};
pub use data::{batch_arrays, counted_labels, epoch_order, fingerprint, PackedBlocks, TokenBlocks};
pub use error::TrainerError;
pub use fit::Trainer;
pub use handoff::Distributed;
pub use metrics::{
    EvalRecord, Evaluation, MetricsEvent, MetricsLog, StepRecord, StopReason, TrainReport,
};
pub use optim::{AdamW, AdamWConfig, NoDecay};
pub use schedule::{LrSchedule, ScheduleKind, Warmup};
