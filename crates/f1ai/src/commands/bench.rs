//! `f1ai bench ...`: measured speed, printed as a table and written as JSON.

use std::path::Path;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use serde_json::json;

use crate::cli::{BenchCommand, BenchImportArgs};
use crate::workspace::Workspace;

pub fn run(command: BenchCommand, workspace: &Workspace) -> Result<()> {
    match command {
        BenchCommand::Import(args) => import(args, workspace),
    }
}

fn import(args: BenchImportArgs, workspace: &Workspace) -> Result<()> {
    ensure!(args.runs > 0, "--runs must be at least 1");
    let scratch = tempfile::tempdir()?;
    let db = scratch.path().join("f1.sqlite");
    let mut rows = 0;
    let mut seconds = Vec::with_capacity(args.runs);
    for run in 0..=args.runs {
        let start = Instant::now();
        let summary = f1_data::import_ergast(&args.ergast_dir, &db)
            .with_context(|| format!("importing {}", args.ergast_dir.display()))?;
        if run > 0 {
            seconds.push(start.elapsed().as_secs_f64());
        }
        rows = summary.rows_read.iter().map(|(_, n)| n).sum::<u64>();
    }
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    println!(
        "{:<12} {:>6} {:>10} {:>10} {:>10} {:>12}",
        "benchmark", "runs", "min s", "median s", "max s", "rows/s"
    );
    println!(
        "{:<12} {:>6} {:>10.3} {:>10.3} {:>10.3} {:>12.0}",
        "import",
        seconds.len(),
        seconds[0],
        median,
        seconds[seconds.len() - 1],
        rows as f64 / median
    );
    let report = json!({
        "benchmark": "import",
        "ergast_dir": args.ergast_dir,
        "rows": rows,
        "runs": seconds.len(),
        "seconds": seconds,
        "median_seconds": median,
        "rows_per_second": rows as f64 / median,
        "target_seconds": 30.0,
    });
    write_json(&workspace.benchmark("import"), &report)
}

/// Writes pretty JSON through a temp file and a rename.
fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let dir = path.parent().context("benchmark path has no folder")?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer_pretty(&mut temp, value)?;
    temp.persist(path)?;
    println!("wrote {}", path.display());
    Ok(())
}
