//! Reads a result folder written by `xiang run` back into [`RunResults`].
//!
//! Rationale: `xiang report DIR...` renders reports of earlier runs, possibly several
//! for a comparison, without running them again. The folder's files are the contract:
//! columns are found by header name (so added columns do not break old readers), a
//! leading byte-order mark (`--excel`) is accepted, and every problem is reported with
//! the file, line and column, all at once, as bad input (exit code 2). `history.csv`
//! is optional, since folders written before it existed lack it; the report then shows
//! no observed points and no delivered growth.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::export::{FeasibilityCsv, HistoryCsv, PlansCsv, SummaryCsv};
use crate::result_files::{read_manifest, read_table};
use crate::results::{
    CalibrationInfo, InputFile, ObservedPoint, PlanResult, RunInfo, RunResults, SeriesSummary,
    TargetResult, TargetStatus,
};

/// Reads `dir`'s `manifest.json`, `summary.csv`, `feasibility.csv`, `plans.csv` and
/// (if present) `history.csv`.
pub fn load_results(dir: &Path) -> Result<RunResults> {
    let info = load_manifest(&dir.join("manifest.json"))?;
    let mut issues = Vec::new();
    let series = read_table(
        &dir.join("summary.csv"),
        &required(&SummaryCsv::HEADER),
        &mut issues,
        |row| {
            Some(SeriesSummary {
                entity: row.text("node")?,
                indicator: row.text("indicator")?,
                year: row.int("year")?,
                unit: row.text("unit")?,
                mean: row.number("mean")?,
                sd: row.number("sd")?,
                quantiles: [
                    row.number("p05")?,
                    row.number("p10")?,
                    row.number("p25")?,
                    row.number("p50")?,
                    row.number("p75")?,
                    row.number("p90")?,
                    row.number("p95")?,
                ],
            })
        },
    )?;
    let targets = read_table(
        &dir.join("feasibility.csv"),
        &required(&FeasibilityCsv::HEADER),
        &mut issues,
        |row| {
            let status = match row.text("status")?.as_str() {
                "modelled" => TargetStatus::Modelled,
                "not_modelled" => TargetStatus::NotModelled,
                "met" => TargetStatus::Met,
                "missed" => TargetStatus::Missed,
                other => {
                    row.issue(
                    "status",
                    format!(
                        "unknown status `{other}`; expected modelled, not_modelled, met or missed"
                    ),
                    None,
                );
                    return None;
                }
            };
            Some(TargetResult {
                plan: row.text("plan")?,
                target_id: row.text("target_id")?,
                node: row.text("node")?,
                indicator: row.text("indicator")?,
                year: row.int("year")?,
                comparator: row.text("comparator")?,
                target: row.number("target")?,
                unit: row.text("unit")?,
                p_met: row.opt_number("p_met")?,
                p_met_se: row.opt_number("p_met_se")?,
                p05: row.opt_number("p05")?,
                p50: row.opt_number("p50")?,
                p95: row.opt_number("p95")?,
                required_growth: row.opt_number("required_growth")?,
                status,
                reason: row.text("reason")?,
                quote: row.text("quote")?,
            })
        },
    )?;
    let plans = read_table(
        &dir.join("plans.csv"),
        &required(&PlansCsv::HEADER),
        &mut issues,
        |row| {
            Some(PlanResult {
                plan: row.text("plan")?,
                title: row.text("title")?,
                targets_total: row.count("targets_total")?,
                targets_modelled: row.count("targets_modelled")?,
                p_all_met: row.opt_number("p_all_met")?,
                p_all_met_se: row.opt_number("p_all_met_se")?,
            })
        },
    )?;
    let history = dir.join("history.csv");
    let observed = if history.exists() {
        read_table(
            &history,
            &required(&HistoryCsv::HEADER),
            &mut issues,
            |row| {
                Some(ObservedPoint {
                    node: row.text("node")?,
                    indicator: row.text("indicator")?,
                    year: row.int("year")?,
                    value: row.number("value")?,
                    unit: row.text("unit")?,
                    real_growth_pct: row.opt_number("real_growth_pct")?,
                    vintage: row.text("vintage")?,
                    source: row.text("source")?,
                })
            },
        )?
    } else {
        Vec::new()
    };
    if !issues.is_empty() {
        return Err(Error::Invalid(issues));
    }
    Ok(RunResults {
        info,
        series,
        targets,
        plans,
        observed,
        // Link flows are not part of the report and are not read back.
        flows: Vec::new(),
    })
}

/// The manifest's keys that the report needs.
#[derive(Deserialize)]
struct ManifestIn {
    version: String,
    scenario: String,
    base_year: i32,
    horizon: i32,
    seed: u64,
    draws: u64,
    #[serde(default)]
    threads: usize,
    #[serde(default)]
    wall_time_s: f64,
    #[serde(default)]
    files: Vec<FileIn>,
    /// Absent from folders written before calibration-gated wording existed.
    #[serde(default)]
    calibration: Option<CalibrationInfo>,
}

/// One input file in the manifest.
#[derive(Deserialize)]
struct FileIn {
    role: String,
    path: String,
    sha256: String,
}

fn load_manifest(path: &Path) -> Result<RunInfo> {
    let m: ManifestIn = read_manifest(path, "the folder must be written by `xiang run`")?;
    Ok(RunInfo {
        version: m.version,
        scenario: m.scenario,
        base_year: m.base_year,
        horizon: m.horizon,
        seed: m.seed,
        draws: m.draws,
        threads: m.threads,
        wall_time_s: m.wall_time_s,
        files: m
            .files
            .into_iter()
            .map(|f| InputFile {
                role: f.role,
                path: f.path,
                sha256: f.sha256,
            })
            .collect(),
        calibration: m.calibration.unwrap_or_else(|| CalibrationInfo {
            calibrated: false,
            note: "the result folder records no backtest".to_string(),
            coverage90: None,
            points: None,
        }),
    })
}

/// Columns added after the first release: older folders lack them, so they are read
/// where present and never required.
const LATER_COLUMNS: [&str; 1] = ["calibration"];

/// The columns of `header` that every result folder has.
fn required<'a>(header: &[&'a str]) -> Vec<&'a str> {
    header
        .iter()
        .copied()
        .filter(|c| !LATER_COLUMNS.contains(c))
        .collect()
}
