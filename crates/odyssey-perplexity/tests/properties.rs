//! Properties: contributions add up, excluding nothing changes nothing, and results do not
//! depend on the batch size or the number of threads.

use odyssey_core::{Encoding, ScoredToken, TokenScorer, TokenizerHandle};
use odyssey_perplexity::*;
use proptest::prelude::*;
use std::borrow::Cow;

const VOCAB: usize = 24;

/// A deterministic stand-in model: each log-probability depends only on the window's tokens.
struct HashScorer;

impl TokenScorer for HashScorer {
    fn max_length(&self) -> usize {
        64
    }
    fn vocab_size(&self) -> usize {
        VOCAB
    }
    fn token_log_probs(&self, windows: &[&[u32]]) -> odyssey_core::Result<Vec<Vec<f32>>> {
        Ok(windows
            .iter()
            .map(|w| {
                let mut h = 0x9e3779b97f4a7c15u64;
                (1..w.len())
                    .map(|j| {
                        h = (h ^ u64::from(w[j - 1])).wrapping_mul(0x100000001b3);
                        let x = (h ^ u64::from(w[j])).wrapping_mul(0x2545f4914f6cdd1d) >> 40;
                        -((x % 10_000) as f32 / 1000.0) - 0.01
                    })
                    .collect()
            })
            .collect())
    }
}

/// Token strings that fall in every category.
struct Tok;
impl TokenizerHandle for Tok {
    fn encode(&self, _: &str) -> odyssey_core::Result<Encoding> {
        Ok(Encoding::default())
    }
    fn decode(&self, _: &[u32]) -> odyssey_core::Result<String> {
        Ok(String::new())
    }
    fn token_text(&self, id: u32) -> Option<String> {
        Some(
            match id % 6 {
                0 => "\n",
                1 => ",",
                2 => " 42",
                3 => " the",
                4 => " music",
                _ => "ing",
            }
            .to_string(),
        )
    }
    fn vocab_size(&self) -> usize {
        VOCAB
    }
    fn eos_id(&self) -> Option<u32> {
        Some(0)
    }
    fn fingerprint(&self) -> u64 {
        1
    }
}

type Doc = Vec<(u32, f32, f32)>;

fn corpora(docs: &[Doc]) -> (ScoredCorpus, ScoredCorpus) {
    let mut infos = Vec::new();
    let (mut b, mut a) = (Vec::new(), Vec::new());
    for (d, doc) in docs.iter().enumerate() {
        infos.push(DocumentInfo::from_text(
            format!("doc{d}"),
            &"ab ".repeat(doc.len()),
            doc.len() as u32,
        ));
        for (p, &(id, nb, na)) in doc.iter().enumerate() {
            let t = ScoredToken {
                doc: d as u32,
                position: p as u32,
                token_id: id,
                nll: nb,
                bytes: (3 * p as u32, 3 * p as u32 + 3),
            };
            b.push(t);
            a.push(ScoredToken { nll: na, ..t });
        }
    }
    (
        ScoredCorpus::from_tokens(infos.clone(), &b).unwrap(),
        ScoredCorpus::from_tokens(infos, &a).unwrap(),
    )
}

fn docs_strategy() -> impl Strategy<Value = Vec<Doc>> {
    prop::collection::vec(
        prop::collection::vec((0..VOCAB as u32, 0.0f32..12.0, 0.0f32..12.0), 0..80),
        1..5,
    )
    .prop_filter("at least one token", |d| d.iter().any(|x| !x.is_empty()))
}

