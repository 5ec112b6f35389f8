//! The output layer and loss run chunk by chunk ([`CausalLm::summed_target_loss`] of `Lm`)
//! give the loss and the gradients of the full-logits computation, on real text with ignored
//! targets, for chunk sizes that do and do not divide the number of positions.

mod trainer_support;

use odyssey_train::model::{causal_lm_loss, shift_labels, summed_cross_entropy, IGNORE_INDEX};
use odyssey_train::trainer::TokenBlocks;
use odyssey_train::CausalLm;
use tch::{Kind, Tensor};
use trainer_support::{as_batch, byte_blocks, tiny_gpt2, NEWLINE};

/// The loss and every gradient (by variable name) after one backward pass of `loss`.
fn loss_and_grads(model: &dyn CausalLm, loss: Tensor) -> (f64, Vec<(String, Tensor)>) {
    loss.backward();
    let mut grads: Vec<(String, Tensor)> = model
        .var_store()
        .variables()
        .into_iter()
        .map(|(name, v)| {
            let g = v.grad().copy();
            let mut g_ = v.grad();
            let _ = g_.zero_();
            (name, g)
        })
        .collect();
    grads.sort_by(|a, b| a.0.cmp(&b.0));
    (loss.double_value(&[]), grads)
}

#[test]
fn chunked_loss_matches_the_full_logits() {
    tch::set_num_threads(1);
    let blocks = byte_blocks("wiki_music", "train", 6);
    let x = as_batch(&blocks);
    // Targets: the next token, with every newline target left out.
    let shifted = shift_labels(&x);
    let targets = shifted.where_self(&shifted.ne(NEWLINE as i64), &Tensor::from(IGNORE_INDEX));
    let ignored = targets.eq(IGNORE_INDEX).sum(Kind::Int64).int64_value(&[]);
    assert!(
        ignored > blocks.n_blocks() as i64,
        "some newlines are ignored"
    );

    let mut model = tiny_gpt2(3, 0.0);
    let (full, full_grads) = loss_and_grads(
        &model,
        summed_cross_entropy(&model.forward_t(&x, false), &targets),
    );
    // 6 blocks × 32 positions = 192 rows: chunks of 7 leave a remainder, 64 divide evenly.
    for rows in [7usize, 64, 1000] {
        model.set_loss_chunk_rows(Some(rows));
        let (chunked, grads) =
            loss_and_grads(&model, model.summed_target_loss(&x, &targets, false));
        assert!(
            (chunked - full).abs() <= 1e-6 * full.abs(),
            "chunks of {rows}: {chunked} vs {full}"
        );
        assert_eq!(grads.len(), full_grads.len());
        for ((name, g), (_, f)) in grads.iter().zip(&full_grads) {
            let diff = (g - f).abs().max().double_value(&[]);
            let scale = f.abs().max().double_value(&[]).max(1e-3);
            assert!(
                diff <= 1e-5 * scale,
                "chunks of {rows}: {name} differs by {diff}"
            );
        }
    }
    // Its value moved with training-relevant content (not a constant).
    assert!(full > 1.0 && full.is_finite());

    // lm_loss (chunked mean) is HF's causal-LM loss on the full logits.
    model.set_loss_chunk_rows(Some(10));
    let mean = tch::no_grad(|| model.lm_loss(&x, false)).double_value(&[]);
    let hf = tch::no_grad(|| causal_lm_loss(&model.forward_t(&x, false), &x)).double_value(&[]);
    assert!((mean - hf).abs() <= 1e-6 * hf, "{mean} vs {hf}");
}

/// Scoring computes each target's log-probability over chunks of positions: the same values as
/// the full `[batch, positions, vocab]` logits, for chunks that do and do not divide the
/// positions, through the scorer as the study calls it.
#[test]
fn chunked_scoring_matches_the_full_logits() {
    use odyssey_core::TokenScorer;
    use odyssey_train::scorer::gather_log_probs;
    use odyssey_train::LmScorer;
    tch::set_num_threads(1);
    let blocks = byte_blocks("wiki_music", "valid", 4);
    let x = as_batch(&blocks);
    let mut model = tiny_gpt2(5, 0.0);
    let full = tch::no_grad(|| gather_log_probs(&model.forward_t(&x, false), &x));
    let windows: Vec<Vec<u32>> = (0..blocks.n_blocks())
        .map(|i| blocks.block(i).to_vec())
        .collect();
    // Windows of several lengths in one call (padding, grouping by length).
    let refs: Vec<&[u32]> = windows
        .iter()
        .enumerate()
        .map(|(i, w)| &w[..w.len() - 3 * i])
        .collect();
    let mut results = Vec::new();
    for rows in [usize::MAX, 5, 31, 32] {
        model.set_score_chunk_rows(Some(rows));
        let scorer = LmScorer::new(model, 3);
        results.push(scorer.token_log_probs(&refs).unwrap());
        model = scorer.into_model();
    }
    for (w, lp) in results[0].iter().enumerate() {
        for (j, &v) in lp.iter().enumerate() {
            let want = full.double_value(&[w as i64, j as i64]);
            assert!(
                (f64::from(v) - want).abs() < 1e-5,
                "window {w}, token {j}: {v} vs {want}"
            );
        }
    }
    for other in &results[1..] {
        for (a, b) in other.iter().zip(&results[0]) {
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 1e-5, "{x} vs {y}");
            }
        }
    }
    assert_eq!(model.score_chunk_rows(), 32);
    model.set_score_chunk_rows(None);
    assert_eq!(model.score_chunk_rows(), (64 << 20) / (4 * 256));
}
