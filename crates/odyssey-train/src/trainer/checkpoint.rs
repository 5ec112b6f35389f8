//! Atomic checkpoints: model weights, optimizer state and the trainer's position.
//!
//! A checkpoint is a folder `checkpoint-<step>` (8 digits) in the output folder holding
//! `model.safetensors` (the variables, by their names), `optimizer.safetensors` (AdamW moments)
//! and `trainer_state.json`
//! ([`CheckpointState`]). It is written into a hidden temporary folder, synced, then renamed
//! into place, so a folder named `checkpoint-*` is always complete.

use super::error::TrainerError;
use super::metrics::{EvalRecord, StepRecord, StopReason};
use super::optim::AdamW;
use super::schedule::LrSchedule;
use super::TrainerConfig;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::Tensor;

/// Version of the checkpoint layout.
pub const CHECKPOINT_FORMAT: u32 = 1;
const STATE_FILE: &str = "trainer_state.json";
const MODEL_FILE: &str = "model.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";

/// Identity of a token stream, checked when a run resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataIdentity {
    /// Number of blocks.
    pub n_blocks: usize,
    /// Tokens per block.
    pub block_len: usize,
    /// FNV-1a fingerprint of the tokens.
    pub fingerprint: u64,
}

/// Where the trainer stands; saved in every checkpoint as `trainer_state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// [`CHECKPOINT_FORMAT`] of the writer.
    pub format: u32,
    /// Optimizer steps completed.
    pub step: usize,
    /// Epoch (0-based) of the next step.
    pub epoch: usize,
    /// Blocks of that epoch already consumed (its data position in the seeded order).
    pub blocks_consumed_in_epoch: usize,
    /// Seed of the data order (with the epoch) and of dropout (with the step): the random state
    /// of the next step is a function of (seed, step), so it is restored exactly.
    pub seed: u64,
    /// The schedule; the next step uses `lr × schedule.factor(step)`.
    pub schedule: LrSchedule,
    /// Peak learning rate.
    pub lr: f64,
    /// Micro-batch size the data position refers to.
    pub micro_batch_size: usize,
    /// Gradient-accumulation steps the data position refers to.
    pub grad_accum_steps: usize,
    /// The training stream this run started on.
    pub train_data: DataIdentity,
    /// Input tokens seen.
    pub tokens_seen: u64,
    /// Wall-clock seconds of training so far.
    pub train_seconds: f64,
    /// Training curve so far.
    pub steps: Vec<StepRecord>,
    /// Evaluations so far.
    pub evals: Vec<EvalRecord>,
    /// Step and perplexity of the best evaluation.
    pub best: Option<(usize, f64)>,
    /// Evaluations in a row that counted against the run.
    pub bad_evals_in_row: usize,
    /// Set when the run ended before its planned steps (early stopping): a rerun with `resume`
    /// reports the finished run instead of training on past the stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<StopReason>,
    /// The configuration of the run.
    pub config: TrainerConfig,
}

/// Folder name of the checkpoint of `step`.
pub fn checkpoint_name(step: usize) -> String {
    format!("checkpoint-{step:08}")
}

