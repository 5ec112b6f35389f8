//! The study's inputs through `odyssey-corpus`: the domain collection, the pretraining corpus,
//! the model's tokenizer, and each domain's token streams and test documents.

use crate::config::StudyConfig;
use crate::error::{Result, StudyError};
use odyssey_core::{DocumentSource, Split, TokenizerHandle};
use odyssey_corpus::{CollectionOptions, DomainCollection, HfTokenizer, JsonlSource, TextSource};
use std::path::{Path, PathBuf};

/// The model's tokenizer: `tokenizer.json` in the model folder, or the tokenizer a GGUF
/// model file describes.
pub fn load_tokenizer(model: &Path) -> Result<HfTokenizer> {
    if odyssey_train::gguf::is_gguf(model) {
        return HfTokenizer::from_gguf(model).map_err(|e| {
            StudyError::stage(format!("building the tokenizer of {}", model.display()), e)
        });
    }
    let path = model.join("tokenizer.json");
    HfTokenizer::from_file(&path)
        .map_err(|e| StudyError::stage(format!("loading the tokenizer {}", path.display()), e))
}

/// The pretraining corpus: one source, or several whose documents are read one after another.
pub struct Pretraining {
    sources: Vec<Box<dyn DocumentSource>>,
    root: PathBuf,
}

impl Pretraining {
    /// Open `path`: a corpus folder with splits, a folder of such folders, a JSONL file
    /// (`.jsonl`, `.json`, `.gz`, `.zst`) or a text file / folder of `.txt` files.
    pub fn open(path: &Path) -> Result<Self> {
        let err = |e: odyssey_corpus::CorpusError| {
            StudyError::stage(
                format!("opening the pretraining corpus {}", path.display()),
                e,
            )
        };
        let mut sources: Vec<Box<dyn DocumentSource>> = Vec::new();
        if path.is_dir() {
            match DomainCollection::open_with(path, &CollectionOptions::default()) {
                Ok(c) => {
                    for d in c.domains() {
                        sources.push(Box::new(d.clone()));
                    }
                }
                Err(_) => sources.push(Box::new(TextSource::plain(path).map_err(err)?)),
            }
        } else if path.is_file() {
            let name = path.to_string_lossy();
            let jsonl = [".jsonl", ".json", ".gz", ".zst"]
                .iter()
                .any(|e| name.ends_with(e));
            if jsonl {
                sources.push(Box::new(JsonlSource::from_files(
                    "pretraining",
                    [(Split::Train, path.to_path_buf())],
                )));
            } else {
                sources.push(Box::new(TextSource::plain(path).map_err(err)?));
            }
        } else {
            return Err(StudyError::Invalid(format!(
                "pretraining corpus {} does not exist",
                path.display()
            )));
        }
        if sources.is_empty() {
            return Err(StudyError::Invalid(format!(
                "pretraining corpus {} holds no documents",
                path.display()
            )));
        }
        Ok(Pretraining {
            sources,
            root: path.to_path_buf(),
        })
    }

    /// The texts of the train split (of every source that has one; all splits of a source
    /// without a train split).
    pub fn train_texts(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for s in &self.sources {
            let splits = s.splits();
            let wanted: Vec<Split> = if splits.contains(&Split::Train) {
                vec![Split::Train]
            } else {
                splits
            };
            for split in wanted {
                out.extend(read_texts(s.as_ref(), split)?);
            }
        }
        Ok(out)
    }

    /// The held-out documents `(id, text)` of every source: its test split, or its valid split
    /// when no source has a test split; with the split's name.
    pub fn held_out_docs(&self) -> Result<(Split, Vec<(String, String)>)> {
        for split in [Split::Test, Split::Valid] {
            let mut docs = Vec::new();
            for s in self.sources.iter().filter(|s| s.splits().contains(&split)) {
                let ctx = || format!("reading {} / {split}", s.name());
                let iter = s
                    .documents(split)
                    .map_err(|e| StudyError::stage(ctx(), e))?;
                for d in iter {
                    let d = d.map_err(|e| StudyError::stage(ctx(), e))?;
                    docs.push((format!("{}:{}", s.name(), d.id), d.text));
                }
            }
            if !docs.is_empty() {
                return Ok((split, docs));
            }
        }
        Ok((Split::Test, Vec::new()))
    }

    /// The texts of the valid split of every source that has one (empty when none has).
    pub fn valid_texts(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for s in &self.sources {
            if s.splits().contains(&Split::Valid) {
                out.extend(read_texts(s.as_ref(), Split::Valid)?);
            }
        }
        Ok(out)
    }

    /// A deterministic sample of `n` paragraphs (at least `min_chars` characters) of the train
    /// split, spread evenly over the sources.
    pub fn sample_paragraphs(&self, n: usize, seed: u64, min_chars: usize) -> Result<Vec<String>> {
        let per = n.div_ceil(self.sources.len());
        let mut out = Vec::new();
        for (i, s) in self.sources.iter().enumerate() {
            let split = if s.splits().contains(&Split::Train) {
                Split::Train
            } else {
                s.splits().first().copied().unwrap_or(Split::Train)
            };
            let docs = odyssey_corpus::sample(
                s.as_ref(),
                split,
                per,
                seed.wrapping_add(i as u64),
                odyssey_corpus::SampleUnit::Paragraphs { min_chars },
            )
            .map_err(|e| StudyError::stage("sampling the pretraining corpus", e))?;
            out.extend(docs.into_iter().map(|d| d.text));
        }
        out.truncate(n);
        Ok(out)
    }

