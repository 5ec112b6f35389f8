//! Bad GGUF input gives a typed error naming the field or tensor, never a panic.

use odyssey_gguf::writer::{to_bytes, TensorData};
use odyssey_gguf::{tokenizer, GgmlType, GgufError, GgufFile, LlamaParams, Value};
use proptest::prelude::*;

fn meta() -> Vec<(&'static str, Value)> {
    vec![
        ("general.architecture", Value::String("llama".into())),
        ("llama.block_count", Value::U32(1)),
        ("llama.context_length", Value::U32(64)),
        ("llama.embedding_length", Value::U32(8)),
        ("llama.feed_forward_length", Value::U32(16)),
        ("llama.attention.head_count", Value::U32(2)),
        ("llama.attention.head_count_kv", Value::U32(1)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("llama.rope.freq_base", Value::F32(10000.0)),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.pre", Value::String("smollm".into())),
        (
            "tokenizer.ggml.tokens",
            Value::Array(
                ["<|endoftext|>", "a", "b", "ab"]
                    .map(|s| Value::String(s.into()))
                    .to_vec(),
            ),
        ),
        (
            "tokenizer.ggml.token_type",
            Value::Array(vec![
                Value::I32(3),
                Value::I32(1),
                Value::I32(1),
                Value::I32(1),
            ]),
        ),
        (
            "tokenizer.ggml.merges",
            Value::Array(vec![Value::String("a b".into())]),
        ),
    ]
}

fn tensors() -> Vec<TensorData> {
    vec![
        TensorData::f32("token_embd.weight", &[4, 8], &[0.5; 32]),
        TensorData::f32("output_norm.weight", &[8], &[1.0; 8]),
    ]
}

fn open(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
    GgufFile::from_bytes("test.gguf", bytes)
}

#[test]
fn a_valid_file_reads_back() {
    let f = open(to_bytes(&meta(), &tensors())).unwrap();
    assert_eq!(f.tensors().len(), 2);
    assert_eq!(f.tensor_f32("output_norm.weight").unwrap(), vec![1.0; 8]);
    let p = LlamaParams::from_file(&f).unwrap();
    assert_eq!((p.vocab_size, p.num_key_value_heads, p.head_dim), (4, 1, 4));
    assert!(p.tie_word_embeddings);
    let t = tokenizer::tokenizer(&f).unwrap();
    assert_eq!(t.encode("ab", false).unwrap().get_ids(), &[3]);
    // The control token is matched whole.
    assert_eq!(
        t.encode("a<|endoftext|>b", false).unwrap().get_ids(),
        &[1, 0, 2]
    );
}

#[test]
fn bad_magic_and_versions() {
    let mut b = to_bytes(&meta(), &tensors());
    b[0] = b'X';
    assert!(matches!(open(b), Err(GgufError::BadMagic { .. })));
    assert!(matches!(
        open(b"GG".to_vec()),
        Err(GgufError::BadMagic { .. })
    ));
    for v in [1u32, 4, 99] {
        let mut b = to_bytes(&meta(), &tensors());
        b[4..8].copy_from_slice(&v.to_le_bytes());
        let e = open(b).unwrap_err();
        assert!(
            matches!(e, GgufError::UnsupportedVersion { version, .. } if version == v),
            "{e}"
        );
    }
}

#[test]
fn every_truncation_is_a_truncated_error() {
    let full = to_bytes(&meta(), &tensors());
    for cut in (4..full.len()).step_by(7) {
        match open(full[..cut].to_vec()) {
            Err(GgufError::Truncated { what, .. }) => assert!(!what.is_empty()),
            // Cut inside the data section: the tensor no longer fits.
            Err(GgufError::TensorLayout {
                tensor, message, ..
            }) => {
                assert!(message.contains("needs"), "{tensor}: {message}")
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn an_unknown_tensor_type_names_the_tensor() {
    let mut t = tensors();
    t[1].ty = GgmlType {
        id: 4,
        name: "?",
        block_size: 1,
        type_size: 4,
    };
    let e = open(to_bytes(&meta(), &t)).unwrap_err();
    assert!(
        matches!(&e, GgufError::UnknownTensorType { tensor, type_id: 4, .. } if tensor == "output_norm.weight"),
        "{e}"
    );
}

#[test]
fn a_tensor_whose_bytes_disagree_with_its_shape_names_the_tensor() {
    // Shape of 16 floats, 8 floats of data: it runs into the end of the file.
    let mut t = tensors();
    t[1].shape = vec![16];
    let e = open(to_bytes(&meta(), &t)).unwrap_err();
    assert!(
        matches!(&e, GgufError::TensorLayout { tensor, message, .. } if tensor == "output_norm.weight" && message.contains("needs 64 bytes")),
        "{e}"
    );
    // Q8_0 comes in blocks of 32: 40 elements are not a whole number of blocks.
    let mut t = tensors();
    t.push(TensorData {
        name: "odd".into(),
        shape: vec![40],
        ty: GgmlType::Q8_0,
        bytes: vec![0; 68],
    });
    let e = open(to_bytes(&meta(), &t)).unwrap_err();
    assert!(
        matches!(&e, GgufError::TensorLayout { tensor, message, .. } if tensor == "odd" && message.contains("blocks")),
        "{e}"
    );
}

#[test]
fn known_but_unsupported_types_fail_when_read() {
    let mut t = tensors();
    t.push(TensorData {
        name: "q2".into(),
        shape: vec![256],
        ty: GgmlType::from_id(10).unwrap(),
        bytes: vec![0; 84],
    });
    let f = open(to_bytes(&meta(), &t)).unwrap();
    let e = f.tensor_f32("q2").unwrap_err();
    assert!(
        matches!(&e, GgufError::UnsupportedTensorType { tensor, ty, .. } if tensor == "q2" && ty == "Q2_K"),
        "{e}"
    );
    assert!(matches!(
        f.tensor_f32("nope"),
        Err(GgufError::MissingTensor { .. })
    ));
}

#[test]
fn an_unsupported_architecture_is_named() {
    let mut m = meta();
    m[0].1 = Value::String("gpt2".into());
    let f = open(to_bytes(&m, &tensors())).unwrap();
    let e = LlamaParams::from_file(&f).unwrap_err();
    assert!(
        matches!(&e, GgufError::UnsupportedArchitecture { architecture, .. } if architecture == "gpt2"),
        "{e}"
    );
}

#[test]
fn missing_metadata_names_the_key() {
    for key in [
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.model",
    ] {
        let m: Vec<_> = meta().into_iter().filter(|(k, _)| *k != key).collect();
        let f = open(to_bytes(&m, &tensors())).unwrap();
        let e = tokenizer::tokenizer(&f).unwrap_err();
        assert!(
            matches!(&e, GgufError::MissingKey { key: k, .. } if k == key),
            "{e}"
        );
    }
    let m: Vec<_> = meta()
        .into_iter()
        .filter(|(k, _)| *k != "llama.block_count")
        .collect();
    let f = open(to_bytes(&m, &tensors())).unwrap();
    let e = LlamaParams::from_file(&f).unwrap_err();
    assert!(e.to_string().contains("llama.block_count"), "{e}");
    // A pre-tokenizer this reader does not know is refused, not guessed.
    let mut m = meta();
    m[10].1 = Value::String("brand-new".into());
    let f = open(to_bytes(&m, &tensors())).unwrap();
    let e = tokenizer::tokenizer(&f).unwrap_err();
    assert!(e.to_string().contains("brand-new"), "{e}");
}

#[test]
fn missing_file_is_an_io_error() {
    assert!(matches!(
        GgufFile::open("/nonexistent/model.gguf"),
        Err(GgufError::Io { .. })
    ));
}

proptest! {
    /// Flipped bytes anywhere in a valid file: an error or a file, never a panic.
    #[test]
    fn corrupted_files_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut b = to_bytes(&meta(), &tensors());
        for (i, v) in flips {
            let n = b.len();
            b[i.index(n)] = v;
        }
        if let Ok(f) = open(b) {
            for t in f.tensors().to_vec() {
                let _ = f.tensor_f32(&t.name);
            }
            let _ = LlamaParams::from_file(&f);
            let _ = tokenizer::tokenizer(&f);
        }
    }
}
