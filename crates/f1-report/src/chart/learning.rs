//! A measure against training time, one colour per run, from the untrained
//! model at 0 minutes: the validation probe's accuracy on recall questions
//! (solid) and unseen ones (dashed), or the general-ability score.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Chart, DrawResult};
use crate::font::FAMILY;

/// One run's curves, (minutes of training, %).
#[derive(Debug, Clone)]
pub struct LearningCurve {
    pub label: String,
    pub colour: RGBColor,
    pub solid: Vec<(f64, f64)>,
    pub dashed: Vec<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub struct LearningCurves {
    /// The y axis' description.
    pub axis: String,
    /// What the solid and dashed lines show, for the legend.
    pub names: [String; 2],
    pub curves: Vec<LearningCurve>,
}

impl Chart for LearningCurves {
    fn size(&self) -> (u32, u32) {
        (760, 440)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let points = || {
            self.curves
                .iter()
                .flat_map(|c| c.solid.iter().chain(&c.dashed))
        };
        let max_minutes = points().map(|p| p.0).fold(1e-3f64, f64::max);
        let max_value = points().map(|p| p.1).fold(10.0f64, f64::max).min(100.0);
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..max_minutes * 1.02, 0.0..(max_value * 1.1).min(102.0))?;
        super::draw_numeric_mesh(
            &mut chart,
            "training time (min of optimizer steps)",
            &self.axis,
        )?;
        let [solid, dashed] = &self.names;
        for curve in &self.curves {
            let colour = curve.colour;
            chart
                .draw_series(LineSeries::new(
                    curve.solid.iter().copied(),
                    colour.stroke_width(3),
                ))?
                .label(format!("{} {solid}", curve.label))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(3))
                });
            chart.draw_series(
                curve
                    .solid
                    .iter()
                    .map(|&p| Circle::new(p, 4, colour.filled())),
            )?;
            if curve.dashed.len() > 1 {
                chart
                    .draw_series(DashedLineSeries::new(
                        curve.dashed.iter().copied(),
                        6,
                        4,
                        colour.mix(0.6).stroke_width(2),
                    ))?
                    .label(format!("{} {dashed}", curve.label))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 18, y)], colour.mix(0.6).stroke_width(1))
                    });
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FAMILY, 12))
            .draw()?;
        Ok(())
    }
}
