//! Writing a file whole or not at all: into a temporary file beside it, then
//! renamed into place.

use std::path::Path;

use crate::error::{Error, Result};

/// Writes `path` through `write`, which gets a temporary path in the same
/// folder; `path` appears (or is replaced) only when `write` succeeded. The file
/// is readable by everyone, as one written in place under the usual umask would
/// be (temporary files are created private).
pub fn write_staged(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let staging = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    write(staging.path())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(staging.path(), e))?;
    }
    staging
        .persist(path)
        .map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Writes `bytes` to `path` as [`write_staged`] does; errors name `path`.
pub fn write_bytes_staged(path: &Path, bytes: &[u8]) -> Result<()> {
    write_staged(path, |staging| {
        std::fs::write(staging, bytes).map_err(|e| Error::io(path, e))
    })
}

/// Copies `from` to `to` as [`write_staged`] writes.
pub fn copy_staged(from: &Path, to: &Path) -> Result<()> {
    write_staged(to, |staging| {
        std::fs::copy(from, staging)
            .map(drop)
            .map_err(|e| Error::io(from, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        std::fs::write(&path, "old").unwrap();
        let failed = write_staged(&path, |p| {
            std::fs::write(p, "half").unwrap();
            Err(Error::Tokenizer("broken".into()))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_staged(&path, |p| {
            std::fs::write(p, "new").map_err(|e| Error::io(p, e))
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
    }
}
