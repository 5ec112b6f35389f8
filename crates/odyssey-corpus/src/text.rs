//! Plain-text documents: M2D2's `<domain>/{train,valid,test}.txt` layout and plain text files
//! or folders.

use crate::error::{CorpusError, Result};
use crate::jsonl::folder_name;
use crate::layout::{files_with_ext, find_split_files, missing_split, SplitFiles, TEXT_EXTENSIONS};
use crate::policy::ErrorPolicy;
use crate::reader::Lines;
use odyssey_core::{Document, DocumentIter, DocumentSource, Origin, Split};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What one document is in a text file.
///
/// M2D2's text files hold documents one after another with nothing marking where one ends:
/// titles, paragraphs and list items sit on their own lines, paragraphs are separated by blank
/// lines. M2D2 trains with HF `run_clm` on these files, whose `text` loader makes every line an
/// example, and evaluates on the lines joined with `"\n"`. So the units are:
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextUnit {
    /// Every non-blank line is a document (M2D2's training examples; the default for the M2D2
    /// layout).
    #[default]
    Line,
    /// Runs of non-blank lines separated by blank lines, joined with `"\n"`.
    Paragraph,
    /// A whole file is one document: its lines joined with `"\n"` (M2D2's evaluation text; the
    /// default for plain text files and folders).
    File,
}

impl TextUnit {
    pub(crate) fn tag(self) -> u8 {
        match self {
            TextUnit::Line => 0,
            TextUnit::Paragraph => 1,
            TextUnit::File => 2,
        }
    }
}

/// How a [`TextSource`] found its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextLayout {
    /// `<domain>/{train,valid,test}.txt`.
    M2d2,
    /// A text file or a folder of text files, all one split.
    Plain,
}

/// Documents from plain UTF-8 text files.
///
/// ```
/// use odyssey_core::{DocumentSource, Split};
/// use odyssey_corpus::{TextSource, TextUnit};
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/odyssey-mini-sample/m2d2-layout/arxiv_cs");
/// let lines = TextSource::m2d2(dir)?;
/// assert_eq!(lines.splits(), vec![Split::Train, Split::Valid, Split::Test]);
/// let whole = TextSource::m2d2(dir)?.with_unit(TextUnit::File);
/// let test = whole.documents(Split::Test)?.next().unwrap()?;
/// assert!(test.text.starts_with("Stability Analysis"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TextSource {
    name: String,
    root: PathBuf,
    layout: TextLayout,
    splits: SplitFiles,
    unit: TextUnit,
    policy: ErrorPolicy,
}

impl TextSource {
    /// Open an M2D2-layout domain folder (`train.txt`, `valid.txt`, `test.txt`); every non-blank
    /// line is a document unless [`with_unit`](Self::with_unit) says otherwise.
    pub fn m2d2(dir: impl AsRef<Path>) -> Result<TextSource> {
        let dir = dir.as_ref();
        let splits = find_split_files(dir, &TEXT_EXTENSIONS)?;
        if splits.is_empty() {
            return Err(CorpusError::EmptyDomain {
                path: dir.to_path_buf(),
                expected: "expected train.txt, valid.txt, test.txt (M2D2 layout)".into(),
            });
        }
        Ok(TextSource {
            name: folder_name(dir),
            root: dir.to_path_buf(),
            layout: TextLayout::M2d2,
            splits,
            unit: TextUnit::Line,
            policy: ErrorPolicy::Fail,
        })
    }

    /// A text file, or a folder of `.txt` files (sorted by name), as the `train` split; each
    /// file is one document unless [`with_unit`](Self::with_unit) says otherwise.
    pub fn plain(path: impl AsRef<Path>) -> Result<TextSource> {
        let path = path.as_ref();
        let files = if path.is_dir() {
            files_with_ext(path, &TEXT_EXTENSIONS)?
        } else {
            std::fs::metadata(path).map_err(|e| CorpusError::io(path, e))?;
            vec![path.to_path_buf()]
        };
        if files.is_empty() {
            return Err(CorpusError::EmptyDomain {
                path: path.to_path_buf(),
                expected: "expected .txt files".into(),
            });
        }
        let name = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut splits = SplitFiles::new();
        splits.insert(Split::Train, files);
        Ok(TextSource {
            name,
            root: path.to_path_buf(),
            layout: TextLayout::Plain,
            splits,
            unit: TextUnit::File,
            policy: ErrorPolicy::Fail,
        })
    }

    /// Cut files into documents this way.
    pub fn with_unit(mut self, unit: TextUnit) -> TextSource {
        self.unit = unit;
        self
    }

