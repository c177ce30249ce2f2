//! The impact of a growth impulse in one node on every node: direct, indirect and
//! total effects of the spatial multiplier M = (I − ρW)⁻¹, with ρ's uncertainty.
//!
//! Rationale: a planner asks "if Xiangtan's services grow one point faster, what do
//! Changsha and Zhuzhou gain?". In the model a deviation P in node j changes growth in
//! node i by M_ij P, so column j of M answers it: M_jj is the direct effect (own
//! effect, feedback included), the other entries the spillovers, their sum the
//! indirect effect, and the column sum the total (as in LeSage and Pace's summary of
//! spatial-lag models, here per origin). With row-standardized W every row of M sums to
//! 1/(1 − ρ). Where links change distances from a given year, each spatial set-up is
//! reported from the year it starts.

use crate::engine::model::run_key;
use crate::engine::terms::{TermLaws, TermSlots};
use crate::error::Result;
use crate::export::format_number;
use crate::scenario::Scenario;
use crate::spatial;
use crate::stats::{mean_sd, quantile_sorted};

/// One effect of a 1-point growth impulse: in percentage points of growth.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// First year of the spatial set-up the effect belongs to.
    pub year: i32,
    /// Node of the impulse.
    pub origin: String,
    /// Node affected (empty for the per-origin sums).
    pub destination: String,
    /// `direct` (origin on itself), `spillover` (on another node), `indirect` (sum of
    /// spillovers), `total` (direct + indirect).
    pub kind: &'static str,
    /// Mean over ρ draws.
    pub mean: f64,
    /// 5 %, 50 %, 95 % quantiles over ρ draws.
    pub quantiles: [f64; 3],
}

/// The effects of every origin on every node, for each spatial set-up, over `draws`
/// draws of ρ (one draw when ρ is fixed). ρ is the one draw d of a run with `seed`
/// takes, so the figures are reproducible and match the run's.
pub fn spillovers(scenario: &Scenario, draws: u64, seed: u64) -> Result<Vec<Effect>> {
    let k = scenario.nodes.len();
    let great_circle = spatial::distance_matrix(&scenario.nodes);
    let key = run_key(seed);
    let draws = if scenario.rho.is_fixed() {
        1
    } else {
        draws.max(1)
    };
    let slots = TermSlots::new(k, scenario.impulses.len(), scenario.years());
    let laws = TermLaws::new(scenario, slots);
    let rhos: Vec<f64> = (0..draws)
        .map(|d| laws.values_of(&key, d)[slots.rho()])
        .collect();
    // The set-ups: the base year's, then each year links change it.
    let mut setups: Vec<(i32, ndarray::Array2<f64>)> = Vec::new();
    for year in scenario.base_year..=scenario.horizon {
        let mut d = great_circle.clone();
        for l in scenario.links.iter().filter(|l| l.active(year)) {
            d[[l.a, l.b]] = l.distance_km;
            d[[l.b, l.a]] = l.distance_km;
        }
        if setups.last().is_none_or(|(_, last)| *last != d) {
            setups.push((year, d));
        }
    }
    let mut effects = Vec::new();
    for (year, d) in setups {
        let w = spatial::weight_matrix(&d, scenario.weights);
        // values[(j * k + i)]: effect of origin j on node i, one entry per ρ draw.
        let mut values = vec![Vec::with_capacity(rhos.len()); k * k];
        for &rho in &rhos {
            let m = spatial::multiplier(&w, rho)?;
            for j in 0..k {
                for i in 0..k {
                    values[j * k + i].push(m[[i, j]]);
                }
            }
        }
        let name = |i: usize| scenario.nodes[i].name.clone();
        let summarize = |mut v: Vec<f64>| {
            let (mean, _) = mean_sd(&v);
            v.sort_unstable_by(f64::total_cmp);
            (mean, [0.05, 0.5, 0.95].map(|p| quantile_sorted(&v, p)))
        };
        for j in 0..k {
            let mut indirect = vec![0.0; rhos.len()];
            let mut total = vec![0.0; rhos.len()];
            for i in 0..k {
                let v = &values[j * k + i];
                for (r, x) in v.iter().enumerate() {
                    total[r] += x;
                    if i != j {
                        indirect[r] += x;
                    }
                }
                let (mean, quantiles) = summarize(v.clone());
                effects.push(Effect {
                    year,
                    origin: name(j),
                    destination: name(i),
                    kind: if i == j { "direct" } else { "spillover" },
                    mean,
                    quantiles,
                });
            }
            for (kind, v) in [("indirect", indirect), ("total", total)] {
                let (mean, quantiles) = summarize(v);
                effects.push(Effect {
                    year,
                    origin: name(j),
                    destination: String::new(),
                    kind,
                    mean,
                    quantiles,
                });
            }
        }
    }
    Ok(effects)
}

/// `spillovers.csv`: `scenario, year, origin, destination, kind, unit, mean, p05, p50,
/// p95`, effects in percentage points of growth per 1-point impulse.
pub fn to_csv(scenario: &str, effects: &[Effect]) -> Result<Vec<u8>> {
    let header = [
        "scenario",
        "year",
        "origin",
        "destination",
        "kind",
        "unit",
        "mean",
        "p05",
        "p50",
        "p95",
    ];
    let rows = effects.iter().map(|e| {
        vec![
            scenario.to_string(),
            e.year.to_string(),
            e.origin.clone(),
            e.destination.clone(),
            e.kind.to_string(),
            "pp per 1 pp impulse".to_string(),
            format_number(e.mean),
            format_number(e.quantiles[0]),
            format_number(e.quantiles[1]),
            format_number(e.quantiles[2]),
        ]
    });
    crate::export::render_csv("spillovers.csv", &header, rows)
}
