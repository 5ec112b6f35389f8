//! A BERT encoder (transformers' `BertModel` without the pooler) for inference in `tch`.
//!
//! Post-layer-norm blocks: self-attention → dense → residual → LayerNorm, then
//! dense → activation → dense → residual → LayerNorm. The query, key and value projections are
//! fused into one matrix product and attention runs through libtorch's fused
//! `scaled_dot_product_attention` with a key-padding mask.

use super::folder::{Activation, BertConfig};
use super::weights::Weights;
use crate::error::{Result, SimilarityError};
use tch::{Device, Tensor};

struct Layer {
    qkv_w: Tensor,
    qkv_b: Tensor,
    out_w: Tensor,
    out_b: Tensor,
    ln1_w: Tensor,
    ln1_b: Tensor,
    up_w: Tensor,
    up_b: Tensor,
    down_w: Tensor,
    down_b: Tensor,
    ln2_w: Tensor,
    ln2_b: Tensor,
}

/// BERT weights and the hyper-parameters the forward pass needs.
pub(crate) struct Bert {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    ln_w: Tensor,
    ln_b: Tensor,
    layers: Vec<Layer>,
    hidden: i64,
    heads: i64,
    eps: f64,
    activation: Activation,
    device: Device,
}

fn t(context: &str) -> impl FnOnce(tch::TchError) -> SimilarityError + '_ {
    move |e| SimilarityError::torch(context, e)
}

impl Bert {
    /// Build the encoder from a checkpoint, checking every shape against `cfg`.
    pub(crate) fn from_weights(
        mut w: Weights,
        cfg: &BertConfig,
        activation: Activation,
        device: Device,
    ) -> Result<Self> {
        let h = cfg.hidden_size;
        let i = cfg.intermediate_size;
        let word = w.take("embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?;
        let position = w.take(
            "embeddings.position_embeddings.weight",
            &[cfg.max_position_embeddings, h],
        )?;
        let token_type = w.take(
            "embeddings.token_type_embeddings.weight",
            &[cfg.type_vocab_size, h],
        )?;
        let ln_w = w.take("embeddings.LayerNorm.weight", &[h])?;
        let ln_b = w.take("embeddings.LayerNorm.bias", &[h])?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for l in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{l}.");
            let q_w = w.take(&format!("{p}attention.self.query.weight"), &[h, h])?;
            let k_w = w.take(&format!("{p}attention.self.key.weight"), &[h, h])?;
            let v_w = w.take(&format!("{p}attention.self.value.weight"), &[h, h])?;
            let q_b = w.take(&format!("{p}attention.self.query.bias"), &[h])?;
            let k_b = w.take(&format!("{p}attention.self.key.bias"), &[h])?;
            let v_b = w.take(&format!("{p}attention.self.value.bias"), &[h])?;
            // Weights are stored (out, in); keep the transposed (in, out) layout contiguous so
            // each projection is one `addmm` on a row-major matrix.
            let qkv_w = Tensor::f_cat(&[q_w, k_w, v_w], 0)
                .and_then(|x| x.f_t_copy())
                .map_err(t("fusing q/k/v weights"))?;
            let qkv_b = Tensor::f_cat(&[q_b, k_b, v_b], 0).map_err(t("fusing q/k/v biases"))?;
            let tr = |x: Tensor| x.f_t_copy().map_err(t("transposing a weight"));
            layers.push(Layer {
                qkv_w,
                qkv_b,
                out_w: tr(w.take(&format!("{p}attention.output.dense.weight"), &[h, h])?)?,
                out_b: w.take(&format!("{p}attention.output.dense.bias"), &[h])?,
                ln1_w: w.take(&format!("{p}attention.output.LayerNorm.weight"), &[h])?,
                ln1_b: w.take(&format!("{p}attention.output.LayerNorm.bias"), &[h])?,
                up_w: tr(w.take(&format!("{p}intermediate.dense.weight"), &[i, h])?)?,
                up_b: w.take(&format!("{p}intermediate.dense.bias"), &[i])?,
                down_w: tr(w.take(&format!("{p}output.dense.weight"), &[h, i])?)?,
                down_b: w.take(&format!("{p}output.dense.bias"), &[h])?,
                ln2_w: w.take(&format!("{p}output.LayerNorm.weight"), &[h])?,
                ln2_b: w.take(&format!("{p}output.LayerNorm.bias"), &[h])?,
            });
        }
        Ok(Bert {
            word,
            position,
            token_type,
            ln_w,
            ln_b,
            layers,
            hidden: h as i64,
            heads: cfg.num_attention_heads as i64,
            eps: cfg.layer_norm_eps,
            activation,
            device,
        })
    }

