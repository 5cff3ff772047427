//! Evaluation metrics that match the reference implementations people cite.

pub mod bleu;
pub mod rouge;
