//! Fact accuracy per question family (rows) and run (columns); each cell shows
//! the accuracy and how many questions it rests on.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::bars::label_width;
use super::{Chart, DrawResult};
use crate::font::FAMILY;

/// One cell: accuracy in [0, 1] over `n` questions; None where the run has no
/// question of the family.
pub type Cell = Option<(f64, usize)>;

#[derive(Debug, Clone)]
pub struct Heatmap {
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    /// `cells[row][column]`.
    pub cells: Vec<Vec<Cell>>,
}

const CELL_WIDTH: u32 = 74;
const CELL_HEIGHT: u32 = 24;

/// White (0) to a deep blue (1).
fn shade(accuracy: f64) -> RGBColor {
    let t = accuracy.clamp(0.0, 1.0);
    let channel = |from: f64, to: f64| (from + (to - from) * t).round() as u8;
    RGBColor(
        channel(247.0, 8.0),
        channel(251.0, 69.0),
        channel(255.0, 148.0),
    )
}

impl Heatmap {
    fn label_area(&self) -> u32 {
        label_width(self.rows.iter().map(String::len))
    }

    fn header_height(&self) -> u32 {
        label_width(self.columns.iter().map(String::len)).min(220)
    }
}

impl Chart for Heatmap {
    fn size(&self) -> (u32, u32) {
        (
            self.label_area() + CELL_WIDTH * self.columns.len() as u32 + 20,
            self.header_height() + CELL_HEIGHT * self.rows.len() as u32 + 20,
        )
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (left, top) = (self.label_area() as i32, self.header_height() as i32);
        let (w, h) = (CELL_WIDTH as i32, CELL_HEIGHT as i32);
        let row_label =
            TextStyle::from((FAMILY, 13).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
        let column_label = TextStyle::from((FAMILY, 13).into_font())
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (c, column) in self.columns.iter().enumerate() {
            area.draw(&Text::new(
                column.clone(),
                (left + c as i32 * w + w / 2, top - 6),
                column_label.clone(),
            ))?;
        }
        for (r, row) in self.rows.iter().enumerate() {
            let y = top + r as i32 * h;
            area.draw(&Text::new(
                row.clone(),
                (left - 8, y + h / 2),
                row_label.clone(),
            ))?;
            for (c, cell) in self.cells[r].iter().enumerate() {
                let x = left + c as i32 * w;
                let (fill, text, ink) = match cell {
                    Some((accuracy, n)) => (
                        shade(*accuracy),
                        format!("{:.0}% ({n})", accuracy * 100.0),
                        if *accuracy > 0.55 { WHITE } else { BLACK },
                    ),
                    None => (RGBColor(230, 230, 230), "-".to_string(), BLACK),
                };
                area.draw(&Rectangle::new([(x, y), (x + w, y + h)], fill.filled()))?;
                area.draw(&Rectangle::new(
                    [(x, y), (x + w, y + h)],
                    WHITE.stroke_width(1),
                ))?;
                area.draw(&Text::new(
                    text,
                    (x + w / 2, y + h / 2),
                    TextStyle::from((FAMILY, 12).into_font())
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                ))?;
            }
        }
        Ok(())
    }
}
