//! The HF tokenizer wrapper against Python's `tokenizers` (fixtures from
//! scripts/fixtures/corpus_tokenizer.py) and the byte-level fast path against HF's pipeline.

use odyssey_core::{DocumentSource, Split, TokenizerHandle};
use odyssey_corpus::{
    lm_eval_word_count, train_byte_level_bpe, train_byte_level_bpe_on, BpeTrainingOptions,
    CorpusError, DomainCollection, HfTokenizer,
};
use proptest::prelude::*;
use std::sync::OnceLock;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/odyssey-mini-sample"
);
const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn tok() -> &'static HfTokenizer {
    static T: OnceLock<HfTokenizer> = OnceLock::new();
    T.get_or_init(|| HfTokenizer::from_file(format!("{FIX}/bpe1024/tokenizer.json")).unwrap())
}

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    offsets: Vec<(usize, usize)>,
    words: usize,
}

#[derive(serde::Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

#[test]
fn encodings_match_python_tokenizers() {
    let cases: Cases = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIX}/corpus_tokenizer_encodings.json")).unwrap(),
    )
    .unwrap();
    assert!(cases.cases.len() > 100);
    let t = tok();
    assert!(t.has_fast_path());
    let texts: Vec<&str> = cases.cases.iter().map(|c| c.text.as_str()).collect();
    let batch = t.encode_batch_ids(&texts).unwrap();
    let handle_batch = t.encode_batch(&texts).unwrap();
    for (i, c) in cases.cases.iter().enumerate() {
        let enc = t.encode(&c.text).unwrap();
        assert_eq!(enc.ids, c.ids, "ids of {:?}", c.text);
        assert_eq!(enc.offsets, c.offsets, "offsets of {:?}", c.text);
        assert_eq!(
            t.encode_ids(&c.text).unwrap(),
            c.ids,
            "fast ids of {:?}",
            c.text
        );
        assert_eq!(batch[i], c.ids, "batch order");
        assert_eq!(handle_batch[i].ids, c.ids, "batch order");
        assert_eq!(
            lm_eval_word_count(&c.text),
            c.words,
            "words of {:?}",
            c.text
        );
        if !c.text.contains("<|endoftext|>") {
            assert_eq!(t.decode(&c.ids).unwrap(), c.text);
        }
    }
}

#[test]
fn training_in_rust_gives_the_tokenizer_python_trains() {
    #[derive(serde::Deserialize, PartialEq, Debug)]
    struct Model {
        vocab: std::collections::BTreeMap<String, u32>,
        merges: Vec<(String, String)>,
    }
    let python: Model = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIX}/corpus_tokenizer_python_bpe1024.json")).unwrap(),
    )
    .unwrap();
    let corpus = DomainCollection::open(DATA).unwrap();
    let trained = train_byte_level_bpe_on(
        corpus.domain("wiki_music").unwrap(),
        Split::Train,
        &BpeTrainingOptions::gpt2(1024),
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&trained.to_json(false).unwrap()).unwrap();
    let rust: Model = serde_json::from_value(json["model"].clone()).unwrap();
    assert_eq!(rust.vocab.len(), 1024);
    assert_eq!(rust, python);
    // the committed tokenizer is that same training's output
    assert_eq!(trained.fingerprint(), tok().fingerprint());
    assert_eq!(trained.eos_id(), Some(0));
}

#[test]
fn fast_path_matches_hf_on_every_domain() {
    let corpus = DomainCollection::open(DATA).unwrap();
    let t = tok();
    let mut checked = 0usize;
    for d in corpus.domains() {
        let mut bytes = 0;
        for doc in d.documents(Split::Valid).unwrap() {
            let doc = doc.unwrap();
            assert_eq!(
                t.encode_ids(&doc.text).unwrap(),
                t.encode_ids_reference(&doc.text).unwrap(),
                "{} {}",
                d.name(),
                doc.id
            );
            bytes += doc.text.len();
            checked += 1;
            if bytes > 60_000 {
                break;
            }
        }
    }
    assert!(checked > 100);
}

#[test]
fn tokenizer_identity_eos_and_errors() {
    let t = tok();
    let again = HfTokenizer::from_file(format!("{FIX}/bpe1024/tokenizer.json")).unwrap();
    assert_eq!(t.fingerprint(), again.fingerprint());
    let small = train_byte_level_bpe(
        ["the cat sat on the mat"].iter(),
        &BpeTrainingOptions::gpt2(260),
    )
    .unwrap();
    assert_ne!(small.fingerprint(), t.fingerprint());
    assert_eq!(t.vocab_size(), 1024);
    assert_eq!(t.token_text(0).as_deref(), Some("<|endoftext|>"));
    assert_eq!(t.token_text(5000), None);
    // save and reload: same definition, same fingerprint
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tok/tokenizer.json");
    t.save(&p).unwrap();
    assert_eq!(
        HfTokenizer::from_file(&p).unwrap().fingerprint(),
        t.fingerprint()
    );
    // a file that does not parse
    std::fs::write(dir.path().join("bad.json"), "{\"model\": 3}").unwrap();
    match HfTokenizer::from_file(dir.path().join("bad.json")) {
        Err(CorpusError::TokenizerParse { path, .. }) => assert!(path.ends_with("bad.json")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        HfTokenizer::from_file(dir.path().join("missing.json")),
        Err(CorpusError::Io { .. })
    ));
    let copy = HfTokenizer::from_json(&t.to_json(false).unwrap()).unwrap();
    assert_eq!(copy.fingerprint(), t.fingerprint());
    assert!(matches!(
        copy.with_eos_token("</s>"),
        Err(CorpusError::InvalidInput(_))
    ));
    assert!(matches!(
        train_byte_level_bpe(["x"].iter(), &BpeTrainingOptions::gpt2(100)),
        Err(CorpusError::InvalidInput(_))
    ));
}

