//! Writing files whole or not at all: into a temporary file in the target's
//! folder, then renamed into place, so a killed process never leaves half a
//! file and a reader sees the old file or the new one. Every crate writes its
//! results through here.

pub mod stale;

use std::io::Write;
use std::path::{Path, PathBuf};

/// The names of [`write_with`]'s temporary files.
const STAGING_PREFIX: &str = ".f1-staging-";

/// A file or folder that could not be written; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct Error {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl Error {
    fn at(path: &Path, source: std::io::Error) -> Self {
        Self {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Writes `path` through `write`, which gets a temporary path in the same folder
/// (created if missing); `path` appears, or is replaced, only when `write`
/// succeeded. The file is readable by everyone, as one written in place under
/// the usual umask would be (temporary files are created private).
pub fn write_with<E: From<Error>>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let staging = staging_file(path)?;
    write(staging.path())?;
    persist(staging, path)?;
    Ok(())
}

/// Writes `bytes` to `path` (see [`write_with`]).
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_all(&[(path, bytes)])
}

/// Copies `from` to `to` (see [`write_with`]).
pub fn copy(from: &Path, to: &Path) -> Result<(), Error> {
    write_with(to, |staging| {
        std::fs::copy(from, staging)
            .map(drop)
            .map_err(|e| Error::at(from, e))
    })
}

/// Writes several files, each `(path, bytes)`, renaming them into place only
/// after every one was written in full: a failed write leaves all of them as
/// they were.
pub fn write_all<P: AsRef<Path>, B: AsRef<[u8]>>(files: &[(P, B)]) -> Result<(), Error> {
    let mut staged = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        let path = path.as_ref();
        let mut staging = staging_file(path)?;
        staging
            .write_all(bytes.as_ref())
            .map_err(|e| Error::at(path, e))?;
        staged.push((staging, path));
    }
    for (staging, path) in staged {
        persist(staging, path)?;
    }
    Ok(())
}

fn staging_file(path: &Path) -> Result<tempfile::NamedTempFile, Error> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::at(dir, e))?;
    stale::sweep(dir, &[STAGING_PREFIX]);
    let staging = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| Error::at(dir, e))?;
    stale::lock(staging.as_file(), staging.path())?;
    Ok(staging)
}

fn persist(staging: tempfile::NamedTempFile, path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::at(path, e))?;
    }
    staging
        .persist(path)
        .map_err(|e| Error::at(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_a_failed_write_leaves_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/out.txt");
        write(&path, b"first").unwrap();
        write(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }

        let failed: Result<(), Error> = write_with(&path, |staging| {
            std::fs::write(staging, b"half").unwrap();
            Err(Error::at(staging, std::io::Error::other("disk full")))
        });
        assert!(failed.unwrap_err().to_string().contains("disk full"));
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no staging file is left behind");
    }

    #[test]
    fn several_files_appear_only_when_all_were_written() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        write(&a, b"old").unwrap();
        // The second file's folder cannot be made (a file has its name), so its
        // write fails before anything is renamed.
        let blocked = dir.path().join("blocked");
        std::fs::write(&blocked, b"a file where a folder should be").unwrap();
        let inside = blocked.join("b.json");
        let error =
            write_all(&[(a.as_path(), b"new".as_slice()), (inside.as_path(), b"b")]).unwrap_err();
        assert!(error.to_string().contains("blocked"), "{error}");
        assert_eq!(std::fs::read(&a).unwrap(), b"old", "a was not replaced");

        write_all(&[
            (a.as_path(), b"new".as_slice()),
            (dir.path().join("c.json").as_path(), b"c"),
        ])
        .unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new");
    }

    #[test]
    fn a_copy_names_a_missing_source() {
        let dir = tempfile::tempdir().unwrap();
        let error = copy(
            &dir.path().join("missing.gguf"),
            &dir.path().join("copy.gguf"),
        )
        .unwrap_err();
        assert!(error.to_string().contains("missing.gguf"), "{error}");
        assert!(!dir.path().join("copy.gguf").exists());
    }
}