    /// The device the weights live on.
    pub(crate) fn device(&self) -> Device {
        self.device
    }

    fn layer_norm(&self, x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        x.f_layer_norm([self.hidden], Some(w), Some(b), self.eps, false)
            .map_err(t("layer norm"))
    }

    /// Last hidden states `[batch, seq, hidden]` for right-padded `ids` and `type_ids`
    /// (`[batch, seq]`, int64) with a boolean key mask `mask` (`[batch, seq]`, true = token).
    pub(crate) fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let size = ids.size();
        let (b, l) = (size[0], size[1]);
        let h = self.hidden;
        let nh = self.heads;
        let hd = h / nh;
        let positions = self
            .position
            .f_narrow(0, 0, l)
            .map_err(t("position embeddings"))?;
        let emb = Tensor::f_embedding(&self.word, ids, -1, false, false)
            .and_then(|e| e.f_add(&positions))
            .and_then(|e| {
                e.f_add(&Tensor::f_embedding(
                    &self.token_type,
                    type_ids,
                    -1,
                    false,
                    false,
                )?)
            })
            .map_err(t("embeddings"))?;
        let mut x = self
            .layer_norm(&emb, &self.ln_w, &self.ln_b)?
            .f_view([b * l, h])
            .map_err(t("flattening the batch"))?;
        let attn_mask = mask.f_view([b, 1, 1, l]).map_err(t("attention mask"))?;
        for layer in &self.layers {
            let qkv = layer
                .qkv_b
                .f_addmm(&x, &layer.qkv_w)
                .and_then(|y| y.f_view([b, l, 3, nh, hd]))
                .and_then(|y| y.f_permute([2, 0, 3, 1, 4]))
                .map_err(t("q/k/v projection"))?;
            let pick = |i: i64| qkv.f_select(0, i).map_err(t("splitting q/k/v"));
            let (q, k, v) = (pick(0)?, pick(1)?, pick(2)?);
            let ctx = Tensor::f_scaled_dot_product_attention(
                &q,
                &k,
                &v,
                Some(&attn_mask),
                0.0,
                false,
                None,
                false,
            )
            .and_then(|c| c.f_transpose(1, 2))
            .and_then(|c| c.f_reshape([b * l, h]))
            .map_err(t("attention"))?;
            let attn = layer
                .out_b
                .f_addmm(&ctx, &layer.out_w)
                .and_then(|mut y| y.f_add_(&x))
                .map_err(t("attention output"))?;
            x = self.layer_norm(&attn, &layer.ln1_w, &layer.ln1_b)?;
            let mut up = layer
                .up_b
                .f_addmm(&x, &layer.up_w)
                .map_err(t("feed-forward up projection"))?;
            let up = match self.activation {
                Activation::Gelu => up.f_gelu_("none"),
                Activation::GeluTanh => up.f_gelu_("tanh"),
                Activation::Relu => up.f_relu_(),
            }
            .map_err(t("activation"))?;
            let down = layer
                .down_b
                .f_addmm(&up, &layer.down_w)
                .and_then(|mut y| y.f_add_(&x))
                .map_err(t("feed-forward down projection"))?;
            x = self.layer_norm(&down, &layer.ln2_w, &layer.ln2_b)?;
        }
        x.f_view([b, l, h]).map_err(t("unflattening the batch"))
    }
}
