//! Dolma-style JSONL documents: one JSON object per line with a string `text` (and usually an
//! `id`), plain or compressed with gzip or zstd.

use crate::error::{CorpusError, Result};
use crate::layout::{find_split_files, missing_split, split_names, SplitFiles, JSONL_EXTENSIONS};
use crate::policy::ErrorPolicy;
use crate::reader::Lines;
use odyssey_core::{Document, DocumentIter, DocumentSource, Origin, Split};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A domain stored as Dolma-style JSONL split files: `train.jsonl`, `valid.jsonl`,
/// `test.jsonl` (also `.json`, `.gz`, `.zst`, and `validation`/`dev`/`val` names, or a split
/// folder of shards such as `train/part-0.jsonl.gz`).
///
/// Documents stream line by line; memory does not grow with the corpus.
///
/// ```
/// use odyssey_core::{DocumentSource, Split};
/// use odyssey_corpus::JsonlSource;
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/odyssey-mini-sample/arxiv_cs");
/// let source = JsonlSource::open(dir)?;
/// assert_eq!(source.name(), "arxiv_cs");
/// let first = source.documents(Split::Train)?.next().unwrap()?;
/// assert!(first.text.len() > 1000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct JsonlSource {
    name: String,
    root: PathBuf,
    splits: SplitFiles,
    policy: ErrorPolicy,
}

impl JsonlSource {
    /// Open a domain folder holding JSONL split files; the domain name is the folder name.
    pub fn open(dir: impl AsRef<Path>) -> Result<JsonlSource> {
        let dir = dir.as_ref();
        let splits = find_split_files(dir, &JSONL_EXTENSIONS)?;
        if splits.is_empty() {
            return Err(CorpusError::EmptyDomain {
                path: dir.to_path_buf(),
                expected: "expected train/valid/test.jsonl (or .json, .gz, .zst)".into(),
            });
        }
        Ok(JsonlSource {
            name: folder_name(dir),
            root: dir.to_path_buf(),
            splits,
            policy: ErrorPolicy::Fail,
        })
    }

    /// A source from explicit files, one or more per split.
    pub fn from_files(
        name: impl Into<String>,
        files: impl IntoIterator<Item = (Split, PathBuf)>,
    ) -> JsonlSource {
        let mut splits = SplitFiles::new();
        for (split, path) in files {
            splits.entry(split).or_default().push(path);
        }
        let root = splits
            .values()
            .flatten()
            .next()
            .and_then(|p| p.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default();
        JsonlSource {
            name: name.into(),
            root,
            splits,
            policy: ErrorPolicy::Fail,
        }
    }

    /// Use `policy` for bad lines.
    pub fn with_policy(mut self, policy: ErrorPolicy) -> JsonlSource {
        self.policy = policy;
        self
    }

    /// The domain folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The files of `split`, in reading order.
    pub fn files(&self, split: Split) -> Result<&[PathBuf]> {
        self.splits
            .get(&split)
            .map(Vec::as_slice)
            .ok_or_else(|| missing_split(&self.root, split, &JSONL_EXTENSIONS, &self.splits))
    }

    pub(crate) fn policy(&self) -> &ErrorPolicy {
        &self.policy
    }

    /// Stream the documents of `split` with this crate's error type.
    pub fn iter(&self, split: Split) -> Result<JsonlDocuments> {
        Ok(JsonlDocuments {
            files: self.files(split)?.to_vec(),
            next_file: 0,
            lines: None,
            lines_in_file: 0,
            policy: self.policy.clone(),
            done: false,
        })
    }

    /// The splits present, as text (`train, valid, test`).
    pub fn describe_splits(&self) -> String {
        split_names(&self.splits)
    }
}

pub(crate) fn folder_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

impl DocumentSource for JsonlSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn splits(&self) -> Vec<Split> {
        self.splits.keys().copied().collect()
    }

