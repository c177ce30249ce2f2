//! The results of a run, as plain data: what the aggregation stage hands to the exports.
//!
//! Rationale: exports (CSV, JSON, Markdown, reports) should never see draws, random
//! streams or scenario internals; they read these structs only. Every number carries its
//! unit in the struct that holds it, and a value that could not be computed is `None`
//! (written as an empty field), never a made-up figure.

use serde::Serialize;

/// Summary statistics of one projected series: one entity (node or group), one
/// indicator, one year, over all draws.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesSummary {
    /// Node or group name as in the scenario (e.g. `Xiangtan`, `CZT`).
    pub entity: String,
    /// Indicator name (e.g. `service_va`), see [`crate::indicator::Indicator`].
    pub indicator: String,
    /// Calendar year.
    pub year: i32,
    /// Unit of every statistic in this row (e.g. `亿元`, `%`, `% per year`, `万人`).
    pub unit: String,
    /// Mean over draws.
    pub mean: f64,
    /// Standard deviation over draws (population form, divisor n).
    pub sd: f64,
    /// Quantiles at 5, 10, 25, 50, 75, 90 and 95 % (in that order).
    pub quantiles: [f64; 7],
}

/// The probability levels of [`SeriesSummary::quantiles`], as fractions.
pub const SUMMARY_PROBS: [f64; 7] = [0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95];

/// Whether a target could be evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    /// Projected and scored: `p_met` and the quantiles are filled.
    Modelled,
    /// Kept in the output but not scored; `reason` says why.
    NotModelled,
    /// Its year is observed (listed in the scenario) and the observed value meets it.
    Met,
    /// Its year is observed and the observed value misses it.
    Missed,
}

impl TargetStatus {
    /// The name written to files (`modelled`, `not_modelled`).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetStatus::Modelled => "modelled",
            TargetStatus::NotModelled => "not_modelled",
            TargetStatus::Met => "met",
            TargetStatus::Missed => "missed",
        }
    }
}

/// The feasibility of one plan target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetResult {
    /// Plan identifier (from the targets file).
    pub plan: String,
    /// Target identifier, unique within the run.
    pub target_id: String,
    /// Node or group the target is set for.
    pub node: String,
    /// Indicator name.
    pub indicator: String,
    /// Target year.
    pub year: i32,
    /// Comparator as written in the targets file (`>=`, `>`, `<=`, `<`).
    pub comparator: String,
    /// The target value, in `unit`.
    pub target: f64,
    /// Unit of `target`, the quantiles and the projected value.
    pub unit: String,
    /// Probability that the target is met (fraction 0..1); `None` when not modelled.
    pub p_met: Option<f64>,
    /// Monte Carlo standard error of `p_met`: sqrt(p (1 - p) / draws).
    pub p_met_se: Option<f64>,
    /// 5 %, 50 % and 95 % quantiles of the projected value, in `unit`.
    pub p05: Option<f64>,
    /// Median of the projected value, in `unit`.
    pub p50: Option<f64>,
    /// 95 % quantile of the projected value, in `unit`.
    pub p95: Option<f64>,
    /// Annual growth (% per year) of the indicator needed from its base-year value to
    /// reach the target; for growth targets, the target rate itself. `None` when the
    /// base value is missing.
    pub required_growth: Option<f64>,
    /// Modelled or not.
    pub status: TargetStatus,
    /// Why a target is not modelled; empty when modelled.
    pub reason: String,
    /// The plan's sentence the target comes from (Chinese).
    pub quote: String,
}

/// The joint feasibility of one plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanResult {
    /// Plan identifier.
    pub plan: String,
    /// Plan title as published (Chinese).
    pub title: String,
    /// Number of targets in the plan's file.
    pub targets_total: usize,
    /// Number of targets scored.
    pub targets_modelled: usize,
    /// Probability that all modelled targets are met in the same draw; `None` when the
    /// plan has no modelled target.
    pub p_all_met: Option<f64>,
    /// Monte Carlo standard error of `p_all_met`.
    pub p_all_met_se: Option<f64>,
}

/// One input file of a run, for the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct InputFile {
    /// What the file is (`scenario`, `node_data`, `history`, `targets`).
    pub role: String,
    /// Path as given or resolved from the scenario.
    pub path: String,
    /// SHA-256 of the file's bytes, lower-case hex.
    pub sha256: String,
}

