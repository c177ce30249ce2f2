//! One projection run, from a validated scenario to results.
//!
//! Rationale: the command line, the tests and library users all run scenarios the same
//! way; this function is that way. It does no I/O: writing is the exports' job.

use std::time::Instant;

use crate::aggregate::aggregate;
use crate::engine::{self, RunSettings, with_threads};
use crate::error::Result;
use crate::results::{InputFile, RunInfo, RunResults};
use crate::scenario::Scenario;

/// Runs `scenario` with `settings`; `progress` receives the number of draws done.
///
/// The results depend only on the scenario, `settings.seed` and `settings.draws`,
/// never on `settings.threads` (except the manifest's `threads` and `wall_time_s`).
pub fn run_scenario(
    scenario: &Scenario,
    settings: RunSettings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<RunResults> {
    let start = Instant::now();
    with_threads(settings.threads, || {
        run_in_pool(scenario, settings, progress, start)
    })?
}

fn run_in_pool(
    scenario: &Scenario,
    settings: RunSettings,
    progress: &(dyn Fn(u64) + Sync),
    start: Instant,
) -> Result<RunResults> {
    let draws = engine::simulate(scenario, settings, progress)?;
    let info = RunInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: scenario.name.clone(),
        base_year: scenario.base_year,
        horizon: scenario.horizon,
        seed: settings.seed,
        draws: settings.draws,
        threads: settings.threads,
        wall_time_s: 0.0,
        files: scenario
            .files
            .iter()
            .map(|(role, path, sha256)| InputFile {
                role: role.clone(),
                path: path.to_string_lossy().replace('\\', "/"),
                sha256: sha256.clone(),
            })
            .collect(),
    };
    let mut results = aggregate(scenario, &draws, info);
    results.info.wall_time_s = start.elapsed().as_secs_f64();
    Ok(results)
}
