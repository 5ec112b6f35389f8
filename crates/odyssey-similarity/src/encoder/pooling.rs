//! Pooling token embeddings into sentence vectors, masked by attention, and L2 normalisation
//! (sentence-transformers' Pooling and Normalize modules).

use super::folder::PoolingMode;
use crate::error::{Result, SimilarityError};
use tch::{Kind, Tensor};

fn t(context: &str) -> impl FnOnce(tch::TchError) -> SimilarityError + '_ {
    move |e| SimilarityError::torch(context, e)
}

/// Pool `hidden` (`[batch, seq, dim]`) over the tokens where `mask` (`[batch, seq]`, bool) is
/// true; the modes' vectors are concatenated in order.
pub(crate) fn pool(hidden: &Tensor, mask: &Tensor, modes: &[PoolingMode]) -> Result<Tensor> {
    let maskf = mask
        .f_to_kind(Kind::Float)
        .and_then(|m| m.f_unsqueeze(-1))
        .map_err(t("pooling mask"))?;
    let mut sum: Option<(Tensor, Tensor)> = None;
    let mut parts = Vec::with_capacity(modes.len());
    for mode in modes {
        let v = match mode {
            // Inputs are right-padded, so the first token is the first attended one.
            PoolingMode::Cls => hidden.f_select(1, 0).map_err(t("CLS pooling"))?,
            PoolingMode::Max => hidden
                .f_masked_fill(
                    &maskf.f_eq(0.0).map_err(t("max pooling"))?,
                    f64::NEG_INFINITY,
                )
                .and_then(|x| x.f_amax([1], false))
                .map_err(t("max pooling"))?,
            PoolingMode::Mean | PoolingMode::MeanSqrtLen => {
                if sum.is_none() {
                    let s = hidden
                        .f_mul(&maskf)
                        .and_then(|x| x.f_sum_dim_intlist([1i64].as_slice(), false, Kind::Float))
                        .map_err(t("mean pooling"))?;
                    let n = maskf
                        .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
                        .and_then(|n| n.f_clamp_min(1e-9))
                        .map_err(t("mean pooling"))?;
                    sum = Some((s, n));
                }
                let (s, n) = sum
                    .as_ref()
                    .ok_or_else(|| SimilarityError::InvalidConfig("pooling".into()))?;
                match mode {
                    PoolingMode::Mean => s.f_div(n),
                    _ => n.f_sqrt().and_then(|r| s.f_div(&r)),
                }
                .map_err(t("mean pooling"))?
            }
        };
        parts.push(v);
    }
    if parts.len() == 1 {
        return parts
            .pop()
            .ok_or_else(|| SimilarityError::InvalidConfig("no pooling mode".into()));
    }
    Tensor::f_cat(&parts, 1).map_err(t("concatenating pooled vectors"))
}

/// Divide each row by its L2 norm (at least 1e-12), as `torch.nn.functional.normalize`.
pub(crate) fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    x.f_norm_scalaropt_dim(2, [1], true)
        .and_then(|n| n.f_clamp_min(1e-12))
        .and_then(|n| x.f_div(&n))
        .map_err(t("L2 normalisation"))
}
