//! Calibration: estimates of the model's growth parameters from the statistical
//! history, written as a scenario fragment.
//!
//! Rationale: the history is short (2015–2020), breaks at the 2018 economic census,
//! ends in an epidemic year, and holds few real growth rates per city (often two). A
//! per-city fit of five points would give trends and volatilities far too sure of
//! themselves, so the estimates here pool information and widen rather than narrow
//! the uncertainty where data are thin:
//!
//! - **Growth data.** Only published real growth rates (`real_growth_pct`) enter the
//!   trends: growth computed from levels mixes vintages across the census break, and
//!   even consecutive "first published" levels are not on one basis (each year's
//!   publication revised the year before). Jump years (default 2020) are left out of
//!   trends, volatilities and the deflator.
//! - **Services from GDP.** Where a node-year has no published service growth, its
//!   service growth is read as its GDP growth plus the pooled service–GDP gap of the
//!   node-years that publish both; non-service growth is what is left of GDP growth
//!   given the node's service share: (Y − w S)/(1 − w).
//! - **A trend that keeps slowing.** One slowdown per sector, the pooled within-series
//!   slope (every series keeps its own level); its uncertainty accounts for shocks
//!   shared across nodes, and half the estimate is added as structural uncertainty,
//!   because whether the slowing goes on at the past pace is not in the data.
//! - **Shrinkage to the anchor.** Each node's trend at the first projected year is its
//!   detrended mean, shrunk toward the anchor series (the province) by the ratio of its
//!   sampling variance to the between-node variance (method of moments, with a floor):
//!   a node with two points moves most of the way to the province, one with five less.
//! - **Volatility, persistence, correlation.** From residuals of directly published
//!   series. Persistence and cross-node correlation are pooled over series and shrunk
//!   toward a stated prior with a stated prior weight, so that with almost no data
//!   (the shipped history) the prior stands and says so. Variances are inflated by
//!   df/(df − 2), the variance of a t distribution, so few degrees of freedom widen.
//! - **Deflator.** Implied by same-vintage consecutive GDP levels against published
//!   real GDP growth, averaged within years (the deflator is common), combined with a
//!   stated prior by precision.
//!
//! Every estimate carries a note with its data, so the fragment's comments say what
//! each number rests on.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use crate::data::{History, read_history};
use crate::error::{Error, Location, Result};

/// A sector of the calibrated growth dynamics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Measure {
    /// Real growth of service value added.
    Service,
    /// Real growth of GDP.
    Gdp,
}

/// One published real growth rate, % per year.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthObs {
    /// Node name.
    pub node: String,
    /// Year the growth applies to (growth from year − 1 to year).
    pub year: i32,
    /// Which growth.
    pub measure: Measure,
    /// Real growth, % per year.
    pub pct: f64,
}

/// One nominal GDP level with its data vintage.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelObs {
    /// Node name.
    pub node: String,
    /// Year.
    pub year: i32,
    /// GDP, 亿元 current prices.
    pub value: f64,
    /// Vintage label (`first_published`, `revised`, …).
    pub vintage: String,
}

/// What calibration reads: published real growth, GDP levels with vintages, and each
/// node's service share of GDP (fraction) near the base year.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Panel {
    /// Published real growth rates (jump years and years after the base already removed).
    pub growth: Vec<GrowthObs>,
    /// Nominal GDP levels, for the deflator.
    pub gdp_levels: Vec<LevelObs>,
    /// Service share of GDP (fraction) per node, for the non-service split.
    pub service_share: BTreeMap<String, f64>,
}

/// Priors used where the data cannot speak, and their weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Priors {
    /// AR(1) persistence φ of growth deviations.
    pub persistence: f64,
    /// Weight of the persistence prior, in lag pairs.
    pub persistence_weight: f64,
    /// Cross-node correlation of shocks.
    pub node_correlation: f64,
    /// Weight of the correlation prior, in residual degrees of freedom.
    pub node_correlation_weight: f64,
    /// Service–non-service shock correlation (not estimated; used to split volatility).
    pub sector_correlation: f64,
    /// Smallest between-node sd of trends, points (cities differ even when data
    /// cannot show it).
    pub between_node_sd_floor: f64,
    /// Service–GDP growth gap, points, when no node-year publishes both.
    pub service_gdp_gap: f64,
    /// Deflator trend prior: mean and sd, % per year.
    pub deflator: (f64, f64),
    /// Deflator volatility when fewer than three years identify it, points.
    pub deflator_volatility: f64,
    /// Service and non-service volatility when the data cannot identify them, points.
    pub volatility: (f64, f64),
    /// Slowdown (points per year) and its sd when no series has two points.
    pub slowdown: (f64, f64),
    /// Service share of GDP for a node with no level data (fraction).
    pub service_share: f64,
}

impl Default for Priors {
    /// The baseline scenario's judgements (see `scenarios/baseline.toml`).
    fn default() -> Self {
        Priors {
            persistence: 0.5,
            persistence_weight: 20.0,
            node_correlation: 0.7,
            node_correlation_weight: 10.0,
            sector_correlation: 0.5,
            between_node_sd_floor: 0.5,
            service_gdp_gap: 1.5,
            deflator: (2.0, 1.0),
            deflator_volatility: 1.0,
            volatility: (1.0, 1.5),
            slowdown: (-0.25, 0.2),
            service_share: 0.5,
        }
    }
}

