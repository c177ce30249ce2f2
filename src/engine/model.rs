//! Monte Carlo draws of the model, a batch at a time: parameters, then annual dynamics.
//!
//! Rationale: this is the model of the project's design notes, step by step, written
//! against a reusable workspace so the hot loop allocates nothing. Each draw reads only
//! its own random stream, derived from (seed, draw index), and reads all of it before
//! the dynamics start, so a draw's result never depends on which thread, shard or batch
//! computed it. The dynamics then take one step for every draw of the batch at a time,
//! each quantity stored lane by lane (its draws side by side), in loops over draws that
//! the compiler vectorizes: every draw goes through the same arithmetic, in the same
//! order, as it would alone.
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
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use super::chacha::StreamLanes;
use super::layout::{Layout, PathBatch};
use super::simd::Simd;
use super::stream::DrawStream;
use super::terms::{TermLaws, TermScratch, TermSlots};
use crate::error::{Error, Result};
use crate::indicator::BaseQuantity;
use crate::scenario::{ObservedKind, Scenario, Sector};
use crate::spatial;
use crate::tiles::{self, TILE, for_tiles};

/// Memory a batch's draws of paths may take (the AVX2 and portable copies pad each
/// lane beyond it, by an eighth at 64 draws: [`Simd::lane_stride`]). The baseline's
/// batches hold the copy's full batch ([`Simd::batch_draws`]: 64 draws, 150 KB, or 256
/// on the AVX2 copy), the 13 cities' 64 draws over ten years (2.1 MB) on every copy; at 120
/// nodes over 10 years a batch holds 32 (2.4 MB): longer lanes pay for the K² loops,
/// and the paths stream through the cache in year order (1 MB, 14 draws, ran a 120-node
/// run 1.3–1.5× slower). A batch is a whole number of tiles ([`TILE`]) where it holds
/// one: 34 draws at 120 nodes, two tiles and a part tile of 2, ran 1.4× slower than 32.
pub const BATCH_BYTES: usize = 5 * 512 * 1024;

/// Most memory the words of a group of draws computed together may take
/// ([`StreamLanes`]): 16 baseline draws take 20 KB, 16 draws of the 13 cities over ten
/// years 100 KB. Larger draws (120 nodes: 0.9 MB) read their words draw by draw, which
/// keeps them in the L1 cache as their terms are computed.
const LANE_WORDS_BYTES: usize = 256 * 1024;

/// Words beyond a draw's own that a group computes for it at least: a baseline draw's
/// unsettled terms read 0.6 more on average (a ziggurat of 1024 layers), so more than
/// 7 are rarely needed, and those then come from the draw's stream. With 7, a baseline
/// draw's 145 terms take 19 ChaCha blocks rather than 20.
const WORDS_AHEAD: usize = 7;

