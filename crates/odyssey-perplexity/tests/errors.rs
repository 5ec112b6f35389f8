//! Bad input gets typed errors, never a panic or a silently wrong number.

use odyssey_core::{Encoding, ScoredToken, TokenScorer};
use odyssey_perplexity::*;
use std::borrow::Cow;

/// Scores every token `ln 0.5`, or returns what it is told to.
struct Fake {
    max: usize,
    value: f32,
    drop_one: bool,
}

impl TokenScorer for Fake {
    fn max_length(&self) -> usize {
        self.max
    }
    fn vocab_size(&self) -> usize {
        10
    }
    fn token_log_probs(&self, windows: &[&[u32]]) -> odyssey_core::Result<Vec<Vec<f32>>> {
        let mut out: Vec<Vec<f32>> = windows
            .iter()
            .map(|w| vec![self.value; w.len() - 1])
            .collect();
        if self.drop_one {
            out[0].pop();
        }
        Ok(out)
    }
}

fn ok() -> Fake {
    Fake {
        max: 9,
        value: -std::f32::consts::LN_2,
        drop_one: false,
    }
}

fn doc(ids: Vec<u32>) -> TokenizedDocument<'static> {
    let text = "x".repeat(ids.len());
    let offsets = (0..ids.len()).map(|i| (i, i + 1)).collect();
    TokenizedDocument {
        id: Cow::Borrowed("d"),
        text: Cow::Owned(text),
        encoding: Cow::Owned(Encoding { ids, offsets }),
    }
}

fn rolling() -> ScoreOptions {
    ScoreOptions::new(WindowScheme::rolling(8)).prefix_token(0)
}

#[test]
fn scoring_errors_are_typed() {
    let docs = [doc(vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2])];
    let c = score_tokenized(&ok(), &docs, &rolling()).unwrap();
    assert_eq!(WindowScheme::rolling_for(&ok()), WindowScheme::rolling(8));
    assert_eq!(c.len(), 11);
    assert!((c.metrics().token_perplexity - 2.0).abs() < 1e-6);

    let nan = Fake {
        value: f32::NAN,
        ..ok()
    };
    assert!(matches!(
        score_tokenized(&nan, &docs, &rolling()),
        Err(PerplexityError::NonFiniteScore { .. })
    ));
    let pos = Fake { value: 0.5, ..ok() };
    assert!(matches!(
        score_tokenized(&pos, &docs, &rolling()),
        Err(PerplexityError::PositiveLogProb { .. })
    ));
    let short = Fake {
        drop_one: true,
        ..ok()
    };
    assert!(matches!(
        score_tokenized(&short, &docs, &rolling()),
        Err(PerplexityError::ScorerShape(_))
    ));
    let small = Fake { max: 8, ..ok() };
    assert!(matches!(
        score_tokenized(&small, &docs, &rolling()),
        Err(PerplexityError::WindowTooLong { len: 9, max: 8 })
    ));
    assert!(matches!(
        score_tokenized(&ok(), &docs, &ScoreOptions::new(WindowScheme::rolling(8))),
        Err(PerplexityError::MissingPrefixToken)
    ));
    assert!(matches!(
        score_tokenized(&ok(), &[doc(vec![1, 10])], &rolling()),
        Err(PerplexityError::TokenOutOfVocab { id: 10, .. })
    ));
    assert!(matches!(
        score_tokenized(&ok(), &[], &rolling()),
        Err(PerplexityError::EmptyCorpus(_))
    ));
    assert!(matches!(
        score_tokenized(&ok(), &docs, &rolling().batch_size(0)),
        Err(PerplexityError::InvalidConfig(_))
    ));
    let mut bad = doc(vec![1, 2]);
    bad.encoding.to_mut().offsets.pop();
    assert!(matches!(
        score_tokenized(&ok(), &[bad], &rolling()),
        Err(PerplexityError::BadEncoding { .. })
    ));
    let mut bad = doc(vec![1, 2]);
    bad.encoding.to_mut().offsets[1] = (1, 5);
    assert!(matches!(
        score_tokenized(&ok(), &[bad], &rolling()),
        Err(PerplexityError::BadEncoding { .. })
    ));
    // converts into the core error with its source kept
    let e: odyssey_core::Error = PerplexityError::MissingPrefixToken.into();
    assert!(std::error::Error::source(&e).is_some());
}

