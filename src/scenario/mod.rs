//! Scenario files → a validated [`Scenario`].
//!
//! Rationale: the engine should receive only inputs that make sense, in model units
//! (fractions per year), with every node, group, target and base value resolved. This
//! module is the only place that reads scenario, data and targets files: it follows the
//! `extends` chain, merges it (a child sets only what changes), and validates everything,
//! reporting all problems at once with file, line and key, before any work is done.

mod load;
mod raw;
pub mod source;
mod validate;

use std::path::PathBuf;

pub use load::load;
pub use raw::DistSpec;

use crate::data::{History, NodeBase, NodeInfo};
use crate::dist::Dist;
use crate::indicator::Indicator;
use crate::targets::{Plan, Target};

/// A named set of nodes whose levels are summed and shares recomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Name (e.g. `CZT`).
    pub name: String,
    /// Chinese name (e.g. `长株潭`).
    pub name_zh: String,
    /// Indices of member nodes in [`Scenario::nodes`].
    pub members: Vec<usize>,
}

/// How the spatial weight matrix W is built from distances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightScheme {
    /// w_ij ∝ d_ij^(−power), row-standardized.
    InverseDistance {
        /// Distance power, > 0.
        power: f64,
    },
    /// w_ij = 1/k for the k nearest nodes j ≠ i.
    Nearest {
        /// Number of neighbours k ≥ 1.
        k: usize,
    },
}

/// Parameters of one node, in model units (fractions per year).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeParams {
    /// Trend real growth of service value added (fraction per year).
    pub service_trend: Dist,
    /// Change of the service trend per year after the first projected year (fraction).
    pub service_slowdown: Dist,
    /// Trend real growth of non-service value added (fraction per year).
    pub non_service_trend: Dist,
    /// Change of the non-service trend per year (fraction).
    pub non_service_slowdown: Dist,
    /// Annual volatility of service growth shocks (fraction).
    pub service_volatility: f64,
    /// Annual volatility of non-service growth shocks (fraction).
    pub non_service_volatility: f64,
    /// Exposure of service growth to common jumps.
    pub service_jump_exposure: f64,
    /// Exposure of non-service growth to common jumps.
    pub non_service_jump_exposure: f64,
    /// Elasticity η of service employment to real service growth.
    pub employment_elasticity: Dist,
    /// Annual volatility of service employment growth (fraction).
    pub employment_volatility: f64,
    /// Trend growth of non-service employment (fraction per year).
    pub non_service_employment_trend: Dist,
    /// Annual volatility of non-service employment growth (fraction).
    pub non_service_employment_volatility: f64,
    /// Elasticity λ of logistics to gravity-weighted real output.
    pub logistics_elasticity: Dist,
    /// Annual volatility of logistics growth (fraction).
    pub logistics_volatility: f64,
    /// Hub attractiveness factor h (> 0; 1 = none).
    pub hub_factor: f64,
}

/// Sector a growth impulse applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sector {
    /// Services.
    Service,
    /// Primary and secondary sectors.
    NonService,
}

/// A policy impulse: extra growth in one node and sector over a span of years.
#[derive(Debug, Clone, PartialEq)]
pub struct Impulse {
    /// Node index.
    pub node: usize,
    /// Sector.
    pub sector: Sector,
    /// First year (inclusive).
    pub from: i32,
    /// Last year (inclusive).
    pub to: i32,
    /// Size (fraction of growth per year), drawn once per draw.
    pub size: Dist,
    /// What it represents, as written in the scenario.
    pub note: String,
}

/// An effective distance between two nodes from a given year (both directions).
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// One end (node index).
    pub a: usize,
    /// Other end (node index).
    pub b: usize,
    /// Effective distance, km.
    pub distance_km: f64,
    /// First year in effect; `None`: always, base year included.
    pub from_year: Option<i32>,
    /// What it represents, as written in the scenario.
    pub note: String,
}

/// A hub designation: a factor on a node's gravity attractiveness from a given year.
#[derive(Debug, Clone, PartialEq)]
pub struct Hub {
    /// Node index.
    pub node: usize,
    /// Factor (> 0).
    pub factor: f64,
    /// First year in effect; `None`: always.
    pub from_year: Option<i32>,
    /// What it represents, as written in the scenario.
    pub note: String,
}

impl Link {
    /// Whether the link is in effect in `year`.
    pub fn active(&self, year: i32) -> bool {
        self.from_year.is_none_or(|y| year >= y)
    }
}

impl Hub {
    /// Whether the designation is in effect in `year`.
    pub fn active(&self, year: i32) -> bool {
        self.from_year.is_none_or(|y| year >= y)
    }
}

