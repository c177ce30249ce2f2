//! `feasibility.csv`: one row per plan target with the probability that it is met.
//!
//! Rationale: targets that could not be modelled stay in the file with their status and
//! reason, so the table always accounts for every target of every plan; missing numbers
//! are empty fields rather than zeros, and the plan's own sentence is kept as evidence.
//! Every probability carries `calibrated` or `uncalibrated` in the `calibration`
//! column (the reason is in `manifest.json` and `feasibility.md`).

use crate::error::Result;
use crate::export::{Exporter, calibration_word, format_number, format_opt, render_csv};
use crate::results::RunResults;

/// Writes `feasibility.csv`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeasibilityCsv;

impl FeasibilityCsv {
    /// The file's columns, in order.
    pub const HEADER: [&'static str; 18] = [
        "plan",
        "target_id",
        "node",
        "indicator",
        "year",
        "comparator",
        "target",
        "unit",
        "p_met",
        "p_met_se",
        "p05",
        "p50",
        "p95",
        "required_growth",
        "status",
        "calibration",
        "reason",
        "quote",
    ];
}

impl Exporter for FeasibilityCsv {
    fn file_name(&self) -> &'static str {
        "feasibility.csv"
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        let rows = results.targets.iter().map(|t| {
            vec![
                t.plan.clone(),
                t.target_id.clone(),
                t.node.clone(),
                t.indicator.clone(),
                t.year.to_string(),
                t.comparator.clone(),
                format_number(t.target),
                t.unit.clone(),
                format_opt(t.p_met),
                format_opt(t.p_met_se),
                format_opt(t.p05),
                format_opt(t.p50),
                format_opt(t.p95),
                format_opt(t.required_growth),
                t.status.as_str().to_string(),
                calibration_word(results, t.p_met),
                t.reason.clone(),
                t.quote.clone(),
            ]
        });
        render_csv(self.file_name(), &Self::HEADER, rows)
    }
}
