//! `history.csv`: the observed figures of the run's nodes up to the base year.
//!
//! Rationale: a result folder should be readable on its own. Charts set projections
//! against the past, and a planner compares the growth a target needs with the growth
//! a city delivered; both need the history the run started from, with its vintages
//! (growth across the 2018 census revision is not comparable) and sources.

use crate::error::Result;
use crate::export::{Exporter, format_number, format_opt, render_csv};
use crate::results::RunResults;

/// Writes `history.csv`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryCsv;

impl HistoryCsv {
    /// The file's columns, in order.
    pub const HEADER: [&'static str; 8] = [
        "node",
        "indicator",
        "year",
        "value",
        "unit",
        "real_growth_pct",
        "vintage",
        "source",
    ];
}

impl Exporter for HistoryCsv {
    fn file_name(&self) -> &'static str {
        "history.csv"
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        let rows = results.observed.iter().map(|o| {
            vec![
                o.node.clone(),
                o.indicator.clone(),
                o.year.to_string(),
                format_number(o.value),
                o.unit.clone(),
                format_opt(o.real_growth_pct),
                o.vintage.clone(),
                o.source.clone(),
            ]
        });
        render_csv(self.file_name(), &Self::HEADER, rows)
    }
}
