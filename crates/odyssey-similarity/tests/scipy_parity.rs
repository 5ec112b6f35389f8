//! Metrics and correlations against numpy / scipy on real data
//! (fixture: scripts/fixtures/similarity_stats_scipy.py).

mod common;

use ndarray::{Array2, Axis};
use odyssey_similarity::metrics::{
    centroid_cosine, frechet_distance, knn_coverage, mean_pairwise_cosine, mmd2_unbiased,
    BootstrapConfig, SimilarityConfig, SimilarityReport,
};
use odyssey_similarity::stats::{correlation_test, CorrelationMethod, InferenceConfig};

fn reference() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(common::fixtures().join("stats_scipy.json")).unwrap(),
    )
    .unwrap()
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(f).collect()
}

fn split_domains() -> (Array2<f32>, Array2<f32>) {
    let fx = common::st_parity();
    let wiki: Vec<usize> = (0..fx.domains.len())
        .filter(|&i| fx.domains[i] == "wiki_music")
        .collect();
    let other: Vec<usize> = (0..fx.domains.len())
        .filter(|&i| fx.domains[i] != "wiki_music")
        .collect();
    (
        fx.embeddings.select(Axis(0), &wiki),
        fx.embeddings.select(Axis(0), &other),
    )
}

#[test]
fn metrics_match_numpy_and_scipy_on_real_embeddings() {
    let r = &reference()["metrics"];
    let (a, b) = split_domains();
    assert_eq!(a.nrows() as u64, r["n_a"].as_u64().unwrap());
    let (a, b) = (a.view(), b.view());
    let close = |got: f64, want: f64, tol: f64, what: &str| {
        assert!(
            (got - want).abs() <= tol * (1.0 + want.abs()),
            "{what}: {got} vs scipy {want}"
        );
    };
    close(
        centroid_cosine(a, b).unwrap(),
        f(&r["centroid_cosine"]),
        1e-9,
        "centroid cosine",
    );
    close(
        mean_pairwise_cosine(a, b).unwrap(),
        f(&r["mean_pairwise_cosine"]),
        1e-9,
        "mean pairwise cosine",
    );
    let m = mmd2_unbiased(a, b).unwrap();
    close(m.bandwidth, f(&r["mmd_bandwidth"]), 1e-9, "MMD bandwidth");
    close(m.mmd2.estimate, f(&r["mmd2_unbiased"]), 1e-8, "MMD²");
    // scipy.linalg.sqrtm of a singular product (80 and 120 rows in 384 dimensions) is less
    // exact than the eigendecomposition route; agree to 1e-5 relative.
    close(
        frechet_distance(a, b).unwrap(),
        f(&r["frechet_distance"]),
        1e-5,
        "Fréchet",
    );
    let k = r["knn_k"].as_u64().unwrap() as usize;
    let none = BootstrapConfig {
        replicates: 0,
        ..Default::default()
    };
    let knn = knn_coverage(a, b, k, &none).unwrap();
    close(
        knn.precision.estimate,
        f(&r["knn_precision"]),
        1e-12,
        "precision",
    );
    close(knn.recall.estimate, f(&r["knn_recall"]), 1e-12, "recall");
    close(
        knn.coverage.estimate,
        f(&r["knn_coverage"]),
        1e-12,
        "coverage",
    );
}

