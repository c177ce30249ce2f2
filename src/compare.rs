//! `xiang compare DIR...`: how much each scenario moves the probability that each plan
//! target is met, against the first scenario.
//!
//! Rationale: a policy scenario is judged by the change it makes, not by its level, and
//! planners want that change as one table to paste. The result folders written by
//! `xiang run` are the contract: this module reads their `feasibility.csv`, `plans.csv`
//! and (optionally) `manifest.json` back, by header name, so it never needs the
//! scenarios, the data or a new run. Targets are matched on everything that defines
//! them (plan, id, node, indicator, year, comparator, value, unit): a target that one
//! folder lacks, or whose definition changed, is shown as missing there, never filled
//! in from another folder.
//!
//! The change against the first scenario is `delta_p_met = p_met − p_met₁` with standard
//! error √(se₁² + se²), which holds for independent runs. Runs with the same seed share
//! most of their random numbers (common random numbers); their Monte Carlo errors are
//! then positively correlated and this standard error overstates the error of the
//! difference, i.e. it is conservative.
//!
//! Both files are rendered in memory first and then swapped in as one folder (a
//! temporary sibling renamed into place), as `xiang run` does, so a failure never leaves
//! a half-written comparison.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, InputIssue, Location, Result};
use crate::export::{format_number, format_opt, render_csv, write_folder};
use crate::result_files::{Row, read_manifest, read_table};

/// File name of the long-format comparison table.
pub const CSV_FILE: &str = "compare.csv";

/// File name of the Markdown comparison table.
pub const MARKDOWN_FILE: &str = "compare.md";

/// Columns of `compare.csv`, in order.
pub const CSV_HEADER: [&str; 14] = [
    "plan",
    "target_id",
    "node",
    "indicator",
    "year",
    "comparator",
    "target",
    "unit",
    "scenario",
    "p_met",
    "p_met_se",
    "delta_p_met",
    "delta_se",
    "status",
];

/// `status` of a target that a result folder does not hold.
pub const MISSING: &str = "missing";

/// What defines a target: two folders hold the same target only if all of these agree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetKey {
    /// Plan identifier.
    pub plan: String,
    /// Target identifier.
    pub target_id: String,
    /// Node or group.
    pub node: String,
    /// Indicator name.
    pub indicator: String,
    /// Target year.
    pub year: i32,
    /// Comparator (`>=`, `>`, `<=`, `<`).
    pub comparator: String,
    /// Target value as written by [`format_number`], in `unit`.
    pub target: String,
    /// Unit of the target value.
    pub unit: String,
}

/// A probability read from a result folder, with its Monte Carlo standard error.
#[derive(Debug, Clone, PartialEq)]
pub struct Probability {
    /// Probability (fraction 0..1); `None` when the target or plan was not modelled.
    pub p: Option<f64>,
    /// Monte Carlo standard error of `p`.
    pub se: Option<f64>,
    /// `modelled` or `not_modelled`, as the folder says.
    pub status: String,
}

/// One target row of a folder's `feasibility.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRow {
    /// What the target is.
    pub key: TargetKey,
    /// Its P(met).
    pub met: Probability,
}

/// One row of a folder's `plans.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRow {
    /// Plan identifier.
    pub plan: String,
    /// Plan title as published.
    pub title: String,
    /// P(all modelled targets met).
    pub all_met: Probability,
}

/// One result folder, read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioResults {
    /// Scenario name: the manifest's `scenario`, else the folder's name.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// Random seed of the run, when the manifest gives it.
    pub seed: Option<u64>,
    /// Number of draws of the run, when the manifest gives it.
    pub draws: Option<u64>,
    /// Targets, in the folder's order.
    pub targets: Vec<TargetRow>,
    /// Plans, in the folder's order.
    pub plans: Vec<PlanRow>,
}

/// One target across scenarios.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparedTarget {
    /// What the target is.
    pub key: TargetKey,
    /// Its P(met) under each scenario, in scenario order; `None` where the folder does
    /// not hold the target.
    pub cells: Vec<Option<Probability>>,
}

