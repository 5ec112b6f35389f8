//! The corpus-to-corpus similarity report.

use super::bootstrap::{BootstrapConfig, Interval};
use super::cosine::{centroid_cosine_ci, mean_pairwise_cosine_ci};
use super::frechet::frechet_distance_ci;
use super::knn::{knn_coverage, KnnCoverage};
use super::mmd::{mmd2_unbiased_ci, Mmd};
use super::sample::sample_documents;
use crate::error::{Result, SimilarityError};
use ndarray::ArrayView2;
use odyssey_core::{DocumentSource, Split, TextEmbedder};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Settings of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimilarityConfig {
    /// Documents sampled from each source.
    pub sample_size: usize,
    /// Neighbourhood size of the kNN measures.
    pub knn_k: usize,
    /// Seed of the document sample and of the bootstrap.
    pub seed: u64,
    /// Bootstrap resamples per interval (0 = point estimates only).
    pub bootstrap_replicates: usize,
    /// Confidence level of the intervals.
    pub level: f64,
}

impl Default for SimilarityConfig {
    fn default() -> Self {
        SimilarityConfig {
            sample_size: 1000,
            knn_k: 5,
            seed: 0,
            bootstrap_replicates: 200,
            level: 0.95,
        }
    }
}

impl SimilarityConfig {
    fn bootstrap(&self) -> BootstrapConfig {
        BootstrapConfig {
            replicates: self.bootstrap_replicates,
            level: self.level,
            seed: self.seed,
        }
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleSummary {
    /// Source name.
    pub name: String,
    /// Split the sample came from, when drawn from a document source.
    pub split: Option<Split>,
    /// Non-blank documents available, when drawn from a document source.
    pub available: Option<usize>,
    /// Rows compared.
    pub sampled: usize,
}

/// How close sample `a` (a domain) is to sample `b` (the reference, e.g. the pretraining
/// corpus), by five measures, each with a bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarityReport {
    /// The domain side.
    pub a: SampleSummary,
    /// The reference side.
    pub b: SampleSummary,
    /// The embedder, when the report embedded the texts itself.
    pub embedder: Option<String>,
    /// Embedding width.
    pub dim: usize,
    /// Settings used.
    pub config: SimilarityConfig,
    /// Cosine of the two centroids (the paper's measure; 1 = same direction).
    pub centroid_cosine: Interval,
    /// Mean cosine over all cross pairs.
    pub mean_pairwise_cosine: Interval,
    /// Unbiased MMD² (RBF kernel, median heuristic); 0 = indistinguishable.
    pub mmd: Mmd,
    /// Fréchet distance between Gaussian fits; 0 = same mean and covariance.
    pub frechet_distance: Interval,
    /// kNN precision / recall / coverage.
    pub knn: KnnCoverage,
}

impl SimilarityReport {
    /// Compare two embedding matrices (rows = documents) of equal width.
    pub fn from_embeddings(
        a_name: &str,
        a: ArrayView2<'_, f32>,
        b_name: &str,
        b: ArrayView2<'_, f32>,
        config: &SimilarityConfig,
    ) -> Result<Self> {
        let boot = config.bootstrap();
        let summary = |name: &str, rows: usize| SampleSummary {
            name: name.to_string(),
            split: None,
            available: None,
            sampled: rows,
        };
        Ok(SimilarityReport {
            a: summary(a_name, a.nrows()),
            b: summary(b_name, b.nrows()),
            embedder: None,
            dim: a.ncols(),
            config: *config,
            centroid_cosine: centroid_cosine_ci(a, b, &boot)?,
            mean_pairwise_cosine: mean_pairwise_cosine_ci(a, b, &boot)?,
            mmd: mmd2_unbiased_ci(a, b, &boot)?,
            frechet_distance: frechet_distance_ci(a, b, &boot)?,
            knn: knn_coverage(a, b, config.knn_k, &boot)?,
        })
    }

    /// Sample `config.sample_size` documents of `split` from each source (seeded), embed them
    /// with `embedder` and compare.
    pub fn from_sources(
        embedder: &dyn TextEmbedder,
        a: &dyn DocumentSource,
        b: &dyn DocumentSource,
        split: Split,
        config: &SimilarityConfig,
    ) -> Result<Self> {
        let embed = |source: &dyn DocumentSource| -> Result<(ndarray::Array2<f32>, usize)> {
            let sample = sample_documents(source, split, config.sample_size, config.seed)?;
            if sample.documents.is_empty() {
                return Err(SimilarityError::EmptySample {
                    what: format!("split {split} of {}", source.name()),
                    needed: 1,
                });
            }
            let texts: Vec<&str> = sample.documents.iter().map(|d| d.text.as_str()).collect();
            let x = embedder.embed(&texts).map_err(|e| SimilarityError::Core {
                context: format!("embedding {} ({split})", source.name()),
                source: e,
            })?;
            Ok((x, sample.seen))
        };
        let (xa, seen_a) = embed(a)?;
        let (xb, seen_b) = embed(b)?;
        let mut report = Self::from_embeddings(a.name(), xa.view(), b.name(), xb.view(), config)?;
        report.a.split = Some(split);
        report.a.available = Some(seen_a);
        report.b.split = Some(split);
        report.b.available = Some(seen_b);
        report.embedder = Some(embedder.describe());
        Ok(report)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        odyssey_core::json::to_string_pretty(self)
            .map_err(|e| SimilarityError::InvalidConfig(format!("serialising the report: {e}")))
    }

    /// Write the report as JSON, atomically.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let json = self.to_json()?;
        odyssey_core::fs::write_atomic(path, json.as_bytes()).map_err(|e| SimilarityError::Core {
            context: format!("writing {}", path.display()),
            source: e,
        })
    }
}
