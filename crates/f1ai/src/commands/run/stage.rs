//! One step of the study and its ledger: a stage is skipped when the
//! fingerprint of its command line and input files matches the one recorded
//! when it last finished and its outputs exist. Files are hashed with sha256;
//! a hash is reused while the file's size and modification time are unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::output::write_text;

/// One step: an `f1ai` command line, what it reads and what it must leave.
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: String,
    /// Arguments after `f1ai --workspace W`.
    pub argv: Vec<String>,
    /// Files or folders (every file under them) whose content the result depends on.
    pub inputs: Vec<PathBuf>,
    /// Files that must exist for the stage to count as done.
    pub outputs: Vec<PathBuf>,
    /// A training stage: an interrupted attempt with the same fingerprint is
    /// continued with `--resume` from its checkpoints (in this folder); a
    /// different fingerprint discards them.
    pub checkpoints: Option<PathBuf>,
}

/// What the ledger holds about a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamp {
    pub fingerprint: String,
    pub finished: bool,
    #[serde(default)]
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileHash {
    len: u64,
    modified_ns: u128,
    sha256: String,
}

/// How the stage must run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Unchanged and finished: nothing to do.
    Skip,
    /// Continue an interrupted training run.
    Resume,
    /// Run from the start.
    Run,
}

/// results/run/: a stamp per stage and the file-hash cache.
pub struct Ledger {
    dir: PathBuf,
    hashes: BTreeMap<String, FileHash>,
}

fn files_under(path: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()?;
        entries.sort();
        for entry in entries {
            files_under(&entry, files)?;
        }
    } else if path.is_file() {
        files.push(path.to_path_buf());
    }
    Ok(())
}

impl Ledger {
    pub fn open(dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(dir.join("stages"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let cache = dir.join("hashes.json");
        let hashes = match std::fs::read_to_string(&cache) {
            // A cache that does not parse is only a cache: start it again.
            Ok(text) => serde_json::from_str(&text).unwrap_or_default(),
            Err(_) => BTreeMap::new(),
        };
        Ok(Self { dir, hashes })
    }

    fn stamp_path(&self, stage: &str) -> PathBuf {
        self.dir.join("stages").join(format!("{stage}.json"))
    }

    pub fn stamp(&self, stage: &str) -> Option<Stamp> {
        let text = std::fs::read_to_string(self.stamp_path(stage)).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn record(&mut self, stage: &str, stamp: &Stamp) -> Result<()> {
        write_text(
            &self.stamp_path(stage),
            &serde_json::to_string_pretty(stamp)?,
        )?;
        write_text(
            &self.dir.join("hashes.json"),
            &serde_json::to_string(&self.hashes)?,
        )
    }

    fn file_hash(&mut self, path: &Path) -> Result<String> {
        let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let key = path.display().to_string();
        if let Some(known) = self.hashes.get(&key) {
            if known.len == meta.len() && known.modified_ns == modified_ns {
                return Ok(known.sha256.clone());
            }
        }
        let sha256 = f1_model::fetch::sha256_file(path)?;
        self.hashes.insert(
            key,
            FileHash {
                len: meta.len(),
                modified_ns,
                sha256: sha256.clone(),
            },
        );
        Ok(sha256)
    }

    /// The sha256 of the stage's command line and every input file's path and content.
    pub fn fingerprint(&mut self, stage: &Stage) -> Result<String> {
        let mut hasher = Sha256::new();
        hasher.update(env!("CARGO_PKG_VERSION"));
        for arg in &stage.argv {
            hasher.update(arg.as_bytes());
            hasher.update([0]);
        }
        let mut files = Vec::new();
        for input in &stage.inputs {
            files_under(input, &mut files)?;
        }
        for file in files {
            hasher.update(file.display().to_string().as_bytes());
            hasher.update(self.file_hash(&file)?.as_bytes());
        }
        Ok(hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    /// What to do with `stage` given its current fingerprint.
    pub fn plan(&self, stage: &Stage, fingerprint: &str) -> Plan {
        match self.stamp(&stage.name) {
            Some(s) if s.fingerprint == fingerprint && s.finished => {
                if stage.outputs.iter().all(|o| o.exists()) {
                    Plan::Skip
                } else {
                    Plan::Run
                }
            }
            Some(s)
                if s.fingerprint == fingerprint
                    && stage.checkpoints.as_ref().is_some_and(|c| c.is_dir()) =>
            {
                Plan::Resume
            }
            _ => Plan::Run,
        }
    }
}
