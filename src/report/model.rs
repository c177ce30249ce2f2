//! The report's content as plain, already formatted data: what the templates see.
//!
//! Rationale: templates should only lay things out. Every number is formatted, every
//! label translated and every verdict decided here, in tested Rust, so that an
//! institution restyling the report cannot get a probability or a band wrong, and the
//! Markdown and HTML reports say exactly the same thing.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::export::format_number;
use crate::report::growth::{Delivered, delivered};
use crate::report::labels::{self, Lang};
use crate::report::svg::{self, Chart, FanYear, Marker};
use crate::results::{RunResults, TargetResult, TargetStatus};

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportModel {
    /// `zh`, `en` or `both`.
    pub lang: String,
    /// The HTML `lang` attribute (`zh-Hans` or `en`).
    pub html_lang: String,
    /// Fixed texts by key.
    pub l: BTreeMap<String, String>,
    /// Whether the probabilities are calibrated, and why (or why not).
    pub calibration: CalibrationView,
    /// Values observed after the base year that the run was conditioned on.
    pub tracked: Vec<TrackedView>,
    /// Provenance of every run, the first being the one reported on.
    pub runs: Vec<RunView>,
    /// The verdict bands: (range, verdict).
    pub bands: Vec<BandView>,
    /// Modelled targets.
    pub targets: Vec<TargetView>,
    /// Footnotes of the delivered-growth column.
    pub footnotes: Vec<FootnoteView>,
    /// Plans with their joint probability and unmodelled targets.
    pub plans: Vec<PlanView>,
    /// The comparison across runs, when there are several.
    pub comparison: Option<ComparisonView>,
    /// Fan charts.
    pub charts: Vec<ChartView>,
}

/// Whether the report's probabilities are backed by a backtest.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationView {
    /// Whether calibrated.
    pub calibrated: bool,
    /// The sentence saying so, with the backtest's finding or why the probabilities
    /// are uncalibrated, in the report's language.
    pub note: String,
}

/// One observation after the base year that the run was conditioned on.
#[derive(Debug, Clone, Serialize)]
pub struct TrackedView {
    /// Node, translated.
    pub node: String,
    /// Indicator, translated.
    pub indicator: String,
    /// Year.
    pub year: i32,
    /// "1650 亿元".
    pub value: String,
    /// Source.
    pub source: String,
}

/// How one run was made.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    /// Scenario name.
    pub scenario: String,
    /// xiang version.
    pub version: String,
    /// Seed.
    pub seed: u64,
    /// Draws.
    pub draws: u64,
    /// Base year.
    pub base_year: i32,
    /// Horizon.
    pub horizon: i32,
    /// Threads used.
    pub threads: usize,
    /// Input files.
    pub files: Vec<FileView>,
    /// The command that reproduces the run.
    pub command: String,
}

/// One input file.
#[derive(Debug, Clone, Serialize)]
pub struct FileView {
    /// Role.
    pub role: String,
    /// Path.
    pub path: String,
    /// SHA-256.
    pub sha256: String,
}

/// One verdict band.
#[derive(Debug, Clone, Serialize)]
pub struct BandView {
    /// e.g. "≥ 90%".
    pub range: String,
    /// e.g. "very likely".
    pub verdict: String,
}

/// One modelled target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetView {
    /// Plan id.
    pub plan: String,
    /// Target id.
    pub target_id: String,
    /// Node, translated.
    pub node: String,
    /// Indicator, translated.
    pub indicator: String,
    /// Year.
    pub year: i32,
    /// "≥ 1500 亿元".
    pub target: String,
    /// The plan's sentence.
    pub quote: String,
    /// "48.1% ± 0.3".
    pub p_met: String,
    /// "1494.5 [1307.4, 1693.2]".
    pub median_interval: String,
    /// "8.46" or "—".
    pub required_growth: String,
    /// "10.9 (2015–2018)" or "—".
    pub delivered_growth: String,
    /// Footnote number when the delivered growth is missing.
    pub footnote: Option<usize>,
    /// The verdict.
    pub verdict: String,
}

/// One footnote.
#[derive(Debug, Clone, Serialize)]
pub struct FootnoteView {
    /// Number, from 1.
    pub n: usize,
    /// Text.
    pub text: String,
}

