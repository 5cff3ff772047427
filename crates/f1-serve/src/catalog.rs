//! The models a user can talk to, by id, each loaded on first use and kept.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::Device;
use f1_model::assistant::Assistant;
use f1_model::model::Precision;

use crate::error::{Error, Result};

/// Where a served model comes from: a GGUF file, optionally with a PEFT LoRA
/// adapter on top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSource {
    /// The name clients ask for, e.g. `smollm2` or `smollm2-lora`.
    pub id: String,
    /// A GGUF file or a Hugging Face model folder.
    pub weights: PathBuf,
    pub adapter: Option<PathBuf>,
}

impl ModelSource {
    /// Loads the weights (on `device`, held in `precision`), tokenizer and
    /// template, and attaches the adapter.
    pub fn load(&self, device: &Device, precision: Precision) -> Result<Assistant> {
        let mut assistant = Assistant::load_with(&self.weights, device, precision)?;
        if let Some(adapter) = &self.adapter {
            f1_train::peft::attach_adapter(&mut assistant.model.transformer, adapter).map_err(
                |e| Error::Load {
                    path: adapter.clone(),
                    message: e.to_string(),
                },
            )?;
        }
        Ok(assistant)
    }
}

/// Served models by id; each is loaded when first asked for.
pub struct Catalog {
    sources: Vec<ModelSource>,
    device: Device,
    precision: Precision,
    loaded: HashMap<String, Assistant>,
}

impl Catalog {
    /// A catalog of `sources`, run on `device`; ids must be unique and there must
    /// be at least one.
    pub fn new(sources: Vec<ModelSource>, device: Device) -> Result<Self> {
        if sources.is_empty() {
            return Err(Error::NoModels);
        }
        for (i, source) in sources.iter().enumerate() {
            if sources[..i].iter().any(|s| s.id == source.id) {
                return Err(Error::DuplicateModel(source.id.clone()));
            }
        }
        Ok(Self {
            sources,
            device,
            precision: Precision::Native,
            loaded: HashMap::new(),
        })
    }

    /// Models loaded from now on hold their weights in `precision` (llama.cpp's
    /// kernels, `Precision::Native`, unless set).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// The served ids, in the order given.
    pub fn ids(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.id.clone()).collect()
    }

    /// The model `id`, loading it if this is its first use.
    pub fn get(&mut self, id: &str) -> Result<&mut Assistant> {
        if !self.loaded.contains_key(id) {
            let source = self
                .sources
                .iter()
                .find(|s| s.id == id)
                .ok_or_else(|| Error::UnknownModel(id.to_string(), self.ids().join(", ")))?;
            tracing::info!(model = id, path = %source.weights.display(), "loading model");
            let assistant = source.load(&self.device, self.precision)?;
            self.loaded.insert(id.to_string(), assistant);
        }
        Ok(self.loaded.get_mut(id).expect("loaded above"))
    }

    /// Loads every model now, so a bad file fails at start-up, not on a request.
    pub fn load_all(&mut self) -> Result<()> {
        for id in self.ids() {
            self.get(&id)?;
        }
        Ok(())
    }
}
