//! The scenario file as written: every key optional, unknown keys rejected.
//!
//! Rationale: a scenario may `extends` another and set only what changes, so no single
//! file needs every key; parsing each file into this all-optional form catches unknown
//! keys and wrong types at their own file and line before files are merged. Units are
//! those a planner writes: growth rates, volatilities and impulses in percent or
//! percentage points, converted to fractions only in validation.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

/// An uncertain parameter as written: a number (fixed), `{ mean, sd }` with optional
/// `min`/`max` (normal, truncated to the range), or `{ low, high }` (uniform).
#[derive(Debug, Clone, PartialEq)]
pub enum DistSpec {
    /// A fixed value.
    Fixed(f64),
    /// Normal(mean, sd), optionally truncated to [min, max].
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation (≥ 0).
        sd: f64,
        /// Lower truncation bound.
        min: Option<f64>,
        /// Upper truncation bound.
        max: Option<f64>,
    },
    /// Uniform on [low, high].
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
}

const DIST_FIELDS: &[&str] = &["value", "mean", "sd", "min", "max", "low", "high"];

impl<'de> Deserialize<'de> for DistSpec {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DistSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, { mean = .., sd = .. } or { low = .., high = .. }")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DistSpec, E> {
                Ok(DistSpec::Fixed(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DistSpec, E> {
                Ok(DistSpec::Fixed(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DistSpec, E> {
                Ok(DistSpec::Fixed(v as f64))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DistSpec, A::Error> {
                let mut f: BTreeMap<String, f64> = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !DIST_FIELDS.contains(&key.as_str()) {
                        return Err(de::Error::unknown_field(&key, DIST_FIELDS));
                    }
                    let v: Number = map.next_value()?;
                    f.insert(key, v.0);
                }
                let g = |k: &str| f.get(k).copied();
                match (g("value"), g("mean"), g("sd"), g("low"), g("high")) {
                    (Some(v), None, None, None, None) => Ok(DistSpec::Fixed(v)),
                    (None, Some(mean), Some(sd), None, None) => Ok(DistSpec::Normal {
                        mean,
                        sd,
                        min: g("min"),
                        max: g("max"),
                    }),
                    (None, None, None, Some(low), Some(high)) => {
                        Ok(DistSpec::Uniform { low, high })
                    }
                    _ => Err(de::Error::custom(
                        "an uncertain parameter is a number, { mean = .., sd = .. } (optionally with min, max) or { low = .., high = .. }",
                    )),
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A TOML integer or float as f64.
struct Number(f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Top level of a scenario file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Path of a scenario this one modifies (relative to this file). Followed by the
    /// loader from the file's table; declared here so the key is known.
    #[allow(dead_code)]
    pub extends: Option<String>,
    /// Short name, used for the default output folder.
    pub name: Option<String>,
    /// One-line description.
    pub title: Option<String>,
    /// Year whose values are known and from which projection starts.
    pub base_year: Option<i32>,
    /// Last projected year.
    pub horizon: Option<i32>,
    /// Random seed.
    pub seed: Option<u64>,
    /// Default number of draws.
    pub draws: Option<u64>,
    /// Node names to model, in output order.
    pub nodes: Option<Vec<String>>,
    /// Path of the nodes CSV (relative to the file that sets it).
    pub node_file: Option<String>,
    /// Path of the history CSV (relative to the file that sets it).
    pub history_file: Option<String>,
    /// Paths of targets files (relative to the file that sets them).
    pub targets: Option<Vec<String>>,
    /// Named groups of nodes.
    pub groups: Option<BTreeMap<String, RawGroup>>,
    /// Spatial weights and spillover strength.
    pub spatial: Option<RawSpatial>,
    /// Price deflator.
    pub prices: Option<RawPrices>,
    /// Annual shocks, persistence and jumps.
    pub shocks: Option<RawShocks>,
    /// Gravity model of logistics.
    pub logistics: Option<RawLogistics>,
    /// Parameters shared by every node unless `node_params` overrides them.
    pub node_defaults: Option<RawNodeParams>,
    /// Per-node overrides.
    pub node_params: Option<BTreeMap<String, RawNodeParams>>,
    /// Base values supplied by the user, per node, overriding or filling the history.
    pub base_values: Option<BTreeMap<String, BTreeMap<String, RawBaseValue>>>,
    /// Policy impulses.
    pub impulses: Option<Vec<RawImpulse>>,
    /// Effective distances that replace great-circle ones (new rail, integration).
    pub links: Option<Vec<RawLink>>,
    /// Logistics hub designations (gravity attractiveness factors).
    pub hubs: Option<Vec<RawHub>>,
    /// Values observed after the base year: the run is conditioned on them.
    pub observed: Option<Vec<RawObservation>>,
    /// Path of the latest `backtest-summary.json` (relative to the file that sets it):
    /// decides whether the run's probabilities may be called calibrated.
    pub backtest: Option<String>,
}

/// A value observed after the base year (tracking a plan mid-way).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawObservation {
    /// The node.
    pub node: String,
    /// `service_va`, `gdp`, `logistics_total` or `service_employment`.
    pub indicator: String,
    /// The year observed (after the base year).
    pub year: i32,
    /// The value (亿元 current prices, or 万人).
    pub value: f64,
    /// Where it is published.
    pub source: String,
}

/// An effective distance between two nodes, from a given year.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    /// One end.
    pub from: String,
    /// The other end (the link is symmetric).
    pub to: String,
    /// Effective distance, km (road or rail distance, or travel cost in km-equivalents).
    pub distance_km: f64,
    /// First year in effect; absent: the whole projection, base year included.
    pub from_year: Option<i32>,
    /// What it represents.
    pub note: Option<String>,
}

/// A hub designation: multiplies a node's gravity attractiveness from a given year.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHub {
    /// The node.
    pub node: String,
    /// Factor on the node's hub_factor (> 0).
    pub factor: f64,
    /// First year in effect; absent: the whole projection.
    pub from_year: Option<i32>,
    /// What it represents.
    pub note: Option<String>,
}

/// A group of nodes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    /// Chinese name.
    pub name_zh: Option<String>,
    /// Member nodes.
    pub members: Vec<String>,
}

/// `[spatial]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpatial {
    /// `inverse_distance` or `nearest`.
    pub weights: Option<String>,
    /// Power of inverse distance.
    pub distance_power: Option<f64>,
    /// Number of neighbours for `nearest`.
    pub neighbours: Option<usize>,
    /// Spillover strength ρ.
    pub rho: Option<DistSpec>,
}

/// `[prices]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrices {
    /// Deflator trend, % per year.
    pub deflator_trend: Option<DistSpec>,
    /// Annual deflator volatility, percentage points.
    pub deflator_volatility: Option<f64>,
}

/// A jump fixed in a given year.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFixedJump {
    /// Year of the jump.
    pub year: i32,
    /// Size, percentage points of growth.
    pub size: f64,
}

/// `[shocks]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShocks {
    /// AR(1) coefficient φ of growth deviations.
    pub persistence: Option<f64>,
    /// Common correlation of shocks between nodes.
    pub node_correlation: Option<f64>,
    /// Correlation of service and non-service shocks within a node.
    pub sector_correlation: Option<f64>,
    /// Probability per year of a common jump.
    pub jump_probability: Option<f64>,
    /// Size of a common jump, percentage points of growth.
    pub jump_size: Option<DistSpec>,
    /// Jumps that occur for sure in given years.
    pub fixed_jumps: Option<Vec<RawFixedJump>>,
}

