//! Training and evaluation throughput and peak memory at real size: SmolLM2-135M (Llama
//! architecture, 30 layers, hidden 576, 9/3 heads, vocab 49,152), real weights from its GGUF
//! file, in the configuration of the HF transformers peer
//! `scripts/bench/peers/hf_real_model_paired.py`: training steps on a batch of 8 × 256 tokens
//! with AdamW (lr 1e-4, torch's defaults, weight decay 0.01 on every parameter) and
//! global-norm clipping at 1.0; evaluation of the mean next-token loss over a batch of 8
//! windows of 256 tokens, or 1 window of 2,048 tokens. fp32 on the CPU; on CUDA the matrix
//! products run in bf16 with fp32 weights (Odyssey's default there).
//!
//! ```text
//! bench_real_model --serve THREADS MODEL.gguf TOKENS.u32 [cpu|cuda]
//! ```
//!
//! `TOKENS.u32` holds little-endian `u32` token ids (at least 2,048 of them): the training
//! batch is its first 8 × 256, the windows its first 2,048. After two warm-up training steps
//! it prints `ready`, then answers each stdin line `train N`, `eval256 N` or `eval2048 N` with
//! the seconds N steps took, `rss` with the process's peak resident memory in bytes
//! (`VmHWM`), `gflops` with the fp32 1024³ matmul rate through tch; `quit` or the end of input
//! stops it. `scripts/bench/real_model.sh` drives it next to the HF peer.

use anyhow::{bail, Context, Result};
use odyssey_train::trainer::{AdamW, AdamWConfig, NoDecay};
use odyssey_train::{AnyModel, CausalLm};
use std::io::{BufRead, Write};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn matmul_gflops(device: Device) -> f64 {
    let n = 1024i64;
    let a = Tensor::randn([n, n], (Kind::Float, device));
    let b = Tensor::randn([n, n], (Kind::Float, device));
    for _ in 0..3 {
        let _ = a.mm(&b);
    }
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        let _ = a.mm(&b).sum(Kind::Float).double_value(&[]);
    }
    2.0 * (n as f64).powi(3) * reps as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [flag, threads, model_path, tokens_path, rest @ ..] = args.as_slice() else {
        bail!("usage: bench_real_model --serve THREADS MODEL.gguf TOKENS.u32 [cpu|cuda]");
    };
    if flag != "--serve" {
        bail!("the first argument must be --serve");
    }
    let device = match rest.first().map(String::as_str) {
        None | Some("cpu") => Device::Cpu,
        Some("cuda") if tch::Cuda::is_available() => Device::Cuda(0),
        Some(other) => bail!("device {other}: cpu, or cuda where libtorch sees a GPU"),
    };
    odyssey_train::set_threads(threads.parse()?);
    let bytes = std::fs::read(tokens_path).with_context(|| tokens_path.clone())?;
    let ids: Vec<i64> = bytes
        .chunks_exact(4)
        .map(|c| i64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    if ids.len() < 2048 {
        bail!(
            "{tokens_path}: {} token ids, at least 2048 needed",
            ids.len()
        );
    }
    let model = AnyModel::from_gguf(model_path, device)?;
    let batch = Tensor::from_slice(&ids[..2048])
        .view([8, 256])
        .to_device(device);
    let long = Tensor::from_slice(&ids[..2048])
        .view([1, 2048])
        .to_device(device);
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
    let mut train_step = || -> Result<()> {
        let loss = model.lm_loss(&batch, true);
        loss.backward();
        opt.clip_grad_norm(Some(1.0))?;
        opt.step(1e-4)?;
        opt.zero_grad();
        let _ = loss.double_value(&[]);
        Ok(())
    };
    let eval = |x: &Tensor| {
        tch::no_grad(|| {
            let (_, n) = x.size2().unwrap_or((1, 1));
            let lp = model.target_log_probs(&x.narrow(1, 0, n - 1), &x.narrow(1, 1, n - 1));
            let _ = lp.mean(Kind::Float).double_value(&[]);
        })
    };
    for _ in 0..2 {
        train_step()?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut words = line.split_whitespace();
        let (kind, n) = (words.next(), words.next().map(str::parse::<usize>));
        let start = Instant::now();
        match (kind, n) {
            (Some("quit"), _) | (None, _) => break,
            (Some("rss"), _) => {
                writeln!(out, "{}", peak_rss())?;
                out.flush()?;
                continue;
            }
            (Some("gflops"), _) => {
                writeln!(out, "{:.3}", matmul_gflops(device))?;
                out.flush()?;
                continue;
            }
            (Some("train"), Some(Ok(n))) => {
                for _ in 0..n {
                    train_step()?;
                }
            }
            (Some("eval256"), Some(Ok(n))) => (0..n).for_each(|_| eval(&batch)),
            (Some("eval2048"), Some(Ok(n))) => (0..n).for_each(|_| eval(&long)),
            _ => bail!("expected `train N`, `eval256 N`, `eval2048 N`, `rss`, `gflops` or `quit`, got `{line}`"),
        }
        writeln!(out, "{:.6}", start.elapsed().as_secs_f64())?;
        out.flush()?;
    }
    Ok(())
}