#[test]
fn report_on_real_embeddings_has_intervals_around_the_estimates() {
    let (a, b) = split_domains();
    let cfg = SimilarityConfig {
        bootstrap_replicates: 12,
        ..Default::default()
    };
    let rep =
        SimilarityReport::from_embeddings("wiki_music", a.view(), "other", b.view(), &cfg).unwrap();
    let again =
        SimilarityReport::from_embeddings("wiki_music", a.view(), "other", b.view(), &cfg).unwrap();
    assert_eq!(rep, again, "seeded: identical reports");
    for (name, i) in [
        ("centroid", rep.centroid_cosine),
        ("pairwise", rep.mean_pairwise_cosine),
        ("mmd2", rep.mmd.mmd2),
        ("frechet", rep.frechet_distance),
        ("precision", rep.knn.precision),
    ] {
        assert_eq!(i.replicates, 12, "{name}");
        assert!(i.low <= i.high, "{name}: {i:?}");
        assert!(
            i.high - i.low > 0.0,
            "{name}: a resampled interval has width: {i:?}"
        );
    }
    // The two sides are different domains: the MMD² interval stays above zero, and the
    // same-domain split (wiki_music halves) is much closer.
    assert!(rep.mmd.mmd2.low > 0.0, "{:?}", rep.mmd.mmd2);
    let half = a.nrows() / 2;
    let (a1, a2) = (
        a.slice(ndarray::s![..half, ..]),
        a.slice(ndarray::s![half.., ..]),
    );
    let same = SimilarityReport::from_embeddings("wiki 1", a1, "wiki 2", a2, &cfg).unwrap();
    assert!(same.centroid_cosine.estimate > rep.centroid_cosine.estimate + 0.3);
    assert!(same.mmd.mmd2.estimate < rep.mmd.mmd2.estimate / 3.0);
    assert!(same.frechet_distance.estimate < rep.frechet_distance.estimate);
    let json = rep.to_json().unwrap();
    let back: SimilarityReport = serde_json::from_str(&json).unwrap();
    // serde_json's float parsing may differ in the last bit.
    assert_eq!(
        (&back.a, &back.b, back.dim, back.knn.k),
        (&rep.a, &rep.b, rep.dim, 5)
    );
    for (x, y) in [
        (back.mmd.mmd2, rep.mmd.mmd2),
        (back.frechet_distance, rep.frechet_distance),
        (back.knn.coverage, rep.knn.coverage),
    ] {
        assert!((x.estimate - y.estimate).abs() < 1e-12 && (x.high - y.high).abs() < 1e-12);
    }
}

#[test]
fn correlations_match_scipy_on_real_document_statistics() {
    let cases = reference()["correlations"].as_array().unwrap().clone();
    for case in &cases {
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        for (m, key) in [
            (CorrelationMethod::Pearson, "pearson"),
            (CorrelationMethod::Spearman, "spearman"),
            (CorrelationMethod::Kendall, "kendall"),
        ] {
            let got = m.compute(&x, &y).unwrap();
            let want = f(&case[key]);
            assert!(
                (got - want).abs() < 1e-10,
                "{} {key}: {got} vs scipy {want}",
                case["name"]
            );
        }
    }
}

#[test]
fn permutation_p_values_match_scipy_exact_and_intervals_cover() {
    let cases = reference()["correlations"].as_array().unwrap().clone();
    let case = cases
        .iter()
        .find(|c| c.get("pearson_exact_permutation_p").is_some())
        .unwrap();
    let (x, y) = (floats(&case["x"]), floats(&case["y"]));
    let cfg = InferenceConfig {
        bootstrap_replicates: 500,
        permutations: 20_000,
        level: 0.95,
        seed: 11,
    };
    for (m, key) in [
        (CorrelationMethod::Pearson, "pearson"),
        (CorrelationMethod::Spearman, "spearman"),
        (CorrelationMethod::Kendall, "kendall"),
    ] {
        let t = correlation_test(m, &x, &y, &cfg).unwrap();
        let exact = f(&case[&format!("{key}_exact_permutation_p")]);
        let p = t.p_value.unwrap();
        // Monte Carlo error of 20,000 permutations: standard error <= 0.0036.
        assert!((p - exact).abs() < 0.015, "{key}: p {p} vs exact {exact}");
        assert!(t.coefficient.low <= t.coefficient.estimate + 1e-12);
        assert!(t.coefficient.estimate <= t.coefficient.high + 1e-12);
        assert_eq!(t, correlation_test(m, &x, &y, &cfg).unwrap(), "seeded");
    }
    // The strong real relationship (paragraphs vs words, all wiki_music valid documents) is
    // significant; a shuffled pairing of it is not.
    let big = &cases[0];
    let (x, y) = (floats(&big["x"]), floats(&big["y"]));
    let cfg = InferenceConfig {
        bootstrap_replicates: 200,
        permutations: 2000,
        ..cfg
    };
    let t = correlation_test(CorrelationMethod::Spearman, &x, &y, &cfg).unwrap();
    assert!(
        t.p_value.unwrap() < 0.01 && t.coefficient.low > 0.0,
        "{t:?}"
    );
}
