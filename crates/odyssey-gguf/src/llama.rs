//! The `llama` architecture in GGUF: hyper-parameters from metadata, tensor names to HF's, and
//! the inverse of llama.cpp's permutation of the query and key projections.

use crate::error::{GgufError, Result};
use crate::reader::GgufFile;
use crate::types::Value;

/// Hyper-parameters of a `llama` GGUF file, under HF `LlamaConfig`'s names.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaParams {
    /// Token ids (rows of `token_embd.weight`).
    pub vocab_size: usize,
    /// `llama.embedding_length`.
    pub hidden_size: usize,
    /// `llama.feed_forward_length`.
    pub intermediate_size: usize,
    /// `llama.block_count`.
    pub num_hidden_layers: usize,
    /// `llama.attention.head_count`.
    pub num_attention_heads: usize,
    /// `llama.attention.head_count_kv` (the head count when absent).
    pub num_key_value_heads: usize,
    /// Per-head size: `llama.attention.key_length`, else `hidden_size / heads`.
    pub head_dim: usize,
    /// `llama.context_length`.
    pub max_position_embeddings: usize,
    /// `llama.attention.layer_norm_rms_epsilon`.
    pub rms_norm_eps: f64,
    /// `llama.rope.freq_base` (10000 when absent).
    pub rope_theta: f64,
    /// `llama.rope.scaling.type` and `.factor` when the file scales positions.
    pub rope_scaling: Option<(String, f64)>,
    /// No `output.weight`: the output projection is the token embedding.
    pub tie_word_embeddings: bool,
    /// `general.name`, when present.
    pub name: Option<String>,
}

impl LlamaParams {
    /// Read the hyper-parameters; the error names the missing or malformed key, or the
    /// unsupported architecture.
    pub fn from_file(f: &GgufFile) -> Result<LlamaParams> {
        let arch = f.string("general.architecture")?;
        if arch != "llama" {
            return Err(GgufError::UnsupportedArchitecture {
                path: f.path().to_path_buf(),
                architecture: arch.to_string(),
            });
        }
        let u = |k: &str| f.uint(&format!("llama.{k}")).map(|v| v as usize);
        let opt = |k: &str| f.metadata().get(&format!("llama.{k}"));
        let heads = u("attention.head_count")?;
        let hidden = u("embedding_length")?;
        if heads == 0 {
            return Err(GgufError::BadMetadata {
                path: f.path().to_path_buf(),
                key: "llama.attention.head_count".into(),
                message: "must be at least 1".into(),
            });
        }
        let kv = match opt("attention.head_count_kv") {
            Some(v) => v
                .as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| GgufError::MissingKey {
                    path: f.path().to_path_buf(),
                    key: "llama.attention.head_count_kv".into(),
                    message: format!("is a {}, expected an integer", v.type_name()),
                })?,
            None => heads,
        };
        let head_dim = opt("attention.key_length")
            .and_then(Value::as_u64)
            .map_or(hidden / heads, |v| v as usize);
        let emb = f.tensor_info("token_embd.weight")?;
        let vocab_size = emb.shape().first().copied().unwrap_or(0);
        let rope_scaling = match opt("rope.scaling.type").and_then(Value::as_str) {
            None | Some("none") => None,
            Some(kind) => Some((kind.to_string(), f.float("llama.rope.scaling.factor")?)),
        };
        Ok(LlamaParams {
            vocab_size,
            hidden_size: hidden,
            intermediate_size: u("feed_forward_length")?,
            num_hidden_layers: u("block_count")?,
            num_attention_heads: heads,
            num_key_value_heads: kv,
            head_dim,
            max_position_embeddings: u("context_length")?,
            rms_norm_eps: f.float("llama.attention.layer_norm_rms_epsilon")?,
            rope_theta: opt("rope.freq_base")
                .and_then(Value::as_f64)
                .unwrap_or(10000.0),
            rope_scaling,
            tie_word_embeddings: f.tensor_info("output.weight").is_err(),
            name: f
                .metadata()
                .get("general.name")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
}

/// The HF state-dict name of a `llama` GGUF tensor, or `None` for tensors HF does not keep
/// (`rope_freqs.weight`, precomputed rotary tables).
pub fn hf_name(gguf: &str) -> Option<String> {
    let fixed = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (part, suffix) = rest.rsplit_once('.')?;
    let hf = match part {
        "attn_norm" => "input_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_norm" => "post_attention_layernorm",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}.{suffix}"))
}

/// Undo llama.cpp's permutation of the rows of a query or key projection (`rows × cols`,
/// row-major), in place of a copy.
///
/// llama.cpp's converter reorders each head's rows from HF's "first halves, then second halves"
/// rotary layout to interleaved pairs: HF row `h·d + a·d/2 + b` (head `h`, half `a ∈ {0, 1}`,
/// `b < d/2`) is stored as row `h·d + 2b + a`, with `d` the head size and `heads` the number of
/// heads of this projection (the key-value heads for `k`). This applies the inverse, as
/// transformers and candle do when they read GGUF.
pub fn unpermute_rows(data: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
    let d = rows / heads.max(1);
    let half = d / 2;
    let mut out = vec![0f32; data.len()];
    for h in 0..heads {
        for a in 0..2 {
            for b in 0..half {
                let hf = h * d + a * half + b;
                let gg = h * d + 2 * b + a;
                out[hf * cols..(hf + 1) * cols].copy_from_slice(&data[gg * cols..(gg + 1) * cols]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_hf() {
        assert_eq!(
            hf_name("blk.12.attn_q.weight").as_deref(),
            Some("model.layers.12.self_attn.q_proj.weight")
        );
        assert_eq!(
            hf_name("blk.0.ffn_norm.weight").as_deref(),
            Some("model.layers.0.post_attention_layernorm.weight")
        );
        assert_eq!(
            hf_name("token_embd.weight").as_deref(),
            Some("model.embed_tokens.weight")
        );
        assert_eq!(hf_name("rope_freqs.weight"), None);
        assert_eq!(hf_name("blk.x.attn_q.weight"), None);
    }

    /// llama.cpp's `permute` (convert_hf_to_gguf.py), written directly.
    fn permute(w: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
        let d = rows / heads;
        let mut out = vec![0f32; w.len()];
        for h in 0..heads {
            for a in 0..2 {
                for b in 0..d / 2 {
                    let src = h * d + a * (d / 2) + b;
                    let dst = h * d + 2 * b + a;
                    out[dst * cols..(dst + 1) * cols]
                        .copy_from_slice(&w[src * cols..(src + 1) * cols]);
                }
            }
        }
        out
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        let (rows, cols, heads) = (24, 3, 3);
        let w: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
        let p = permute(&w, rows, cols, heads);
        assert_ne!(p, w);
        assert_eq!(unpermute_rows(&p, rows, cols, heads), w);
        // Head 0, d = 8: stored row 1 is HF row 4 (first element of the second half).
        assert_eq!(p[cols], w[4 * cols]);
    }
}
