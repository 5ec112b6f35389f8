//! Convert a GGUF model file (llama.cpp, ollama) into an HF folder that transformers loads
//! with `AutoModelForCausalLM.from_pretrained(dir)` and `AutoTokenizer.from_pretrained(dir)`:
//! `config.json`, `model.safetensors` (fp32, dequantized), `tokenizer.json`,
//! `tokenizer_config.json`, `generation_config.json`.
//!
//! ```text
//! cargo run --release --example gguf_to_hf -- path/to/model.gguf out/model-hf
//! cargo run --release --example gguf_to_hf -- "$ODYSSEY_SMOLLM2_GGUF" out/smollm2-hf
//! ```
//!
//! Supported: the `llama` architecture (Llama, SmolLM, Mistral-free Llama-style models) with
//! F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K or Q6_K tensors and a byte-level BPE tokenizer.

use anyhow::Context;
use odyssey::corpus::HfTokenizer;
use odyssey::train::AnyModel;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [gguf, out] = args.as_slice() else {
        anyhow::bail!("usage: gguf_to_hf MODEL.gguf OUT_DIR");
    };
    let (gguf, out) = (PathBuf::from(gguf), PathBuf::from(out));
    let model = AnyModel::from_gguf(&gguf, tch::Device::Cpu)
        .with_context(|| format!("loading {}", gguf.display()))?;
    let tokenizer = HfTokenizer::from_gguf(&gguf)?;
    let file = odyssey::gguf::GgufFile::open(&gguf)?;
    let [bos, eos, unk, pad] = odyssey::gguf::tokenizer::special_ids(&file);
    let name = |id: Option<u32>| {
        id.and_then(|i| odyssey::core::TokenizerHandle::token_text(&tokenizer, i))
            .map_or(serde_json::Value::Null, serde_json::Value::from)
    };
    model.save_pretrained(&out)?;
    tokenizer.save(out.join("tokenizer.json"))?;
    let tok_config = serde_json::json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": name(bos),
        "eos_token": name(eos),
        "unk_token": name(unk),
        "pad_token": name(pad),
        "add_bos_token": false,
        "model_max_length": model.config().max_positions(),
        "clean_up_tokenization_spaces": false,
    });
    let gen_config =
        serde_json::json!({"bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad});
    for (file, value) in [
        ("tokenizer_config.json", tok_config),
        ("generation_config.json", gen_config),
    ] {
        odyssey::core::fs::write_atomic(&out.join(file), &serde_json::to_vec_pretty(&value)?)?;
    }
    println!(
        "wrote {} ({:.1} M parameters, vocab {})",
        out.display(),
        model.num_parameters() as f64 / 1e6,
        model.config().vocab_size()
    );
    Ok(())
}
