//! The report as documents: a self-contained HTML page (charts inlined as SVG,
//! no network) and Markdown that links the PNG charts.

use serde::Serialize;

use crate::chart::Figure;
use crate::error::Result;

/// A table of text cells.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// The element id in the page.
    pub id: String,
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// A sentence under the table (what the brackets mean, what was left out).
    pub note: String,
}

/// Everything the report shows, in order.
#[derive(Debug, Clone)]
pub struct Document {
    pub title: String,
    /// One line on what the report covers.
    pub subtitle: String,
    pub findings: Vec<String>,
    pub tables: Vec<Table>,
    pub figures: Vec<Figure>,
    /// Tables shown after the figures (the example answers).
    pub appendix: Vec<Table>,
}

#[derive(Serialize)]
struct FigureView<'a> {
    name: &'a str,
    title: &'a str,
    caption: &'a str,
    svg: &'a str,
}

/// The page; every string but the charts' SVG is escaped.
pub fn html(document: &Document) -> Result<String> {
    let mut env = minijinja::Environment::new();
    env.add_template("report.html", include_str!("../assets/report.html"))?;
    let figures: Vec<FigureView> = document
        .figures
        .iter()
        .map(|f| FigureView {
            name: &f.name,
            title: &f.title,
            caption: &f.caption,
            svg: &f.svg,
        })
        .collect();
    Ok(env
        .get_template("report.html")?
        .render(minijinja::context! {
            title => document.title,
            subtitle => document.subtitle,
            findings => document.findings,
            tables => document.tables,
            figures => figures,
            appendix => document.appendix,
        })?)
}

fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn markdown_table(out: &mut String, table: &Table) {
    out.push_str(&format!("## {}\n\n", table.title));
    let row = |cells: &[String]| {
        let cells: Vec<String> = cells.iter().map(|c| markdown_cell(c)).collect();
        format!("| {} |\n", cells.join(" | "))
    };
    out.push_str(&row(&table.header));
    out.push_str(&format!("|{}\n", "---|".repeat(table.header.len())));
    for cells in &table.rows {
        out.push_str(&row(cells));
    }
    if !table.note.is_empty() {
        out.push_str(&format!("\n{}\n", table.note));
    }
    out.push('\n');
}

/// The Markdown version; `chart_link` gives each figure's image path.
pub fn markdown(document: &Document, chart_link: impl Fn(&Figure) -> String) -> String {
    let mut out = format!(
        "# {}\n\n{}\n\n## Findings\n\n",
        document.title, document.subtitle
    );
    for paragraph in &document.findings {
        out.push_str(paragraph);
        out.push_str("\n\n");
    }
    for table in &document.tables {
        markdown_table(&mut out, table);
    }
    for figure in &document.figures {
        out.push_str(&format!(
            "## {}\n\n![{}]({})\n\n{}\n\n",
            figure.title,
            figure.title,
            chart_link(figure),
            figure.caption
        ));
    }
    for table in &document.appendix {
        markdown_table(&mut out, table);
    }
    out
}
