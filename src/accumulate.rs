//! Streaming, mergeable aggregation of draws: moments, quantile sketches, target counts.
//!
//! Rationale: memory must not grow with the number of draws, and results must be
//! identical bit for bit however draws are split among threads or shards. Everything an
//! [`Accumulator`] holds is an integer: counts of met targets, sketch bin counts, and
//! per-block sums rounded to fixed point (2⁻³² units, in i128). Integer addition does
//! not depend on order, so accumulators merge in any order to the same state. Within a
//! block of draws (a fixed partition of the draw indices), sums run in draw order in
//! f64 over sixteen lanes (a draw's lane is its position in the block modulo sixteen),
//! then the lanes combine in a fixed order and round once to fixed point. Blocks are fed
//! series-major, so each series' sketch stays in cache while its values stream past.
//! Moments are taken around a shift per series (its value in draw 0), which keeps the
//! variance free of cancellation.

use serde::{Deserialize, Serialize};

use crate::engine::layout::Layout;
use crate::results::{
    FlowSummary, PlanResult, RunInfo, RunResults, SUMMARY_PROBS, SeriesSummary, TargetResult,
    TargetStatus,
};
use crate::scenario::Scenario;
use crate::sketch::{ColumnRange, SignSplitter, Sketch, SketchParts};
use crate::stats::proportion_se;
use crate::targets::Comparator;

/// Fixed-point scale of block sums: 2³².
const FIXED: f64 = 4_294_967_296.0;

fn to_fixed(x: f64) -> i128 {
    (x * FIXED).round() as i128
}

/// Partial sums per series within a block run in this many lanes: independent chains
/// of additions (two 512-bit registers each for the sums and the sums of squares), so
/// that a column's pass is not held up by the latency of one chain.
const LANES: usize = 16;

/// The lanes' partial sums combined in a fixed order: the upper half added to the
/// lower, lane i with lane i + h, for h = 8, 4, 2, 1.
fn combine(mut lanes: [f64; LANES]) -> f64 {
    let mut half = LANES / 2;
    while half > 0 {
        for i in 0..half {
            lanes[i] += lanes[i + half];
        }
        half /= 2;
    }
    lanes[0]
}

/// What is fixed for a run: which series exist, their shifts, and how targets read them.
#[derive(Debug, Clone)]
pub struct Evaluator {
    /// The recorded series.
    pub layout: Layout,
    /// Per-series shift for moments (the series' value in draw 0; 0 if not finite).
    pub shifts: Vec<f64>,
    /// Per target: (series column, comparator, value, plan index), when evaluable.
    targets: Vec<Option<(usize, Comparator, f64)>>,
    target_plan: Vec<usize>,
    plans: usize,
}

impl Evaluator {
    /// Builds the evaluator of `scenario` with the series' values in draw 0.
    pub fn new(scenario: &Scenario, layout: Layout, draw0: &[f64]) -> Evaluator {
        let targets = scenario
            .targets
            .iter()
            .map(|rt| {
                let (e, ind) = rt.evaluable?;
                let col = layout.find(e, ind, rt.target.year)?;
                Some((col, rt.target.comparator, rt.target.value))
            })
            .collect();
        Evaluator {
            shifts: draw0
                .iter()
                .map(|x| if x.is_finite() { *x } else { 0.0 })
                .collect(),
            layout,
            targets,
            target_plan: scenario.targets.iter().map(|t| t.target.plan).collect(),
            plans: scenario.plans.len(),
        }
    }
}

/// The mergeable state of any set of whole blocks of draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Accumulator {
    /// Draws added.
    pub draws: u64,
    /// Per series: Σ over blocks of round(2³² Σ_block (x − shift)).
    pub sum: Vec<i128>,
    /// Per series: Σ over blocks of round(2³² Σ_block (x − shift)²).
    pub sumsq: Vec<i128>,
    /// Per series: draws whose value was not finite (left out of moments and quantiles).
    pub nonfinite: Vec<u64>,
    /// Per series: quantile sketch.
    pub sketches: Vec<Sketch>,
    /// Per target: draws meeting it.
    pub met: Vec<u64>,
    /// Per plan: draws meeting all its modelled targets.
    pub joint: Vec<u64>,
}

