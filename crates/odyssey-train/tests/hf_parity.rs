//! Parity with HF transformers: logits, loss and last hidden states of small randomly
//! initialised checkpoints (made by scripts/fixtures/train_hf_parity.py) match within 1e-4.

use odyssey_train::weights::read_safetensors;
use odyssey_train::{AnyModel, CausalLm, LmScorer, ModelConfig};
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

const CASES: [&str; 6] = [
    "gpt2",
    "gpt2_untied_fp16",
    "llama",
    "smollm_tied_bf16",
    "qwen2_sharded",
    "olmo2",
];

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hf_parity"
    ))
}

struct Expected {
    ids: Tensor,
    logits: Tensor,
    hidden: Tensor,
    loss: f64,
}

fn expected(name: &str) -> Expected {
    let mut t = read_safetensors(&fixtures().join(format!("{name}.expected.safetensors"))).unwrap();
    Expected {
        ids: t.remove("input_ids").unwrap(),
        logits: t.remove("logits").unwrap(),
        hidden: t.remove("last_hidden").unwrap(),
        loss: t.remove("loss").unwrap().double_value(&[0]),
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

#[test]
fn logits_loss_and_hidden_states_match_transformers() {
    for name in CASES {
        let model = AnyModel::from_pretrained(fixtures().join(name), Device::Cpu).unwrap();
        let exp = expected(name);
        let logits = tch::no_grad(|| model.forward_t(&exp.ids, false));
        let d = max_abs_diff(&logits, &exp.logits);
        assert!(d < 1e-4, "{name}: logits differ by {d}");
        // The fixture is informative: logits are far from uniform.
        assert!(exp.logits.std(true).double_value(&[]) > 0.5, "{name}");
        let loss = tch::no_grad(|| model.lm_loss(&exp.ids, false)).double_value(&[]);
        assert!(
            (loss - exp.loss).abs() < 1e-4,
            "{name}: loss {loss} vs {}",
            exp.loss
        );
        let hidden = tch::no_grad(|| model.hidden_states(&exp.ids));
        let d = max_abs_diff(&hidden, &exp.hidden);
        assert!(d < 1e-4, "{name}: hidden states differ by {d}");
    }
}

#[test]
fn half_precision_files_load_as_fp32_variables() {
    for name in ["gpt2_untied_fp16", "smollm_tied_bf16"] {
        let model = AnyModel::from_pretrained(fixtures().join(name), Device::Cpu).unwrap();
        for (var, t) in model.var_store().variables() {
            assert_eq!(t.kind(), Kind::Float, "{name}: {var}");
        }
    }
}

#[test]
fn architectures_are_recognised() {
    let kinds: Vec<String> = CASES
        .iter()
        .map(
            |n| match ModelConfig::from_file(&fixtures().join(n)).unwrap() {
                ModelConfig::Gpt2(_) => "gpt2".to_string(),
                ModelConfig::Llama(c) => c.variant.model_type().to_string(),
            },
        )
        .collect();
    assert_eq!(kinds, ["gpt2", "gpt2", "llama", "llama", "qwen2", "olmo2"]);
}

#[test]
fn save_then_load_gives_identical_logits() {
    let tmp = tempfile::tempdir().unwrap();
    for name in CASES {
        let model = AnyModel::from_pretrained(fixtures().join(name), Device::Cpu).unwrap();
        let out = tmp.path().join(name);
        model.save_pretrained(&out).unwrap();
        let back = AnyModel::from_pretrained(&out, Device::Cpu).unwrap();
        assert_eq!(back.config(), model.config(), "{name}");
        let ids = expected(name).ids;
        let a = tch::no_grad(|| model.forward_t(&ids, false));
        let b = tch::no_grad(|| back.forward_t(&ids, false));
        assert_eq!(max_abs_diff(&a, &b), 0.0, "{name}");
        let names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.contains(&"model.safetensors".to_string()),
            "{name}: {names:?}"
        );
    }
    // Nothing but the written folders is left next to them.
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn scorer_matches_transformers_log_softmax_on_unequal_windows() {
    let name = "llama";
    let exp = expected(name);
    let model = AnyModel::from_pretrained(fixtures().join(name), Device::Cpu).unwrap();
    let scorer = LmScorer::new(model, 2);
    let rows: Vec<Vec<u32>> = (0..2)
        .map(|r| {
            Vec::<i64>::try_from(exp.ids.get(r))
                .unwrap()
                .into_iter()
                .map(|x| x as u32)
                .collect()
        })
        .collect();
    // Prefixes of different lengths, batched together (right padding) in mixed order.
    let windows: Vec<&[u32]> = vec![&rows[0][..7], &rows[1][..], &rows[0][..], &rows[1][..2]];
    let got = scorer.score(&windows).unwrap();
    let lp = exp.logits.log_softmax(-1, Kind::Float);
    for (w, (window, scores)) in windows.iter().zip(&got).enumerate() {
        assert_eq!(scores.len(), window.len() - 1);
        let row = if w % 2 == 0 { 0 } else { 1 };
        for (j, s) in scores.iter().enumerate() {
            let want = lp.double_value(&[row, j as i64, window[j + 1] as i64]);
            assert!(
                (*s as f64 - want).abs() < 1e-4,
                "window {w} pos {j}: {s} vs {want}"
            );
        }
    }
}
