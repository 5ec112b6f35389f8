//! Bad checkpoints and bad inputs give typed errors that name the tensor, field or sequence.

use odyssey_train::model::{check_sequences, CausalLm};
use odyssey_train::weights::{read_safetensors, serialize_weights};
use odyssey_train::{AnyModel, Gpt2Config, Gpt2Lm, LmScorer, ModelConfig, ModelError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hf_parity"
    ))
    .join(name)
}

/// Copy a fixture folder, then rewrite its weights with `edit` applied to the tensor map.
fn edited_copy(
    name: &str,
    dst: &Path,
    edit: impl FnOnce(&mut std::collections::BTreeMap<String, Tensor>),
) {
    std::fs::create_dir_all(dst).unwrap();
    std::fs::copy(fixture(name).join("config.json"), dst.join("config.json")).unwrap();
    let mut tensors = read_safetensors(&fixture(name).join("model.safetensors")).unwrap();
    edit(&mut tensors);
    let views: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, t)| {
            let t = t.to_kind(Kind::Float).contiguous();
            let mut data = vec![0u8; t.numel() * 4];
            t.copy_data_u8(&mut data, t.numel());
            (
                n.clone(),
                t.size().iter().map(|&d| d as usize).collect(),
                data,
            )
        })
        .collect();
    let views: Vec<(&str, safetensors::tensor::TensorView)> = views
        .iter()
        .map(|(n, s, d)| {
            (
                n.as_str(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                    .unwrap(),
            )
        })
        .collect();
    let meta: HashMap<String, String> = [("format".into(), "pt".into())].into();
    let bytes = safetensors::tensor::serialize(views, &Some(meta)).unwrap();
    std::fs::write(dst.join("model.safetensors"), bytes).unwrap();
}

#[test]
fn missing_tensor_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    edited_copy("llama", tmp.path(), |t| {
        t.remove("model.layers.1.mlp.up_proj.weight");
    });
    match AnyModel::from_pretrained(tmp.path(), Device::Cpu) {
        Err(ModelError::MissingTensor { name, .. }) => {
            assert_eq!(name, "model.layers.1.mlp.up_proj.weight")
        }
        other => panic!("expected MissingTensor, got {other:?}"),
    }
}

#[test]
fn extra_tensor_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    edited_copy("gpt2", tmp.path(), |t| {
        t.insert(
            "transformer.h.2.ln_1.weight".into(),
            Tensor::ones([32], (Kind::Float, Device::Cpu)),
        );
    });
    match AnyModel::from_pretrained(tmp.path(), Device::Cpu) {
        Err(e @ ModelError::ExtraTensors { .. }) => {
            assert!(e.to_string().contains("transformer.h.2.ln_1.weight"), "{e}")
        }
        other => panic!("expected ExtraTensors, got {other:?}"),
    }
}

#[test]
fn wrong_shape_is_named_with_both_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    edited_copy("gpt2", tmp.path(), |_| {});
    // The config claims a larger vocabulary than the weights hold.
    let cfg_path = tmp.path().join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["vocab_size"] = 100.into();
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    match AnyModel::from_pretrained(tmp.path(), Device::Cpu) {
        Err(ModelError::ShapeMismatch {
            name,
            expected,
            found,
            ..
        }) => {
            assert_eq!(name, "transformer.wte.weight");
            assert_eq!(expected, vec![100, 32]);
            assert_eq!(found, vec![96, 32]);
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
}

#[test]
fn gpt2_checkpoints_without_prefix_and_with_mask_buffers_load() {
    // Older GPT-2 files name tensors `h.0...` instead of `transformer.h.0...` and carry the
    // causal-mask buffers `h.N.attn.bias`.
    let tmp = tempfile::tempdir().unwrap();
    edited_copy("gpt2", tmp.path(), |t| {
        let old: Vec<(String, Tensor)> = std::mem::take(t).into_iter().collect();
        for (n, v) in old {
            t.insert(n.trim_start_matches("transformer.").to_string(), v);
        }
        t.insert(
            "h.0.attn.bias".into(),
            Tensor::ones([1, 1, 32, 32], (Kind::Float, Device::Cpu)),
        );
    });
    let a = AnyModel::from_pretrained(tmp.path(), Device::Cpu).unwrap();
    let b = AnyModel::from_pretrained(fixture("gpt2"), Device::Cpu).unwrap();
    let ids = Tensor::from_slice(&[1i64, 5, 9, 3]).view([1, 4]);
    let d = (a.forward_t(&ids, false) - b.forward_t(&ids, false))
        .abs()
        .max()
        .double_value(&[]);
    assert_eq!(d, 0.0);
}

#[test]
fn config_errors_name_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |v: serde_json::Value| {
        std::fs::write(tmp.path().join("config.json"), v.to_string()).unwrap();
        ModelConfig::from_file(tmp.path())
    };
    match write(serde_json::json!({"model_type": "bert"})) {
        Err(ModelError::UnsupportedArchitecture { name }) => assert_eq!(name, "bert"),
        other => panic!("{other:?}"),
    }
    match write(serde_json::json!({"model_type": "gpt2", "n_embd": 30, "n_head": 4})) {
        Err(ModelError::Config { field, .. }) => assert_eq!(field, "n_head"),
        other => panic!("{other:?}"),
    }
    match write(serde_json::json!({"model_type": "llama", "hidden_size": 32,
        "num_attention_heads": 4, "num_key_value_heads": 3}))
    {
        Err(ModelError::Config { field, .. }) => assert_eq!(field, "num_key_value_heads"),
        other => panic!("{other:?}"),
    }
    match write(serde_json::json!({"model_type": "llama", "rope_scaling":
        {"rope_type": "yarn", "factor": 4.0}}))
    {
        Err(ModelError::Config { field, .. }) => assert_eq!(field, "rope_scaling"),
        other => panic!("{other:?}"),
    }
    std::fs::write(
        tmp.path().join("config.json"),
        "{\"model_type\": \"gpt2\",\n oops}",
    )
    .unwrap();
    match ModelConfig::from_file(tmp.path()) {
        Err(e @ ModelError::Json { .. }) => assert!(e.to_string().contains("line 2"), "{e}"),
        other => panic!("{other:?}"),
    }
    // A valid config but no weights.
    write(
        serde_json::json!({"model_type": "gpt2", "n_embd": 32, "n_head": 4, "n_layer": 1,
        "vocab_size": 10, "n_positions": 8}),
    )
    .unwrap();
    assert!(matches!(
        AnyModel::from_pretrained(tmp.path(), Device::Cpu),
        Err(ModelError::NoWeights { .. })
    ));
}

