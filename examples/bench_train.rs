//! Training and evaluation throughput of GPT-2 (5.3 M parameters) on the CPU, in the exact
//! configuration of the HF transformers peer `scripts/bench/peers/hf_gpt2_anchor.py`: vocab
//! 8192, n_embd 256, 4 layers, 4 heads, 256 positions, no dropout, batch 8×256, AdamW
//! (lr 3e-4, torch's defaults: β (0.9, 0.999), ε 1e-8, weight decay 0.01 on every parameter)
//! with global-norm clipping at 1.0, fp32.
//!
//! ```text
//! cargo run --release --example bench_train -- [threads (2)] [timed steps (10)] [loss chunk rows (auto)]
//! cargo run --release --example bench_train -- --serve [threads (2)]
//! ```
//!
//! With `--serve` it builds the same model, runs the two warm-up steps, prints `ready`, then
//! reads commands from stdin, `train N` or `eval N`, runs N steps of that kind and answers with
//! the elapsed seconds on one line; `quit` or the end of input stops it. The paired benchmark
//! `scripts/bench/train_gpt2.sh` drives it and the HF peer `scripts/bench/peers/hf_gpt2_paired.py`
//! this way, alternating short bursts of the two so that both sides see the same machine load.
//!
//! Also measures the machine's fp32 matmul rate (1024³ through tch) and reports the share of
//! it the model reaches. Model FLOPs per token: training `6·N + 12·L·T·d`, evaluation
//! `2·N + 4·L·T·d`, where `N` is the parameter count without the position embedding (it is a
//! lookup, no multiply; the tied token embedding is counted once, as the output projection),
//! `L` layers, `T` the sequence length, `d` the hidden size (the attention term counts the full
//! `T×T` score and value products, as the PaLM/nanoGPT MFU formula does). The last line is a
//! JSON record of all figures.

use anyhow::Result;
use odyssey_train::trainer::{AdamW, AdamWConfig, NoDecay};
use odyssey_train::{CausalLm, Gpt2Config, Gpt2Lm};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn matmul_gflops(n: i64, reps: usize) -> f64 {
    let a = Tensor::randn([n, n], (Kind::Float, Device::Cpu));
    let b = Tensor::randn([n, n], (Kind::Float, Device::Cpu));
    for _ in 0..3 {
        let _ = a.mm(&b);
    }
    let t = Instant::now();
    for _ in 0..reps {
        let _ = a.mm(&b);
    }
    2.0 * (n as f64).powi(3) * reps as f64 / t.elapsed().as_secs_f64() / 1e9
}

/// Answer `train N` / `eval N` lines from stdin with the seconds N steps took (see the module
/// documentation).
fn serve_commands(
    mut train_step: impl FnMut() -> Result<f64>,
    mut eval_step: impl FnMut() -> f64,
) -> Result<()> {
    use std::io::{BufRead, Write};
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut words = line.split_whitespace();
        let (train, n) = match (words.next(), words.next()) {
            (Some("quit"), _) | (None, _) => break,
            (Some("train"), Some(n)) => (true, n.parse::<usize>()?),
            (Some("eval"), Some(n)) => (false, n.parse::<usize>()?),
            _ => anyhow::bail!("expected `train N`, `eval N` or `quit`, got `{line}`"),
        };
        let start = Instant::now();
        for _ in 0..n {
            if train {
                train_step()?;
            } else {
                eval_step();
            }
        }
        writeln!(out, "{:.6}", start.elapsed().as_secs_f64())?;
        out.flush()?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let serve = args.first().is_some_and(|a| a == "--serve");
    if serve {
        args.remove(0);
    }
    let threads: usize = args.first().map(|s| s.parse()).transpose()?.unwrap_or(2);
    let steps: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let chunk_rows: Option<usize> = args.get(2).map(|s| s.parse()).transpose()?;
    odyssey_train::set_threads(threads);
    tch::manual_seed(0);

    let cfg = Gpt2Config::small(8192, 256, 256, 4, 4);
    let mut model = Gpt2Lm::gpt2(&cfg, Device::Cpu)?;
    if chunk_rows.is_some() {
        model.set_loss_chunk_rows(chunk_rows);
    }
    let params = model.num_parameters();
    println!("params {params}");
    let (b, t) = (8i64, 256i64);
    let x = Tensor::randint(8192, [b, t], (Kind::Int64, Device::Cpu));
    let mut opt = AdamW::new(
        model.var_store(),
        AdamWConfig {
            weight_decay: 0.01,
            no_decay: NoDecay {
                biases: false,
                norms: false,
                embeddings: false,
            },
            ..AdamWConfig::default()
        },
    )?;
    let mut train_step = || -> Result<f64> {
        let loss = model.lm_loss(&x, true);
        loss.backward();
        opt.clip_grad_norm(Some(1.0))?;
        opt.step(3e-4)?;
        opt.zero_grad();
        Ok(loss.double_value(&[]))
    };
    let eval = || tch::no_grad(|| model.lm_loss(&x, false).double_value(&[]));
    for _ in 0..2 {
        train_step()?;
    }
    if serve {
        return serve_commands(train_step, eval);
    }
    let start = Instant::now();
    let mut last = 0.0;
    for _ in 0..steps {
        last = train_step()?;
    }
    let train_s = start.elapsed().as_secs_f64();
    let tokens = (steps as i64 * b * t) as f64;
    let train_tps = tokens / train_s;
    println!("train tokens/s {train_tps:.0} (last loss {last:.4})");

    // Timed from the first evaluation step, as the anchor script times it.
    let start = Instant::now();
    for _ in 0..steps {
        eval();
    }
    let eval_tps = tokens / start.elapsed().as_secs_f64();
    println!("eval tokens/s {eval_tps:.0}");

    let peak = matmul_gflops(1024, 20);
    println!("fp32 matmul 1024^3 GFLOP/s {peak:.1}");
    let n = (params - cfg.n_positions * cfg.n_embd) as f64;
    let attn = (cfg.n_layer * t as usize * cfg.n_embd) as f64;
    let train_flops = 6.0 * n + 12.0 * attn;
    let eval_flops = 2.0 * n + 4.0 * attn;
    let train_share = train_tps * train_flops / 1e9 / peak;
    let eval_share = eval_tps * eval_flops / 1e9 / peak;
    println!(
        "model GFLOP/s train {:.1} ({:.0}% of peak), eval {:.1} ({:.0}% of peak)",
        train_tps * train_flops / 1e9,
        100.0 * train_share,
        eval_tps * eval_flops / 1e9,
        100.0 * eval_share
    );
    let record = serde_json::json!({
        "params": params, "threads": threads, "steps": steps,
        "train_tokens_per_s": train_tps, "eval_tokens_per_s": eval_tps,
        "matmul_gflops": peak, "train_flops_per_token": train_flops,
        "eval_flops_per_token": eval_flops, "train_peak_share": train_share,
        "eval_peak_share": eval_share,
    });
    println!("{record}");
    Ok(())
}
