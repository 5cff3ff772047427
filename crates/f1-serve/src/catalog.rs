//! The models a user can talk to, by id, each loaded on first use and kept.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::Device;
use f1_model::assistant::Assistant;

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
    /// Loads the weights (on `device`), tokenizer and template, and attaches the
    /// adapter.
    pub fn load(&self, device: &Device) -> Result<Assistant> {
        let mut assistant = Assistant::load(&self.weights, device)?;
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
            loaded: HashMap::new(),
        })
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
            let assistant = source.load(&self.device)?;
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
