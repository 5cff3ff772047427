//! Training loss per step and validation loss per evaluation, one colour per
//! run; the validation curve starts at the untrained model's loss (step 0).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Chart, DrawResult};
use crate::font::FAMILY;

/// One run's curves.
#[derive(Debug, Clone)]
pub struct Curve {
    pub label: String,
    pub colour: RGBColor,
    /// (step, loss) of every optimizer step.
    pub train: Vec<(f64, f64)>,
    /// (step, validation loss).
    pub validation: Vec<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub struct LossCurves {
    pub curves: Vec<Curve>,
}

impl Chart for LossCurves {
    fn size(&self) -> (u32, u32) {
        (760, 420)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let points = || {
            self.curves
                .iter()
                .flat_map(|c| c.train.iter().chain(&c.validation))
        };
        let max_step = points().map(|p| p.0).fold(1.0f64, f64::max);
        let max_loss = points().map(|p| p.1).fold(0.1f64, f64::max);
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..max_step, 0.0..max_loss * 1.05)?;
        super::draw_numeric_mesh(
            &mut chart,
            "optimizer step",
            "loss (nats per assistant token)",
        )?;
        for curve in &self.curves {
            let colour = curve.colour;
            chart
                .draw_series(LineSeries::new(
                    curve.train.iter().copied(),
                    colour.mix(0.35).stroke_width(1),
                ))?
                .label(format!("{} train", curve.label))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.mix(0.35).stroke_width(2))
                });
            chart
                .draw_series(LineSeries::new(
                    curve.validation.iter().copied(),
                    colour.stroke_width(3),
                ))?
                .label(format!("{} validation", curve.label))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(3))
                });
            chart.draw_series(
                curve
                    .validation
                    .iter()
                    .map(|&p| Circle::new(p, 4, colour.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FAMILY, 13))
            .draw()?;
        Ok(())
    }
}
