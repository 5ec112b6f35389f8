//! Correlation statistics for the study (does the gain from continued pretraining fall as the
//! domain's similarity to the pretraining corpus rises?): Pearson, Spearman and Kendall tau-b,
//! with bootstrap intervals and permutation p-values.

pub mod correlation;
pub mod inference;
pub mod rank;

pub use correlation::CorrelationMethod;
pub use inference::{correlation_test, correlation_tests, CorrelationTest, InferenceConfig};
pub use rank::average_ranks;