#[test]
fn bad_sequences_are_typed_errors() {
    tch::manual_seed(0);
    let model = Gpt2Lm::gpt2(&Gpt2Config::small(50, 8, 16, 1, 2), Device::Cpu).unwrap();
    let too_long = [1u32; 9];
    match check_sequences(&[&[1, 2], &too_long], 50, 8, 2) {
        Err(ModelError::SequenceTooLong { index, len, max }) => {
            assert_eq!((index, len, max), (1, 9, 8))
        }
        other => panic!("{other:?}"),
    }
    let ids = Tensor::from_slice(&[1i64, 2, 3, 60, 4]).view([1, 5]);
    match model.try_forward_t(&ids, false) {
        Err(ModelError::TokenOutOfRange { index, id, vocab }) => {
            assert_eq!((index, id, vocab), (0, 60, 50))
        }
        other => panic!("{other:?}"),
    }
    let long = Tensor::zeros([2, 9], (Kind::Int64, Device::Cpu));
    assert!(matches!(
        model.try_forward_t(&long, false),
        Err(ModelError::SequenceTooLong { len: 9, max: 8, .. })
    ));
    assert!(matches!(
        model.check_tokenizer_vocab(51),
        Err(ModelError::TokenizerTooLarge {
            tokenizer: 51,
            embedding: 50
        })
    ));
    let scorer = LmScorer::new(model, 4);
    assert!(matches!(
        scorer.score(&[&[1, 2, 3], &[7]]),
        Err(ModelError::SequenceTooShort {
            index: 1,
            len: 1,
            min: 2
        })
    ));
    // A window's last token is only predicted: a context of 8 scores windows of 9 tokens.
    assert_eq!(odyssey_core::TokenScorer::max_length(&scorer), 9);
    let scores = odyssey_core::TokenScorer::token_log_probs(&scorer, &[&too_long]).unwrap();
    assert_eq!(scores[0].len(), 8);
    // Through the core trait the error keeps its message.
    let longer = [1u32; 10];
    let e = odyssey_core::TokenScorer::token_log_probs(&scorer, &[&longer]).unwrap_err();
    assert!(
        e.to_string().contains("longer than the model's context"),
        "{e}"
    );
}

#[test]
fn failed_save_leaves_previous_checkpoint_intact() {
    tch::manual_seed(0);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ckpt");
    let model = Gpt2Lm::gpt2(&Gpt2Config::small(50, 8, 16, 1, 2), Device::Cpu).unwrap();
    model.save_pretrained(&dir).unwrap();
    std::fs::write(dir.join("tokenizer.json"), "{}").unwrap();
    let before = std::fs::read(dir.join("model.safetensors")).unwrap();
    assert_eq!(before, serialize_weights(model.var_store()).unwrap());
    // Saving again keeps the tokenizer file and replaces the weights.
    tch::manual_seed(1);
    let other = Gpt2Lm::gpt2(&Gpt2Config::small(50, 8, 16, 1, 2), Device::Cpu).unwrap();
    other.save_pretrained(&dir).unwrap();
    assert!(dir.join("tokenizer.json").is_file());
    assert_ne!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        before
    );
    // A save whose parent cannot be created fails without touching anything.
    let blocked = tmp.path().join("file");
    std::fs::write(&blocked, "x").unwrap();
    assert!(matches!(
        model.save_pretrained(blocked.join("ckpt")),
        Err(ModelError::Io { .. })
    ));
    assert!(dir.join("config.json").is_file());
}
