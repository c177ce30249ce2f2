//! `plans.csv`: one row per plan with the probability that all its modelled targets are
//! met in the same draw.
//!
//! Rationale: targets of one plan are correlated (they share the same economy), so the
//! joint probability is not the product of the per-target ones; it is reported next to
//! the count of targets it covers, so a high figure over few modelled targets is not
//! mistaken for the whole plan's feasibility.

use crate::error::Result;
use crate::export::{Exporter, calibration_word, format_opt, render_csv};
use crate::results::RunResults;

/// Writes `plans.csv`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlansCsv;

impl PlansCsv {
    /// The file's columns, in order.
    pub const HEADER: [&'static str; 7] = [
        "plan",
        "title",
        "targets_total",
        "targets_modelled",
        "p_all_met",
        "p_all_met_se",
        "calibration",
    ];
}

impl Exporter for PlansCsv {
    fn file_name(&self) -> &'static str {
        "plans.csv"
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        let rows = results.plans.iter().map(|p| {
            vec![
                p.plan.clone(),
                p.title.clone(),
                p.targets_total.to_string(),
                p.targets_modelled.to_string(),
                format_opt(p.p_all_met),
                format_opt(p.p_all_met_se),
                calibration_word(results, p.p_all_met),
            ]
        });
        render_csv(self.file_name(), &Self::HEADER, rows)
    }
}
