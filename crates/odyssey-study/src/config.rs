//! Study settings: serde structs with defaults, loadable from a TOML or JSON file.

use crate::error::{Result, StudyError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Which device runs the language model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when available, else CPU.
    #[default]
    Auto,
    /// Always the CPU.
    Cpu,
    /// CUDA (an error when it is not available).
    Cuda,
}

/// Everything a study run needs. Every field has a default, so a config file only names what
/// it changes. Relative paths are taken from the current directory; in a config file, a path
/// may name environment variables as `${NAME}` (e.g. `model = "${ODYSSEY_SMOLLM2_GGUF}"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StudyConfig {
    /// The base model: an HF folder with `config.json`, `model.safetensors`, `tokenizer.json`,
    /// or a GGUF file (llama.cpp's format; model and tokenizer both come from it).
    pub model: PathBuf,
    /// The base model's pretraining corpus (or a sample of it): a folder with splits, a folder
    /// of files, or one file.
    pub pretraining_corpus: PathBuf,
    /// A folder of domains, in M2D2's layout (`<domain>/{train,valid,test}.txt`) or Dolma-style
    /// JSONL (`<domain>/{train,valid,test}.jsonl[.gz|.zst]`).
    pub domains: PathBuf,
    /// Only these domains (by folder name), in this order; all domains when empty.
    pub only_domains: Vec<String>,
    /// Output folder: report.md, report.json, plots/, per-domain results and checkpoints.
    pub out: PathBuf,
    /// The sentence-transformers folder used for embedding similarity (all-MiniLM-L6-v2).
    /// Empty: `ODYSSEY_MINILM_DIR` from the environment.
    pub encoder: PathBuf,
    /// Seed for sampling, data order and bootstrap.
    pub seed: u64,
    /// CPU threads for libtorch and rayon (0: leave the libraries' default).
    pub threads: usize,
    /// Device for the language model.
    pub device: DeviceChoice,
    /// Continued pretraining.
    pub training: TrainingSettings,
    /// Test perplexity.
    pub eval: EvalSettings,
    /// Corpus similarity.
    pub similarity: SimilaritySettings,
    /// Thresholds of the verdict.
    pub verdict: VerdictSettings,
    /// The control arm: the same budget of continued pretraining on the pretraining corpus.
    pub control: ControlSettings,
    /// What adaptation costs the general corpus.
    pub forgetting: ForgettingSettings,
    /// Retraining with mitigations when a domain degrades or gains too little.
    pub mitigations: MitigationSettings,
    /// A verdict before the full run, from a short pilot.
    pub preflight: PreflightSettings,
}

/// Pre-flight (see [`crate::preflight`]): a pilot on the first share of the planned run, its
/// validation curve fitted with a loss law, the full run predicted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreflightSettings {
    /// Run the pre-flight for every domain before its full run.
    pub enabled: bool,
    /// Also run the full runs (and compare them with the predictions); `false`: stop after
    /// the pre-flight.
    pub full_run: bool,
    /// The pilot's share of the planned run's optimizer steps.
    pub pilot_share: f64,
    /// Validation evaluations during the pilot (points of the fitted curve).
    pub evals: usize,
    /// Share of the pilot's steps over which its learning rate decays to 0.
    pub decay_share: f64,
    /// Validation tokens per pilot evaluation: whole blocks spread evenly over the full run's
    /// validation tokens (`training.max_valid_tokens`). Fewer when the pilot would otherwise
    /// exceed `max_share`.
    pub valid_tokens: usize,
    /// The most the pilot may cost as a share of the planned run's training compute: its
    /// training tokens plus its validation passes at a third of a token each. When the
    /// validation passes would push it over, each pass scores fewer (whole) blocks, at least
    /// one; when even one block per pass would, the pilot trains fewer steps (at least 3).
    pub max_share: f64,
    /// Level of the prediction intervals.
    pub level: f64,
    /// Bootstrap resamples for the intervals.
    pub bootstrap: usize,
}

impl Default for PreflightSettings {
    fn default() -> Self {
        PreflightSettings {
            enabled: false,
            full_run: true,
            pilot_share: 0.08,
            evals: 10,
            decay_share: 0.3,
            valid_tokens: 2048,
            max_share: 0.1,
            level: 0.8,
            bootstrap: 200,
        }
    }
}

