//! From draws to results: series summaries, target probabilities, joint plan
//! probabilities.
//!
//! Rationale: this is the only place where draws become the numbers users read. P(met)
//! is an exact count over draws; the joint probability of a plan counts draws in which
//! every modelled target is met at once, so it reflects the correlation between targets
//! rather than a product of marginals.

use rayon::prelude::*;

use crate::engine::Draws;
use crate::results::{
    PlanResult, RunInfo, RunResults, SUMMARY_PROBS, SeriesSummary, TargetResult, TargetStatus,
};
use crate::scenario::Scenario;
use crate::stats::{mean_sd, proportion_se, quantile_sorted};

/// Summary of one series: mean, sd and the quantiles of [`SUMMARY_PROBS`].
fn summarize_column(mut col: Vec<f64>) -> (f64, f64, [f64; 7]) {
    let (mean, sd) = mean_sd(&col);
    col.sort_unstable_by(f64::total_cmp);
    let q = SUMMARY_PROBS.map(|p| quantile_sorted(&col, p));
    (mean, sd, q)
}

/// Builds the run's results from its draws.
pub fn aggregate(scenario: &Scenario, draws: &Draws, info: RunInfo) -> RunResults {
    let layout = &draws.layout;
    let names = scenario.entity_names();
    // Columns are independent, so summarizing them in parallel changes no value.
    let summaries: Vec<(f64, f64, [f64; 7])> = (0..layout.len())
        .into_par_iter()
        .map(|s| summarize_column(draws.column(s)))
        .collect();
    let series = layout
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

    // Each target's series, when it is evaluable.
    let columns: Vec<Option<usize>> = scenario
        .targets
        .iter()
        .map(|rt| {
            rt.evaluable
                .and_then(|(e, ind)| layout.find(e, ind, rt.target.year))
        })
        .collect();
    let n = draws.draws;
    let mut met = vec![0u64; columns.len()];
    let mut joint = vec![0u64; scenario.plans.len()];
    for d in 0..n as usize {
        let row = draws.row(d);
        let mut all_met = vec![true; scenario.plans.len()];
        for (ti, (rt, col)) in scenario.targets.iter().zip(&columns).enumerate() {
            if let Some(c) = col {
                let t = &rt.target;
                let ok = t.comparator.met(row[*c], t.value);
                met[ti] += u64::from(ok);
                all_met[t.plan] &= ok;
            }
        }
        for (j, ok) in joint.iter_mut().zip(all_met) {
            *j += u64::from(ok);
        }
    }

    let targets = scenario
        .targets
        .iter()
        .zip(&columns)
        .zip(&met)
        .map(|((rt, col), &count)| {
            let t = &rt.target;
            let plan = scenario.plans[t.plan].id.clone();
            let years = (t.year - scenario.base_year) as f64;
            let required_growth = match (t.indicator, rt.base_value) {
                (Some(ind), _) if ind.is_growth() => Some(t.value),
                (_, Some(b)) if col.is_some() && b > 0.0 => {
                    Some(100.0 * ((t.value / b).powf(1.0 / years) - 1.0))
                }
                _ => None,
            };
            let (p_met, se, q, status, reason) = match col {
                Some(c) => {
                    let p = count as f64 / n as f64;
                    let q = summaries[*c].2;
                    (
                        Some(p),
                        Some(proportion_se(p, n)),
                        Some(q),
                        TargetStatus::Modelled,
                        String::new(),
                    )
                }
                None => (
                    None,
                    None,
                    None,
                    TargetStatus::NotModelled,
                    if rt.reason.is_empty() {
                        "no projection of this indicator for this node".to_string()
                    } else {
                        rt.reason.clone()
                    },
                ),
            };
            TargetResult {
                plan,
                target_id: t.id.clone(),
                node: t.node.clone(),
                indicator: t.indicator_name.clone(),
                year: t.year,
                comparator: t.comparator.as_str().to_string(),
                target: t.value,
                unit: t.unit.clone(),
                p_met,
                p_met_se: se,
                p05: q.map(|q| q[0]),
                p50: q.map(|q| q[3]),
                p95: q.map(|q| q[6]),
                required_growth,
                status,
                reason,
                quote: t.quote.clone(),
            }
        })
        .collect::<Vec<_>>();

    let plans = scenario
        .plans
        .iter()
        .enumerate()
        .map(|(pi, plan)| {
            let in_plan: Vec<&TargetResult> = scenario
                .targets
                .iter()
                .zip(&targets)
                .filter(|(rt, _)| rt.target.plan == pi)
                .map(|(_, r)| r)
                .collect();
            let modelled = in_plan
                .iter()
                .filter(|r| r.status == TargetStatus::Modelled)
                .count();
            let p = (modelled > 0).then(|| joint[pi] as f64 / n as f64);
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

    RunResults {
        info,
        series,
        targets,
        plans,
        observed: Vec::new(),
    }
}
