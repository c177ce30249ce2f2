//! Which series a run records, and how each is computed from a draw's path.
//!
//! Rationale: the engine simulates node states (levels and real indices); outputs are
//! functions of those states (sums for groups, ratios for shares, CAGRs for growth). A
//! series exists only where its base data exist, so an indicator with no base value is
//! absent from the outputs rather than filled with an invented figure.

use crate::indicator::{BaseQuantity, Indicator};
use crate::scenario::Scenario;

/// One recorded series: an entity (node or group), an indicator and a year.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Entity index: nodes first, then groups.
    pub entity: usize,
    /// Indicator.
    pub indicator: Indicator,
    /// Year offset from the base year (0 = base year).
    pub t: usize,
}

/// One recorded logistics flow: origin node, destination node, year offset.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// Origin node index.
    pub origin: usize,
    /// Destination node index.
    pub destination: usize,
    /// Year offset from the base year (≥ 1).
    pub t: usize,
}

/// Most nodes with output for which link flows are recorded (K² − K links per year).
pub const MAX_FLOW_NODES: usize = 30;

/// The recorded series of a scenario, in output order (entity, indicator, year), then
/// the link flows.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The series.
    pub series: Vec<Series>,
    /// The link flows, recorded after the series (as an index, base year = 100).
    pub flows: Vec<Flow>,
    /// Member node indices of each entity (a node is its own single member).
    pub members: Vec<Vec<usize>>,
    /// Base year.
    pub base_year: i32,
}

impl Layout {
    /// Builds the layout: every entity × indicator whose base data exist × year.
    pub fn new(s: &Scenario) -> Layout {
        let k = s.nodes.len();
        let mut members: Vec<Vec<usize>> = (0..k).map(|i| vec![i]).collect();
        members.extend(s.groups.iter().map(|g| g.members.clone()));
        let has = |m: &[usize], needs: &[BaseQuantity]| {
            m.iter()
                .all(|&i| needs.iter().all(|q| s.base[i].values[q.index()].is_some()))
        };
        let mut series = Vec::new();
        for (e, m) in members.iter().enumerate() {
            for ind in Indicator::ALL {
                let needs = if e < k {
                    ind.node_requires()
                } else {
                    ind.group_requires()
                };
                if !has(m, needs) {
                    continue;
                }
                let first = usize::from(ind.is_growth());
                for t in first..=s.years() {
                    series.push(Series {
                        entity: e,
                        indicator: ind,
                        t,
                    });
                }
            }
        }
        let with_output: Vec<usize> = (0..k)
            .filter(|&i| has(&[i], &[BaseQuantity::ServiceVa, BaseQuantity::NonServiceVa]))
            .collect();
        let mut flows = Vec::new();
        if with_output.len() <= MAX_FLOW_NODES {
            for &origin in &with_output {
                for &destination in with_output.iter().filter(|&&d| d != origin) {
                    for t in 1..=s.years() {
                        flows.push(Flow {
                            origin,
                            destination,
                            t,
                        });
                    }
                }
            }
        }
        Layout {
            series,
            flows,
            members,
            base_year: s.base_year,
        }
    }

    /// Index of a series, if recorded.
    pub fn find(&self, entity: usize, indicator: Indicator, year: i32) -> Option<usize> {
        let t = usize::try_from(year - self.base_year).ok()?;
        self.series
            .iter()
            .position(|x| x.entity == entity && x.indicator == indicator && x.t == t)
    }

