//! The control arm: the base model after the same budget of continued pretraining on the
//! pretraining corpus (or its stand-in), trained once per study and scored on every domain's
//! test split, so that each domain's gain can be set against what generic raw text does.

use crate::adapt::continue_pretraining;
use crate::config::StudyConfig;
use crate::data::{pack, Corpora};
use crate::domain::TrainingRecord;
use crate::error::{Result, StudyError};
use crate::report::json::{read_json, write_json};
use crate::resume::OutputLayout;
use odyssey_corpus::HfTokenizer;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the control run did; saved as `control/control.json` and in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlSummary {
    /// Fingerprint of the settings and inputs that produced it.
    pub fingerprint: String,
    /// The corpus it trained on.
    pub corpus: PathBuf,
    /// Its continued pretraining.
    pub training: TrainingRecord,
}

/// A finished control run: its model folder and summary.
#[derive(Debug, Clone)]
pub struct ControlRun {
    /// The HF folder of the control model.
    pub model_dir: PathBuf,
    /// What it did.
    pub summary: ControlSummary,
}

/// The control run of this study: reused from `out/control/` when it was finished with the same
/// fingerprint, else trained now (resuming from its own checkpoints when a run was killed).
pub fn ensure_control(
    config: &StudyConfig,
    out: &OutputLayout,
    corpora: &Corpora,
    tokenizer: &HfTokenizer,
    fingerprint: &str,
    load_model: impl Fn(&Path) -> Result<odyssey_train::AnyModel>,
) -> Result<ControlRun> {
    let dir = out.root().join("control");
    let record = dir.join("control.json");
    let model_dir = dir.join("model");
    if record.is_file() && model_dir.join("config.json").is_file() {
        let summary: ControlSummary = read_json(&record)?;
        if summary.fingerprint == fingerprint {
            eprintln!("control arm: finished earlier, reused");
            return Ok(ControlRun { model_dir, summary });
        }
    }
    eprintln!(
        "control arm: continued pretraining on the pretraining corpus {}",
        corpora.pretraining.root().display()
    );
    let train = pack(
        tokenizer,
        &corpora.pretraining.train_texts()?,
        "pretraining",
        "train",
    )?;
    let valid_texts = corpora.pretraining.valid_texts()?;
    let (train, valid) = if valid_texts.is_empty() {
        // No valid split: the last tenth of the train stream validates.
        let cut = train.len() - train.len() / 10;
        (train[..cut].to_vec(), train[cut..].to_vec())
    } else {
        (
            train,
            pack(tokenizer, &valid_texts, "pretraining", "valid")?,
        )
    };
    let mut settings = config.training.clone();
    if config.control.max_train_tokens > 0 {
        settings.max_train_tokens = config.control.max_train_tokens;
    }
    let mut model = load_model(&config.model)?;
    let training = continue_pretraining(
        &mut model,
        &train,
        &valid,
        &settings,
        config.seed,
        config.threads,
        &out.checkpoints("_control"),
        "control",
    )?;
    model
        .save_pretrained(&model_dir)
        .map_err(|e| StudyError::stage("saving the control model", e))?;
    // The control model's folder is what the domains need; its checkpoints only resume it.
    crate::pipeline::apply_checkpoint_policy(
        &out.checkpoints("_control"),
        crate::config::CheckpointPolicy::None,
    )?;
    let summary = ControlSummary {
        fingerprint: fingerprint.to_string(),
        corpus: corpora.pretraining.root().to_path_buf(),
        training,
    };
    write_json(&record, &summary)?;
    Ok(ControlRun {
        model_dir,
        summary: read_json(&record)?,
    })
}