impl Accumulator {
    /// An empty accumulator for `ev`.
    pub fn new(ev: &Evaluator) -> Accumulator {
        let n = ev.layout.len();
        Accumulator {
            draws: 0,
            sum: vec![0; n],
            sumsq: vec![0; n],
            nonfinite: vec![0; n],
            sketches: vec![Sketch::new(); n],
            met: vec![0; ev.targets.len()],
            joint: vec![0; ev.plans],
        }
    }

    /// Adds one whole block of `draws` draws. `cols` holds them series-major
    /// (`cols[s * draws + d]`, draws in draw order), so each series' sketch and sums stay
    /// in cache while its values stream past. `all_met` is scratch, reused from block to
    /// block. `splitter` is how the sketches split columns of both signs (the same state
    /// either way).
    // Inlined into every copy of the per-block pipeline (`engine::simd`).
    #[inline(always)]
    pub fn add_block(
        &mut self,
        ev: &Evaluator,
        cols: &[f64],
        draws: usize,
        all_met: &mut Vec<bool>,
        splitter: SignSplitter,
    ) {
        let n = ev.layout.len();
        self.draws += draws as u64;
        for s in 0..n {
            let col = &cols[s * draws..(s + 1) * draws];
            let shift = ev.shifts[s];
            let (mut sum, mut sq) = ([0.0; LANES], [0.0; LANES]);
            let mut nonfinite = 0;
            let range = ColumnRange::of(col);
            // Lane j mod LANES: independent chains the processor can overlap, in a
            // fixed order (the lane is the draw's position in its block), combined in a
            // fixed order.
            if range.holds_only(shift) {
                // Every deviation from the shift is ±0, so the sums stay +0 and add
                // nothing: a series constant over the draws (the base year's, 36 of
                // the baseline's 260) skips the loop.
            } else if range.all_finite() {
                // The common case, with no test per value: a loop the compiler
                // vectorizes.
                let mut groups = col.chunks_exact(LANES);
                for group in &mut groups {
                    for (lane, &x) in group.iter().enumerate() {
                        let d = x - shift;
                        sum[lane] += d;
                        sq[lane] += d * d;
                    }
                }
                for (lane, &x) in groups.remainder().iter().enumerate() {
                    let d = x - shift;
                    sum[lane] += d;
                    sq[lane] += d * d;
                }
            } else {
                // A non-finite value adds zero and is counted; the sums of the finite
                // values are those of the loop above.
                for group in col.chunks(LANES) {
                    for (lane, &x) in group.iter().enumerate() {
                        let finite = x.is_finite();
                        let d = if finite { x - shift } else { 0.0 };
                        sum[lane] += d;
                        sq[lane] += d * d;
                        nonfinite += u64::from(!finite);
                    }
                }
            }
            self.sum[s] += to_fixed(combine(sum));
            self.sumsq[s] += to_fixed(combine(sq));
            self.sketches[s].add_scanned(col, range, splitter);
            self.nonfinite[s] += nonfinite;
        }
        all_met.clear();
        all_met.resize(ev.plans * draws, true);
        for (t, spec) in ev.targets.iter().enumerate() {
            if let &Some((col, cmp, value)) = spec {
                let values = &cols[col * draws..(col + 1) * draws];
                let plan = ev.target_plan[t];
                let all = &mut all_met[plan * draws..(plan + 1) * draws];
                // The comparator and target are copies, so the compiler matches the
                // comparator once and vectorizes a loop per comparator (read through
                // references, they were reloaded and matched through a jump table for
                // every value, about 1% of a run).
                let mut met = 0;
                for (&x, all) in values.iter().zip(all.iter_mut()) {
                    let ok = cmp.met(x, value);
                    met += u64::from(ok);
                    *all &= ok;
                }
                self.met[t] += met;
            }
        }
        for (p, joint) in self.joint.iter_mut().enumerate() {
            let all = &all_met[p * draws..(p + 1) * draws];
            *joint += all.iter().filter(|ok| **ok).count() as u64;
        }
    }

