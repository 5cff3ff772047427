//! One module per top-level subcommand.

pub mod augment;
pub mod baseline;
pub mod bench;
pub mod chat;
pub mod data;
pub mod eval;
pub mod general;
pub mod judge;
pub mod knowledge;
pub mod merge;
pub mod models;
pub mod multiple_choice;
pub mod perplexity;
pub mod report;
pub mod run;
pub mod serve;
pub mod system;
pub mod train;
