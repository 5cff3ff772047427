//! `f1ai report`: reads what eval and training wrote and writes
//! results/reports/report.{html,md} and the charts in results/visualizations/.

use anyhow::Result;
use f1_report::report::{self, Outputs};
use f1_report::study::Sources;
use f1_report::Study;

use crate::cli::ReportArgs;
use crate::workspace::Workspace;

pub fn run(args: ReportArgs, workspace: &Workspace) -> Result<()> {
    let study = Study::load(&Sources {
        metrics: workspace.metrics_dir(),
        predictions: workspace.predictions_dir(),
        artifacts: workspace.artifacts_dir(),
    })?;
    let outputs = Outputs {
        reports: args.out.unwrap_or_else(|| workspace.reports_dir()),
        charts: args
            .charts
            .unwrap_or_else(|| workspace.visualizations_dir()),
    };
    let written = report::write(&study, &outputs)?;
    for paragraph in &written.findings {
        println!("{paragraph}\n");
    }
    println!(
        "{} charts in {}",
        written.charts.len() / 2,
        outputs.charts.display()
    );
    println!("report: {}", written.html.display());
    println!("        {}", written.markdown.display());
    tracing::info!(headline = report::headline(&study), "report written");
    Ok(())
}
