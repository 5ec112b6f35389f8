//! Criterion benchmarks for odyssey-train: one forward pass (no gradients) of the small GPT-2
//! of `examples/bench_train.rs` (vocab 8192, n_embd 256, 4 layers, 4 heads) on a batch of
//! 8×256 tokens, fp32 on the CPU with 2 threads: full logits, and final hidden states only
//! (without the output projection); and one AdamW update of its 5.3 M parameters (weight
//! decay on all of them, as in the HF peer), on gradients from a real backward pass.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use odyssey_train::trainer::{AdamW, AdamWConfig, NoDecay};
use odyssey_train::{CausalLm, Gpt2Config, Gpt2Lm};
use tch::{Device, Kind, Tensor};

/// The GPT-2 of `examples/bench_train.rs`, seeded, with libtorch on 2 threads.
fn bench_model() -> Gpt2Lm {
    odyssey_train::set_threads(2);
    tch::manual_seed(0);
    let cfg = Gpt2Config::small(8192, 256, 256, 4, 4);
    match Gpt2Lm::gpt2(&cfg, Device::Cpu) {
        Ok(m) => m,
        Err(e) => panic!("building the benchmark model: {e}"),
    }
}

fn forward(c: &mut Criterion) {
    let model = bench_model();
    let x = Tensor::randint(8192, [8, 256], (Kind::Int64, Device::Cpu));
    let mut group = c.benchmark_group("gpt2_5m_forward_8x256");
    group.sample_size(10);
    group.throughput(Throughput::Elements(8 * 256));
    group.bench_function("logits", |b| {
        b.iter(|| tch::no_grad(|| model.forward_t(&x, false)))
    });
    group.bench_function("hidden_states", |b| {
        b.iter(|| tch::no_grad(|| model.hidden_states(&x)))
    });
    group.finish();
}

fn adamw(c: &mut Criterion) {
    let model = bench_model();
    let no_decay = NoDecay {
        biases: false,
        norms: false,
        embeddings: false,
    };
    let mut opt = match AdamW::new(
        model.var_store(),
        AdamWConfig {
            weight_decay: 0.01,
            no_decay,
            ..AdamWConfig::default()
        },
    ) {
        Ok(o) => o,
        Err(e) => panic!("creating AdamW: {e}"),
    };
    let x = Tensor::randint(8192, [8, 256], (Kind::Int64, Device::Cpu));
    model.lm_loss(&x, true).backward();
    let mut group = c.benchmark_group("adamw_5m");
    group.sample_size(20);
    group.throughput(Throughput::Elements(model.num_parameters() as u64));
    group.bench_function("step", |b| {
        b.iter(|| {
            if let Err(e) = opt.step(1e-6) {
                panic!("AdamW step: {e}");
            }
        })
    });
    group.finish();
}

criterion_group!(benches, forward, adamw);
criterion_main!(benches);
