//! `flows.csv`: the gravity flow on each link between nodes, per projected year.
//!
//! Rationale: logistics policy is about links (a new rail line, a hub bid); a planner
//! needs to see which flows a scenario raises. Gravity flows have no natural unit, so
//! each link is an index of its own base-year flow (= 100), nominal of prices.

use crate::error::Result;
use crate::export::{Exporter, format_number, render_csv};
use crate::results::RunResults;

/// Writes `flows.csv`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowsCsv;

impl FlowsCsv {
    /// The file's columns, in order.
    pub const HEADER: [&'static str; 9] = [
        "scenario",
        "year",
        "origin",
        "destination",
        "unit",
        "mean",
        "p05",
        "p50",
        "p95",
    ];
}

impl Exporter for FlowsCsv {
    fn file_name(&self) -> &'static str {
        "flows.csv"
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        let rows = results.flows.iter().map(|f| {
            vec![
                results.info.scenario.clone(),
                f.year.to_string(),
                f.origin.clone(),
                f.destination.clone(),
                "index, base year = 100".to_string(),
                format_number(f.mean),
                format_number(f.p05),
                format_number(f.p50),
                format_number(f.p95),
            ]
        });
        render_csv(self.file_name(), &Self::HEADER, rows)
    }
}