/// One plan across scenarios.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparedPlan {
    /// Plan identifier.
    pub plan: String,
    /// Plan title (from the first folder that holds the plan).
    pub title: String,
    /// P(all met) under each scenario; `None` where the folder does not hold the plan.
    pub cells: Vec<Option<Probability>>,
}

/// A scenario as a column of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioColumn {
    /// Column name: the scenario name, made unique if two folders share it.
    pub name: String,
    /// The folder it was read from.
    pub dir: PathBuf,
    /// Random seed, when known.
    pub seed: Option<u64>,
    /// Draws, when known.
    pub draws: Option<u64>,
}

/// Every target's and plan's probability under each scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The scenarios; the first is the reference of every change.
    pub scenarios: Vec<ScenarioColumn>,
    /// Targets, in order of first appearance across the folders.
    pub targets: Vec<ComparedTarget>,
    /// Plans, in order of first appearance across the folders.
    pub plans: Vec<ComparedPlan>,
}

/// The change of a probability against the reference scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delta {
    /// `p − p_reference` (fraction).
    pub value: f64,
    /// √(se² + se_reference²), when both standard errors are known.
    pub se: Option<f64>,
}

/// The change of `cell` against `reference`: `None` unless both probabilities exist.
pub fn delta(reference: Option<&Probability>, cell: Option<&Probability>) -> Option<Delta> {
    let (r, c) = (reference?, cell?);
    let (pr, pc) = (r.p?, c.p?);
    let se = match (r.se, c.se) {
        (Some(a), Some(b)) => Some((a * a + b * b).sqrt()),
        _ => None,
    };
    Some(Delta { value: pc - pr, se })
}

/// `xiang compare DIR... [--out DIR]`: reads the folders, writes `compare.csv` and
/// `compare.md` into `out` (default `results/compare/`) as one unit; returns the paths
/// written.
pub fn command(dirs: &[PathBuf], out: Option<&Path>) -> Result<Vec<PathBuf>> {
    let comparison = compare_dirs(dirs)?;
    let out = out.map_or_else(|| Path::new("results").join("compare"), Path::to_path_buf);
    write(&out, &comparison)
}

/// Reads every folder and compares them; every problem in every folder is reported at
/// once.
pub fn compare_dirs(dirs: &[PathBuf]) -> Result<Comparison> {
    if dirs.is_empty() {
        return Err(Error::invalid(
            Location::file("xiang compare"),
            "no result folder given",
            Some("name at least one folder written by `xiang run`".to_string()),
        ));
    }
    let mut runs = Vec::with_capacity(dirs.len());
    let mut issues = Vec::new();
    for dir in dirs {
        match load(dir) {
            Ok(run) => runs.push(run),
            Err(Error::Invalid(mut more)) => issues.append(&mut more),
            Err(e) => return Err(e),
        }
    }
    if !issues.is_empty() {
        return Err(Error::Invalid(issues));
    }
    Ok(compare(&runs))
}

/// Lines up the targets and plans of `runs`; the first run is the reference.
pub fn compare(runs: &[ScenarioResults]) -> Comparison {
    let n = runs.len();
    let mut targets: Vec<ComparedTarget> = Vec::new();
    let mut target_index: HashMap<TargetKey, usize> = HashMap::new();
    let mut plans: Vec<ComparedPlan> = Vec::new();
    let mut plan_index: HashMap<String, usize> = HashMap::new();
    for (s, run) in runs.iter().enumerate() {
        for row in &run.targets {
            let i = *target_index.entry(row.key.clone()).or_insert_with(|| {
                targets.push(ComparedTarget {
                    key: row.key.clone(),
                    cells: vec![None; n],
                });
                targets.len() - 1
            });
            // A repeated row in one folder keeps its first occurrence.
            if targets[i].cells[s].is_none() {
                targets[i].cells[s] = Some(row.met.clone());
            }
        }
        for row in &run.plans {
            let i = *plan_index.entry(row.plan.clone()).or_insert_with(|| {
                plans.push(ComparedPlan {
                    plan: row.plan.clone(),
                    title: row.title.clone(),
                    cells: vec![None; n],
                });
                plans.len() - 1
            });
            if plans[i].cells[s].is_none() {
                plans[i].cells[s] = Some(row.all_met.clone());
            }
        }
    }
    Comparison {
        scenarios: columns(runs),
        targets,
        plans,
    }
}

