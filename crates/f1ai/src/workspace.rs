//! The seed project's folder layout under one root (`--workspace`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Paths of every phase's inputs and outputs.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
}

/// Folders created on first use, as the seed project names them.
const FOLDERS: &[&str] = &[
    "data/raw",
    "data/processed",
    "data/curated",
    "models/base",
    "models/checkpoints",
    "models/artifacts",
    "results/predictions",
    "results/metrics",
    "results/reports",
    "results/visualizations",
    "results/demos",
    "results/benchmarks",
];

impl Workspace {
    /// Loads config/.env when present; variables already set win over the file.
    pub fn load_env_file(&self) -> Result<()> {
        let env_file = self.root().join("config/.env");
        if env_file.is_file() {
            dotenvy::from_path(&env_file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", env_file.display()))?;
        }
        Ok(())
    }

    /// Opens the workspace at `root`, creating its folders.
    pub fn open(root: &Path) -> Result<Self> {
        for folder in FOLDERS {
            let path = root.join(folder);
            std::fs::create_dir_all(&path)
                .with_context(|| format!("creating {}", path.display()))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// models/checkpoints/<run>/.
    pub fn checkpoints(&self, run: &str) -> PathBuf {
        self.root.join("models/checkpoints").join(run)
    }

    /// models/artifacts/<run>/.
    pub fn artifacts(&self, run: &str) -> PathBuf {
        self.artifacts_dir().join(run)
    }

    /// models/artifacts/: every trained run's adapter or model, log and summary.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.root.join("models/artifacts")
    }

    /// models/hf/<name>/: a model exported in Hugging Face's layout.
    pub fn hugging_face_export(&self, name: &str) -> PathBuf {
        self.root.join("models/hf").join(name)
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("data/processed/f1.sqlite")
    }

    /// data/curated/: the instruction dataset and its card.
    pub fn curated(&self) -> PathBuf {
        self.root.join("data/curated")
    }

    /// Where `f1ai data import` looks for the CSV tables when not told.
    pub fn default_ergast_dir(&self) -> PathBuf {
        self.root.join("data/raw/ergast")
    }

    /// models/base/: the pretrained model files.
    pub fn base_models(&self) -> PathBuf {
        self.root.join("models/base")
    }

    /// A registered model's GGUF in models/base/, fetched (verified) if missing.
    pub fn base_model(&self, name: &str) -> Result<PathBuf> {
        let spec = f1_model::registry::find(name)?;
        let cache = f1_model::fetch::default_cache_dir();
        let fetched = f1_model::fetch::ensure(spec, &self.base_models(), cache.as_deref())?;
        Ok(fetched.path().to_path_buf())
    }

    /// A base model to train on or merge into: a registered name (fetched if
    /// missing), a GGUF file, a Hugging Face model folder, or the id of a hub
    /// model `f1ai models fetch` downloaded.
    pub fn model_path(&self, model: &str) -> Result<PathBuf> {
        if f1_model::registry::find(model).is_ok() {
            return self.base_model(model);
        }
        let path = PathBuf::from(model);
        if is_local_model(&path) {
            return Ok(path);
        }
        if let Some(folder) = hub_model(model)? {
            return Ok(folder);
        }
        anyhow::bail!(
            "model '{model}' is neither a registered model ({}), a GGUF file, a Hugging \
             Face model folder nor a hub model id (org/name)",
            registered_names()
        )
    }

    /// results/predictions/<stem>-<mode>.jsonl, the stem being
    /// `<model>-base` or a fine-tuned run's name (see `catalog::Labelled`).
    pub fn predictions(&self, stem: &str, mode: &str) -> PathBuf {
        self.predictions_dir().join(format!("{stem}-{mode}.jsonl"))
    }

    /// results/predictions/: every run's answers.
    pub fn predictions_dir(&self) -> PathBuf {
        self.root.join("results/predictions")
    }

    /// results/metrics/: what `f1ai eval` writes.
    pub fn metrics_dir(&self) -> PathBuf {
        self.root.join("results/metrics")
    }

    /// results/metrics/knowledge-<model>.json: what `f1ai knowledge` found.
    pub fn knowledge(&self, model: &str) -> PathBuf {
        self.metrics_dir().join(format!("knowledge-{model}.json"))
    }

    /// results/reports/: the HTML and Markdown report.
    pub fn reports_dir(&self) -> PathBuf {
        self.root.join("results/reports")
    }

    /// results/reports/report.html.
    pub fn report_html(&self) -> PathBuf {
        self.reports_dir().join("report.html")
    }

    /// results/visualizations/: the report's charts as SVG and PNG.
    pub fn visualizations_dir(&self) -> PathBuf {
        self.root.join("results/visualizations")
    }

    /// results/run/: `f1ai run`'s record of the stages it ran.
    pub fn run_ledger_dir(&self) -> PathBuf {
        self.root.join("results/run")
    }

    /// results/judgments/cache.jsonl: the judge's verdicts, kept across runs.
    pub fn judge_cache(&self) -> PathBuf {
        self.root.join("results/judgments/cache.jsonl")
    }

    /// JSON written by `f1ai bench ...`.
    pub fn benchmark(&self, name: &str) -> PathBuf {
        self.root
            .join("results/benchmarks")
            .join(format!("{name}.json"))
    }

    /// The scraper's page cache.
    pub fn web_cache(&self) -> PathBuf {
        self.root.join("data/raw/web")
    }

    pub fn jolpica_cache(&self) -> PathBuf {
        self.root.join("data/raw/jolpica")
    }
}

/// The registered models' names, comma-separated.
pub fn registered_names() -> String {
    f1_model::registry::MODELS
        .iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The cached folder of the hub model `id` (`org/name`); `None` when `model` is
/// not shaped like an id or is a local path, an error naming the fetch command when it is not
/// downloaded.
pub fn hub_model(model: &str) -> Result<Option<PathBuf>> {
    if !f1_model::hub::is_model_id(model) || Path::new(model).exists() {
        return Ok(None);
    }
    match f1_model::hub::cached(model) {
        Some(folder) => Ok(Some(folder)),
        None => anyhow::bail!(
            "'{model}' is not a local path, and as a Hugging Face hub id it is not \
             downloaded: run `f1ai models fetch {model}` (needs network)"
        ),
    }
}

/// Whether `path` is a model file (GGUF) or a Hugging Face model folder.
fn is_local_model(path: &Path) -> bool {
    path.is_file() || f1_model::transformer::Transformer::is_hugging_face_folder(path)
}
