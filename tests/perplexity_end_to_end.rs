//! End-to-end parity of the real pipeline with lm-evaluation-harness and transformers: the HF
//! tokenizer ([`HfTokenizer`]), two GPT-2 checkpoints loaded in `tch` ([`AnyModel`] scored by
//! [`LmScorer`]) and `odyssey-perplexity` (rolling and strided windows, metrics, the
//! base-vs-adapted decomposition) reproduce, on real odyssey-mini documents, the numbers that
//! lm-eval 0.4 and transformers computed for the same checkpoints and text.
//!
//! Fixtures: `scripts/fixtures/perplexity_lm_eval.py` writes the tokenizer and the reference
//! figures to `crates/odyssey-perplexity/tests/fixtures/` and the two checkpoints (HF folders,
//! safetensors) to `tests/fixtures/models/{base,adapted}/`.

use odyssey::core::{Document, TokenScorer, TokenizerHandle};
use odyssey::corpus::HfTokenizer;
use odyssey::perplexity::{
    decompose, score_documents, DecomposeConfig, Direction, ScoreOptions, ScoredCorpus,
    WindowScheme,
};
use odyssey::train::{AnyModel, LmScorer};
use serde::Deserialize;
use std::sync::Mutex;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/crates/odyssey-perplexity/tests/fixtures"
);
const MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/models");

/// Largest difference allowed between a log-probability computed here and by transformers
/// (both float32 on the CPU; different kernels only).
const LOG_PROB_TOL: f64 = 1e-4;
/// Relative tolerance on lm-eval's and HF's pooled metrics.
const METRIC_REL_TOL: f64 = 1e-4;

#[derive(Deserialize)]
struct Fixture {
    lm_eval_version: String,
    vocab_size: usize,
    eot_id: u32,
    prefix_token_id: u32,
    lm_eval_max_length: usize,
    stride: usize,
    token_texts: Vec<String>,
    documents: Vec<FixtureDoc>,
    corpus: FixtureCorpus,
    decomposition: FixtureDecomposition,
}

#[derive(Deserialize)]
struct FixtureDoc {
    id: String,
    text: String,
    ids: Vec<u32>,
    offsets: Vec<(usize, usize)>,
    words: u64,
    bytes: u64,
    lm_eval_loglikelihood: f64,
    word_perplexity: f64,
    byte_perplexity: f64,
    bits_per_byte: f64,
    token_perplexity: f64,
    rolling_windows: Vec<RollingWindow>,
    strided_windows: Vec<StridedWindow>,
    strided_nll_sum: f64,
    strided_tokens: u64,
}

#[derive(Deserialize)]
struct RollingWindow {
    continuation_len: usize,
    tokens: Vec<u32>,
    log_probs: Vec<f32>,
    log_probs_adapted: Vec<f32>,
}

#[derive(Deserialize)]
struct StridedWindow {
    scored: usize,
    tokens: Vec<u32>,
    log_probs: Vec<f32>,
}

#[derive(Deserialize)]
struct FixtureCorpus {
    word_perplexity: f64,
    byte_perplexity: f64,
    bits_per_byte: f64,
    token_perplexity: f64,
    strided_token_perplexity: f64,
    strided_tokens: u64,
}

#[derive(Deserialize)]
struct FixtureDecomposition {
    total_delta: f64,
    per_token: Vec<FixtureTokenStat>,
    token_perplexity_base: f64,
    token_perplexity_adapted: f64,
}

#[derive(Deserialize)]
struct FixtureTokenStat {
    token_id: u32,
    count: u64,
    total_delta: f64,
    mean_nll_base: f64,
    mean_nll_adapted: f64,
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string(format!("{FIXTURES}/perplexity_lm_eval.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn tokenizer() -> HfTokenizer {
    HfTokenizer::from_file(format!("{FIXTURES}/tokenizer.json")).unwrap()
}

fn scorer(name: &str) -> LmScorer {
    let model = AnyModel::from_pretrained(format!("{MODELS}/{name}"), tch::Device::Cpu).unwrap();
    LmScorer::new(model, 3).with_description(format!("fixture GPT-2 ({name})"))
}

fn documents(f: &Fixture) -> Vec<Document> {
    f.documents
        .iter()
        .map(|d| Document::new(d.id.clone(), d.text.clone()))
        .collect()
}

fn rel_diff(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs())
        .fold(0.0, f64::max)
}

/// A scorer that passes every call to the real model and records the windows it was sent.
struct Recording<'a> {
    inner: &'a LmScorer,
    windows: Mutex<Vec<Vec<u32>>>,
}

