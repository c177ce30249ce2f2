//! Backtest: project from a past base year and score the projection against what was
//! observed later.
//!
//! Rationale: a probability of meeting a target is only worth reporting if the bands
//! it comes from are honest, i.e. observed values fall inside the 90% band about 90% of
//! the time. This module runs a scenario whose base year lies in the past, scores every
//! later observed value that is comparable with the projection, and summarizes the
//! coverage with its binomial uncertainty; [`calibration_status`] turns a summary into
//! the verdict that decides whether probabilities may be called calibrated.
//!
//! Comparable means one data vintage: a level is scored only where the observed
//! figure's vintage equals that of the base-year figure the projection starts from
//! (after the 2018 census, 2019–2020 levels are not comparable with first-published
//! 2017 levels); published real growth rates are scored in every year, as annual real
//! growth, which the model holds in every draw.
//!
//! Scores: PIT is the mid-rank share of draws below the observed value (ties count
//! half), so a value at the median of a symmetric sample has PIT 0.5; CRPS is
//! E|X − y| − ½ E|X − X′| over the empirical distribution of the draws, computed from
//! sorted draws in O(n log n).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::{History, read_history};
use crate::engine::layout::Layout;
use crate::engine::{self, Draws, RunSettings, with_threads};
use crate::error::{Error, Result};
use crate::export::{format_number, write_folder};
use crate::indicator::Indicator;
use crate::scenario::Scenario;
use crate::stats::quantile_sorted;

/// Fewest scored points for a 90% coverage to count: with n points the binomial
/// standard error at 90% is √(0.09/n), and the 80% threshold lies two standard errors
/// below 90% only from n = 36.
pub const MIN_POINTS: usize = 36;

/// 90% coverage below which probabilities are called uncalibrated.
pub const MIN_COVERAGE90: f64 = 0.80;

/// Scores of one observed value against the draws.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// Quantiles at 5, 25, 50, 75 and 95%.
    pub quantiles: [f64; 5],
    /// Mid-rank PIT: (#{x < y} + #{x ≤ y}) / (2n).
    pub pit: f64,
    /// CRPS of the empirical distribution, in the value's unit.
    pub crps: f64,
    /// Inside the central 50% band [p25, p75].
    pub in50: bool,
    /// Inside the central 90% band [p05, p95].
    pub in90: bool,
}

/// Scores `observed` against `draws` (any order; NaN draws are dropped). Returns `None`
/// when no finite draw is left.
pub fn score(draws: &[f64], observed: f64) -> Option<Score> {
    let mut x: Vec<f64> = draws.iter().copied().filter(|v| v.is_finite()).collect();
    if x.is_empty() {
        return None;
    }
    x.sort_by(f64::total_cmp);
    let q = [0.05, 0.25, 0.5, 0.75, 0.95].map(|p| quantile_sorted(&x, p));
    let below = x.partition_point(|v| *v < observed);
    let at_or_below = x.partition_point(|v| *v <= observed);
    let n = x.len() as f64;
    Some(Score {
        quantiles: q,
        pit: (below + at_or_below) as f64 / (2.0 * n),
        crps: crps_sorted(&x, observed),
        in50: observed >= q[1] && observed <= q[3],
        in90: observed >= q[0] && observed <= q[4],
    })
}

/// CRPS of the empirical distribution of ascending-sorted `x` at `y`:
/// mean |xᵢ − y| − (1/n²) Σᵢ (2i − n − 1) x₍ᵢ₎ (i from 1), which equals
/// E|X − y| − ½ E|X − X′| with X, X′ independent draws from the sample.
pub fn crps_sorted(x: &[f64], y: f64) -> f64 {
    let n = x.len();
    if n == 0 {
        return f64::NAN;
    }
    let nf = n as f64;
    let abs: f64 = x.iter().map(|v| (v - y).abs()).sum::<f64>() / nf;
    let spread: f64 = x
        .iter()
        .enumerate()
        .map(|(i, v)| (2.0 * (i as f64 + 1.0) - nf - 1.0) * v)
        .sum::<f64>()
        / (nf * nf);
    abs - spread
}

