//! `summary.csv`: one row per entity, indicator and year with the distribution of the
//! projected value over draws.
//!
//! Rationale: a long ("tidy") table with the unit on every row loads directly into
//! spreadsheets, pandas or R and can be filtered without knowing the scenario; the
//! quantile columns follow [`SUMMARY_PROBS`](crate::results::SUMMARY_PROBS).

use crate::error::Result;
use crate::export::{Exporter, format_number, render_csv};
use crate::results::RunResults;

/// Writes `summary.csv`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SummaryCsv;

impl SummaryCsv {
    /// The file's columns, in order.
    pub const HEADER: [&'static str; 14] = [
        "scenario",
        "node",
        "indicator",
        "year",
        "unit",
        "mean",
        "sd",
        "p05",
        "p10",
        "p25",
        "p50",
        "p75",
        "p90",
        "p95",
    ];
}

impl Exporter for SummaryCsv {
    fn file_name(&self) -> &'static str {
        "summary.csv"
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        let scenario = &results.info.scenario;
        let rows = results.series.iter().map(|s| {
            let mut row = vec![
                scenario.clone(),
                s.entity.clone(),
                s.indicator.clone(),
                s.year.to_string(),
                s.unit.clone(),
                format_number(s.mean),
                format_number(s.sd),
            ];
            row.extend(s.quantiles.iter().map(|&q| format_number(q)));
            row
        });
        render_csv(self.file_name(), &Self::HEADER, rows)
    }
}