impl<'a> Recording<'a> {
    fn new(inner: &'a LmScorer) -> Self {
        Recording {
            inner,
            windows: Mutex::new(Vec::new()),
        }
    }

    fn sorted_windows(&self) -> Vec<Vec<u32>> {
        let mut w = self.windows.lock().unwrap().clone();
        w.sort();
        w
    }
}

impl TokenScorer for Recording<'_> {
    fn max_length(&self) -> usize {
        self.inner.max_length()
    }
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }
    fn token_log_probs(&self, windows: &[&[u32]]) -> odyssey::core::Result<Vec<Vec<f32>>> {
        self.windows
            .lock()
            .unwrap()
            .extend(windows.iter().map(|w| w.to_vec()));
        self.inner.token_log_probs(windows)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// transformers' log-probabilities of the tokens each document keeps, in document order, as
/// NLLs (what a [`ScoredCorpus`] holds).
fn expected_rolling_nlls(d: &FixtureDoc, adapted: bool) -> Vec<f32> {
    d.rolling_windows
        .iter()
        .flat_map(|w| {
            let lp = if adapted {
                &w.log_probs_adapted
            } else {
                &w.log_probs
            };
            lp[lp.len() - w.continuation_len..].iter().map(|x| -x)
        })
        .collect()
}

fn expected_strided_nlls(d: &FixtureDoc) -> Vec<f32> {
    d.strided_windows
        .iter()
        .filter(|w| w.scored > 0)
        .flat_map(|w| {
            w.log_probs[w.log_probs.len() - w.scored..]
                .iter()
                .map(|x| -x)
        })
        .collect()
}

fn doc_nlls(c: &ScoredCorpus, doc: usize) -> &[f32] {
    &c.nlls()[c.documents()[doc].tokens.clone()]
}

#[test]
fn tokenizer_and_checkpoints_load_as_lm_eval_saw_them() {
    let f = fixture();
    assert!(
        f.lm_eval_version.starts_with("0.4."),
        "{}",
        f.lm_eval_version
    );
    let tok = tokenizer();
    assert_eq!(tok.eos_id(), Some(f.eot_id));
    assert_eq!(f.prefix_token_id, f.eot_id);
    assert_eq!(tok.vocab_size(), f.vocab_size);
    for d in &f.documents {
        let enc = tok.encode(&d.text).unwrap();
        assert_eq!(enc.ids, d.ids, "{}", d.id);
        assert_eq!(enc.offsets, d.offsets, "{}", d.id);
    }
    for (id, text) in f.token_texts.iter().enumerate() {
        assert_eq!(tok.token_text(id as u32).as_deref(), Some(text.as_str()));
    }
    for name in ["base", "adapted"] {
        let s = scorer(name);
        assert_eq!(s.vocab_size(), f.vocab_size);
        // lm-eval conditions on max_length tokens and predicts one more
        assert_eq!(s.max_length(), f.lm_eval_max_length + 1);
        assert_eq!(
            WindowScheme::rolling_for(&s),
            WindowScheme::rolling(f.lm_eval_max_length)
        );
    }
}

#[test]
fn log_probs_match_transformers_window_by_window() {
    let f = fixture();
    let base = scorer("base");
    let adapted = scorer("adapted");
    let mut worst = [0.0f64; 3];
    // all windows of all documents in one call: batches of 3 mix lengths, so padding is used
    let rolling: Vec<&RollingWindow> = f
        .documents
        .iter()
        .flat_map(|d| &d.rolling_windows)
        .collect();
    let windows: Vec<&[u32]> = rolling.iter().map(|w| w.tokens.as_slice()).collect();
    for (k, (s, adapted)) in [(&base, false), (&adapted, true)].into_iter().enumerate() {
        let got = s.token_log_probs(&windows).unwrap();
        for (w, lp) in rolling.iter().zip(&got) {
            let want = if adapted {
                &w.log_probs_adapted
            } else {
                &w.log_probs
            };
            worst[k] = worst[k].max(max_abs_diff(lp, want));
        }
    }
    let strided: Vec<&StridedWindow> = f
        .documents
        .iter()
        .flat_map(|d| &d.strided_windows)
        .filter(|w| w.tokens.len() >= 2)
        .collect();
    let windows: Vec<&[u32]> = strided.iter().map(|w| w.tokens.as_slice()).collect();
    let got = base.token_log_probs(&windows).unwrap();
    for (w, lp) in strided.iter().zip(&got) {
        worst[2] = worst[2].max(max_abs_diff(lp, &w.log_probs));
    }
    eprintln!(
        "max |log p - transformers|: rolling base {:.3e}, rolling adapted {:.3e}, strided base {:.3e}",
        worst[0], worst[1], worst[2]
    );
    assert!(worst.iter().all(|&w| w < LOG_PROB_TOL), "{worst:?}");
    // the two checkpoints really differ
    let w = &f.documents[0].rolling_windows[0];
    assert!(max_abs_diff(&w.log_probs, &w.log_probs_adapted) > 1e-2);
}

#[test]
fn rolling_scoring_matches_lm_eval() {
    let f = fixture();
    let tok = tokenizer();
    let model = scorer("base");
    let rec = Recording::new(&model);
    let opts = ScoreOptions::new(WindowScheme::rolling_for(&model)).batch_size(3);
    let c = score_documents(&rec, &tok, &documents(&f), &opts).unwrap();

    // exactly the windows lm-eval's HFLM.loglikelihood_rolling fed the model
    let mut lm_eval_windows: Vec<Vec<u32>> = f
        .documents
        .iter()
        .flat_map(|d| d.rolling_windows.iter().map(|w| w.tokens.clone()))
        .collect();
    lm_eval_windows.sort();
    assert_eq!(rec.sorted_windows(), lm_eval_windows);

    let mut worst_nll = 0.0f64;
    let mut worst_metric = 0.0f64;
    assert_eq!(c.documents().len(), f.documents.len());
    for (i, d) in f.documents.iter().enumerate() {
        assert_eq!(c.token_ids()[c.documents()[i].tokens.clone()], d.ids[..]);
        worst_nll = worst_nll.max(max_abs_diff(
            doc_nlls(&c, i),
            &expected_rolling_nlls(d, false),
        ));
        let m = c.document_metrics(i).unwrap();
        assert_eq!((m.words, m.bytes), (d.words, d.bytes), "{}", d.id);
        for (ours, theirs) in [
            (-m.nll_sum, d.lm_eval_loglikelihood),
            (m.word_perplexity, d.word_perplexity),
            (m.byte_perplexity, d.byte_perplexity),
            (m.bits_per_byte, d.bits_per_byte),
            (m.token_perplexity, d.token_perplexity),
        ] {
            worst_metric = worst_metric.max(rel_diff(ours, theirs));
        }
    }
    let m = c.metrics();
    for (ours, theirs) in [
        (m.word_perplexity, f.corpus.word_perplexity),
        (m.byte_perplexity, f.corpus.byte_perplexity),
        (m.bits_per_byte, f.corpus.bits_per_byte),
        (m.token_perplexity, f.corpus.token_perplexity),
    ] {
        worst_metric = worst_metric.max(rel_diff(ours, theirs));
    }
    eprintln!(
        "rolling: max |NLL - transformers| {worst_nll:.3e}; max relative metric difference \
         (loglikelihood, word/byte perplexity, bits per byte, token perplexity) {worst_metric:.3e}"
    );
    assert!(worst_nll < LOG_PROB_TOL, "{worst_nll}");
    assert!(worst_metric < METRIC_REL_TOL, "{worst_metric}");
}

#[test]
fn strided_scoring_matches_hf_recipe() {
    let f = fixture();
    let tok = tokenizer();
    let model = scorer("base");
    let rec = Recording::new(&model);
    let scheme = WindowScheme::strided(f.lm_eval_max_length, f.stride);
    let c = score_documents(&rec, &tok, &documents(&f), &ScoreOptions::new(scheme)).unwrap();

    let mut hf_windows: Vec<Vec<u32>> = f
        .documents
        .iter()
        .flat_map(|d| d.strided_windows.iter().filter(|w| w.scored > 0))
        .map(|w| w.tokens.clone())
        .collect();
    hf_windows.sort();
    assert_eq!(rec.sorted_windows(), hf_windows);

    let mut worst_nll = 0.0f64;
    let mut worst_metric = 0.0f64;
    for (i, d) in f.documents.iter().enumerate() {
        worst_nll = worst_nll.max(max_abs_diff(doc_nlls(&c, i), &expected_strided_nlls(d)));
        let m = c.document_metrics(i).unwrap();
        assert_eq!(m.tokens, d.strided_tokens, "{}", d.id);
        worst_metric = worst_metric.max(rel_diff(m.nll_sum, d.strided_nll_sum));
    }
    let m = c.metrics();
    assert_eq!(m.tokens, f.corpus.strided_tokens);
    worst_metric = worst_metric.max(rel_diff(
        m.token_perplexity,
        f.corpus.strided_token_perplexity,
    ));
    eprintln!(
        "strided: max |NLL - transformers| {worst_nll:.3e}; max relative difference of NLL sums \
         and perplexity {worst_metric:.3e}"
    );
    assert!(worst_nll < LOG_PROB_TOL, "{worst_nll}");
    assert!(worst_metric < METRIC_REL_TOL, "{worst_metric}");
}

#[test]
fn decomposition_matches_numpy() {
    let f = fixture();
    let tok = tokenizer();
    let base_model = scorer("base");
    let adapted_model = scorer("adapted");
    let opts = ScoreOptions::new(WindowScheme::rolling(f.lm_eval_max_length)).batch_size(4);
    let docs = documents(&f);
    let base = score_documents(&base_model, &tok, &docs, &opts).unwrap();
    let adapted = score_documents(&adapted_model, &tok, &docs, &opts).unwrap();
    let mut worst_nll = 0.0f64;
    for (i, d) in f.documents.iter().enumerate() {
        worst_nll = worst_nll.max(max_abs_diff(
            doc_nlls(&adapted, i),
            &expected_rolling_nlls(d, true),
        ));
    }
    assert!(worst_nll < LOG_PROB_TOL, "{worst_nll}");

    let r = decompose(&base, &adapted, &tok, &DecomposeConfig::default()).unwrap();
    let fd = &f.decomposition;
    assert_eq!(r.summary.positions, base.len() as u64);
    assert_eq!(r.tokens.len(), fd.per_token.len());
    // each position's ΔNLL is within 2 * LOG_PROB_TOL of numpy's, so a token id's total is
    // within count * 2 * LOG_PROB_TOL
    let mut worst_total = 0.0f64;
    let mut worst_mean = 0.0f64;
    for e in &fd.per_token {
        let t = r.tokens.iter().find(|t| t.token_id == e.token_id).unwrap();
        assert_eq!(t.count, e.count, "token {}", e.token_id);
        assert_eq!(t.text, f.token_texts[e.token_id as usize]);
        let d = (t.total_delta - e.total_delta).abs();
        assert!(
            d <= e.count as f64 * 2.0 * LOG_PROB_TOL,
            "token {}: {} vs {}",
            e.token_id,
            t.total_delta,
            e.total_delta
        );
        worst_total = worst_total.max(d);
        worst_mean = worst_mean
            .max((t.mean_nll_base - e.mean_nll_base).abs())
            .max((t.mean_nll_adapted - e.mean_nll_adapted).abs());
    }
    let total_diff = (r.summary.total_delta - fd.total_delta).abs();
    let ppl_diff =
        rel_diff(r.summary.base.token_perplexity, fd.token_perplexity_base).max(rel_diff(
            r.summary.adapted.token_perplexity,
            fd.token_perplexity_adapted,
        ));
    eprintln!(
        "decomposition: max |per-token-id total ΔNLL - numpy| {worst_total:.3e}, max |mean NLL - \
         numpy| {worst_mean:.3e}, |total ΔNLL - numpy| {total_diff:.3e} (of {:.3}), relative \
         token perplexity difference {ppl_diff:.3e}",
        fd.total_delta
    );
    assert!(worst_mean < LOG_PROB_TOL, "{worst_mean}");
    assert!(total_diff <= base.len() as f64 * 2.0 * LOG_PROB_TOL);
    assert!(total_diff < 1e-4 * fd.total_delta.abs(), "{total_diff}");
    assert!(ppl_diff < METRIC_REL_TOL, "{ppl_diff}");
    // the adapted model was trained on wiki_music text and gains on it
    assert_eq!(r.summary.direction, Direction::Gain);
}