    fn documents(&self, split: Split) -> odyssey_core::Result<DocumentIter<'_>> {
        Ok(Box::new(self.iter(split)?.map(|r| r.map_err(Into::into))))
    }
}

#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    text: Option<String>,
}

fn describe(v: Option<&serde_json::Value>) -> String {
    match v {
        None => "no such field".into(),
        Some(serde_json::Value::Null) => "null".into(),
        Some(serde_json::Value::Bool(_)) => "a boolean".into(),
        Some(serde_json::Value::Number(_)) => "a number".into(),
        Some(serde_json::Value::String(_)) => "a string".into(),
        Some(serde_json::Value::Array(_)) => "an array".into(),
        Some(serde_json::Value::Object(_)) => "an object".into(),
    }
}

/// Parse one JSONL line into a document (`default_id` when the record has no `id`).
pub(crate) fn parse_line(
    path: &Path,
    line: usize,
    text: &str,
    default_id: impl FnOnce() -> String,
) -> Result<Document> {
    match serde_json::from_str::<Record>(text) {
        Ok(Record { id, text: Some(t) }) => {
            let id = match id {
                Some(serde_json::Value::String(s)) => s,
                Some(serde_json::Value::Null) | None => default_id(),
                Some(other) => other.to_string(),
            };
            Ok(Document {
                id,
                text: t,
                origin: Some(Origin {
                    path: path.to_path_buf(),
                    line,
                }),
            })
        }
        Ok(Record { text: None, .. }) => Err(CorpusError::MissingText {
            path: path.to_path_buf(),
            line,
            found: "no such field (or null)".into(),
        }),
        Err(err) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(map)) => Err(CorpusError::MissingText {
                path: path.to_path_buf(),
                line,
                found: describe(map.get("text")),
            }),
            Ok(_) | Err(_) => Err(CorpusError::MalformedJson {
                path: path.to_path_buf(),
                line,
                source: err,
            }),
        },
    }
}

/// Streaming iterator over the documents of one JSONL split.
pub struct JsonlDocuments {
    files: Vec<PathBuf>,
    next_file: usize,
    lines: Option<Lines>,
    lines_in_file: usize,
    policy: ErrorPolicy,
    done: bool,
}

impl JsonlDocuments {
    fn fail_or_skip(&mut self, err: CorpusError) -> Option<Result<Document>> {
        match self.policy.handle(err) {
            Some(e) => {
                self.done = true;
                Some(Err(e))
            }
            None => None,
        }
    }
}

impl Iterator for JsonlDocuments {
    type Item = Result<Document>;

    fn next(&mut self) -> Option<Result<Document>> {
        loop {
            if self.done {
                return None;
            }
            let Some(lines) = self.lines.as_mut() else {
                let path = self.files.get(self.next_file)?.clone();
                self.next_file += 1;
                match Lines::open(&path) {
                    Ok(l) => {
                        self.lines = Some(l);
                        self.lines_in_file = 0;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                continue;
            };
            let line = match lines.advance() {
                Ok(Some(n)) => n,
                Ok(None) => {
                    let path = lines.path().to_path_buf();
                    self.lines = None;
                    if self.lines_in_file == 0 {
                        if let Some(r) = self.fail_or_skip(CorpusError::EmptyFile { path }) {
                            return Some(r);
                        }
                    }
                    continue;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let parsed = lines.text().and_then(|t| {
                if t.trim().is_empty() {
                    return Ok(None);
                }
                let path = lines.path();
                parse_line(path, line, t, || {
                    let stem = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    format!("{stem}:{line}")
                })
                .map(Some)
            });
            match parsed {
                Ok(None) => continue,
                Ok(Some(doc)) => {
                    self.lines_in_file += 1;
                    return Some(Ok(doc));
                }
                Err(e) => {
                    self.lines_in_file += 1;
                    if let Some(r) = self.fail_or_skip(e) {
                        return Some(r);
                    }
                }
            }
        }
    }
}
