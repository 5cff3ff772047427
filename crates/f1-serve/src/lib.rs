//! The live demo: the models a user can talk to ([`catalog`]), one generation
//! worker shared by every client ([`engine`]), an OpenAI-compatible HTTP API with a
//! web chat page ([`server`], [`openai`], client tools in [`tool_calls`]), a terminal chat ([`terminal`]) and a
//! load test for the API ([`load`]).

pub mod catalog;
pub mod engine;
mod error;
pub mod load;
pub mod openai;
pub mod server;
pub mod terminal;
pub mod tool_calls;

pub use error::{Error, Result};