    /// Number of recorded columns: series, then flows.
    pub fn len(&self) -> usize {
        self.series.len() + self.flows.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A draw's simulated path: per node and year offset t = 0..=T, stored node-major.
#[derive(Debug, Clone)]
pub struct Path {
    /// Years + 1.
    pub width: usize,
    /// Service value added, current prices (亿元); NaN where no base value.
    pub service_va: Vec<f64>,
    /// Non-service value added, current prices (亿元).
    pub non_service_va: Vec<f64>,
    /// Real index of service value added (base year = 1).
    pub service_real: Vec<f64>,
    /// Real index of non-service value added (base year = 1).
    pub non_service_real: Vec<f64>,
    /// Service employment (万人).
    pub service_emp: Vec<f64>,
    /// Non-service employment (万人).
    pub non_service_emp: Vec<f64>,
    /// Social logistics total (亿元), or an index (base year = 100) where no level is
    /// known but the node has output.
    pub logistics: Vec<f64>,
    /// Gravity flow of each link, origin-major, per year: `flows[(t * k + i) * k + j]`.
    pub flows: Vec<f64>,
    k: usize,
}

impl Path {
    /// A path for `k` nodes and `years` projected years.
    pub fn new(k: usize, years: usize) -> Path {
        let n = k * (years + 1);
        Path {
            width: years + 1,
            service_va: vec![f64::NAN; n],
            non_service_va: vec![f64::NAN; n],
            service_real: vec![1.0; n],
            non_service_real: vec![1.0; n],
            service_emp: vec![f64::NAN; n],
            non_service_emp: vec![f64::NAN; n],
            logistics: vec![f64::NAN; n],
            flows: vec![f64::NAN; k * k * (years + 1)],
            k,
        }
    }

    /// The gravity flow from `i` to `j` in year offset `t`.
    #[inline]
    pub fn flow(&self, i: usize, j: usize, t: usize) -> f64 {
        self.flows[(t * self.k + i) * self.k + j]
    }

    #[inline]
    fn at(&self, v: &[f64], i: usize, t: usize) -> f64 {
        v[i * self.width + t]
    }
}

/// Computes every series of `layout` from `path` into `out`, column `c` at
/// `out[c * stride]`: `stride = 1` writes one draw's row, `stride = draws` writes one
/// draw into a series-major block. `out` must hold `(layout.len() − 1) · stride + 1`
/// values. `base_sva` and `base_nsva` are the nodes' base-year levels (weights of real
/// growth).
pub fn extract(
    layout: &Layout,
    path: &Path,
    base_sva: &[f64],
    base_nsva: &[f64],
    out: &mut [f64],
    stride: usize,
) {
    let flows_at = layout.series.len();
    for (c, f) in layout.flows.iter().enumerate() {
        out[(flows_at + c) * stride] =
            100.0 * path.flow(f.origin, f.destination, f.t) / path.flow(f.origin, f.destination, 0);
    }
    for (c, s) in layout.series.iter().enumerate() {
        let m = &layout.members[s.entity];
        let t = s.t;
        let sum = |v: &[f64]| -> f64 { m.iter().map(|&i| path.at(v, i, t)).sum() };
        out[c * stride] = match s.indicator {
            Indicator::ServiceVa => sum(&path.service_va),
            Indicator::NonServiceVa => sum(&path.non_service_va),
            Indicator::Gdp => sum(&path.service_va) + sum(&path.non_service_va),
            Indicator::ServiceShareOfGdp => {
                let sv = sum(&path.service_va);
                100.0 * sv / (sv + sum(&path.non_service_va))
            }
            Indicator::ServiceEmployment => sum(&path.service_emp),
            Indicator::NonServiceEmployment => sum(&path.non_service_emp),
            Indicator::ServiceShareOfEmployment => {
                let se = sum(&path.service_emp);
                100.0 * se / (se + sum(&path.non_service_emp))
            }
            Indicator::LogisticsTotal => sum(&path.logistics),
            Indicator::LogisticsIndex => {
                let base: f64 = m.iter().map(|&i| path.at(&path.logistics, i, 0)).sum();
                100.0 * sum(&path.logistics) / base
            }
            Indicator::ServiceVaRealGrowth => {
                let ratio = if m.len() == 1 {
                    path.at(&path.service_real, m[0], t)
                } else {
                    let w: f64 = m.iter().map(|&i| base_sva[i]).sum();
                    m.iter()
                        .map(|&i| base_sva[i] * path.at(&path.service_real, i, t))
                        .sum::<f64>()
                        / w
                };
                cagr_pct(ratio, t)
            }
            Indicator::GdpRealGrowth => {
                let (mut num, mut den) = (0.0, 0.0);
                for &i in m {
                    num += base_sva[i] * path.at(&path.service_real, i, t)
                        + base_nsva[i] * path.at(&path.non_service_real, i, t);
                    den += base_sva[i] + base_nsva[i];
                }
                cagr_pct(num / den, t)
            }
        };
    }
}

/// Average annual growth in % per year of a ratio reached over `years` years.
/// Windows of 1, 2 and 4 years need only square roots; others take exp(ln(r)/n),
/// several times cheaper than the general power and as accurate to within a few
/// units in the last place (a hot path: once per growth series and draw).
#[inline]
pub fn cagr_pct(ratio: f64, years: usize) -> f64 {
    let root = match years {
        1 => ratio,
        2 => ratio.sqrt(),
        4 => ratio.sqrt().sqrt(),
        n => (ratio.ln() / n as f64).exp(),
    };
    100.0 * (root - 1.0)
}
