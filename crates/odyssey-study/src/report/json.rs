//! `report.json`: the whole [`StudyReport`], and the per-domain result files.
//!
//! Numbers are written with [`odyssey_core::json`]'s encoding: non-finite values are the
//! strings `"NaN"`, `"Infinity"` and `"-Infinity"`, so every file reads back to the same values.

use crate::error::{Result, StudyError};
use crate::summary::StudyReport;
use std::path::Path;

/// Serialise `value` as pretty JSON to `path` atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = odyssey_core::json::to_vec_pretty(value).map_err(|source| StudyError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    odyssey_core::fs::write_atomic(path, &bytes).map_err(|e| StudyError::stage("writing", e))
}

/// Read a JSON file written by [`write_json`].
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|source| StudyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    odyssey_core::json::from_slice(&bytes).map_err(|source| StudyError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Write `report.json` into `out`.
pub fn write_report(out: &Path, report: &StudyReport) -> Result<()> {
    write_json(&out.join("report.json"), report)
}
