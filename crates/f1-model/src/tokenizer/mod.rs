//! Tokenizers built from GGUF metadata that reproduce llama.cpp token for token:
//! GPT-2 byte-level BPE (SmolLM2) and SentencePiece (Gemma); and Hugging Face's
//! tokenizer.json, read and written.

mod gpt2;
pub mod hugging_face;
mod sentencepiece_json;
mod spm;
pub mod to_gguf;
pub mod vocab;

use std::path::Path;

use crate::chat::ChatTemplate;
use crate::error::{Error, Result};
use crate::gguf::GgufMetadata;
use f1_files::write_with as write_staged;
use vocab::{Fragment, Vocab};

enum Algorithm {
    Bpe(Box<tokenizers::Tokenizer>),
    SentencePiece,
}

/// A model's tokenizer.
pub struct Tokenizer {
    vocab: Vocab,
    algorithm: Algorithm,
}

impl Tokenizer {
    /// Reads the tokenizer of a GGUF model file.
    pub fn from_gguf(path: &Path) -> Result<Self> {
        let meta = GgufMetadata::read(path)?;
        Self::from_metadata(&meta)
    }

    pub fn from_metadata(meta: &GgufMetadata) -> Result<Self> {
        let vocab = Vocab::from_gguf(meta)?;
        let algorithm = match meta.string("tokenizer.ggml.model")?.as_str() {
            "gpt2" => Algorithm::Bpe(Box::new(gpt2::build(meta, &vocab)?)),
            "llama" => Algorithm::SentencePiece,
            other => {
                return Err(Error::Tokenizer(format!(
                    "tokenizer type '{other}' is not supported (gpt2 and llama are)"
                )))
            }
        };
        Ok(Self { vocab, algorithm })
    }

    /// Reads a Hugging Face tokenizer folder: tokenizer.json, with BOS, EOS and
    /// whether to add a BOS from tokenizer_config.json.
    pub fn from_hugging_face(dir: &Path) -> Result<Self> {
        let (tokenizer, vocab) = hugging_face::read(dir)?;
        Ok(Self {
            vocab,
            algorithm: Algorithm::Bpe(Box::new(tokenizer)),
        })
    }

    /// Writes tokenizer_config.json (BOS, EOS, whether a BOS is added, `template`)
    /// and tokenizer.json into `dir`, as transformers reads them: byte-level BPE as
    /// it is, SentencePiece as a BPE model with byte fallback (see
    /// [`sentencepiece_json`]). A SentencePiece vocabulary that adds a leading
    /// space gets no tokenizer.json, which is logged.
    pub fn write_hugging_face(&self, dir: &Path, template: &ChatTemplate) -> Result<()> {
        let tokenizer = match &self.algorithm {
            Algorithm::Bpe(tokenizer) => Some((**tokenizer).clone()),
            Algorithm::SentencePiece => match sentencepiece_json::build(&self.vocab) {
                Ok(tokenizer) => Some(tokenizer),
                Err(e) => {
                    tracing::warn!("{}: no tokenizer.json written: {e}", dir.display());
                    None
                }
            },
        };
        if let Some(tokenizer) = tokenizer {
            let tokenizer = hugging_face::with_added_tokens(tokenizer, &self.vocab);
            let path = dir.join(hugging_face::TOKENIZER_FILE);
            write_staged(&path, |staging| {
                tokenizer
                    .save(staging, false)
                    .map_err(|e| Error::HuggingFace {
                        path: path.clone(),
                        message: e.to_string(),
                    })
            })?;
        }
        let token = |id: Option<u32>| id.and_then(|id| self.token_text(id));
        let config = serde_json::json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": token(self.bos()),
            "eos_token": token(self.eos()),
            "unk_token": token(self.vocab.unknown),
            "pad_token": token(self.vocab.padding),
            "add_bos_token": self.vocab.add_bos,
            "chat_template": template.source,
        });
        let text = serde_json::to_string_pretty(&config).expect("json");
        let path = dir.join(hugging_face::TOKENIZER_CONFIG_FILE);
        write_staged(&path, |staging| {
            std::fs::write(staging, &text).map_err(|e| Error::io(staging, e))
        })
    }

    /// Token ids of `text`, without BOS and with control-token text left as text,
    /// like llama.cpp's `tokenize(text, add_bos=False, special=False)`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.encode_fragments(text, false)
    }

    /// Token ids of a rendered chat prompt: control tokens written in it
    /// (`<|im_start|>`, `<start_of_turn>`, `<bos>`) become their ids
    /// (llama.cpp's `special=True`).
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>> {
        self.encode_fragments(text, true)
    }

    fn encode_fragments(&self, text: &str, control: bool) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        let mut previous_was_token = true;
        for fragment in self.vocab.partition(text, control) {
            match fragment {
                Fragment::Token(id) => {
                    ids.push(id);
                    previous_was_token = true;
                }
                Fragment::Text(text) => {
                    self.encode_text(text, previous_was_token, &mut ids)?;
                    previous_was_token = false;
                }
            }
        }
        Ok(ids)
    }

    /// `encode` with the model's BOS in front when its metadata asks for one.
    pub fn encode_with_bos(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        if let (true, Some(bos)) = (self.vocab.add_bos, self.vocab.bos) {
            ids.push(bos);
        }
        ids.extend(self.encode(text)?);
        Ok(ids)
    }

    fn encode_text(&self, text: &str, after_token: bool, ids: &mut Vec<u32>) -> Result<()> {
        match &self.algorithm {
            Algorithm::Bpe(tokenizer) => {
                let encoding = tokenizer
                    .encode_fast(text, false)
                    .map_err(|e| Error::Tokenizer(e.to_string()))?;
                ids.extend_from_slice(encoding.get_ids());
            }
            Algorithm::SentencePiece => {
                let prefix = if self.vocab.add_space_prefix && after_token {
                    " "
                } else {
                    ""
                };
                let escaped = format!("{prefix}{text}").replace(' ', "\u{2581}");
                spm::encode_fragment(&self.vocab, &escaped, ids);
            }
        }
        Ok(())
    }

    /// The text of `ids` (special tokens included as their text).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match &self.algorithm {
            Algorithm::Bpe(tokenizer) => tokenizer
                .decode(ids, false)
                .map_err(|e| Error::Tokenizer(e.to_string())),
            Algorithm::SentencePiece => {
                let mut bytes = Vec::new();
                for &id in ids {
                    let token = self.vocab.tokens.get(id as usize).ok_or_else(|| {
                        Error::Tokenizer(format!("token id {id} is outside the vocabulary"))
                    })?;
                    match byte_token(token) {
                        Some(b) => bytes.push(b),
                        None => bytes.extend(token.replace('\u{2581}', " ").as_bytes()),
                    }
                }
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
        }
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab.tokens.len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.vocab.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.vocab.eos
    }

    /// The text of one token, as the vocabulary writes it.
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.vocab.tokens.get(id as usize).map(String::as_str)
    }

    /// The id of a token's exact text (e.g. `<|im_end|>`).
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.vocab.ids.get(text).copied()
    }
}

/// `<0x0A>` -> 10.
fn byte_token(token: &str) -> Option<u8> {
    let hex = token.strip_prefix("<0x")?.strip_suffix('>')?;
    (hex.len() == 2)
        .then(|| u8::from_str_radix(hex, 16).ok())
        .flatten()
}
