//! Where fine-tuning starts: a GGUF file (quantized, dequantized as training
//! needs) or a Hugging Face model folder (config.json, safetensors, tokenizer.json).

use std::path::{Path, PathBuf};

use candle_core::quantized::GgmlDType;
use candle_core::Device;
use f1_model::chat::ChatTemplate;
use f1_model::gguf::GgufMetadata;
use f1_model::gguf_write::{write_transformer, GgufWriter};
use f1_model::transformer::{Transformer, TransformerConfig, WeightFormat};
use f1_model::Tokenizer;

use crate::error::{Error, Result};

/// The files of a Hugging Face folder that describe its tokenizer and chat
/// template; a model trained from the folder carries copies of those present.
const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "tokenizer.model",
    "generation_config.json",
];

/// A base model's weights, tokenizer and chat template.
pub enum BaseModel {
    Gguf(GgufMetadata),
    /// A Hugging Face model folder.
    HuggingFace(PathBuf),
}

impl BaseModel {
    /// A folder is read as a Hugging Face model folder, a file as GGUF.
    pub fn open(path: &Path) -> Result<Self> {
        if path.is_dir() {
            if !Transformer::is_hugging_face_folder(path) {
                return Err(Error::Data {
                    path: path.to_path_buf(),
                    message: "not a Hugging Face model folder (config.json and \
                              model.safetensors or its index)"
                        .into(),
                });
            }
            return Ok(Self::HuggingFace(path.to_path_buf()));
        }
        Ok(Self::Gguf(GgufMetadata::read(path)?))
    }

    pub fn path(&self) -> &Path {
        match self {
            Self::Gguf(metadata) => metadata.path(),
            Self::HuggingFace(dir) => dir,
        }
    }

    /// The weights on `device`: a GGUF's projections as `format` says, a Hugging
    /// Face folder's in f32 (they are dense already).
    pub fn transformer(&self, format: WeightFormat, device: &Device) -> Result<Transformer> {
        Ok(match self {
            Self::Gguf(metadata) => Transformer::from_gguf(metadata, format, device)?,
            Self::HuggingFace(dir) => Transformer::from_hugging_face_folder(dir, device)?,
        })
    }

    pub fn tokenizer(&self) -> Result<Tokenizer> {
        Ok(match self {
            Self::Gguf(metadata) => Tokenizer::from_metadata(metadata)?,
            Self::HuggingFace(dir) => Tokenizer::from_hugging_face(dir)?,
        })
    }

    /// The chat template; a Hugging Face folder without one gets the built-in
    /// template of `transformer`'s architecture.
    pub fn template(&self, transformer: &Transformer) -> Result<ChatTemplate> {
        Ok(match self {
            Self::Gguf(metadata) => ChatTemplate::from_gguf(metadata)?,
            Self::HuggingFace(dir) => {
                ChatTemplate::from_hugging_face(dir, transformer.config.architecture)?
            }
        })
    }

    /// What a PEFT adapter names as its base, `model` being what the run's
    /// configuration names: the Hugging Face repository of a registered model, a
    /// hub model's id, a local folder's or GGUF file's absolute path (as PEFT
    /// writes a local base, and as `f1ai` resolves it again), else the GGUF's
    /// `general.name`.
    pub fn adapter_base_name(&self, model: &str) -> String {
        if let Ok(spec) = f1_model::registry::find(model) {
            return spec.hugging_face.to_string();
        }
        let local = Path::new(model);
        if local.exists() {
            return std::path::absolute(local)
                .unwrap_or_else(|_| local.to_path_buf())
                .display()
                .to_string();
        }
        if f1_model::hub::is_model_id(model) {
            return model.to_string();
        }
        match self {
            Self::Gguf(metadata) => metadata
                .string("general.name")
                .unwrap_or_else(|_| model.to_string()),
            Self::HuggingFace(dir) => std::path::absolute(dir)
                .unwrap_or_else(|_| dir.clone())
                .display()
                .to_string(),
        }
    }

    /// Writes `transformer` (f32) into `dir` as a Hugging Face model folder with
    /// the base's tokenizer and chat template, and, when `gguf` names a type,
    /// model.gguf with the base's metadata: a GGUF base's copied, a Hugging Face
    /// folder's converted (byte-level BPE or SentencePiece-as-BPE tokenizers; for
    /// others the GGUF is skipped with a warning, see [`Self::check_gguf_export`]).
    pub fn write_full(
        &self,
        dir: &Path,
        transformer: &mut Transformer,
        gguf: Option<GgmlDType>,
    ) -> Result<()> {
        transformer.write_hugging_face_folder(dir)?;
        match self {
            Self::Gguf(metadata) => {
                let template = ChatTemplate::from_gguf(metadata)?;
                Tokenizer::from_metadata(metadata)?.write_hugging_face(dir, &template)?;
            }
            Self::HuggingFace(source) => copy_tokenizer_files(source, dir)?,
        }
        let Some(dtype) = gguf else {
            return Ok(());
        };
        let writer = match self {
            Self::Gguf(metadata) => GgufWriter::from_source(metadata),
            Self::HuggingFace(source) => {
                match GgufWriter::for_hugging_face(source, &transformer.config) {
                    Ok(writer) => writer,
                    Err(e) => {
                        tracing::warn!("{}: no {GGUF_FILE} written: {e}", dir.display());
                        return Ok(());
                    }
                }
            }
        };
        write_transformer(transformer, writer, dtype, &dir.join(GGUF_FILE))?;
        Ok(())
    }

    /// Whether [`Self::write_full`] can write a GGUF for this base: an error
    /// saying why not (a Hugging Face folder whose tokenizer GGUF cannot hold).
    pub fn check_gguf_export(&self) -> Result<()> {
        if let Self::HuggingFace(dir) = self {
            let config = TransformerConfig::from_hugging_face_folder(dir)?;
            GgufWriter::for_hugging_face(dir, &config)?;
        }
        Ok(())
    }
}

/// The full model as llama.cpp and our loader read it.
pub const GGUF_FILE: &str = "model.gguf";

fn copy_tokenizer_files(source: &Path, dir: &Path) -> Result<()> {
    for name in TOKENIZER_FILES {
        let from = source.join(name);
        if from.is_file() {
            f1_files::copy(&from, &dir.join(name))?;
        }
    }
    Ok(())
}