/// Scenario columns with unique names: a repeated name gets its folder's name, then a
/// number, appended.
fn columns(runs: &[ScenarioResults]) -> Vec<ScenarioColumn> {
    let mut names: Vec<String> = Vec::with_capacity(runs.len());
    for run in runs {
        let repeated = runs.iter().filter(|r| r.name == run.name).count() > 1;
        let mut name = run.name.clone();
        if repeated {
            let folder = run
                .dir
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !folder.is_empty() && folder != run.name {
                name = format!("{name} ({folder})");
            }
        }
        let base = name.clone();
        let mut k = 2;
        while names.contains(&name) {
            name = format!("{base} #{k}");
            k += 1;
        }
        names.push(name);
    }
    runs.iter()
        .zip(names)
        .map(|(run, name)| ScenarioColumn {
            name,
            dir: run.dir.clone(),
            seed: run.seed,
            draws: run.draws,
        })
        .collect()
}

/// The manifest keys the comparison uses.
#[derive(Deserialize)]
struct ManifestIn {
    scenario: Option<String>,
    seed: Option<u64>,
    draws: Option<u64>,
}

/// Reads one result folder: `feasibility.csv` and `plans.csv` (required) and
/// `manifest.json` (optional; without it the scenario is named after the folder).
pub fn load(dir: &Path) -> Result<ScenarioResults> {
    let hint = || Some("name a folder written by `xiang run`".to_string());
    if !dir.is_dir() {
        return Err(Error::invalid(Location::file(dir), "not a folder", hint()));
    }
    let mut issues = Vec::new();
    for name in ["feasibility.csv", "plans.csv"] {
        if !dir.join(name).is_file() {
            issues.push(InputIssue::new(
                Location::file(dir.join(name)),
                format!("no {name} in this folder"),
                hint(),
            ));
        }
    }
    if !issues.is_empty() {
        return Err(Error::Invalid(issues));
    }

    let manifest_path = dir.join("manifest.json");
    let manifest = if manifest_path.is_file() {
        Some(read_manifest::<ManifestIn>(
            &manifest_path,
            "the manifest is written by `xiang run`; run the scenario again or delete the file to name the scenario after its folder",
        )?)
    } else {
        None
    };
    let folder_name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    let name = manifest
        .as_ref()
        .and_then(|m| m.scenario.clone())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(folder_name);

    let targets = read_table(
        &dir.join("feasibility.csv"),
        &[
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
            "status",
        ],
        &mut issues,
        |row| {
            let key = TargetKey {
                plan: row.text("plan")?,
                target_id: row.text("target_id")?,
                node: row.text("node")?,
                indicator: row.text("indicator")?,
                year: row.int("year")?,
                comparator: row.text("comparator")?,
                target: format_number(row.number("target")?),
                unit: row.text("unit")?,
            };
            let met = probability(row, "p_met", "p_met_se")?;
            Some(TargetRow { key, met })
        },
    )?;
    let plans = read_table(
        &dir.join("plans.csv"),
        &["plan", "title", "p_all_met", "p_all_met_se"],
        &mut issues,
        |row| {
            Some(PlanRow {
                plan: row.text("plan")?,
                title: row.text("title")?,
                all_met: probability(row, "p_all_met", "p_all_met_se")?,
            })
        },
    )?;
    if !issues.is_empty() {
        return Err(Error::Invalid(issues));
    }
    Ok(ScenarioResults {
        name,
        dir: dir.to_path_buf(),
        seed: manifest.as_ref().and_then(|m| m.seed),
        draws: manifest.as_ref().and_then(|m| m.draws),
        targets,
        plans,
    })
}

