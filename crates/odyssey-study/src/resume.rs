//! The output folder and resuming: finished domains are saved one file each, atomically, and
//! reused on the next run when their fingerprint matches; trainer checkpoints live beside them.

use crate::domain::DomainResult;
use crate::error::{Result, StudyError};
use crate::report::json::{read_json, write_json};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Paths inside the output folder.
#[derive(Debug, Clone)]
pub struct OutputLayout {
    root: PathBuf,
}

impl OutputLayout {
    /// The layout under `root` (nothing is created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        OutputLayout { root: root.into() }
    }

    /// The output folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `domains/<name>.json`: a finished domain.
    pub fn domain_result(&self, name: &str) -> PathBuf {
        self.root.join("domains").join(format!("{name}.json"))
    }

    /// `checkpoints/<name>/`: the trainer's checkpoints for a domain.
    pub fn checkpoints(&self, name: &str) -> PathBuf {
        self.root.join("checkpoints").join(name)
    }

    /// `plots/`.
    pub fn plots(&self) -> PathBuf {
        self.root.join("plots")
    }

    /// Create the folders and remove temporary files that a killed run left behind (atomic
    /// writes name them `.<file>.tmp.<pid>`). Returns how many were removed.
    pub fn prepare(&self) -> Result<usize> {
        let mut removed = 0;
        for dir in [
            self.root.clone(),
            self.root.join("domains"),
            self.root.join("checkpoints"),
            self.plots(),
        ] {
            std::fs::create_dir_all(&dir).map_err(|source| StudyError::Io {
                path: dir.clone(),
                source,
            })?;
            let entries = std::fs::read_dir(&dir).map_err(|source| StudyError::Io {
                path: dir.clone(),
                source,
            })?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') && name.contains(".tmp.") && entry.path().is_file() {
                    std::fs::remove_file(entry.path()).map_err(|source| StudyError::Io {
                        path: entry.path(),
                        source,
                    })?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// The saved result of `name` if it exists and was produced with `fingerprint`; a result
    /// from other settings or inputs is ignored (and will be overwritten).
    pub fn load_finished(&self, name: &str, fingerprint: &str) -> Result<Option<DomainResult>> {
        let path = self.domain_result(name);
        if !path.exists() {
            return Ok(None);
        }
        let r: DomainResult = read_json(&path)?;
        Ok((r.fingerprint == fingerprint && r.name == name).then_some(r))
    }

    /// Save a finished domain atomically and return it as read back from the file, so a run
    /// that computes a domain and a run that reuses it report the very same numbers (JSON
    /// text does not always round-trip the last bit of an `f64`).
    pub fn save_finished(&self, result: &DomainResult) -> Result<DomainResult> {
        let path = self.domain_result(&result.name);
        write_json(&path, result)?;
        read_json(&path)
    }
}

/// A stable hash of the files under `path` (names, sizes, and the first and last MiB of each
/// file): changes when the data or model changes, cheap for multi-GB checkpoints.
pub fn fingerprint_path(path: &Path) -> Result<String> {
    let mut files = Vec::new();
    collect_files(path, &mut files)?;
    files.sort();
    let mut h = Sha256::new();
    for f in &files {
        let rel = f.strip_prefix(path).unwrap_or(f);
        h.update(rel.to_string_lossy().as_bytes());
        let io = |source| StudyError::Io {
            path: f.clone(),
            source,
        };
        let mut file = std::fs::File::open(f).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        h.update(len.to_le_bytes());
        const MIB: u64 = 1 << 20;
        let mut buf = Vec::with_capacity(MIB as usize);
        (&mut file).take(MIB).read_to_end(&mut buf).map_err(io)?;
        h.update(&buf);
        if len > 2 * MIB {
            buf.clear();
            file.seek(SeekFrom::Start(len - MIB)).map_err(io)?;
            file.take(MIB).read_to_end(&mut buf).map_err(io)?;
            h.update(&buf);
        }
    }
    let digest = h.finalize();
    Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|source| StudyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let entries = std::fs::read_dir(path).map_err(|source| StudyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    for e in entries.flatten() {
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        collect_files(&e.path(), out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::example_result;

    #[test]
    fn finished_domain_is_reused_only_with_its_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputLayout::new(dir.path());
        out.prepare().unwrap();
        assert!(out.load_finished("wiki", "f00d").unwrap().is_none());
        let r = example_result("wiki", 0.8, 100.0, 90.0);
        let saved = out.save_finished(&r).unwrap();
        assert_eq!(saved.name, r.name);
        assert!((saved.base.token_ppl - r.base.token_ppl).abs() < 1e-12);
        assert_eq!(out.load_finished("wiki", "f00d").unwrap(), Some(saved));
        assert!(out.load_finished("wiki", "other").unwrap().is_none());
    }

    #[test]
    fn a_corrupt_result_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputLayout::new(dir.path());
        out.prepare().unwrap();
        std::fs::write(out.domain_result("x"), b"{\"name\": ").unwrap();
        assert!(matches!(
            out.load_finished("x", "f00d"),
            Err(StudyError::Json { .. })
        ));
    }

    #[test]
    fn prepare_removes_leftover_temporary_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputLayout::new(dir.path());
        out.prepare().unwrap();
        std::fs::write(dir.path().join(".report.md.tmp.123"), b"half").unwrap();
        std::fs::write(out.plots().join(".a.svg.tmp.9"), b"half").unwrap();
        std::fs::write(dir.path().join("report.md"), b"whole").unwrap();
        assert_eq!(out.prepare().unwrap(), 2);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&"report.md".to_string()));
        assert!(!names.iter().any(|n| n.contains(".tmp.")));
    }

    #[test]
    fn fingerprint_follows_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"one").unwrap();
        let f1 = fingerprint_path(dir.path()).unwrap();
        assert_eq!(f1, fingerprint_path(dir.path()).unwrap());
        std::fs::write(dir.path().join("a.txt"), b"two").unwrap();
        assert_ne!(f1, fingerprint_path(dir.path()).unwrap());
        assert!(fingerprint_path(&dir.path().join("missing")).is_err());
    }
}
