//! The tch sentence encoder against sentence-transformers on the real all-MiniLM-L6-v2.
#![cfg(feature = "encoder")]

mod common;

use ndarray::Array2;
use odyssey_core::TextEmbedder;
use odyssey_similarity::{EncodeOptions, SentenceEncoder};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// One model for all tests (a `Tensor` is not `Sync`, hence the lock).
fn encoder() -> MutexGuard<'static, SentenceEncoder> {
    static ENC: OnceLock<Mutex<SentenceEncoder>> = OnceLock::new();
    ENC.get_or_init(|| {
        tch::set_num_threads(2);
        Mutex::new(
            SentenceEncoder::minilm(None).expect("all-MiniLM-L6-v2 (run scripts/odyssey.sh setup)"),
        )
    })
    .lock()
    .unwrap_or_else(|e| e.into_inner())
}

fn max_abs_diff(a: &Array2<f32>, b: &Array2<f32>) -> (f32, usize) {
    assert_eq!(a.dim(), b.dim());
    let mut worst = (0.0f32, 0usize);
    for (i, (ra, rb)) in a.outer_iter().zip(b.outer_iter()).enumerate() {
        for (x, y) in ra.iter().zip(rb) {
            let d = (x - y).abs();
            if d > worst.0 {
                worst = (d, i);
            }
        }
    }
    worst
}

#[test]
fn three_sentences_match_the_published_cosines() {
    let enc = encoder();
    let sents = [
        "The weather is lovely today.",
        "It's so sunny outside!",
        "He drove to the stadium.",
    ];
    let e = enc.embed(&sents).unwrap();
    assert_eq!(e.dim(), (3, 384));
    let cos = |i: usize, j: usize| e.row(i).dot(&e.row(j));
    let got = [cos(0, 1), cos(0, 2), cos(1, 2)];
    let want = [0.6660, 0.1046, 0.1411];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 5e-5, "cosines {got:?}, expected {want:?}");
    }
    for row in e.outer_iter() {
        assert!((row.dot(&row) - 1.0).abs() < 1e-5);
    }
}

#[test]
fn paragraphs_match_sentence_transformers_within_1e4() {
    let fx = common::st_parity();
    let texts: Vec<&str> = fx.texts.iter().map(|s| s.as_str()).collect();
    // Some fixture paragraphs are longer than max_seq_length: truncation is exercised.
    let enc = encoder();
    let lengths = enc.token_lengths(&texts).unwrap();
    assert!(lengths.contains(&256));
    assert!(lengths.iter().all(|&l| l <= 256));
    let got = enc.embed(&texts).unwrap();
    let (worst, row) = max_abs_diff(&got, &fx.embeddings);
    assert!(
        worst < 1e-4,
        "max |Δ| = {worst} at paragraph {row} ({}): {:?}",
        fx.domains[row],
        &fx.texts[row][..fx.texts[row].len().min(80)]
    );
}

#[test]
fn mean_pooling_without_normalize_matches_and_order_is_restored() {
    let fx = common::st_parity();
    let n = fx.raw.nrows();
    // Reverse the input: the output must follow the input order whatever the batching.
    let texts: Vec<&str> = fx.texts[..n].iter().rev().map(|s| s.as_str()).collect();
    let dir = odyssey_similarity::locate_model_dir(None).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // The same model folder without its Normalize module.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap();
        if p.is_file() && name != "modules.json" {
            std::os::unix::fs::symlink(&p, tmp.path().join(name)).unwrap();
        }
    }
    std::os::unix::fs::symlink(dir.join("1_Pooling"), tmp.path().join("1_Pooling")).unwrap();
    std::fs::write(
        tmp.path().join("modules.json"),
        r#"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]"#,
    )
    .unwrap();
    let plain = SentenceEncoder::load(tmp.path())
        .unwrap()
        .with_options(EncodeOptions {
            batch_size: 5,
            ..Default::default()
        });
    assert!(!plain.folder().normalize);
    let got = plain.encode(&texts).unwrap();
    let mut want = fx.raw.clone();
    want.invert_axis(ndarray::Axis(0));
    let (worst, row) = max_abs_diff(&got, &want);
    assert!(worst < 1e-4, "max |Δ| = {worst} at row {row}");
    // Norms are not 1 without the Normalize module.
    assert!(got
        .outer_iter()
        .any(|r| (r.dot(&r).sqrt() - 1.0).abs() > 0.1));
    // Asking for normalisation gives the normalised fixture rows.
    let normed = plain
        .encode_with(
            &texts,
            &EncodeOptions {
                batch_size: 7,
                normalize: true,
                progress: false,
            },
        )
        .unwrap();
    let mut want_n = fx.embeddings.slice(ndarray::s![..n, ..]).to_owned();
    want_n.invert_axis(ndarray::Axis(0));
    assert!(max_abs_diff(&normed, &want_n).0 < 1e-4);
}

#[test]
fn empty_input_and_zero_batch() {
    let enc = encoder();
    assert_eq!(enc.embed(&[]).unwrap().dim(), (0, 384));
    let e = enc
        .encode_with(
            &["a"],
            &EncodeOptions {
                batch_size: 0,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(
        e,
        odyssey_similarity::SimilarityError::InvalidConfig(_)
    ));
    assert!(enc.describe().contains("dim 384"));
}
