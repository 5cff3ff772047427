//! Charts, each drawn once per backend: an SVG string the HTML page inlines
//! and a PNG file beside it in results/visualizations/.

pub mod bars;
pub mod heatmap;
pub mod histogram;
pub mod learning;
pub mod loss;
pub mod scatter;
pub mod tradeoff;

use std::ops::Range;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

/// Where labels beside points go so that no two overlap: right of the point by
/// `gap` pixels (left of it where the plot ends), moved down or up by whole
/// label heights, nearest place first, while the place is taken or outside
/// `bounds` (the plot's x and y pixel ranges). Returns each label's left-centre
/// anchor, in pixels.
pub fn place_labels(
    points: &[(i32, i32)],
    sizes: &[(u32, u32)],
    gap: i32,
    bounds: (Range<i32>, Range<i32>),
) -> Vec<(i32, i32)> {
    let (columns, rows) = bounds;
    let mut taken: Vec<[i32; 4]> = Vec::new();
    let mut anchors = vec![(0, 0); points.len()];
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| (points[i].1, points[i].0));
    for i in order {
        let (x, y) = points[i];
        let (width, height) = (sizes[i].0 as i32, sizes[i].1 as i32);
        let left = if x + gap + width <= columns.end {
            x + gap
        } else {
            (x - gap - width).max(columns.start)
        };
        let label_box = |centre: i32| {
            let top = centre - height / 2;
            [left, top, left + width, top + height]
        };
        let free = |b: &[i32; 4]| {
            b[1] >= rows.start
                && b[3] <= rows.end
                && !taken
                    .iter()
                    .any(|t| b[0] < t[2] && t[0] < b[2] && b[1] < t[3] && t[1] < b[3])
        };
        let step = height + 2;
        let centre = std::iter::once(0)
            .chain((1..64).flat_map(|k| [k, -k]))
            .map(|k| y + k * step)
            .find(|&centre| free(&label_box(centre)))
            .unwrap_or(y);
        taken.push(label_box(centre));
        anchors[i] = (left, centre);
    }
    anchors
}

/// Draws each `(text, point, colour)` label beside its point of `chart`, placed
/// by [`place_labels`], with a faint line to a label that had to move.
pub fn draw_point_labels<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    labels: &[(String, (f64, f64), RGBColor)],
) -> DrawResult<DB> {
    let style =
        TextStyle::from((font::FAMILY, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let points: Vec<(i32, i32)> = labels
        .iter()
        .map(|(_, point, _)| chart.backend_coord(point))
        .collect();
    let sizes = labels
        .iter()
        .map(|(text, _, _)| area.estimate_text_size(text, &style))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let anchors = place_labels(&points, &sizes, 10, chart.plotting_area().get_pixel_range());
    for (((text, _, colour), point), (anchor, size)) in
        labels.iter().zip(&points).zip(anchors.iter().zip(&sizes))
    {
        if anchor.1 != point.1 {
            let near_end = if anchor.0 > point.0 {
                anchor.0 - 2
            } else {
                anchor.0 + size.0 as i32 + 2
            };
            area.draw(&PathElement::new(
                vec![*point, (near_end, anchor.1)],
                colour.mix(0.4),
            ))?;
        }
        area.draw(&Text::new(text.clone(), *anchor, style.clone()))?;
    }
    Ok(())
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
    f1_files::write(&dir.join(format!("{name}.svg")), svg.as_bytes())?;

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
    f1_files::write(&dir.join(format!("{name}.png")), &bytes)?;
    Ok(Figure {
        name: name.to_string(),
        title: title.to_string(),
        caption: caption.to_string(),
        svg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlap(a: [i32; 4], b: [i32; 4]) -> bool {
        a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
    }

    #[test]
    fn labels_of_points_at_one_place_are_stacked_apart_inside_the_plot() {
        // Four runs at the same cost and accuracy, and one at the plot's right edge.
        let points = [(100, 200), (100, 200), (100, 200), (102, 201), (395, 40)];
        let sizes = [(150, 16), (120, 16), (180, 16), (90, 16), (80, 16)];
        let anchors = place_labels(&points, &sizes, 10, (0..400, 30..300));
        let boxes: Vec<[i32; 4]> = anchors
            .iter()
            .zip(&sizes)
            .map(|(&(x, y), &(w, h))| {
                [
                    x,
                    y - h as i32 / 2,
                    x + w as i32,
                    y - h as i32 / 2 + h as i32,
                ]
            })
            .collect();
        for (i, a) in boxes.iter().enumerate() {
            assert!(
                a[0] >= 0 && a[2] <= 400 && a[1] >= 30 && a[3] <= 300,
                "{a:?} leaves the plot"
            );
            for b in &boxes[i + 1..] {
                assert!(!overlap(*a, *b), "{a:?} overlaps {b:?}");
            }
        }
        // A label that fits stays beside its point; one that would leave the plot
        // goes to the point's left.
        assert_eq!(anchors[0], (110, 200));
        assert_eq!(anchors[4], (395 - 10 - 80, 40));
    }
}
