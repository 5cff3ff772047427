//! Evaluation metrics that match the reference implementations people cite, fact
//! accuracy against gold entities, an LLM-as-judge, and bootstrap confidence
//! intervals.

pub mod bleu;
pub mod bootstrap;
pub mod config;
mod error;
pub mod facts;
pub mod general;
pub mod judge;
pub mod multiple_choice;
pub mod rouge;
pub mod run;

pub use error::{Error, Result};
