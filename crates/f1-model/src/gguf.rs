//! GGUF metadata, read with candle's GGUF parser.

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};

use crate::error::{Error, Result};

/// A GGUF file's metadata (its tensors are left on disk).
pub struct GgufMetadata {
    path: PathBuf,
    content: Content,
}

impl GgufMetadata {
    pub fn read(path: &Path) -> Result<Self> {
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let content = Content::read(&mut file).map_err(|e| Error::Gguf {
            path: path.to_path_buf(),
            message: format!("not a readable GGUF file: {e}"),
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            content,
        })
    }

    /// The file this metadata came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parsed header, for reading tensors.
    pub(crate) fn content(&self) -> &Content {
        &self.content
    }

    /// An error about this file.
    pub(crate) fn invalid(&self, message: impl std::fmt::Display) -> Error {
        self.error(message.to_string())
    }

    fn error(&self, message: String) -> Error {
        Error::Gguf {
            path: self.path.clone(),
            message,
        }
    }

    /// One key's raw value.
    pub fn value(&self, key: &str) -> Result<&Value> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| self.error(format!("metadata key '{key}' is missing")))
    }

    pub fn has(&self, key: &str) -> bool {
        self.content.metadata.contains_key(key)
    }

    pub fn string(&self, key: &str) -> Result<String> {
        self.value(key)?
            .to_string()
            .cloned()
            .map_err(|e| self.error(format!("'{key}': {e}")))
    }

    pub fn u32(&self, key: &str) -> Result<u32> {
        self.value(key)?
            .to_u32()
            .map_err(|e| self.error(format!("'{key}': {e}")))
    }

    pub fn f32(&self, key: &str) -> Result<f32> {
        self.value(key)?
            .to_f32()
            .map_err(|e| self.error(format!("'{key}': {e}")))
    }

    /// A float key, `default` when absent.
    pub fn f32_or(&self, key: &str, default: f32) -> Result<f32> {
        if self.has(key) {
            self.f32(key)
        } else {
            Ok(default)
        }
    }

    /// A boolean key, `default` when absent.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.content.metadata.get(key) {
            None => Ok(default),
            Some(v) => v.to_bool().map_err(|e| self.error(format!("'{key}': {e}"))),
        }
    }

    fn array(&self, key: &str) -> Result<&Vec<Value>> {
        self.value(key)?
            .to_vec()
            .map_err(|e| self.error(format!("'{key}': {e}")))
    }

    pub fn strings(&self, key: &str) -> Result<Vec<String>> {
        self.array(key)?
            .iter()
            .map(|v| v.to_string().cloned())
            .collect::<candle_core::Result<_>>()
            .map_err(|e| self.error(format!("'{key}': {e}")))
    }

    pub fn f32s(&self, key: &str) -> Result<Vec<f32>> {
        self.array(key)?
            .iter()
            .map(Value::to_f32)
            .collect::<candle_core::Result<_>>()
            .map_err(|e| self.error(format!("'{key}': {e}")))
    }

    pub fn i32s(&self, key: &str) -> Result<Vec<i32>> {
        self.array(key)?
            .iter()
            .map(Value::to_i32)
            .collect::<candle_core::Result<_>>()
            .map_err(|e| self.error(format!("'{key}': {e}")))
    }
}
