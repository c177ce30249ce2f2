//! `feasibility.md`: the feasibility tables as Markdown, for people.
//!
//! Rationale: the CSV files are for further analysis; this file is what goes into a
//! README or a report as is. It shows probabilities as percentages with their Monte
//! Carlo uncertainty (± 1.96 standard errors, in percentage points) so that a reader
//! does not over-read the last digit, keeps targets that were not modelled with the
//! reason instead of dropping them, and adds one line of explanation under each table.

use std::fmt::Write as _;

use crate::error::Result;
use crate::export::{Exporter, format_number, format_opt};
use crate::results::{RunResults, TargetResult, TargetStatus};

/// Writes `feasibility.md`: a per-target table and a per-plan table.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeasibilityMarkdown;

impl Exporter for FeasibilityMarkdown {
    fn file_name(&self) -> &'static str {
        "feasibility.md"
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        Ok(render_markdown(results).into_bytes())
    }
}

/// Builds the whole document.
fn render_markdown(results: &RunResults) -> String {
    let info = &results.info;
    let mut out = String::new();
    // Writing into a String cannot fail; the results of `writeln!` are ignored.
    let _ = writeln!(
        out,
        "### Feasibility of plan targets — scenario {}, {} draws, seed {}",
        single_line(&info.scenario),
        info.draws,
        info.seed
    );
    out.push('\n');
    // Uncalibrated probabilities say so next to every figure, with the reason here.
    let mark = if info.calibration.calibrated {
        ""
    } else {
        " (uncalibrated)"
    };
    if !info.calibration.calibrated {
        let _ = writeln!(
            out,
            "**Probabilities are uncalibrated:** {}. They follow from the scenario's \
             assumptions; the bands behind them have not been shown to hold.\n",
            single_line(&info.calibration.note)
        );
    } else {
        let _ = writeln!(
            out,
            "Calibration: {}.\n",
            single_line(&info.calibration.note)
        );
    }
    out.push_str(
        "| Plan | Target | Node | Indicator | Year | Target | P(met) | Median [90% interval] |\n",
    );
    out.push_str("| --- | --- | --- | --- | ---: | --- | ---: | --- |\n");
    for t in &results.targets {
        let (p_met, spread) = match t.status {
            TargetStatus::Modelled => (
                format!("{}{mark}", percent(t.p_met, t.p_met_se)),
                median_interval(t),
            ),
            TargetStatus::NotModelled => ("not modelled".to_string(), cell(&t.reason)),
            TargetStatus::Met => ("met (observed)".to_string(), cell(&t.reason)),
            TargetStatus::Missed => ("missed (observed)".to_string(), cell(&t.reason)),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&t.plan),
            cell(&t.target_id),
            cell(&t.node),
            cell(&t.indicator),
            t.year,
            cell(&target_text(t)),
            p_met,
            spread
        );
    }
    out.push('\n');
    out.push_str(
        "P(met): share of draws in which the target is met, ± 1.96 Monte Carlo standard \
         errors in percentage points. Median and 90% interval (5% and 95% quantiles) of \
         the projected value, in the target's unit.\n",
    );
    out.push('\n');
    out.push_str("| Plan | Modelled targets | P(all met) |\n");
    out.push_str("| --- | ---: | ---: |\n");
    for p in &results.plans {
        let p_all = if p.targets_modelled == 0 {
            "no modelled target".to_string()
        } else {
            format!("{}{mark}", percent(p.p_all_met, p.p_all_met_se))
        };
        let _ = writeln!(
            out,
            "| {} | {} of {} | {} |",
            cell(&p.plan),
            p.targets_modelled,
            p.targets_total,
            p_all
        );
    }
    out.push('\n');
    out.push_str(
        "P(all met): share of draws in which all modelled targets of the plan are met \
         together.\n",
    );
    out
}

/// `>= 1500 亿元`: comparator, value and unit.
fn target_text(t: &TargetResult) -> String {
    let value = format_number(t.target);
    if t.unit.is_empty() {
        format!("{} {value}", t.comparator)
    } else {
        format!("{} {value} {}", t.comparator, t.unit)
    }
}

/// `72.4% ± 0.3`: a probability as a percentage with one decimal and ± 1.96 standard
/// errors in percentage points; `n/a` when the probability is missing.
fn percent(p: Option<f64>, se: Option<f64>) -> String {
    let Some(p) = p.filter(|p| p.is_finite()) else {
        return "n/a".to_string();
    };
    let mut text = format!("{:.1}%", p * 100.0);
    if let Some(se) = se.filter(|se| se.is_finite()) {
        let _ = write!(text, " ± {:.1}", 1.96 * se * 100.0);
    }
    text
}

/// `1523.4 [1402.1, 1650.7]`: the median and the 5 % to 95 % interval.
fn median_interval(t: &TargetResult) -> String {
    let median = format_opt(t.p50);
    if median.is_empty() {
        return "n/a".to_string();
    }
    match (t.p05, t.p95) {
        (Some(lo), Some(hi)) => format!("{median} [{}, {}]", format_number(lo), format_number(hi)),
        _ => median,
    }
}

/// Text made safe for a table cell: pipes escaped, line breaks turned into spaces.
fn cell(text: &str) -> String {
    single_line(text).replace('|', "\\|")
}

/// Text on one line: line breaks turned into spaces, outer spaces trimmed.
fn single_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_with_error() {
        assert_eq!(percent(Some(0.724), Some(0.0015)), "72.4% ± 0.3");
        assert_eq!(percent(Some(1.0), Some(0.0)), "100.0% ± 0.0");
        assert_eq!(percent(Some(0.5), None), "50.0%");
        assert_eq!(percent(None, None), "n/a");
        assert_eq!(percent(Some(f64::NAN), Some(0.1)), "n/a");
    }

    #[test]
    fn cells_are_escaped() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
