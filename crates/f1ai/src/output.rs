//! Writing result files atomically: a temp file beside the target, then a rename.

use std::path::Path;

use anyhow::{Context, Result};

/// Writes `text` to `path` through a temp file and a rename.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no folder", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    f1_model::staged::write_bytes_staged(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes pretty JSON to `path` atomically and says so.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    write_text(path, &serde_json::to_string_pretty(value)?)?;
    println!("wrote {}", path.display());
    Ok(())
}
