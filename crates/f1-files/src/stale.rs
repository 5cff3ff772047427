//! Leftovers of killed runs. Every temporary file and staging folder our
//! writers create is locked (an advisory `flock`) for as long as it is being
//! written; the lock dies with its process. One whose lock can be taken
//! belongs to no live writer, so the next run removes it.

use std::fs::{File, TryLockError};
use std::path::Path;

use crate::Error;

/// Marks `path` (a file or folder being written) as in use until the returned
/// handle is dropped: keep it until the path is renamed into place or removed.
pub fn claim(path: &Path) -> Result<File, Error> {
    let file = File::open(path).map_err(|e| Error::at(path, e))?;
    lock(&file, path)?;
    Ok(file)
}

/// Locks an open handle of a file being written, as [`claim`] does.
pub fn lock(file: &File, path: &Path) -> Result<(), Error> {
    file.try_lock().map_err(|e| match e {
        TryLockError::Error(e) => Error::at(path, e),
        TryLockError::WouldBlock => Error::at(
            path,
            std::io::Error::other("already claimed by another writer"),
        ),
    })
}

/// Removes the entries of `dir` whose names start with one of `prefixes` and
/// that no live process holds, and returns how many. An entry that cannot be
/// opened or removed is left alone (and logged): sweeping never fails a run.
pub fn sweep(dir: &Path, prefixes: &[&str]) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let path = entry.path();
        // Open fails for a folder on some systems: it is then kept.
        let Ok(handle) = File::open(&path) else {
            continue;
        };
        if handle.try_lock().is_err() {
            continue;
        }
        let gone = match entry.file_type() {
            Ok(kind) if kind.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        match gone {
            Ok(()) => {
                tracing::info!(path = %path.display(), "removed what a killed run left");
                removed += 1;
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "could not remove a stale leftover")
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unclaimed_leftovers_with_our_prefixes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".f1-staging-killed");
        std::fs::write(&file, b"half").unwrap();
        let folder = dir.path().join(".staging-killed");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("parameters.safetensors"), b"half").unwrap();
        let live_file = dir.path().join(".f1-staging-live");
        std::fs::write(&live_file, b"being written").unwrap();
        let live_folder = dir.path().join(".staging-live");
        std::fs::create_dir(&live_folder).unwrap();
        let other = dir.path().join("results.json");
        std::fs::write(&other, b"{}").unwrap();

        let held = (claim(&live_file).unwrap(), claim(&live_folder).unwrap());
        assert!(
            claim(&live_file).is_err(),
            "a claimed path cannot be claimed twice"
        );
        let removed = sweep(dir.path(), &[".f1-staging-", ".staging-"]);
        assert_eq!(removed, 2);
        assert!(!file.exists() && !folder.exists());
        assert!(live_file.exists() && live_folder.exists() && other.exists());

        drop(held);
        assert_eq!(sweep(dir.path(), &[".f1-staging-", ".staging-"]), 2);
        assert!(other.exists());
        assert_eq!(sweep(&dir.path().join("missing"), &[".staging-"]), 0);
    }
}
