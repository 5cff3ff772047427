//! Charts, each drawn once per backend: an SVG string the HTML page inlines
//! and a PNG file beside it in results/visualizations/.

pub mod bars;
pub mod heatmap;
pub mod histogram;
pub mod learning;
pub mod loss;
pub mod scatter;
pub mod tradeoff;

use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

pub use bars::IntervalBars;
pub use heatmap::Heatmap;
pub use histogram::RatingHistogram;
pub use learning::LearningCurves;
pub use loss::LossCurves;
pub use scatter::QualityCost;
pub use tradeoff::LearningForgetting;

use crate::error::{Error, Result};
use crate::font;

/// What a chart's drawing returns.
pub type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A chart that can draw itself on any plotters backend.
pub trait Chart {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

/// A rendered chart.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File stem in results/visualizations/ and the HTML element's id.
    pub name: String,
    pub title: String,
    /// One sentence on how to read it.
    pub caption: String,
    /// The SVG document, for inlining.
    pub svg: String,
}

/// The colour of the `index`-th series.
pub fn series_colour(index: usize) -> RGBColor {
    const COLOURS: [RGBColor; 8] = [
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x94, 0x67, 0xbd),
        RGBColor(0x8c, 0x56, 0x4b),
        RGBColor(0xe3, 0x77, 0xc2),
        RGBColor(0x7f, 0x7f, 0x7f),
    ];
    COLOURS[index % COLOURS.len()]
}

/// An axis tick: whole numbers without a fractional part, others to 2 places.
pub fn tick(value: &f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    format!("{rounded}")
}

/// The faint minor grid lines every chart uses.
pub fn faint_grid() -> ShapeStyle {
    BLACK.mix(0.04).into()
}

/// Axes, faint grid and tick labels of a chart with numbers on both axes.
pub fn draw_numeric_mesh<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    x_desc: &str,
    y_desc: &str,
) -> DrawResult<DB> {
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .light_line_style(faint_grid())
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style((font::FAMILY, 13))
        .axis_desc_style((font::FAMILY, 14))
        .draw()
}

fn draw_error(name: &str, error: impl std::fmt::Display) -> Error {
    Error::Draw {
        chart: name.to_string(),
        message: error.to_string(),
    }
}

/// Draws `chart` as `<dir>/<name>.svg` and `<dir>/<name>.png` (each written
/// through a temporary file) and returns the SVG for inlining.
pub fn render(
    chart: &impl Chart,
    name: &str,
    title: &str,
    caption: &str,
    dir: &Path,
) -> Result<Figure> {
    font::ensure_registered()?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let size = chart.size();
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        area.fill(&WHITE).map_err(|e| draw_error(name, e))?;
        chart.draw(&area).map_err(|e| draw_error(name, e))?;
        area.present().map_err(|e| draw_error(name, e))?;
    }
    f1_train::metrics::write_atomic(&dir.join(format!("{name}.svg")), svg.as_bytes())?;

    // The bitmap backend picks its encoder from the extension.
    let png = tempfile::Builder::new()
        .suffix(".png")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    {
        let area = BitMapBackend::new(png.path(), size).into_drawing_area();
        area.fill(&WHITE).map_err(|e| draw_error(name, e))?;
        chart.draw(&area).map_err(|e| draw_error(name, e))?;
        area.present().map_err(|e| draw_error(name, e))?;
    }
    // Written again like every other output (the scratch file's mode is 0600).
    let bytes = std::fs::read(png.path()).map_err(|e| Error::io(png.path(), e))?;
    f1_train::metrics::write_atomic(&dir.join(format!("{name}.png")), &bytes)?;
    Ok(Figure {
        name: name.to_string(),
        title: title.to_string(),
        caption: caption.to_string(),
        svg,
    })
}
