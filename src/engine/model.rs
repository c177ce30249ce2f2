//! One Monte Carlo draw of the model: parameters, then annual dynamics.
//!
//! Rationale: this is the model of the project's design notes, step by step, for one
//! draw, written against a reusable workspace so the hot loop allocates nothing. Each
//! draw reads only its own random stream, derived from (seed, draw index), so a draw's
//! result never depends on which thread or shard computed it.
//!
//! Per draw: trend growth μ and its yearly change δ per node and sector, the spillover
//! strength ρ, elasticities and the deflator trend are drawn once. Then for each year:
//! correlated shocks u ~ N(0, D C D), AR(1) deviations e = φ e + u, a common jump with
//! probability p, policy impulses P, propagation g = μ_t + M (P + e + J) with
//! M = (I − ρW)⁻¹, prices p = π + σ_π z, nominal levels S ← S (1 + g)(1 + p), employment
//! by an elasticity to real service growth, and logistics by an elasticity to the growth
//! of gravity-weighted real output.

use nalgebra::DMatrix;
use ndarray::Array2;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use super::layout::{Layout, Path, PathBatch};
use crate::error::{Error, Result};
use crate::indicator::BaseQuantity;
use crate::scenario::{ObservedKind, Scenario, Sector};
use crate::spatial;

/// Memory a batch of paths may take: about half the L2 cache of one core.
pub const BATCH_BYTES: usize = 1024 * 1024;

/// The random key of a run, derived from its seed alone.
pub fn run_key(seed: u64) -> [u8; 32] {
    ChaCha8Rng::seed_from_u64(seed).get_seed()
}

/// The random stream of draw `draw` of a run with key `key`: ChaCha8 with the draw index
/// as stream id, so streams of different draws never overlap.
pub fn draw_rng(key: &[u8; 32], draw: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::from_seed(*key);
    rng.set_stream(draw);
    rng
}

/// Everything fixed across draws, precomputed from a scenario.
#[derive(Debug, Clone)]
pub struct Model {
    k: usize,
    years: usize,
    /// Base-year service value added per node (NaN where missing).
    pub base_sva: Vec<f64>,
    /// Base-year non-service value added per node (NaN where missing).
    pub base_nsva: Vec<f64>,
    base_es: Vec<f64>,
    base_en: Vec<f64>,
    base_l: Vec<f64>,
    scenario: Scenario,
    /// Lower Cholesky factor of the 2K×2K shock correlation, row-major.
    chol: Vec<f64>,
    /// Volatilities of the 2K shocks (service nodes, then non-service nodes).
    vol: Vec<f64>,
    /// Distinct spatial set-ups over the projection (links change them from given years).
    regimes: Vec<Regime>,
    /// Regime of each year offset t = 0..=T.
    regime_of: Vec<usize>,
    /// Hub attractiveness h_i,t, year-major: `hub[t * k + i]`.
    hub: Vec<f64>,
    /// Whether a node has real output (both value added levels) for gravity.
    has_output: Vec<bool>,
    /// Fixed jump per year offset t (index t − 1), as a fraction.
    fixed_jump: Vec<f64>,
    /// Observations per year offset t (index t − 1): (node, kind, value).
    observed: Vec<Vec<(usize, ObservedKind, f64)>>,
}

/// The spatial set-up in force over some years: how deviations spread, gravity decay.
#[derive(Debug, Clone)]
struct Regime {
    /// Effective distances, km.
    distances: Array2<f64>,
    spread: Spread,
    /// d_ij^(−θ), with d_ii the internal distance, row-major.
    decay: Vec<f64>,
}

/// How a regime applies the multiplier M = (I − ρW)⁻¹ to a draw's deviations.
#[derive(Debug, Clone)]
enum Spread {
    /// ρ fixed: M precomputed once, row-major.
    Fixed(Vec<f64>),
    /// ρ uncertain, W similar to a symmetric matrix: one eigendecomposition, then
    /// 2K² per application (no K³ inverse per draw).
    Spectral(spatial::SpectralMultiplier),
    /// ρ uncertain otherwise: M inverted once per draw.
    General(Array2<f64>),
}