/// `[logistics]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogistics {
    /// Gravity exponent a on the origin's real output.
    pub origin_exponent: Option<f64>,
    /// Gravity exponent b on the destination's real output.
    pub destination_exponent: Option<f64>,
    /// Distance decay θ.
    pub distance_decay: Option<f64>,
    /// Internal distance d_ii, km.
    pub internal_distance_km: Option<f64>,
}

/// Node parameters (all optional, so defaults and overrides share the type).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNodeParams {
    /// Trend real growth of service value added, % per year.
    pub service_trend: Option<DistSpec>,
    /// Change of the service trend per year, percentage points per year.
    pub service_slowdown: Option<DistSpec>,
    /// Trend real growth of non-service value added, % per year.
    pub non_service_trend: Option<DistSpec>,
    /// Change of the non-service trend per year, percentage points per year.
    pub non_service_slowdown: Option<DistSpec>,
    /// Annual volatility of service growth shocks, percentage points.
    pub service_volatility: Option<f64>,
    /// Annual volatility of non-service growth shocks, percentage points.
    pub non_service_volatility: Option<f64>,
    /// Exposure of service growth to common jumps (1 = full).
    pub service_jump_exposure: Option<f64>,
    /// Exposure of non-service growth to common jumps.
    pub non_service_jump_exposure: Option<f64>,
    /// Elasticity of service employment to real service growth.
    pub employment_elasticity: Option<DistSpec>,
    /// Annual volatility of service employment growth, percentage points.
    pub employment_volatility: Option<f64>,
    /// Trend growth of non-service employment, % per year.
    pub non_service_employment_trend: Option<DistSpec>,
    /// Annual volatility of non-service employment growth, percentage points.
    pub non_service_employment_volatility: Option<f64>,
    /// Elasticity of logistics to gravity-weighted real output.
    pub logistics_elasticity: Option<DistSpec>,
    /// Annual volatility of logistics growth, percentage points.
    pub logistics_volatility: Option<f64>,
    /// Hub attractiveness factor h (1 = none).
    pub hub_factor: Option<f64>,
}

/// A base value supplied in the scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBaseValue {
    /// The value (亿元 or 万人).
    pub value: f64,
    /// Where it comes from: required, so that no figure enters without a source.
    pub source: String,
}

/// A policy impulse on growth.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImpulse {
    /// Node it applies to.
    pub node: String,
    /// `service` or `non_service`.
    pub sector: String,
    /// First year.
    pub from: i32,
    /// Last year (inclusive).
    pub to: i32,
    /// Size, percentage points of growth per year; drawn once per draw.
    pub size: DistSpec,
    /// What it represents and where the number comes from.
    pub note: Option<String>,
}
