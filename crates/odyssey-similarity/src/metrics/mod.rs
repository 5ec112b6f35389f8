//! Corpus-to-corpus similarity on embedding samples, each measure with a seeded bootstrap
//! interval. Pure `ndarray` + `rayon` (+ `nalgebra` for eigendecompositions): no libtorch.

pub mod bootstrap;
mod check;
pub mod cosine;
pub mod frechet;
pub mod knn;
mod linalg;
pub mod mmd;
pub mod report;
pub mod sample;

pub use bootstrap::{BootstrapConfig, Interval};
pub use cosine::{
    centroid_cosine, centroid_cosine_ci, mean_pairwise_cosine, mean_pairwise_cosine_ci,
};
pub use frechet::{frechet_distance, frechet_distance_ci};
pub use knn::{knn_coverage, KnnCoverage};
pub use mmd::{mmd2_unbiased, mmd2_unbiased_ci, Mmd};
pub use report::{SampleSummary, SimilarityConfig, SimilarityReport};
pub use sample::{sample_documents, DocumentSample};