/// How to calibrate.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Last year of history used; the estimates describe growth from `base_year + 1`.
    pub base_year: i32,
    /// The node whose series anchors the shrinkage (the province), if any; it is not
    /// itself written as a node.
    pub anchor: Option<String>,
    /// Years treated as jumps: left out of trends, volatilities and the deflator.
    pub jump_years: Vec<i32>,
    /// Priors.
    pub priors: Priors,
}

/// A normal estimate: mean and sd, with the data it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Mean.
    pub mean: f64,
    /// Standard deviation (already widened for thin data).
    pub sd: f64,
    /// What it rests on, in words.
    pub note: String,
}

/// A fixed-value estimate with the data it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The value.
    pub value: f64,
    /// What it rests on, in words.
    pub note: String,
}

/// Trend estimates of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeEstimate {
    /// Node name.
    pub node: String,
    /// Trend real service growth in the first projected year, % per year.
    pub service_trend: Estimate,
    /// Trend real non-service growth in the first projected year, % per year.
    pub non_service_trend: Estimate,
}

/// Everything calibration estimates.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Base year of the estimates.
    pub base_year: i32,
    /// Per-node trends (anchor excluded), in name order.
    pub nodes: Vec<NodeEstimate>,
    /// Yearly change of the service trend, points per year.
    pub service_slowdown: Estimate,
    /// Yearly change of the non-service trend, points per year.
    pub non_service_slowdown: Estimate,
    /// Annual service shock sd (innovation), points.
    pub service_volatility: Value,
    /// Annual non-service shock sd (innovation), points.
    pub non_service_volatility: Value,
    /// AR(1) persistence of deviations.
    pub persistence: Value,
    /// Cross-node correlation of shocks.
    pub node_correlation: Value,
    /// Deflator trend, % per year.
    pub deflator_trend: Estimate,
    /// Annual deflator sd, points.
    pub deflator_volatility: Value,
    /// Pooled service–GDP gap, points (mean, sd of node-years, count).
    pub service_gdp_gap: (f64, f64, usize),
}

/// Variance inflation for `df` residual degrees of freedom: df/(df − 2) (the variance
/// of a t distribution), and 3 (as df = 3) when df ≤ 3.
pub fn small_sample_inflation(df: f64) -> f64 {
    if df > 3.0 { df / (df - 2.0) } else { 3.0 }
}

/// Collects the calibration panel from a history: published real growth of `gdp`
/// (or `gdp_first_published`) and `service_va` of every node in `nodes`, in years
/// ≤ `base_year` not in `jump_years`; GDP levels (both GDP indicators) with vintages up
/// to `base_year`; and each node's service share of GDP, from `service_va` / `gdp` of
/// one vintage in the latest year ≤ `base_year` that has both.
pub fn panel_from_history(
    history: &History,
    nodes: &[String],
    base_year: i32,
    jump_years: &[i32],
) -> Panel {
    let mut panel = Panel::default();
    for node in nodes {
        for ((indicator, year), v) in history.of_node(node) {
            if year > base_year {
                continue;
            }
            let is_gdp = indicator == "gdp" || indicator == "gdp_first_published";
            if is_gdp {
                panel.gdp_levels.push(LevelObs {
                    node: node.clone(),
                    year,
                    value: v.value,
                    vintage: v.vintage.clone(),
                });
            }
            if jump_years.contains(&year) {
                continue;
            }
            let measure = match indicator {
                "service_va" => Measure::Service,
                "gdp" => Measure::Gdp,
                // A first-published GDP row's growth counts only when `gdp` has none.
                "gdp_first_published"
                    if history
                        .get(node, "gdp", year)
                        .is_none_or(|g| g.real_growth_pct.is_none()) =>
                {
                    Measure::Gdp
                }
                _ => continue,
            };
            if let Some(pct) = v.real_growth_pct {
                panel.growth.push(GrowthObs {
                    node: node.clone(),
                    year,
                    measure,
                    pct,
                });
            }
        }
        let share = (2000..=base_year).rev().find_map(|y| {
            let s = history.get(node, "service_va", y)?;
            let g = history.get(node, "gdp", y)?;
            let same = s.vintage == g.vintage
                || (s.vintage == "plan_document" || g.vintage == "plan_document");
            (same && g.value > 0.0).then(|| s.value / g.value)
        });
        if let Some(w) = share {
            panel.service_share.insert(node.clone(), w);
        }
    }
    panel
}

/// One series: (year, value) points of one node.
#[derive(Debug, Clone)]
struct Series {
    node: String,
    points: Vec<(i32, f64)>,
}

/// Pooled fit of series with their own levels and one common slope.
#[derive(Debug, Clone)]
struct Fit {
    slope: f64,
    /// Residual variance σ² = RSS / df.
    sigma2: f64,
    /// Residual degrees of freedom: points − series − 1 (slope).
    df: f64,
    /// Σ (t − t̄ᵢ)² over all series.
    sxx: f64,
    /// Residuals per series, (year, residual).
    residuals: Vec<(String, Vec<(i32, f64)>)>,
    /// Number of series with at least two points (those that inform the slope).
    slope_series: usize,
}

