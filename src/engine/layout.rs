//! Which series a run records, and how each is computed from a draw's path.
//!
//! Rationale: the engine simulates node states (levels and real indices); outputs are
//! functions of those states (sums for groups, ratios for shares, CAGRs for growth). A
//! series exists only where its base data exist, so an indicator with no base value is
//! absent from the outputs rather than filled with an invented figure.
//!
//! Series are computed for a batch of draws at once ([`PathBatch`], [`extract`]): each
//! path value's draws lie side by side, as the dynamics leave them, so a series is one
//! pass over contiguous memory that the compiler vectorizes, and a draw gives the same
//! bits in any batch.

use crate::indicator::{BaseQuantity, Indicator};
use crate::scenario::Scenario;
use crate::tiles::{TILE, for_tiles};

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

/// The simulated paths of up to `capacity` draws, value by value: for each node `i`
/// and year offset `t = 0..=T` (path value `i · (T + 1) + t`), the draws side by side
/// (`array[index * stride + d]`, lanes `stride` ≥ `capacity` apart). The dynamics
/// fill it one step for all draws at a time, and a series is computed for all draws in
/// one pass over contiguous memory: loops the compiler vectorizes.
#[derive(Debug, Clone)]
pub struct PathBatch {
    /// Most draws it holds.
    pub(super) capacity: usize,
    /// Distance between lanes.
    pub(super) stride: usize,
    /// Years + 1.
    pub(super) width: usize,
    /// Service value added, current prices (亿元); NaN where no base value.
    pub(super) service_va: Vec<f64>,
    /// Non-service value added, current prices (亿元).
    pub(super) non_service_va: Vec<f64>,
    /// Real index of service value added (base year = 1).
    pub(super) service_real: Vec<f64>,
    /// Real index of non-service value added (base year = 1).
    pub(super) non_service_real: Vec<f64>,
    /// Service employment (万人).
    pub(super) service_emp: Vec<f64>,
    /// Non-service employment (万人).
    pub(super) non_service_emp: Vec<f64>,
    /// Social logistics total (亿元), or an index (base year = 100) where no level is
    /// known but the node has output.
    pub(super) logistics: Vec<f64>,
    /// The link flows the layout records (only those: K² values a year would otherwise
    /// be kept for nothing).
    pub(super) flows: Vec<Flow>,
    /// The recorded flows gravity computes from origin `i` in year offset `t` ≥ 1, at
    /// `flows_from[t * k + i]`.
    pub(super) flows_from: Vec<Vec<usize>>,
    /// The links of the recorded flows from origin `i`, at `links_from[i]`: each link
    /// once, as (its index, its destination), links numbered in the order of their
    /// first flow.
    pub(super) links_from: Vec<Vec<(usize, usize)>>,
    /// The link of each recorded flow.
    pub(super) link_of: Vec<usize>,
    /// 100 over each link's flow in the base year (gravity units), one lane per link:
    /// the factor of the index of every flow on it.
    pub(super) flow_scale: Vec<f64>,
    /// Each recorded flow in its year as an index (base year = 100).
    pub(super) flow_index: Vec<f64>,
}

impl PathBatch {
    /// Room for `capacity` draws of paths of `k` nodes and `years` projected years, and
    /// of the link flows in `flows`, with lanes `stride` ≥ `capacity` apart.
    pub fn new(
        k: usize,
        years: usize,
        capacity: usize,
        stride: usize,
        flows: &[Flow],
    ) -> PathBatch {
        debug_assert!(stride >= capacity);
        let n = k * (years + 1) * stride;
        let mut flows_from = vec![Vec::new(); k * (years + 1)];
        let (mut links, mut links_from, mut link_of) = (0, vec![Vec::new(); k], Vec::new());
        // Each link's index, by origin and destination, once it has one.
        let mut link_at = vec![None; k * k];
        for (f, flow) in flows.iter().enumerate() {
            flows_from[flow.t * k + flow.origin].push(f);
            let l = *link_at[flow.origin * k + flow.destination].get_or_insert_with(|| {
                links_from[flow.origin].push((links, flow.destination));
                links += 1;
                links - 1
            });
            link_of.push(l);
        }
        PathBatch {
            capacity,
            stride,
            width: years + 1,
            service_va: vec![0.0; n],
            non_service_va: vec![0.0; n],
            service_real: vec![0.0; n],
            non_service_real: vec![0.0; n],
            service_emp: vec![0.0; n],
            non_service_emp: vec![0.0; n],
            logistics: vec![0.0; n],
            flow_scale: vec![0.0; links * stride],
            flow_index: vec![0.0; flows.len() * stride],
            flows: flows.to_vec(),
            flows_from,
            links_from,
            link_of,
        }
    }

