//! Properties of the similarity metrics and correlations (proptest).

use ndarray::{Array2, Axis};
use odyssey_similarity::metrics::{
    centroid_cosine, frechet_distance, knn_coverage, mean_pairwise_cosine, mmd2_unbiased,
    BootstrapConfig,
};
use odyssey_similarity::stats::CorrelationMethod;
use proptest::prelude::*;

const DIM: usize = 6;

/// A sample of 3..=`max` rows of width `DIM` with entries in [-3, 3] (no zero rows).
fn sample(max: usize) -> impl Strategy<Value = Array2<f32>> {
    prop::collection::vec(prop::collection::vec(-3.0f32..3.0, DIM), 3..=max).prop_map(|rows| {
        let n = rows.len();
        let mut flat: Vec<f32> = rows.into_iter().flatten().collect();
        // Keep every row away from zero so cosines are defined.
        for r in 0..n {
            flat[r * DIM] += if flat[r * DIM] >= 0.0 { 0.5 } else { -0.5 };
        }
        Array2::from_shape_vec((n, DIM), flat).unwrap()
    })
}

/// A permutation of `0..n` from a seed.
fn permuted(x: &Array2<f32>, seed: u64) -> Array2<f32> {
    let n = x.nrows();
    let mut idx: Vec<usize> = (0..n).collect();
    let mut s = seed | 1;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        idx.swap(i, (s % (i as u64 + 1)) as usize);
    }
    x.select(Axis(0), &idx)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

fn no_boot() -> BootstrapConfig {
    BootstrapConfig {
        replicates: 0,
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn symmetric_metrics_are_symmetric(a in sample(14), b in sample(14)) {
        let (av, bv) = (a.view(), b.view());
        prop_assert!(close(centroid_cosine(av, bv).unwrap(), centroid_cosine(bv, av).unwrap(), 1e-12));
        prop_assert!(close(mean_pairwise_cosine(av, bv).unwrap(), mean_pairwise_cosine(bv, av).unwrap(), 1e-12));
        prop_assert!(close(
            mmd2_unbiased(av, bv).unwrap().mmd2.estimate,
            mmd2_unbiased(bv, av).unwrap().mmd2.estimate,
            1e-10
        ));
        prop_assert!(close(frechet_distance(av, bv).unwrap(), frechet_distance(bv, av).unwrap(), 1e-7));
        // kNN: precision of (a, b) is the recall of (b, a).
        let ab = knn_coverage(av, bv, 2, &no_boot()).unwrap();
        let ba = knn_coverage(bv, av, 2, &no_boot()).unwrap();
        prop_assert_eq!(ab.precision.estimate, ba.recall.estimate);
        prop_assert_eq!(ab.recall.estimate, ba.precision.estimate);
    }

    #[test]
    fn a_sample_against_itself_is_maximally_similar(a in sample(14), b in sample(14)) {
        let (av, bv) = (a.view(), b.view());
        prop_assert!(close(centroid_cosine(av, av).unwrap(), 1.0, 1e-12));
        prop_assert!(centroid_cosine(av, bv).unwrap() <= 1.0 + 1e-12);
        // Mean pairwise cosine: Cauchy-Schwarz on the mean unit vectors.
        let ab = mean_pairwise_cosine(av, bv).unwrap();
        let aa = mean_pairwise_cosine(av, av).unwrap();
        let bb = mean_pairwise_cosine(bv, bv).unwrap();
        prop_assert!(ab <= (aa * bb).sqrt() + 1e-12);
        // Fréchet distance: zero against itself, never negative.
        let fd = frechet_distance(av, av).unwrap();
        prop_assert!(fd.abs() < 1e-8 * (1.0 + a.iter().map(|v| (v * v) as f64).sum::<f64>()), "{}", fd);
        prop_assert!(frechet_distance(av, bv).unwrap() >= 0.0);
        // Unbiased MMD²: against itself it is 2/n (mean off-diagonal kernel − 1), in [−2/n, 0].
        let n = a.nrows() as f64;
        let m = mmd2_unbiased(av, av).unwrap().mmd2.estimate;
        prop_assert!(m <= 1e-12 && m >= -2.0 / n - 1e-12, "{}", m);
        // kNN: everything covered.
        let k = knn_coverage(av, av, 2, &no_boot()).unwrap();
        prop_assert_eq!(k.precision.estimate, 1.0);
        prop_assert_eq!(k.recall.estimate, 1.0);
        prop_assert_eq!(k.coverage.estimate, 1.0);
    }

    #[test]
    fn document_order_does_not_matter(a in sample(14), b in sample(14), s1 in any::<u64>(), s2 in any::<u64>()) {
        let (pa, pb) = (permuted(&a, s1), permuted(&b, s2));
        let (av, bv, pav, pbv) = (a.view(), b.view(), pa.view(), pb.view());
        prop_assert!(close(centroid_cosine(av, bv).unwrap(), centroid_cosine(pav, pbv).unwrap(), 1e-12));
        prop_assert!(close(mean_pairwise_cosine(av, bv).unwrap(), mean_pairwise_cosine(pav, pbv).unwrap(), 1e-12));
        let (m1, m2) = (mmd2_unbiased(av, bv).unwrap(), mmd2_unbiased(pav, pbv).unwrap());
        prop_assert!(close(m1.mmd2.estimate, m2.mmd2.estimate, 1e-10));
        prop_assert_eq!(m1.bandwidth, m2.bandwidth);
        prop_assert!(close(frechet_distance(av, bv).unwrap(), frechet_distance(pav, pbv).unwrap(), 1e-7));
        let (k1, k2) = (knn_coverage(av, bv, 2, &no_boot()).unwrap(), knn_coverage(pav, pbv, 2, &no_boot()).unwrap());
        prop_assert_eq!(k1.precision.estimate, k2.precision.estimate);
        prop_assert_eq!(k1.recall.estimate, k2.recall.estimate);
        prop_assert_eq!(k1.coverage.estimate, k2.coverage.estimate);
    }

    #[test]
    fn correlations_are_symmetric_bounded_and_order_free(
        pairs in prop::collection::vec((0i32..6, -50i32..50), 3..30),
        seed in any::<u64>(),
    ) {
        // Small integer ranges give plenty of ties.
        let x: Vec<f64> = pairs.iter().map(|p| p.0 as f64).collect();
        let y: Vec<f64> = pairs.iter().map(|p| p.1 as f64).collect();
        prop_assume!(x.iter().any(|&v| v != x[0]) && y.iter().any(|&v| v != y[0]));
        let idx: Vec<usize> = permuted(&Array2::from_shape_fn((x.len(), 1), |(i, _)| i as f32), seed)
            .iter().map(|&v| v as usize).collect();
        let px: Vec<f64> = idx.iter().map(|&i| x[i]).collect();
        let py: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
        for m in CorrelationMethod::ALL {
            let r = m.compute(&x, &y).unwrap();
            prop_assert!((-1.0..=1.0).contains(&r));
            prop_assert!(close(r, m.compute(&y, &x).unwrap(), 1e-12));
            prop_assert!(close(r, m.compute(&px, &py).unwrap(), 1e-12));
            prop_assert!(close(m.compute(&x, &x).unwrap(), 1.0, 1e-12));
        }
    }
}
