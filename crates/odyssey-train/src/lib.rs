//! # odyssey-train
//!
//! Causal language models in `tch`, HF checkpoints in and out, GGUF files in, and the
//! continued-pretraining trainer.

pub mod config;
pub mod device;
pub mod embedder;
pub mod error;
pub mod gguf;
pub mod memory;
pub mod model;
pub mod scorer;
pub mod trainer;
pub mod weights;

pub use config::ModelConfig;
pub use device::{default_device, set_threads};
pub use embedder::LmEmbedder;
pub use error::{ModelError, ModelResult};
pub use model::{AnyModel, CausalLm, Gpt2, Gpt2Config, Gpt2Lm, Lm, LmNet};
pub use scorer::LmScorer;
pub use trainer::{TrainReport, Trainer, TrainerConfig, TrainerError};

#[cfg(test)]
mod libtorch_smoke {
    use tch::{Kind, Tensor};

    /// Proves the libtorch path really runs: a tensor op and a backward pass whose gradient is
    /// checked against the analytic value.
    #[test]
    fn tensor_op_and_checked_gradient() {
        let x = Tensor::from_slice(&[1.0f32, -2.0, 3.0]).set_requires_grad(true);
        let y = (&x * &x * 3.0 + &x).sum(Kind::Float); // y = Σ 3x² + x, dy/dx = 6x + 1
        y.backward();
        let g: Vec<f32> = Vec::try_from(x.grad()).unwrap();
        assert_eq!(g, vec![7.0, -11.0, 19.0]);
        let m = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]);
        let p: Vec<f32> = Vec::try_from(m.matmul(&m).view([-1])).unwrap();
        assert_eq!(p, vec![7.0, 10.0, 15.0, 22.0]);
    }
}
