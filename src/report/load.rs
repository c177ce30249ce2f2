//! Reads a result folder written by `xiang run` back into [`RunResults`].
//!
//! Rationale: `xiang report DIR...` renders reports of earlier runs, possibly several
//! for a comparison, without running them again. The folder's files are the contract:
//! columns are found by header name (so added columns do not break old readers), a
//! leading byte-order mark (`--excel`) is accepted, and every problem is reported with
//! the file, line and column, all at once, as bad input (exit code 2). `history.csv`
//! is optional, since folders written before it existed lack it; the report then shows
//! no observed points and no delivered growth.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, InputIssue, Location, Result};
use crate::report::UTF8_BOM;
use crate::results::{
    CalibrationInfo, InputFile, ObservedPoint, PlanResult, RunInfo, RunResults, SeriesSummary,
    TargetResult, TargetStatus,
};

/// Reads `dir`'s `manifest.json`, `summary.csv`, `feasibility.csv`, `plans.csv` and
/// (if present) `history.csv`.
pub fn load_results(dir: &Path) -> Result<RunResults> {
    let info = load_manifest(&dir.join("manifest.json"))?;
    let mut issues = Vec::new();
    let series = read_table(&dir.join("summary.csv"), &mut issues, |row| {
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
    })?;
    let targets = read_table(&dir.join("feasibility.csv"), &mut issues, |row| {
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
    })?;
    let plans = read_table(&dir.join("plans.csv"), &mut issues, |row| {
        Some(PlanResult {
            plan: row.text("plan")?,
            title: row.text("title")?,
            targets_total: row.count("targets_total")?,
            targets_modelled: row.count("targets_modelled")?,
            p_all_met: row.opt_number("p_all_met")?,
            p_all_met_se: row.opt_number("p_all_met_se")?,
        })
    })?;
    let history = dir.join("history.csv");
    let observed = if history.exists() {
        read_table(&history, &mut issues, |row| {
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
        })?
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

fn read_file(path: &Path) -> Result<String> {
    let bytes = fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes = bytes.strip_prefix(&UTF8_BOM).unwrap_or(&bytes);
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        Error::invalid(
            Location::file(path),
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            Some(
                "result files are written as UTF-8; was the file re-saved in another encoding?"
                    .to_string(),
            ),
        )
    })
}

fn load_manifest(path: &Path) -> Result<RunInfo> {
    let text = read_file(path)?;
    let m: ManifestIn = serde_json::from_str(&text).map_err(|e| {
        let mut location = Location::file(path);
        location.line = Some(e.line()).filter(|l| *l > 0);
        Error::invalid(
            location,
            format!("malformed manifest: {e}"),
            Some("the folder must be written by `xiang run`".to_string()),
        )
    })?;
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
        }),
    })
}

/// One CSV record with its header, collecting problems as it is read.
struct Row<'a> {
    file: &'a Path,
    line: usize,
    columns: &'a HashMap<String, usize>,
    record: &'a csv::StringRecord,
    issues: &'a mut Vec<InputIssue>,
}

impl Row<'_> {
    fn issue(&mut self, key: &str, message: String) {
        self.issues.push(InputIssue::new(
            Location {
                file: self.file.to_path_buf(),
                line: Some(self.line),
                key: Some(key.to_string()),
            },
            message,
            None,
        ));
    }

    fn text(&mut self, key: &str) -> Option<String> {
        // Columns were checked against the header before any row is read.
        let index = *self.columns.get(key)?;
        match self.record.get(index) {
            Some(v) => Some(v.to_string()),
            None => {
                self.issue(key, "missing field".to_string());
                None
            }
        }
    }

    fn opt_number(&mut self, key: &str) -> Option<Option<f64>> {
        let text = self.text(key)?;
        if text.trim().is_empty() {
            return Some(None);
        }
        match text.trim().parse::<f64>() {
            Ok(v) => Some(Some(v)),
            Err(_) => {
                self.issue(key, format!("`{text}` is not a number"));
                None
            }
        }
    }

    fn number(&mut self, key: &str) -> Option<f64> {
        match self.opt_number(key)? {
            Some(v) => Some(v),
            None => {
                self.issue(key, "empty field; a number is required".to_string());
                None
            }
        }
    }

    fn int(&mut self, key: &str) -> Option<i32> {
        let text = self.text(key)?;
        match text.trim().parse::<i32>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.issue(key, format!("`{text}` is not a whole number"));
                None
            }
        }
    }

    fn count(&mut self, key: &str) -> Option<usize> {
        let text = self.text(key)?;
        match text.trim().parse::<usize>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.issue(key, format!("`{text}` is not a count"));
                None
            }
        }
    }
}

/// Reads the CSV file at `path`, turning each record into a `T` with `parse`.
/// Columns the parser asks for must be in the header.
fn read_table<T>(
    path: &Path,
    issues: &mut Vec<InputIssue>,
    mut parse: impl FnMut(&mut Row<'_>) -> Option<T>,
) -> Result<Vec<T>> {
    let text = read_file(path)?;
    let file: PathBuf = path.to_path_buf();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| csv_error(&file, &e))?.clone();
    let columns: HashMap<String, usize> = header
        .iter()
        .enumerate()
        .map(|(i, name)| (name.to_string(), i))
        .collect();
    let required = required_columns(path);
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !columns.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        for column in missing {
            issues.push(InputIssue::new(
                Location {
                    file: file.clone(),
                    line: Some(1),
                    key: Some(column.to_string()),
                },
                "missing column in the header",
                Some("the folder must be written by `xiang run`".to_string()),
            ));
        }
        return Ok(Vec::new());
    }
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                issues.push(issue_of(&file, &e));
                break;
            }
        }
        let line = record.position().map_or(0, |p| p.line() as usize);
        let mut row = Row {
            file: &file,
            line,
            columns: &columns,
            record: &record,
            issues,
        };
        if let Some(value) = parse(&mut row) {
            rows.push(value);
        }
    }
    Ok(rows)
}

/// The columns each result file must have.
fn required_columns(path: &Path) -> &'static [&'static str] {
    match path.file_name().and_then(|n| n.to_str()) {
        Some("summary.csv") => &[
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
        ],
        Some("feasibility.csv") => &[
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
            "reason",
            "quote",
        ],
        Some("plans.csv") => &[
            "plan",
            "title",
            "targets_total",
            "targets_modelled",
            "p_all_met",
            "p_all_met_se",
        ],
        Some("history.csv") => &[
            "node",
            "indicator",
            "year",
            "value",
            "unit",
            "real_growth_pct",
            "vintage",
            "source",
        ],
        _ => &[],
    }
}

fn issue_of(file: &Path, e: &csv::Error) -> InputIssue {
    let line = e.position().map(|p| p.line() as usize);
    InputIssue::new(
        Location {
            file: file.to_path_buf(),
            line,
            key: None,
        },
        format!("malformed CSV: {e}"),
        None,
    )
}

fn csv_error(file: &Path, e: &csv::Error) -> Error {
    Error::Invalid(vec![issue_of(file, e)])
}
