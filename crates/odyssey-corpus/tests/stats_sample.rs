//! Statistics, sampling and lexical overlap on the real corpus.

use odyssey_core::{DocumentSource, Split, TokenizerHandle};
use odyssey_corpus::{
    collection_stats, paragraphs, sample, sample_domains, split_stats, vocabulary_overlap,
    weighted_jaccard, DomainCollection, HfTokenizer, OverlapOptions, SampleUnit, StatsOptions,
    TokenCounts, WordCounts,
};

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/odyssey-mini-sample"
);
const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn tok() -> HfTokenizer {
    HfTokenizer::from_file(format!("{FIX}/bpe1024/tokenizer.json")).unwrap()
}

#[test]
fn split_stats_match_the_manifest_and_direct_counts() {
    let corpus = DomainCollection::open(DATA).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DATA}/manifest.json")).unwrap())
            .unwrap();
    let t = tok();
    let d = corpus.domain("wiki_music").unwrap();
    let mut words = 0;
    let mut docs = 0;
    for split in Split::ALL {
        let (s, counts) = split_stats(d, split, Some(&t), &StatsOptions::default()).unwrap();
        let texts: Vec<String> = d
            .documents(split)
            .unwrap()
            .map(|x| x.unwrap().text)
            .collect();
        assert_eq!(s.documents as usize, texts.len());
        assert_eq!(
            s.bytes as usize,
            texts.iter().map(String::len).sum::<usize>()
        );
        let tokens: usize = texts.iter().map(|x| t.encode(x).unwrap().ids.len()).sum();
        assert_eq!(s.tokens, Some(tokens as u64));
        let counts = counts.unwrap();
        assert_eq!(counts.total(), tokens as u64);
        assert!((s.tokens_per_byte.unwrap() - tokens as f64 / s.bytes as f64).abs() < 1e-12);
        assert_eq!(s.top_tokens.len(), 20);
        assert!(s.top_tokens.windows(2).all(|w| w[0].count >= w[1].count));
        assert_eq!(
            s.top_tokens[0].count,
            *counts.as_slice().iter().max().unwrap()
        );
        assert_eq!(
            s.top_tokens[0].text,
            t.token_text(s.top_tokens[0].id).unwrap()
        );
        words += s.words;
        docs += s.documents;
        // serialisable
        let json = serde_json::to_string(&s).unwrap();
        let back: odyssey_corpus::SplitStats = serde_json::from_str(&json).unwrap();
        assert_eq!(
            (
                back.documents,
                back.words,
                back.tokens,
                back.top_tokens.len()
            ),
            (s.documents, s.words, s.tokens, 20)
        );
    }
    assert_eq!(words, manifest["wiki_music"]["words"].as_u64().unwrap());
    assert_eq!(docs, manifest["wiki_music"]["docs"].as_u64().unwrap());
}

#[test]
fn collection_stats_cover_every_domain_and_split() {
    let corpus = DomainCollection::open(DATA).unwrap();
    let all = collection_stats(&corpus, None, &StatsOptions::default()).unwrap();
    assert_eq!(all.len(), corpus.len() * 3);
    assert!(all
        .iter()
        .all(|s| s.tokens.is_none() && s.documents > 0 && s.words > 0));
    // the M2D2 copy holds the same text, one line per document
    let by = |name: &str| {
        all.iter()
            .find(|s| s.domain == name && s.split == Split::Test)
            .unwrap()
            .clone()
    };
    let (jsonl, m2d2) = (by("arxiv_cs"), by("m2d2-layout/arxiv_cs"));
    assert_eq!(jsonl.documents, 1);
    assert!(m2d2.documents > 100);
}

#[test]
fn samples_are_deterministic_and_follow_the_unit() {
    let corpus = DomainCollection::open(DATA).unwrap();
    let d = corpus.domain("wiki_military").unwrap();
    let a = sample(d, Split::Train, 20, 42, SampleUnit::Documents).unwrap();
    let b = sample(d, Split::Train, 20, 42, SampleUnit::Documents).unwrap();
    let c = sample(d, Split::Train, 20, 43, SampleUnit::Documents).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.len(), 20);
    let lines: Vec<usize> = a.iter().map(|x| x.origin.as_ref().unwrap().line).collect();
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "corpus order");
    let all = sample(d, Split::Test, 1000, 1, SampleUnit::Documents).unwrap();
    assert_eq!(all.len(), d.documents(Split::Test).unwrap().count());
    let paras = sample(
        d,
        Split::Train,
        200,
        42,
        SampleUnit::Paragraphs { min_chars: 100 },
    )
    .unwrap();
    assert_eq!(paras.len(), 200);
    assert!(paras
        .iter()
        .all(|p| p.text.chars().count() >= 100 && !p.text.contains("\n\n") && p.id.contains("#p")));
    let per = sample_domains(
        &corpus,
        Split::Valid,
        5,
        9,
        SampleUnit::Paragraphs { min_chars: 20 },
    )
    .unwrap();
    assert_eq!(per.len(), corpus.len());
    assert!(per.values().all(|v| v.len() == 5));
    assert_eq!(
        per,
        sample_domains(
            &corpus,
            Split::Valid,
            5,
            9,
            SampleUnit::Paragraphs { min_chars: 20 }
        )
        .unwrap()
    );
    assert_eq!(paragraphs("a\nb\n\n\n  c  \n \nd"), vec!["a\nb", "c", "d"]);
}

#[test]
fn lexical_overlap_ranks_related_domains_higher() {
    let corpus = DomainCollection::open(DATA).unwrap();
    let t = tok();
    let opts = OverlapOptions {
        top_k: 2000,
        ..Default::default()
    };
    let words =
        |n: &str| WordCounts::from_source(corpus.domain(n).unwrap(), Split::Train, true).unwrap();
    let tokens = |n: &str| {
        split_stats(
            corpus.domain(n).unwrap(),
            Split::Train,
            Some(&t),
            &StatsOptions::default(),
        )
        .unwrap()
        .1
        .unwrap()
    };
    let (music, military, python) = (
        words("wiki_music"),
        words("wiki_military"),
        words("docs_python"),
    );
    let mm = vocabulary_overlap(&music, &military, &opts);
    let mp = vocabulary_overlap(&music, &python, &opts);
    assert!(mm > mp, "music~military {mm} vs music~python {mp}");
    assert_eq!(vocabulary_overlap(&music, &music, &opts), 1.0);
    assert_eq!(
        vocabulary_overlap(&music, &military, &opts),
        vocabulary_overlap(&military, &music, &opts)
    );
    let (tm, tmil, tp) = (
        tokens("wiki_music"),
        tokens("wiki_military"),
        tokens("docs_python"),
    );
    let jm = weighted_jaccard(&tm, &tmil);
    let jp = weighted_jaccard(&tm, &tp);
    assert!(jm > jp && jm < 1.0 && jp > 0.0, "{jm} {jp}");
    assert!((weighted_jaccard(&tm, &tm) - 1.0).abs() < 1e-12);
    assert_eq!(weighted_jaccard(&tm, &TokenCounts::new(10)), 0.0);
}
