//! Quality against cost: one point per model variant, a cost on x (training
//! time or peak memory; 0 for a model that was not trained) and fact accuracy
//! with its 95% CI on y.

use f1_eval::bootstrap::Interval;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Chart, DrawResult};

#[derive(Debug, Clone)]
pub struct Point {
    pub label: String,
    pub colour: RGBColor,
    pub cost: f64,
    /// Fact accuracy in percent.
    pub accuracy: Interval,
}

#[derive(Debug, Clone)]
pub struct QualityCost {
    /// The cost axis' description, unit included.
    pub axis: String,
    pub points: Vec<Point>,
}

impl Chart for QualityCost {
    fn size(&self) -> (u32, u32) {
        (560, 380)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let max_cost = self.points.iter().map(|p| p.cost).fold(1e-9f64, f64::max);
        let max_accuracy = self
            .points
            .iter()
            .map(|p| p.accuracy.high)
            .fold(10.0f64, f64::max)
            .min(100.0);
        let mut chart = ChartBuilder::on(area)
            .margin(14)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(
                -0.05 * max_cost..max_cost * 1.3,
                0.0..(max_accuracy * 1.1).min(105.0),
            )?;
        super::draw_numeric_mesh(&mut chart, &self.axis, "fact accuracy (%)")?;
        chart.draw_series(self.points.iter().map(|p| {
            ErrorBar::new_vertical(
                p.cost,
                p.accuracy.low,
                p.accuracy.value,
                p.accuracy.high,
                p.colour.stroke_width(2),
                10,
            )
        }))?;
        chart.draw_series(
            self.points
                .iter()
                .map(|p| Circle::new((p.cost, p.accuracy.value), 6, p.colour.filled())),
        )?;
        let labels: Vec<_> = self
            .points
            .iter()
            .map(|p| (p.label.clone(), (p.cost, p.accuracy.value), p.colour))
            .collect();
        super::draw_point_labels(area, &chart, &labels)
    }
}