/// Per-thread scratch space for [`Model::simulate`].
#[derive(Debug, Clone)]
pub struct Workspace {
    mu: Vec<f64>,
    delta: Vec<f64>,
    eta: Vec<f64>,
    en_trend: Vec<f64>,
    lambda: Vec<f64>,
    e: Vec<f64>,
    z: Vec<f64>,
    dev: Vec<f64>,
    g: Vec<f64>,
    /// Per regime, this draw's part of the multiplier: 1/(1 − ρλ) for a spectral
    /// regime, M row-major for a general one, nothing for a fixed one.
    m: Vec<Vec<f64>>,
    /// Scratch of length K.
    tmp: Vec<f64>,
    impulse: Vec<f64>,
    gravity_prev: Vec<f64>,
    gravity: Vec<f64>,
    destination_mass: Vec<f64>,
    /// The draw's path, filled by `simulate`.
    pub path: Path,
}

/// `out = m x` for a row-major square `m`.
fn mat_vec(m: &[f64], x: &[f64], out: &mut [f64]) {
    let k = x.len();
    for (i, o) in out.iter_mut().enumerate() {
        *o = m[i * k..(i + 1) * k]
            .iter()
            .zip(x)
            .map(|(m, x)| m * x)
            .sum();
    }
}

fn values(s: &Scenario, q: BaseQuantity) -> Vec<f64> {
    s.base
        .iter()
        .map(|b| b.get(q).unwrap_or(f64::NAN))
        .collect()
}

