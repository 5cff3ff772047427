//! Writing result files atomically: a temp file beside the target, then a rename.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `text` to `path` through a temp file and a rename.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no folder", path.display()))?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(text.as_bytes())?;
    temp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Writes pretty JSON to `path` atomically and says so.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    write_text(path, &serde_json::to_string_pretty(value)?)?;
    println!("wrote {}", path.display());
    Ok(())
}
