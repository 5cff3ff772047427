//! JSON Lines: one value per non-blank line, a bad line named by file and number.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Every non-blank line of `text` (read from `path`) as a `T`.
pub(crate) fn parse_lines<T: DeserializeOwned>(text: &str, path: &Path) -> Result<Vec<T>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|e| Error::Input {
                path: path.to_path_buf(),
                line: index + 1,
                message: e.to_string(),
            })
        })
        .collect()
}
