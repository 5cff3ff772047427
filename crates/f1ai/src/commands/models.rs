//! `f1ai models ...`: fetch, list and export the pretrained models.

use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use f1_model::fetch::{self, Fetched};
use f1_model::registry::{self, ModelSpec};

use crate::cli::ModelsCommand;
use crate::workspace::{registered_names, Workspace};

pub fn run(command: ModelsCommand, workspace: &Workspace) -> Result<()> {
    match command {
        ModelsCommand::Fetch { model } => fetch_models(&model, workspace),
        ModelsCommand::List => list(workspace),
        ModelsCommand::Export { model, out } => export(&model, out, workspace),
    }
}

fn export(model: &str, out: Option<PathBuf>, workspace: &Workspace) -> Result<()> {
    let (name, gguf) = match registry::find(model) {
        Ok(spec) => (spec.name.to_string(), workspace.base_model(spec.name)?),
        Err(_) => {
            let path = PathBuf::from(model);
            ensure!(
                path.is_file(),
                "{model} is neither a registered model ({}) nor a GGUF file",
                registered_names()
            );
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            (stem.unwrap_or_else(|| "model".into()), path)
        }
    };
    let out = out.unwrap_or_else(|| workspace.hugging_face_export(&name));
    f1_train::export::hugging_face(&gguf, &out)
        .with_context(|| format!("exporting {} to {}", gguf.display(), out.display()))?;
    println!("{name}: wrote {}", out.display());
    Ok(())
}

fn fetch_models(name: &str, workspace: &Workspace) -> Result<()> {
    if registry::find(name).is_err() && f1_model::hub::is_model_id(name) {
        let outcome = f1_model::hub::fetch(name)?;
        let how = match outcome {
            Fetched::Downloaded(_) => "downloaded from the Hugging Face hub",
            _ => "already in the hub cache",
        };
        println!("{name}: {} ({how})", outcome.path().display());
        return Ok(());
    }
    let specs: Vec<&ModelSpec> = if name == "all" {
        registry::MODELS.iter().collect()
    } else {
        vec![registry::find(name)?]
    };
    let cache = fetch::default_cache_dir();
    for spec in specs {
        let outcome = fetch::ensure(spec, &workspace.base_models(), cache.as_deref())?;
        let how = match outcome {
            Fetched::AlreadyThere(_) => "already there, verified",
            Fetched::FromCache(_) => "copied from the model cache, verified",
            Fetched::Downloaded(_) => "downloaded and verified",
        };
        println!("{}: {} ({how})", spec.name, outcome.path().display());
    }
    Ok(())
}

fn list(workspace: &Workspace) -> Result<()> {
    let dir = workspace.base_models();
    println!("{:<10} {:<10} {:>9}  description", "model", "state", "MiB");
    for spec in registry::MODELS {
        let path = dir.join(spec.file);
        let (state, size) = match std::fs::metadata(&path) {
            Ok(meta) if fetch::sha256_file(&path)? == spec.sha256 => ("verified", meta.len()),
            Ok(meta) => ("corrupt", meta.len()),
            Err(_) => ("missing", 0),
        };
        println!(
            "{:<10} {:<10} {:>9.1}  {}",
            spec.name,
            state,
            size as f64 / (1024.0 * 1024.0),
            spec.description
        );
    }
    for (id, folder) in f1_model::hub::fetched() {
        println!("{id}  hub cache: {}", folder.display());
    }
    Ok(())
}