    /// Values one draw's path takes, at most, in a batch that records `flows` link
    /// flows: its levels, each flow's index and each link's factor (no more links
    /// than flows).
    pub fn values_per_draw(k: usize, years: usize, flows: usize) -> usize {
        7 * k * (years + 1) + 2 * flows
    }

    /// Draws it can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Recorded link flow `f` (the layout's `flows[f]`) of draw `d` of the batch, in
    /// gravity units (h ys_i^a ys_j^b d^(−θ)): in the base year, and in its year.
    pub fn flow(&self, f: usize, d: usize) -> (f64, f64) {
        let scale = self.flow_scale[self.link_of[f] * self.stride + d];
        (100.0 / scale, self.flow_index[f * self.stride + d] / scale)
    }
}

/// The first `draws` draws of path value `index` of `array`, whose lanes are `stride`
/// apart.
// Inlined into every copy of the per-block pipeline (`engine::simd`).
#[inline(always)]
fn lane(array: &[f64], index: usize, stride: usize, draws: usize) -> &[f64] {
    &array[index * stride..index * stride + draws]
}

/// Σ over `members` of `array[(i, t)]` for the draws `start..start + sums.len()` of `b`,
/// added into `sums` in member order.
// Inlined into every copy of the per-block pipeline (`engine::simd`).
#[inline(always)]
fn add_members(
    sums: &mut [f64],
    array: &[f64],
    members: &[usize],
    t: usize,
    b: &View,
    start: usize,
) {
    for &i in members {
        let x = &b.at(array, i, t)[start..start + sums.len()];
        for (sum, x) in sums.iter_mut().zip(x) {
            *sum += x;
        }
    }
}

/// `out[d] = Σ over members of array[(i, t)][d]`, summed in member order from −0 (as
/// `Iterator::sum` does, so one draw and a batch agree to the bit), a tile of draws at a
/// time in registers.
// Inlined into every copy of the per-block pipeline (`engine::simd`).
#[inline(always)]
fn member_sum(out: &mut [f64], array: &[f64], members: &[usize], t: usize, b: &View) {
    if let [i] = members {
        // A node: −0 + x is x, to the bit, so the sum is a copy.
        out.copy_from_slice(b.at(array, *i, t));
        return;
    }
    for_tiles!(out.len(), |start, len| {
        let mut sums = [-0.0; TILE];
        let sums = &mut sums[..len];
        add_members(sums, array, members, t, b, start);
        out[start..start + len].copy_from_slice(sums);
    });
}

/// `out[d] = combine(x, y)` of two member sums as [`member_sum`] takes them, x of
/// `array[(i, t)]` and y of `other[(i, u)]`, a tile of draws at a time in registers.
// Inlined into every copy of the per-block pipeline (`engine::simd`).
#[inline(always)]
fn member_sums_combined(
    out: &mut [f64],
    (array, t): (&[f64], usize),
    (other, u): (&[f64], usize),
    members: &[usize],
    b: &View,
    combine: impl Fn(f64, f64) -> f64,
) {
    if let [i] = members {
        // A node: each sum is its one value (−0 + x is x, to the bit).
        let (x, y) = (b.at(array, *i, t), b.at(other, *i, u));
        for ((o, x), y) in out.iter_mut().zip(x).zip(y) {
            *o = combine(*x, *y);
        }
        return;
    }
    for_tiles!(out.len(), |start, len| {
        let (mut x, mut y) = ([-0.0; TILE], [-0.0; TILE]);
        let (x, y) = (&mut x[..len], &mut y[..len]);
        add_members(x, array, members, t, b, start);
        add_members(y, other, members, u, b, start);
        for ((o, x), y) in out[start..start + len].iter_mut().zip(x).zip(y) {
            *o = combine(*x, *y);
        }
    });
}

