//! Parity with lm-evaluation-harness (rolling log-likelihood, word/byte perplexity, bits per
//! byte) and HF's strided-window perplexity, replaying transformers' log-probabilities for a
//! small GPT-2 on real odyssey-mini documents (fixture from
//! scripts/fixtures/perplexity_lm_eval.py).

mod common;

use common::{fixture, rel_close, Model, ReplayScorer, ReplayTokenizer};
use odyssey_core::{Document, Encoding, TokenizerHandle};
use odyssey_perplexity::*;
use std::borrow::Cow;

fn tokenized(f: &common::Fixture) -> Vec<TokenizedDocument<'_>> {
    f.documents
        .iter()
        .map(|d| TokenizedDocument {
            id: Cow::Borrowed(&d.id),
            text: Cow::Borrowed(&d.text),
            encoding: Cow::Owned(Encoding {
                ids: d.ids.clone(),
                offsets: d.offsets.clone(),
            }),
        })
        .collect()
}

#[test]
fn fixture_comes_from_real_lm_eval() {
    let f = fixture();
    assert!(
        f.lm_eval_version.starts_with("0.4."),
        "{}",
        f.lm_eval_version
    );
    assert_eq!(f.prefix_token_id, f.eot_id);
    // the fixture covers a document shorter than one window and ones needing several windows
    assert!(f.documents.iter().any(|d| d.rolling_windows.len() == 1));
    assert!(f.documents.iter().any(|d| d.rolling_windows.len() > 5));
}

#[test]
fn rolling_windows_match_lm_eval() {
    let f = fixture();
    let scheme = WindowScheme::rolling(f.lm_eval_max_length);
    for d in &f.documents {
        let plan = scheme.plan(d.ids.len());
        assert_eq!(plan.len(), d.rolling_windows.len(), "{}", d.id);
        let mut stream = vec![f.prefix_token_id];
        stream.extend_from_slice(&d.ids);
        for (w, lw) in plan.iter().zip(&d.rolling_windows) {
            assert_eq!(
                &stream[w.start..w.start + w.len],
                lw.tokens.as_slice(),
                "{}",
                d.id
            );
            assert_eq!(w.scored, lw.continuation_len, "{}", d.id);
        }
    }
}

#[test]
fn rolling_loglikelihood_and_metrics_match_lm_eval() {
    let f = fixture();
    let scorer = ReplayScorer::new(&f, Model::RollingBase);
    let opts = ScoreOptions::new(WindowScheme::rolling(f.lm_eval_max_length))
        .batch_size(3)
        .prefix_token(f.prefix_token_id);
    let docs = tokenized(&f);
    let c = score_tokenized(&scorer, &docs, &opts).unwrap();
    // batched as asked
    let batches = scorer.batches.lock().unwrap().clone();
    assert!(batches.iter().all(|&b| (1..=3).contains(&b)) && batches.contains(&3));

    // every token scored once, with its id and byte span
    let total: usize = f.documents.iter().map(|d| d.ids.len()).sum();
    assert_eq!(c.len(), total);
    for (d, fd) in f.documents.iter().enumerate() {
        let span = &c.documents()[d];
        assert_eq!(span.tokens.len(), fd.ids.len());
        assert_eq!((span.words, span.bytes), (fd.words, fd.bytes));
        for (j, i) in span.tokens.clone().enumerate() {
            let t = c.token(i).unwrap();
            assert_eq!((t.doc as usize, t.position as usize), (d, j));
            assert_eq!(t.token_id, fd.ids[j]);
            assert_eq!((t.bytes.0 as usize, t.bytes.1 as usize), fd.offsets[j]);
        }
        let m = c.document_metrics(d).unwrap();
        // lm-eval's loglikelihood_rolling ran batched with padding; the replayed windows ran one
        // at a time: float32 noise only
        assert!(
            (-m.nll_sum - fd.lm_eval_loglikelihood).abs() < 2e-6 * fd.lm_eval_loglikelihood.abs(),
            "{}: {} vs {}",
            fd.id,
            -m.nll_sum,
            fd.lm_eval_loglikelihood
        );
        assert!(
            rel_close(m.word_perplexity.ln(), fd.word_perplexity.ln(), 1e-5),
            "{}",
            fd.id
        );
        assert!(
            rel_close(m.byte_perplexity, fd.byte_perplexity, 1e-5),
            "{}",
            fd.id
        );
        assert!(
            rel_close(m.bits_per_byte, fd.bits_per_byte, 1e-5),
            "{}",
            fd.id
        );
        assert!(
            rel_close(m.token_perplexity, fd.token_perplexity, 1e-5),
            "{}",
            fd.id
        );
    }
    let m = c.metrics();
    assert!(rel_close(
        m.word_perplexity.ln(),
        f.corpus.word_perplexity.ln(),
        1e-5
    ));
    assert!(rel_close(m.byte_perplexity, f.corpus.byte_perplexity, 1e-5));
    assert!(rel_close(m.bits_per_byte, f.corpus.bits_per_byte, 1e-5));
    assert!(rel_close(
        m.token_perplexity,
        f.corpus.token_perplexity,
        1e-5
    ));
    // per-document metrics pool back to the corpus figure
    let per_doc = c.per_document_metrics();
    let sum: f64 = per_doc.iter().map(|m| m.nll_sum).sum();
    assert!(rel_close(sum, m.nll_sum, 1e-12));
}

