//! One projection run, from a validated scenario to results.
//!
//! Rationale: the command line, the tests and library users all run scenarios the same
//! way; these functions are that way. They do no I/O: writing is the exports' job.

use std::time::Instant;

use crate::engine::{self, RunSettings, block_count, with_threads};
use crate::error::Result;
use crate::results::{InputFile, ObservedPoint, RunInfo, RunResults};
use crate::scenario::Scenario;

/// Runs `scenario` with `settings` in constant memory; `progress` receives the number
/// of draws done.
///
/// The results depend only on the scenario, `settings.seed` and `settings.draws`,
/// never on `settings.threads` (except the manifest's `threads` and `wall_time_s`).
pub fn run_scenario(
    scenario: &Scenario,
    settings: RunSettings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<RunResults> {
    let start = Instant::now();
    let blocks = 0..block_count(settings.draws);
    let (ev, acc) = with_threads(settings.threads, || {
        engine::accumulate(scenario, settings, blocks, progress)
    })??;
    let mut results = acc.finish(scenario, &ev, run_info(scenario, settings));
    results.observed = observed(scenario);
    results.info.wall_time_s = start.elapsed().as_secs_f64();
    Ok(results)
}

/// The provenance of a run (wall time left at 0).
pub fn run_info(scenario: &Scenario, settings: RunSettings) -> RunInfo {
    RunInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: scenario.name.clone(),
        base_year: scenario.base_year,
        horizon: scenario.horizon,
        seed: settings.seed,
        draws: settings.draws,
        threads: settings.threads,
        wall_time_s: 0.0,
        files: input_files(scenario),
        calibration: (&scenario.calibration).into(),
    }
}

/// Every file the scenario read, with its hash.
pub fn input_files(scenario: &Scenario) -> Vec<InputFile> {
    scenario
        .files
        .iter()
        .map(|(role, path, sha256)| InputFile {
            role: role.clone(),
            path: path.to_string_lossy().replace('\\', "/"),
            sha256: sha256.clone(),
        })
        .collect()
}

/// History names mapped to the model's indicator names.
const OBSERVED_NAMES: [(&str, &str); 5] = [
    ("service_share_of_gdp_pct", "service_share_of_gdp"),
    (
        "service_share_of_employment_pct",
        "service_share_of_employment",
    ),
    ("social_logistics_total", "logistics_total"),
    ("service_va", "service_va"),
    ("gdp", "gdp"),
];

/// The history of the scenario's nodes up to its base year.
pub fn observed(scenario: &Scenario) -> Vec<ObservedPoint> {
    let mut out = Vec::new();
    for node in &scenario.nodes {
        for ((indicator, year), v) in scenario.history.of_node(&node.name) {
            if year > scenario.base_year {
                continue;
            }
            let name = OBSERVED_NAMES
                .iter()
                .find(|(h, _)| *h == indicator)
                .map_or(indicator, |(_, m)| m);
            out.push(ObservedPoint {
                node: node.name.clone(),
                indicator: name.to_string(),
                year,
                value: v.value,
                unit: v.unit.clone(),
                real_growth_pct: v.real_growth_pct,
                vintage: v.vintage.clone(),
                source: v.source.clone(),
            });
        }
    }
    // Observations after the base year that the run was conditioned on.
    for o in &scenario.observations {
        let kind = o.kind.as_str();
        out.push(ObservedPoint {
            node: scenario.nodes[o.node].name.clone(),
            indicator: kind.to_string(),
            year: o.year,
            value: o.value,
            unit: if kind == "service_employment" {
                "万人"
            } else {
                "亿元"
            }
            .to_string(),
            real_growth_pct: None,
            vintage: "tracked".to_string(),
            source: o.source.clone(),
        });
    }
    out
}
