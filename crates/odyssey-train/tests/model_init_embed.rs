//! Standard initialisation, gradients, mixed precision, and the mean-hidden-state embedder.

use odyssey_core::{Encoding, TextEmbedder, TokenizerHandle};
use odyssey_train::model::llama::{LlamaConfig, LlamaVariant};
use odyssey_train::weights::read_safetensors;
use odyssey_train::{AnyModel, CausalLm, Gpt2Config, Gpt2Lm, LmEmbedder, ModelConfig, ModelError};
use std::path::PathBuf;
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hf_parity"
    ))
    .join(name)
}

fn std_of(model: &impl CausalLm, name: &str) -> f64 {
    model.var_store().variables()[name]
        .std(true)
        .double_value(&[])
}

#[test]
fn gpt2_uses_hf_initialisation_and_layouts() {
    tch::manual_seed(0);
    let cfg = Gpt2Config::small(512, 64, 128, 4, 4);
    let m = Gpt2Lm::gpt2(&cfg, Device::Cpu).unwrap();
    let vars = m.var_store().variables();
    assert_eq!(
        vars["transformer.h.0.attn.c_attn.weight"].size(),
        vec![128, 384]
    );
    assert_eq!(
        vars["transformer.h.3.mlp.c_fc.weight"].size(),
        vec![128, 512]
    );
    assert_eq!(
        vars["transformer.h.3.mlp.c_proj.weight"].size(),
        vec![512, 128]
    );
    assert!(!vars.contains_key("lm_head.weight"), "tied by default");
    let close = |a: f64, b: f64| (a - b).abs() < 0.05 * b;
    assert!(close(std_of(&m, "transformer.wte.weight"), 0.02));
    assert!(close(
        std_of(&m, "transformer.h.1.attn.c_attn.weight"),
        0.02
    ));
    let scaled = 0.02 / (8.0f64).sqrt();
    assert!(close(
        std_of(&m, "transformer.h.1.attn.c_proj.weight"),
        scaled
    ));
    assert!(close(
        std_of(&m, "transformer.h.2.mlp.c_proj.weight"),
        scaled
    ));
    assert_eq!(
        vars["transformer.h.0.attn.c_attn.bias"]
            .abs()
            .sum(Kind::Float)
            .double_value(&[]),
        0.0
    );
    assert_eq!(
        vars["transformer.ln_f.weight"]
            .mean(Kind::Float)
            .double_value(&[]),
        1.0
    );
    // A fresh model predicts close to uniform: loss ≈ ln(vocab).
    let ids = Tensor::randint(512, [2, 64], (Kind::Int64, Device::Cpu));
    let loss = m.lm_loss(&ids, false).double_value(&[]);
    assert!((loss - (512f64).ln()).abs() < 0.1, "{loss}");
}

#[test]
fn llama_family_initialisation_and_gradients() {
    tch::manual_seed(0);
    for variant in [
        LlamaVariant::Llama,
        LlamaVariant::Qwen2,
        LlamaVariant::Olmo2,
    ] {
        let cfg = LlamaConfig::small(variant, 256, 32, 64, 96, 2, 4, 2);
        let m = AnyModel::from_config(&ModelConfig::Llama(cfg), Device::Cpu).unwrap();
        assert!((std_of(&m, "model.layers.0.self_attn.q_proj.weight") - 0.02).abs() < 0.002);
        let vars = m.var_store().variables();
        assert_eq!(
            vars["model.layers.1.self_attn.k_proj.weight"].size(),
            vec![32, 64]
        );
        assert_eq!(
            vars.contains_key("model.layers.0.self_attn.q_proj.bias"),
            variant == LlamaVariant::Qwen2
        );
        assert_eq!(
            vars.contains_key("model.layers.0.self_attn.q_norm.weight"),
            variant == LlamaVariant::Olmo2
        );
        let ids = Tensor::randint(256, [2, 16], (Kind::Int64, Device::Cpu));
        m.lm_loss(&ids, true).backward();
        for (name, v) in m.var_store().variables() {
            let g = v.grad();
            assert!(g.defined(), "{variant:?} {name}: no gradient");
            assert!(
                g.isfinite().all().int64_value(&[]) == 1,
                "{variant:?} {name}"
            );
            assert!(
                g.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                "{variant:?} {name}"
            );
        }
    }
}

