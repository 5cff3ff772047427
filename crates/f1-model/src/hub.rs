//! Models from the Hugging Face hub, by id (`org/name`), downloaded only when
//! asked (`f1ai models fetch org/name`) with the hf-hub crate into its cache,
//! which Python's huggingface_hub shares (`HF_HOME`; `HF_ENDPOINT` names another
//! server). Afterwards the id resolves to the cached folder without network.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Cache, Repo};

use crate::error::{Error, Result};
use crate::fetch::{sha256_file, Fetched};
use crate::transformer::Transformer;

/// The files of a model repository that loading and training read; a model's
/// own weights are model.safetensors or the shards of its index.
const WANTED: &[&str] = &[
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "tokenizer.model",
    "model.safetensors.index.json",
];

/// Whether `text` has the form of a hub model id: `org/name`, each part made of
/// letters, digits, `-`, `_` and `.`, not starting with `.`.
pub fn is_model_id(text: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(text.split_once('/'), Some((org, name)) if part(org) && part(name))
}

/// The downloaded folder of `id` in the hub cache (its newest `main`), if its
/// config.json is there.
pub fn cached(id: &str) -> Option<PathBuf> {
    Cache::from_env()
        .repo(Repo::model(id.to_string()))
        .get("config.json")
        .and_then(|config| config.parent().map(Path::to_path_buf))
}

/// The ids whose complete folders (config, tokenizer, weights) are in the hub
/// cache, sorted, with their folders.
pub fn fetched() -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(Cache::from_env().path()) else {
        return Vec::new();
    };
    let mut models: Vec<(String, PathBuf)> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let (org, model) = name.strip_prefix("models--")?.split_once("--")?;
            let id = format!("{org}/{model}");
            let folder = cached(&id).filter(|f| is_complete(f))?;
            Some((id, folder))
        })
        .collect();
    models.sort();
    models
}

/// Makes the model files of `id` (config, tokenizer, safetensors) present in
/// the hub cache: a complete folder there is used as it is, without network;
/// otherwise the missing files are downloaded and each weight file is checked
/// against its sha256 (the hub's LFS etag).
pub fn fetch(id: &str) -> Result<Fetched> {
    if let Some(folder) = cached(id).filter(|f| is_complete(f)) {
        return Ok(Fetched::AlreadyThere(folder));
    }
    let mut builder = ApiBuilder::from_env().with_progress(true);
    if let Ok(token) = std::env::var("HF_TOKEN") {
        builder = builder.with_token(Some(token));
    }
    let api = builder.build().map_err(|e| hub_error(id, e))?;
    let repo = api.model(id.to_string());
    let info = repo.info().map_err(|e| hub_error(id, e))?;
    let files: Vec<&str> = info
        .siblings
        .iter()
        .map(|s| s.rfilename.as_str())
        .filter(|name| WANTED.contains(name) || is_weight_file(name))
        .collect();
    for required in ["config.json", "tokenizer.json"] {
        if !files.contains(&required) {
            return Err(Error::Hub {
                id: id.to_string(),
                message: format!("the repository has no {required}"),
            });
        }
    }
    if !files.iter().any(|name| is_weight_file(name)) {
        return Err(Error::Hub {
            id: id.to_string(),
            message: "the repository has no safetensors weights".into(),
        });
    }
    let mut folder = None;
    for name in files {
        tracing::info!(id, file = name, "hub download");
        let path = repo.get(name).map_err(|e| hub_error(id, e))?;
        if is_weight_file(name) {
            verify_lfs_blob(&path)?;
        }
        folder = path.parent().map(Path::to_path_buf);
    }
    Ok(Fetched::Downloaded(
        folder.expect("at least config.json was downloaded"),
    ))
}

/// A folder with the configuration, the weights and tokenizer.json.
fn is_complete(folder: &Path) -> bool {
    Transformer::is_hugging_face_folder(folder) && folder.join("tokenizer.json").is_file()
}

/// A top-level safetensors file (sharded files sit beside their index).
fn is_weight_file(name: &str) -> bool {
    !name.contains('/') && name.ends_with(".safetensors")
}

/// The cache names a large (LFS) file's blob by its sha256: checks the file
/// against it.
fn verify_lfs_blob(path: &Path) -> Result<()> {
    let blob = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let Some(expected) = blob.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    if expected.len() != 64 || !expected.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(());
    }
    let actual = sha256_file(&blob)?;
    if actual != expected {
        let _ = std::fs::remove_file(&blob);
        return Err(Error::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

fn hub_error(id: &str, error: ApiError) -> Error {
    let message = match &error {
        ApiError::RequestError(request) => match request.as_ref() {
            ureq::Error::Status(401 | 403 | 404, _) => {
                format!("no such model on the hub, or it is gated (set HF_TOKEN): {request}")
            }
            ureq::Error::Status(..) => format!("the hub refused: {request}"),
            ureq::Error::Transport(_) => {
                let endpoint = std::env::var("HF_ENDPOINT")
                    .unwrap_or_else(|_| "https://huggingface.co".to_string());
                format!(
                    "cannot reach the Hugging Face hub at {endpoint} ({request}); downloading \
                     a model by id needs network access to it; offline, use a registered \
                     model (f1ai models fetch smollm2) or a local folder"
                )
            }
        },
        other => other.to_string(),
    };
    Error::Hub {
        id: id.to_string(),
        message,
    }
}