/// The random key of a run, derived from its seed alone.
pub fn run_key(seed: u64) -> [u8; 32] {
    ChaCha8Rng::seed_from_u64(seed).get_seed()
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
    /// Where each random term of a draw lies.
    slots: TermSlots,
    /// The law of each random term.
    laws: TermLaws,
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

/// Per-thread scratch space for [`Model::simulate`]: room for a batch of up to `cap`
/// draws, each quantity stored lane by lane (`x[index * cap + d]` for draw `d` of the
/// batch; `cap` is the lanes' stride, [`Simd::lane_stride`] of the batch's draws, so
/// it may exceed them), so that every step of the dynamics is one loop over draws,
/// which the compiler vectorizes.
#[derive(Debug)]
pub struct Workspace {
    cap: usize,
    /// Every random term of the draw (parameters and jumps, the shocks, impulse sizes),
    /// a lane per term, placed by [`TermSlots`].
    terms: Vec<f64>,
    /// The random stream, restarted for each draw.
    stream: DrawStream,
    /// The words of a group of draws whose streams are computed together, word by
    /// word, the group's draws side by side: [`Model::lane_stride`] words per draw
    /// (empty until a group is computed).
    lane_words: Vec<u64>,
    /// One draw's scratch for its terms.
    term_scratch: TermScratch,
    /// Per regime, each draw's part of the multiplier: K lanes of 1/(1 − ρλ) for a
    /// spectral regime, K² lanes of M (row-major) for a general one, none for a fixed one.
    m: Vec<Vec<f64>>,
    /// One draw's part of the multiplier, before it is spread into lanes.
    m_draw: Vec<f64>,
    /// Persistent deviations e: 2K lanes.
    e: Vec<f64>,
    /// Deviations before propagation: 2K lanes.
    dev: Vec<f64>,
    /// Real growth g: 2K lanes.
    g: Vec<f64>,
    /// Scratch: K lanes.
    tmp: Vec<f64>,
    /// Gravity activity of the previous year and of this year: K lanes each.
    gravity_prev: Vec<f64>,
    gravity: Vec<f64>,
    /// ys_j^b per destination: K lanes.
    destination_mass: Vec<f64>,
    /// h_i ys_i^a of one origin: one lane.
    origin: Vec<f64>,
    /// Price change (fraction): one lane.
    price: Vec<f64>,
    /// The year's common jump (fixed part included): one lane.
    jump: Vec<f64>,
}

/// Lanes `at − 1` (read) and `at` (written) of a batch array: a node's previous year
/// and this year, first `n` draws, lanes of `cap`.
fn year_step(array: &mut [f64], at: usize, cap: usize, n: usize) -> (&[f64], &mut [f64]) {
    let (before, now) = array.split_at_mut(at * cap);
    (&before[(at - 1) * cap..(at - 1) * cap + n], &mut now[..n])
}

/// `out = m x` per draw, each draw with its own M: K² lanes, row-major.
fn mat_vec_each(m: &[f64], x: &[f64], out: &mut [f64], cap: usize, n: usize) {
    let k = out.len() / cap;
    for i in 0..k {
        let o = &mut out[i * cap..i * cap + n];
        o.fill(-0.0);
        for j in 0..k {
            let mij = &m[(i * k + j) * cap..(i * k + j) * cap + n];
            for ((o, m), x) in o.iter_mut().zip(mij).zip(&x[j * cap..j * cap + n]) {
                *o += m * x;
            }
        }
    }
}

/// `x ← x^e` for each value, skipping the power where e = 1 (the usual gravity model).
fn raise(x: &mut [f64], e: f64) {
    if e != 1.0 {
        x.iter_mut().for_each(|x| *x = libm::pow(*x, e));
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
                    decay[i * k + j] = libm::pow(dij, -g.distance_decay);
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
        let slots = TermSlots::new(k, s.impulses.len(), years);
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
            slots,
            laws: TermLaws::new(s, slots),
        })
    }

    /// A fresh workspace for batches of up to `cap` draws, laid out for copy `simd`
    /// (its lanes a [`Simd::lane_stride`] apart).
    pub fn workspace(&self, cap: usize, simd: Simd) -> Workspace {
        let k = self.k;
        let cap = simd.lane_stride(cap);
        let lanes = |count: usize| vec![0.0; count * cap];
        Workspace {
            cap,
            terms: lanes(self.slots.len()),
            stream: DrawStream::new(&[0; 32], 0),
            lane_words: Vec::new(),
            term_scratch: TermScratch::new(&self.laws),
            m: self
                .regimes
                .iter()
                .map(|r| match r.spread {
                    Spread::Fixed(_) => Vec::new(),
                    Spread::Spectral(_) => lanes(k),
                    Spread::General(_) => lanes(k * k),
                })
                .collect(),
            m_draw: vec![0.0; k],
            e: lanes(2 * k),
            dev: lanes(2 * k),
            g: lanes(2 * k),
            tmp: lanes(k),
            gravity_prev: lanes(k),
            gravity: lanes(k),
            destination_mass: lanes(k),
            origin: lanes(1),
            price: lanes(1),
            jump: lanes(1),
        }
    }

    /// Bytes of a draw's paths recording `layout` (before a copy's padding of lanes).
    pub fn path_bytes(&self, layout: &Layout) -> usize {
        PathBatch::values_per_draw(self.k, self.years, layout.flows.len()) * 8
    }

    /// Room for the paths of up to `capacity` draws, for batched extraction of
    /// `layout`: fewer where a path is large, so that the batch's draws stay within
    /// [`BATCH_BYTES`] (then a multiple of [`TILE`] where that is at least one tile),
    /// laid out for copy `simd`.
    pub fn path_batch(&self, layout: &Layout, capacity: usize, simd: Simd) -> PathBatch {
        let per_draw = self.path_bytes(layout);
        let room = BATCH_BYTES / per_draw.max(1);
        // Where memory sets the size, whole tiles if there is room for one: a part tile
        // runs its sums lane by lane.
        let fits = if room >= capacity {
            capacity.max(1)
        } else if room > TILE {
            room / TILE * TILE
        } else {
            room.max(1)
        };
        let stride = simd.lane_stride(fits);
        PathBatch::new(self.k, self.years, fits, stride, &layout.flows)
    }

    /// Gravity activity A_i = h_i,t ys_i^a Σ_j ys_j^b d_ij,t^(−θ) over nodes with
    /// output (NaN for a node without output) in year offset `t`, for the first `n`
    /// draws of `b`, into `out` (K lanes of `cap`); the link flows h_i,t ys_i^a ys_j^b
    /// d_ij,t^(−θ) that `b` records are kept in the base year and, in their year, as an
    /// index of it. `dest` (K lanes) and `origin` (one lane) are scratch.
    #[allow(clippy::too_many_arguments)]
    // Inlined into every copy of the per-block pipeline (`engine::simd`).
    #[inline(always)]
    fn gravity(
        &self,
        b: &mut PathBatch,
        t: usize,
        n: usize,
        dest: &mut [f64],
        origin: &mut [f64],
        out: &mut [f64],
        cap: usize,
    ) {
        let k = self.k;
        let g = self.scenario.gravity;
        let decay = &self.regimes[self.regime_of[t]].decay;
        let bc = b.stride;
        // Real output ys_i = Y_s,i · service index + Y_n,i · non-service index (a
        // function rather than a closure, so that it is inlined: see `engine::simd`).
        #[inline(always)]
        fn real_output(m: &Model, b: &PathBatch, i: usize, t: usize, n: usize, o: &mut [f64]) {
            let at = (i * b.width + t) * b.stride;
            let service = &b.service_real[at..at + n];
            let rest = &b.non_service_real[at..at + n];
            let (ws, wn) = (m.base_sva[i], m.base_nsva[i]);
            for ((o, s), r) in o.iter_mut().zip(service).zip(rest) {
                *o = ws * s + wn * r;
            }
        }
        for j in 0..k {
            let mass = &mut dest[j * cap..j * cap + n];
            if self.has_output[j] {
                real_output(self, b, j, t, n, mass);
                raise(mass, g.destination_exponent);
            } else {
                mass.fill(0.0);
            }
        }
        let origin = &mut origin[..n];
        for i in 0..k {
            let activity = &mut out[i * cap..i * cap + n];
            if !self.has_output[i] {
                activity.fill(f64::NAN);
                continue;
            }
            real_output(self, b, i, t, n, origin);
            raise(origin, g.origin_exponent);
            let hub = self.hub[t * k + i];
            origin.iter_mut().for_each(|o| *o *= hub);
            // Σⱼ oᵢ dᵢⱼ yⱼ from +0 in the order of j, a tile of draws at a time in registers.
            let decay_i = &decay[i * k..(i + 1) * k];
            for_tiles!(n, |start, len| {
                let mut sums = [0.0; TILE];
                let sums = &mut sums[..len];
                let origin = &origin[start..start + len];
                for (j, dij) in decay_i.iter().enumerate() {
                    let y = &dest[j * cap + start..j * cap + start + len];
                    for ((a, o), y) in sums.iter_mut().zip(origin).zip(y) {
                        *a += o * dij * y;
                    }
                }
                activity[start..start + len].copy_from_slice(sums);
            });
            if t == 0 {
                // Each link's index factor, 100 over its base-year flow: one division
                // a link and draw, shared by the link's flows of every year (a division
                // a flow and year was a loop bound by the divider, 2% of a baseline
                // run).
                for &(l, j) in &b.links_from[i] {
                    let (dij, y) = (decay[i * k + j], &dest[j * cap..]);
                    let scales = b.flow_scale[l * bc..l * bc + n].iter_mut();
                    for ((scale, o), y) in scales.zip(origin.iter()).zip(y) {
                        *scale = 100.0 / (o * dij * y);
                    }
                }
            }
            for &f in &b.flows_from[t * k + i] {
                let (j, l) = (b.flows[f].destination, b.link_of[f]);
                let (dij, y) = (decay[i * k + j], &dest[j * cap..]);
                let scale = &b.flow_scale[l * bc..l * bc + n];
                let index = &mut b.flow_index[f * bc..f * bc + n];
                for (((x, scale), o), y) in index.iter_mut().zip(scale).zip(origin.iter()).zip(y) {
                    *x = (o * dij * y) * scale;
                }
            }
        }
    }

    /// Simulates draws `first..first + n` of the run with key `key` into the first `n`
    /// draws of `batch` (`n` at most the capacity of `ws` and of `batch`), on copy
    /// `simd` of the pipeline. Each draw first reads all its random terms from its own
    /// stream, in the order of the design; the dynamics then run for all `n` draws
    /// together, so a draw's path is the same, to the bit, in any batch and on any
    /// copy.
    // Inlined into every copy of the per-block pipeline (`engine::simd`).
    #[inline(always)]
    pub fn simulate(
        &self,
        simd: Simd,
        key: &[u8; 32],
        first: u64,
        n: usize,
        ws: &mut Workspace,
        batch: &mut PathBatch,
    ) -> Result<()> {
        debug_assert!(n <= ws.cap && n <= batch.capacity);
        let grouped = StreamLanes::on(simd).filter(|lanes| {
            ws.cap >= lanes.lanes() && lanes.lanes() * self.lane_stride() * 8 <= LANE_WORDS_BYTES
        });
        match grouped {
            Some(lanes) => self.draw_groups(lanes, key, first, n, ws)?,
            None => {
                let c = ws.cap;
                for d in 0..n {
                    ws.stream.restart(key, first + d as u64);
                    self.laws
                        .draw(&mut ws.stream, &mut ws.term_scratch, &mut ws.terms, c, d);
                    self.draw_multiplier(d, ws)?;
                }
            }
        }
        self.dynamics(n, ws, batch, simd.paired_rows_from());
        Ok(())
    }

    /// The random terms of draws `first..first + n` into lane positions `0..n` of
    /// `ws`, their streams computed `lanes.lanes()` at a time: the same terms as each
    /// draw's own stream gives.
    #[inline(always)]
    fn draw_groups(
        &self,
        lanes: StreamLanes,
        key: &[u8; 32],
        first: u64,
        n: usize,
        ws: &mut Workspace,
    ) -> Result<()> {
        let stride = self.lane_stride();
        ws.lane_words.resize(lanes.lanes() * stride, 0);
        for start in (0..n).step_by(lanes.lanes()) {
            let (group, valid) = (first + start as u64, lanes.lanes().min(n - start));
            lanes.fill(key, group, stride / 8, &mut ws.lane_words);
            self.laws.draw_lanes(
                lanes,
                &ws.lane_words,
                key,
                group,
                valid,
                &mut ws.stream,
                &mut ws.term_scratch,
                &mut ws.terms,
                ws.cap,
                start,
            );
            for d in start..start + valid {
                self.draw_multiplier(d, ws)?;
            }
        }
        Ok(())
    }

    /// Words per draw of a group whose streams are computed together: whole ChaCha
    /// blocks (8 words each) covering a draw's terms and at least [`WORDS_AHEAD`] more.
    fn lane_stride(&self) -> usize {
        (self.slots.len() + WORDS_AHEAD).div_ceil(8) * 8
    }

    /// Draw `d`'s part of the spatial multiplier, from its ρ (drawn into `ws`). Fails
    /// only where I − ρW is singular.
    // Inlined into every copy of the per-block pipeline (`engine::simd`).
    #[inline(always)]
    fn draw_multiplier(&self, d: usize, ws: &mut Workspace) -> Result<()> {
        let c = ws.cap;
        let rho = ws.terms[self.slots.rho() * c + d];
        for (regime, m) in self.regimes.iter().zip(&mut ws.m) {
            match &regime.spread {
                Spread::Fixed(_) => {}
                Spread::Spectral(spectral) => {
                    spectral.scales(rho, &mut ws.m_draw)?;
                    for (i, v) in ws.m_draw.iter().enumerate() {
                        m[i * c + d] = *v;
                    }
                }
                Spread::General(weights) => {
                    let inverse = spatial::multiplier(weights, rho)?;
                    for (ij, v) in inverse.iter().enumerate() {
                        m[ij * c + d] = *v;
                    }
                }
            }
        }
        Ok(())
    }

    /// The annual dynamics of the first `n` draws of `ws` (their random terms drawn)
    /// into `b`, each step a loop over draws; products with `paired_from` rows or more
    /// run two rows at a time ([`Simd::paired_rows_from`]).
    // Inlined into every copy of the per-block pipeline (`engine::simd`).
    #[inline(always)]
    fn dynamics(&self, n: usize, ws: &mut Workspace, b: &mut PathBatch, paired_from: usize) {
        let s = &self.scenario;
        let (k, c) = (self.k, ws.cap);
        let (w, bc) = (b.width, b.stride);
        let lane = |i: usize| i * c..i * c + n;
        let node = |i: usize, t: usize| (i * w + t) * bc..(i * w + t) * bc + n;

        // Initial state.
        for i in 0..k {
            b.service_va[node(i, 0)].fill(self.base_sva[i]);
            b.non_service_va[node(i, 0)].fill(self.base_nsva[i]);
            b.service_real[node(i, 0)].fill(1.0);
            b.non_service_real[node(i, 0)].fill(1.0);
            b.service_emp[node(i, 0)].fill(self.base_es[i]);
            b.non_service_emp[node(i, 0)].fill(self.base_en[i]);
            // Logistics as a level where one is known, else as an index from 100.
            let logistics = if self.base_l[i].is_finite() || !self.has_output[i] {
                self.base_l[i]
            } else {
                100.0
            };
            b.logistics[node(i, 0)].fill(logistics);
        }
        ws.e.fill(0.0);
        self.gravity(
            b,
            0,
            n,
            &mut ws.destination_mass,
            &mut ws.origin,
            &mut ws.gravity_prev,
            c,
        );
        let ab = s.gravity.origin_exponent + s.gravity.destination_exponent;
        let phi = s.shocks.persistence;
        let n2 = 2 * k;
        let slots = self.slots;
        let terms = &ws.terms;

        for t in 1..=self.years {
            let year = s.base_year + t as i32;
            // 1. Correlated shocks u = D L z; 2. persistence e = φ e + u. (L z) runs a
            // tile of draws at a time in registers, straight into e: row by row for a
            // few nodes, two rows at a time for many (2K is even), each shock's tile
            // then read once for both.
            let chol = |a: usize| &self.chol[a * n2..=a * n2 + a];
            let short = if n2 < paired_from { n2 } else { 0 };
            for a in 0..short {
                let (vol, e) = (self.vol[a], &mut ws.e[lane(a)]);
                tiles::combine_lanes(
                    n,
                    chol(a),
                    |z| &terms[lane(slots.z(t, z))],
                    |start, lz| {
                        for (e, lz) in e[start..start + lz.len()].iter_mut().zip(lz) {
                            *e = phi * *e + vol * lz;
                        }
                    },
                );
            }
            for a in (short..n2).step_by(2) {
                let (first, second) = ws.e[a * c..(a + 2) * c].split_at_mut(c);
                tiles::combine_lanes_pair(
                    n,
                    chol(a),
                    chol(a + 1),
                    |z| &terms[lane(slots.z(t, z))],
                    |r, start, lz| {
                        let (e, vol) = if r == 0 {
                            (&mut *first, self.vol[a])
                        } else {
                            (&mut *second, self.vol[a + 1])
                        };
                        for (e, lz) in e[start..start + lz.len()].iter_mut().zip(lz) {
                            *e = phi * *e + vol * lz;
                        }
                    },
                );
            }
            // 3. Rare common jump, plus any fixed jump;
            // 4. deviations: impulses + persistent shocks + jump × exposure.
            let (p_jump, fixed) = (s.shocks.jump_probability, self.fixed_jump[t - 1]);
            let jump = &mut ws.jump[..n];
            let draws = terms[lane(slots.jump_uniform(t))]
                .iter()
                .zip(&terms[lane(slots.jump_size(t))]);
            for (j, (u, size)) in jump.iter_mut().zip(draws) {
                *j = if *u < p_jump { fixed + size } else { fixed };
            }
            let jump = &ws.jump[..n];
            for (i, p) in s.params.iter().enumerate() {
                for (at, exposure) in [
                    (i, p.service_jump_exposure),
                    (k + i, p.non_service_jump_exposure),
                ] {
                    let dev = ws.dev[lane(at)].iter_mut();
                    for ((dev, e), j) in dev.zip(&ws.e[lane(at)]).zip(jump) {
                        *dev = e + j * exposure;
                    }
                }
            }
            for (x, imp) in s.impulses.iter().enumerate() {
                if (imp.from..=imp.to).contains(&year) {
                    let at = match imp.sector {
                        Sector::Service => imp.node,
                        Sector::NonService => k + imp.node,
                    };
                    for (dev, size) in ws.dev[lane(at)]
                        .iter_mut()
                        .zip(&terms[lane(slots.impulse(x))])
                    {
                        *dev += size;
                    }
                }
            }
            // 5. Spatial propagation: g = μ_t + M dev, per sector.
            let trend_years = (t - 1) as f64;
            let r = self.regime_of[t];
            for sector in 0..2 {
                let off = sector * k;
                let dev = &ws.dev[off * c..(off + k) * c];
                let g = &mut ws.g[off * c..(off + k) * c];
                match &self.regimes[r].spread {
                    Spread::Fixed(m) => spatial::mat_vec_lanes(m, dev, g, c, n, paired_from),
                    Spread::General(_) => mat_vec_each(&ws.m[r], dev, g, c, n),
                    Spread::Spectral(spectral) => {
                        spectral.apply_lanes(&ws.m[r], dev, &mut ws.tmp, g, c, n, paired_from)
                    }
                }
                for i in 0..k {
                    let g = g[i * c..i * c + n].iter_mut();
                    let trend = terms[lane(slots.mu(off + i))]
                        .iter()
                        .zip(&terms[lane(slots.delta(off + i))]);
                    for (g, (mu, delta)) in g.zip(trend) {
                        *g += mu + delta * trend_years;
                    }
                }
            }
            // 6. Prices.
            let price = &mut ws.price[..n];
            for ((p, pi), z) in price
                .iter_mut()
                .zip(&terms[lane(slots.pi())])
                .zip(&terms[lane(slots.price(t))])
            {
                *p = pi + s.deflator_volatility * z;
            }
            // 7. Levels and real indices, both in one pass over the draws (each lane's
            // arithmetic as in two passes; one pass reads g and the price once).
            for i in 0..k {
                let at = i * w + t;
                for (real, nominal, g) in [
                    (&mut b.service_real, &mut b.service_va, &ws.g[lane(i)]),
                    (
                        &mut b.non_service_real,
                        &mut b.non_service_va,
                        &ws.g[lane(k + i)],
                    ),
                ] {
                    let (real_prev, real_now) = year_step(real, at, bc, n);
                    let (nominal_prev, nominal_now) = year_step(nominal, at, bc, n);
                    let real = real_now.iter_mut().zip(real_prev);
                    let nominal = nominal_now.iter_mut().zip(nominal_prev);
                    for ((((real, real_prev), (nominal, nominal_prev)), g), p) in
                        real.zip(nominal).zip(g).zip(&ws.price)
                    {
                        *real = real_prev * (1.0 + g);
                        *nominal = nominal_prev * (1.0 + g) * (1.0 + p);
                    }
                }
            }
            // Tracking: observed levels replace the projected ones; the surprise, as a
            // growth deviation, joins the persistent shock so that it carries over.
            for &(i, kind, value) in &self.observed[t - 1] {
                let now = (i * w + t) * bc;
                let rescale = |e: &mut f64, g: &mut f64, r: f64| {
                    *e += r - 1.0;
                    *g = (1.0 + *g) * r - 1.0;
                };
                match kind {
                    ObservedKind::ServiceVa => {
                        for d in 0..n {
                            let r = value / b.service_va[now + d];
                            b.service_va[now + d] = value;
                            b.service_real[now + d] *= r;
                            rescale(&mut ws.e[i * c + d], &mut ws.g[i * c + d], r);
                        }
                    }
                    ObservedKind::Gdp => {
                        // With service value added observed too, it is already set and
                        // GDP fixes the rest; otherwise both parts scale alike.
                        let service_fixed = self.observed[t - 1]
                            .iter()
                            .any(|&(j, k2, _)| j == i && k2 == ObservedKind::ServiceVa);
                        for d in 0..n {
                            let (sva, nsva) = (b.service_va[now + d], b.non_service_va[now + d]);
                            let (rest, scaled) = if service_fixed {
                                (sva, nsva)
                            } else {
                                (0.0, sva + nsva)
                            };
                            let r = (value - rest) / scaled;
                            if !service_fixed {
                                b.service_va[now + d] *= r;
                                b.service_real[now + d] *= r;
                                rescale(&mut ws.e[i * c + d], &mut ws.g[i * c + d], r);
                            }
                            b.non_service_va[now + d] *= r;
                            b.non_service_real[now + d] *= r;
                            let at = (k + i) * c + d;
                            rescale(&mut ws.e[at], &mut ws.g[at], r);
                        }
                    }
                    _ => {}
                }
            }
            // 8. Employment.
            for (i, p) in s.params.iter().enumerate() {
                let at = i * w + t;
                let (prev, now) = year_step(&mut b.service_emp, at, bc, n);
                let drivers = terms[lane(slots.eta(i))].iter().zip(&ws.g[lane(i)]);
                let v = &terms[lane(slots.employment(t, i))];
                for (((now, prev), (eta, g)), v) in now.iter_mut().zip(prev).zip(drivers).zip(v) {
                    *now = prev * (1.0 + eta * g + p.employment_volatility * v);
                }
                let (prev, now) = year_step(&mut b.non_service_emp, at, bc, n);
                let v = &terms[lane(slots.non_service_employment(t, i))];
                let trend = &terms[lane(slots.en_trend(i))];
                for (((now, prev), trend), v) in now.iter_mut().zip(prev).zip(trend).zip(v) {
                    *now = prev * (1.0 + trend + p.non_service_employment_volatility * v);
                }
            }
            // 9. Logistics: growth of gravity activity, normalized to degree one.
            self.gravity(
                b,
                t,
                n,
                &mut ws.destination_mass,
                &mut ws.origin,
                &mut ws.gravity,
                c,
            );
            for (i, p) in s.params.iter().enumerate() {
                let (prev, now) = year_step(&mut b.logistics, i * w + t, bc, n);
                let activity = ws.gravity[lane(i)].iter().zip(&ws.gravity_prev[lane(i)]);
                let drivers = terms[lane(slots.lambda(i))].iter().zip(&ws.price[..n]);
                let xi = &terms[lane(slots.logistics(t, i))];
                for (((now, prev), (a, a_prev)), ((lambda, price), xi)) in
                    now.iter_mut().zip(prev).zip(activity).zip(drivers.zip(xi))
                {
                    let ratio = a / a_prev;
                    let growth = if ab == 2.0 {
                        ratio.sqrt()
                    } else {
                        libm::pow(ratio, 1.0 / ab)
                    } - 1.0;
                    *now = prev
                        * (1.0 + lambda * growth)
                        * (1.0 + price)
                        * (1.0 + p.logistics_volatility * xi);
                }
            }
            for &(i, kind, value) in &self.observed[t - 1] {
                match kind {
                    ObservedKind::ServiceEmployment => b.service_emp[node(i, t)].fill(value),
                    ObservedKind::LogisticsTotal => b.logistics[node(i, t)].fill(value),
                    _ => {}
                }
            }
            std::mem::swap(&mut ws.gravity, &mut ws.gravity_prev);
        }
    }
}