fn tokenized(docs: &[Vec<u32>]) -> Vec<TokenizedDocument<'static>> {
    docs.iter()
        .enumerate()
        .map(|(d, ids)| TokenizedDocument {
            id: Cow::Owned(format!("doc{d}")),
            text: Cow::Owned("y".repeat(ids.len())),
            encoding: Cow::Owned(Encoding {
                ids: ids.clone(),
                offsets: (0..ids.len()).map(|i| (i, i + 1)).collect(),
            }),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn contributions_sum_to_the_total(docs in docs_strategy()) {
        let (b, a) = corpora(&docs);
        let r = decompose(&b, &a, &Tok, &DecomposeConfig::default()).unwrap();
        let total = r.summary.total_delta;
        let scale: f64 = b.nlls().iter().zip(a.nlls()).map(|(&x, &y)| (f64::from(y) - f64::from(x)).abs()).sum::<f64>() + 1.0;
        let tol = 1e-9 * scale;
        let by_token: f64 = r.tokens.iter().map(|t| t.total_delta).sum();
        let by_cat: f64 = r.categories.iter().map(|c| c.total_delta).sum();
        let by_doc: f64 = r.documents.iter().map(|d| d.total_delta).sum();
        prop_assert!((by_token - total).abs() <= tol, "{} vs {}", by_token, total);
        prop_assert!((by_cat - total).abs() <= tol);
        prop_assert!((by_doc - total).abs() <= tol);
        prop_assert!((r.summary.adapted.nll_sum - r.summary.base.nll_sum - total).abs() <= tol);
        let counts: u64 = r.tokens.iter().map(|t| t.count).sum();
        prop_assert_eq!(counts, b.len() as u64);
        prop_assert_eq!(r.categories.iter().map(|c| c.count).sum::<u64>(), b.len() as u64);
        // all tokens explain all of the change
        let all = r.top_k_share(r.tokens.len());
        if total.abs() > 1e-6 {
            let shares: f64 = r.tokens.iter().map(|t| t.share).sum();
            prop_assert!((shares - 1.0).abs() * total.abs() <= tol);
            prop_assert!((all - 1.0).abs() * total.abs() <= tol);
        }
        prop_assert_eq!(r.histogram.counts.iter().sum::<u64>() + r.histogram.below + r.histogram.above, b.len() as u64);
    }

    #[test]
    fn excluding_nothing_reproduces_pooled_metrics(docs in docs_strategy()) {
        let (b, a) = corpora(&docs);
        let (m, n) = b.metrics_excluding(Some(&[false; VOCAB]));
        prop_assert_eq!(m, b.metrics());
        prop_assert_eq!(n, 0);
        let cfg = DecomposeConfig {
            exclusions: vec![TokenSet::Ids(vec![]), TokenSet::Categories(vec![]), TokenSet::TopK(0)],
            ..DecomposeConfig::default()
        };
        let r = decompose(&b, &a, &Tok, &cfg).unwrap();
        for e in &r.exclusions {
            prop_assert_eq!(e.base, r.summary.base);
            prop_assert_eq!(e.adapted, r.summary.adapted);
            prop_assert_eq!(e.excluded_positions, 0);
        }
        let (eb, ea) = metrics_excluding(&b, &a, &Tok, &Categorizer::default(), &TokenSet::Ids(vec![])).unwrap();
        prop_assert_eq!((eb, ea), (b.metrics(), a.metrics()));
        // excluding everything leaves no token
        let (m, n) = b.metrics_excluding(Some(&[true; VOCAB]));
        prop_assert_eq!(m.tokens, 0);
        prop_assert_eq!(n, b.len() as u64);
    }

    #[test]
    fn scores_do_not_depend_on_batch_size(
        docs in prop::collection::vec(prop::collection::vec(0..VOCAB as u32, 0..70), 1..4),
        max_length in 2usize..12,
        stride_frac in 0.0f64..1.0,
        batch in 2usize..9,
        strided in any::<bool>(),
        prefix in any::<bool>(),
    ) {
        let scheme = if strided {
            let stride = 1 + ((max_length - 1) as f64 * stride_frac) as usize;
            WindowScheme::Strided { max_length, stride, prefix }
        } else {
            WindowScheme::rolling(max_length)
        };
        let docs = tokenized(&docs);
        let one = score_tokenized(&HashScorer, &docs, &ScoreOptions::new(scheme).batch_size(1).prefix_token(0)).unwrap();
        let many = score_tokenized(&HashScorer, &docs, &ScoreOptions::new(scheme).batch_size(batch).prefix_token(0)).unwrap();
        prop_assert_eq!(&one, &many);
        // every document token is scored once (rolling, or strided with a prefix and stride < max_length)
        let n: usize = docs.iter().map(|d| d.encoding.ids.len()).sum();
        if !strided || (prefix && scheme.validate().is_ok() && matches!(scheme, WindowScheme::Strided { stride, max_length, .. } if stride < max_length)) {
            prop_assert_eq!(one.len(), n);
        }
    }

    #[test]
    fn decomposition_does_not_depend_on_thread_count(docs in docs_strategy()) {
        let (b, a) = corpora(&docs);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| decompose(&b, &a, &Tok, &DecomposeConfig::default()).unwrap().to_json().unwrap())
        };
        prop_assert_eq!(run(1), run(3));
    }
}

/// Large enough for the aggregation to split into several partial sums.
#[test]
fn large_decomposition_is_identical_on_1_and_4_threads() {
    let n = 2_600_000usize;
    let vocab = 5000u32;
    let mut s = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut ids = Vec::with_capacity(n);
    let mut base = Vec::with_capacity(n);
    let mut adapted = Vec::with_capacity(n);
    for _ in 0..n {
        let r = next();
        // roughly Zipf-like: small ids much more frequent
        let u = (r >> 11) as f64 / (1u64 << 53) as f64;
        ids.push(((vocab as f64).powf(u) as u32 - 1).min(vocab - 1));
        let b = ((next() >> 40) % 8000) as f32 / 1000.0;
        base.push(b);
        adapted.push(b + ((next() >> 40) % 2000) as f32 / 1000.0 - 0.9);
    }
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| TokenAggregates::compute(&ids, &base, &adapted, vocab as usize).unwrap())
    };
    let one = run(1);
    let four = run(4);
    assert_eq!(one, four);
    let total: f64 = adapted
        .iter()
        .zip(&base)
        .map(|(&a, &b)| f64::from(a) - f64::from(b))
        .sum();
    assert!((one.total() - total).abs() < 1e-6 * total.abs().max(1.0));
    assert_eq!(one.count.iter().sum::<u64>(), n as u64);
}