/// A coverage rate with its binomial uncertainty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Points inside the band.
    pub hits: usize,
    /// Points scored.
    pub n: usize,
    /// hits / n (NaN-free: 0 when n = 0).
    pub rate: f64,
    /// Binomial standard error √(rate (1 − rate) / n).
    pub se: f64,
    /// Wilson 95% interval.
    pub wilson95: [f64; 2],
}

impl Coverage {
    /// The coverage of `hits` out of `n`.
    pub fn new(hits: usize, n: usize) -> Coverage {
        if n == 0 {
            return Coverage {
                hits,
                n,
                rate: 0.0,
                se: 0.0,
                wilson95: [0.0, 1.0],
            };
        }
        let nf = n as f64;
        let p = hits as f64 / nf;
        let z: f64 = 1.959_963_984_540_054;
        let den = 1.0 + z * z / nf;
        let centre = (p + z * z / (2.0 * nf)) / den;
        let half = z * (p * (1.0 - p) / nf + z * z / (4.0 * nf * nf)).sqrt() / den;
        Coverage {
            hits,
            n,
            rate: p,
            se: (p * (1.0 - p) / nf).sqrt(),
            wilson95: [(centre - half).max(0.0), (centre + half).min(1.0)],
        }
    }
}

/// One scored observation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// What was observed.
    #[serde(flatten)]
    pub seen: Seen,
    /// Scores.
    pub score: Score,
}

/// An observation not scored, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    /// Node.
    pub node: String,
    /// Indicator.
    pub indicator: String,
    /// Year.
    pub year: i32,
    /// Why.
    pub reason: String,
}

/// Coverage of one subset of points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// What the subset is (e.g. `level`, `growth`, `2020`).
    pub label: String,
    /// 50% coverage.
    pub coverage50: Coverage,
    /// 90% coverage.
    pub coverage90: Coverage,
    /// Mean PIT.
    pub mean_pit: f64,
}

/// The backtest summary (`backtest-summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Base year.
    pub base_year: i32,
    /// Horizon.
    pub horizon: i32,
    /// Seed.
    pub seed: u64,
    /// Draws.
    pub draws: u64,
    /// Observed data file.
    pub observed_file: String,
    /// Points scored.
    pub points: usize,
    /// 50% coverage over all points.
    pub coverage50: Coverage,
    /// 90% coverage over all points.
    pub coverage90: Coverage,
    /// Mean PIT (0.5 for an unbiased projection).
    pub mean_pit: f64,
    /// Coverage by kind (level, growth) and by year.
    pub groups: Vec<Group>,
    /// Observations left out, with reasons.
    pub skipped: Vec<Skipped>,
    /// Rule applied: fewest points and least 90% coverage for calibrated wording.
    pub rule: String,
    /// `calibrated` or `uncalibrated`.
    pub status: String,
    /// The reason for the status.
    pub status_reason: String,
}

/// A backtest's points and summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Backtest {
    /// Scored points, in node, indicator, year order.
    pub points: Vec<Point>,
    /// The summary.
    pub summary: Summary,
}

/// Annual real growth (%) in year offset `t` ≥ 1 from the average-growth series at `t`
/// and `t − 1` (CAGRs since the base, %), per draw.
pub fn annual_growth(cagr_t: &[f64], cagr_prev: Option<&[f64]>, t: usize) -> Vec<f64> {
    let ratio = |c: f64, years: usize| (1.0 + c / 100.0).powi(years as i32);
    cagr_t
        .iter()
        .enumerate()
        .map(|(d, c)| {
            let now = ratio(*c, t);
            let prev = cagr_prev.map_or(1.0, |p| ratio(p[d], t - 1));
            100.0 * (now / prev - 1.0)
        })
        .collect()
}

/// An observed value to score, or one left out: what [`plan`] finds comparable.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    /// A level: scored against the draws of the layout's series `series`.
    Level {
        /// The observation.
        seen: Seen,
        /// The projected level's column in the layout.
        series: usize,
    },
    /// Annual real growth in year offset `t` ≥ 1, from the columns of average growth
    /// since the base year at `t` (`series`) and at `t − 1` (`prev`, none when t = 1).
    Growth {
        /// The observation.
        seen: Seen,
        /// The average growth's column at `t`.
        series: usize,
        /// The average growth's column at `t − 1`.
        prev: Option<usize>,
        /// Years since the base year.
        t: usize,
    },
    /// Not comparable, with the reason.
    Skipped(Skipped),
}

