//! The model layer: the pretrained models this project fetches, GGUF metadata, and
//! tokenizers that match llama.cpp token for token.

pub mod assistant;
pub mod chat;
pub mod device;
mod error;
pub mod fetch;
pub mod generate;
pub mod gguf;
pub mod gguf_write;
pub mod hub;
pub mod model;
pub mod registry;
pub mod tokenizer;
pub mod transformer;

pub use error::{Error, Result};
pub use tokenizer::Tokenizer;