/// Complete checkpoints in `output_dir`, oldest first, as `(step, path)`.
pub fn list_checkpoints(output_dir: &Path) -> Result<Vec<(usize, PathBuf)>, TrainerError> {
    if !output_dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(output_dir).map_err(TrainerError::io(output_dir))? {
        let entry = entry.map_err(TrainerError::io(output_dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(step) = name
            .strip_prefix("checkpoint-")
            .and_then(|s| s.parse::<usize>().ok())
        {
            if entry.path().join(STATE_FILE).is_file() {
                out.push((step, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The newest complete checkpoint in `output_dir`.
pub fn latest_checkpoint(output_dir: &Path) -> Result<Option<PathBuf>, TrainerError> {
    Ok(list_checkpoints(output_dir)?.pop().map(|(_, p)| p))
}

fn sync_file(path: &Path) -> Result<(), TrainerError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(TrainerError::io(path))
}

/// Write the checkpoint of `state.step` into `output_dir` atomically and return its folder. An
/// existing checkpoint of the same step is replaced.
pub fn save_checkpoint(
    output_dir: &Path,
    vs: &VarStore,
    optimizer: &AdamW,
    state: &CheckpointState,
) -> Result<PathBuf, TrainerError> {
    std::fs::create_dir_all(output_dir).map_err(TrainerError::io(output_dir))?;
    let name = checkpoint_name(state.step);
    let final_dir = output_dir.join(&name);
    let tmp = output_dir.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(TrainerError::io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(TrainerError::io(&tmp))?;
    let written = (|| {
        let model = tmp.join(MODEL_FILE);
        vs.save(&model)
            .map_err(TrainerError::torch("writing model weights"))?;
        sync_file(&model)?;
        let opt = tmp.join(OPTIMIZER_FILE);
        let tensors = optimizer.state_tensors();
        Tensor::write_safetensors(&tensors, &opt)
            .map_err(TrainerError::torch("writing optimizer state"))?;
        sync_file(&opt)?;
        let json =
            odyssey_core::json::to_vec_pretty(state).map_err(|source| TrainerError::Json {
                path: tmp.join(STATE_FILE),
                source,
            })?;
        odyssey_core::fs::write_atomic(&tmp.join(STATE_FILE), &json).map_err(|source| {
            TrainerError::Write {
                what: "trainer state",
                source,
            }
        })?;
        sync_file(&tmp)?;
        if final_dir.exists() {
            let old = output_dir.join(format!(".{name}.old-{}", std::process::id()));
            std::fs::rename(&final_dir, &old).map_err(TrainerError::io(&final_dir))?;
            std::fs::rename(&tmp, &final_dir).map_err(TrainerError::io(&final_dir))?;
            std::fs::remove_dir_all(&old).map_err(TrainerError::io(&old))?;
        } else {
            std::fs::rename(&tmp, &final_dir).map_err(TrainerError::io(&final_dir))?;
        }
        sync_file(output_dir)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    Ok(final_dir)
}

/// Read only the `trainer_state.json` of a checkpoint folder.
pub fn read_state(dir: &Path) -> Result<CheckpointState, TrainerError> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read(&path).map_err(TrainerError::io(&path))?;
    let state: CheckpointState = odyssey_core::json::from_slice(&text)
        .map_err(|source| TrainerError::Json { path, source })?;
    if state.format != CHECKPOINT_FORMAT {
        return Err(TrainerError::Checkpoint {
            path: dir.to_path_buf(),
            message: format!(
                "layout version {} is not the supported {CHECKPOINT_FORMAT}",
                state.format
            ),
        });
    }
    Ok(state)
}

/// Copy the weights of `file` into the variables of `vs`, keeping each variable's kind. Every
/// variable must be present with its shape, and the file must hold nothing else.
pub fn load_weights(vs: &VarStore, file: &Path) -> Result<(), TrainerError> {
    let bad = |message: String| TrainerError::Checkpoint {
        path: file.to_path_buf(),
        message,
    };
    let mut tensors: HashMap<String, Tensor> = Tensor::read_safetensors(file)
        .map_err(TrainerError::torch(format!(
            "reading weights {}",
            file.display()
        )))?
        .into_iter()
        .collect();
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, mut var) in vars {
        let src = tensors
            .remove(&name)
            .ok_or_else(|| bad(format!("missing tensor `{name}`")))?;
        if src.size() != var.size() {
            return Err(bad(format!(
                "tensor `{name}` has shape {:?}, the model needs {:?}",
                src.size(),
                var.size()
            )));
        }
        tch::no_grad(|| var.f_copy_(&src))
            .map_err(TrainerError::torch(format!("copying `{name}`")))?;
    }
    if let Some(extra) = tensors.keys().min() {
        return Err(bad(format!(
            "tensor `{extra}` matches no variable of the model"
        )));
    }
    Ok(())
}

/// Load a checkpoint folder into the model's variables and the optimizer; returns its state.
pub fn load_checkpoint(
    dir: &Path,
    vs: &VarStore,
    optimizer: &mut AdamW,
) -> Result<CheckpointState, TrainerError> {
    let state = read_state(dir)?;
    load_weights(vs, &dir.join(MODEL_FILE))?;
    let opt_file = dir.join(OPTIMIZER_FILE);
    let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(&opt_file)
        .map_err(TrainerError::torch(format!(
            "reading optimizer state {}",
            opt_file.display()
        )))?
        .into_iter()
        .map(|(k, v)| (k, v.to_device(vs.device())))
        .collect();
    optimizer
        .load_state(tensors, state.step)
        .map_err(|message| TrainerError::Checkpoint {
            path: opt_file.clone(),
            message,
        })?;
    Ok(state)
}

/// Whether the checkpoint folder `dir` still holds its optimizer state (a finished run's
/// final checkpoint may have had it removed by [`compact_finished_run`]).
pub fn has_optimizer_state(dir: &Path) -> bool {
    dir.join(OPTIMIZER_FILE).is_file()
}

/// Total bytes of the files under `dir` (0 when it does not exist).
pub fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => folder_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Shrink the output folder of a finished run to what a rerun needs: the newest checkpoint's
/// weights and state (a rerun with `resume` finds the run finished and loads them without
/// training), without its optimizer state, and no other checkpoint. Returns the bytes freed.
pub fn compact_finished_run(output_dir: &Path) -> Result<u64, TrainerError> {
    let before = folder_bytes(output_dir);
    // A distributed run's HF checkpoints: the newest stays (without its optimizer state; the
    // final weights are in `final/`), the others go.
    let hf = output_dir.join("handoff").join("hf");
    if hf.is_dir() {
        let mut steps: Vec<(usize, std::path::PathBuf)> = std::fs::read_dir(&hf)
            .map_err(TrainerError::io(&hf))?
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_prefix("checkpoint-")
                    .and_then(|s| s.parse().ok())
                    .map(|s| (s, e.path()))
            })
            .collect();
        steps.sort();
        if let Some((_, newest)) = steps.pop() {
            for (_, p) in steps {
                std::fs::remove_dir_all(&p).map_err(TrainerError::io(&p))?;
            }
            let opt = newest.join("optimizer.pt");
            if opt.exists() {
                std::fs::remove_file(&opt).map_err(TrainerError::io(&opt))?;
            }
        }
    }
    let mut all = list_checkpoints(output_dir)?;
    let Some((_, newest)) = all.pop() else {
        return Ok(0);
    };
    for (_, path) in all {
        std::fs::remove_dir_all(&path).map_err(TrainerError::io(&path))?;
    }
    let opt = newest.join(OPTIMIZER_FILE);
    if opt.exists() {
        std::fs::remove_file(&opt).map_err(TrainerError::io(&opt))?;
    }
    sync_file(output_dir)?;
    Ok(before.saturating_sub(folder_bytes(output_dir)))
}

/// Remove step checkpoints beyond the newest `keep_last`, sparing `keep` (the best one).
pub fn prune_checkpoints(
    output_dir: &Path,
    keep_last: usize,
    keep: Option<&Path>,
) -> Result<(), TrainerError> {
    let all = list_checkpoints(output_dir)?;
    let n = all.len();
    for (_, path) in all.into_iter().take(n.saturating_sub(keep_last)) {
        if Some(path.as_path()) != keep {
            std::fs::remove_dir_all(&path).map_err(TrainerError::io(&path))?;
        }
    }
    Ok(())
}