    /// Use `policy` for bad lines and empty files.
    pub fn with_policy(mut self, policy: ErrorPolicy) -> TextSource {
        self.policy = policy;
        self
    }

    /// For a plain source: present its files as `split` instead of `train`.
    pub fn with_split(mut self, split: Split) -> TextSource {
        if self.layout == TextLayout::Plain {
            let files: Vec<PathBuf> = std::mem::take(&mut self.splits)
                .into_values()
                .flatten()
                .collect();
            self.splits.insert(split, files);
        }
        self
    }

    /// The unit documents are cut into.
    pub fn unit(&self) -> TextUnit {
        self.unit
    }

    /// How the files were found.
    pub fn layout(&self) -> TextLayout {
        self.layout
    }

    /// The domain folder or file.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The files of `split`, in reading order.
    pub fn files(&self, split: Split) -> Result<&[PathBuf]> {
        self.splits
            .get(&split)
            .map(Vec::as_slice)
            .ok_or_else(|| missing_split(&self.root, split, &TEXT_EXTENSIONS, &self.splits))
    }

    pub(crate) fn policy(&self) -> &ErrorPolicy {
        &self.policy
    }

    /// Stream the documents of `split` with this crate's error type.
    pub fn iter(&self, split: Split) -> Result<TextDocuments> {
        Ok(TextDocuments {
            files: self.files(split)?.to_vec(),
            next_file: 0,
            lines: None,
            unit: self.unit,
            pending: String::new(),
            pending_start: 0,
            lines_in_file: 0,
            stem: String::new(),
            policy: self.policy.clone(),
            done: false,
        })
    }
}

impl DocumentSource for TextSource {
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

/// Streaming iterator over the documents of one text split.
pub struct TextDocuments {
    files: Vec<PathBuf>,
    next_file: usize,
    lines: Option<Lines>,
    unit: TextUnit,
    pending: String,
    pending_start: usize,
    lines_in_file: usize,
    stem: String,
    policy: ErrorPolicy,
    done: bool,
}

impl TextDocuments {
    fn take_pending(&mut self, path: &Path) -> Option<Document> {
        if self.pending_start == 0 {
            return None;
        }
        let line = self.pending_start;
        self.pending_start = 0;
        let text = std::mem::take(&mut self.pending);
        let id = match self.unit {
            TextUnit::File => self.stem.clone(),
            _ => format!("{}:{line}", self.stem),
        };
        Some(Document {
            id,
            text,
            origin: Some(Origin {
                path: path.to_path_buf(),
                line,
            }),
        })
    }
}

impl Iterator for TextDocuments {
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
                        self.stem = path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        self.lines = Some(l);
                        self.lines_in_file = 0;
                        self.pending.clear();
                        self.pending_start = 0;
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
                    if self.lines_in_file > 0 {
                        if let Some(doc) = self.take_pending(&path) {
                            return Some(Ok(doc));
                        }
                    } else {
                        self.pending.clear();
                        self.pending_start = 0;
                        if let Some(e) = self.policy.handle(CorpusError::EmptyFile { path }) {
                            self.done = true;
                            return Some(Err(e));
                        }
                    }
                    continue;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let text = match lines.text() {
                Ok(t) => t,
                Err(e) => {
                    self.lines_in_file += 1;
                    if let Some(e) = self.policy.handle(e) {
                        self.done = true;
                        return Some(Err(e));
                    }
                    continue;
                }
            };
            let blank = text.trim().is_empty();
            if !blank {
                self.lines_in_file += 1;
            }
            match self.unit {
                TextUnit::Line => {
                    if blank {
                        continue;
                    }
                    let doc = Document {
                        id: format!("{}:{line}", self.stem),
                        text: text.to_string(),
                        origin: Some(Origin {
                            path: lines.path().to_path_buf(),
                            line,
                        }),
                    };
                    return Some(Ok(doc));
                }
                TextUnit::Paragraph => {
                    if blank {
                        let path = lines.path().to_path_buf();
                        if let Some(doc) = self.take_pending(&path) {
                            return Some(Ok(doc));
                        }
                        continue;
                    }
                    if self.pending_start == 0 {
                        self.pending_start = line;
                    } else {
                        self.pending.push('\n');
                    }
                    self.pending.push_str(text);
                }
                TextUnit::File => {
                    if self.pending_start == 0 {
                        self.pending_start = line;
                        // Blank lines before the first one count too: keep the file's text.
                        for _ in 1..line {
                            self.pending.push('\n');
                        }
                    } else {
                        self.pending.push('\n');
                    }
                    self.pending.push_str(text);
                }
            }
        }
    }
}