/// One plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    /// Plan id.
    pub plan: String,
    /// Title.
    pub title: String,
    /// Targets in the plan.
    pub targets_total: usize,
    /// Modelled targets.
    pub targets_modelled: usize,
    /// "11.9% ± 0.2", or the "no modelled target" text.
    pub p_all_met: String,
    /// Verdict, empty when nothing is modelled.
    pub verdict: String,
    /// Targets not modelled.
    pub not_modelled: Vec<NotModelledView>,
}

/// One target that is not modelled.
#[derive(Debug, Clone, Serialize)]
pub struct NotModelledView {
    /// Target id.
    pub target_id: String,
    /// Node, translated.
    pub node: String,
    /// Indicator name as in the targets file.
    pub indicator: String,
    /// "≥ 40 %".
    pub target: String,
    /// The plan's sentence.
    pub quote: String,
    /// Why it is not modelled.
    pub reason: String,
}

/// The scenario comparison.
#[derive(Debug, Clone, Serialize)]
pub struct ComparisonView {
    /// Scenario names, one column each.
    pub scenarios: Vec<String>,
    /// Targets.
    pub rows: Vec<ComparisonRow>,
    /// Plans (joint probabilities).
    pub plan_rows: Vec<ComparisonRow>,
}

/// One row of the comparison: a target or plan and its probability in each run.
#[derive(Debug, Clone, Serialize)]
pub struct ComparisonRow {
    /// Target or plan id.
    pub id: String,
    /// "Xiangtan · service_va ≥ 1500 亿元", or the plan title.
    pub what: String,
    /// One cell per scenario: "48.1%" or "—".
    pub cells: Vec<String>,
}

