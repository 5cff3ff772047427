//! Every judgment kept by (judge model, prompt hash) in a JSONL file, so a rerun
//! asks the judge nothing it has already answered.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::prompt::Message;
use crate::error::{Error, Result};

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    judge: String,
    prompt_sha256: String,
    output: String,
}

/// The judgments already made.
pub struct Cache {
    path: PathBuf,
    entries: HashMap<(String, String), String>,
}

/// The hash that keys a prompt.
pub fn prompt_hash(messages: &[Message]) -> String {
    let mut hasher = Sha256::new();
    for (role, content) in messages {
        hasher.update(role.as_bytes());
        hasher.update([0]);
        hasher.update(content.as_bytes());
        hasher.update([0]);
    }
    format!("{:x}", hasher.finalize())
}

impl Cache {
    /// Opens (or starts) the cache at `path`; a line that does not parse is an
    /// error naming the file and line.
    pub fn open(path: &Path) -> Result<Self> {
        let mut entries = HashMap::new();
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            for (n, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let entry: Entry = serde_json::from_str(line).map_err(|e| Error::Line {
                    path: path.to_path_buf(),
                    line: n + 1,
                    message: e.to_string(),
                })?;
                entries.insert((entry.judge, entry.prompt_sha256), entry.output);
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            entries,
        })
    }

    pub fn get(&self, judge: &str, hash: &str) -> Option<&str> {
        self.entries
            .get(&(judge.to_string(), hash.to_string()))
            .map(String::as_str)
    }

    /// Records a judgment; appended at once so an interrupted run keeps it.
    pub fn put(&mut self, judge: &str, hash: &str, output: &str) -> Result<()> {
        let entry = Entry {
            judge: judge.to_string(),
            prompt_sha256: hash.to_string(),
            output: output.to_string(),
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        writeln!(
            file,
            "{}",
            serde_json::to_string(&entry).expect("serializable")
        )
        .map_err(|e| Error::io(&self.path, e))?;
        self.entries
            .insert((entry.judge, entry.prompt_sha256), entry.output);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