/// One observed value, as a scored point reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Seen {
    /// Node name.
    pub node: String,
    /// Indicator scored (`service_va`, `gdp`: levels; `*_real_growth_yoy`: annual real
    /// growth in that year).
    pub indicator: String,
    /// Unit.
    pub unit: String,
    /// Year.
    pub year: i32,
    /// Observed value.
    pub observed: f64,
    /// Vintage of the observed figure.
    pub vintage: String,
}

impl Planned {
    /// The layout's columns this observation is scored against.
    pub fn series(&self) -> impl Iterator<Item = usize> {
        let (a, b) = match self {
            Planned::Level { series, .. } => (Some(*series), None),
            Planned::Growth { series, prev, .. } => (Some(*series), *prev),
            Planned::Skipped(_) => (None, None),
        };
        a.into_iter().chain(b)
    }
}

/// Scores the draws of `scenario` against `observed` (see the module notes for what is
/// comparable). Nodes only; years base + 1 ..= horizon.
pub fn score_draws(scenario: &Scenario, draws: &Draws, observed: &History) -> Vec<ScoredOrSkipped> {
    score_planned(plan(scenario, &draws.layout, observed), draws)
}

/// Scores each planned observation against `draws`, which must store the series it
/// names (a series not stored leaves the observation out, saying so).
pub fn score_planned(planned: Vec<Planned>, draws: &Draws) -> Vec<ScoredOrSkipped> {
    let missing = |seen: Seen| {
        ScoredOrSkipped::Skipped(Skipped {
            node: seen.node,
            indicator: seen.indicator,
            year: seen.year,
            reason: "its series was not simulated".into(),
        })
    };
    planned
        .into_iter()
        .map(|p| match p {
            Planned::Level { seen, series } => match draws.column(series) {
                Some(values) => point(seen, &values),
                None => missing(seen),
            },
            Planned::Growth {
                seen,
                series,
                prev,
                t,
            } => {
                let prev_values = prev.map(|p| draws.column(p));
                match (draws.column(series), prev_values) {
                    (Some(now), None) => point(seen, &annual_growth(&now, None, t)),
                    (Some(now), Some(Some(before))) => {
                        point(seen, &annual_growth(&now, Some(&before), t))
                    }
                    _ => missing(seen),
                }
            }
            Planned::Skipped(s) => ScoredOrSkipped::Skipped(s),
        })
        .collect()
}

