//! The study's report: charts drawn with plotters (SVG and PNG), a findings
//! paragraph computed from the numbers, and a self-contained HTML page and a
//! Markdown version of it.

pub mod arms;
pub mod chart;
pub mod document;
pub mod error;
pub mod findings;
pub mod font;
pub mod question;
pub mod report;
pub mod study;

pub use error::{Error, Result};
pub use study::Study;
