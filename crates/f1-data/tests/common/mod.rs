//! Helpers shared by the integration tests: where the shared data lives, and one
//! imported knowledge base per test binary.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::sync::OnceLock;

/// `../shared/data` beside the repository, or `$F1AI_SHARED_DATA`.
pub fn shared_data() -> PathBuf {
    let dir = std::env::var_os("F1AI_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(
        dir.join("ergast/races.csv").is_file(),
        "the shared Ergast data is not at {} (set F1AI_SHARED_DATA)",
        dir.display()
    );
    dir
}

pub fn ergast_dir() -> PathBuf {
    shared_data().join("ergast")
}

/// A knowledge base imported from the real Ergast tables, built once per binary.
pub fn imported_db() -> PathBuf {
    static DB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("f1.sqlite");
        f1_data::import_ergast(&ergast_dir(), &db).expect("import of the shared Ergast data");
        (dir, db)
    })
    .1
    .clone()
}
