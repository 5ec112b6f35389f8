//! Data-parallel training beyond one process: a hand-off to torch.distributed.
//!
//! [`Trainer::fit_distributed`] prepares, in the run's output folder, what every rank reads
//! without copying — the training blocks in this trainer's own data order for the whole run and
//! the validation blocks as raw little-endian `u32` files (memory-mapped on the Python side),
//! the model as an HF folder, and a launch configuration — then starts `torchrun` on
//! `hf_ddp_train.py` (shipped in this crate's `python/` folder and written next to the run's
//! inputs), which trains with HF transformers' Trainer under DDP
//! (Gloo on CPU, NCCL on GPU; the collectives are torch.distributed's). Rank 0 reports every
//! step and evaluation on its standard output; they become this trainer's progress bar,
//! `metrics.jsonl` and [`TrainReport`]. The final weights are read back into the model.
//!
//! Step `t` trains on the same blocks as the in-process trainer's step `t` (the sampler is
//! sequential over blocks written in this trainer's order, and accelerate gives the ranks
//! consecutive micro-batches), and the loss is normalised by the counted tokens of the whole
//! step across ranks. Each epoch is cut to a whole number of global batches (the in-process
//! trainer runs a short last step instead). A rank that dies makes `torchrun` stop every rank
//! (collectives time out after `timeout_s`); the error says so, and a rerun resumes from the
//! newest complete checkpoint, which rank 0 alone writes, atomically.
//!
//! On several machines, every machine runs the same Odyssey command with its own
//! `node_rank`; each prepares its own copy of the inputs (they are deterministic), and global
//! rank 0, on machine 0, reports the records, writes the checkpoints and the final weights; on
//! the other machines the model is left as it was and the report holds no steps.

use super::data::{counted_labels, epoch_order, TokenBlocks};
use super::error::TrainerError;
use super::metrics::{
    EvalRecord, Evaluation, MetricsEvent, MetricsLog, StepRecord, StopReason, TrainReport,
};
use super::schedule::{LrSchedule, ScheduleKind};
use super::{Duration, Trainer};
use crate::model::{CausalLm, Lm, LmNet};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How to launch the ranks: `torchrun`'s own options.
#[derive(Debug, Clone, PartialEq)]
pub struct Distributed {
    /// Processes on this machine (`--nproc-per-node`).
    pub nproc_per_node: usize,
    /// Machines (`--nnodes`).
    pub nnodes: usize,
    /// This machine's rank among them (`--node-rank`).
    pub node_rank: usize,
    /// The rendezvous `HOST:PORT` on machine 0 that every machine reaches (needed when
    /// `nnodes > 1`; passed to torchrun's static rendezvous as `--master-addr` and
    /// `--master-port`, so that `node_rank` decides which machine holds global rank 0).
    pub rdzv_endpoint: Option<String>,
    /// The `torchrun` executable (the one beside the set-up's Python).
    pub torchrun: PathBuf,
    /// The training script; `None`: this crate's `python/hf_ddp_train.py`, written into the
    /// run's folder.
    pub script: Option<PathBuf>,
    /// Seconds a collective may wait before the job fails (a dead or hung rank).
    pub timeout_s: u64,
}

impl Distributed {
    /// `nproc_per_node` ranks on this machine alone, with the `torchrun` beside `python`
    /// (the set-up's `ODYSSEY_PYTHON`).
    pub fn local(nproc_per_node: usize, python: &Path) -> Self {
        Distributed {
            nproc_per_node,
            nnodes: 1,
            node_rank: 0,
            rdzv_endpoint: None,
            torchrun: python.with_file_name("torchrun"),
            script: None,
            timeout_s: 120,
        }
    }

    /// Ranks in all.
    pub fn world_size(&self) -> usize {
        self.nproc_per_node * self.nnodes
    }

    /// libtorch threads of each rank: the trainer's `threads` (or the machine's cores) shared
    /// evenly among this machine's ranks, at least one.
    pub fn threads_per_rank(&self, threads: Option<usize>) -> usize {
        let cores = threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        (cores / self.nproc_per_node.max(1)).max(1)
    }

