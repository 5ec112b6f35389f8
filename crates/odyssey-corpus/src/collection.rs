//! A folder of domains, each in its own layout, found automatically.

use crate::error::{CorpusError, Result};
use crate::jsonl::{folder_name, JsonlSource};
use crate::layout::{find_split_files, sorted_subdirs, JSONL_EXTENSIONS, TEXT_EXTENSIONS};
use crate::policy::ErrorPolicy;
use crate::text::{TextSource, TextUnit};
use odyssey_core::{DocumentIter, DocumentSource, Split};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The on-disk layout of one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Dolma-style JSONL split files.
    Jsonl,
    /// M2D2's `{train,valid,test}.txt`.
    M2d2,
}

/// One domain of a [`DomainCollection`]: a [`DocumentSource`] in either layout.
#[derive(Debug, Clone)]
pub enum Domain {
    /// A JSONL domain.
    Jsonl(JsonlSource),
    /// An M2D2-layout domain.
    Text(TextSource),
}

impl Domain {
    /// Detect the layout of the domain folder `dir` and open it.
    pub fn open(dir: impl AsRef<Path>, options: &CollectionOptions) -> Result<Domain> {
        let dir = dir.as_ref();
        if !find_split_files(dir, &JSONL_EXTENSIONS)?.is_empty() {
            return Ok(Domain::Jsonl(
                JsonlSource::open(dir)?.with_policy(options.policy.clone()),
            ));
        }
        if !find_split_files(dir, &TEXT_EXTENSIONS)?.is_empty() {
            return Ok(Domain::Text(
                TextSource::m2d2(dir)?
                    .with_unit(options.m2d2_unit)
                    .with_policy(options.policy.clone()),
            ));
        }
        Err(CorpusError::EmptyDomain {
            path: dir.to_path_buf(),
            expected: "expected train/valid/test as .jsonl (.json, .gz, .zst) or .txt files".into(),
        })
    }

    /// The layout the domain was found in.
    pub fn layout(&self) -> Layout {
        match self {
            Domain::Jsonl(_) => Layout::Jsonl,
            Domain::Text(_) => Layout::M2d2,
        }
    }

    /// The domain folder.
    pub fn root(&self) -> &Path {
        match self {
            Domain::Jsonl(s) => s.root(),
            Domain::Text(s) => s.root(),
        }
    }

    /// The files of `split`.
    pub fn files(&self, split: Split) -> Result<&[PathBuf]> {
        match self {
            Domain::Jsonl(s) => s.files(split),
            Domain::Text(s) => s.files(split),
        }
    }

    fn rename(self, name: String) -> NamedDomain {
        NamedDomain { name, domain: self }
    }
}

impl DocumentSource for Domain {
    fn name(&self) -> &str {
        match self {
            Domain::Jsonl(s) => s.name(),
            Domain::Text(s) => s.name(),
        }
    }

    fn splits(&self) -> Vec<Split> {
        match self {
            Domain::Jsonl(s) => s.splits(),
            Domain::Text(s) => s.splits(),
        }
    }

    fn documents(&self, split: Split) -> odyssey_core::Result<DocumentIter<'_>> {
        match self {
            Domain::Jsonl(s) => s.documents(split),
            Domain::Text(s) => s.documents(split),
        }
    }
}

/// A domain under its name in a collection (`wiki_music`, or `m2d2-layout/wiki_music` for a
/// domain of a nested collection).
#[derive(Debug, Clone)]
pub struct NamedDomain {
    name: String,
    domain: Domain,
}

impl NamedDomain {
    /// The domain itself.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The layout it was found in.
    pub fn layout(&self) -> Layout {
        self.domain.layout()
    }
}

impl DocumentSource for NamedDomain {
    fn name(&self) -> &str {
        &self.name
    }

    fn splits(&self) -> Vec<Split> {
        self.domain.splits()
    }

    fn documents(&self, split: Split) -> odyssey_core::Result<DocumentIter<'_>> {
        self.domain.documents(split)
    }
}