    /// Where it was opened from.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn read_texts(source: &dyn DocumentSource, split: Split) -> Result<Vec<String>> {
    let ctx = || format!("reading {} / {split}", source.name());
    let iter = source
        .documents(split)
        .map_err(|e| StudyError::stage(ctx(), e))?;
    let mut out = Vec::new();
    for d in iter {
        out.push(d.map_err(|e| StudyError::stage(ctx(), e))?.text);
    }
    Ok(out)
}

/// The study's corpora.
pub struct Corpora {
    domains: DomainCollection,
    /// The pretraining corpus.
    pub pretraining: Pretraining,
}

/// One domain, read and tokenized.
pub struct DomainData {
    /// Domain name.
    pub name: String,
    /// Train split texts (for similarity samples and lexical overlap).
    pub train_texts: Vec<String>,
    /// Train split packed: documents joined with the end-of-document token.
    pub train_tokens: Vec<u32>,
    /// Valid split packed the same way.
    pub valid_tokens: Vec<u32>,
    /// Test documents `(id, text)`.
    pub test_docs: Vec<(String, String)>,
    /// Valid documents `(id, text)` (the token mask of a mitigation is chosen on them).
    pub valid_docs: Vec<(String, String)>,
}

impl Corpora {
    /// Open the domain collection and the pretraining corpus named in `config`.
    pub fn open(config: &StudyConfig) -> Result<Self> {
        if !config.domains.is_dir() {
            return Err(StudyError::Invalid(format!(
                "domains folder {} does not exist",
                config.domains.display()
            )));
        }
        let domains = DomainCollection::open(&config.domains).map_err(|e| {
            StudyError::stage(
                format!("opening the domains {}", config.domains.display()),
                e,
            )
        })?;
        Ok(Corpora {
            domains,
            pretraining: Pretraining::open(&config.pretraining_corpus)?,
        })
    }

    /// The domains to study: `only` in its order, or all of them (sorted by name).
    pub fn domain_names(&self, only: &[String]) -> Result<Vec<String>> {
        let all: Vec<String> = self.domains.names().iter().map(|s| s.to_string()).collect();
        if only.is_empty() {
            return Ok(all);
        }
        for n in only {
            if !all.contains(n) {
                return Err(StudyError::Invalid(format!(
                    "domain {n:?} is not in {} (found: {})",
                    self.domains.root().display(),
                    all.join(", ")
                )));
            }
        }
        Ok(only.to_vec())
    }

    /// Domain `name` as a document source.
    pub fn domain_source(&self, name: &str) -> Result<&odyssey_corpus::NamedDomain> {
        self.domains
            .domain(name)
            .map_err(|e| StudyError::stage(format!("domain {name}"), e))
    }

    /// The folder of domain `name`.
    pub fn domain_root(&self, name: &str) -> Result<PathBuf> {
        let d = self
            .domains
            .domain(name)
            .map_err(|e| StudyError::stage(format!("domain {name}"), e))?;
        Ok(d.domain().root().to_path_buf())
    }

    /// Read and tokenize domain `name`: train, valid and test splits are all required.
    pub fn domain_data(&self, name: &str, tok: &HfTokenizer) -> Result<DomainData> {
        let d = self
            .domains
            .domain(name)
            .map_err(|e| StudyError::stage(format!("domain {name}"), e))?;
        let train_texts = read_texts(d, Split::Train)?;
        let valid_iter = d
            .documents(Split::Valid)
            .map_err(|e| StudyError::stage(format!("{name}: reading the valid split"), e))?;
        let mut valid_docs = Vec::new();
        for doc in valid_iter {
            let doc = doc.map_err(|e| StudyError::stage(format!("{name}: valid split"), e))?;
            valid_docs.push((doc.id, doc.text));
        }
        let valid_texts: Vec<String> = valid_docs.iter().map(|d| d.1.clone()).collect();
        let test_iter = d
            .documents(Split::Test)
            .map_err(|e| StudyError::stage(format!("{name}: reading the test split"), e))?;
        let mut test_docs = Vec::new();
        for doc in test_iter {
            let doc = doc.map_err(|e| StudyError::stage(format!("{name}: test split"), e))?;
            test_docs.push((doc.id, doc.text));
        }
        let train_tokens = pack(tok, &train_texts, name, "train")?;
        let valid_tokens = pack(tok, &valid_texts, name, "valid")?;
        Ok(DomainData {
            name: name.to_string(),
            train_texts,
            train_tokens,
            valid_tokens,
            test_docs,
            valid_docs,
        })
    }
}

/// Tokenize `texts` and join them with the end-of-document token after each (HF `run_clm`
/// with an EOS-terminated tokenizer).
pub fn pack(tok: &HfTokenizer, texts: &[String], name: &str, split: &str) -> Result<Vec<u32>> {
    let eos = tok
        .eos_id()
        .ok_or_else(|| StudyError::Invalid("the tokenizer has no end-of-document token".into()))?;
    let ids = tok
        .encode_batch_ids(texts)
        .map_err(|e| StudyError::stage(format!("{name}: tokenizing the {split} split"), e))?;
    odyssey_corpus::pack_documents(ids, eos, 1, odyssey_corpus::Remainder::Keep)
        .map(odyssey_corpus::PackedBlocks::into_tokens)
        .map_err(|e| StudyError::stage(format!("{name}: packing the {split} split"), e))
}
