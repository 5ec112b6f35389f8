//! A run killed after a checkpoint and resumed from it continues with exactly the losses,
//! evaluations and weights of a run that was never stopped (CPU, one thread, dropout on): once
//! with the death simulated inside the process, once with a real training process killed by
//! SIGKILL.

mod trainer_support;

use odyssey_train::trainer::{
    Duration, EarlyStopping, ScheduleKind, StopRule, TrainReport, Trainer, TrainerConfig, Warmup,
};
use odyssey_train::{CausalLm, Gpt2Lm};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration as Wait, Instant};
use tch::{nn, Tensor};
use trainer_support::{byte_blocks, tiny_gpt2, weights, NEWLINE};

/// libtorch's generator (dropout) and thread count are process-wide: the tests take turns.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    let g = TURN.lock().unwrap_or_else(|e| e.into_inner());
    tch::set_num_threads(1);
    g
}

/// The model dies (as a killed process would) in the middle of a step: after `limit` training
/// forward passes.
struct DiesAfter {
    inner: Gpt2Lm,
    calls: AtomicUsize,
    limit: usize,
}

impl CausalLm for DiesAfter {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        if train && self.calls.fetch_add(1, Ordering::SeqCst) >= self.limit {
            panic!("process killed");
        }
        self.inner.forward_t(x, train)
    }
    fn hidden_states(&self, x: &Tensor) -> Tensor {
        self.inner.hidden_states(x)
    }
    fn var_store(&self) -> &nn::VarStore {
        self.inner.var_store()
    }
    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        self.inner.var_store_mut()
    }
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }
    fn max_positions(&self) -> usize {
        self.inner.max_positions()
    }
}

fn config(out: &Path) -> TrainerConfig {
    TrainerConfig {
        lr: 3e-3,
        schedule: ScheduleKind::Cosine,
        warmup: Warmup::Steps(2),
        micro_batch_size: 4,
        grad_accum_steps: 2,
        max_grad_norm: Some(1.0),
        // 40 blocks, 8 per step: 5 steps per epoch, so the run crosses two epoch boundaries.
        duration: Duration::Steps(12),
        seed: 11,
        ignore_token_ids: vec![NEWLINE],
        eval_every: Some(4),
        eval_batch_size: 8,
        early_stopping: Some(EarlyStopping {
            patience: 5,
            rule: StopRule::Worsens,
            min_delta: 0.0,
        }),
        output_dir: Some(out.to_path_buf()),
        save_every: Some(3),
        keep_last: 1,
        resume: true,
        threads: Some(1),
        progress: false,
        adamw: odyssey_train::trainer::AdamWConfig {
            weight_decay: 0.01,
            ..Default::default()
        },
    }
}

fn train_events(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|mut v| {
            v.as_object_mut().unwrap().remove("tokens_per_second");
            v
        })
        .collect()
}

/// The training curve of a run as comparable tuples.
fn curve(r: &TrainReport) -> Vec<(usize, f64, f64, f64, usize, u64)> {
    r.steps
        .iter()
        .map(|s| {
            (
                s.step,
                s.loss,
                s.lr,
                s.grad_norm,
                s.loss_tokens,
                s.tokens_seen,
            )
        })
        .collect()
}

#[test]
fn resumed_run_reproduces_the_uninterrupted_run() {
    let _t = turn();
    let train = byte_blocks("wiki_music", "train", 40);
    let valid = byte_blocks("wiki_music", "valid", 8);
    let dir = tempfile::tempdir().unwrap();
    let (out_a, out_b) = (dir.path().join("a"), dir.path().join("b"));

    // Run A: never stopped.
    let mut model_a = tiny_gpt2(5, 0.1);
    let report_a = Trainer::new(config(&out_a))
        .fit(&mut model_a, &train, Some(&valid))
        .unwrap();
    assert_eq!(report_a.steps.len(), 12);
    assert_eq!(report_a.resumed_from_step, None);

    // Run B: killed during step 8 (2 micro-batches per step); newest checkpoint is step 6.
    let mut dying = DiesAfter {
        inner: tiny_gpt2(5, 0.1),
        calls: AtomicUsize::new(0),
        limit: 7 * 2 + 1,
    };
    let killed = catch_unwind(AssertUnwindSafe(|| {
        Trainer::new(config(&out_b)).fit(&mut dying, &train, Some(&valid))
    }));
    assert!(killed.is_err(), "the run should have died");
    drop(dying);
    let partial = train_events(&out_b);
    assert!(
        partial.iter().any(|e| e["step"] == 7),
        "steps after the checkpoint were logged"
    );

    // Restart from scratch in a new model (other initial weights): everything comes from the
    // checkpoint.
    let mut model_b = tiny_gpt2(12345, 0.1);
    let report_b: TrainReport = Trainer::new(config(&out_b))
        .fit(&mut model_b, &train, Some(&valid))
        .unwrap();
    assert_eq!(report_b.resumed_from_step, Some(6));

    assert_eq!(curve(&report_a), curve(&report_b));
    assert_eq!(report_a.evals, report_b.evals);
    assert_eq!(report_a.best_step, report_b.best_step);
    assert_eq!(report_a.tokens_seen, report_b.tokens_seen);
    assert_eq!(weights(model_a.var_store()), weights(model_b.var_store()));
    // The losses moved (the comparison is not between two constant curves).
    assert!(report_a.steps[11].loss < report_a.steps[0].loss - 0.5);
    // The log holds each step once, as in the uninterrupted run.
    assert_eq!(train_events(&out_a), train_events(&out_b));
}