/// Forgetting: the pretraining corpus's held-out text under the base and every adapted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForgettingSettings {
    /// Measure it.
    pub enabled: bool,
    /// Tokens of the pretraining corpus's test split scored (0: all).
    pub max_tokens: usize,
}

impl Default for ForgettingSettings {
    fn default() -> Self {
        ForgettingSettings {
            enabled: true,
            max_tokens: 8192,
        }
    }
}

/// When the retrained mitigations run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MitigationPolicy {
    /// Never: the verdict rests on the plain run alone.
    Never,
    /// When the plain run degrades, gains less than `verdict.min_gain_pct`, or overshoots.
    #[default]
    WhenNeeded,
    /// For every domain.
    Always,
}

/// The mitigations, each a retraining of the base on the domain with the plain run's settings
/// but one change: (a) the loss leaves out the tokens that degraded most on the *validation*
/// split, (b) a lower learning rate, (c) replay of the pretraining corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MitigationSettings {
    /// When they run.
    pub run: MitigationPolicy,
    /// Token ids masked out of the loss by (a): the top ones by ΔNLL on the validation split.
    pub mask_top_k: usize,
    /// Factor on the learning rate for (b).
    pub lr_factor: f64,
    /// Share of the training blocks taken from the pretraining corpus for (c), with the same
    /// number of steps and tokens as the plain run.
    pub replay_ratio: f64,
}

impl Default for MitigationSettings {
    fn default() -> Self {
        MitigationSettings {
            run: MitigationPolicy::WhenNeeded,
            mask_top_k: 10,
            lr_factor: 0.1,
            replay_ratio: 0.25,
        }
    }
}

/// The control arm. Continued pretraining on *any* raw text moves a model (an instruction-tuned
/// base regains raw-text fluency, an undertrained one keeps learning), so a domain's gain alone
/// does not show what the domain itself did. With the control on, the study also trains the
/// base once on the pretraining corpus (or its stand-in) with the same budget and settings,
/// scores every domain's test split with that model, and reports each domain's own effect: its
/// gain minus the control's gain on the same test tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ControlSettings {
    /// Run the control arm.
    pub enabled: bool,
    /// Training tokens of the control run (0: `training.max_train_tokens`, or one epoch of the
    /// pretraining corpus's train split when that is 0 too).
    pub max_train_tokens: usize,
}

/// Continued-pretraining settings (one epoch by default, as in the paper).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingSettings {
    /// Peak learning rate.
    pub lr: f64,
    /// Passes over each domain's train split.
    pub epochs: f64,
    /// Sequences per optimizer step.
    pub batch_size: usize,
    /// Tokens per sequence (at most the model's context).
    pub block_size: usize,
    /// Warmup as a fraction of the steps.
    pub warmup_ratio: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Global gradient-norm clip.
    pub max_grad_norm: f64,
    /// Train on at most this many tokens of each domain (0: the whole train split).
    pub max_train_tokens: usize,
    /// Evaluate validation perplexity this many times per run (evenly spaced, plus the start).
    pub evals_per_run: usize,
    /// Validation tokens per evaluation (0: the whole valid split).
    pub max_valid_tokens: usize,
    /// Evaluations in a row without improvement that mark the early-stopping point.
    pub patience: usize,
    /// Stop training at the early-stopping point instead of only recording it.
    pub stop_early: bool,
    /// What to keep of a domain's checkpoints once the domain is finished.
    pub checkpoints: CheckpointPolicy,
    /// Data-parallel continued pretraining through torch.distributed (torchrun).
    pub distributed: DistributedSettings,
}

/// Data-parallel continued pretraining: with `nproc_per_node` ≥ 1 every continued-pretraining
/// run is handed to `torchrun` (HF's Trainer under DDP: Gloo on CPU, NCCL on GPU; see
/// `odyssey_train::trainer::Distributed`); 0 keeps it in this process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistributedSettings {
    /// Ranks on this machine (0: train in this process).
    pub nproc_per_node: usize,
    /// Machines.
    pub nnodes: usize,
    /// This machine's rank (0 runs the study; the others only train).
    pub node_rank: usize,
    /// `HOST:PORT` of machine 0 (needed when `nnodes > 1`).
    pub rdzv_endpoint: String,
    /// Seconds a collective may wait before the job fails.
    pub timeout_s: u64,
    /// The Python whose `torchrun` launches the ranks (empty: `$ODYSSEY_PYTHON`, or the one
    /// the set-up named when Odyssey was built).
    pub python: PathBuf,
}