/// A probability column, its standard error and the row's status; a probability must
/// lie in [0, 1]. Folders without a `status` column take it from whether `p` is given.
fn probability(row: &mut Row<'_>, p_key: &str, se_key: &str) -> Option<Probability> {
    let p = row.opt_number(p_key)?;
    let se = row.opt_number(se_key)?;
    if let Some(v) = p.filter(|v| !(0.0..=1.0).contains(v)) {
        row.issue(
            p_key,
            format!("{} is not a probability", format_number(v)),
            Some("probabilities are fractions between 0 and 1".to_string()),
        );
        return None;
    }
    let status = if row.has("status") {
        row.text("status")?
    } else if p.is_some() {
        "modelled".to_string()
    } else {
        "not_modelled".to_string()
    };
    Some(Probability { p, se, status })
}

/// Renders `compare.csv`: one row per target and scenario, in target order then
/// scenario order. A scenario whose folder lacks the target has status `missing` and
/// empty numbers; the reference scenario's own change is 0.
pub fn render_csv_file(comparison: &Comparison) -> Result<Vec<u8>> {
    let mut rows = Vec::with_capacity(comparison.targets.len() * comparison.scenarios.len());
    for t in &comparison.targets {
        let reference = t.cells.first().and_then(Option::as_ref);
        for (scenario, cell) in comparison.scenarios.iter().zip(&t.cells) {
            let d = delta(reference, cell.as_ref());
            let k = &t.key;
            rows.push(vec![
                k.plan.clone(),
                k.target_id.clone(),
                k.node.clone(),
                k.indicator.clone(),
                k.year.to_string(),
                k.comparator.clone(),
                k.target.clone(),
                k.unit.clone(),
                scenario.name.clone(),
                format_opt(cell.as_ref().and_then(|c| c.p)),
                format_opt(cell.as_ref().and_then(|c| c.se)),
                format_opt(d.map(|d| d.value)),
                format_opt(d.and_then(|d| d.se)),
                cell.as_ref()
                    .map_or_else(|| MISSING.to_string(), |c| c.status.clone()),
            ]);
        }
    }
    render_csv(CSV_FILE, &CSV_HEADER, rows)
}

/// Renders `compare.md`: one row per target and one column per scenario with P(met)
/// and its change against the first scenario, then the plans' joint probabilities.
pub fn render_markdown(comparison: &Comparison) -> String {
    let mut md = String::new();
    let reference = comparison.scenarios.first().map_or("", |s| s.name.as_str());
    let _ = writeln!(
        md,
        "### Plan targets by scenario — change against `{reference}`\n"
    );
    for s in &comparison.scenarios {
        let mut run = String::new();
        if let Some(draws) = s.draws {
            let _ = write!(run, ", {draws} draws");
        }
        if let Some(seed) = s.seed {
            let _ = write!(run, ", seed {seed}");
        }
        let _ = writeln!(
            md,
            "- `{}`: {}{run}",
            cell(&s.name),
            cell(&s.dir.display().to_string())
        );
    }
    md.push('\n');

    md.push_str("| Plan | Target | Node | Indicator | Year | Target value |");
    for s in &comparison.scenarios {
        let _ = write!(md, " {} |", cell(&s.name));
    }
    md.push_str("\n| --- | --- | --- | --- | ---: | --- |");
    md.push_str(&" ---: |".repeat(comparison.scenarios.len()));
    md.push('\n');
    for t in &comparison.targets {
        let k = &t.key;
        let value = if k.unit.is_empty() {
            format!("{} {}", k.comparator, k.target)
        } else {
            format!("{} {} {}", k.comparator, k.target, k.unit)
        };
        let _ = write!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&k.plan),
            cell(&k.target_id),
            cell(&k.node),
            cell(&k.indicator),
            k.year,
            cell(&value)
        );
        push_cells(&mut md, &t.cells);
    }

    md.push_str("\nP(all modelled targets of the plan met in the same draw):\n\n");
    md.push_str("| Plan | Title |");
    for s in &comparison.scenarios {
        let _ = write!(md, " {} |", cell(&s.name));
    }
    md.push_str("\n| --- | --- |");
    md.push_str(&" ---: |".repeat(comparison.scenarios.len()));
    md.push('\n');
    for p in &comparison.plans {
        let _ = write!(md, "| {} | {} |", cell(&p.plan), cell(&p.title));
        push_cells(&mut md, &p.cells);
    }

    md.push_str(
        "\nP(met) is the share of draws meeting the target; Δ is the change against the \
         first scenario in percentage points. An empty cell: the folder holds no such \
         target or plan. compare.csv gives each change with its Monte Carlo standard \
         error, √(se₁² + se²) for independent runs; runs with the same seed share most \
         random numbers, and the error of their difference is smaller than stated.\n",
    );
    md
}

