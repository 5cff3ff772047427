//! Which models `chat`, `serve` and `bench serve` offer: names resolved against
//! the registry and the workspace's artifacts.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use f1_serve::catalog::ModelSource;

use crate::workspace::{hub_model, registered_names, Workspace};

/// The sources for `models` (each a registered name, a run under
/// models/artifacts/, a GGUF path or an artifact folder), plus `adapter` on the
/// first model. With no `models`, SmolLM2 and every run in models/artifacts/.
pub fn sources(
    workspace: &Workspace,
    models: &[String],
    adapter: Option<&Path>,
) -> Result<Vec<ModelSource>> {
    let mut sources = Vec::new();
    if models.is_empty() {
        sources.push(resolve(workspace, "smollm2")?);
        for run in artifact_runs(workspace)? {
            match resolve(workspace, &run) {
                Ok(source) => sources.push(source),
                Err(error) => tracing::warn!(run, "not served: {error:#}"),
            }
        }
    } else {
        for model in models {
            sources.push(resolve(workspace, model)?);
        }
    }
    if let Some(adapter) = adapter {
        let base = sources[0].weights.clone();
        sources.push(ModelSource {
            id: folder_name(adapter),
            weights: base,
            adapter: Some(adapter.to_path_buf()),
        });
    }
    Ok(sources)
}

/// Runs in models/artifacts/ that hold an adapter or a GGUF, sorted.
fn artifact_runs(workspace: &Workspace) -> Result<Vec<String>> {
    let dir = workspace.artifacts_dir();
    let mut runs = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.join("adapter_config.json").is_file() || path.join("model.gguf").is_file() {
            runs.push(folder_name(&path));
        }
    }
    runs.sort();
    Ok(runs)
}

fn folder_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// A model as `baseline` labels its predictions: the base model's name and the
/// method (`base`, `lora` or `full`).
pub struct Labelled {
    pub source: ModelSource,
    pub model: String,
    pub method: &'static str,
}

impl Labelled {
    /// The fine-tuned model's own name (its run's folder, or `<model>-lora` for
    /// an adapter given with --adapter); None for a pretrained model.
    pub fn run(&self) -> Option<String> {
        match self.method {
            "base" => None,
            _ if self.source.id == self.model => Some(format!("{}-{}", self.model, self.method)),
            _ => Some(self.source.id.clone()),
        }
    }

    /// The stem of its predictions files before `-<mode>`: `<model>-base` for a
    /// pretrained model, the run's name for a fine-tuned one.
    pub fn predictions_stem(&self) -> String {
        self.run()
            .unwrap_or_else(|| format!("{}-{}", self.model, self.method))
    }
}

/// Resolves `model` as [`sources`] does, with `adapter` put on it, and labels it.
pub fn labelled(workspace: &Workspace, model: &str, adapter: Option<&Path>) -> Result<Labelled> {
    let mut source = resolve(workspace, model)?;
    if let Some(adapter) = adapter {
        ensure!(
            source.adapter.is_none(),
            "{model} already carries an adapter; --adapter adds one to a plain model"
        );
        source.adapter = Some(adapter.to_path_buf());
        // Whether the adapter fits is checked when it is attached.
        let model = match f1_model::registry::find(model) {
            Ok(spec) => spec.name.to_string(),
            Err(_) => source.id.clone(),
        };
        return Ok(Labelled {
            source,
            model,
            method: "lora",
        });
    }
    if let Some(adapter) = &source.adapter {
        let config = f1_train::peft::read_adapter_config(adapter)?;
        let base = &config.base_model_name_or_path;
        let model = match registered_base(base) {
            Some(name) => name.to_string(),
            None => model_label(base),
        };
        return Ok(Labelled {
            source,
            model,
            method: "lora",
        });
    }
    if f1_model::registry::find(model).is_ok() {
        return Ok(Labelled {
            source,
            model: model.to_string(),
            method: "base",
        });
    }
    // A fine-tuned model's training summary names its base model; a GGUF
    // without one is a pretrained model of its own name.
    // A full run's artifacts folder is the model (Hugging Face) or holds it (GGUF).
    let run_dir = match source.weights.is_dir() {
        true => Some(source.weights.as_path()),
        false => source.weights.parent(),
    };
    let summary_path = run_dir
        .map(|dir| dir.join(f1_train::trainer::SUMMARY_FILE))
        .filter(|path| path.is_file());
    let Some(path) = summary_path else {
        return Ok(Labelled {
            model: source.id.clone(),
            source,
            method: "base",
        });
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let summary: f1_train::metrics::RunSummary =
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    Ok(Labelled {
        source,
        model: model_label(&summary.model),
        method: "full",
    })
}

/// How predictions name a model: its registry name, a folder's name or a GGUF
/// path's file stem.
pub fn model_label(model: &str) -> String {
    if let Ok(spec) = f1_model::registry::find(model) {
        return spec.name.to_string();
    }
    let path = Path::new(model);
    let name = match path.is_dir() {
        true => path.file_name(),
        false => path.file_stem(),
    };
    name.map_or_else(|| model.to_string(), |s| s.to_string_lossy().into_owned())
}

/// The registered model whose Hugging Face repository is `hugging_face`.
fn registered_base(hugging_face: &str) -> Option<&'static str> {
    f1_model::registry::MODELS
        .iter()
        .find(|m| m.hugging_face == hugging_face)
        .map(|m| m.name)
}

/// The base model the PEFT adapter in `adapter` names: a registered model's
/// Hugging Face repository (its GGUF, fetched if missing), or whatever
/// [`Workspace::model_path`] takes.
pub fn adapter_base(workspace: &Workspace, adapter: &Path) -> Result<PathBuf> {
    let config = f1_train::peft::read_adapter_config(adapter)?;
    let base = &config.base_model_name_or_path;
    match registered_base(base) {
        Some(name) => workspace.base_model(name),
        None => workspace.model_path(base).with_context(|| {
            format!(
                "{}: the adapter's base_model_name_or_path; name the base with --model",
                adapter.display()
            )
        }),
    }
}

fn resolve(workspace: &Workspace, model: &str) -> Result<ModelSource> {
    if f1_model::registry::find(model).is_ok() {
        return Ok(ModelSource {
            id: model.to_string(),
            weights: workspace.base_model(model)?,
            adapter: None,
        });
    }
    let run = workspace.artifacts(model);
    let path = if run.is_dir() {
        run
    } else {
        PathBuf::from(model)
    };
    if path.is_file() {
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| model.to_string());
        return Ok(ModelSource {
            id,
            weights: path,
            adapter: None,
        });
    }
    if path.join("model.gguf").is_file() {
        return Ok(ModelSource {
            id: folder_name(&path),
            weights: path.join("model.gguf"),
            adapter: None,
        });
    }
    if f1_model::transformer::Transformer::is_hugging_face_folder(&path) {
        return Ok(ModelSource {
            id: folder_name(&path),
            weights: path,
            adapter: None,
        });
    }
    if path.join("adapter_config.json").is_file() {
        return Ok(ModelSource {
            id: folder_name(&path),
            weights: adapter_base(workspace, &path)?,
            adapter: Some(path),
        });
    }
    if let Some(folder) = hub_model(model)? {
        return Ok(ModelSource {
            id: model.to_string(),
            weights: folder,
            adapter: None,
        });
    }
    bail!(
        "model '{model}' is not a registered model ({}), a run in {}, a GGUF file, an \
         artifact folder, a Hugging Face model folder or a hub model id (org/name)",
        registered_names(),
        workspace.artifacts_dir().display()
    )
}
