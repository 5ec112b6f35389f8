//! The CUDA path: bf16 matrix products with fp32 master weights, checked against the CPU in
//! fp32. These tests run where libtorch sees a GPU; elsewhere each one prints that it was
//! skipped and passes, so the CPU-only test run stays green.
//!
//! On a GPU machine: `cargo test --release -p odyssey-train --test cuda -- --nocapture`.

mod trainer_support;

use odyssey_train::model::llama::{LlamaConfig, LlamaVariant};
use odyssey_train::trainer::{load_weights, Trainer, TrainerConfig};
use odyssey_train::{AnyModel, CausalLm, ModelConfig};
use std::sync::Mutex;
use tch::{Device, Kind, Tensor};
use trainer_support::{as_batch, byte_blocks, pretraining_config, tiny_gpt2, BLOCK};

/// libtorch's generator is process-wide: the tests take turns.
static TURN: Mutex<()> = Mutex::new(());

fn cuda() -> Option<Device> {
    if tch::Cuda::is_available() {
        Some(Device::Cuda(0))
    } else {
        eprintln!("skipped: libtorch sees no CUDA device");
        None
    }
}

/// `n` blocks of real text (wiki_music) as a `[n, BLOCK]` batch on `device`.
fn batch(n: usize, device: Device) -> Tensor {
    as_batch(&byte_blocks("wiki_music", "train", n)).to_device(device)
}

fn loss(model: &dyn CausalLm, x: &Tensor) -> f64 {
    tch::no_grad(|| model.lm_loss(x, false)).double_value(&[])
}

/// The same weights on the CPU (fp32) and on CUDA: bf16 products stay within bf16 rounding of
/// the fp32 loss and logits, fp32 products on CUDA match the CPU to 1e-4, and the weights on
/// the GPU stay fp32.
fn compare_devices(cpu: &dyn CausalLm, gpu: &mut dyn FnMut(Kind) -> (f64, Tensor), name: &str) {
    let x = batch(8, Device::Cpu);
    let cpu_loss = loss(cpu, &x);
    let cpu_logits = tch::no_grad(|| cpu.forward_t(&x, false));
    let scale = cpu_logits.abs().max().double_value(&[]);
    for (kind, tol_loss, tol_logits) in [(Kind::BFloat16, 2e-2, 5e-2), (Kind::Float, 1e-4, 1e-4)] {
        let (gpu_loss, gpu_logits) = gpu(kind);
        assert_eq!(
            gpu_logits.kind(),
            Kind::Float,
            "{name}: logits come back fp32"
        );
        let diff = (gpu_logits.to_device(Device::Cpu) - &cpu_logits)
            .abs()
            .max()
            .double_value(&[]);
        eprintln!(
            "{name} {kind:?}: loss {gpu_loss:.6} (CPU {cpu_loss:.6}), max logit diff {diff:.2e}"
        );
        assert!(
            (gpu_loss - cpu_loss).abs() <= tol_loss * cpu_loss,
            "{name} {kind:?}: loss {gpu_loss} vs {cpu_loss}"
        );
        assert!(
            diff <= tol_logits * scale.max(1.0),
            "{name} {kind:?}: logits differ by {diff} (scale {scale})"
        );
    }
}

#[test]
fn gpt2_and_llama_on_cuda_match_the_cpu() {
    let _t = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(device) = cuda() else { return };

    let cpu = tiny_gpt2(3, 0.0);
    let mut gpu = tiny_gpt2(3, 0.0);
    gpu.to_device(device);
    assert_eq!(gpu.compute_kind(), Kind::BFloat16, "bf16 is CUDA's default");
    for (_, v) in gpu.var_store().variables() {
        assert_eq!((v.device(), v.kind()), (device, Kind::Float));
    }
    let xg = batch(8, device);
    compare_devices(
        &cpu,
        &mut |kind| {
            gpu.set_compute_kind(kind);
            (loss(&gpu, &xg), tch::no_grad(|| gpu.forward_t(&xg, false)))
        },
        "gpt2",
    );

    for variant in [
        LlamaVariant::Llama,
        LlamaVariant::Qwen2,
        LlamaVariant::Olmo2,
    ] {
        let cfg = ModelConfig::Llama(LlamaConfig::small(variant, 256, BLOCK, 64, 96, 2, 4, 2));
        tch::manual_seed(5);
        let cpu = AnyModel::from_config(&cfg, Device::Cpu).unwrap();
        tch::manual_seed(5);
        let mut gpu = AnyModel::from_config(&cfg, Device::Cpu).unwrap();
        gpu.to_device(device);
        let name = format!("{variant:?}");
        compare_devices(
            &cpu,
            &mut |kind| {
                gpu.set_compute_kind(kind);
                (loss(&gpu, &xg), tch::no_grad(|| gpu.forward_t(&xg, false)))
            },
            &name,
        );
    }
}

/// Continued pretraining on CUDA in bf16: validation loss falls, the weights stay fp32 on the
/// GPU, and the best checkpoint, loaded on the CPU, scores what the trainer recorded for it
/// (to bf16 rounding, since the trainer scored it with bf16 products).
#[test]
fn trains_on_cuda_in_bf16_with_fp32_master_weights() {
    let _t = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(device) = cuda() else { return };
    let train = byte_blocks("books_gutenberg", "train", 64);
    let valid = byte_blocks("books_gutenberg", "valid", 16);
    let dir = tempfile::tempdir().unwrap();
    let mut model = tiny_gpt2(1, 0.0);
    model.to_device(device);
    let trainer = Trainer::new(pretraining_config(dir.path().join("run")));
    let before = trainer.evaluate(&model, &valid).unwrap();
    let report = trainer.fit(&mut model, &train, Some(&valid)).unwrap();
    let best = report.best_perplexity.unwrap();
    eprintln!(
        "CUDA bf16: validation perplexity {:.3} → {best:.3}",
        before.perplexity
    );
    assert!(
        best < 0.8 * before.perplexity,
        "{} → {best}",
        before.perplexity
    );
    for (name, v) in model.var_store().variables() {
        assert_eq!((v.device(), v.kind()), (device, Kind::Float), "{name}");
    }
    let on_cpu = tiny_gpt2(2, 0.0);
    let file = report.best_checkpoint.unwrap().join("model.safetensors");
    load_weights(on_cpu.var_store(), &file).unwrap();
    let again = Trainer::new(TrainerConfig {
        progress: false,
        eval_batch_size: 16,
        ..TrainerConfig::default()
    })
    .evaluate(&on_cpu, &valid)
    .unwrap();
    assert!(
        (again.perplexity - best).abs() <= 2e-2 * best,
        "{} vs {best}",
        again.perplexity
    );
}
