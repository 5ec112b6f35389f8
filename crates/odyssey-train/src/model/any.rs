//! [`AnyModel`]: a causal LM whose architecture is chosen at run time from a config.

use super::llama::Llama;
use super::{Gpt2, Lm, LmNet};
use crate::config::ModelConfig;
use crate::error::ModelResult;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// The network of any supported architecture.
#[derive(Debug)]
pub enum AnyNet {
    /// GPT-2.
    Gpt2(Gpt2),
    /// Llama, SmolLM, Qwen2, OLMo-2.
    Llama(Llama),
}

impl AnyNet {
    /// Build the network of `cfg` under `vs_path` with the architecture's initialisation.
    /// Check the config with [`ModelConfig::validate`] first.
    pub fn new(vs_path: nn::Path, cfg: &ModelConfig) -> AnyNet {
        match cfg {
            ModelConfig::Gpt2(c) => AnyNet::Gpt2(Gpt2::new(vs_path, c)),
            ModelConfig::Llama(c) => AnyNet::Llama(Llama::new(vs_path, c)),
        }
    }

    fn inner(&self) -> &dyn LmNet {
        match self {
            AnyNet::Gpt2(n) => n,
            AnyNet::Llama(n) => n,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn LmNet {
        match self {
            AnyNet::Gpt2(n) => n,
            AnyNet::Llama(n) => n,
        }
    }
}

impl LmNet for AnyNet {
    fn hidden(&self, input_ids: &Tensor, train: bool, kind: Kind) -> Tensor {
        self.inner().hidden(input_ids, train, kind)
    }
    fn logits(&self, hidden: &Tensor, kind: Kind) -> Tensor {
        self.inner().logits(hidden, kind)
    }
    fn vocab_size(&self) -> usize {
        self.inner().vocab_size()
    }
    fn max_positions(&self) -> usize {
        self.inner().max_positions()
    }
    fn model_config(&self) -> ModelConfig {
        self.inner().model_config()
    }
    fn hidden_size(&self) -> usize {
        self.inner().hidden_size()
    }
    fn to_device(&mut self, device: Device) {
        self.inner_mut().to_device(device)
    }
}

/// A causal LM of any supported architecture, with its VarStore.
pub type AnyModel = Lm<AnyNet>;

impl Lm<AnyNet> {
    /// A freshly initialised model of `cfg` (the architecture's standard initialisation) on
    /// `device`; seed with `tch::manual_seed` first for reproducible weights.
    pub fn from_config(cfg: &ModelConfig, device: Device) -> ModelResult<Self> {
        cfg.validate()?;
        Ok(Lm::build(device, |p| AnyNet::new(p, cfg)))
    }

    /// Load an HF checkpoint folder (`config.json` + `model.safetensors` or a sharded
    /// `model.safetensors.index.json`) onto `device`. Weights stored as fp16/bf16 are
    /// converted to fp32; the architecture comes from config.json. A GGUF file instead of a
    /// folder is loaded with [`Lm::from_gguf`].
    pub fn from_pretrained(dir: impl AsRef<Path>, device: Device) -> ModelResult<Self> {
        let dir = dir.as_ref();
        if crate::gguf::is_gguf(dir) {
            return Self::from_gguf(dir, device);
        }
        let cfg = ModelConfig::from_file(dir)?;
        let mut model = Self::from_config(&cfg, device)?;
        model.load_weights(dir)?;
        Ok(model)
    }
}