/// The first `draws` draws of a batch, with the base-year levels that weight real
/// growth: what every series is computed from.
struct View<'a> {
    paths: &'a PathBatch,
    draws: usize,
    base_sva: &'a [f64],
    base_nsva: &'a [f64],
}

impl View<'_> {
    /// The draws of path value (node `i`, year offset `t`) of `array`.
    // Inlined into every copy of the per-block pipeline (`engine::simd`).
    #[inline(always)]
    fn at<'b>(&self, array: &'b [f64], i: usize, t: usize) -> &'b [f64] {
        let p = self.paths;
        lane(array, i * p.width + t, p.stride, self.draws)
    }
}

/// Computes every series of `layout` for the first `draws` draws of `batch` into
/// `out`, series-major: series `c` of draw `d` at `out[c * stride + d]` (`stride ≥
/// draws`; `out` holds at least `(layout.len() − 1) · stride + draws` values), so a
/// batch can fill its slice of a larger block. `base_sva` and `base_nsva` are the nodes' base-year
/// levels (weights of real growth). A draw gives the same values, to the bit, whatever
/// the batch it is computed in.
// Inlined into every copy of the per-block pipeline (`engine::simd`).
#[inline(always)]
pub fn extract(
    layout: &Layout,
    batch: &PathBatch,
    draws: usize,
    base_sva: &[f64],
    base_nsva: &[f64],
    out: &mut [f64],
    stride: usize,
) {
    let b = View {
        paths: batch,
        draws,
        base_sva,
        base_nsva,
    };
    let mut columns = out.chunks_mut(stride).map(|c| &mut c[..draws]);
    for s in &layout.series {
        let Some(o) = columns.next() else { break };
        series(o, s, &layout.members[s.entity], &b);
    }
    for (f, o) in columns.take(layout.flows.len()).enumerate() {
        o.copy_from_slice(lane(&batch.flow_index, f, batch.stride, draws));
    }
}