fn corpus(ids: &[u32], nll: &[f32]) -> ScoredCorpus {
    let tokens: Vec<ScoredToken> = ids
        .iter()
        .zip(nll)
        .enumerate()
        .map(|(i, (&id, &v))| ScoredToken {
            doc: 0,
            position: i as u32,
            token_id: id,
            nll: v,
            bytes: (i as u32, i as u32 + 1),
        })
        .collect();
    let info = DocumentInfo::from_text("d", &"x".repeat(ids.len()), ids.len() as u32);
    ScoredCorpus::from_tokens(vec![info], &tokens).unwrap()
}

struct Tok(u64);
impl odyssey_core::TokenizerHandle for Tok {
    fn encode(&self, _: &str) -> odyssey_core::Result<Encoding> {
        Ok(Encoding::default())
    }
    fn decode(&self, _: &[u32]) -> odyssey_core::Result<String> {
        Ok(String::new())
    }
    fn token_text(&self, id: u32) -> Option<String> {
        Some(format!("t{id}"))
    }
    fn vocab_size(&self) -> usize {
        10
    }
    fn eos_id(&self) -> Option<u32> {
        None
    }
    fn fingerprint(&self) -> u64 {
        self.0
    }
}

#[test]
fn decomposition_errors_are_typed() {
    let cfg = DecomposeConfig::default();
    let a = corpus(&[1, 2, 3], &[1.0, 2.0, 3.0]);
    let b = corpus(&[1, 2], &[1.0, 2.0]);
    assert!(matches!(
        decompose(&a, &b, &Tok(0), &cfg),
        Err(PerplexityError::StreamMismatch(_))
    ));
    let c = corpus(&[1, 2, 4], &[1.0, 2.0, 3.0]);
    assert!(matches!(
        decompose(&a, &c, &Tok(0), &cfg),
        Err(PerplexityError::StreamMismatch(_))
    ));
    let empty = ScoredCorpus::from_tokens(vec![DocumentInfo::from_text("e", "", 0)], &[]).unwrap();
    assert!(matches!(
        decompose(&empty, &empty, &Tok(0), &cfg),
        Err(PerplexityError::EmptyCorpus(_))
    ));
    let fa = a.clone().with_tokenizer_fingerprint(7);
    let fb = a.clone().with_tokenizer_fingerprint(8);
    assert!(matches!(
        decompose(&fa, &fb, &Tok(7), &cfg),
        Err(PerplexityError::TokenizerMismatch { .. })
    ));
    assert!(decompose(&fa, &fa, &Tok(7), &cfg).is_ok());
    // NaN NLLs cannot enter a corpus
    let info = DocumentInfo::from_text("d", "x", 1);
    let t = ScoredToken {
        doc: 0,
        position: 0,
        token_id: 1,
        nll: f32::NAN,
        bytes: (0, 1),
    };
    assert!(matches!(
        ScoredCorpus::from_tokens(vec![info.clone()], &[t]),
        Err(PerplexityError::NonFiniteScore { .. })
    ));
    // nor unsorted, duplicated or out-of-range tokens
    let t = ScoredToken { nll: 1.0, ..t };
    assert!(ScoredCorpus::from_tokens(vec![info.clone()], &[t, t]).is_err());
    assert!(ScoredCorpus::from_tokens(vec![info], &[ScoredToken { doc: 1, ..t }]).is_err());
    let bad_hist = DecomposeConfig {
        histogram: HistogramConfig {
            bins: 0,
            range: None,
        },
        ..DecomposeConfig::default()
    };
    assert!(matches!(
        decompose(&a, &a, &Tok(0), &bad_hist),
        Err(PerplexityError::InvalidConfig(_))
    ));
    let bad_set = DecomposeConfig {
        exclusions: vec![TokenSet::Ids(vec![99])],
        ..DecomposeConfig::default()
    };
    assert!(matches!(
        decompose(&a, &a, &Tok(0), &bad_set),
        Err(PerplexityError::InvalidConfig(_))
    ));
}