/// What an observation after the base year fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservedKind {
    /// Service value added (亿元, current prices).
    ServiceVa,
    /// GDP (亿元, current prices).
    Gdp,
    /// Social logistics total (亿元).
    LogisticsTotal,
    /// Service employment (万人).
    ServiceEmployment,
}

impl ObservedKind {
    /// Every kind with its name in scenario files.
    pub const NAMES: [(&'static str, ObservedKind); 4] = [
        ("service_va", ObservedKind::ServiceVa),
        ("gdp", ObservedKind::Gdp),
        ("logistics_total", ObservedKind::LogisticsTotal),
        ("service_employment", ObservedKind::ServiceEmployment),
    ];

    /// Name in scenario files (also the indicator's name).
    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("", |(n, _)| n)
    }
}

/// A value observed after the base year; the run starts the series from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Node index.
    pub node: usize,
    /// What is observed.
    pub kind: ObservedKind,
    /// Year.
    pub year: i32,
    /// Value (亿元 or 万人).
    pub value: f64,
    /// Source.
    pub source: String,
}

/// Shock structure.
#[derive(Debug, Clone, PartialEq)]
pub struct Shocks {
    /// AR(1) coefficient φ, |φ| < 1.
    pub persistence: f64,
    /// Common correlation of a sector's shocks across nodes.
    pub node_correlation: f64,
    /// Correlation of service and non-service shocks within a node.
    pub sector_correlation: f64,
    /// Probability per year of a common jump.
    pub jump_probability: f64,
    /// Jump size (fraction of growth; negative for a downturn).
    pub jump_size: Dist,
    /// Jumps that happen for sure: (year, size as fraction).
    pub fixed_jumps: Vec<(i32, f64)>,
}

/// Gravity model of logistics activity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gravity {
    /// Exponent a on the origin's real output.
    pub origin_exponent: f64,
    /// Exponent b on the destination's real output.
    pub destination_exponent: f64,
    /// Distance decay θ.
    pub distance_decay: f64,
    /// Internal distance d_ii, km.
    pub internal_distance_km: f64,
}

/// A target matched to the scenario: where it applies, or why it cannot be evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedTarget {
    /// The target as read.
    pub target: Target,
    /// The entity index (nodes first, then groups) and indicator, when evaluable.
    pub evaluable: Option<(usize, Indicator)>,
    /// Why it is not evaluable (empty when it is).
    pub reason: String,
    /// The indicator's base-year value for the entity, when known (for required growth).
    pub base_value: Option<f64>,
    /// The value observed in the target's year, when the scenario lists it: the target
    /// is then met or missed, not a probability.
    pub observed: Option<f64>,
}

/// A validated scenario: everything the engine needs, in model units.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// One-line description.
    pub title: String,
    /// Base year (values known).
    pub base_year: i32,
    /// Last projected year.
    pub horizon: i32,
    /// Default seed.
    pub seed: u64,
    /// Default number of draws.
    pub draws: u64,
    /// Modelled nodes, in output order.
    pub nodes: Vec<NodeInfo>,
    /// Base-year values per node (same order).
    pub base: Vec<NodeBase>,
    /// Parameters per node (same order).
    pub params: Vec<NodeParams>,
    /// Groups.
    pub groups: Vec<Group>,
    /// Spatial weights.
    pub weights: WeightScheme,
    /// Spillover strength ρ, |ρ| < 1 over its whole support.
    pub rho: Dist,
    /// Deflator trend π (fraction per year).
    pub deflator_trend: Dist,
    /// Annual deflator volatility (fraction).
    pub deflator_volatility: f64,
    /// Shocks.
    pub shocks: Shocks,
    /// Logistics gravity.
    pub gravity: Gravity,
    /// Policy impulses.
    pub impulses: Vec<Impulse>,
    /// Effective-distance links.
    pub links: Vec<Link>,
    /// Hub designations.
    pub hubs: Vec<Hub>,
    /// Values observed after the base year, in file order.
    pub observations: Vec<Observation>,
    /// Plans, in the order of the targets files.
    pub plans: Vec<Plan>,
    /// Targets, in file order.
    pub targets: Vec<ResolvedTarget>,
    /// Every file read: (role, path, bytes hash).
    pub files: Vec<(String, PathBuf, String)>,
    /// The statistical history the base values were read from.
    pub history: History,
    /// Whether the latest backtest (key `backtest`) backs the run's probabilities.
    pub calibration: crate::backtest::CalibrationStatus,
}

impl Scenario {
    /// Number of projected years.
    pub fn years(&self) -> usize {
        (self.horizon - self.base_year) as usize
    }

    /// Names of nodes then groups: the entities of outputs.
    pub fn entity_names(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .map(|n| n.name.as_str())
            .chain(self.groups.iter().map(|g| g.name.as_str()))
            .collect()
    }
}
