//! Writing result files atomically: a temp file beside the target, then a rename.

use std::path::Path;

use anyhow::Result;

/// Writes `text` to `path` through a temp file and a rename.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    Ok(f1_files::write(path, text.as_bytes())?)
}

/// Writes pretty JSON to `path` atomically and says so.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    write_text(path, &serde_json::to_string_pretty(value)?)?;
    println!("wrote {}", path.display());
    Ok(())
}