#[test]
fn strided_windows_match_hf_recipe() {
    let f = fixture();
    let scorer = ReplayScorer::new(&f, Model::Strided);
    let scheme = WindowScheme::strided(f.lm_eval_max_length, f.stride);
    for d in &f.documents {
        let plan = scheme.plan(d.ids.len());
        let hf: Vec<_> = d.strided_windows.iter().filter(|w| w.scored > 0).collect();
        assert_eq!(plan.len(), hf.len(), "{}", d.id);
        for (w, h) in plan.iter().zip(hf) {
            assert_eq!(
                (w.start, w.start + w.len, w.scored),
                (h.begin, h.end, h.scored)
            );
        }
    }
    let opts = ScoreOptions::new(scheme).batch_size(5);
    let c = score_tokenized(&scorer, &tokenized(&f), &opts).unwrap();
    for (d, fd) in f.documents.iter().enumerate() {
        let m = c.document_metrics(d).unwrap();
        assert_eq!(m.tokens, fd.strided_tokens, "{}", fd.id);
        // HF's loss is a float32 mean over the window's labels
        assert!(rel_close(m.nll_sum, fd.strided_nll_sum, 2e-6), "{}", fd.id);
        // the first token has no context in HF's recipe
        assert_eq!(c.positions()[c.documents()[d].tokens.start], 1);
    }
    let m = c.metrics();
    assert_eq!(m.tokens, f.corpus.strided_tokens);
    assert!(rel_close(
        m.token_perplexity,
        f.corpus.strided_token_perplexity,
        1e-5
    ));
}

#[test]
fn word_counts_follow_python_re_split() {
    let f = fixture();
    for case in &f.word_counts {
        assert_eq!(count_words(&case.text), case.words, "{:?}", case.text);
    }
    for d in &f.documents {
        assert_eq!(count_words(&d.text), d.words);
        assert_eq!(count_bytes(&d.text), d.bytes);
    }
}

#[test]
fn score_documents_uses_the_tokenizer_and_its_end_of_text_prefix() {
    let f = fixture();
    let tok = ReplayTokenizer::new(&f);
    let scorer = ReplayScorer::new(&f, Model::RollingBase);
    let docs: Vec<Document> = f
        .documents
        .iter()
        .map(|d| Document::new(d.id.clone(), d.text.clone()))
        .collect();
    let opts = ScoreOptions::new(WindowScheme::rolling(f.lm_eval_max_length));
    let c = score_documents(&scorer, &tok, &docs, &opts).unwrap();
    assert_eq!(c.tokenizer_fingerprint(), Some(tok.fingerprint()));
    let direct = score_tokenized(
        &scorer,
        &tokenized(&f),
        &opts.prefix_token(f.prefix_token_id),
    )
    .unwrap();
    assert_eq!(c.nlls(), direct.nlls());
    assert_eq!(c.metrics(), direct.metrics());
}