/// Series `s` (of entity members `m`) for the draws of `b` into `o`.
// Inlined into every copy of the per-block pipeline (`engine::simd`).
#[inline(always)]
fn series(o: &mut [f64], s: &Series, m: &[usize], b: &View) {
    let (paths, base_sva, base_nsva) = (b.paths, b.base_sva, b.base_nsva);
    let t = s.t;
    match s.indicator {
        Indicator::ServiceVa => member_sum(o, &paths.service_va, m, t, b),
        Indicator::NonServiceVa => member_sum(o, &paths.non_service_va, m, t, b),
        Indicator::ServiceEmployment => member_sum(o, &paths.service_emp, m, t, b),
        Indicator::NonServiceEmployment => member_sum(o, &paths.non_service_emp, m, t, b),
        Indicator::LogisticsTotal => member_sum(o, &paths.logistics, m, t, b),
        Indicator::Gdp => {
            let (sva, nsva) = ((&paths.service_va[..], t), (&paths.non_service_va[..], t));
            member_sums_combined(o, sva, nsva, m, b, |s, n| s + n);
        }
        Indicator::ServiceShareOfGdp | Indicator::ServiceShareOfEmployment => {
            let (part, rest) = if s.indicator == Indicator::ServiceShareOfGdp {
                (&paths.service_va, &paths.non_service_va)
            } else {
                (&paths.service_emp, &paths.non_service_emp)
            };
            member_sums_combined(o, (part, t), (rest, t), m, b, |p, r| 100.0 * p / (p + r));
        }
        Indicator::LogisticsIndex => {
            let (now, base) = ((&paths.logistics[..], t), (&paths.logistics[..], 0));
            member_sums_combined(o, now, base, m, b, |now, base| 100.0 * now / base);
        }
        Indicator::ServiceVaRealGrowth => {
            if let [i] = m[..] {
                o.copy_from_slice(b.at(&paths.service_real, i, t));
            } else {
                let w: f64 = m.iter().map(|&i| base_sva[i]).sum();
                o.fill(-0.0);
                for &i in m {
                    for (o, x) in o.iter_mut().zip(b.at(&paths.service_real, i, t)) {
                        *o += base_sva[i] * x;
                    }
                }
                o.iter_mut().for_each(|o| *o /= w);
            }
            cagr_lanes(o, t);
        }
        Indicator::GdpRealGrowth => {
            // The weights summed from 0 in member order, as the values are.
            let den = m
                .iter()
                .fold(0.0, |den, &i| den + (base_sva[i] + base_nsva[i]));
            if let [i] = m[..] {
                // A node: the sum, from 0, and the quotient in one loop.
                let (ws, wn) = (base_sva[i], base_nsva[i]);
                let service = b.at(&paths.service_real, i, t);
                let rest = b.at(&paths.non_service_real, i, t);
                for ((o, sr), nr) in o.iter_mut().zip(service).zip(rest) {
                    *o = (0.0 + (ws * sr + wn * nr)) / den;
                }
            } else {
                o.fill(0.0);
                for &i in m {
                    let service = b.at(&paths.service_real, i, t);
                    let rest = b.at(&paths.non_service_real, i, t);
                    for ((o, sr), nr) in o.iter_mut().zip(service).zip(rest) {
                        *o += base_sva[i] * sr + base_nsva[i] * nr;
                    }
                }
                o.iter_mut().for_each(|o| *o /= den);
            }
            cagr_lanes(o, t);
        }
    }
}

/// Average annual growth in % per year of a ratio reached over `years` years:
/// 100 (r^(1/n) − 1), as [`cagr_lanes`] computes it for one draw.
pub fn cagr_pct(ratio: f64, years: usize) -> f64 {
    let mut o = [ratio];
    cagr_lanes(&mut o, years);
    o[0]
}

/// [`cagr_pct`] of every ratio of `o`, in place. Windows of 1, 2 and 4 years need only
/// square roots. For 3 and 5 to 10 years, a ratio in [1/2, 2] takes the steps of
/// `newton_tile`, which use only IEEE operations and so give the same bits on every
/// machine, a tile of lanes at a time (loops the compiler vectorizes). Other windows,
/// and lanes whose ratio is outside that range (rare: over five years, an average fall
/// of more than 13% a year or a rise of more than 15%), take exp(ln(r)/n) from `libm`,
/// lane by lane. Each lane's value depends on its own ratio only. Accurate to within a
/// few units in the last place.
// Inlined into every copy of the per-block pipeline (`engine::simd`).
#[inline(always)]
pub fn cagr_lanes(o: &mut [f64], years: usize) {
    match years {
        1 => o.iter_mut().for_each(|x| *x = 100.0 * (*x - 1.0)),
        2 => o.iter_mut().for_each(|x| *x = 100.0 * (x.sqrt() - 1.0)),
        4 => o
            .iter_mut()
            .for_each(|x| *x = 100.0 * (x.sqrt().sqrt() - 1.0)),
        3 => newton_lanes::<3>(o),
        5 => newton_lanes::<5>(o),
        6 => newton_lanes::<6>(o),
        7 => newton_lanes::<7>(o),
        8 => newton_lanes::<8>(o),
        9 => newton_lanes::<9>(o),
        10 => newton_lanes::<10>(o),
        n => o
            .iter_mut()
            .for_each(|x| *x = 100.0 * (root_by_logs(*x, n) - 1.0)),
    }
}

/// r^(1/n) as exp(ln(r)/n), from `libm`: for the windows and ratios that
/// [`newton_tile`] does not take.
fn root_by_logs(r: f64, n: usize) -> f64 {
    libm::exp(libm::log(r) / n as f64)
}

