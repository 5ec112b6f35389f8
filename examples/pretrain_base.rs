//! Pretrain the embedded default's base model with Odyssey's own tokenizer trainer and trainer:
//! a byte-level BPE tokenizer trained on the pretraining corpus, then a small GPT-2 trained
//! from scratch on it until validation perplexity stops improving (or the planned epochs end).
//!
//! ```text
//! cargo run --release --example pretrain_base               # writes data/default/base-model
//! cargo run --release --example pretrain_base -- --epochs 8 --out /tmp/base
//! ```
//!
//! The output folder is an HF model folder (`config.json`, `model.safetensors`,
//! `tokenizer.json`) that transformers loads, plus `training_record.json` (settings, curves,
//! perplexities). Checkpoints go to `<work>/` (default `target/pretrain_base`); a killed run
//! resumes from the newest one when rerun with the same settings.

use anyhow::{bail, Context};
use clap::Parser;
use odyssey::core::{DocumentSource, Split, TokenizerHandle};
use odyssey::corpus::{
    pack_source, train_byte_level_bpe_on, BpeTrainingOptions, DomainCollection, HfTokenizer,
    Remainder,
};
use odyssey::train::trainer::{
    AdamWConfig, Duration, EarlyStopping, PackedBlocks, ScheduleKind, StopRule, Trainer,
    TrainerConfig, Warmup,
};
use odyssey::train::{Gpt2Config, Gpt2Lm};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

const DEFAULT_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/default");

#[derive(Parser, Debug)]
#[command(about = "Pretrain the study's base GPT-2 on the pretraining corpus.")]
struct Args {
    /// The pretraining corpus: a folder with train/valid(/test) splits.
    #[arg(long, default_value_t = format!("{DEFAULT_DATA}/pretraining"))]
    corpus: String,
    /// Output HF folder.
    #[arg(long, default_value_t = format!("{DEFAULT_DATA}/base-model"))]
    out: String,
    /// Working folder for checkpoints and metrics.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/pretrain_base"))]
    work: PathBuf,
    /// Tokenizer vocabulary size.
    #[arg(long, default_value_t = 4096)]
    vocab: usize,
    /// Context length (tokens per block).
    #[arg(long, default_value_t = 256)]
    context: usize,
    /// Hidden size.
    #[arg(long, default_value_t = 128)]
    n_embd: usize,
    /// Transformer blocks.
    #[arg(long, default_value_t = 3)]
    n_layer: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4)]
    n_head: usize,
    /// Peak learning rate (cosine schedule to 0, 2 % warmup).
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Blocks per optimizer step.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Planned epochs over the pretraining corpus (8 trains the shipped base to convergence:
    /// validation perplexity 109.0, ~29 minutes on 2 CPU cores).
    #[arg(long, default_value_t = 8)]
    epochs: usize,
    /// Evaluate validation perplexity every this many steps.
    #[arg(long, default_value_t = 100)]
    eval_every: usize,
    /// Stop when validation perplexity has not improved for this many evaluations.
    #[arg(long, default_value_t = 3)]
    patience: usize,
    /// CPU threads (0: libtorch's default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Seed of initialisation and data order.
    #[arg(long, default_value_t = 1234)]
    seed: u64,
}

/// Tokenize every document of `split` and join them with the end-of-document token after each,
/// as packing for causal LM training does (one flat stream; blocks are cut by `blocks`).
fn packed_tokens(
    source: &dyn DocumentSource,
    split: Split,
    tok: &HfTokenizer,
) -> anyhow::Result<Vec<u32>> {
    Ok(pack_source(source, split, tok, 1, Remainder::Keep)?.into_tokens())
}

