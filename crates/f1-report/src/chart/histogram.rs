//! How often the judge gave each rating (1-10), one bar per run in each group.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Chart, DrawResult};
use crate::font::FAMILY;

#[derive(Debug, Clone)]
pub struct Ratings {
    pub label: String,
    pub colour: RGBColor,
    /// Usable ratings (failures left out).
    pub ratings: Vec<f64>,
}

#[derive(Debug, Clone)]
pub struct RatingHistogram {
    pub runs: Vec<Ratings>,
}

impl RatingHistogram {
    /// Counts of ratings 1..=10 (a rating rounds to the nearest whole one).
    fn counts(ratings: &[f64]) -> [u32; 10] {
        let mut counts = [0; 10];
        for r in ratings {
            let bucket = (r.round() as i64).clamp(1, 10) as usize - 1;
            counts[bucket] += 1;
        }
        counts
    }
}

impl Chart for RatingHistogram {
    fn size(&self) -> (u32, u32) {
        (760, 380)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let counts: Vec<[u32; 10]> = self.runs.iter().map(|r| Self::counts(&r.ratings)).collect();
        let max = counts.iter().flatten().copied().max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(0.5f64..10.5f64, 0u32..max + max / 5 + 1)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(10)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .x_desc("judge's rating")
            .y_desc("answers")
            .light_line_style(super::faint_grid())
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .draw()?;
        let width = 0.8 / self.runs.len().max(1) as f64;
        for (k, (run, counts)) in self.runs.iter().zip(&counts).enumerate() {
            let colour = run.colour;
            let left = |rating: usize| rating as f64 + 1.0 - 0.4 + k as f64 * width;
            chart
                .draw_series(counts.iter().enumerate().map(|(rating, &count)| {
                    Rectangle::new(
                        [(left(rating), 0), (left(rating) + width, count)],
                        colour.mix(0.8).filled(),
                    )
                }))?
                .label(format!("{} (n={})", run.label, run.ratings.len()))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FAMILY, 13))
            .draw()?;
        Ok(())
    }
}