/// How a collection is opened.
#[derive(Debug, Clone)]
pub struct CollectionOptions {
    /// Error policy given to every domain.
    pub policy: ErrorPolicy,
    /// How M2D2-layout text files are cut into documents.
    pub m2d2_unit: TextUnit,
    /// Open sub-folders that are collections themselves (`m2d2-layout/`), naming their domains
    /// `<sub-folder>/<domain>`.
    pub nested: bool,
    /// Sub-folders that are neither domains nor collections: ignore them (`true`) or fail.
    pub ignore_other_folders: bool,
}

impl Default for CollectionOptions {
    fn default() -> Self {
        CollectionOptions {
            policy: ErrorPolicy::Fail,
            m2d2_unit: TextUnit::Line,
            nested: true,
            ignore_other_folders: false,
        }
    }
}

/// A folder of domains, sorted by name. Each sub-folder is a JSONL domain, an M2D2-layout
/// domain, or (with [`CollectionOptions::nested`]) a collection of its own whose domains are
/// named `<sub-folder>/<domain>`.
///
/// ```
/// use odyssey_core::{DocumentSource, Split};
/// use odyssey_corpus::{DomainCollection, Layout};
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/odyssey-mini-sample");
/// let corpus = DomainCollection::open(dir)?;
/// assert_eq!(corpus.names()[0], "arxiv_cs");
/// let music = corpus.domain("m2d2-layout/wiki_music")?;
/// assert_eq!(music.layout(), Layout::M2d2);
/// assert_eq!(corpus.domain("wiki_music")?.layout(), Layout::Jsonl);
/// let n = music.documents(Split::Valid)?.count();
/// assert!(n > 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct DomainCollection {
    root: PathBuf,
    domains: Vec<NamedDomain>,
}

impl DomainCollection {
    /// Open `dir` with the default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<DomainCollection> {
        Self::open_with(dir, &CollectionOptions::default())
    }

    /// Open `dir`. A folder that is itself a domain becomes a collection of that one domain.
    pub fn open_with(
        dir: impl AsRef<Path>,
        options: &CollectionOptions,
    ) -> Result<DomainCollection> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(CorpusError::io(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
            ));
        }
        let mut domains = Vec::new();
        if let Ok(domain) = Domain::open(dir, options) {
            domains.push(domain.rename(folder_name(dir)));
        } else {
            collect(dir, "", options, &mut domains, true)?;
        }
        if domains.is_empty() {
            return Err(CorpusError::EmptyDomain {
                path: dir.to_path_buf(),
                expected: "expected domain folders holding train/valid/test split files".into(),
            });
        }
        domains.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(DomainCollection {
            root: dir.to_path_buf(),
            domains,
        })
    }

    /// The collection folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The domains, sorted by name.
    pub fn domains(&self) -> &[NamedDomain] {
        &self.domains
    }

    /// The domain names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.domains.iter().map(|d| d.name.as_str()).collect()
    }

    /// The domain called `name`, or an error listing the names there are.
    pub fn domain(&self, name: &str) -> Result<&NamedDomain> {
        self.domains
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| CorpusError::UnknownDomain {
                path: self.root.clone(),
                name: name.to_string(),
                available: self.names().join(", "),
            })
    }

    /// Number of domains.
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    /// Whether there is no domain (never true for an opened collection).
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

fn collect(
    dir: &Path,
    prefix: &str,
    options: &CollectionOptions,
    out: &mut Vec<NamedDomain>,
    top: bool,
) -> Result<bool> {
    let mut found_any = false;
    for sub in sorted_subdirs(dir)? {
        let name = format!("{prefix}{}", folder_name(&sub));
        match Domain::open(&sub, options) {
            Ok(domain) => {
                out.push(domain.rename(name));
                found_any = true;
            }
            Err(CorpusError::EmptyDomain { path, expected }) => {
                let nested = options.nested
                    && top
                    && collect(&sub, &format!("{name}/"), options, out, false)?;
                if nested {
                    found_any = true;
                } else if top && !options.ignore_other_folders {
                    return Err(CorpusError::EmptyDomain { path, expected });
                }
            }
            Err(other) => return Err(other),
        }
    }
    Ok(found_any)
}
