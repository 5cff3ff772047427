//! One metric per run as horizontal bars with 95% confidence whiskers.

use f1_eval::bootstrap::Interval;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Chart, DrawResult};
use crate::font::FAMILY;

/// One bar.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: Interval,
    pub colour: RGBColor,
}

/// Bars with CI whiskers, first bar at the top.
#[derive(Debug, Clone)]
pub struct IntervalBars {
    /// The value axis' description, unit included.
    pub axis: String,
    pub bars: Vec<Bar>,
}

/// Pixels a label of `text` needs at the tick font size.
pub(super) fn label_width(labels: impl Iterator<Item = usize>) -> u32 {
    labels.max().unwrap_or(4) as u32 * 7 + 16
}

impl Chart for IntervalBars {
    fn size(&self) -> (u32, u32) {
        (760, 70 + 30 * self.bars.len() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let n = self.bars.len();
        let high = self
            .bars
            .iter()
            .map(|b| b.value.high.max(b.value.value))
            .fold(0.0f64, f64::max);
        let low = self
            .bars
            .iter()
            .map(|b| b.value.low.min(b.value.value))
            .fold(0.0f64, f64::min);
        let span = (high - low).max(1e-9);
        // Rows are centred on whole numbers, the first at the top.
        let row = |i: usize| (n - 1 - i) as f64;
        let mut chart = ChartBuilder::on(area)
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(label_width(self.bars.iter().map(|b| b.label.len())))
            .build_cartesian_2d(low..high + 0.18 * span, -0.5..n as f64 - 0.5)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .light_line_style(super::faint_grid())
            .x_label_formatter(&super::tick)
            .x_desc(self.axis.as_str())
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .draw()?;
        // Row labels, drawn beside the axis (a numeric axis would label ticks).
        let label_style =
            TextStyle::from((FAMILY, 13).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
        for (i, bar) in self.bars.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(low, row(i)));
            area.draw(&Text::new(
                bar.label.clone(),
                (x - 8, y),
                label_style.clone(),
            ))?;
        }
        chart.draw_series(self.bars.iter().enumerate().map(|(i, bar)| {
            Rectangle::new(
                [(0.0, row(i) - 0.35), (bar.value.value, row(i) + 0.35)],
                bar.colour.mix(0.75).filled(),
            )
        }))?;
        chart.draw_series(self.bars.iter().enumerate().map(|(i, bar)| {
            ErrorBar::new_horizontal(
                row(i),
                bar.value.low,
                bar.value.value,
                bar.value.high,
                BLACK.stroke_width(1),
                8,
            )
        }))?;
        chart.draw_series(self.bars.iter().enumerate().map(|(i, bar)| {
            Text::new(
                format!("{:.1}", bar.value.value),
                (bar.value.high + 0.01 * span, row(i)),
                TextStyle::from((FAMILY, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
            )
        }))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_bar_draws_with_its_label_value_and_whisker() {
        let dir = tempfile::tempdir().unwrap();
        let bars = IntervalBars {
            axis: "fact accuracy (%)".into(),
            bars: vec![Bar {
                label: "smollm2-lora-zero-shot".into(),
                value: Interval {
                    value: 42.0,
                    low: 30.0,
                    high: 55.0,
                },
                colour: super::super::series_colour(0),
            }],
        };
        let figure = super::super::render(&bars, "one", "One", "", dir.path()).unwrap();
        assert!(
            figure.svg.contains("smollm2-lora-zero-shot"),
            "{}",
            figure.svg
        );
        assert!(figure.svg.contains("\n42.0\n"), "{}", figure.svg);
        let png = std::fs::read(dir.path().join("one.png")).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        assert!(dir.path().join("one.svg").is_file());
    }
}
