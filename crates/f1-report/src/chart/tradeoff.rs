//! Learning against forgetting: one point per fine-tuned run, the recall
//! fact-accuracy gain over its base model on y and the general-ability drop on
//! x, each with its paired bootstrap 95% CI. Up is learning more; right is
//! forgetting more.

use f1_eval::bootstrap::Interval;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Chart, DrawResult};

#[derive(Debug, Clone)]
pub struct TradeoffPoint {
    pub label: String,
    pub colour: RGBColor,
    /// Points of general ability lost.
    pub forgetting: Interval,
    /// Points of recall fact accuracy gained.
    pub learning: Interval,
}

#[derive(Debug, Clone)]
pub struct LearningForgetting {
    pub points: Vec<TradeoffPoint>,
}

impl Chart for LearningForgetting {
    fn size(&self) -> (u32, u32) {
        (620, 420)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (mut x_low, mut x_high, mut y_low, mut y_high) = (-1.0f64, 1.0f64, -1.0f64, 1.0f64);
        for p in &self.points {
            x_low = x_low.min(p.forgetting.low);
            x_high = x_high.max(p.forgetting.high);
            y_low = y_low.min(p.learning.low);
            y_high = y_high.max(p.learning.high);
        }
        let x_pad = (x_high - x_low) * 0.25;
        let y_pad = (y_high - y_low) * 0.1;
        let mut chart = ChartBuilder::on(area)
            .margin(14)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(
                x_low - x_pad * 0.3..x_high + x_pad,
                y_low - y_pad..y_high + y_pad,
            )?;
        super::draw_numeric_mesh(
            &mut chart,
            "general ability lost (points of mean acc_norm)",
            "recall fact accuracy gained (points)",
        )?;
        // The no-change axes.
        let (x_range, y_range) = (chart.x_range(), chart.y_range());
        let zero = BLACK.mix(0.35).stroke_width(1);
        chart.draw_series(LineSeries::new(
            [(0.0, y_range.start), (0.0, y_range.end)],
            zero,
        ))?;
        chart.draw_series(LineSeries::new(
            [(x_range.start, 0.0), (x_range.end, 0.0)],
            zero,
        ))?;
        for p in &self.points {
            let style = p.colour.stroke_width(2);
            chart.draw_series([ErrorBar::new_vertical(
                p.forgetting.value,
                p.learning.low,
                p.learning.value,
                p.learning.high,
                style,
                8,
            )])?;
            chart.draw_series([ErrorBar::new_horizontal(
                p.learning.value,
                p.forgetting.low,
                p.forgetting.value,
                p.forgetting.high,
                style,
                8,
            )])?;
            chart.draw_series([Circle::new(
                (p.forgetting.value, p.learning.value),
                6,
                p.colour.filled(),
            )])?;
        }
        let labels: Vec<_> = self
            .points
            .iter()
            .map(|p| {
                let point = (p.forgetting.value, p.learning.value);
                (p.label.clone(), point, p.colour)
            })
            .collect();
        super::draw_point_labels(area, &chart, &labels)
    }
}