impl Model {
    /// Precomputes a scenario. Fails only on numerical impossibilities that validation
    /// rules out (a non-positive-definite correlation, a singular I − ρW).
    pub fn new(s: &Scenario) -> Result<Model> {
        let k = s.nodes.len();
        // Shock correlation: [[1, c_sn], [c_sn, 1]] ⊗ C_nodes, C_nodes = (1−c) I + c 11'.
        let c = s.shocks.node_correlation;
        let csn = s.shocks.sector_correlation;
        let n2 = 2 * k;
        let corr = DMatrix::from_fn(n2, n2, |a, b| {
            let (sa, ia) = (a / k, a % k);
            let (sb, ib) = (b / k, b % k);
            let node = if ia == ib { 1.0 } else { c };
            let sector = if sa == sb { 1.0 } else { csn };
            node * sector
        });
        let chol = corr
            .cholesky()
            .ok_or_else(|| Error::Numerical("shock correlation is not positive definite".into()))?
            .l();
        let chol: Vec<f64> = (0..n2)
            .flat_map(|i| (0..n2).map(move |j| (i, j)))
            .map(|(i, j)| chol[(i, j)])
            .collect();
        let vol: Vec<f64> = s
            .params
            .iter()
            .map(|p| p.service_volatility)
            .chain(s.params.iter().map(|p| p.non_service_volatility))
            .collect();

        // Distances in force each year: great-circle, overridden by active links.
        let great_circle = spatial::distance_matrix(&s.nodes);
        let g = s.gravity;
        let mut regimes: Vec<Regime> = Vec::new();
        let mut regime_of = Vec::new();
        for t in 0..=s.years() {
            let year = s.base_year + t as i32;
            let mut d = great_circle.clone();
            for l in s.links.iter().filter(|l| l.active(year)) {
                d[[l.a, l.b]] = l.distance_km;
                d[[l.b, l.a]] = l.distance_km;
            }
            if let Some(r) = regimes.iter().position(|r| r.distances == d) {
                regime_of.push(r);
                continue;
            }
            let weights = spatial::weight_matrix(&d, s.weights);
            let spread = if s.rho.is_fixed() {
                let m = spatial::multiplier(&weights, s.rho.center())?;
                Spread::Fixed(m.iter().copied().collect())
            } else if let Some(spectral) = spatial::SpectralMultiplier::new(&d, s.weights) {
                Spread::Spectral(spectral)
            } else {
                Spread::General(weights)
            };
            let mut decay = vec![0.0; k * k];
            for i in 0..k {
                for j in 0..k {
                    let dij = if i == j {
                        g.internal_distance_km
                    } else {
                        d[[i, j]].max(1.0)
                    };
                    decay[i * k + j] = dij.powf(-g.distance_decay);
                }
            }
            regime_of.push(regimes.len());
            regimes.push(Regime {
                distances: d,
                spread,
                decay,
            });
        }
        let mut hub = Vec::with_capacity((s.years() + 1) * k);
        for t in 0..=s.years() {
            let year = s.base_year + t as i32;
            for (i, p) in s.params.iter().enumerate() {
                let designated: f64 = s
                    .hubs
                    .iter()
                    .filter(|h| h.node == i && h.active(year))
                    .map(|h| h.factor)
                    .product();
                hub.push(p.hub_factor * designated);
            }
        }
        let base_sva = values(s, BaseQuantity::ServiceVa);
        let base_nsva = values(s, BaseQuantity::NonServiceVa);
        let has_output = base_sva
            .iter()
            .zip(&base_nsva)
            .map(|(a, b)| a.is_finite() && b.is_finite())
            .collect();
        let years = s.years();
        let fixed_jump = (1..=years)
            .map(|t| {
                let year = s.base_year + t as i32;
                s.shocks
                    .fixed_jumps
                    .iter()
                    .filter(|(y, _)| *y == year)
                    .map(|(_, size)| size)
                    .sum()
            })
            .collect();
        let observed = (1..=years)
            .map(|t| {
                let year = s.base_year + t as i32;
                let mut at: Vec<(usize, ObservedKind, f64)> = s
                    .observations
                    .iter()
                    .filter(|o| o.year == year)
                    .map(|o| (o.node, o.kind, o.value))
                    .collect();
                // Service value added before GDP, so GDP then fixes the non-service part.
                at.sort_by_key(|(_, kind, _)| usize::from(*kind != ObservedKind::ServiceVa));
                at
            })
            .collect();
        Ok(Model {
            observed,
            k,
            years,
            base_es: values(s, BaseQuantity::ServiceEmployment),
            base_en: values(s, BaseQuantity::NonServiceEmployment),
            base_l: values(s, BaseQuantity::LogisticsTotal),
            base_sva,
            base_nsva,
            scenario: s.clone(),
            chol,
            vol,
            regimes,
            regime_of,
            hub,
            has_output,
            fixed_jump,
        })
    }

    /// A fresh workspace for this model.
    pub fn workspace(&self) -> Workspace {
        let k = self.k;
        Workspace {
            mu: vec![0.0; 2 * k],
            delta: vec![0.0; 2 * k],
            eta: vec![0.0; k],
            en_trend: vec![0.0; k],
            lambda: vec![0.0; k],
            e: vec![0.0; 2 * k],
            z: vec![0.0; 2 * k],
            dev: vec![0.0; 2 * k],
            g: vec![0.0; 2 * k],
            m: self
                .regimes
                .iter()
                .map(|r| match r.spread {
                    Spread::Fixed(_) => Vec::new(),
                    Spread::Spectral(_) => vec![0.0; k],
                    Spread::General(_) => vec![0.0; k * k],
                })
                .collect(),
            tmp: vec![0.0; k],
            impulse: vec![0.0; self.scenario.impulses.len()],
            gravity_prev: vec![0.0; k],
            gravity: vec![0.0; k],
            destination_mass: vec![0.0; k],
            path: Path::new(k, self.years),
        }
    }