/// How a run was made: enough to reproduce it bit for bit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    /// Version of xiang that made the run.
    pub version: String,
    /// Scenario name.
    pub scenario: String,
    /// Base year (values known) and horizon (last projected year).
    pub base_year: i32,
    /// Last projected year.
    pub horizon: i32,
    /// Random seed.
    pub seed: u64,
    /// Number of Monte Carlo draws.
    pub draws: u64,
    /// Worker threads used (results do not depend on it).
    pub threads: usize,
    /// Wall-clock time of the projection and aggregation, seconds.
    pub wall_time_s: f64,
    /// Every file the run read, with its hash.
    pub files: Vec<InputFile>,
    /// Whether the probabilities are backed by the latest backtest.
    pub calibration: CalibrationInfo,
}

/// Whether a run's probabilities may be called calibrated: the latest backtest's 90%
/// bands held at least 80% of at least 36 observed values (see
/// [`crate::backtest::status_of`]). Every probability of an uncalibrated run is printed
/// with the word "uncalibrated" next to it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CalibrationInfo {
    /// Whether calibrated.
    pub calibrated: bool,
    /// One sentence: the coverage found, or why the probabilities are uncalibrated.
    pub note: String,
    /// The latest backtest's 90% coverage (fraction), when one was read.
    #[serde(default)]
    pub coverage90: Option<f64>,
    /// Points the latest backtest scored, when one was read.
    #[serde(default)]
    pub points: Option<usize>,
}

impl CalibrationInfo {
    /// The word written next to a probability: `calibrated` or `uncalibrated`.
    pub fn word(&self) -> &'static str {
        if self.calibrated {
            "calibrated"
        } else {
            "uncalibrated"
        }
    }
}

impl From<&crate::backtest::CalibrationStatus> for CalibrationInfo {
    fn from(status: &crate::backtest::CalibrationStatus) -> CalibrationInfo {
        use crate::backtest::CalibrationStatus as S;
        match status {
            S::Calibrated { coverage90, n } => CalibrationInfo {
                calibrated: true,
                note: format!(
                    "the latest backtest's 90% bands held {:.0}% of {n} observed values",
                    100.0 * coverage90
                ),
                coverage90: Some(*coverage90),
                points: Some(*n),
            },
            S::Uncalibrated { reason, scored } => CalibrationInfo {
                calibrated: false,
                note: reason.clone(),
                coverage90: scored.map(|(c, _)| c),
                points: scored.map(|(_, n)| n),
            },
        }
    }
}

/// Summary of one logistics link flow in one year, as an index (base year = 100).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowSummary {
    /// Calendar year.
    pub year: i32,
    /// Origin node.
    pub origin: String,
    /// Destination node.
    pub destination: String,
    /// Mean over draws.
    pub mean: f64,
    /// 5 % quantile.
    pub p05: f64,
    /// Median.
    pub p50: f64,
    /// 95 % quantile.
    pub p95: f64,
}

/// An observed figure of the history, for charts and for the growth a city delivered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedPoint {
    /// Node name.
    pub node: String,
    /// Indicator name in the model's terms where it maps to one (`service_va`, `gdp`,
    /// `service_share_of_gdp`, `service_employment`, `service_share_of_employment`,
    /// `logistics_total`), else the history's own name.
    pub indicator: String,
    /// Calendar year.
    pub year: i32,
    /// Value, in `unit`.
    pub value: f64,
    /// Unit (亿元, 万人, %).
    pub unit: String,
    /// Published real growth over the previous year, %, where published.
    pub real_growth_pct: Option<f64>,
    /// Data vintage: growth across vintages is not comparable.
    pub vintage: String,
    /// Source.
    pub source: String,
}

/// Everything a run produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResults {
    /// Provenance.
    pub info: RunInfo,
    /// One row per entity, indicator and year.
    pub series: Vec<SeriesSummary>,
    /// One row per target, in the order of the targets files.
    pub targets: Vec<TargetResult>,
    /// One row per plan.
    pub plans: Vec<PlanResult>,
    /// The history of the scenario's nodes up to the base year.
    pub observed: Vec<ObservedPoint>,
    /// Gravity flows on each link between nodes with output, per projected year.
    pub flows: Vec<FlowSummary>,
}