fn mean(x: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = x.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

/// Fits every series with its own mean and a slope common to all (least squares).
/// A series of one point fixes only its own level and adds nothing else.
fn fit(series: &[Series]) -> Fit {
    let mut sxy = 0.0;
    let mut sxx = 0.0;
    let mut slope_series = 0;
    for s in series {
        let tbar = mean(s.points.iter().map(|p| f64::from(p.0)));
        let ybar = mean(s.points.iter().map(|p| p.1));
        let xx: f64 = s
            .points
            .iter()
            .map(|p| (f64::from(p.0) - tbar).powi(2))
            .sum();
        if xx > 0.0 {
            slope_series += 1;
        }
        sxx += xx;
        sxy += s
            .points
            .iter()
            .map(|p| (f64::from(p.0) - tbar) * (p.1 - ybar))
            .sum::<f64>();
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { f64::NAN };
    let b = if slope.is_finite() { slope } else { 0.0 };
    let mut rss = 0.0;
    let mut n = 0usize;
    let mut residuals = Vec::new();
    for s in series {
        let tbar = mean(s.points.iter().map(|p| f64::from(p.0)));
        let ybar = mean(s.points.iter().map(|p| p.1));
        let r: Vec<(i32, f64)> = s
            .points
            .iter()
            .map(|p| (p.0, p.1 - ybar - b * (f64::from(p.0) - tbar)))
            .collect();
        rss += r.iter().map(|x| x.1 * x.1).sum::<f64>();
        n += s.points.len();
        residuals.push((s.node.clone(), r));
    }
    let df = n as f64 - series.len() as f64 - if sxx > 0.0 { 1.0 } else { 0.0 };
    Fit {
        slope,
        sigma2: if df > 0.0 { rss / df } else { f64::NAN },
        df,
        sxx,
        residuals,
        slope_series,
    }
}

/// Groups growth observations of one measure into series per node, in year order.
fn series_of(obs: &[GrowthObs], measure: Measure) -> Vec<Series> {
    let mut by: BTreeMap<&str, Vec<(i32, f64)>> = BTreeMap::new();
    for o in obs.iter().filter(|o| o.measure == measure) {
        by.entry(&o.node).or_default().push((o.year, o.pct));
    }
    by.into_iter()
        .map(|(node, mut points)| {
            points.sort_by_key(|p| p.0);
            Series {
                node: node.to_string(),
                points,
            }
        })
        .collect()
}

/// An estimate with `weight` (data points) shrunk toward `prior` with `prior_weight`:
/// their weighted mean.
fn shrink(estimate: f64, weight: f64, prior: f64, prior_weight: f64) -> f64 {
    (weight * estimate + prior_weight * prior) / (weight + prior_weight)
}

/// Pooled lag-one autocorrelation of residuals in consecutive years; (r₁, pairs).
fn lag_one(fits: &[&Fit]) -> (f64, usize) {
    let (mut num, mut den, mut pairs) = (0.0, 0.0, 0usize);
    for f in fits {
        for (_, r) in &f.residuals {
            if r.len() < 3 {
                // Two demeaned points are exactly opposite: no information on φ.
                continue;
            }
            den += r.iter().map(|x| x.1 * x.1).sum::<f64>();
            for w in r.windows(2) {
                if w[1].0 == w[0].0 + 1 {
                    num += w[0].1 * w[1].1;
                    pairs += 1;
                }
            }
        }
    }
    if pairs == 0 || den <= 0.0 {
        (f64::NAN, 0)
    } else {
        (num / den, pairs)
    }
}

/// Pooled cross-node residual correlation over pairs of non-anchor series of one
/// measure with at least three common years, weighted by common years − 2;
/// (correlation, weight).
fn cross_correlation(fits: &[&Fit], anchor: Option<&str>) -> (f64, f64) {
    let (mut sum, mut weight) = (0.0, 0.0);
    for f in fits {
        let rs: Vec<_> = f
            .residuals
            .iter()
            .filter(|(n, _)| Some(n.as_str()) != anchor)
            .collect();
        for (a, (_, ra)) in rs.iter().enumerate() {
            for (_, rb) in &rs[a + 1..] {
                let common: Vec<(f64, f64)> = ra
                    .iter()
                    .filter_map(|(y, x)| rb.iter().find(|(z, _)| z == y).map(|(_, v)| (*x, *v)))
                    .collect();
                if common.len() < 3 {
                    continue;
                }
                let sab: f64 = common.iter().map(|(x, y)| x * y).sum();
                let saa: f64 = common.iter().map(|(x, _)| x * x).sum();
                let sbb: f64 = common.iter().map(|(_, y)| y * y).sum();
                if saa > 0.0 && sbb > 0.0 {
                    let w = common.len() as f64 - 2.0;
                    sum += w * sab / (saa * sbb).sqrt();
                    weight += w;
                }
            }
        }
    }
    if weight > 0.0 {
        (sum / weight, weight)
    } else {
        (f64::NAN, 0.0)
    }
}

/// Estimates every calibrated parameter from `panel`.
///
/// Contract: needs at least one published real growth rate of some node in a
/// non-jump year (else `Error::Invalid` at `data_file`). Nodes written are those with
/// any growth or level data, except the anchor. Estimates that the data cannot
/// identify fall back to `options.priors`, and their notes say so.
pub fn estimate(panel: &Panel, options: &Options, data_file: &Path) -> Result<Calibration> {
    let pr = &options.priors;
    let anchor = options.anchor.as_deref();
    let b1 = options.base_year + 1;
    if panel.growth.is_empty() {
        return Err(Error::invalid(
            Location {
                file: data_file.to_path_buf(),
                line: None,
                key: Some("real_growth_pct".into()),
            },
            format!(
                "no published real growth rate of `gdp` or `service_va` up to {} outside the jump years",
                options.base_year
            ),
            Some("calibration needs real growth rates; add them in `real_growth_pct`, or choose a later --base-year".into()),
        ));
    }

    // Direct fits: volatility, persistence and correlation come from these.
    let direct_s = fit(&series_of(&panel.growth, Measure::Service));
    let direct_y = fit(&series_of(&panel.growth, Measure::Gdp));

    // Persistence: pooled r₁, shrunk toward the prior.
    let (r1, pairs) = lag_one(&[&direct_s, &direct_y]);
    let phi = if pairs > 0 {
        let w = pairs as f64;
        shrink(
            r1.clamp(-0.9, 0.9),
            w,
            pr.persistence,
            pr.persistence_weight,
        )
        .clamp(-0.9, 0.9)
    } else {
        pr.persistence
    };
    let persistence = Value {
        value: phi,
        note: if pairs > 0 {
            format!(
                "pooled lag-one autocorrelation of residuals {r1:.2} over {pairs} consecutive-year pairs, shrunk toward the prior {:.2} with weight {:.0} pairs (short series bias r₁ downward)",
                pr.persistence, pr.persistence_weight
            )
        } else {
            format!(
                "prior {:.2}: no series has three consecutive residuals",
                pr.persistence
            )
        },
    };

    // Cross-node correlation.
    let (c_raw, c_w) = cross_correlation(&[&direct_s, &direct_y], anchor);
    let corr = if c_w > 0.0 {
        shrink(c_raw, c_w, pr.node_correlation, pr.node_correlation_weight)
    } else {
        pr.node_correlation
    };
    let node_correlation = Value {
        value: corr,
        note: if c_w > 0.0 {
            format!(
                "pooled residual correlation {c_raw:.2} between node pairs (weight {c_w:.0}: common years − 2), shrunk toward the prior {:.2} with weight {:.0}",
                pr.node_correlation, pr.node_correlation_weight
            )
        } else {
            format!(
                "prior {:.2}: no two nodes (other than the anchor) share three years of published growth",
                pr.node_correlation
            )
        },
    };
    let corr_pos = corr.max(0.0);
    // Persistent deviations carry less information per year: the variance of a mean
    // (or slope) of an AR(1) is larger by about (1 + φ)/(1 − φ). Never narrowed for φ < 0.
    let long_run = (1.0 + phi.max(0.0)) / (1.0 - phi.max(0.0));

    // Volatilities: residual sd × √(1 − φ²) (innovation), widened for few df.
    let innovation = |f: &Fit| -> Option<(f64, f64)> {
        (f.df >= 1.0 && f.sigma2.is_finite()).then(|| {
            let infl = small_sample_inflation(f.df);
            ((f.sigma2 * infl * (1.0 - phi * phi)).sqrt(), f.df)
        })
    };
    let vol_s = innovation(&direct_s);
    let vol_y = innovation(&direct_y);
    let service_volatility = match vol_s {
        Some((v, df)) => Value {
            value: v,
            note: format!(
                "residual sd of published service growth about each series' level and the common slope ({df:.0} df, variance × {:.2} for few df), × √(1 − φ²)",
                small_sample_inflation(df)
            ),
        },
        None => Value {
            value: pr.volatility.0,
            note: format!(
                "prior {:.2}: too few published service growth rates",
                pr.volatility.0
            ),
        },
    };
    let w_mean = {
        let m = mean(panel.service_share.values().copied());
        if m.is_finite() { m } else { pr.service_share }
    };
    let non_service_volatility = match vol_y {
        Some((sy, df)) => {
            // GDP shock sd² = w²σS² + (1−w)²σN² + 2w(1−w)c σS σN; solve for σN.
            let ss = service_volatility.value;
            let (w, c) = (w_mean, pr.sector_correlation);
            let a = (1.0 - w).powi(2);
            let bq = 2.0 * w * (1.0 - w) * c * ss;
            let cq = w * w * ss * ss - sy * sy;
            let disc = bq * bq - 4.0 * a * cq;
            let root = if disc >= 0.0 {
                (-bq + disc.sqrt()) / (2.0 * a)
            } else {
                f64::NAN
            };
            if root.is_finite() && root > 0.0 {
                Value {
                    value: root,
                    note: format!(
                        "GDP shock sd {sy:.2} ({df:.0} df, widened) split with service sd {ss:.2}, service share {w:.2} and sector correlation {c:.1} (prior)"
                    ),
                }
            } else {
                Value {
                    value: sy,
                    note: format!(
                        "GDP shock sd {sy:.2} ({df:.0} df, widened): smaller than the service share alone explains, so taken as is"
                    ),
                }
            }
        }
        None => Value {
            value: pr.volatility.1,
            note: format!(
                "prior {:.2}: too few published GDP growth rates",
                pr.volatility.1
            ),
        },
    };

    // Service–GDP gap from node-years that publish both.
    let mut gaps = Vec::new();
    for s in panel
        .growth
        .iter()
        .filter(|o| o.measure == Measure::Service)
    {
        if let Some(y) = panel
            .growth
            .iter()
            .find(|o| o.measure == Measure::Gdp && o.node == s.node && o.year == s.year)
        {
            gaps.push(s.pct - y.pct);
        }
    }
    let (gap, gap_sd) = if gaps.is_empty() {
        (pr.service_gdp_gap, pr.service_gdp_gap.abs())
    } else {
        let m = mean(gaps.iter().copied());
        let sd = if gaps.len() > 1 {
            (gaps.iter().map(|g| (g - m).powi(2)).sum::<f64>() / (gaps.len() - 1) as f64).sqrt()
        } else {
            m.abs()
        };
        (m, sd)
    };
    let gap_se2 = gap_sd * gap_sd / gaps.len().max(1) as f64;

    // Equivalent series: service growth (published, else GDP + gap), and non-service
    // growth (Y − w S)/(1 − w) where GDP growth is published.
    let share = |node: &str| {
        panel
            .service_share
            .get(node)
            .copied()
            .unwrap_or(pr.service_share)
    };
    let mut eq_s: Vec<GrowthObs> = Vec::new();
    let mut eq_n: Vec<GrowthObs> = Vec::new();
    let mut derived: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let keys: BTreeSet<(String, i32)> = panel
        .growth
        .iter()
        .map(|o| (o.node.clone(), o.year))
        .collect();
    for (node, year) in &keys {
        let get = |m: Measure| {
            panel
                .growth
                .iter()
                .find(|o| &o.node == node && o.year == *year && o.measure == m)
                .map(|o| o.pct)
        };
        let (s, y) = (get(Measure::Service), get(Measure::Gdp));
        let entry = derived.entry(node.clone()).or_default();
        entry.1 += 1;
        let s_eq = match (s, y) {
            (Some(s), _) => s,
            (None, Some(y)) => {
                entry.0 += 1;
                y + gap
            }
            (None, None) => continue,
        };
        eq_s.push(GrowthObs {
            node: node.clone(),
            year: *year,
            measure: Measure::Service,
            pct: s_eq,
        });
        if let Some(y) = y {
            let w = share(node);
            eq_n.push(GrowthObs {
                node: node.clone(),
                year: *year,
                measure: Measure::Gdp,
                pct: (y - w * s_eq) / (1.0 - w),
            });
        }
    }

    let sector = |obs: &[GrowthObs], m: Measure, name: &str, prior: (f64, f64)| {
        let series = series_of(obs, m);
        let f = fit(&series);
        let slope = if f.slope.is_finite() {
            let deff = 1.0 + (f.slope_series.max(1) as f64 - 1.0) * corr_pos;
            let var = if f.sigma2.is_finite() {
                f.sigma2 * small_sample_inflation(f.df) / f.sxx * deff * long_run
            } else {
                f64::NAN
            };
            let structural = f.slope / 2.0;
            let sd = (var + structural * structural).sqrt();
            if sd.is_finite() {
                Estimate {
                    mean: f.slope,
                    sd,
                    note: format!(
                        "pooled within-series slope of {name} growth over {} series ({:.0} df); sd: sampling variance × {:.2} for correlated nodes, × {:.2} for few df, × {:.2} for persistence, plus half the estimate, since whether the slowing continues is not in the data",
                        f.slope_series,
                        f.df,
                        deff,
                        small_sample_inflation(f.df),
                        long_run
                    ),
                }
            } else {
                Estimate {
                    mean: f.slope,
                    sd: (prior.1 * prior.1 + structural * structural).sqrt(),
                    note: format!(
                        "pooled within-series slope of {name} growth; no residual df, so the prior sd {:.2} plus half the estimate",
                        prior.1
                    ),
                }
            }
        } else {
            Estimate {
                mean: prior.0,
                sd: prior.1,
                note: format!("prior: no {name} series has two years of growth"),
            }
        };
        (series, f, slope)
    };
    let (series_s, fit_s, service_slowdown) =
        sector(&eq_s, Measure::Service, "service", pr.slowdown);
    let (series_n, fit_n, non_service_slowdown) =
        sector(&eq_n, Measure::Gdp, "non-service", pr.slowdown);

    let trends = |series: &[Series], f: &Fit, slow: &Estimate, extra: &dyn Fn(&str) -> f64| {
        // Detrended level at b1 and its sampling variance, per series.
        let sigma2 = if f.sigma2.is_finite() {
            f.sigma2 * small_sample_inflation(f.df) * long_run
        } else {
            let v = service_volatility.value.max(non_service_volatility.value);
            v * v / (1.0 - phi * phi).max(0.1)
        };
        let slope_var = {
            let s = slow.sd * slow.sd - (slow.mean / 2.0).powi(2);
            s.max(0.0)
        };
        let levels: Vec<(String, f64, f64, f64, usize)> = series
            .iter()
            .map(|s| {
                let n = s.points.len();
                let l = mean(
                    s.points
                        .iter()
                        .map(|p| p.1 - slow.mean * f64::from(p.0 - b1)),
                );
                let tbar = mean(s.points.iter().map(|p| f64::from(p.0)));
                let v = sigma2 / n as f64 + extra(&s.node);
                (s.node.clone(), l, v, f64::from(b1) - tbar, n)
            })
            .collect();
        let (a_level, a_var) = match levels.iter().find(|l| Some(l.0.as_str()) == anchor) {
            Some(a) => (a.1, a.2),
            None => {
                let p: f64 = levels.iter().map(|l| 1.0 / l.2).sum();
                (levels.iter().map(|l| l.1 / l.2).sum::<f64>() / p, 1.0 / p)
            }
        };
        let cities: Vec<_> = levels
            .iter()
            .filter(|l| Some(l.0.as_str()) != anchor)
            .collect();
        let mom = mean(cities.iter().map(|l| (l.1 - a_level).powi(2) - l.2 - a_var));
        let tau2 = if mom.is_finite() {
            mom.max(pr.between_node_sd_floor.powi(2))
        } else {
            pr.between_node_sd_floor.powi(2)
        };
        let out: BTreeMap<String, (f64, f64, String)> = cities
            .iter()
            .map(|l| {
                let bshr = l.2 / (tau2 + l.2);
                let m = l.1 - bshr * (l.1 - a_level);
                let var = (1.0 - bshr) * l.2 + bshr * bshr * a_var + l.3 * l.3 * slope_var;
                let note = format!(
                    "{} point(s), detrended mean {:.2} at {b1}, shrunk {:.0}% toward the anchor's {:.2} (between-node sd {:.2})",
                    l.4,
                    l.1,
                    100.0 * bshr,
                    a_level,
                    tau2.sqrt()
                );
                (l.0.clone(), (m, var.sqrt(), note))
            })
            .collect();
        out
    };
    let extra_s = |node: &str| {
        let (d, n) = derived.get(node).copied().unwrap_or((0, 1));
        let f = d as f64 / n.max(1) as f64;
        f * f * gap_se2 + f * gap_sd * gap_sd / n.max(1) as f64
    };
    let no_extra = |_: &str| 0.0;
    let tr_s = trends(&series_s, &fit_s, &service_slowdown, &extra_s);
    let tr_n = trends(&series_n, &fit_n, &non_service_slowdown, &no_extra);

    let mut names: BTreeSet<String> = panel.growth.iter().map(|o| o.node.clone()).collect();
    names.extend(panel.gdp_levels.iter().map(|o| o.node.clone()));
    if let Some(a) = anchor {
        names.remove(a);
    }
    let nodes = names
        .into_iter()
        .map(|node| {
            let pick = |tr: &BTreeMap<String, (f64, f64, String)>, what: &str| match tr.get(&node)
            {
                Some((m, sd, note)) => Estimate {
                    mean: *m,
                    sd: *sd,
                    note: note.clone(),
                },
                None => {
                    // No growth data: the anchor (or the mean) with the between-node spread.
                    let m = mean(tr.values().map(|v| v.0));
                    let sd = tr.values().map(|v| v.1).fold(0.0, f64::max) + 1.0;
                    Estimate {
                        mean: m,
                        sd,
                        note: format!(
                            "no published {what} growth: mean of the other nodes, sd widened by 1 point"
                        ),
                    }
                }
            };
            NodeEstimate {
                service_trend: pick(&tr_s, "service or GDP"),
                non_service_trend: pick(&tr_n, "GDP"),
                node,
            }
        })
        .collect();

    let (deflator_trend, deflator_volatility) = deflator(panel, options);
    Ok(Calibration {
        base_year: options.base_year,
        nodes,
        service_slowdown,
        non_service_slowdown,
        service_volatility,
        non_service_volatility,
        persistence,
        node_correlation,
        deflator_trend,
        deflator_volatility,
        service_gdp_gap: (gap, gap_sd, gaps.len()),
    })
}

/// The deflator from same-vintage consecutive GDP levels against published real GDP
/// growth, averaged within years, combined by precision with the prior.
fn deflator(panel: &Panel, options: &Options) -> (Estimate, Value) {
    let pr = &options.priors;
    let mut by_year: BTreeMap<i32, Vec<f64>> = BTreeMap::new();
    for g in panel.growth.iter().filter(|o| o.measure == Measure::Gdp) {
        let now = panel
            .gdp_levels
            .iter()
            .filter(|l| l.node == g.node && l.year == g.year);
        for l1 in now {
            let prev = panel.gdp_levels.iter().find(|l| {
                l.node == g.node
                    && l.year == g.year - 1
                    && l.vintage == l1.vintage
                    && !l.vintage.is_empty()
            });
            if let Some(l0) = prev {
                let d = 100.0 * ((l1.value / l0.value) / (1.0 + g.pct / 100.0) - 1.0);
                by_year.entry(g.year).or_default().push(d);
                break;
            }
        }
    }
    let means: Vec<(i32, f64, usize)> = by_year
        .iter()
        .map(|(y, v)| (*y, mean(v.iter().copied()), v.len()))
        .collect();
    let pairs: usize = means.iter().map(|m| m.2).sum();
    let k = means.len();
    let listing = means
        .iter()
        .map(|(y, m, n)| format!("{y}: {m:.1} ({n})"))
        .collect::<Vec<_>>()
        .join(", ");
    if k < 2 {
        return (
            Estimate {
                mean: pr.deflator.0,
                sd: pr.deflator.1,
                note: format!(
                    "prior: {k} year(s) of same-vintage GDP levels with published real growth ({listing})"
                ),
            },
            Value {
                value: pr.deflator_volatility,
                note: "prior: fewer than three years".into(),
            },
        );
    }
    let m = mean(means.iter().map(|x| x.1));
    let var = means.iter().map(|x| (x.1 - m).powi(2)).sum::<f64>() / (k - 1) as f64;
    let df = (k - 1) as f64;
    let se2 = var / k as f64 * small_sample_inflation(df);
    let (p_mean, p_sd) = pr.deflator;
    let prec = 1.0 / (p_sd * p_sd) + 1.0 / se2;
    let post_mean = (p_mean / (p_sd * p_sd) + m / se2) / prec;
    let vol = if k >= 3 {
        Value {
            value: (var * small_sample_inflation(df)).sqrt(),
            note: format!("sd of the yearly implied deflators ({k} years, widened for few df)"),
        }
    } else {
        Value {
            value: pr.deflator_volatility,
            note: "prior: fewer than three years".into(),
        }
    };
    (
        Estimate {
            mean: post_mean,
            sd: prec.recip().sqrt(),
            note: format!(
                "implied by same-vintage consecutive GDP levels against published real growth, year means (pairs) {listing}: {m:.2} ± {:.2} ({pairs} pairs), combined by precision with the prior {p_mean:.1} ± {p_sd:.1}",
                se2.sqrt()
            ),
        },
        vol,
    )
}

/// Renders the calibration as a scenario fragment that extends `extends` (a path
/// relative to the fragment's folder), with the command line that produced it in the
/// header and each estimate's data in a comment above it. Means and sds are rounded to
/// two decimals, correlations to two.
pub fn render_fragment(cal: &Calibration, command_line: &str, extends: &str) -> String {
    let mut s = String::new();
    let f2 = |x: f64| format!("{:.2}", if x.abs() < 0.005 { 0.0 } else { x });
    let _ = writeln!(
        s,
        "# Calibrated parameters: estimated by `xiang calibrate` from the history up to {}.",
        cal.base_year
    );
    let _ = writeln!(s, "#   {command_line}");
    let _ = writeln!(
        s,
        "# Do not edit by hand: rerun the command. Everything not set here comes from the\n\
         # extended scenario, with its own reasoning. Method: README, \"Calibration and backtest\"."
    );
    let _ = writeln!(
        s,
        "# Trends are for the first projected year ({}); growth in % per year, slowdowns in\n\
         # points per year, volatilities in points. Pooled service–GDP gap: {:.2} points (sd {:.2},\n\
         # {} node-years publishing both). Trend distributions are truncated to [−10, 20] % a\n\
         # year only as a guard against absurd draws; the bounds are not estimates.",
        cal.base_year + 1,
        cal.service_gdp_gap.0,
        cal.service_gdp_gap.1,
        cal.service_gdp_gap.2
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "extends = \"{extends}\"");
    let _ = writeln!(s, "name = \"calibrated\"");
    let _ = writeln!(
        s,
        "title = \"Calibrated {}–: trends, volatility and deflator estimated from history to {}\"",
        cal.base_year + 1,
        cal.base_year
    );
    let comment = |s: &mut String, note: &str| {
        let _ = writeln!(s, "# {note}");
    };
    let _ = writeln!(s, "\n[prices]");
    comment(&mut s, &cal.deflator_trend.note);
    let _ = writeln!(
        s,
        "deflator_trend = {{ mean = {}, sd = {} }}",
        f2(cal.deflator_trend.mean),
        f2(cal.deflator_trend.sd)
    );
    comment(&mut s, &cal.deflator_volatility.note);
    let _ = writeln!(
        s,
        "deflator_volatility = {}",
        f2(cal.deflator_volatility.value)
    );
    let _ = writeln!(s, "\n[shocks]");
    comment(&mut s, &cal.persistence.note);
    let _ = writeln!(s, "persistence = {}", f2(cal.persistence.value));
    comment(&mut s, &cal.node_correlation.note);
    let _ = writeln!(s, "node_correlation = {}", f2(cal.node_correlation.value));
    let _ = writeln!(s, "\n[node_defaults]");
    for (key, e) in [
        ("service_slowdown", &cal.service_slowdown),
        ("non_service_slowdown", &cal.non_service_slowdown),
    ] {
        comment(&mut s, &e.note);
        let _ = writeln!(s, "{key} = {{ mean = {}, sd = {} }}", f2(e.mean), f2(e.sd));
    }
    for (key, v) in [
        ("service_volatility", &cal.service_volatility),
        ("non_service_volatility", &cal.non_service_volatility),
    ] {
        comment(&mut s, &v.note);
        let _ = writeln!(s, "{key} = {}", f2(v.value));
    }
    for n in &cal.nodes {
        let _ = writeln!(s, "\n[node_params.{}]", n.node);
        for (key, e) in [
            ("service_trend", &n.service_trend),
            ("non_service_trend", &n.non_service_trend),
        ] {
            comment(&mut s, &e.note);
            let _ = writeln!(
                s,
                "{key} = {{ mean = {}, sd = {}, min = -10.0, max = 20.0 }}",
                f2(e.mean),
                f2(e.sd)
            );
        }
    }
    s
}

/// Node names in a history CSV, in first-appearance order (the `node` column).
fn node_names(path: &Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(file);
    let mut names: Vec<String> = Vec::new();
    for rec in reader.records().flatten() {
        if let Some(n) = rec.get(0)
            && !names.iter().any(|x| x == n)
        {
            names.push(n.to_string());
        }
    }
    Ok(names)
}

/// `xiang calibrate`: reads the history at `data`, estimates with `options`, and
/// returns the scenario fragment (see [`render_fragment`]). Every node of the file
/// takes part; the anchor must be one of them when given (else `Error::Invalid`).
pub fn calibrate_file(
    data: &Path,
    options: &Options,
    command_line: &str,
    extends: &str,
) -> Result<String> {
    let history = read_history(data)?;
    let nodes = node_names(data)?;
    if let Some(a) = &options.anchor
        && !nodes.contains(a)
    {
        return Err(Error::invalid(
            Location {
                file: data.to_path_buf(),
                line: None,
                key: Some("node".into()),
            },
            format!("the anchor `{a}` has no row in the history"),
            Some(format!(
                "name one of: {} (or pass --anchor none)",
                nodes.join(", ")
            )),
        ));
    }
    let panel = panel_from_history(&history, &nodes, options.base_year, &options.jump_years);
    let cal = estimate(&panel, options, data)?;
    Ok(render_fragment(&cal, command_line, extends))
}

/// The `xiang calibrate` command: estimates from `data` up to `base_year` and writes the
/// fragment to `out` (atomically: a temporary sibling renamed into place) or prints it.
/// `anchor` = `none` shrinks toward the mean of the nodes. Input problems are
/// `Error::Invalid` / `Error::Read`; a failed write is `Error::Write`.
pub fn command(
    data: &Path,
    base_year: i32,
    out: Option<&Path>,
    anchor: &str,
    jump_years: &[i32],
    extends: &str,
) -> Result<()> {
    let mut line = format!(
        "xiang calibrate {} --base-year {base_year}",
        data.to_string_lossy().replace('\\', "/")
    );
    if anchor != "Hunan" {
        line.push_str(&format!(" --anchor {anchor}"));
    }
    let jumps: Vec<String> = jump_years.iter().map(i32::to_string).collect();
    if jumps != ["2020"] {
        line.push_str(&format!(" --jump-years {}", jumps.join(",")));
    }
    if extends != "baseline.toml" {
        line.push_str(&format!(" --extends {extends}"));
    }
    if let Some(o) = out {
        line.push_str(&format!(
            " --out {}",
            o.to_string_lossy().replace('\\', "/")
        ));
    }
    let options = Options {
        base_year,
        anchor: (!anchor.eq_ignore_ascii_case("none")).then(|| anchor.to_string()),
        jump_years: jump_years.to_vec(),
        priors: Priors::default(),
    };
    let text = calibrate_file(data, &options, &line, extends)?;
    match out {
        None => {
            print!("{text}");
            Ok(())
        }
        Some(path) => {
            let tmp = path.with_extension(format!("toml.tmp-{}", std::process::id()));
            let werr = |p: &Path| {
                let p = p.to_path_buf();
                move |source| Error::Write { path: p, source }
            };
            std::fs::write(&tmp, text.as_bytes()).map_err(werr(&tmp))?;
            std::fs::rename(&tmp, path).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                werr(path)(e)
            })?;
            eprintln!("wrote {}", path.display());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(node: &str, year: i32, m: Measure, pct: f64) -> GrowthObs {
        GrowthObs {
            node: node.into(),
            year,
            measure: m,
            pct,
        }
    }

    #[test]
    fn common_slope_and_levels() {
        // Two series on parallel lines: slope exactly −0.5, no residual.
        let s = vec![
            Series {
                node: "A".into(),
                points: vec![(2015, 10.0), (2016, 9.5), (2017, 9.0)],
            },
            Series {
                node: "B".into(),
                points: vec![(2015, 8.0), (2016, 7.5)],
            },
        ];
        let f = fit(&s);
        assert!((f.slope + 0.5).abs() < 1e-12);
        assert!(f.sigma2.abs() < 1e-20);
        assert_eq!(f.df, 2.0); // 5 points − 2 levels − 1 slope
        assert_eq!(f.slope_series, 2);
    }

    #[test]
    fn inflation_widens_small_samples() {
        assert_eq!(small_sample_inflation(1.0), 3.0);
        assert!((small_sample_inflation(12.0) - 1.2).abs() < 1e-12);
        assert!(small_sample_inflation(1000.0) < 1.01);
    }

    #[test]
    fn thin_node_is_shrunk_more_than_thick_node() {
        // Anchor P at 8 with five points; A five points at 10, B one point at 10.
        let mut g = Vec::new();
        for (i, y) in (2015..=2019).enumerate() {
            let wiggle = [0.2, -0.2, 0.1, -0.1, 0.0][i];
            g.push(obs("P", y, Measure::Gdp, 8.0 + wiggle));
            g.push(obs("A", y, Measure::Gdp, 10.0 - wiggle));
            g.push(obs("P", y, Measure::Service, 9.0 + wiggle));
        }
        g.push(obs("B", 2019, Measure::Gdp, 10.0));
        let panel = Panel {
            growth: g,
            gdp_levels: Vec::new(),
            service_share: BTreeMap::new(),
        };
        let opts = Options {
            base_year: 2019,
            anchor: Some("P".into()),
            jump_years: vec![],
            priors: Priors::default(),
        };
        let cal = estimate(&panel, &opts, Path::new("x.csv")).unwrap();
        let a = &cal.nodes[0];
        let b = &cal.nodes[1];
        assert_eq!((a.node.as_str(), b.node.as_str()), ("A", "B"));
        let p_level = 9.0; // anchor service level (no slope in the data)
        assert!(a.service_trend.mean > b.service_trend.mean);
        assert!(b.service_trend.mean > p_level - 1e-9);
        assert!(b.service_trend.sd > a.service_trend.sd);
        // Priors stand where data are silent, and say so.
        assert!(cal.deflator_trend.note.starts_with("prior"));
        assert_eq!(cal.deflator_trend.mean, 2.0);
    }

    #[test]
    fn no_growth_is_an_input_error() {
        let opts = Options {
            base_year: 2019,
            anchor: None,
            jump_years: vec![],
            priors: Priors::default(),
        };
        let err = estimate(&Panel::default(), &opts, Path::new("h.csv")).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("h.csv"));
    }
}