    /// Room for the paths of up to `capacity` draws, for batched extraction of
    /// `layout`: fewer where a path is large, so that the batch stays within
    /// [`BATCH_BYTES`] and in cache (a draw's values are scattered into it).
    pub fn path_batch(&self, layout: &Layout, capacity: usize) -> PathBatch {
        let per_draw = PathBatch::values_per_draw(self.k, self.years, layout.flows.len()) * 8;
        let fits = (BATCH_BYTES / per_draw.max(1)).clamp(1, capacity.max(1));
        PathBatch::new(self.k, self.years, fits, &layout.flows)
    }

    /// Gravity activity A_i = h_i,t ys_i^a Σ_j ys_j^b d_ij,t^(−θ) over nodes with
    /// output (NaN for a node without output), and each link's flow
    /// h_i,t ys_i^a ys_j^b d_ij,t^(−θ) into `path.flows`. `scratch` holds ys_j^b.
    fn gravity(&self, path: &mut Path, t: usize, scratch: &mut [f64], out: &mut [f64]) {
        let k = self.k;
        let g = self.scenario.gravity;
        let w = path.width;
        let decay = &self.regimes[self.regime_of[t]].decay;
        let ys = |path: &Path, i: usize| {
            self.base_sva[i] * path.service_real[i * w + t]
                + self.base_nsva[i] * path.non_service_real[i * w + t]
        };
        // Unit exponents (the usual gravity model) need no power.
        let power = |x: f64, e: f64| if e == 1.0 { x } else { x.powf(e) };
        for (j, dest) in scratch.iter_mut().enumerate() {
            *dest = if self.has_output[j] {
                power(ys(path, j), g.destination_exponent)
            } else {
                0.0
            };
        }
        for (i, a_i) in out.iter_mut().enumerate() {
            *a_i = f64::NAN;
            if !self.has_output[i] {
                continue;
            }
            let origin = self.hub[t * k + i] * power(ys(path, i), g.origin_exponent);
            let row = &decay[i * k..(i + 1) * k];
            let flows = &mut path.flows[(t * k + i) * k..(t * k + i + 1) * k];
            let mut sum = 0.0;
            for ((f, d), y) in flows.iter_mut().zip(row).zip(scratch.iter()) {
                *f = origin * d * y;
                sum += *f;
            }
            *a_i = sum;
        }
    }