/// One chart.
#[derive(Debug, Clone, Serialize)]
pub struct ChartView {
    /// File name inside the output folder, e.g. `charts/Xiangtan-service_va.svg`.
    pub file: String,
    /// Title.
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

/// The vintage of history rows that are observations a run was conditioned on.
const TRACKED_VINTAGE: &str = "tracked";

/// Text of a missing value.
const MISSING: &str = "—";

/// Builds the report on `runs[0]`, comparing with the other runs if any.
pub fn build(runs: &[&RunResults], lang: Lang) -> ReportModel {
    let l: BTreeMap<String, String> = labels::texts(lang)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let bands = labels::band_legend(lang)
        .into_iter()
        .map(|(range, verdict)| BandView { range, verdict })
        .collect();
    let calibration = runs.first().map_or(
        CalibrationView {
            calibrated: false,
            note: String::new(),
        },
        |r| CalibrationView {
            calibrated: r.info.calibration.calibrated,
            note: labels::calibration_note(lang, &r.info.calibration),
        },
    );
    // Next to every verdict of an uncalibrated run.
    let mark = if calibration.calibrated {
        String::new()
    } else {
        labels::text(lang, "uncalibrated_mark")
    };
    let gated = |v: Option<String>| v.map(|v| format!("{v}{mark}"));
    let tracked = runs.first().map_or_else(Vec::new, |r| {
        r.observed
            .iter()
            .filter(|o| o.vintage == TRACKED_VINTAGE)
            .map(|o| TrackedView {
                node: labels::node(lang, &o.node),
                indicator: labels::indicator(lang, &o.indicator),
                year: o.year,
                value: format!("{} {}", format_number(o.value), o.unit),
                source: o.source.clone(),
            })
            .collect()
    });
    let mut model = ReportModel {
        lang: lang.as_str().to_string(),
        html_lang: if lang == Lang::En { "en" } else { "zh-Hans" }.to_string(),
        l,
        calibration,
        tracked,
        runs: runs.iter().map(|r| run_view(r)).collect(),
        bands,
        targets: Vec::new(),
        footnotes: Vec::new(),
        plans: Vec::new(),
        comparison: None,
        charts: Vec::new(),
    };
    let Some(main) = runs.first() else {
        return model;
    };

    for t in main
        .targets
        .iter()
        .filter(|t| t.status != TargetStatus::NotModelled)
    {
        let (delivered_growth, footnote) = match delivered(&main.observed, &t.node, &t.indicator) {
            Delivered::Growth { pct, from, to } if from == to => {
                (format!("{pct:.2} ({from})"), None)
            }
            Delivered::Growth { pct, from, to } => (format!("{pct:.2} ({from}–{to})"), None),
            Delivered::Missing(reason) => {
                let n = model.footnotes.len() + 1;
                model.footnotes.push(FootnoteView { n, text: reason });
                (MISSING.to_string(), Some(n))
            }
        };
        model.targets.push(TargetView {
            plan: t.plan.clone(),
            target_id: t.target_id.clone(),
            node: labels::node(lang, &t.node),
            indicator: labels::indicator(lang, &t.indicator),
            year: t.year,
            target: target_text(t),
            quote: t.quote.clone(),
            p_met: match t.status {
                TargetStatus::Met | TargetStatus::Missed => MISSING.to_string(),
                _ => probability(t.p_met, t.p_met_se, main.info.draws),
            },
            median_interval: match t.status {
                TargetStatus::Met | TargetStatus::Missed => t.reason.clone(),
                _ => median_interval(t),
            },
            required_growth: t
                .required_growth
                .filter(|g| g.is_finite())
                .map_or_else(|| MISSING.to_string(), |g| format!("{g:.2}")),
            delivered_growth,
            footnote,
            verdict: match t.status {
                TargetStatus::Met => labels::text(lang, "observed_met"),
                TargetStatus::Missed => labels::text(lang, "observed_missed"),
                _ => gated(labels::verdict(lang, t.p_met)).unwrap_or_else(|| MISSING.to_string()),
            },
        });
    }

    for p in &main.plans {
        let not_modelled = main
            .targets
            .iter()
            .filter(|t| t.plan == p.plan && t.status == TargetStatus::NotModelled)
            .map(|t| NotModelledView {
                target_id: t.target_id.clone(),
                node: labels::node(lang, &t.node),
                indicator: t.indicator.clone(),
                target: target_text(t),
                quote: t.quote.clone(),
                reason: t.reason.clone(),
            })
            .collect();
        let modelled = p.targets_modelled > 0;
        model.plans.push(PlanView {
            plan: p.plan.clone(),
            title: p.title.clone(),
            targets_total: p.targets_total,
            targets_modelled: p.targets_modelled,
            p_all_met: if modelled {
                probability(p.p_all_met, p.p_all_met_se, main.info.draws)
            } else {
                labels::text(lang, "none_modelled")
            },
            verdict: if modelled {
                gated(labels::verdict(lang, p.p_all_met)).unwrap_or_default()
            } else {
                String::new()
            },
            not_modelled,
        });
    }

    if runs.len() > 1 {
        model.comparison = Some(comparison(runs, lang));
    }
    model.charts = charts(main, lang);
    model
}

/// The provenance of a run, with the command that repeats it.
fn run_view(r: &RunResults) -> RunView {
    let info = &r.info;
    let scenario_path = info
        .files
        .iter()
        .find(|f| f.role == "scenario")
        .map_or_else(|| format!("{}.toml", info.scenario), |f| f.path.clone());
    RunView {
        scenario: info.scenario.clone(),
        version: info.version.clone(),
        seed: info.seed,
        draws: info.draws,
        base_year: info.base_year,
        horizon: info.horizon,
        threads: info.threads,
        files: info
            .files
            .iter()
            .map(|f| FileView {
                role: f.role.clone(),
                path: f.path.clone(),
                sha256: f.sha256.clone(),
            })
            .collect(),
        command: format!(
            "xiang run {} --seed {} --draws {}",
            shell_word(&scenario_path),
            info.seed,
            info.draws
        ),
    }
}

/// A path quoted for a POSIX shell when it needs quoting.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_alphanumeric() || "-_./".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Targets and plans of every run side by side, in the order first seen.
fn comparison(runs: &[&RunResults], lang: Lang) -> ComparisonView {
    let mut rows: Vec<ComparisonRow> = Vec::new();
    for run in runs {
        for t in &run.targets {
            if t.status != TargetStatus::Modelled || rows.iter().any(|r| r.id == t.target_id) {
                continue;
            }
            let cells = runs
                .iter()
                .map(|other| {
                    other
                        .targets
                        .iter()
                        .find(|o| o.target_id == t.target_id)
                        .and_then(|o| o.p_met)
                        .map_or_else(|| MISSING.to_string(), |p| percent(Some(p), None))
                })
                .collect();
            rows.push(ComparisonRow {
                id: t.target_id.clone(),
                what: format!(
                    "{} · {} {}",
                    labels::node(lang, &t.node),
                    labels::indicator(lang, &t.indicator),
                    target_text(t)
                ),
                cells,
            });
        }
    }
    let mut plan_rows: Vec<ComparisonRow> = Vec::new();
    for run in runs {
        for p in &run.plans {
            if p.targets_modelled == 0 || plan_rows.iter().any(|r| r.id == p.plan) {
                continue;
            }
            let cells = runs
                .iter()
                .map(|other| {
                    other
                        .plans
                        .iter()
                        .find(|o| o.plan == p.plan)
                        .and_then(|o| o.p_all_met)
                        .map_or_else(|| MISSING.to_string(), |p| percent(Some(p), None))
                })
                .collect();
            plan_rows.push(ComparisonRow {
                id: p.plan.clone(),
                what: p.title.clone(),
                cells,
            });
        }
    }
    ComparisonView {
        scenarios: runs.iter().map(|r| r.info.scenario.clone()).collect(),
        rows,
        plan_rows,
    }
}

/// The (entity, indicator) pairs of the projected series, in order of first appearance.
pub fn chart_keys(results: &RunResults) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for s in &results.series {
        if !keys
            .iter()
            .any(|(e, i)| *e == s.entity && *i == s.indicator)
        {
            keys.push((s.entity.clone(), s.indicator.clone()));
        }
    }
    keys
}

