//! `f1ai merge`: folds a LoRA adapter into its base model and writes Hugging Face
//! safetensors and, with `--gguf`, a GGUF.

use anyhow::{bail, Context, Result};
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
    if args.gguf.is_some() {
        f1_train::base::BaseModel::open(&base)
            .and_then(|b| b.check_gguf_export())
            .context("--gguf: this base cannot be written as GGUF; merge without --gguf")?;
    }
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
