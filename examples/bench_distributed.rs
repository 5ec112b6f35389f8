//! Throughput of data-parallel training through `torchrun` (the hand-off of
//! `Trainer::fit_distributed`: HF's Trainer under DDP, Gloo on the CPU, NCCL on a GPU) against
//! Odyssey's in-process trainer, on the GPT-2 of `docs/bench-train.md` (5.3 M parameters, vocab
//! 8192, batch 8 × 256, AdamW, clipping at 1.0, fp32).
//!
//! ```text
//! cargo run --release --example bench_distributed -- [steps (16)] [threads (2)] [rounds (2)]
//! ```
//!
//! Every mode — in-process, 1 rank, 2 ranks — runs `steps` and `2 × steps` optimizer steps from
//! the same weights on the same random token blocks, `rounds` times, alternating the modes. The
//! difference of the two wall times over `steps` is the steady-state time per step (start-up,
//! data preparation, the final checkpoint and the read-back cancel out); what remains of the
//! shorter run is the fixed cost of a launch. The ranks share the `threads` cores evenly. The
//! last line is a JSON record of all figures (medians over the rounds).

use anyhow::{Context, Result};
use odyssey_train::trainer::{
    Distributed, Duration, PackedBlocks, ScheduleKind, Trainer, TrainerConfig, Warmup,
};
use odyssey_train::{Gpt2Config, Gpt2Lm};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

const BATCH: usize = 8;
const SEQ: usize = 256;
const VOCAB: i64 = 8192;

fn config(out: &Path, steps: usize, threads: usize) -> TrainerConfig {
    TrainerConfig {
        lr: 3e-4,
        schedule: ScheduleKind::Linear,
        warmup: Warmup::Steps(1),
        micro_batch_size: BATCH,
        grad_accum_steps: 1,
        max_grad_norm: Some(1.0),
        duration: Duration::Steps(steps),
        seed: 0,
        eval_every: None,
        output_dir: Some(out.to_path_buf()),
        save_every: None,
        resume: false,
        threads: Some(threads),
        progress: false,
        ..TrainerConfig::default()
    }
}

/// Seconds one run of `steps` steps takes in `mode` (0: in-process, n: n ranks).
fn run_once(
    mode: usize,
    steps: usize,
    threads: usize,
    blocks: &PackedBlocks,
    python: &Path,
    scratch: &Path,
) -> Result<f64> {
    let out = scratch.join(format!("mode{mode}-steps{steps}"));
    let _ = std::fs::remove_dir_all(&out);
    tch::manual_seed(0);
    let mut model = Gpt2Lm::gpt2(
        &Gpt2Config::small(VOCAB as usize, 256, 256, 4, 4),
        Device::Cpu,
    )?;
    let trainer = Trainer::new(config(&out, steps, threads));
    let start = Instant::now();
    if mode == 0 {
        trainer.fit(&mut model, blocks, None)?;
    } else {
        trainer.fit_distributed(&mut model, blocks, None, &Distributed::local(mode, python))?;
    }
    let s = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&out);
    Ok(s)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let steps: usize = args.first().map(|s| s.parse()).transpose()?.unwrap_or(16);
    let threads: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(2);
    let rounds: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(2);
    let python = PathBuf::from(
        std::env::var("ODYSSEY_PYTHON")
            .context("ODYSSEY_PYTHON is not set: run scripts/odyssey.sh setup")?,
    );
    odyssey_train::set_threads(threads);
    tch::manual_seed(1);
    let n_tokens = 2 * steps * BATCH * SEQ;
    let ids = Tensor::randint(VOCAB, [n_tokens as i64], (Kind::Int64, Device::Cpu));
    let tokens: Vec<u32> = Vec::<i64>::try_from(&ids)?
        .into_iter()
        .map(|t| t as u32)
        .collect();
    let blocks = PackedBlocks::new(tokens, SEQ).map_err(anyhow::Error::msg)?;
    let scratch = std::env::temp_dir().join(format!("odyssey-bench-dist-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;

    let modes = [0usize, 1, 2];
    let names = ["in-process", "torchrun 1 rank", "torchrun 2 ranks"];
    let mut short = vec![Vec::new(); modes.len()];
    let mut long = vec![Vec::new(); modes.len()];
    for round in 1..=rounds {
        for (i, &mode) in modes.iter().enumerate() {
            let a = run_once(mode, steps, threads, &blocks, &python, &scratch)?;
            let b = run_once(mode, 2 * steps, threads, &blocks, &python, &scratch)?;
            eprintln!(
                "round {round}/{rounds} {:<17} {steps} steps {a:6.2} s, {} steps {b:6.2} s",
                names[i],
                2 * steps
            );
            short[i].push(a);
            long[i].push(b);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let step_tokens = (BATCH * SEQ) as f64;
    let mut records = Vec::new();
    println!(
        "| mode | threads per rank | s / step | tokens/s | vs in-process | launch overhead (s) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut base_tps = f64::NAN;
    for (i, &mode) in modes.iter().enumerate() {
        let per_step: Vec<f64> = short[i]
            .iter()
            .zip(&long[i])
            .map(|(a, b)| (b - a) / steps as f64)
            .collect();
        let per_step = median(per_step);
        let fixed = median(short[i].clone()) - steps as f64 * per_step;
        let tps = step_tokens / per_step;
        if mode == 0 {
            base_tps = tps;
        }
        let per_rank = if mode == 0 {
            threads
        } else {
            Distributed::local(mode, &python).threads_per_rank(Some(threads))
        };
        println!(
            "| {} | {per_rank} | {per_step:.3} | {tps:.0} | {:.2} | {fixed:.1} |",
            names[i],
            tps / base_tps
        );
        records.push(serde_json::json!({
            "mode": names[i], "ranks": mode, "threads_per_rank": per_rank,
            "seconds_per_step": per_step, "tokens_per_second": tps,
            "ratio_to_in_process": tps / base_tps, "launch_overhead_s": fixed,
            "short_runs_s": short[i], "long_runs_s": long[i],
        }));
    }
    println!(
        "{}",
        serde_json::json!({"steps": steps, "threads": threads, "rounds": rounds,
            "batch": BATCH, "seq": SEQ, "modes": records})
    );
    Ok(())
}