/// Appends one row's scenario cells and ends the row.
fn push_cells(md: &mut String, cells: &[Option<Probability>]) {
    let reference = cells.first().and_then(Option::as_ref);
    for (i, c) in cells.iter().enumerate() {
        let text = match c {
            None => String::new(),
            Some(Probability { p: None, .. }) => "not modelled".to_string(),
            Some(c @ Probability { p: Some(p), .. }) => {
                let mut text = format!("{:.1}%", p * 100.0);
                if i > 0
                    && let Some(d) = delta(reference, Some(c))
                {
                    let _ = write!(text, " (Δ {} pts)", signed_points(d.value));
                }
                text
            }
        };
        let _ = write!(md, " {text} |");
    }
    md.push('\n');
}

/// A change of probability in percentage points with one decimal and its sign; a
/// change that rounds to zero is `+0.0`.
fn signed_points(delta: f64) -> String {
    let points = delta * 100.0;
    if points.abs() < 0.05 {
        "+0.0".to_string()
    } else {
        format!("{points:+.1}")
    }
}

/// Text made safe for a table cell: pipes escaped, line breaks turned into spaces.
fn cell(text: &str) -> String {
    text.replace(['\r', '\n'], " ").trim().replace('|', "\\|")
}

/// Writes `compare.csv` and `compare.md` into the folder `dir`, replacing it as a whole;
/// returns the paths written.
///
/// Both files are rendered first and written with [`write_folder`]: into a hidden
/// sibling folder renamed into place. An existing `dir` must be a folder that is empty
/// or holds an earlier comparison (a file named like one of the outputs); otherwise
/// nothing is written.
pub fn write(dir: &Path, comparison: &Comparison) -> Result<Vec<PathBuf>> {
    let files = [
        (CSV_FILE, render_csv_file(comparison)?),
        (MARKDOWN_FILE, render_markdown(comparison).into_bytes()),
    ];
    write_folder(dir, &files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prob(p: Option<f64>, se: Option<f64>) -> Probability {
        Probability {
            p,
            se,
            status: if p.is_some() {
                "modelled"
            } else {
                "not_modelled"
            }
            .to_string(),
        }
    }

    #[test]
    fn delta_adds_variances() {
        let d = delta(
            Some(&prob(Some(0.5), Some(0.003))),
            Some(&prob(Some(0.6), Some(0.004))),
        );
        let d = d.expect("both probabilities exist");
        assert!((d.value - 0.1).abs() < 1e-12);
        assert!((d.se.unwrap_or(f64::NAN) - 0.005).abs() < 1e-12);
    }

    #[test]
    fn no_delta_without_both_probabilities() {
        assert_eq!(delta(None, Some(&prob(Some(0.5), None))), None);
        assert_eq!(
            delta(Some(&prob(None, None)), Some(&prob(Some(0.5), None))),
            None
        );
    }

    #[test]
    fn signed_points_rounds_and_signs() {
        assert_eq!(signed_points(0.0421), "+4.2");
        assert_eq!(signed_points(-0.1234), "-12.3");
        assert_eq!(signed_points(-0.0004), "+0.0");
    }

    #[test]
    fn repeated_names_are_made_unique() {
        let run = |name: &str, dir: &str| ScenarioResults {
            name: name.to_string(),
            dir: PathBuf::from(dir),
            seed: None,
            draws: None,
            targets: Vec::new(),
            plans: Vec::new(),
        };
        let cols = columns(&[run("a", "x/one"), run("a", "x/two"), run("b", "x/b")]);
        let names: Vec<_> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a (one)", "a (two)", "b"]);
    }
}