#[test]
fn decomposition_matches_numpy_bincount_on_real_scores() {
    let f = fixture();
    let tok = ReplayTokenizer::new(&f);
    let opts = ScoreOptions::new(WindowScheme::rolling(f.lm_eval_max_length)).batch_size(4);
    let docs: Vec<Document> = f
        .documents
        .iter()
        .map(|d| Document::new(d.id.clone(), d.text.clone()))
        .collect();
    let base = score_documents(
        &ReplayScorer::new(&f, Model::RollingBase),
        &tok,
        &docs,
        &opts,
    )
    .unwrap();
    let adapted = score_documents(
        &ReplayScorer::new(&f, Model::RollingAdapted),
        &tok,
        &docs,
        &opts,
    )
    .unwrap();
    let r = decompose(&base, &adapted, &tok, &DecomposeConfig::default()).unwrap();
    let fd = &f.decomposition;
    let per_position = base.delta(&adapted).unwrap();
    assert_eq!(per_position.len(), base.len());
    assert!((per_position.sum() - fd.total_delta).abs() < 1e-9 * fd.total_delta.abs());
    assert!((r.summary.total_delta - fd.total_delta).abs() < 1e-9 * fd.total_delta.abs());
    assert!(rel_close(
        r.summary.base.token_perplexity,
        fd.token_perplexity_base,
        1e-10
    ));
    assert!(rel_close(
        r.summary.adapted.token_perplexity,
        fd.token_perplexity_adapted,
        1e-10
    ));
    assert_eq!(r.tokens.len(), fd.per_token.len());
    for e in &fd.per_token {
        let t = r.tokens.iter().find(|t| t.token_id == e.token_id).unwrap();
        assert_eq!(t.count, e.count);
        assert!(
            (t.total_delta - e.total_delta).abs() < 1e-9,
            "{}",
            e.token_id
        );
        assert!((t.mean_nll_base - e.mean_nll_base).abs() < 1e-9);
        assert!((t.mean_nll_adapted - e.mean_nll_adapted).abs() < 1e-9);
        assert_eq!(t.text, f.token_texts[e.token_id as usize]);
    }
    // the adapted model was trained on wiki_music text: it gains, so the ranking is by gain
    assert_eq!(r.summary.direction, Direction::Gain);
    assert!(r
        .tokens
        .windows(2)
        .all(|w| w[0].total_delta <= w[1].total_delta));
    // real tokens land in the expected categories
    let newline = r.tokens.iter().find(|t| t.text == "\n").unwrap();
    assert_eq!(newline.category, Category::Whitespace);
    let comma = r.tokens.iter().find(|t| t.text == ",").unwrap();
    assert_eq!(comma.category, Category::Punctuation);
    // categories, documents and tokens each add up to the total
    let total = r.summary.total_delta;
    for parts in [
        r.categories.iter().map(|c| c.total_delta).sum::<f64>(),
        r.documents.iter().map(|d| d.total_delta).sum::<f64>(),
        r.tokens.iter().map(|t| t.total_delta).sum::<f64>(),
    ] {
        assert!((parts - total).abs() < 1e-9 * total.abs());
    }
    assert_eq!(r.histogram.counts.iter().sum::<u64>(), base.len() as u64);
    // report outputs
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("report.json");
    r.write_json(&p).unwrap();
    let back: Decomposition = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert_eq!(back.tokens.len(), r.tokens.len());
    assert_eq!(back.summary.positions, r.summary.positions);
    let md = r.to_markdown(10);
    assert!(md.contains("| rank | token |") && md.contains("newline/whitespace"));
    assert!(md.matches("\n| ").count() > 20);
    // a tokenizer with a different fingerprint is refused
    let other = ReplayTokenizer::new(&f).with_fingerprint(1);
    assert!(matches!(
        decompose(&base, &adapted, &other, &DecomposeConfig::default()),
        Err(PerplexityError::TokenizerMismatch { .. })
    ));
}