/// Ratios whose root [`newton_tile`] takes: [1/2, 2] (not NaN). The range covers
/// the ratios of real growth a plan meets; a wider range would need more steps from
/// the starting point.
#[inline(always)]
fn in_root_range(r: f64) -> bool {
    (0.5..=2.0).contains(&r)
}

/// Division-free Newton steps towards r^(−1/N) for a ratio r in [1/2, 2], from
/// a fitted start: two bring it within 10⁻¹⁰ for every ratio in range and N ≤ 10
/// (the start within 1.1·10⁻³, each step about squaring the error), far inside the
/// 3·10⁻⁹ from which the final Newton step still gives a root within two units in the
/// last place. The tests check the roots over the range, and from starts three times
/// further off than these.
pub const INVERSE_STEPS: usize = 2;

/// Coefficients c₀ … c₄ of [`inverse_start`] for N = 3, 4, …, 10: a polynomial in
/// x = r − 1 fitted to r^(−1/N) on [1/2, 2] for the least largest relative error (by
/// Lawson's reweighted least squares on 4 000 Chebyshev nodes). Its relative error is
/// at most 1.1·10⁻³ for N = 3 and 2.2·10⁻⁴ for N = 10 (tested): where the tangent
/// 1 − x/N, off by up to 7%, needed four steps and a fifth as a margin, it needs two.
#[rustfmt::skip]
const START_COEFFICIENTS: [[f64; 5]; 8] = [
    [0.9989448458207606, -0.3310910301145448, 0.2473397278878686, -0.21207429850487325, 0.09144502805627545],
    [0.9993205973855503, -0.24836778427037068, 0.17243510414666616, -0.14329582834262783, 0.061401310665648176],
    [0.9995062523610888, -0.1987291461467987, 0.13177760016744955, -0.10737079570729705, 0.04581986730413053],
    [0.9996148326261063, -0.16563033704389732, 0.1064210527482296, -0.08554325430549814, 0.03640059478885654],
    [0.999685384711013, -0.14198401635194785, 0.0891544180301211, -0.07095901842948124, 0.03013079235242916],
    [0.9997346326846571, -0.12424651147581435, 0.0766624843693181, -0.06055891237150768, 0.02567285666192405],
    [0.9997708359847817, -0.11044887336182181, 0.06721617653063841, -0.05278327620168739, 0.022347682949255356],
    [0.9997985098664461, -0.09940955441075255, 0.05982814670232292, -0.046757482132478025, 0.019775742117378325],
];

/// The starting point of the inverse root r^(−1/N) (3 ≤ N ≤ 10): the polynomial of
/// [`START_COEFFICIENTS`] in r − 1, by Horner's rule (IEEE products and sums only).
#[inline(always)]
fn inverse_start<const N: usize>(r: f64) -> f64 {
    let [c0, c1, c2, c3, c4] = START_COEFFICIENTS[N - 3];
    let x = r - 1.0;
    c0 + x * (c1 + x * (c2 + x * (c3 + x * c4)))
}

/// One step of Newton's method on z^(−N) = r: z + z (1 − r z^N) / N.
#[inline(always)]
fn inverse_step<const N: usize>(z: f64, r: f64) -> f64 {
    z + z * ((1.0 - r * power(z, N)) * (1.0 / N as f64))
}

/// The root y = r z^(N−1) from the inverse root z, refined by one Newton step.
#[inline(always)]
fn root_from_inverse<const N: usize>(z: f64, r: f64) -> f64 {
    newton_step::<N>(r * power(z, N - 1), r)
}

/// x^n (n ≥ 1) by n − 1 products in turn.
#[inline(always)]
fn power(x: f64, n: usize) -> f64 {
    let mut p = x;
    for _ in 1..n {
        p *= x;
    }
    p
}

/// One step of Newton's method on y^N = r.
#[inline(always)]
fn newton_step<const N: usize>(y: f64, r: f64) -> f64 {
    let below = power(y, N - 1);
    y - (below * y - r) / (N as f64 * below)
}

