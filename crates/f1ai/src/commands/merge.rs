//! `f1ai merge`: folds a LoRA adapter into its base model and writes Hugging Face
//! safetensors and, for a GGUF base, a GGUF.

use anyhow::{bail, ensure, Context, Result};
use candle_core::quantized::GgmlDType;

use crate::cli::MergeArgs;
use crate::workspace::Workspace;

pub fn run(args: MergeArgs, workspace: &Workspace) -> Result<()> {
    let dtype = match args.gguf.as_deref() {
        None | Some("f16") => GgmlDType::F16,
        Some("q8_0") => GgmlDType::Q8_0,
        Some(other) => bail!("--gguf: '{other}' is not f16 or q8_0"),
    };
    let base = match &args.model {
        Some(model) => workspace.model_path(model)?,
        None => crate::catalog::adapter_base(workspace, &args.adapter)?,
    };
    ensure!(
        args.gguf.is_none() || base.is_file(),
        "--gguf: the base {} is a Hugging Face folder, whose tokenizer is not in GGUF's \
         form; merge without --gguf (llama.cpp's convert_hf_to_gguf.py converts the result)",
        base.display()
    );
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
