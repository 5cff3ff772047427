//! `f1ai`: argument parsing and wiring; the work lives in the library crates.

mod allocator;
mod catalog;
mod cli;
mod commands;
mod output;
mod threads;
mod workspace;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command};

use workspace::Workspace;

fn main() -> ExitCode {
    allocator::keep_freed_memory();
    threads::fix_thread_count();
    let cli = Cli::parse();
    let default_level = match cli.verbose {
        0 => "warn,f1ai=info,f1_data=info,f1_train=info",
        1 => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();

    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one parsed command line (`f1ai run` calls it for each stage).
fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let workspace = Workspace::open(&cli.workspace)?;
    match cli.command {
        Command::Data(command) => commands::data::run(command, &workspace),
        Command::Models(command) => commands::models::run(command, &workspace),
        Command::Baseline(args) => commands::baseline::run(args, &workspace),
        Command::Knowledge(args) => commands::knowledge::run(args, &workspace),
        Command::Train(args) => commands::train::run(args, &workspace),
        Command::Merge(args) => commands::merge::run(args, &workspace),
        Command::Eval(args) => commands::eval::run(args, &workspace),
        Command::Report(args) => commands::report::run(args, &workspace),
        Command::Chat(args) => commands::chat::run(args, &workspace),
        Command::Serve(args) => commands::serve::run(args, &workspace),
        Command::Bench(command) => commands::bench::run(command, &workspace),
        Command::Run(args) => commands::run::run(args, &workspace),
    }
}
