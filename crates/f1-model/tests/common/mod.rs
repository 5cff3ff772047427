//! Where the integration tests find the real models and the golden files.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

/// Fetches (once per machine) and returns a registered model file. Models live in
/// `$F1AI_MODEL_CACHE`, or `~/.cache/f1-conversational-ai/models`.
pub fn model(name: &str) -> PathBuf {
    let dir = f1_model::fetch::default_cache_dir().expect("HOME or F1AI_MODEL_CACHE is set");
    let spec = f1_model::registry::find(name).unwrap();
    f1_model::fetch::ensure(spec, &dir, None)
        .unwrap_or_else(|e| panic!("fetching {name}: {e}"))
        .path()
        .to_path_buf()
}

/// `../shared/golden` beside the repository, or `$F1AI_SHARED_GOLDEN`.
pub fn golden() -> PathBuf {
    std::env::var_os("F1AI_SHARED_GOLDEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden"))
}