#[test]
fn wordpiece_and_sentencepiece_style_tokenizers_load() {
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::bert::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    let vocab: ahash::AHashMap<String, u32> =
        ["[UNK]", "[CLS]", "[SEP]", "the", "cat", "##s", "sat", "."]
            .iter()
            .enumerate()
            .map(|(i, s)| (s.to_string(), i as u32))
            .collect();
    let wp = WordPiece::builder()
        .vocab(vocab)
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut inner = tokenizers::Tokenizer::new(wp);
    inner.with_normalizer(Some(BertNormalizer::default()));
    inner.with_pre_tokenizer(Some(BertPreTokenizer));
    let t = HfTokenizer::from_tokenizer(inner).unwrap();
    assert!(!t.has_fast_path());
    assert_eq!(t.eos_id(), Some(2));
    let enc = t.encode("The cats sat.").unwrap();
    assert_eq!(enc.ids, vec![3, 4, 5, 6, 7]);
    assert_eq!(enc.offsets, vec![(0, 3), (4, 7), (7, 8), (9, 12), (12, 13)]);
    assert_eq!(t.encode_ids("The cats sat.").unwrap(), enc.ids);
    // Llama-style: Metaspace pre-tokenizer, BPE with byte fallback, </s>
    let json = r#"{"version":"1.0","truncation":null,"padding":null,
      "added_tokens":[{"id":0,"content":"<unk>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                      {"id":2,"content":"</s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
      "normalizer":null,
      "pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true},
      "post_processor":null,"decoder":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true},
      "model":{"type":"BPE","dropout":null,"unk_token":"<unk>","continuing_subword_prefix":null,"end_of_word_suffix":null,
               "fuse_unk":true,"byte_fallback":false,"ignore_merges":false,
               "vocab":{"<unk>":0,"<s>":1,"</s>":2,"▁":3,"h":4,"i":5,"▁h":6,"▁hi":7},"merges":[["▁","h"],["▁h","i"]]}}"#;
    let llama = HfTokenizer::from_json(json).unwrap();
    assert!(!llama.has_fast_path());
    assert_eq!(llama.eos_id(), Some(2));
    assert_eq!(llama.encode_ids("hi hi").unwrap(), vec![7, 7]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The byte-level fast path gives HF's ids on arbitrary text built from the characters that
    /// decide GPT-2's splits: spaces and other white space runs, letters of several scripts,
    /// digits, punctuation, apostrophes (contractions), combining marks, emoji, the EOS token.
    #[test]
    fn fast_path_equals_hf_pipeline(parts in proptest::collection::vec(prop_oneof![
        Just(" ".to_string()), Just("  ".to_string()), Just("\n".to_string()), Just("\n\n".to_string()),
        Just("\t".to_string()), Just("\r\n".to_string()), Just("\u{a0}".to_string()), Just("\u{3000}".to_string()),
        Just("\u{2028}".to_string()), Just("\u{1c}".to_string()), Just("\u{85}".to_string()),
        Just("'s".to_string()), Just("'ll".to_string()), Just("'".to_string()), Just("'D".to_string()),
        Just("e\u{301}".to_string()), Just("\u{1F3B8}".to_string()), Just("<|endoftext|>".to_string()),
        "[a-zA-Z]{1,8}", "[0-9]{1,5}", "[!-/:-@\\[-`{-~]{1,3}", "[α-ωА-я]{1,4}", "[一-龥]{1,3}",
        "[\u{660}-\u{669}\u{b2}\u{bd}]{1,2}", any::<char>().prop_map(|c| c.to_string()),
    ], 0..24)) {
        let text: String = parts.concat();
        let t = tok();
        prop_assert_eq!(t.encode_ids(&text).unwrap(), t.encode_ids_reference(&text).unwrap(), "{:?}", text);
    }
}

#[test]
fn fast_path_honours_add_prefix_space() {
    let mut json: serde_json::Value = serde_json::from_str(&tok().to_json(false).unwrap()).unwrap();
    json["pre_tokenizer"]["add_prefix_space"] = serde_json::Value::Bool(true);
    let prefixed = HfTokenizer::from_json(&json.to_string()).unwrap();
    assert!(prefixed.has_fast_path());
    assert_ne!(prefixed.fingerprint(), tok().fingerprint());
    let cases: Cases = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIX}/corpus_tokenizer_encodings.json")).unwrap(),
    )
    .unwrap();
    for c in &cases.cases {
        assert_eq!(
            prefixed.encode_ids(&c.text).unwrap(),
            prefixed.encode_ids_reference(&c.text).unwrap(),
            "{:?}",
            c.text
        );
    }
    assert_ne!(
        prefixed.encode_ids("Music").unwrap(),
        tok().encode_ids("Music").unwrap()
    );
}
