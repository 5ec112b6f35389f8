//! Line-by-line reading of plain, gzip and zstd files.

use crate::error::{CorpusError, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Compression of a file, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub(crate) fn of(path: &Path) -> Compression {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.ends_with(".gz") {
            Compression::Gzip
        } else if name.ends_with(".zst") || name.ends_with(".zstd") {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

const READ_BUFFER: usize = 1 << 20;

/// Open `path` for buffered reading, decompressing `.gz` (multi-member, as Dolma writes) and
/// `.zst` files on the fly.
pub(crate) fn open_reader(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let file = File::open(path).map_err(|e| CorpusError::io(path, e))?;
    let reader: Box<dyn Read + Send> = match Compression::of(path) {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file))),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(file).map_err(|e| CorpusError::io(path, e))?)
        }
    };
    Ok(Box::new(BufReader::with_capacity(READ_BUFFER, reader)))
}

/// Streams the lines of one file; the line terminator (`\n` or `\r\n`) is removed.
pub(crate) struct Lines {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    line: usize,
    /// The current line's bytes.
    pub(crate) buf: Vec<u8>,
}

impl Lines {
    pub(crate) fn open(path: &Path) -> Result<Lines> {
        Ok(Lines {
            path: path.to_path_buf(),
            reader: open_reader(path)?,
            line: 0,
            buf: Vec::with_capacity(1 << 16),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Read the next line into `buf`; returns its 1-based number, or `None` at the end.
    pub(crate) fn advance(&mut self) -> Result<Option<usize>> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| CorpusError::io(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        self.line += 1;
        Ok(Some(self.line))
    }

    /// The current line as UTF-8.
    pub(crate) fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.buf).map_err(|source| CorpusError::InvalidUtf8 {
            path: self.path.clone(),
            line: self.line,
            source,
        })
    }
}
