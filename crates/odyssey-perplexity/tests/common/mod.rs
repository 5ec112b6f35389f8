//! Test helpers: the lm-eval/HF fixture, a scorer that replays its log-probabilities and a
//! tokenizer handle that replays its encodings.
#![allow(dead_code)]

use odyssey_core::{Encoding, TokenScorer, TokenizerHandle};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Deserialize)]
pub struct Fixture {
    pub lm_eval_version: String,
    pub vocab_size: usize,
    pub eot_id: u32,
    pub prefix_token_id: u32,
    pub lm_eval_max_length: usize,
    pub stride: usize,
    pub token_texts: Vec<String>,
    pub documents: Vec<FixtureDoc>,
    pub corpus: FixtureCorpus,
    pub decomposition: FixtureDecomposition,
    pub word_counts: Vec<WordCase>,
}

#[derive(Deserialize)]
pub struct FixtureDoc {
    pub id: String,
    pub text: String,
    pub ids: Vec<u32>,
    pub offsets: Vec<(usize, usize)>,
    pub words: u64,
    pub bytes: u64,
    pub lm_eval_loglikelihood: f64,
    pub word_perplexity: f64,
    pub byte_perplexity: f64,
    pub bits_per_byte: f64,
    pub token_perplexity: f64,
    pub rolling_windows: Vec<RollingWindow>,
    pub strided_windows: Vec<StridedWindow>,
    pub strided_nll_sum: f64,
    pub strided_tokens: u64,
}

#[derive(Deserialize)]
pub struct RollingWindow {
    pub context_len: usize,
    pub continuation_len: usize,
    pub tokens: Vec<u32>,
    pub log_probs: Vec<f32>,
    pub log_probs_adapted: Vec<f32>,
}

#[derive(Deserialize)]
pub struct StridedWindow {
    pub begin: usize,
    pub end: usize,
    pub scored: usize,
    pub tokens: Vec<u32>,
    pub log_probs: Vec<f32>,
}

#[derive(Deserialize)]
pub struct FixtureCorpus {
    pub word_perplexity: f64,
    pub byte_perplexity: f64,
    pub bits_per_byte: f64,
    pub token_perplexity: f64,
    pub strided_token_perplexity: f64,
    pub strided_tokens: u64,
}

#[derive(Deserialize)]
pub struct FixtureDecomposition {
    pub total_delta: f64,
    pub per_token: Vec<FixtureTokenStat>,
    pub token_perplexity_base: f64,
    pub token_perplexity_adapted: f64,
}

#[derive(Deserialize)]
pub struct FixtureTokenStat {
    pub token_id: u32,
    pub count: u64,
    pub total_delta: f64,
    pub mean_nll_base: f64,
    pub mean_nll_adapted: f64,
}

#[derive(Deserialize)]
pub struct WordCase {
    pub text: String,
    pub words: u64,
}

pub fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/perplexity_lm_eval.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Which of the fixture's recorded outputs a [`ReplayScorer`] serves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Model {
    RollingBase,
    RollingAdapted,
    Strided,
}

/// Answers exactly the windows transformers scored for the fixture; any other window is an
/// error (so a wrong window schedule fails the test).
pub struct ReplayScorer {
    table: HashMap<Vec<u32>, Vec<f32>>,
    max_length: usize,
    vocab: usize,
    pub batches: Mutex<Vec<usize>>,
}

impl ReplayScorer {
    pub fn new(f: &Fixture, model: Model) -> Self {
        let mut table = HashMap::new();
        for d in &f.documents {
            match model {
                Model::Strided => {
                    for w in &d.strided_windows {
                        table.insert(w.tokens.clone(), w.log_probs.clone());
                    }
                }
                _ => {
                    for w in &d.rolling_windows {
                        let lp = if model == Model::RollingBase {
                            &w.log_probs
                        } else {
                            &w.log_probs_adapted
                        };
                        table.insert(w.tokens.clone(), lp.clone());
                    }
                }
            }
        }
        ReplayScorer {
            table,
            // lm-eval feeds max_length tokens and predicts one more: windows of max_length + 1
            max_length: f.lm_eval_max_length + 1,
            vocab: f.vocab_size,
            batches: Mutex::new(Vec::new()),
        }
    }
}

impl TokenScorer for ReplayScorer {
    fn max_length(&self) -> usize {
        self.max_length
    }
    fn vocab_size(&self) -> usize {
        self.vocab
    }
    fn token_log_probs(&self, windows: &[&[u32]]) -> odyssey_core::Result<Vec<Vec<f32>>> {
        self.batches.lock().unwrap().push(windows.len());
        windows
            .iter()
            .map(|w| {
                self.table.get(*w).cloned().ok_or_else(|| {
                    odyssey_core::Error::InvalidInput(format!(
                        "window of {} tokens starting {:?} was not scored by transformers",
                        w.len(),
                        &w[..w.len().min(4)]
                    ))
                })
            })
            .collect()
    }
    fn describe(&self) -> String {
        "fixture replay".into()
    }
}

/// A tokenizer handle over the fixture's encodings and token strings.
pub struct ReplayTokenizer {
    encodings: HashMap<String, Encoding>,
    texts: Vec<String>,
    eos: u32,
    fingerprint: u64,
}

impl ReplayTokenizer {
    pub fn new(f: &Fixture) -> Self {
        let json = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tokenizer.json"
        ))
        .unwrap();
        // FNV-1a of tokenizer.json
        let fingerprint = json.iter().fold(0xcbf29ce484222325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        ReplayTokenizer {
            encodings: f
                .documents
                .iter()
                .map(|d| {
                    (
                        d.text.clone(),
                        Encoding {
                            ids: d.ids.clone(),
                            offsets: d.offsets.clone(),
                        },
                    )
                })
                .collect(),
            texts: f.token_texts.clone(),
            eos: f.eot_id,
            fingerprint,
        }
    }

    pub fn with_fingerprint(mut self, fp: u64) -> Self {
        self.fingerprint = fp;
        self
    }
}

impl TokenizerHandle for ReplayTokenizer {
    fn encode(&self, text: &str) -> odyssey_core::Result<Encoding> {
        self.encodings
            .get(text)
            .cloned()
            .ok_or_else(|| odyssey_core::Error::InvalidInput("text not in the fixture".into()))
    }
    fn decode(&self, ids: &[u32]) -> odyssey_core::Result<String> {
        Ok(ids
            .iter()
            .filter_map(|&i| self.texts.get(i as usize).cloned())
            .collect())
    }
    fn token_text(&self, id: u32) -> Option<String> {
        self.texts.get(id as usize).cloned()
    }
    fn vocab_size(&self) -> usize {
        self.texts.len()
    }
    fn eos_id(&self) -> Option<u32> {
        Some(self.eos)
    }
    fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

pub fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-300)
}
