//! # odyssey-study
//!
//! The study of "Adaptation Odyssey in LLMs" (Öncel et al., EMNLP 2024) end to end: for each
//! domain, how similar it is to the base model's pretraining corpus, the base model's test
//! perplexity, continued pretraining on the domain, the adapted test perplexity and its
//! token-by-token decomposition; across domains, Δ perplexity against similarity with
//! correlations and intervals, the tokens that explain the degradation, and a verdict per
//! domain (adapt / don't adapt / adapt with token filtering or a lower learning rate).
//!
//! [`run_study`] writes `report.md`, `report.json` and `plots/*.svg` to the output folder,
//! atomically; an interrupted run resumes from the finished domains and the trainer's
//! checkpoints.

pub mod adapt;
pub mod analysis;
pub mod config;
pub mod control;
pub mod data;
pub mod domain;
pub mod error;
pub mod forgetting;
pub mod memory;
pub mod mitigation;
pub mod pipeline;
pub mod plots;
pub mod preflight;
pub mod report;
pub mod resume;
pub mod scoring;
pub mod similarity;
pub mod summary;
pub mod verdict;

pub use config::{DeviceChoice, StudyConfig};
pub use domain::DomainResult;
pub use error::{Result, StudyError};
pub use pipeline::run_study;
pub use summary::StudyReport;
pub use verdict::{Decision, Verdict};