#[test]
fn bf16_compute_keeps_fp32_weights_and_stays_close() {
    for name in ["gpt2", "olmo2"] {
        let mut m = AnyModel::from_pretrained(fixture(name), Device::Cpu).unwrap();
        let ids = Tensor::from_slice(&[3i64, 1, 4, 1, 5, 9, 2, 6]).view([1, 8]);
        let full = m.forward_t(&ids, false);
        m.set_compute_kind(Kind::BFloat16);
        let mixed = m.forward_t(&ids, false);
        assert_eq!(mixed.kind(), Kind::Float);
        let d = (&full - &mixed).abs().max().double_value(&[]);
        assert!(d > 0.0 && d < 0.25, "{name}: {d}");
        m.lm_loss(&ids, true).backward();
        for (var, v) in m.var_store().variables() {
            assert_eq!(v.kind(), Kind::Float, "{var}");
            assert_eq!(v.grad().kind(), Kind::Float, "{var}");
        }
    }
}

/// A tokenizer for tests: a text is its whitespace-separated token ids.
struct IdsTokenizer {
    vocab: usize,
}

impl TokenizerHandle for IdsTokenizer {
    fn encode(&self, text: &str) -> odyssey_core::Result<Encoding> {
        let mut enc = Encoding::default();
        let mut start = 0;
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            let at = text[start..].find(word).unwrap_or(0) + start;
            enc.ids
                .push(word.parse().map_err(|_| {
                    odyssey_core::Error::InvalidInput(format!("not an id: {word}"))
                })?);
            enc.offsets.push((at, at + word.len()));
            start = at + word.len();
        }
        Ok(enc)
    }
    fn decode(&self, ids: &[u32]) -> odyssey_core::Result<String> {
        Ok(ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" "))
    }
    fn token_text(&self, id: u32) -> Option<String> {
        ((id as usize) < self.vocab).then(|| id.to_string())
    }
    fn vocab_size(&self) -> usize {
        self.vocab
    }
    fn eos_id(&self) -> Option<u32> {
        None
    }
    fn fingerprint(&self) -> u64 {
        self.vocab as u64
    }
}

#[test]
fn embedder_is_the_masked_mean_of_transformers_last_hidden_state() {
    let name = "qwen2_sharded";
    let mut exp =
        read_safetensors(&fixture(format!("{name}.expected.safetensors").as_str())).unwrap();
    let ids = exp.remove("input_ids").unwrap();
    let hidden = exp.remove("last_hidden").unwrap();
    let model = AnyModel::from_pretrained(fixture(name), Device::Cpu).unwrap();
    let emb = LmEmbedder::new(model, Arc::new(IdsTokenizer { vocab: 96 }), 3).unwrap();
    assert_eq!(emb.dim(), 32);
    let row = |r: i64, n: usize| -> String {
        Vec::<i64>::try_from(ids.get(r)).unwrap()[..n]
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (a, b, c) = (row(0, 24), row(1, 5), row(0, 11));
    let got = emb.embed(&[a.as_str(), b.as_str(), c.as_str()]).unwrap();
    for (i, (r, n)) in [(0i64, 24i64), (1, 5), (0, 11)].into_iter().enumerate() {
        let want = hidden
            .get(r)
            .narrow(0, 0, n)
            .mean_dim(0, false, Kind::Float);
        let want = Vec::<f32>::try_from(want).unwrap();
        for (d, w) in want.iter().enumerate() {
            assert!((got[[i, d]] - w).abs() < 1e-4, "text {i} dim {d}");
        }
    }
    // Empty text: a typed error naming it.
    assert!(emb.embed(&["1 2", ""]).is_err());
    match LmEmbedder::new(
        AnyModel::from_pretrained(fixture(name), Device::Cpu).unwrap(),
        Arc::new(IdsTokenizer { vocab: 97 }),
        3,
    ) {
        Err(ModelError::TokenizerTooLarge {
            tokenizer,
            embedding,
        }) => {
            assert_eq!((tokenizer, embedding), (97, 96))
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a 97-id tokenizer must not fit a 96-row embedding"),
    }
}