/// The file name of a chart: `charts/<entity>-<indicator>.svg`, with every character
/// that is not a letter, digit, `_` or `-` replaced by `_`.
pub fn chart_file(entity: &str, indicator: &str) -> String {
    let safe = |s: &str| -> String {
        let out: String = s
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if out.is_empty() { "_".to_string() } else { out }
    };
    format!("charts/{}-{}.svg", safe(entity), safe(indicator))
}

/// One fan chart per (entity, indicator) of the projected series.
fn charts(results: &RunResults, lang: Lang) -> Vec<ChartView> {
    chart_keys(results)
        .into_iter()
        .map(|(entity, indicator)| chart(results, lang, &entity, &indicator))
        .collect()
}

/// The fan chart of one entity and indicator: the projected series, the observed
/// history and the targets set on it.
pub fn chart(results: &RunResults, lang: Lang, entity: &str, indicator: &str) -> ChartView {
    let legend = [
        labels::text(lang, "band90"),
        labels::text(lang, "band50"),
        labels::text(lang, "median"),
        labels::text(lang, "observed"),
        labels::text(lang, "target_marker"),
    ];
    let rows = || {
        results
            .series
            .iter()
            .filter(|s| s.entity == entity && s.indicator == indicator)
    };
    let mut fan: Vec<FanYear> = rows()
        .map(|s| FanYear {
            year: s.year,
            q: [
                s.quantiles[0],
                s.quantiles[2],
                s.quantiles[3],
                s.quantiles[4],
                s.quantiles[6],
            ],
        })
        .collect();
    fan.sort_by_key(|f| f.year);
    let unit = rows().next().map(|s| s.unit.clone()).unwrap_or_default();
    let markers = results
        .targets
        .iter()
        .filter(|t| {
            t.node == entity && t.indicator == indicator && t.status == TargetStatus::Modelled
        })
        .map(|t| Marker {
            year: t.year,
            value: t.target,
            label: format!(
                "{} {}: P = {}",
                comparator_symbol(&t.comparator),
                format_number(t.target),
                percent(t.p_met, None)
            ),
        })
        .collect();
    let title = format!(
        "{} — {}",
        labels::node(lang, entity),
        labels::indicator(lang, indicator)
    );
    let chart = Chart {
        title: title.clone(),
        unit,
        fan,
        observed: observed_points(results, entity, indicator),
        markers,
        legend,
    };
    ChartView {
        file: chart_file(entity, indicator),
        title,
        svg: svg::render(&chart),
    }
}

