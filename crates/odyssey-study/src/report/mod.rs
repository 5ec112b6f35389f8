//! The report files: Markdown and JSON, written atomically.

pub mod json;
pub mod markdown;
pub mod sections;