    fn command(&self, script: &Path, launch: &Path, threads_per_rank: usize) -> Command {
        let mut c = Command::new(&self.torchrun);
        c.arg(format!("--nproc-per-node={}", self.nproc_per_node))
            .arg(format!("--nnodes={}", self.nnodes))
            .arg(format!("--node-rank={}", self.node_rank));
        match &self.rdzv_endpoint {
            // Static rendezvous: the machine's rank is the one given (c10d rendezvous would
            // assign machines in the order they join), global rank 0 lives on machine 0.
            Some(ep) => {
                let (host, port) = ep.rsplit_once(':').unwrap_or((ep.as_str(), "29500"));
                c.arg(format!("--master-addr={host}"))
                    .arg(format!("--master-port={port}"));
            }
            None => {
                c.arg("--standalone");
            }
        }
        c.arg(script).arg(launch);
        c.env("OMP_NUM_THREADS", threads_per_rank.to_string())
            .env("HF_HUB_OFFLINE", "1");
        c
    }
}

/// The training script every rank runs.
pub const SCRIPT: &str = include_str!("../../python/hf_ddp_train.py");

/// What failing workers said themselves in torchrun's log (a Python error, a C++ abort such as
/// `terminate called without an active exception`), which torchrun's failure summary at the
/// end of the log does not repeat: at most six lines, in order.
fn worker_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            let summary = l.contains("torch/distributed/")
                || l.contains("torch.distributed.elastic")
                || l.trim_start().starts_with("File ");
            !summary
                && (l.contains("Error:") || l.contains("terminate called") || l.contains("what():"))
        })
        .take(6)
        .collect()
}

fn write_blocks(
    path: &Path,
    blocks: &dyn TokenBlocks,
    order: &[usize],
) -> Result<(), TrainerError> {
    let mut bytes = Vec::with_capacity(order.len() * blocks.block_len() * 4);
    for &i in order {
        for &t in blocks.block(i) {
            bytes.extend_from_slice(&t.to_le_bytes());
        }
    }
    odyssey_core::fs::write_atomic(path, &bytes).map_err(|source| TrainerError::Write {
        what: "the blocks of a distributed run",
        source,
    })
}