/// What can be scored of `observed` against a projection of `scenario` recording
/// `layout`, in node, indicator, year order (see the module notes for what is
/// comparable). Nodes only; years base + 1 ..= horizon.
pub fn plan(scenario: &Scenario, layout: &Layout, observed: &History) -> Vec<Planned> {
    let mut out = Vec::new();
    for (e, node) in scenario.nodes.iter().enumerate() {
        for (hist_name, level_ind, growth_ind) in [
            (
                "service_va",
                Indicator::ServiceVa,
                Indicator::ServiceVaRealGrowth,
            ),
            ("gdp", Indicator::Gdp, Indicator::GdpRealGrowth),
        ] {
            let base = scenario
                .history
                .get(&node.name, hist_name, scenario.base_year);
            for year in scenario.base_year + 1..=scenario.horizon {
                let Some(obs) = observed.get(&node.name, hist_name, year) else {
                    continue;
                };
                // Level, within one vintage.
                match (base, layout.find(e, level_ind, year)) {
                    (Some(b), Some(col)) if !b.vintage.is_empty() && b.vintage == obs.vintage => {
                        out.push(Planned::Level {
                            seen: Seen {
                                node: node.name.clone(),
                                indicator: hist_name.into(),
                                unit: level_ind.unit().into(),
                                year,
                                observed: obs.value,
                                vintage: obs.vintage.clone(),
                            },
                            series: col,
                        });
                    }
                    (Some(b), Some(_)) => out.push(Planned::Skipped(Skipped {
                        node: node.name.clone(),
                        indicator: hist_name.into(),
                        year,
                        reason: format!(
                            "level of vintage `{}` against a base of vintage `{}`",
                            obs.vintage, b.vintage
                        ),
                    })),
                    _ => out.push(Planned::Skipped(Skipped {
                        node: node.name.clone(),
                        indicator: hist_name.into(),
                        year,
                        reason: "not projected (no base-year value)".into(),
                    })),
                }
                // Published real growth in that year.
                if let Some(g) = obs.real_growth_pct {
                    let t = (year - scenario.base_year) as usize;
                    let now = layout.find(e, growth_ind, year);
                    let prev = if t > 1 {
                        layout.find(e, growth_ind, year - 1)
                    } else {
                        None
                    };
                    let name = format!("{hist_name}_real_growth_yoy");
                    match now {
                        Some(col) if t == 1 || prev.is_some() => out.push(Planned::Growth {
                            seen: Seen {
                                node: node.name.clone(),
                                indicator: name,
                                unit: "% per year".into(),
                                year,
                                observed: g,
                                vintage: obs.vintage.clone(),
                            },
                            series: col,
                            prev,
                            t,
                        }),
                        _ => out.push(Planned::Skipped(Skipped {
                            node: node.name.clone(),
                            indicator: name,
                            year,
                            reason: "real growth not projected for this node".into(),
                        })),
                    }
                }
            }
        }
    }
    out
}

/// A scored point or a skipped observation.
#[derive(Debug, Clone, PartialEq)]
pub enum ScoredOrSkipped {
    /// Scored.
    Point(Point),
    /// Left out.
    Skipped(Skipped),
}

fn point(seen: Seen, draws: &[f64]) -> ScoredOrSkipped {
    match score(draws, seen.observed) {
        Some(score) => ScoredOrSkipped::Point(Point { seen, score }),
        None => ScoredOrSkipped::Skipped(Skipped {
            node: seen.node,
            indicator: seen.indicator,
            year: seen.year,
            reason: "no finite draw".into(),
        }),
    }
}

fn group(label: &str, points: &[&Point]) -> Group {
    let n = points.len();
    let pit = if n == 0 {
        f64::NAN
    } else {
        points.iter().map(|p| p.score.pit).sum::<f64>() / n as f64
    };
    Group {
        label: label.into(),
        coverage50: Coverage::new(points.iter().filter(|p| p.score.in50).count(), n),
        coverage90: Coverage::new(points.iter().filter(|p| p.score.in90).count(), n),
        mean_pit: pit,
    }
}

/// Why a backtest does not show that its bands hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    /// Fewer than [`MIN_POINTS`] points: 90% coverage cannot be told from 80%.
    TooFewPoints,
    /// The 90% bands held less than [`MIN_COVERAGE90`] of the points.
    LowCoverage,
}

/// The status rule: a backtest of `n` points whose 90% bands held `coverage90`
/// (fraction) falls short with fewer than [`MIN_POINTS`] points or a coverage below
/// [`MIN_COVERAGE90`]; `None` when it backs the probabilities.
pub fn shortfall(coverage90: f64, n: usize) -> Option<Shortfall> {
    if n < MIN_POINTS {
        Some(Shortfall::TooFewPoints)
    } else if coverage90.is_nan() || coverage90 < MIN_COVERAGE90 {
        Some(Shortfall::LowCoverage)
    } else {
        None
    }
}

/// The status of a backtest by the rule of [`shortfall`], with the reason in words.
pub fn status_of(coverage90: f64, n: usize) -> CalibrationStatus {
    let reason = match shortfall(coverage90, n) {
        None => return CalibrationStatus::Calibrated { coverage90, n },
        Some(Shortfall::TooFewPoints) => format!(
            "the latest backtest scored {n} points, fewer than the {MIN_POINTS} needed to tell 90% coverage from 80%"
        ),
        Some(Shortfall::LowCoverage) => format!(
            "the latest backtest's 90% bands held {:.0}% of {n} observed values (below {:.0}%)",
            100.0 * coverage90,
            100.0 * MIN_COVERAGE90
        ),
    };
    CalibrationStatus::Uncalibrated {
        reason,
        scored: Some((coverage90, n)),
    }
}