    /// Simulates draw `draw` of the run with key `key` into `ws.path`.
    pub fn simulate(&self, key: &[u8; 32], draw: u64, ws: &mut Workspace) -> Result<()> {
        let s = &self.scenario;
        let k = self.k;
        let mut rng = draw_rng(key, draw);

        // Parameters drawn once per draw.
        for (i, p) in s.params.iter().enumerate() {
            ws.mu[i] = p.service_trend.sample(&mut rng);
            ws.delta[i] = p.service_slowdown.sample(&mut rng);
            ws.mu[k + i] = p.non_service_trend.sample(&mut rng);
            ws.delta[k + i] = p.non_service_slowdown.sample(&mut rng);
            ws.eta[i] = p.employment_elasticity.sample(&mut rng);
            ws.en_trend[i] = p.non_service_employment_trend.sample(&mut rng);
            ws.lambda[i] = p.logistics_elasticity.sample(&mut rng);
        }
        let rho = s.rho.sample(&mut rng);
        let pi = s.deflator_trend.sample(&mut rng);
        for (x, imp) in ws.impulse.iter_mut().zip(&s.impulses) {
            *x = imp.size.sample(&mut rng);
        }
        for (regime, m) in self.regimes.iter().zip(&mut ws.m) {
            match &regime.spread {
                Spread::Fixed(_) => {}
                Spread::Spectral(spectral) => spectral.scales(rho, m)?,
                Spread::General(weights) => {
                    let inverse = spatial::multiplier(weights, rho)?;
                    m.iter_mut().zip(inverse.iter()).for_each(|(m, x)| *m = *x);
                }
            }
        }

        // Initial state.
        let w = ws.path.width;
        for i in 0..k {
            let at = i * w;
            ws.path.service_va[at] = self.base_sva[i];
            ws.path.non_service_va[at] = self.base_nsva[i];
            ws.path.service_real[at] = 1.0;
            ws.path.non_service_real[at] = 1.0;
            ws.path.service_emp[at] = self.base_es[i];
            ws.path.non_service_emp[at] = self.base_en[i];
            // Logistics as a level where one is known, else as an index from 100.
            ws.path.logistics[at] = if self.base_l[i].is_finite() || !self.has_output[i] {
                self.base_l[i]
            } else {
                100.0
            };
        }
        ws.e.iter_mut().for_each(|x| *x = 0.0);
        let mut gravity_prev = std::mem::take(&mut ws.gravity_prev);
        let mut gravity = std::mem::take(&mut ws.gravity);
        self.gravity(&mut ws.path, 0, &mut ws.destination_mass, &mut gravity_prev);
        let ab = s.gravity.origin_exponent + s.gravity.destination_exponent;
        let phi = s.shocks.persistence;
        let n2 = 2 * k;

        for t in 1..=self.years {
            let year = s.base_year + t as i32;
            // 1. Correlated shocks u = D L z; 2. persistence e = φ e + u.
            for z in ws.z.iter_mut() {
                *z = StandardNormal.sample(&mut rng);
            }
            for a in 0..n2 {
                let row = &self.chol[a * n2..a * n2 + a + 1];
                let lz: f64 = row.iter().zip(&ws.z[..=a]).map(|(l, z)| l * z).sum();
                ws.e[a] = phi * ws.e[a] + self.vol[a] * lz;
            }
            // 3. Rare common jump, plus any fixed jump this year.
            let jump_u: f64 = rng.random();
            let mut jump = self.fixed_jump[t - 1];
            if jump_u < s.shocks.jump_probability {
                jump += s.shocks.jump_size.sample(&mut rng);
            }
            // 4. Deviations: impulses + persistent shocks + jump × exposure.
            for i in 0..k {
                let p = &s.params[i];
                ws.dev[i] = ws.e[i] + jump * p.service_jump_exposure;
                ws.dev[k + i] = ws.e[k + i] + jump * p.non_service_jump_exposure;
            }
            for (imp, size) in s.impulses.iter().zip(&ws.impulse) {
                if (imp.from..=imp.to).contains(&year) {
                    let at = match imp.sector {
                        Sector::Service => imp.node,
                        Sector::NonService => k + imp.node,
                    };
                    ws.dev[at] += size;
                }
            }
            // 5. Spatial propagation: g = μ_t + M dev, per sector.
            let trend_years = (t - 1) as f64;
            let r = self.regime_of[t];
            for sector in 0..2 {
                let off = sector * k;
                let dev = &ws.dev[off..off + k];
                let g = &mut ws.g[off..off + k];
                match &self.regimes[r].spread {
                    Spread::Fixed(m) => mat_vec(m, dev, g),
                    Spread::General(_) => mat_vec(&ws.m[r], dev, g),
                    Spread::Spectral(spectral) => spectral.apply(&ws.m[r], dev, &mut ws.tmp, g),
                }
                for (i, g) in g.iter_mut().enumerate() {
                    *g += ws.mu[off + i] + ws.delta[off + i] * trend_years;
                }
            }
            // 6. Prices.
            let zp: f64 = StandardNormal.sample(&mut rng);
            let price = pi + s.deflator_volatility * zp;
            // 7. Levels and real indices.
            let path = &mut ws.path;
            for i in 0..k {
                let (now, prev) = (i * w + t, i * w + t - 1);
                let (gs, gn) = (ws.g[i], ws.g[k + i]);
                path.service_real[now] = path.service_real[prev] * (1.0 + gs);
                path.non_service_real[now] = path.non_service_real[prev] * (1.0 + gn);
                path.service_va[now] = path.service_va[prev] * (1.0 + gs) * (1.0 + price);
                path.non_service_va[now] = path.non_service_va[prev] * (1.0 + gn) * (1.0 + price);
            }
            // Tracking: observed levels replace the projected ones; the surprise, as a
            // growth deviation, joins the persistent shock so that it carries over.
            for &(i, kind, value) in &self.observed[t - 1] {
                let now = i * w + t;
                match kind {
                    ObservedKind::ServiceVa => {
                        let r = value / path.service_va[now];
                        path.service_va[now] = value;
                        path.service_real[now] *= r;
                        ws.e[i] += r - 1.0;
                        ws.g[i] = (1.0 + ws.g[i]) * r - 1.0;
                    }
                    ObservedKind::Gdp => {
                        // With service value added observed too, it is already set and
                        // GDP fixes the rest; otherwise both parts scale alike.
                        let service_fixed = self.observed[t - 1]
                            .iter()
                            .any(|&(j, k2, _)| j == i && k2 == ObservedKind::ServiceVa);
                        let sectors: &[usize] = if service_fixed { &[1] } else { &[0, 1] };
                        let rest = if service_fixed {
                            path.service_va[now]
                        } else {
                            0.0
                        };
                        let scaled: f64 = sectors
                            .iter()
                            .map(|&x| {
                                if x == 0 {
                                    path.service_va[now]
                                } else {
                                    path.non_service_va[now]
                                }
                            })
                            .sum();
                        let r = (value - rest) / scaled;
                        for &x in sectors {
                            let (nominal, real, off) = if x == 0 {
                                (&mut path.service_va, &mut path.service_real, 0)
                            } else {
                                (&mut path.non_service_va, &mut path.non_service_real, k)
                            };
                            nominal[now] *= r;
                            real[now] *= r;
                            ws.e[off + i] += r - 1.0;
                            ws.g[off + i] = (1.0 + ws.g[off + i]) * r - 1.0;
                        }
                    }
                    _ => {}
                }
            }
            // 8. Employment.
            for i in 0..k {
                let p = &s.params[i];
                let (now, prev) = (i * w + t, i * w + t - 1);
                let v: f64 = StandardNormal.sample(&mut rng);
                let v2: f64 = StandardNormal.sample(&mut rng);
                path.service_emp[now] = path.service_emp[prev]
                    * (1.0 + ws.eta[i] * ws.g[i] + p.employment_volatility * v);
                path.non_service_emp[now] = path.non_service_emp[prev]
                    * (1.0 + ws.en_trend[i] + p.non_service_employment_volatility * v2);
            }
            // 9. Logistics: growth of gravity activity, normalized to degree one.
            self.gravity(path, t, &mut ws.destination_mass, &mut gravity);
            for i in 0..k {
                let p = &s.params[i];
                let (now, prev) = (i * w + t, i * w + t - 1);
                let xi: f64 = StandardNormal.sample(&mut rng);
                let ratio = gravity[i] / gravity_prev[i];
                let activity = if ab == 2.0 {
                    ratio.sqrt()
                } else {
                    ratio.powf(1.0 / ab)
                } - 1.0;
                path.logistics[now] = path.logistics[prev]
                    * (1.0 + ws.lambda[i] * activity)
                    * (1.0 + price)
                    * (1.0 + p.logistics_volatility * xi);
            }
            for &(i, kind, value) in &self.observed[t - 1] {
                let now = i * w + t;
                match kind {
                    ObservedKind::ServiceEmployment => path.service_emp[now] = value,
                    ObservedKind::LogisticsTotal => path.logistics[now] = value,
                    _ => {}
                }
            }
            std::mem::swap(&mut gravity, &mut gravity_prev);
        }
        ws.gravity_prev = gravity_prev;
        ws.gravity = gravity;
        Ok(())
    }
}