    /// Adds `other` into `self` (any order gives the same state).
    pub fn merge(&mut self, other: &Accumulator) {
        self.draws += other.draws;
        for (a, b) in self.sum.iter_mut().zip(&other.sum) {
            *a += b;
        }
        for (a, b) in self.sumsq.iter_mut().zip(&other.sumsq) {
            *a += b;
        }
        for (a, b) in self.nonfinite.iter_mut().zip(&other.nonfinite) {
            *a += b;
        }
        for (a, b) in self.sketches.iter_mut().zip(&other.sketches) {
            a.merge(b);
        }
        for (a, b) in self.met.iter_mut().zip(&other.met) {
            *a += b;
        }
        for (a, b) in self.joint.iter_mut().zip(&other.joint) {
            *a += b;
        }
    }

    /// Mean, population sd and the [`SUMMARY_PROBS`] quantiles of series `s`.
    pub fn summary(&self, ev: &Evaluator, s: usize) -> (f64, f64, [f64; 7]) {
        let n = (self.draws - self.nonfinite[s]) as f64;
        if n == 0.0 {
            return (f64::NAN, f64::NAN, [f64::NAN; 7]);
        }
        let m1 = self.sum[s] as f64 / FIXED / n;
        let m2 = self.sumsq[s] as f64 / FIXED / n;
        let q = self.sketches[s].quantiles(SUMMARY_PROBS);
        (ev.shifts[s] + m1, (m2 - m1 * m1).max(0.0).sqrt(), q)
    }

    /// The run's results from the accumulated draws.
    pub fn finish(&self, scenario: &Scenario, ev: &Evaluator, info: RunInfo) -> RunResults {
        let names = scenario.entity_names();
        let summaries: Vec<(f64, f64, [f64; 7])> =
            (0..ev.layout.len()).map(|s| self.summary(ev, s)).collect();
        let series = ev
            .layout
            .series
            .iter()
            .zip(&summaries)
            .map(|(s, (mean, sd, q))| SeriesSummary {
                entity: names[s.entity].to_string(),
                indicator: s.indicator.as_str().to_string(),
                year: scenario.base_year + s.t as i32,
                unit: s.indicator.unit().to_string(),
                mean: *mean,
                sd: *sd,
                quantiles: *q,
            })
            .collect();
        let n = self.draws;
        let targets: Vec<TargetResult> = scenario
            .targets
            .iter()
            .zip(&ev.targets)
            .zip(&self.met)
            .map(|((rt, spec), &count)| {
                let t = &rt.target;
                let years = (t.year - scenario.base_year) as f64;
                let required_growth = match (t.indicator, rt.base_value) {
                    (Some(ind), _) if ind.is_growth() => Some(t.value),
                    (_, Some(b)) if spec.is_some() && b > 0.0 => {
                        Some(100.0 * (libm::pow(t.value / b, 1.0 / years) - 1.0))
                    }
                    _ => None,
                };
                let modelled = spec.map(|(col, _, _)| {
                    let p = count as f64 / n as f64;
                    (p, summaries[col].2)
                });
                if let Some(value) = rt.observed {
                    // Observed: met or missed, not a probability.
                    let met = t.comparator.met(value, t.value);
                    return TargetResult {
                        plan: scenario.plans[t.plan].id.clone(),
                        target_id: t.id.clone(),
                        node: t.node.clone(),
                        indicator: t.indicator_name.clone(),
                        year: t.year,
                        comparator: t.comparator.as_str().to_string(),
                        target: t.value,
                        unit: t.unit.clone(),
                        p_met: None,
                        p_met_se: None,
                        p05: None,
                        p50: Some(value),
                        p95: None,
                        required_growth,
                        status: if met {
                            TargetStatus::Met
                        } else {
                            TargetStatus::Missed
                        },
                        reason: format!("observed {}: {value}", t.year),
                        quote: t.quote.clone(),
                    };
                }
                TargetResult {
                    plan: scenario.plans[t.plan].id.clone(),
                    target_id: t.id.clone(),
                    node: t.node.clone(),
                    indicator: t.indicator_name.clone(),
                    year: t.year,
                    comparator: t.comparator.as_str().to_string(),
                    target: t.value,
                    unit: t.unit.clone(),
                    p_met: modelled.map(|(p, _)| p),
                    p_met_se: modelled.map(|(p, _)| proportion_se(p, n)),
                    p05: modelled.map(|(_, q)| q[0]),
                    p50: modelled.map(|(_, q)| q[3]),
                    p95: modelled.map(|(_, q)| q[6]),
                    required_growth,
                    status: if modelled.is_some() {
                        TargetStatus::Modelled
                    } else {
                        TargetStatus::NotModelled
                    },
                    reason: match (modelled, rt.reason.is_empty()) {
                        (Some(_), _) => String::new(),
                        (None, false) => rt.reason.clone(),
                        (None, true) => "no projection of this indicator for this node".into(),
                    },
                    quote: t.quote.clone(),
                }
            })
            .collect();
        let plans = scenario
            .plans
            .iter()
            .enumerate()
            .map(|(pi, plan)| {
                let in_plan: Vec<&TargetResult> = targets
                    .iter()
                    .zip(&ev.target_plan)
                    .filter(|(_, p)| **p == pi)
                    .map(|(t, _)| t)
                    .collect();
                // Observed targets count: each draw holds their observed value.
                let modelled = in_plan
                    .iter()
                    .filter(|t| t.status != TargetStatus::NotModelled)
                    .count();
                let p = (modelled > 0).then(|| self.joint[pi] as f64 / n as f64);
                PlanResult {
                    plan: plan.id.clone(),
                    title: plan.title.clone(),
                    targets_total: in_plan.len(),
                    targets_modelled: modelled,
                    p_all_met: p,
                    p_all_met_se: p.map(|p| proportion_se(p, n)),
                }
            })
            .collect();
        let offset = ev.layout.series.len();
        let flows = ev
            .layout
            .flows
            .iter()
            .zip(&summaries[offset..])
            .map(|(f, (mean, _, q))| FlowSummary {
                year: scenario.base_year + f.t as i32,
                origin: names[f.origin].to_string(),
                destination: names[f.destination].to_string(),
                mean: *mean,
                p05: q[0],
                p50: q[3],
                p95: q[6],
            })
            .collect();
        RunResults {
            info,
            series,
            targets,
            plans,
            observed: Vec::new(),
            flows,
        }
    }

