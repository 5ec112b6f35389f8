//! Documents and dataset splits.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A dataset split, as in M2D2 (`train.txt`, `valid.txt`, `test.txt`) and Dolma-style layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training data.
    Train,
    /// Validation data (`valid`, also accepted as `validation`, `dev`, `val`).
    Valid,
    /// Test data.
    Test,
}

impl Split {
    /// All splits in their canonical order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Valid, Split::Test];

    /// The canonical file stem: `train`, `valid` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "train" => Ok(Split::Train),
            "valid" | "validation" | "dev" | "val" => Ok(Split::Valid),
            "test" => Ok(Split::Test),
            other => Err(crate::Error::InvalidInput(format!(
                "unknown split {other:?} (expected train, valid or test)"
            ))),
        }
    }
}

/// Where a document came from: a file and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The file the document was read from.
    pub path: PathBuf,
    /// 1-based line number where the document starts.
    pub line: usize,
}

/// One document of a corpus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Identifier, unique within its source and split (the JSONL `id`, or a generated one).
    pub id: String,
    /// The UTF-8 text.
    pub text: String,
    /// Where it was read from, when it came from a file.
    pub origin: Option<Origin>,
}

impl Document {
    /// A document with no file origin.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Document {
            id: id.into(),
            text: text.into(),
            origin: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_round_trips_and_accepts_aliases() {
        for s in Split::ALL {
            assert_eq!(s.as_str().parse::<Split>().unwrap(), s);
        }
        assert_eq!("validation".parse::<Split>().unwrap(), Split::Valid);
        assert!("training".parse::<Split>().is_err());
    }
}
