//! Data-parallel training through torch.distributed (`torchrun`, Gloo on the CPU, HF's Trainer
//! under DDP): 2 ranks give the losses and weights of 1 rank, both follow Odyssey's in-process
//! trainer on the same data order, a killed rank fails the job with a clear message and a rerun
//! resumes from the last complete checkpoint to the uninterrupted result, and two "machines"
//! (two torchrun launches sharing a rendezvous on 127.0.0.1) agree with one.

mod trainer_support;

use odyssey_train::trainer::{
    Distributed, Duration, ScheduleKind, TokenBlocks, TrainReport, Trainer, TrainerConfig, Warmup,
};
use odyssey_train::CausalLm;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use trainer_support::{byte_blocks, tiny_gpt2, weights};

/// One distributed test at a time: each starts several processes on a 2-core machine.
static TURN: Mutex<()> = Mutex::new(());

fn python() -> PathBuf {
    PathBuf::from(std::env::var("ODYSSEY_PYTHON").unwrap_or_else(|_| {
        panic!("ODYSSEY_PYTHON is not set: run scripts/odyssey.sh setup (torchrun comes with its torch)")
    }))
}

fn config(out: &Path) -> TrainerConfig {
    TrainerConfig {
        lr: 3e-3,
        schedule: ScheduleKind::Linear,
        warmup: Warmup::Steps(2),
        micro_batch_size: 8,
        grad_accum_steps: 1,
        max_grad_norm: Some(1.0),
        // 32 blocks, 8 per step: 4 steps per epoch, two epochs.
        duration: Duration::Steps(8),
        seed: 5,
        eval_every: Some(4),
        eval_batch_size: 8,
        output_dir: Some(out.to_path_buf()),
        save_every: Some(2),
        resume: true,
        threads: Some(1),
        progress: false,
        adamw: odyssey_train::trainer::AdamWConfig {
            weight_decay: 0.0,
            ..Default::default()
        },
        ..TrainerConfig::default()
    }
}

/// Every variable of a model by name, as flat values.
type Weights = Vec<(String, Vec<f32>)>;

fn run(out: &Path, ranks: usize) -> Result<(TrainReport, Weights), String> {
    let train = byte_blocks("wiki_music", "train", 32);
    let valid = byte_blocks("wiki_music", "valid", 8);
    let mut model = tiny_gpt2(3, 0.0);
    let dist = Distributed::local(ranks, &python());
    let trainer = Trainer::new(config(out));
    let r = trainer
        .fit_distributed(&mut model, &train, Some(&valid), &dist)
        .map_err(|e| e.to_string())?;
    Ok((r, weights(model.var_store())))
}

fn losses(r: &TrainReport) -> Vec<f64> {
    r.steps.iter().map(|s| s.loss).collect()
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1e-12))
        .fold(0.0, f64::max)
}

fn max_weight_diff(a: &Weights, b: &Weights) -> f32 {
    a.iter()
        .zip(b)
        .map(|((n, x), (m, y))| {
            assert_eq!(n, m);
            x.iter()
                .zip(y)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f32::max)
        })
        .fold(0.0, f32::max)
}

