//! Text embedders: texts to fixed-size vectors.

use crate::Result;
use ndarray::Array2;

/// Anything that maps texts to one vector each.
pub trait TextEmbedder {
    /// Dimension of the vectors.
    fn dim(&self) -> usize;

    /// Embed `texts`; row `i` of the result belongs to `texts[i]`.
    fn embed(&self, texts: &[&str]) -> Result<Array2<f32>>;

    /// A short description for reports.
    fn describe(&self) -> String {
        String::from("text embedder")
    }
}