/// Ratios whose roots [`newton_lanes`] takes side by side: four 512-bit registers of
/// them, so that independent chains of products fill the processor's pipelines.
const NEWTON_TILE: usize = 32;

/// [`cagr_lanes`] for a window of N years in 3..=10, a tile of [`NEWTON_TILE`] ratios
/// at a time ([`newton_tile`]).
#[inline(always)]
fn newton_lanes<const N: usize>(o: &mut [f64]) {
    let mut tiles = o.chunks_exact_mut(NEWTON_TILE);
    for tile in &mut tiles {
        let tile: &mut [f64; NEWTON_TILE] = tile.try_into().expect("a whole tile");
        newton_tile::<N>(tile);
    }
    let rest = tiles.into_remainder();
    if !rest.is_empty() {
        // The last ratios, padded with ratio 1 to a whole tile.
        let mut tile = [1.0; NEWTON_TILE];
        tile[..rest.len()].copy_from_slice(rest);
        newton_tile::<N>(&mut tile);
        rest.copy_from_slice(&tile[..rest.len()]);
    }
}

/// A tile of ratios r replaced by 100 (r^(1/N) − 1), step by step over the tile (each
/// lane's steps in the same order as alone, so its root has the same bits).
///
/// For r in [1/2, 2], Newton's method on z^(−N) = r converges to z = r^(−1/N) with
/// products only: [`INVERSE_STEPS`] steps from [`inverse_start`]. Then y = r z^(N−1)
/// is within about 10⁻¹⁰ of the root, and one Newton step on y^N = r, the only
/// division, leaves it within one or two units in the last place (the tests check two
/// over the range). Divisions cost tens of cycles where products cost a few: with the five
/// divisions of plain Newton's method, the roots took about 7.5% of a baseline run.
/// A ratio out of that range (rare) takes [`root_by_logs`].
#[inline(always)]
fn newton_tile<const N: usize>(tile: &mut [f64; NEWTON_TILE]) {
    let ratios = *tile;
    // Loops rather than `array::map`, which is not inlined (and so not compiled for
    // the copy's vectors).
    let (mut r, mut z) = ([0.0; NEWTON_TILE], [0.0; NEWTON_TILE]);
    for ((r, z), &ratio) in r.iter_mut().zip(&mut z).zip(&ratios) {
        *r = if in_root_range(ratio) { ratio } else { 1.0 };
        *z = inverse_start::<N>(*r);
    }
    // The steps in a loop the compiler does not unroll, its count hidden from it.
    // Unrolled, each vector of the tile ran all its steps before the next vector
    // began, one chain of dependent products at a time; rolled, each step runs over
    // the whole tile, its vectors' chains side by side (a run 4% faster on AVX2).
    for _ in 0..std::hint::black_box(INVERSE_STEPS) {
        for (z, &r) in z.iter_mut().zip(&r) {
            *z = inverse_step::<N>(*z, r);
        }
    }
    for ((x, z), &r) in tile.iter_mut().zip(z).zip(&r) {
        *x = 100.0 * (root_from_inverse::<N>(z, r) - 1.0);
    }
    if !ratios.iter().all(|&r| in_root_range(r)) {
        for (x, &r) in tile.iter_mut().zip(&ratios) {
            if !in_root_range(r) {
                *x = 100.0 * (root_by_logs(r, N) - 1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One lane's root as the tiles compute it, step by step.
    fn newton_root<const N: usize>(r: f64) -> f64 {
        let mut z = inverse_start::<N>(r);
        for _ in 0..INVERSE_STEPS {
            z = inverse_step::<N>(z, r);
        }
        root_from_inverse::<N>(z, r)
    }

    /// The roots agree with the correctly rounded root to within two units in the last
    /// place over the whole range, for every window they serve, and have converged (one
    /// more Newton step moves them by at most one unit). The start is within its
    /// stated error, and a start three times further off still gives roots as
    /// accurate: the steps have a margin. Each lane of a tile, and a part tile, gives
    /// the bits of the scalar root.
    #[test]
    fn newton_roots_are_accurate_and_converged() {
        fn check<const N: usize>(start_error: f64) {
            let ulps = |y: f64, exact: f64| ((y - exact) / (exact * f64::EPSILON)).abs();
            let mut worst = 0.0f64;
            let mut worst_start = 0.0f64;
            let ratios: Vec<f64> = (0..=30_000)
                .map(|i| 0.5 + 1.5 * f64::from(i) / 30_000.0)
                .collect();
            for &r in &ratios {
                assert!(in_root_range(r));
                let exact = libm::pow(r, 1.0 / N as f64);
                let start = inverse_start::<N>(r);
                let off = (start * exact - 1.0).abs();
                worst_start = worst_start.max(off);
                assert!(off <= start_error, "N = {N}, r = {r}: start off by {off:e}");
                for scale in [1.0 - 3.0 * start_error, 1.0 + 3.0 * start_error] {
                    let mut z = start * scale;
                    for _ in 0..INVERSE_STEPS {
                        z = inverse_step::<N>(z, r);
                    }
                    let farther = root_from_inverse::<N>(z, r);
                    assert!(ulps(farther, exact) <= 2.0, "N = {N}, r = {r}: no margin");
                }
                let y = newton_root::<N>(r);
                worst = worst.max(ulps(y, exact));
                assert!(
                    ulps(y, exact) <= 2.0,
                    "N = {N}, r = {r}: {y} against {exact}"
                );
                let next = newton_step::<N>(y, r);
                assert!(((next - y) / y).abs() <= f64::EPSILON, "N = {N}, r = {r}");
            }
            assert!(worst > 0.0, "a comparison that could not fail");
            // The stated error is the start's, not a loose bound.
            assert!(worst_start > 0.5 * start_error, "N = {N}: {worst_start:e}");
            // Tiles: 30 001 ratios are 937 whole tiles and a part tile of 17.
            let mut o = ratios.clone();
            newton_lanes::<N>(&mut o);
            for (x, &r) in o.iter().zip(&ratios) {
                let scalar = 100.0 * (newton_root::<N>(r) - 1.0);
                assert_eq!(x.to_bits(), scalar.to_bits(), "N = {N}, r = {r}");
            }
        }
        check::<3>(1.1e-3);
        check::<4>(7.2e-4);
        check::<5>(5.3e-4);
        check::<6>(4.1e-4);
        check::<7>(3.4e-4);
        check::<8>(2.9e-4);
        check::<9>(2.5e-4);
        check::<10>(2.2e-4);
    }

    /// A lane's CAGR does not depend on the other lanes: a batch mixing ratios in range
    /// and out of it (from 0 to 10, negative, zero, subnormal, infinite, NaN) gives each
    /// the bits it gets alone, for windows of 1 to 12 years.
    #[test]
    fn cagr_lanes_equal_the_scalar_cagr() {
        let mut ratios: Vec<f64> = (0..400).map(|i| f64::from(i) / 40.0).collect();
        ratios.extend([
            -1.0,
            -0.0,
            0.0,
            0.25,
            4.0,
            f64::MIN_POSITIVE / 4.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1e300,
        ]);
        for years in 1..=12 {
            let mut o = ratios.clone();
            cagr_lanes(&mut o, years);
            for (x, r) in o.iter().zip(&ratios) {
                let scalar = cagr_pct(*r, years);
                assert!(
                    x.to_bits() == scalar.to_bits() || (x.is_nan() && scalar.is_nan()),
                    "{years} years, ratio {r}: {x} against {scalar}"
                );
                // And the value itself, against the general power (finite r ≥ 0).
                if *r >= 0.0 && r.is_finite() {
                    let reference = 100.0 * (libm::pow(*r, 1.0 / years as f64) - 1.0);
                    let error = (x - reference).abs();
                    assert!(
                        error <= 1e-12 * reference.abs().max(1.0),
                        "{years} years, ratio {r}: {x} against {reference}"
                    );
                }
            }
        }
        assert_eq!(cagr_pct(1.0, 5), 0.0);
        assert!((cagr_pct(1.1f64.powi(5), 5) - 10.0).abs() < 1e-12);
    }
}