/// Builds the points and summary from scored results.
pub fn summarize(
    scenario: &Scenario,
    settings: RunSettings,
    observed_file: &Path,
    scored: Vec<ScoredOrSkipped>,
) -> Backtest {
    let mut points = Vec::new();
    let mut skipped = Vec::new();
    for s in scored {
        match s {
            ScoredOrSkipped::Point(p) => points.push(p),
            ScoredOrSkipped::Skipped(s) => skipped.push(s),
        }
    }
    let all: Vec<&Point> = points.iter().collect();
    let overall = group("all", &all);
    let mut groups = Vec::new();
    let levels: Vec<&Point> = all
        .iter()
        .copied()
        .filter(|p| !p.seen.indicator.ends_with("_yoy"))
        .collect();
    let growth: Vec<&Point> = all
        .iter()
        .copied()
        .filter(|p| p.seen.indicator.ends_with("_yoy"))
        .collect();
    groups.push(group("level", &levels));
    groups.push(group("real_growth", &growth));
    for year in scenario.base_year + 1..=scenario.horizon {
        let ps: Vec<&Point> = all
            .iter()
            .copied()
            .filter(|p| p.seen.year == year)
            .collect();
        if !ps.is_empty() {
            groups.push(group(&year.to_string(), &ps));
        }
    }
    let status = status_of(overall.coverage90.rate, points.len());
    let (status_name, reason) = match &status {
        CalibrationStatus::Calibrated { coverage90, n } => (
            "calibrated",
            format!(
                "90% bands held {:.0}% of {n} observed values",
                100.0 * coverage90
            ),
        ),
        CalibrationStatus::Uncalibrated { reason, .. } => ("uncalibrated", reason.clone()),
    };
    let summary = Summary {
        scenario: scenario.name.clone(),
        base_year: scenario.base_year,
        horizon: scenario.horizon,
        seed: settings.seed,
        draws: settings.draws,
        observed_file: observed_file.to_string_lossy().replace('\\', "/"),
        points: points.len(),
        coverage50: overall.coverage50,
        coverage90: overall.coverage90,
        mean_pit: overall.mean_pit,
        groups,
        skipped,
        rule: format!(
            "uncalibrated when fewer than {MIN_POINTS} points or 90% coverage below {:.0}%",
            100.0 * MIN_COVERAGE90
        ),
        status: status_name.into(),
        status_reason: reason,
    };
    Backtest { points, summary }
}

/// Runs the backtest: simulates `scn` with `settings` and scores it against the
/// history at `observed_path`. `progress` is called with the number of draws simulated
/// so far (from worker threads). Input problems are `Error::Invalid` or
/// `Error::Read` (exit code 2).
pub fn run_backtest(
    scn: &Scenario,
    observed_path: &Path,
    settings: RunSettings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Backtest> {
    let observed = read_history(observed_path)?;
    // Only the series scored are kept: a few dozen bytes a draw rather than every
    // recorded series (about 1.4 KB a draw for the four cities from 2017).
    let planned = plan(scn, &Layout::new(scn), &observed);
    let series: BTreeSet<usize> = planned.iter().flat_map(Planned::series).collect();
    let series: Vec<usize> = series.into_iter().collect();
    let draws = with_threads(settings.threads, || {
        engine::simulate_series(scn, settings, &series, progress)
    })??;
    let scored = score_planned(planned, &draws);
    Ok(summarize(scn, settings, observed_path, scored))
}

/// Renders `backtest.csv`: node, indicator, unit, year, observed, vintage, p05, p25,
/// p50, p75, p95, pit, crps, in50, in90 (1/0).
pub fn render_csv(bt: &Backtest) -> Result<Vec<u8>> {
    let fail = |source: io::Error| Error::Write {
        path: PathBuf::from("backtest.csv"),
        source,
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "node",
        "indicator",
        "unit",
        "year",
        "observed",
        "vintage",
        "p05",
        "p25",
        "p50",
        "p75",
        "p95",
        "pit",
        "crps",
        "in50",
        "in90",
    ])
    .map_err(|e| fail(e.into()))?;
    for p in &bt.points {
        let q = p.score.quantiles;
        let mut rec = vec![
            p.seen.node.clone(),
            p.seen.indicator.clone(),
            p.seen.unit.clone(),
            p.seen.year.to_string(),
            format_number(p.seen.observed),
            p.seen.vintage.clone(),
        ];
        rec.extend(q.iter().map(|v| format_number(*v)));
        rec.push(format_number(p.score.pit));
        rec.push(format_number(p.score.crps));
        rec.push(u8::from(p.score.in50).to_string());
        rec.push(u8::from(p.score.in90).to_string());
        w.write_record(&rec).map_err(|e| fail(e.into()))?;
    }
    w.into_inner().map_err(|e| fail(e.into_error()))
}

