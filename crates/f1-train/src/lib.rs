//! Fine-tuning the project's models: full-parameter and LoRA training with AdamW,
//! warm-up and decay, gradient accumulation and clipping, validation with early
//! stopping, checkpoints with exact resume, and Hugging Face PEFT adapters.

pub mod base;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod epoch_cursor;
mod error;
pub mod export;
pub mod loss;
pub mod metrics;
pub mod multiple_choice;
pub mod optimizer;
pub mod peft;
pub mod perplexity;
pub mod probe;
pub mod schedule;
pub mod scorer;
pub mod trainable;
pub mod trainer;
pub mod training_model;
pub mod validation;

pub use config::{Method, TrainConfig};
pub use error::{Error, Result};
pub use trainer::{train, Outcome, RunPaths, TrainOptions};