#[test]
fn two_ranks_match_one_and_the_in_process_trainer() {
    let _t = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (one, w1) = run(&dir.path().join("one"), 1).unwrap();
    let (two, w2) = run(&dir.path().join("two"), 2).unwrap();
    assert_eq!(one.steps.len(), 8);
    assert_eq!(two.steps.len(), 8);
    // Same global batch, same blocks per step: same losses and weights, to the order of the
    // all-reduce's sums.
    assert!(
        max_rel(&losses(&one), &losses(&two)) < 1e-4,
        "{:?} vs {:?}",
        losses(&one),
        losses(&two)
    );
    let ev = |r: &TrainReport| {
        r.evals
            .iter()
            .map(|e| e.eval.perplexity)
            .collect::<Vec<_>>()
    };
    assert_eq!(ev(&one).len(), 2);
    assert!(max_rel(&ev(&one), &ev(&two)) < 1e-4);
    assert!(
        max_weight_diff(&w1, &w2) < 1e-4,
        "{}",
        max_weight_diff(&w1, &w2)
    );

    // Odyssey's own trainer on the same data order: the same curve within a stated tolerance
    // (two implementations of the model, optimizer and schedule in fp32).
    let train = byte_blocks("wiki_music", "train", 32);
    let valid = byte_blocks("wiki_music", "valid", 8);
    let mut model = tiny_gpt2(3, 0.0);
    let local = Trainer::new(TrainerConfig {
        output_dir: Some(dir.path().join("local")),
        ..config(dir.path())
    })
    .fit(&mut model, &train, Some(&valid))
    .unwrap();
    assert!(
        max_rel(&losses(&local), &losses(&one)) < 2e-3,
        "{:?} vs {:?}",
        losses(&local),
        losses(&one)
    );
    assert!(max_rel(&ev(&local), &ev(&one)) < 2e-3);
    assert!(max_weight_diff(&weights(model.var_store()), &w1) < 2e-3);
    // The step records follow Odyssey's schedule, and metrics.jsonl is Odyssey's.
    assert_eq!(two.steps[0].lr, 0.0);
    assert!((two.steps[2].lr - 3e-3).abs() < 1e-12);
    let log = std::fs::read_to_string(dir.path().join("two/metrics.jsonl")).unwrap();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("\"event\":\"train\""))
            .count(),
        8
    );
    assert_eq!(train.n_blocks(), 32);
}

#[test]
fn a_killed_rank_fails_the_job_and_a_rerun_resumes_to_the_same_result() {
    let _t = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (whole, w_whole) = run(&dir.path().join("whole"), 2).unwrap();
    let out = dir.path().join("killed");
    std::env::set_var("ODYSSEY_DIST_KILL", "1:5");
    let e = run(&out, 2).unwrap_err();
    std::env::remove_var("ODYSSEY_DIST_KILL");
    assert!(
        e.contains("torchrun exited") && e.contains("resumes"),
        "{e}"
    );
    // Checkpoints are written whole or not at all: steps 2 and 4 exist, nothing half-written.
    let names: Vec<String> = std::fs::read_dir(out.join("handoff/hf"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("checkpoint-"))
        .collect();
    assert!(names.contains(&"checkpoint-4".to_string()), "{names:?}");
    let (resumed, w) = run(&out, 2).unwrap();
    assert_eq!(resumed.resumed_from_step, Some(4));
    let tail = |r: &TrainReport| {
        r.steps
            .iter()
            .filter(|s| s.step > 4)
            .map(|s| s.loss)
            .collect::<Vec<_>>()
    };
    assert!(
        max_rel(&tail(&resumed), &tail(&whole)) < 1e-4,
        "{:?} vs {:?}",
        tail(&resumed),
        tail(&whole)
    );
    assert!(max_weight_diff(&w, &w_whole) < 1e-4);
}

#[test]
fn two_machines_sharing_a_rendezvous_agree_with_one() {
    let _t = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (single, w_single) = run(&dir.path().join("single"), 2).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The models are built here, one after the other: libtorch's generator is global, and two
    // threads seeding it at once would interleave their draws.
    let node = |rank: usize, out: PathBuf| {
        let mut model = tiny_gpt2(3, 0.0);
        std::thread::spawn(move || {
            let train = byte_blocks("wiki_music", "train", 32);
            let valid = byte_blocks("wiki_music", "valid", 8);
            let dist = Distributed {
                nnodes: 2,
                node_rank: rank,
                rdzv_endpoint: Some(format!("127.0.0.1:{port}")),
                ..Distributed::local(1, &python())
            };
            let r = Trainer::new(config(&out))
                .fit_distributed(&mut model, &train, Some(&valid), &dist)
                .map_err(|e| e.to_string());
            r.map(|r| (r, weights(model.var_store())))
        })
    };
    // Each "machine" prepares its own copy of the inputs, as on separate disks.
    let n1 = node(1, dir.path().join("node1"));
    let n0 = node(0, dir.path().join("node0"));
    let (r0, w0) = n0.join().unwrap().unwrap();
    let (r1, _) = n1.join().unwrap().unwrap();
    assert!(
        max_rel(&losses(&r0), &losses(&single)) < 1e-4,
        "{:?} vs {:?}",
        losses(&r0),
        losses(&single)
    );
    assert!(max_weight_diff(&w0, &w_single) < 1e-4);
    // The other machine trained too; its records and the result are on machine 0.
    assert!(r1.steps.is_empty() && r1.last_checkpoint.is_none());
}