/// Environment variable that turns [`training_process_to_be_killed`] on, naming its output folder.
const CHILD_OUT: &str = "ODYSSEY_TRAINER_KILL_TEST_OUT";
/// Writes its `ready` file and then stalls (as a long step would) at its `at`-th training forward pass.
struct StallsAt {
    inner: Gpt2Lm,
    calls: AtomicUsize,
    at: usize,
    ready: PathBuf,
}

impl CausalLm for StallsAt {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        if train && self.calls.fetch_add(1, Ordering::SeqCst) == self.at {
            std::fs::write(&self.ready, b"").unwrap();
            std::thread::sleep(Wait::from_secs(600));
        }
        self.inner.forward_t(x, train)
    }
    fn hidden_states(&self, x: &Tensor) -> Tensor {
        self.inner.hidden_states(x)
    }
    fn var_store(&self) -> &nn::VarStore {
        self.inner.var_store()
    }
    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        self.inner.var_store_mut()
    }
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }
    fn max_positions(&self) -> usize {
        self.inner.max_positions()
    }
}

/// The training process that [`killed_process_resumes_like_the_uninterrupted_run`] starts and
/// kills; it does nothing unless [`CHILD_OUT`] is set.
#[test]
#[ignore = "run as a child process by killed_process_resumes_like_the_uninterrupted_run"]
fn training_process_to_be_killed() {
    let Some(out) = std::env::var_os(CHILD_OUT).map(PathBuf::from) else {
        return;
    };
    tch::set_num_threads(1);
    let train = byte_blocks("wiki_music", "train", 40);
    let valid = byte_blocks("wiki_music", "valid", 8);
    let mut model = StallsAt {
        inner: tiny_gpt2(5, 0.1),
        calls: AtomicUsize::new(0),
        // The first micro-batch of step 8: step 7 is done and logged, the newest checkpoint is
        // step 6.
        at: 7 * 2,
        ready: out.with_extension("ready"),
    };
    Trainer::new(config(&out))
        .fit(&mut model, &train, Some(&valid))
        .unwrap();
    panic!("the training process was not killed");
}

#[test]
fn killed_process_resumes_like_the_uninterrupted_run() {
    let _t = turn();
    let train = byte_blocks("wiki_music", "train", 40);
    let valid = byte_blocks("wiki_music", "valid", 8);
    let dir = tempfile::tempdir().unwrap();
    let (out_a, out_b) = (dir.path().join("a"), dir.path().join("b"));
    let ready = out_b.with_extension("ready");

    let mut model_a = tiny_gpt2(5, 0.1);
    let report_a = Trainer::new(config(&out_a))
        .fit(&mut model_a, &train, Some(&valid))
        .unwrap();

    // The same run in another process, killed with SIGKILL in the middle of step 8.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "training_process_to_be_killed",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_OUT, &out_b)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !ready.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            panic!("the training process ended by itself ({status}): {err}");
        }
        assert!(
            started.elapsed() < Wait::from_secs(300),
            "the training process did not reach step 8 in 5 minutes"
        );
        std::thread::sleep(Wait::from_millis(20));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status}");
    let partial = train_events(&out_b);
    assert!(
        partial.iter().any(|e| e["step"] == 7),
        "steps after the checkpoint were logged before the kill"
    );
    assert!(!partial.iter().any(|e| e["step"] == 8));

    // Rerun, in this process, from a model with other initial weights.
    let mut model_b = tiny_gpt2(12345, 0.1);
    let report_b = Trainer::new(config(&out_b))
        .fit(&mut model_b, &train, Some(&valid))
        .unwrap();
    assert_eq!(report_b.resumed_from_step, Some(6));
    assert_eq!(curve(&report_a), curve(&report_b));
    assert_eq!(report_a.evals, report_b.evals);
    assert_eq!(report_a.best_step, report_b.best_step);
    assert_eq!(weights(model_a.var_store()), weights(model_b.var_store()));
    assert!(report_a.steps[11].loss < report_a.steps[0].loss - 0.5);
    assert_eq!(train_events(&out_a), train_events(&out_b));
}
