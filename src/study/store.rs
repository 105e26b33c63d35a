//! Where a study's stages keep their outputs: one folder per stage, named by the hash of what
//! makes it (its kind, its settings and the hashes of the stages it starts from). Two cells, or
//! two studies, that need the same stage find it done; a stage is done once its `done.json` is
//! written, last and atomically, so a stage killed half-way is simply run again (a training
//! stage resumes from its last checkpoint).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The file that marks a stage done.
pub const DONE: &str = "done.json";
/// The file that records what a stage is.
pub const SPEC: &str = "stage.json";

/// A folder of stages.
#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

/// A stage's address in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub kind: &'static str,
    pub hash: String,
    pub dir: PathBuf,
}

impl Store {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// The address of the stage of `kind` that `spec` describes.
    pub fn address(&self, kind: &'static str, spec: &impl Serialize) -> Result<Address> {
        let json = serde_json::to_vec(spec).map_err(|e| Error::Serialize(e.to_string()))?;
        let mut h = Sha256::new();
        h.update(kind.as_bytes());
        h.update([0]);
        h.update(&json);
        let hash: String = h
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Address {
            kind,
            dir: self.root.join(format!("{kind}-{hash}")),
            hash,
        })
    }

    /// What identifies an input file: a file a stage wrote, by its place in the store (its
    /// stage's address names its content, and it may not exist yet when the study is planned);
    /// any other, by its path, size and time of change.
    pub fn identity(&self, path: &Path) -> String {
        match path.strip_prefix(&self.root) {
            Ok(inside) => format!("store:{}", inside.to_string_lossy().replace('\\', "/")),
            Err(_) => super::stages::fingerprint(path),
        }
    }
}

impl Address {
    pub fn is_done(&self) -> bool {
        self.dir.join(DONE).is_file()
    }

    /// Creates the folder and records the stage's spec in it.
    pub fn begin(&self, spec: &impl Serialize) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        write_json(&self.dir.join(SPEC), spec)
    }

    /// Marks the stage done with what it reports.
    pub fn finish(&self, report: &impl Serialize) -> Result<()> {
        write_json(&self.dir.join(DONE), report)
    }

    /// What the stage reported when it finished.
    pub fn report<T: DeserializeOwned>(&self) -> Result<T> {
        read_json(&self.dir.join(DONE))
    }
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Serialize(e.to_string()))?;
    crate::fsx::write_atomic(path, text.as_bytes())
}

/// Reads a JSON file, naming it when it is not what was expected.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::bad_file(path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_follows_the_spec_and_the_kind() {
        let store = Store::new(Path::new("s"));
        let a = store.address("pretrain", &("x", 1)).unwrap();
        assert_eq!(a, store.address("pretrain", &("x", 1)).unwrap());
        assert_ne!(a.hash, store.address("pretrain", &("x", 2)).unwrap().hash);
        assert_ne!(a.hash, store.address("sft", &("x", 1)).unwrap().hash);
        assert!(a.dir.ends_with(format!("pretrain-{}", a.hash)));
        assert_eq!(a.hash.len(), 16);
        // A stage's output is known by its place in the store, whether or not it exists yet.
        let made = store.root.join("world-0011/corpus/zh.txt");
        assert_eq!(store.identity(&made), "store:world-0011/corpus/zh.txt");
        assert!(
            store
                .identity(Path::new("elsewhere.txt"))
                .ends_with(":missing")
        );
    }
}