/// The observed points of a chart: the series itself where observed; for real growth
/// the published annual real growth of the underlying aggregate.
fn observed_points(results: &RunResults, entity: &str, indicator: &str) -> Vec<(i32, f64)> {
    let mut points: Vec<(i32, f64)> = match indicator.strip_suffix("_real_growth") {
        Some(base) => results
            .observed
            .iter()
            .filter(|o| o.node == entity && o.indicator == base)
            .filter_map(|o| o.real_growth_pct.map(|g| (o.year, g)))
            .collect(),
        None => results
            .observed
            .iter()
            .filter(|o| o.node == entity && o.indicator == indicator)
            .map(|o| (o.year, o.value))
            .collect(),
    };
    points.retain(|p| p.1.is_finite());
    points.sort_by_key(|p| p.0);
    points
}

/// `≥` for `>=`, `≤` for `<=`; other comparators as written.
fn comparator_symbol(cmp: &str) -> &str {
    match cmp {
        ">=" => "≥",
        "<=" => "≤",
        other => other,
    }
}

/// "≥ 1500 亿元".
fn target_text(t: &TargetResult) -> String {
    let value = format_number(t.target);
    let cmp = comparator_symbol(&t.comparator);
    if t.unit.is_empty() {
        format!("{cmp} {value}")
    } else {
        format!("{cmp} {value} {}", t.unit)
    }
}

/// "48.1% ± 0.3" (± 1.96 standard errors in percentage points). Probabilities below
/// 0.1% keep two significant digits so that rare successes do not read as zero.
pub fn percent(p: Option<f64>, se: Option<f64>) -> String {
    let Some(p) = p.filter(|p| p.is_finite()) else {
        return MISSING.to_string();
    };
    let pct = p * 100.0;
    let mut text = if pct > 0.0 && pct < 0.1 {
        format!("{}%", format_number(sig2(pct)))
    } else {
        format!("{pct:.1}%")
    };
    if let Some(se) = se.filter(|se| se.is_finite()) {
        let err = 1.96 * se * 100.0;
        if err > 0.0 && err < 0.1 {
            text.push_str(&format!(" ± {}", format_number(sig2(err))));
        } else {
            text.push_str(&format!(" ± {err:.1}"));
        }
    }
    text
}

/// [`percent`], except that a probability of exactly 0 or 1 says it is an observed
/// count ("0% (no draw in 100000)"), since its standard error is zero.
fn probability(p: Option<f64>, se: Option<f64>, draws: u64) -> String {
    match p {
        Some(0.0) => format!("0% (0 / {draws})"),
        Some(1.0) => format!("100% ({draws} / {draws})"),
        _ => percent(p, se),
    }
}

/// Rounds to two significant digits.
fn sig2(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let mag = 10f64.powf(x.abs().log10().floor() - 1.0);
    (x / mag).round() * mag
}

/// "1494.5 [1307.4, 1693.2]".
fn median_interval(t: &TargetResult) -> String {
    let fmt = |x: f64| format!("{x:.1}");
    match (t.p50, t.p05, t.p95) {
        (Some(m), Some(lo), Some(hi)) => format!("{} [{}, {}]", fmt(m), fmt(lo), fmt(hi)),
        (Some(m), _, _) => fmt(m),
        _ => MISSING.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents_keep_small_values_visible() {
        assert_eq!(percent(Some(0.48134), Some(0.00158004)), "48.1% ± 0.3");
        assert_eq!(percent(Some(0.00014), Some(0.000037414)), "0.014% ± 0.0073");
        assert_eq!(percent(Some(0.0), Some(0.0)), "0.0% ± 0.0");
        assert_eq!(percent(None, None), "—");
    }

    #[test]
    fn chart_files_are_safe() {
        assert_eq!(
            chart_file("Xiangtan", "service_va"),
            "charts/Xiangtan-service_va.svg"
        );
        assert_eq!(chart_file("../a b", ""), "charts/___a_b-_.svg");
        assert_eq!(chart_file("湘潭", "gdp"), "charts/湘潭-gdp.svg");
    }

    #[test]
    fn shell_words_are_quoted() {
        assert_eq!(
            shell_word("scenarios/baseline.toml"),
            "scenarios/baseline.toml"
        );
        assert_eq!(shell_word("my file's.toml"), "'my file'\\''s.toml'");
    }
}