/// Renders `backtest-summary.md`: coverage table and every point.
pub fn render_markdown(bt: &Backtest) -> String {
    let s = &bt.summary;
    let pct = |x: f64| format!("{:.0}%", 100.0 * x);
    let mut out = format!(
        "# Backtest: {} (base {}, scored {}–{})\n\n{} draws, seed {}; observed: `{}`.\n\n**Status: {}** — {}.\n\n",
        s.scenario,
        s.base_year,
        s.base_year + 1,
        s.horizon,
        s.draws,
        s.seed,
        s.observed_file,
        s.status,
        s.status_reason
    );
    out.push_str("| points | n | 50% band held | 90% band held (95% interval) | mean PIT |\n|---|---:|---:|---:|---:|\n");
    let row = |label: &str, c50: &Coverage, c90: &Coverage, pit: f64| {
        format!(
            "| {label} | {} | {} | {} ({}–{}) | {:.2} |\n",
            c90.n,
            pct(c50.rate),
            pct(c90.rate),
            pct(c90.wilson95[0]),
            pct(c90.wilson95[1]),
            pit
        )
    };
    out.push_str(&row("all", &s.coverage50, &s.coverage90, s.mean_pit));
    for g in &s.groups {
        out.push_str(&row(&g.label, &g.coverage50, &g.coverage90, g.mean_pit));
    }
    out.push_str("\n| node | indicator | year | observed | p05 | p50 | p95 | PIT | in 90% |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    for p in &bt.points {
        let q = p.score.quantiles;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.3} | {} |\n",
            p.seen.node,
            p.seen.indicator,
            p.seen.year,
            format_number(p.seen.observed),
            format_number(q[0]),
            format_number(q[2]),
            format_number(q[4]),
            p.score.pit,
            if p.score.in90 { "yes" } else { "**no**" }
        ));
    }
    if !s.skipped.is_empty() {
        out.push_str("\nNot scored:\n\n");
        for k in &s.skipped {
            out.push_str(&format!(
                "- {} {} {}: {}\n",
                k.node, k.indicator, k.year, k.reason
            ));
        }
    }
    out
}

/// Writes `backtest.csv`, `backtest-summary.json` and `backtest-summary.md` into `dir`,
/// replacing the folder as a whole with [`write_folder`] (an existing folder must be
/// empty or hold an earlier backtest). Returns the paths written.
pub fn write_backtest(dir: &Path, bt: &Backtest) -> Result<Vec<PathBuf>> {
    let json = serde_json::to_vec_pretty(&bt.summary).map_err(|e| Error::Write {
        path: dir.join("backtest-summary.json"),
        source: io::Error::other(e),
    })?;
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("backtest.csv", render_csv(bt)?),
        ("backtest-summary.json", json),
        ("backtest-summary.md", render_markdown(bt).into_bytes()),
    ];
    write_folder(dir, &files)
}