    /// The accumulator as plain data, for partial-result files.
    pub fn to_parts(&self) -> AccumulatorParts {
        AccumulatorParts {
            draws: self.draws,
            sum: self.sum.iter().map(i128::to_string).collect(),
            sumsq: self.sumsq.iter().map(i128::to_string).collect(),
            nonfinite: self.nonfinite.clone(),
            sketches: self.sketches.iter().map(Sketch::to_parts).collect(),
            met: self.met.clone(),
            joint: self.joint.clone(),
        }
    }

    /// Rebuilds an accumulator; `None` if the parts are malformed or do not fit `ev`.
    pub fn from_parts(ev: &Evaluator, p: &AccumulatorParts) -> Option<Accumulator> {
        let n = ev.layout.len();
        let ints =
            |v: &[String]| -> Option<Vec<i128>> { v.iter().map(|s| s.parse().ok()).collect() };
        let acc = Accumulator {
            draws: p.draws,
            sum: ints(&p.sum)?,
            sumsq: ints(&p.sumsq)?,
            nonfinite: p.nonfinite.clone(),
            sketches: p.sketches.iter().map(Sketch::from_parts).collect(),
            met: p.met.clone(),
            joint: p.joint.clone(),
        };
        let fits = acc.sum.len() == n
            && acc.sumsq.len() == n
            && acc.nonfinite.len() == n
            && acc.sketches.len() == n
            && acc.met.len() == ev.targets.len()
            && acc.joint.len() == ev.plans;
        fits.then_some(acc)
    }
}

/// An [`Accumulator`] as serializable plain data (i128 sums as decimal strings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccumulatorParts {
    /// Draws added.
    pub draws: u64,
    /// Fixed-point sums.
    pub sum: Vec<String>,
    /// Fixed-point sums of squares.
    pub sumsq: Vec<String>,
    /// Non-finite counts.
    pub nonfinite: Vec<u64>,
    /// Sketches.
    pub sketches: Vec<SketchParts>,
    /// Met counts per target.
    pub met: Vec<u64>,
    /// Joint counts per plan.
    pub joint: Vec<u64>,
}
