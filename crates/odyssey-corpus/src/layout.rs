//! Finding the split files of a domain folder.

use crate::error::{CorpusError, Result};
use odyssey_core::Split;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name endings of Dolma-style JSONL split files.
pub const JSONL_EXTENSIONS: [&str; 6] = [
    ".jsonl",
    ".json",
    ".jsonl.gz",
    ".json.gz",
    ".jsonl.zst",
    ".json.zst",
];

/// File name endings of M2D2-style text split files.
pub const TEXT_EXTENSIONS: [&str; 3] = [".txt", ".txt.gz", ".txt.zst"];

/// The split files of one domain: each split maps to one file or to the sorted shards of a
/// split folder (`train/*.jsonl.gz`).
pub(crate) type SplitFiles = BTreeMap<Split, Vec<PathBuf>>;

fn strip_ext<'a>(name: &'a str, exts: &[&str]) -> Option<&'a str> {
    exts.iter()
        .filter_map(|e| name.strip_suffix(e))
        .find(|stem| !stem.is_empty())
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| CorpusError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| CorpusError::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

pub(crate) fn sorted_subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect())
}

/// Files directly in `dir` whose names end with one of `exts`, sorted.
pub(crate) fn files_with_ext(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .map(|n| strip_ext(&n.to_string_lossy(), exts).is_some())
                    .unwrap_or(false)
        })
        .collect())
}

/// Find `<split>.<ext>` files (or `<split>/` shard folders) in `dir`.
pub(crate) fn find_split_files(dir: &Path, exts: &[&str]) -> Result<SplitFiles> {
    let mut found: BTreeMap<Split, Vec<Vec<PathBuf>>> = BTreeMap::new();
    for path in sorted_entries(dir)? {
        let name = match path.file_name() {
            Some(n) => n.to_string_lossy().into_owned(),
            None => continue,
        };
        if path.is_file() {
            if let Some(split) = strip_ext(&name, exts).and_then(|s| s.parse::<Split>().ok()) {
                found.entry(split).or_default().push(vec![path]);
            }
        } else if path.is_dir() {
            if let Ok(split) = name.parse::<Split>() {
                let shards = files_with_ext(&path, exts)?;
                if !shards.is_empty() {
                    found.entry(split).or_default().push(shards);
                }
            }
        }
    }
    let mut out = SplitFiles::new();
    for (split, mut candidates) in found {
        if candidates.len() > 1 {
            let names: Vec<String> = candidates
                .iter()
                .flatten()
                .map(|p| p.display().to_string())
                .collect();
            return Err(CorpusError::AmbiguousSplit {
                path: dir.to_path_buf(),
                split,
                candidates: names.join(", "),
            });
        }
        if let Some(files) = candidates.pop() {
            out.insert(split, files);
        }
    }
    Ok(out)
}

pub(crate) fn split_names(splits: &SplitFiles) -> String {
    if splits.is_empty() {
        return "none".into();
    }
    splits
        .keys()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn missing_split(
    root: &Path,
    split: Split,
    exts: &[&str],
    splits: &SplitFiles,
) -> CorpusError {
    CorpusError::MissingSplit {
        path: root.to_path_buf(),
        split,
        looked_for: exts
            .iter()
            .map(|e| format!("{split}{e}"))
            .collect::<Vec<_>>()
            .join(", "),
        present: split_names(splits),
    }
}
