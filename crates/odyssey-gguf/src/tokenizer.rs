//! The HF `tokenizers` tokenizer that a GGUF file's `tokenizer.ggml.*` metadata describes.
//!
//! Supported: `tokenizer.ggml.model = "gpt2"` (byte-level BPE: tokens, merges, token types),
//! with the pre-tokenizer `tokenizer.ggml.pre` names, as llama.cpp defines it:
//!
//! | `pre` | pre-tokenization |
//! |---|---|
//! | absent, `default`, `gpt2`, `mpt`, `olmo`, `jais` | GPT-2's regex |
//! | `smollm`, `starcoder`, `refact`, `command-r`, `codeshell`, `exaone`, `minerva` | every digit on its own, then GPT-2's regex |
//! | `llama3`, `llama-v3`, `llama-bpe`, `falcon3`, `pixtral`, `dbrx`, `smaug-bpe` | Llama 3's regex |
//! | `qwen2`, `deepseek-r1-qwen` | Qwen2's regex |
//!
//! Tokens typed *control* (3) become special added tokens and *user-defined* (4) plain added
//! tokens, both matched whole, as transformers' GGUF loader does; tokens not spelled in the
//! byte-level alphabet are re-spelled through it. Any other `pre` or `model` is an error that
//! names it, never a silently different tokenization.

use crate::error::{GgufError, Result};
use crate::reader::GgufFile;
use crate::types::Value;
use serde_json::{json, Value as Json};

const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GPT-2's map from bytes to the printable characters byte-level vocabularies are spelled in.
pub fn bytes_to_unicode() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
        map[b as usize] = if printable {
            char::from(b)
        } else {
            n += 1;
            char::from_u32(255 + n).unwrap_or('?')
        };
    }
    map
}

fn byte_level_pre(digits: bool) -> Json {
    let bl = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    if digits {
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, bl]})
    } else {
        bl
    }
}

fn split_then_bytes(regex: &str) -> Json {
    json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})
}

/// The pre-tokenizer JSON for llama.cpp's `tokenizer.ggml.pre` name.
fn pre_tokenizer(pre: Option<&str>) -> Option<Json> {
    Some(match pre.unwrap_or("default") {
        "default" | "gpt2" | "mpt" | "olmo" | "jais" => byte_level_pre(false),
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva" => {
            byte_level_pre(true)
        }
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "pixtral" | "dbrx" | "smaug-bpe" => {
            split_then_bytes(LLAMA3_SPLIT)
        }
        "qwen2" | "deepseek-r1-qwen" => split_then_bytes(QWEN2_SPLIT),
        _ => return None,
    })
}

fn strings<'a>(f: &'a GgufFile, key: &str) -> Result<Vec<&'a str>> {
    f.array(key)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str().ok_or_else(|| GgufError::MissingKey {
                path: f.path().to_path_buf(),
                key: format!("{key}[{i}]"),
                message: format!("is a {}, expected a string", v.type_name()),
            })
        })
        .collect()
}

/// The `tokenizer.json` (HF `tokenizers` format) of the tokenizer described by `file`'s
/// metadata.
pub fn tokenizer_json(file: &GgufFile) -> Result<Json> {
    let bad = |message: String| GgufError::Tokenizer {
        path: file.path().to_path_buf(),
        message,
    };
    let model = file.string("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(bad(format!(
            "tokenizer.ggml.model `{model}` is not supported (gpt2, the byte-level BPE, is)"
        )));
    }
    let pre = file
        .metadata()
        .get("tokenizer.ggml.pre")
        .and_then(Value::as_str);
    let pre_tok = pre_tokenizer(pre).ok_or_else(|| {
        bad(format!(
            "tokenizer.ggml.pre `{}` is not a pre-tokenizer this reader knows; its split rule is needed to tokenize as the model was trained",
            pre.unwrap_or("")
        ))
    })?;
    let tokens = strings(file, "tokenizer.ggml.tokens")?;
    let merges = strings(file, "tokenizer.ggml.merges")?;
    let types: Vec<i64> = match file.metadata().get("tokenizer.ggml.token_type") {
        None => vec![1; tokens.len()],
        Some(v) => {
            let a = v
                .as_array()
                .ok_or_else(|| bad("token_type is not an array".into()))?;
            if a.len() != tokens.len() {
                return Err(bad(format!(
                    "{} token types for {} tokens",
                    a.len(),
                    tokens.len()
                )));
            }
            a.iter()
                .map(|t| {
                    t.as_i64()
                        .ok_or_else(|| bad("a token type is not an integer".into()))
                })
                .collect::<Result<_>>()?
        }
    };
    let spelling = bytes_to_unicode();
    let alphabet: std::collections::HashSet<char> = spelling.iter().copied().collect();
    let mut vocab = serde_json::Map::new();
    let mut added = Vec::new();
    for (id, (&tok, &ty)) in tokens.iter().zip(&types).enumerate() {
        let in_alphabet = tok.chars().all(|c| alphabet.contains(&c));
        let spelled: String = if in_alphabet {
            tok.to_string()
        } else {
            tok.bytes().map(|b| spelling[b as usize]).collect()
        };
        if ty == 3 && in_alphabet || ty == 4 {
            added.push(
                json!({"id": id, "content": tok, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": ty == 3}),
            );
        }
        if vocab.insert(spelled.clone(), json!(id)).is_some() {
            return Err(bad(format!(
                "token {id} ({tok:?}) appears twice in the vocabulary"
            )));
        }
    }
    let mut pairs = Vec::with_capacity(merges.len());
    for (i, m) in merges.iter().enumerate() {
        let Some((a, b)) = m.split_once(' ') else {
            return Err(bad(format!(
                "merge {i} ({m:?}) is not two tokens separated by a space"
            )));
        };
        pairs.push(json!([a, b]));
    }
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tok,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": pairs}
    }))
}

/// The HF tokenizer described by `file`'s metadata (see [`tokenizer_json`]).
pub fn tokenizer(file: &GgufFile) -> Result<tokenizers::Tokenizer> {
    let json = tokenizer_json(file)?;
    json.to_string()
        .parse::<tokenizers::Tokenizer>()
        .map_err(|e| GgufError::Tokenizer {
            path: file.path().to_path_buf(),
            message: e.to_string(),
        })
}

/// The special token ids the metadata names: `(bos, eos, unk, pad)`.
pub fn special_ids(file: &GgufFile) -> [Option<u32>; 4] {
    ["bos", "eos", "unknown", "padding"].map(|k| {
        file.metadata()
            .get(&format!("tokenizer.ggml.{k}_token_id"))
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_alphabet_is_gpt2s() {
        let m = bytes_to_unicode();
        assert_eq!(m[b'a' as usize], 'a');
        assert_eq!(m[b' ' as usize], 'Ġ');
        assert_eq!(m[b'\n' as usize], 'Ċ');
        let distinct: std::collections::HashSet<char> = m.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
    }

    #[test]
    fn unknown_pre_tokenizers_are_refused() {
        assert!(pre_tokenizer(Some("smollm")).is_some());
        assert!(pre_tokenizer(None).is_some());
        assert!(pre_tokenizer(Some("something-new")).is_none());
    }
}