impl Default for DistributedSettings {
    fn default() -> Self {
        DistributedSettings {
            nproc_per_node: 0,
            nnodes: 1,
            node_rank: 0,
            rdzv_endpoint: String::new(),
            timeout_s: 300,
            python: PathBuf::new(),
        }
    }
}

impl DistributedSettings {
    /// The launch settings, or `None` for in-process training.
    pub fn launch(&self) -> Option<odyssey_train::trainer::Distributed> {
        if self.nproc_per_node == 0 {
            return None;
        }
        let python = if self.python.as_os_str().is_empty() {
            std::env::var_os("ODYSSEY_PYTHON")
                .map(PathBuf::from)
                .or_else(|| option_env!("ODYSSEY_PYTHON").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("python3"))
        } else {
            self.python.clone()
        };
        Some(odyssey_train::trainer::Distributed {
            nnodes: self.nnodes,
            node_rank: self.node_rank,
            rdzv_endpoint: (!self.rdzv_endpoint.is_empty()).then(|| self.rdzv_endpoint.clone()),
            timeout_s: self.timeout_s,
            ..odyssey_train::trainer::Distributed::local(self.nproc_per_node, &python)
        })
    }
}

/// What the study keeps of a domain's checkpoints. While a domain trains, the trainer keeps
/// its newest checkpoint and its best one (weights, optimizer state, position), so that a
/// killed run resumes where it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointPolicy {
    /// Once the domain is finished, keep only its final weights and state (no optimizer state,
    /// no other checkpoint): enough for a rerun to rescore it without training, at a third of
    /// a checkpoint's size.
    #[default]
    Resume,
    /// Keep every checkpoint the trainer kept (newest and best, with optimizer state).
    All,
    /// Delete the domain's checkpoints once it is finished (a rerun that lost the domain's
    /// result trains it again).
    None,
}

/// Test-perplexity settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalSettings {
    /// Score at most this many test tokens per domain (0: the whole test split).
    pub max_test_tokens: usize,
    /// Window length in tokens (0: the model's context).
    pub window: usize,
    /// Windows scored per forward pass.
    pub batch_size: usize,
}

/// Similarity settings: deterministic paragraph samples on both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimilaritySettings {
    /// Paragraphs sampled from each domain's train split.
    pub domain_samples: usize,
    /// Paragraphs sampled from the pretraining corpus.
    pub pretraining_samples: usize,
    /// Bootstrap resamples for the intervals.
    pub bootstrap: usize,
    /// Paragraphs shorter than this (characters) are not sampled.
    pub min_paragraph_chars: usize,
    /// Also embed both samples with the base model itself (mean final hidden state) and
    /// report their centroid cosine: a similarity that needs no sentence encoder's view of the
    /// text, only the model's.
    pub model_embeddings: bool,
    /// Tokens per paragraph the base model embeds (longer paragraphs are truncated).
    pub model_embedding_tokens: usize,
}

/// Thresholds of the per-domain verdict (see [`crate::verdict`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerdictSettings {
    /// A relative perplexity increase above this (in %) counts as degradation.
    pub degradation_tolerance_pct: f64,
    /// A relative perplexity decrease below this (in %) is not worth a training run.
    pub min_gain_pct: f64,
    /// Tokens listed per domain as explaining the change.
    pub top_k_tokens: usize,
}

impl Default for StudyConfig {
    fn default() -> Self {
        StudyConfig {
            model: PathBuf::from("data/default/base-model"),
            pretraining_corpus: PathBuf::from("data/default/pretraining"),
            domains: PathBuf::from("data/default/domains"),
            only_domains: Vec::new(),
            out: PathBuf::from("odyssey-out"),
            encoder: PathBuf::new(),
            seed: 42,
            threads: 0,
            device: DeviceChoice::Auto,
            training: TrainingSettings::default(),
            eval: EvalSettings::default(),
            similarity: SimilaritySettings::default(),
            verdict: VerdictSettings::default(),
            control: ControlSettings::default(),
            forgetting: ForgettingSettings::default(),
            mitigations: MitigationSettings::default(),
            preflight: PreflightSettings::default(),
        }
    }
}

