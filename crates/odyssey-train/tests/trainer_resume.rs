//! A run killed after a checkpoint and resumed from it continues with exactly the losses,
//! evaluations and weights of a run that was never stopped (CPU, one thread, dropout on): once
//! with the death simulated inside the process, once with a real training process killed by
//! SIGKILL.

mod trainer_support;

use odyssey_train::trainer::PackedBlocks;
use odyssey_train::trainer::{
    Duration, EarlyStopping, ScheduleKind, StopRule, TrainReport, Trainer, TrainerConfig, Warmup,
};
use odyssey_train::{CausalLm, Gpt2Lm};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration as Wait, Instant};
use trainer_support::{byte_blocks, tiny_gpt2, weights, Hooked, NEWLINE};

/// libtorch's generator (dropout) and thread count are process-wide: the tests take turns.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    let g = TURN.lock().unwrap_or_else(|e| e.into_inner());
    tch::set_num_threads(1);
    g
}

fn config(out: &Path) -> TrainerConfig {
    TrainerConfig {
        lr: 3e-3,
        schedule: ScheduleKind::Cosine,
        warmup: Warmup::Steps(2),
        decay: Warmup::Steps(0),
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

/// The training and validation streams of these tests.
fn streams() -> (PackedBlocks<'static>, PackedBlocks<'static>) {
    (
        byte_blocks("wiki_music", "train", 40),
        byte_blocks("wiki_music", "valid", 8),
    )
}

/// Train the tiny model in `out`, from initial weights `seed` (a resumed run takes them all
/// from its checkpoint).
fn run(out: &Path, seed: i64) -> (Gpt2Lm, TrainReport) {
    let (train, valid) = streams();
    let mut model = tiny_gpt2(seed, 0.1);
    let report = Trainer::new(config(out))
        .fit(&mut model, &train, Some(&valid))
        .unwrap();
    (model, report)
}

/// A resumed run (`b`, in `out_b`) went on exactly as the uninterrupted one (`a`).
fn assert_same_run(
    a: &(Gpt2Lm, TrainReport),
    out_a: &Path,
    b: &(Gpt2Lm, TrainReport),
    out_b: &Path,
) {
    let ((model_a, report_a), (model_b, report_b)) = (a, b);
    assert_eq!(report_b.resumed_from_step, Some(6));
    assert_eq!(curve(report_a), curve(report_b));
    assert_eq!(report_a.evals, report_b.evals);
    assert_eq!(report_a.best_step, report_b.best_step);
    assert_eq!(report_a.tokens_seen, report_b.tokens_seen);
    assert_eq!(weights(model_a.var_store()), weights(model_b.var_store()));
    // The losses moved (the comparison is not between two constant curves).
    assert!(report_a.steps[11].loss < report_a.steps[0].loss - 0.5);
    // The log holds each step once, as in the uninterrupted run.
    assert_eq!(train_events(out_a), train_events(out_b));
}

#[test]
fn resumed_run_reproduces_the_uninterrupted_run() {
    let _t = turn();
    let (train, valid) = streams();
    let dir = tempfile::tempdir().unwrap();
    let (out_a, out_b) = (dir.path().join("a"), dir.path().join("b"));

    // Run A: never stopped.
    let a = run(&out_a, 5);
    assert_eq!(a.1.steps.len(), 12);
    assert_eq!(a.1.resumed_from_step, None);

    // Run B: killed during step 8 (2 micro-batches per step); newest checkpoint is step 6.
    let mut dying = Hooked::new(tiny_gpt2(5, 0.1), |call, logits| {
        // Calls 14 and 15 are step 8's micro-batches: die in the middle of the step.
        if call >= 15 {
            panic!("process killed");
        }
        logits
    });
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

    // Restart in a new model (other initial weights): everything comes from the checkpoint.
    let b = run(&out_b, 12345);
    assert_same_run(&a, &out_a, &b, &out_b);
}

/// Environment variable that turns [`training_process_to_be_killed`] on, naming its output folder.
const CHILD_OUT: &str = "ODYSSEY_TRAINER_KILL_TEST_OUT";
/// The training process that [`killed_process_resumes_like_the_uninterrupted_run`] starts and
/// kills; it does nothing unless [`CHILD_OUT`] is set.
#[test]
#[ignore = "run as a child process by killed_process_resumes_like_the_uninterrupted_run"]
fn training_process_to_be_killed() {
    let Some(out) = std::env::var_os(CHILD_OUT).map(PathBuf::from) else {
        return;
    };
    tch::set_num_threads(1);
    let (train, valid) = streams();
    // At the first micro-batch of step 8 (step 7 is done and logged, the newest checkpoint is
    // step 6), say so and stall until killed.
    let ready = out.with_extension("ready");
    let mut model = Hooked::new(tiny_gpt2(5, 0.1), move |call, logits| {
        if call == 7 * 2 {
            std::fs::write(&ready, b"").unwrap();
            std::thread::sleep(Wait::from_secs(600));
        }
        logits
    });
    Trainer::new(config(&out))
        .fit(&mut model, &train, Some(&valid))
        .unwrap();
    panic!("the training process was not killed");
}

#[test]
fn killed_process_resumes_like_the_uninterrupted_run() {
    let _t = turn();
    let dir = tempfile::tempdir().unwrap();
    let (out_a, out_b) = (dir.path().join("a"), dir.path().join("b"));
    let ready = out_b.with_extension("ready");
    let a = run(&out_a, 5);

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
    let b = run(&out_b, 12345);
    assert_same_run(&a, &out_a, &b, &out_b);
}
