//! `f1ai merge`: folds a LoRA adapter into its base model and writes Hugging Face
//! safetensors and a GGUF.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use candle_core::quantized::GgmlDType;

use crate::cli::MergeArgs;
use crate::workspace::Workspace;

pub fn run(args: MergeArgs, workspace: &Workspace) -> Result<()> {
    let dtype = match args.gguf.as_str() {
        "f16" => GgmlDType::F16,
        "q8_0" => GgmlDType::Q8_0,
        other => bail!("--gguf: '{other}' is not f16 or q8_0"),
    };
    let adapter = f1_train::peft::read_adapter_config(&args.adapter)?;
    let model = match &args.model {
        Some(name) => name.clone(),
        None => f1_model::registry::MODELS
            .iter()
            .find(|m| m.hugging_face == adapter.base_model_name_or_path)
            .map(|m| m.name.to_string())
            .with_context(|| {
                format!(
                    "{}: base model '{}' is not a registered model; pass --model",
                    args.adapter.display(),
                    adapter.base_model_name_or_path
                )
            })?,
    };
    let base = match f1_model::registry::find(&model) {
        Ok(spec) => workspace.base_model(spec.name)?,
        Err(_) => PathBuf::from(&model),
    };
    let name = args
        .adapter
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "adapter".into());
    let out = args
        .out
        .unwrap_or_else(|| workspace.artifacts(&format!("{name}-merged")));
    f1_train::export::merge(&base, &args.adapter, &out, dtype)
        .with_context(|| format!("merging {} into {}", args.adapter.display(), base.display()))?;
    println!(
        "merged {} into {}: wrote {}",
        args.adapter.display(),
        base.display(),
        out.display()
    );
    Ok(())
}