impl Default for TrainingSettings {
    fn default() -> Self {
        TrainingSettings {
            lr: 1e-4,
            epochs: 1.0,
            batch_size: 8,
            block_size: 256,
            warmup_ratio: 0.1,
            weight_decay: 0.01,
            max_grad_norm: 1.0,
            max_train_tokens: 0,
            evals_per_run: 8,
            max_valid_tokens: 16_384,
            patience: 2,
            stop_early: false,
            checkpoints: CheckpointPolicy::Resume,
            distributed: DistributedSettings::default(),
        }
    }
}

impl Default for EvalSettings {
    fn default() -> Self {
        EvalSettings {
            max_test_tokens: 0,
            window: 0,
            batch_size: 8,
        }
    }
}

impl Default for SimilaritySettings {
    fn default() -> Self {
        SimilaritySettings {
            domain_samples: 200,
            pretraining_samples: 400,
            bootstrap: 200,
            min_paragraph_chars: 100,
            model_embeddings: true,
            model_embedding_tokens: 256,
        }
    }
}

impl Default for VerdictSettings {
    fn default() -> Self {
        VerdictSettings {
            degradation_tolerance_pct: 0.5,
            min_gain_pct: 2.0,
            top_k_tokens: 10,
        }
    }
}

impl StudyConfig {
    /// Read a config from a `.toml` or `.json` file (decided by the extension; anything else
    /// is tried as TOML). Fields not in the file keep their defaults; unknown fields are errors.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| StudyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        Self::parse(&text, is_json, path)
    }

    /// Parse a config from text (`json`: JSON, else TOML); `path` names the source in errors.
    pub fn parse(text: &str, json: bool, path: &Path) -> Result<Self> {
        let cfg: StudyConfig = if json {
            serde_json::from_str(text).map_err(|e| StudyError::Config {
                path: path.to_path_buf(),
                message: format!("line {}, column {}: {e}", e.line(), e.column()),
            })?
        } else {
            toml::from_str(text).map_err(|e| StudyError::Config {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?
        };
        let mut cfg = cfg;
        for p in [
            &mut cfg.model,
            &mut cfg.pretraining_corpus,
            &mut cfg.domains,
            &mut cfg.out,
            &mut cfg.encoder,
        ] {
            *p = expand_env(p, path)?;
        }
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Check values that serde cannot: positive sizes, finite rates, sane thresholds.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |message: String| {
            Err(StudyError::Config {
                path: path.to_path_buf(),
                message,
            })
        };
        let t = &self.training;
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return bad(format!(
                "training.lr must be a positive number, got {}",
                t.lr
            ));
        }
        if !(t.epochs.is_finite() && t.epochs > 0.0) {
            return bad(format!(
                "training.epochs must be a positive number, got {}",
                t.epochs
            ));
        }
        if t.batch_size == 0 || t.block_size < 2 {
            return bad(format!(
                "training.batch_size must be >= 1 and training.block_size >= 2 (got {} and {})",
                t.batch_size, t.block_size
            ));
        }
        if !(0.0..1.0).contains(&t.warmup_ratio) {
            return bad(format!(
                "training.warmup_ratio must be in [0, 1), got {}",
                t.warmup_ratio
            ));
        }
        if t.evals_per_run == 0 || t.patience == 0 {
            return bad("training.evals_per_run and training.patience must be >= 1".into());
        }
        if self.eval.batch_size == 0 || (self.eval.window != 0 && self.eval.window < 2) {
            return bad("eval.batch_size must be >= 1 and eval.window 0 or >= 2".into());
        }
        let s = &self.similarity;
        if s.domain_samples < 2 || s.pretraining_samples < 2 {
            return bad(format!(
                "similarity.domain_samples and similarity.pretraining_samples must be >= 2 (got {} and {})",
                s.domain_samples, s.pretraining_samples
            ));
        }
        let v = &self.verdict;
        if !(v.degradation_tolerance_pct >= 0.0 && v.min_gain_pct >= 0.0) {
            return bad("verdict thresholds must be >= 0".into());
        }
        if v.top_k_tokens == 0 {
            return bad("verdict.top_k_tokens must be >= 1".into());
        }
        let d = &t.distributed;
        if d.nproc_per_node > 0 {
            if d.nnodes == 0 || d.node_rank >= d.nnodes {
                return bad(format!(
                    "training.distributed: node_rank {} must be below nnodes {}",
                    d.node_rank, d.nnodes
                ));
            }
            if t.batch_size % (d.nproc_per_node * d.nnodes) != 0 {
                return bad(format!(
                    "training.batch_size {} must be a multiple of the {} ranks of training.distributed",
                    t.batch_size,
                    d.nproc_per_node * d.nnodes
                ));
            }
            if t.stop_early {
                return bad("training.stop_early runs in-process only: a distributed run trains to its planned end (set stop_early = false or training.distributed.nproc_per_node = 0)".into());
            }
            if d.nnodes > 1 && d.rdzv_endpoint.is_empty() {
                return bad("training.distributed.rdzv_endpoint is needed with nnodes > 1".into());
            }
            if d.nnodes > 1
                && (self.control.enabled
                    || self.preflight.enabled
                    || self.mitigations.run != MitigationPolicy::Never)
            {
                return bad("on several machines the study runs its plain continued pretraining only: set control.enabled = false, preflight.enabled = false and mitigations.run = \"never\"".into());
            }
        }
        let p = &self.preflight;
        let preflight_ok = p.pilot_share > 0.0
            && p.pilot_share <= 1.0
            && (0.0..1.0).contains(&p.decay_share)
            && p.level > 0.0
            && p.level < 1.0
            && p.evals >= 3
            && p.valid_tokens > 0;
        if p.max_share < p.pilot_share {
            return bad(format!(
                "preflight: max_share ({}) is below pilot_share ({}): the pilot's training alone would exceed it; raise max_share",
                p.max_share, p.pilot_share
            ));
        }
        if !preflight_ok {
            return bad(format!(
                "preflight: pilot_share in (0, 1], decay_share in [0, 1), level in (0, 1), evals >= 3, valid_tokens >= 1 (got {}, {}, {}, {}, {})",
                p.pilot_share, p.decay_share, p.level, p.evals, p.valid_tokens
            ));
        }
        let m = &self.mitigations;
        if m.mask_top_k == 0
            || !(m.lr_factor.is_finite() && m.lr_factor > 0.0)
            || !(0.0..1.0).contains(&m.replay_ratio)
        {
            return bad(format!(
                "mitigations: mask_top_k must be >= 1, lr_factor > 0, replay_ratio in [0, 1) (got {}, {}, {})",
                m.mask_top_k, m.lr_factor, m.replay_ratio
            ));
        }
        if s.model_embeddings && s.model_embedding_tokens == 0 {
            return bad("similarity.model_embedding_tokens must be >= 1".into());
        }
        Ok(())
    }

    /// A short hash of every setting that changes a domain's result (not the output folder,
    /// thread count or device), used to decide whether a finished domain can be reused.
    pub fn result_fingerprint(&self) -> String {
        let mut c = self.clone();
        c.out = PathBuf::new();
        c.threads = 0;
        c.device = DeviceChoice::Auto;
        c.only_domains.clear();
        let json = serde_json::to_vec(&c).unwrap_or_default();
        let digest = Sha256::digest(&json);
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// `${NAME}` in `p` replaced by the environment variable `NAME`; an unset variable is an error
/// naming it and the file.
fn expand_env(p: &Path, file: &Path) -> Result<PathBuf> {
    let s = p.to_string_lossy();
    if !s.contains("${") {
        return Ok(p.to_path_buf());
    }
    let mut out = String::new();
    let mut rest = s.as_ref();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start + 2..].find('}') else {
            return Err(StudyError::Config {
                path: file.to_path_buf(),
                message: format!("unterminated ${{...}} in the path {s:?}"),
            });
        };
        let name = &rest[start + 2..start + 2 + len];
        let value = std::env::var(name).map_err(|_| StudyError::Config {
            path: file.to_path_buf(),
            message: format!("the path {s:?} names ${{{name}}}, which is not set (scripts/odyssey.sh sets the ODYSSEY_* variables)"),
        })?;
        out.push_str(&value);
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    Ok(PathBuf::from(out))
}

/// The config as TOML text (what `--print-config` shows; a valid config file).
pub fn to_toml(cfg: &StudyConfig) -> Result<String> {
    toml::to_string_pretty(cfg).map_err(|e| StudyError::Config {
        path: PathBuf::from("<config>"),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_only_what_it_names() {
        let cfg = StudyConfig::parse(
            "seed = 7\n[training]\nlr = 3e-4\nmax_train_tokens = 5000\n",
            false,
            Path::new("study.toml"),
        )
        .unwrap();
        assert_eq!(cfg.seed, 7);
        assert_eq!(cfg.training.lr, 3e-4);
        assert_eq!(cfg.training.max_train_tokens, 5000);
        assert_eq!(cfg.training.epochs, 1.0);
        assert_eq!(cfg.similarity, SimilaritySettings::default());
    }

    #[test]
    fn json_and_toml_agree() {
        let t = StudyConfig::parse(
            "domains = \"d\"\n[eval]\nmax_test_tokens = 100\n",
            false,
            Path::new("a.toml"),
        )
        .unwrap();
        let j = StudyConfig::parse(
            r#"{"domains": "d", "eval": {"max_test_tokens": 100}}"#,
            true,
            Path::new("a.json"),
        )
        .unwrap();
        assert_eq!(t, j);
        assert_eq!(t.domains, PathBuf::from("d"));
    }

    #[test]
    fn unknown_field_is_an_error_naming_the_file() {
        let e = StudyConfig::parse(
            "[training]\nlearning_rate = 1.0\n",
            false,
            Path::new("x.toml"),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("x.toml:"), "{msg}");
        assert!(msg.contains("learning_rate"), "{msg}");
    }

    #[test]
    fn bad_values_are_rejected() {
        for text in [
            "[training]\nlr = -1.0\n",
            "[training]\nepochs = 0.0\n",
            "[training]\nwarmup_ratio = 1.5\n",
            "[similarity]\ndomain_samples = 1\n",
            "[verdict]\ntop_k_tokens = 0\n",
            "[preflight]\npilot_share = 0.2\n",
        ] {
            assert!(
                StudyConfig::parse(text, false, Path::new("c.toml")).is_err(),
                "{text}"
            );
        }
        let e = StudyConfig::parse(
            "[preflight]\npilot_share = 0.2\nmax_share = 0.15\n",
            false,
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("max_share (0.15) is below pilot_share (0.2)"),
            "{e}"
        );
        let e = StudyConfig::parse("{\"seed\": \"x\"}", true, Path::new("c.json")).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn from_file_reads_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("s.toml");
        std::fs::write(&t, "seed = 3\n").unwrap();
        assert_eq!(StudyConfig::from_file(&t).unwrap().seed, 3);
        let j = dir.path().join("s.json");
        std::fs::write(&j, "{\"seed\": 4}").unwrap();
        assert_eq!(StudyConfig::from_file(&j).unwrap().seed, 4);
        assert!(matches!(
            StudyConfig::from_file(&dir.path().join("missing.toml")),
            Err(StudyError::Io { .. })
        ));
    }

    #[test]
    fn toml_round_trips() {
        let mut cfg = StudyConfig {
            only_domains: vec!["a".into(), "b".into()],
            ..StudyConfig::default()
        };
        cfg.training.lr = 2.5e-4;
        let text = to_toml(&cfg).unwrap();
        assert_eq!(
            StudyConfig::parse(&text, false, Path::new("t.toml")).unwrap(),
            cfg
        );
    }

    #[test]
    fn paths_name_environment_variables() {
        std::env::set_var("ODYSSEY_TEST_MODEL_DIR", "/models/x");
        let cfg = StudyConfig::parse(
            "model = \"${ODYSSEY_TEST_MODEL_DIR}/m.gguf\"\n",
            false,
            Path::new("s.toml"),
        )
        .unwrap();
        assert_eq!(cfg.model, PathBuf::from("/models/x/m.gguf"));
        let e = StudyConfig::parse(
            "model = \"${ODYSSEY_TEST_UNSET_VARIABLE}\"\n",
            false,
            Path::new("s.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("ODYSSEY_TEST_UNSET_VARIABLE"), "{e}");
    }

    #[test]
    fn fingerprint_ignores_output_and_threads_only() {
        let a = StudyConfig::default();
        let mut b = a.clone();
        b.out = "elsewhere".into();
        b.threads = 2;
        assert_eq!(a.result_fingerprint(), b.result_fingerprint());
        b.training.lr = 1e-3;
        assert_ne!(a.result_fingerprint(), b.result_fingerprint());
    }
}