fn blocks(tokens: &[u32], len: usize) -> anyhow::Result<PackedBlocks<'_>> {
    let n = tokens.len() / len * len;
    if n == 0 {
        bail!("{} tokens do not fill one block of {len}", tokens.len());
    }
    PackedBlocks::new(&tokens[..n], len).map_err(anyhow::Error::msg)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    tch::manual_seed(args.seed as i64);
    if args.threads > 0 {
        tch::set_num_threads(args.threads as i32);
    }
    let device = odyssey::train::default_device();
    let corpus = DomainCollection::open(&args.corpus)
        .with_context(|| format!("opening the pretraining corpus {}", args.corpus))?;
    if corpus.len() != 1 {
        bail!(
            "{} holds {} domains; give one corpus folder with train/valid splits",
            args.corpus,
            corpus.len()
        );
    }
    let source = &corpus.domains()[0];
    std::fs::create_dir_all(&args.work)?;

    eprintln!(
        "training a byte-level BPE of {} ids on the train split",
        args.vocab
    );
    let t0 = Instant::now();
    let tok = train_byte_level_bpe_on(source, Split::Train, &BpeTrainingOptions::gpt2(args.vocab))?;
    let tok_path = args.work.join("tokenizer.json");
    tok.save(&tok_path)?;
    let tok_seconds = t0.elapsed().as_secs_f64();

    let train_tokens = packed_tokens(source, Split::Train, &tok)?;
    let valid_tokens = packed_tokens(source, Split::Valid, &tok)?;
    let test_tokens = packed_tokens(source, Split::Test, &tok)?;
    let train = blocks(&train_tokens, args.context)?;
    let valid = blocks(&valid_tokens, args.context)?;
    let test = blocks(&test_tokens, args.context)?;
    eprintln!(
        "tokens: train {} valid {} test {} ({:.0} s for the tokenizer)",
        train_tokens.len(),
        valid_tokens.len(),
        test_tokens.len(),
        tok_seconds
    );

    let cfg = Gpt2Config::small(
        tok.vocab_size(),
        args.context,
        args.n_embd,
        args.n_layer,
        args.n_head,
    );
    let mut model = Gpt2Lm::gpt2(&cfg, device)?;
    let params = model.num_parameters();
    eprintln!(
        "GPT-2 with {:.2} M parameters on {device:?}",
        params as f64 / 1e6
    );
    let trainer = Trainer::new(TrainerConfig {
        lr: args.lr,
        adamw: AdamWConfig {
            weight_decay: 0.1,
            ..AdamWConfig::default()
        },
        schedule: ScheduleKind::Cosine,
        warmup: Warmup::Ratio(0.02),
        micro_batch_size: args.batch,
        grad_accum_steps: 1,
        max_grad_norm: Some(1.0),
        duration: Duration::Epochs(args.epochs),
        seed: args.seed,
        eval_every: Some(args.eval_every),
        eval_batch_size: 16,
        early_stopping: Some(EarlyStopping {
            patience: args.patience,
            rule: StopRule::NoImprovement,
            min_delta: 0.0,
        }),
        output_dir: Some(args.work.join("run")),
        save_every: Some(args.eval_every),
        keep_last: 1,
        resume: true,
        threads: (args.threads > 0).then_some(args.threads),
        progress: true,
        ..TrainerConfig::default()
    });
    let report = trainer.fit(&mut model, &train, Some(&valid))?;
    if let Some(best) = &report.best_checkpoint {
        model
            .load_weights(best)
            .with_context(|| format!("loading the best checkpoint {}", best.display()))?;
    }
    let valid_eval = trainer.evaluate(&model, &valid)?;
    let test_eval = trainer.evaluate(&model, &test)?;
    eprintln!(
        "best step {:?}: valid perplexity {:.2}, test perplexity {:.2}",
        report.best_step, valid_eval.perplexity, test_eval.perplexity
    );

    // Write the HF folder next to its final place, then move it in.
    let out = Path::new(&args.out);
    let staging = out.with_extension("partial");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    model.save_pretrained(&staging)?;
    std::fs::copy(&tok_path, staging.join("tokenizer.json"))?;
    let every = (report.steps.len() / 400).max(1);
    let record = json!({
        "what": "GPT-2 pretrained from scratch by examples/pretrain_base.rs on the pretraining corpus",
        "corpus": args.corpus,
        "tokenizer": {"kind": "byte-level BPE", "vocab_size": tok.vocab_size(), "trained_on": "train split", "seconds": tok_seconds},
        "model": {"n_embd": args.n_embd, "n_layer": args.n_layer, "n_head": args.n_head, "n_positions": args.context, "parameters": params},
        "training": {
            "lr": args.lr, "schedule": "cosine", "warmup_ratio": 0.02, "weight_decay": 0.1,
            "batch_blocks": args.batch, "block_len": args.context, "planned_epochs": args.epochs,
            "eval_every": args.eval_every, "patience": args.patience, "seed": args.seed,
            "threads": tch::get_num_threads(), "device": format!("{device:?}"),
            "train_tokens": train_tokens.len(), "valid_tokens": valid_tokens.len(), "test_tokens": test_tokens.len(),
            "steps": report.steps.last().map(|s| s.step), "total_steps": report.total_steps,
            "tokens_seen": report.tokens_seen, "train_seconds": report.train_seconds,
            "stop_reason": report.stop_reason, "best_step": report.best_step,
            "resumed_from_step": report.resumed_from_step,
        },
        "valid_perplexity": valid_eval.perplexity,
        "test_perplexity": test_eval.perplexity,
        "evals": report.evals.iter().map(|e| json!({"step": e.step, "perplexity": e.eval.perplexity})).collect::<Vec<_>>(),
        "train_loss": report.steps.iter().step_by(every).map(|s| json!({"step": s.step, "loss": s.loss})).collect::<Vec<_>>(),
        "wall_seconds": started.elapsed().as_secs_f64(),
    });
    std::fs::write(
        staging.join("training_record.json"),
        serde_json::to_vec_pretty(&record)?,
    )?;
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    std::fs::rename(&staging, out)?;
    eprintln!(
        "wrote {} ({:.0} s in all)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
