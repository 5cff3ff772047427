//! One module per top-level subcommand.

pub mod augment;
pub mod baseline;
pub mod bench;
pub mod chat;
pub mod data;
pub mod eval;
pub mod knowledge;
pub mod merge;
pub mod models;
pub mod report;
pub mod run;
pub mod serve;
pub mod train;
