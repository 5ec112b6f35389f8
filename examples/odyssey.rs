//! The Odyssey study from the command line: will continued pretraining of a base model on each
//! domain help, and if not, why?
//!
//! ```text
//! cargo run --release --example odyssey                       # the embedded default
//! cargo run --release --example odyssey -- --config data/smollm2/study.toml   # SmolLM2-135M
//! cargo run --release --example odyssey -- \
//!     --model path/to/hf-model-or.gguf --pretraining-corpus path/to/sample.jsonl.gz \
//!     --domains path/to/domains --out my-study
//! ```
//!
//! Without `--config`, the settings of the embedded default come from
//! `data/default/study.toml`. Writes `report.md`, `report.json` and `plots/*.svg` to `--out` (default `odyssey-out`).
//! Rerunning with the same settings resumes from the finished domains and checkpoints.

use anyhow::Context;
use clap::Parser;
use odyssey::study::{run_study, DeviceChoice, StudyConfig};
use std::path::PathBuf;

/// The embedded default: data shipped in the repository.
const DEFAULT_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/default");

#[derive(Parser, Debug)]
#[command(
    name = "odyssey",
    about = "Will continued pretraining on a domain help? Similarity, continued pretraining, token-level perplexity, a verdict per domain."
)]
struct Args {
    /// A TOML or JSON config file; command-line options override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The base model: an HF folder (config.json, model.safetensors, tokenizer.json) or a
    /// GGUF file.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The base model's pretraining corpus, or a sample of it (folder or file).
    #[arg(long)]
    pretraining_corpus: Option<PathBuf>,
    /// A folder of domains (M2D2 layout or Dolma-style JSONL).
    #[arg(long)]
    domains: Option<PathBuf>,
    /// Only these domains (comma-separated folder names).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Output folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The sentence-transformers model folder for embedding similarity (default: $ODYSSEY_MINILM_DIR).
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// Peak learning rate of continued pretraining.
    #[arg(long)]
    lr: Option<f64>,
    /// Epochs of continued pretraining per domain.
    #[arg(long)]
    epochs: Option<f64>,
    /// Train on at most this many tokens per domain (0: all).
    #[arg(long)]
    max_train_tokens: Option<usize>,
    /// Score at most this many test tokens per domain (0: all).
    #[arg(long)]
    max_test_tokens: Option<usize>,
    /// Scoring window in tokens (0: the model's context).
    #[arg(long)]
    window: Option<usize>,
    /// Also run the control arm: the same budget of continued pretraining on the pretraining
    /// corpus, scored on every domain.
    #[arg(long)]
    control: bool,
    /// Pre-flight: before each domain's full run, a short pilot predicts its outcome (the
    /// prediction is saved first, then compared with the full run in the report).
    #[arg(long)]
    preflight: bool,
    /// Pre-flight only: predict every domain's outcome from its pilot and stop (no full runs).
    #[arg(long)]
    preflight_only: bool,
    /// Data-parallel continued pretraining: this many ranks on this machine, launched by
    /// torchrun (Gloo on CPU, NCCL on GPU); 0 (the default) trains in this process.
    #[arg(long)]
    nproc_per_node: Option<usize>,
    /// Machines taking part (with --nproc-per-node; every machine runs the same command).
    #[arg(long)]
    nnodes: Option<usize>,
    /// This machine's rank (0 runs the study and writes the report).
    #[arg(long)]
    node_rank: Option<usize>,
    /// HOST:PORT of machine 0's rendezvous (with --nnodes > 1).
    #[arg(long)]
    rdzv_endpoint: Option<String>,
    /// When to retrain with mitigations: never, when_needed or always.
    #[arg(long, value_parser = parse_mitigations)]
    mitigations: Option<odyssey::study::config::MitigationPolicy>,
    /// Paragraphs sampled per domain for similarity.
    #[arg(long)]
    domain_samples: Option<usize>,
    /// Paragraphs sampled from the pretraining corpus for similarity.
    #[arg(long)]
    pretraining_samples: Option<usize>,
    /// CPU threads (0: the libraries' default).
    #[arg(long)]
    threads: Option<usize>,
    /// auto (CUDA when available), cpu or cuda.
    #[arg(long, value_parser = parse_device)]
    device: Option<DeviceChoice>,
    /// Seed for sampling, data order and bootstrap.
    #[arg(long)]
    seed: Option<u64>,
    /// Print the effective config as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

fn parse_mitigations(s: &str) -> Result<odyssey::study::config::MitigationPolicy, String> {
    use odyssey::study::config::MitigationPolicy;
    match s {
        "never" => Ok(MitigationPolicy::Never),
        "when_needed" => Ok(MitigationPolicy::WhenNeeded),
        "always" => Ok(MitigationPolicy::Always),
        other => Err(format!(
            "unknown mitigation policy {other:?} (never, when_needed or always)"
        )),
    }
}

fn parse_device(s: &str) -> Result<DeviceChoice, String> {
    match s {
        "auto" => Ok(DeviceChoice::Auto),
        "cpu" => Ok(DeviceChoice::Cpu),
        "cuda" => Ok(DeviceChoice::Cuda),
        other => Err(format!("unknown device {other:?} (auto, cpu or cuda)")),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut cfg = match &args.config {
        Some(p) => StudyConfig::from_file(p)?,
        None => {
            // The embedded default: its settings file, with its paths made absolute.
            let d = PathBuf::from(DEFAULT_DATA);
            let settings = d.join("study.toml");
            let base = if settings.is_file() {
                StudyConfig::from_file(&settings)?
            } else {
                StudyConfig::default()
            };
            StudyConfig {
                model: d.join("base-model"),
                pretraining_corpus: d.join("pretraining"),
                domains: d.join("domains"),
                ..base
            }
        }
    };
    macro_rules! set {
        ($field:expr, $value:expr) => {
            if let Some(v) = $value {
                $field = v;
            }
        };
    }
    set!(cfg.model, args.model);
    set!(cfg.pretraining_corpus, args.pretraining_corpus);
    set!(cfg.domains, args.domains);
    set!(cfg.out, args.out);
    set!(cfg.encoder, args.encoder);
    set!(cfg.training.lr, args.lr);
    set!(cfg.training.epochs, args.epochs);
    set!(cfg.training.max_train_tokens, args.max_train_tokens);
    set!(cfg.eval.max_test_tokens, args.max_test_tokens);
    set!(cfg.eval.window, args.window);
    if args.control {
        cfg.control.enabled = true;
    }
    if args.preflight || args.preflight_only {
        cfg.preflight.enabled = true;
        cfg.preflight.full_run = !args.preflight_only;
    }
    set!(cfg.mitigations.run, args.mitigations);
    set!(cfg.training.distributed.nproc_per_node, args.nproc_per_node);
    set!(cfg.training.distributed.nnodes, args.nnodes);
    set!(cfg.training.distributed.node_rank, args.node_rank);
    set!(cfg.training.distributed.rdzv_endpoint, args.rdzv_endpoint);
    set!(cfg.similarity.domain_samples, args.domain_samples);
    set!(cfg.similarity.pretraining_samples, args.pretraining_samples);
    set!(cfg.threads, args.threads);
    set!(cfg.device, args.device);
    set!(cfg.seed, args.seed);
    if !args.only.is_empty() {
        cfg.only_domains = args.only;
    }
    cfg.validate(std::path::Path::new("<arguments>"))?;
    if args.print_config {
        print!("{}", toml_text(&cfg)?);
        return Ok(());
    }
    let report = run_study(&cfg).context("the study failed")?;
    println!();
    for f in &report.findings {
        println!("- {f}");
    }
    for p in &report.preflight {
        println!(
            "{:<18} pre-flight: ppl {:>8.2} → {:>8.2} predicted [{:.2}, {:.2}] ({:+6.1} %)  {}",
            p.name,
            p.base_test_ppl,
            p.predicted_test_ppl.0,
            p.predicted_test_ppl.1,
            p.predicted_test_ppl.2,
            p.predicted_delta_pct.0,
            p.verdict.decision
        );
    }
    for d in &report.domains {
        println!(
            "{:<18} cos {:.3}  ppl {:>8.2} → {:>8.2} ({:+6.1} %)  {}",
            d.name,
            d.similarity.centroid_cosine.value,
            d.base.token_ppl,
            d.adapted.token_ppl,
            d.delta_ppl_pct(),
            d.verdict.decision
        );
    }
    println!(
        "\nreport: {}  ({:.0} s)",
        cfg.out.join("report.md").display(),
        report.seconds
    );
    Ok(())
}

fn toml_text(cfg: &StudyConfig) -> anyhow::Result<String> {
    Ok(odyssey::study::config::to_toml(cfg)?)
}