impl Trainer {
    /// Train `model` data-parallel with `torchrun` (see the module documentation). The output
    /// folder of the config is required; the run's files live in its `handoff/` subfolder.
    pub fn fit_distributed<N: LmNet>(
        &self,
        model: &mut Lm<N>,
        train: &dyn TokenBlocks,
        valid: Option<&dyn TokenBlocks>,
        dist: &Distributed,
    ) -> Result<TrainReport, TrainerError> {
        let cfg = self.config();
        cfg.validate()?;
        let out = cfg.output_dir.clone().ok_or_else(|| {
            TrainerError::config("output_dir", "a distributed run needs an output folder")
        })?;
        let work = out.join("handoff");
        std::fs::create_dir_all(&work).map_err(TrainerError::io(&work))?;
        let global = cfg.micro_batch_size * cfg.grad_accum_steps;
        let world = dist.world_size().max(1);
        if cfg.micro_batch_size % world != 0 {
            return Err(TrainerError::config(
                "micro_batch_size",
                format!(
                    "{} blocks per micro-batch cannot be split over {world} ranks",
                    cfg.micro_batch_size
                ),
            ));
        }
        if cfg.early_stopping.is_some() {
            return Err(TrainerError::config(
                "early_stopping",
                "a distributed run trains to its planned end; early stopping runs in-process only",
            ));
        }
        if cfg.schedule != ScheduleKind::Linear {
            return Err(TrainerError::config(
                "schedule",
                "a distributed run uses HF's linear schedule with warm-up",
            ));
        }
        let n_blocks = train.n_blocks();
        let steps_per_epoch = n_blocks / global;
        if steps_per_epoch == 0 {
            return Err(TrainerError::InvalidData {
                stream: "train",
                message: format!("{n_blocks} blocks do not fill one global batch of {global}"),
            });
        }
        let total_steps = match cfg.duration {
            Duration::Epochs(e) => e * steps_per_epoch,
            Duration::Steps(s) => s,
        };
        let schedule = LrSchedule::new(cfg.schedule, cfg.warmup, total_steps);
        // The training blocks of every step, in this trainer's order; each epoch cut to whole
        // global batches.
        let epochs = total_steps.div_ceil(steps_per_epoch);
        let mut order = Vec::with_capacity(total_steps * global);
        for e in 0..epochs {
            order
                .extend_from_slice(&epoch_order(n_blocks, cfg.seed, e)[..steps_per_epoch * global]);
        }
        order.truncate(total_steps * global);
        let launch = work.join("launch.json");
        let valid_file = work.join("valid.u32");
        let base_dir = work.join("base");
        let eval_every = cfg.eval_every.unwrap_or(total_steps).max(1);
        let launch_json = serde_json::json!({
            "model_dir": base_dir,
            "train": work.join("train.u32"),
            "valid": valid_file,
            "block_len": train.block_len(),
            "global_batch": global,
            "grad_accum": cfg.grad_accum_steps,
            "total_steps": total_steps,
            "warmup_steps": schedule.warmup_steps,
            "lr": cfg.lr,
            "weight_decay": cfg.adamw.weight_decay,
            "max_grad_norm": cfg.max_grad_norm.unwrap_or(1e9),
            "eval_every": eval_every,
            "save_every": cfg.save_every.unwrap_or(eval_every).max(1),
            "seed": cfg.seed,
            "ignore_token_ids": cfg.ignore_token_ids,
            "output_dir": work.join("hf"),
            "timeout_s": dist.timeout_s,
            "world_size": world,
        });
        let text =
            serde_json::to_vec_pretty(&launch_json).map_err(|source| TrainerError::Json {
                path: launch.clone(),
                source,
            })?;
        // A rerun of the same run keeps the prepared inputs (and the base weights it started
        // from); anything else starts afresh.
        let same = std::fs::read(&launch).is_ok_and(|old| old == text);
        if !same || !base_dir.join("config.json").is_file() {
            let _ = std::fs::remove_dir_all(work.join("hf"));
            write_blocks(&work.join("train.u32"), train, &order)?;
            match valid {
                Some(v) => write_blocks(&valid_file, v, &(0..v.n_blocks()).collect::<Vec<_>>())?,
                None => write_blocks(&valid_file, train, &order[..global.min(order.len())])?,
            }
            model.save_pretrained(&base_dir)?;
            odyssey_core::fs::write_atomic(&launch, &text).map_err(|source| {
                TrainerError::Write {
                    what: "the launch configuration",
                    source,
                }
            })?;
        }
        let resumed = std::fs::read_dir(work.join("hf"))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .strip_prefix("checkpoint-")
                            .and_then(|s| s.parse::<usize>().ok())
                    })
                    .max()
            })
            .ok()
            .flatten();

        let script = match &dist.script {
            Some(s) => s.clone(),
            None => {
                let s = work.join("hf_ddp_train.py");
                odyssey_core::fs::write_atomic(&s, SCRIPT.as_bytes()).map_err(|source| {
                    TrainerError::Write {
                        what: "the training script",
                        source,
                    }
                })?;
                s
            }
        };
        let log_path = work.join("torchrun.log");
        let log_file = std::fs::File::create(&log_path).map_err(TrainerError::io(&log_path))?;
        let mut child = dist
            .command(&script, &launch, dist.threads_per_rank(cfg.threads))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(TrainerError::io(&dist.torchrun))?;
        let bar = if cfg.progress {
            ProgressBar::new(total_steps as u64)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {pos}/{len} steps ({msg})  eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!("{world} ranks"));
        bar.set_position(resumed.unwrap_or(0) as u64);
        let mut metrics = MetricsLog::open(&out.join("metrics.jsonl"), resumed)?;
        let started = std::time::Instant::now();
        let mut steps = Vec::new();
        let mut evals = Vec::new();
        let mut final_dir = None;
        let per_step_tokens = (global * train.block_len()) as u64;
        if let Some(stdout) = child.stdout.take() {
            for line in std::io::BufReader::new(stdout).lines() {
                let line = line.map_err(TrainerError::io(&log_path))?;
                let Ok(ev) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                let step = ev["step"].as_u64().unwrap_or(0) as usize;
                match ev["event"].as_str() {
                    Some("train") if (1..=total_steps).contains(&step) => {
                        let blocks: Vec<usize> =
                            order[(step - 1) * global..(step * global).min(order.len())].to_vec();
                        let rec = StepRecord {
                            step,
                            epoch: step as f64 / steps_per_epoch as f64,
                            loss: ev["loss"].as_f64().unwrap_or(f64::NAN),
                            lr: cfg.lr * schedule.factor(step - 1),
                            grad_norm: ev["grad_norm"].as_f64().unwrap_or(f64::NAN),
                            loss_tokens: counted_labels(train, &blocks, &cfg.ignore_token_ids),
                            tokens_seen: step as u64 * per_step_tokens,
                        };
                        let done = step.saturating_sub(resumed.unwrap_or(0)).max(1);
                        metrics.write(&MetricsEvent::Train {
                            record: rec.clone(),
                            tokens_per_second: done as f64 * per_step_tokens as f64
                                / started.elapsed().as_secs_f64().max(1e-9),
                        })?;
                        bar.set_position(step as u64);
                        bar.set_message(format!("{world} ranks, loss {:.4}", rec.loss));
                        steps.push(rec);
                    }
                    Some("eval") => {
                        let loss = ev["loss"].as_f64().unwrap_or(f64::NAN);
                        let rec = EvalRecord {
                            step,
                            eval: Evaluation {
                                loss,
                                perplexity: loss.exp(),
                                tokens: valid.map_or(0, |v| v.n_blocks() * (v.block_len() - 1)),
                                masked_loss: None,
                            },
                            counted_against: false,
                        };
                        metrics.write(&MetricsEvent::Eval {
                            record: rec.clone(),
                        })?;
                        evals.push(rec);
                    }
                    Some("done") => {
                        final_dir = ev["final_dir"].as_str().map(PathBuf::from);
                    }
                    _ => {}
                }
            }
        }
        let status = child.wait().map_err(TrainerError::io(&dist.torchrun))?;
        bar.finish_and_clear();
        if !status.success() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let failed: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("exitcode") || l.contains("Signal") || l.contains("rank"))
                .collect();
            let tail: Vec<&str> = log
                .lines()
                .rev()
                .take(12)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let said = worker_errors(&log);
            let when = if final_dir.is_some() {
                " (its final model was written before the failure)"
            } else {
                ""
            };
            return Err(TrainerError::Distributed {
                message: format!(
                    "torchrun exited with {status} after step {}{when}; {} — a rerun resumes from the newest complete checkpoint in {}. torchrun's log ({}):\n{}{}",
                    steps.last().map_or(resumed.unwrap_or(0), |s| s.step),
                    failed.last().map_or("a rank failed", |l| l.trim()),
                    work.join("hf").display(),
                    log_path.display(),
                    said.iter().map(|l| format!("{l}\n")).collect::<String>(),
                    tail.join("\n")
                ),
            });
        }
        if dist.node_rank > 0 {
            // Global rank 0, on machine 0, reports the records and writes the result; this
            // machine's ranks only trained.
            return Ok(TrainReport {
                steps: Vec::new(),
                evals: Vec::new(),
                best_step: None,
                best_perplexity: None,
                best_checkpoint: None,
                last_checkpoint: None,
                stop_reason: StopReason::Completed,
                total_steps,
                tokens_seen: total_steps as u64 * per_step_tokens,
                train_seconds: started.elapsed().as_secs_f64(),
                resumed_from_step: resumed,
            });
        }
        let final_dir = final_dir.ok_or_else(|| TrainerError::Distributed {
            message: "the ranks finished without reporting their final weights".into(),
        })?;
        crate::weights::load_into(model.var_store_mut(), &final_dir)?;
        let (best_step, best_perplexity) = evals
            .iter()
            .min_by(|a, b| a.eval.perplexity.total_cmp(&b.eval.perplexity))
            .map(|e| (Some(e.step), Some(e.eval.perplexity)))
            .unwrap_or((None, None));
        let report = TrainReport {
            steps,
            evals,
            best_step,
            best_perplexity,
            best_checkpoint: None,
            last_checkpoint: Some(final_dir),
            stop_reason: StopReason::Completed,
            total_steps,
            tokens_seen: total_steps as u64 * per_step_tokens,
            train_seconds: started.elapsed().as_secs_f64(),
            resumed_from_step: resumed,
        };
        let path = out.join("report.json");
        let json =
            odyssey_core::json::to_vec_pretty(&report).map_err(|source| TrainerError::Json {
                path: path.clone(),
                source,
            })?;
        odyssey_core::fs::write_atomic(&path, &json).map_err(|source| TrainerError::Write {
            what: "training report",
            source,
        })?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::worker_errors;

    #[test]
    fn a_workers_abort_is_quoted_and_torchruns_own_traceback_is_not() {
        // From a torchrun log of two Gloo ranks, one aborting at exit.
        let log = "\
W1203 13:24:36.119000 10445 torch/distributed/run.py:874] *****\n\
terminate called without an active exception\n\
E1203 13:24:37.716000 10445 torch/distributed/elastic/multiprocessing/api.py:1002] failed (exitcode: -6) local_rank: 0\n\
Traceback (most recent call last):\n\
  File \"/venv/lib/python3.11/site-packages/torch/distributed/run.py\", line 1028, in main\n\
torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n\
RuntimeError: the global batch 8 is not a multiple of world size 3\n";
        assert_eq!(
            worker_errors(log),
            vec![
                "terminate called without an active exception",
                "RuntimeError: the global batch 8 is not a multiple of world size 3",
            ]
        );
        assert!(worker_errors("step 1\nstep 2\n").is_empty());
    }
}
