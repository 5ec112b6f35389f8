//! Train each HF parity fixture a few steps in Rust and write it back as an HF checkpoint.
//!
//! ```text
//! cargo run --release --example train_roundtrip -- <fixtures dir> <output dir>
//! ```
//!
//! For every `<name>/` checkpoint with a `<name>.expected.safetensors` beside it (written by
//! `scripts/fixtures/train_hf_parity.py`): load it, take 3 AdamW steps on the fixture's
//! `input_ids`, `save_pretrained` it to `<output dir>/<name>`, load the written folder again
//! and print one JSON line with its loss. `train_hf_parity.py --roundtrip` runs this and checks
//! that transformers computes the same loss from the written folders.

use anyhow::{bail, Context, Result};
use odyssey_train::weights::read_safetensors;
use odyssey_train::{AnyModel, CausalLm};
use std::path::PathBuf;
use tch::nn::OptimizerConfig;
use tch::{nn, Device};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [fixtures, out] = args.as_slice() else {
        bail!("usage: train_roundtrip <fixtures dir> <output dir>");
    };
    let (fixtures, out) = (PathBuf::from(fixtures), PathBuf::from(out));
    let mut names: Vec<String> = std::fs::read_dir(&fixtures)
        .with_context(|| fixtures.display().to_string())?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    tch::manual_seed(0);
    for name in names {
        let expected = fixtures.join(format!("{name}.expected.safetensors"));
        let ids = read_safetensors(&expected)?
            .remove("input_ids")
            .context("no input_ids in the expected file")?;
        let model = AnyModel::from_pretrained(fixtures.join(&name), Device::Cpu)?;
        let initial = model.lm_loss(&ids, false).double_value(&[]);
        let mut opt = nn::AdamW::default().build(model.var_store(), 1e-2)?;
        for _ in 0..3 {
            let loss = model.lm_loss(&ids, true);
            opt.backward_step(&loss);
        }
        let dir = out.join(&name);
        model.save_pretrained(&dir)?;
        let back = AnyModel::from_pretrained(&dir, Device::Cpu)?;
        let loss = tch::no_grad(|| back.lm_loss(&ids, false)).double_value(&[]);
        let ids: Vec<Vec<i64>> = (0..ids.size()[0])
            .map(|r| Vec::<i64>::try_from(ids.get(r)))
            .collect::<Result<_, _>>()?;
        let line = serde_json::json!({
            "name": name, "dir": dir, "loss": loss, "initial_loss": initial, "input_ids": ids,
        });
        println!("{line}");
    }
    Ok(())
}