/// Whether the probabilities of a run may be called calibrated.
#[derive(Debug, Clone, PartialEq)]
pub enum CalibrationStatus {
    /// The latest backtest's 90% bands held at least [`MIN_COVERAGE90`] of at least
    /// [`MIN_POINTS`] observed values.
    Calibrated {
        /// 90% coverage of the latest backtest.
        coverage90: f64,
        /// Points it scored.
        n: usize,
    },
    /// Otherwise, with the reason (also when no readable summary exists).
    Uncalibrated {
        /// Why, in a sentence fit for a report.
        reason: String,
        /// The backtest's 90% coverage and points scored, when one was read.
        scored: Option<(f64, usize)>,
    },
}

impl CalibrationStatus {
    /// Whether calibrated.
    pub fn is_calibrated(&self) -> bool {
        matches!(self, CalibrationStatus::Calibrated { .. })
    }
}

#[derive(Deserialize)]
struct SummaryFile {
    points: usize,
    coverage90: Coverage,
}

/// Reads a `backtest-summary.json` and applies the rule: uncalibrated when the 90%
/// coverage is below [`MIN_COVERAGE90`] or fewer than [`MIN_POINTS`] points were
/// scored. A missing or unreadable summary is uncalibrated (no backtest, no claim);
/// this function never fails.
pub fn calibration_status(summary_path: &Path) -> CalibrationStatus {
    let text = match fs::read_to_string(summary_path) {
        Ok(t) => t,
        Err(e) => {
            return CalibrationStatus::Uncalibrated {
                reason: format!(
                    "no backtest summary could be read at {} ({e})",
                    summary_path.display()
                ),
                scored: None,
            };
        }
    };
    status_from_summary(&text).unwrap_or_else(|e| CalibrationStatus::Uncalibrated {
        reason: format!(
            "the backtest summary {} is not readable ({e})",
            summary_path.display()
        ),
        scored: None,
    })
}

/// Applies the rule to the text of a `backtest-summary.json`; `Err` with the parse
/// error when the text is not such a summary.
pub fn status_from_summary(text: &str) -> std::result::Result<CalibrationStatus, String> {
    serde_json::from_str::<SummaryFile>(text)
        .map(|s| status_of(s.coverage90.rate, s.points))
        .map_err(|e| e.to_string())
}

/// One line on a backtest's outcome, for the command line: points scored, the 50% and
/// 90% bands' hits (the latter with its 95% interval) and the calibration status.
pub fn describe(s: &Summary) -> String {
    format!(
        "{}: {} points scored; 50% bands held {}/{} ({:.0}%), 90% bands held {}/{} ({:.0}%, 95% interval {:.0}–{:.0}%); {}: {}",
        s.scenario,
        s.points,
        s.coverage50.hits,
        s.coverage50.n,
        100.0 * s.coverage50.rate,
        s.coverage90.hits,
        s.coverage90.n,
        100.0 * s.coverage90.rate,
        100.0 * s.coverage90.wilson95[0],
        100.0 * s.coverage90.wilson95[1],
        s.status,
        s.status_reason,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_needs_points_and_coverage() {
        assert!(!status_of(1.0, MIN_POINTS - 1).is_calibrated());
        assert!(status_of(0.80, MIN_POINTS).is_calibrated());
        assert!(!status_of(0.79, 100).is_calibrated());
        assert!(!status_of(f64::NAN, 100).is_calibrated());
        let info = crate::results::CalibrationInfo::from(&status_of(0.9, 40));
        assert_eq!(info.word(), "calibrated");
        assert!(info.note.contains("90%") && info.note.contains("40"));
        let info = crate::results::CalibrationInfo::from(&status_of(0.5, 40));
        assert_eq!(info.word(), "uncalibrated");
        assert!(info.note.contains("50%"), "{}", info.note);
    }

    #[test]
    fn missing_summary_is_uncalibrated() {
        let s = calibration_status(Path::new("/nonexistent/backtest-summary.json"));
        assert!(!s.is_calibrated());
    }

    #[test]
    fn annual_growth_from_cagr() {
        // 10% then 0%: CAGR after 2 years is √1.1 − 1.
        let c1 = [10.0];
        let c2 = [100.0 * (1.1f64.sqrt() - 1.0)];
        assert!((annual_growth(&c1, None, 1)[0] - 10.0).abs() < 1e-9);
        assert!(annual_growth(&c2, Some(&c1), 2)[0].abs() < 1e-9);
    }
}
