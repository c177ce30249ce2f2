//! Shards: a run split into parts computed separately (e.g. a cluster job array) and
//! merged into exactly the results of one run.
//!
//! Rationale: a shard computes a contiguous range of the run's blocks of draws and
//! saves its [`Accumulator`] — integers only — to a partial file. Merging adds the
//! integers, so N shards merged give byte-identical outputs to one run with the same
//! files, seed and draws. A partial file records everything that must agree (scenario,
//! input file hashes, seed, draws, shard count); merging refuses parts that disagree.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::accumulate::{Accumulator, AccumulatorParts};
use crate::engine::{self, RunSettings, shard_blocks, with_threads};
use crate::error::{Error, InputIssue, Location, Result};
use crate::results::{InputFile, RunResults};
use crate::run::{input_files, observed, run_info};
use crate::scenario::{self, Scenario};

/// Version of the partial-file format: it changes whenever a part's contents would
/// (merged parts must be those of one engine). Format 6 took CAGR roots by
/// division-free steps, whose last bits can differ from format 5's; format 7 rounds
/// sums over blocks of 512 draws rather than 256, so the moments' last bits differ;
/// format 8 draws standard normals from a ziggurat of 1024 layers rather than 256, so
/// every draw differs; format 9 takes a layer's width from its fast-path word, 2⁻³² of
/// it narrower, so normals differ in their last bits; format 10 takes a sketch's bin
/// from the upper 32 bits of a value by an integer product, so bins have other edges.
pub const FORMAT: u32 = 10;

/// A shard's partial aggregate, as saved to a JSON file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// Format version ([`FORMAT`]).
    pub format: u32,
    /// xiang version that wrote it.
    pub version: String,
    /// Scenario name.
    pub scenario: String,
    /// Path of the scenario file as given to `xiang run` (reloaded by `xiang merge`).
    pub scenario_path: String,
    /// Every input file with its hash.
    pub files: Vec<InputFile>,
    /// Seed of the whole run.
    pub seed: u64,
    /// Draws of the whole run.
    pub draws: u64,
    /// This shard, 1-based.
    pub shard: u64,
    /// Number of shards.
    pub shards: u64,
    /// Threads this shard used.
    pub threads: usize,
    /// Wall time of this shard, seconds.
    pub wall_time_s: f64,
    /// The accumulated draws.
    pub accumulator: AccumulatorParts,
}

/// Computes shard `shard` (1-based) of `shards` of a run.
pub fn run_shard(
    scenario_path: &Path,
    scenario: &Scenario,
    settings: RunSettings,
    shard: u64,
    shards: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Partial> {
    if shards == 0 || shard == 0 || shard > shards {
        return Err(Error::invalid(
            Location {
                file: PathBuf::from("--shard"),
                line: None,
                key: None,
            },
            format!("shard {shard}/{shards} does not exist"),
            Some("write --shard I/N with 1 ≤ I ≤ N, e.g. --shard 2/8".into()),
        ));
    }
    let start = Instant::now();
    let blocks = shard_blocks(settings.draws, shard - 1, shards);
    let (_, acc) = with_threads(settings.threads, || {
        engine::accumulate(scenario, settings, blocks, progress)
    })??;
    Ok(Partial {
        format: FORMAT,
        version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: scenario.name.clone(),
        scenario_path: scenario_path.to_string_lossy().replace('\\', "/"),
        files: input_files(scenario),
        seed: settings.seed,
        draws: settings.draws,
        shard,
        shards,
        threads: settings.threads,
        wall_time_s: start.elapsed().as_secs_f64(),
        accumulator: acc.to_parts(),
    })
}

/// The default file of a shard: `results/<name>-shards/part-I-of-N.json`.
pub fn default_path(scenario: &Scenario, shard: u64, shards: u64) -> PathBuf {
    Path::new("results")
        .join(format!("{}-shards", scenario.name))
        .join(format!("part-{shard}-of-{shards}.json"))
}

/// Writes a partial file atomically (temporary file, then rename).
pub fn write_partial(path: &Path, partial: &Partial) -> Result<()> {
    let bytes = serde_json::to_vec(partial).map_err(|e| Error::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    crate::export::write_file_atomic(path, &bytes)
}

/// Reads a partial file.
pub fn read_partial(path: &Path) -> Result<Partial> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let partial: Partial = serde_json::from_slice(&bytes).map_err(|e| {
        Error::invalid(
            Location {
                file: path.to_path_buf(),
                line: Some(e.line()),
                key: None,
            },
            format!("not a xiang partial-result file: {e}"),
            Some("pass the part-I-of-N.json files written by `xiang run --shard I/N`".into()),
        )
    })?;
    if partial.format != FORMAT {
        return Err(Error::invalid(
            Location::file(path),
            format!("partial-file format {} is not {FORMAT}", partial.format),
            Some("rerun the shards with this version of xiang".into()),
        ));
    }
    Ok(partial)
}

fn at(path: &Path, key: &str) -> Location {
    Location {
        file: path.to_path_buf(),
        line: None,
        key: Some(key.to_string()),
    }
}

/// Merges partial files into the results of the whole run, after checking that they
/// belong to one run (same scenario, input files, seed, draws and shard count) and
/// that every shard is present exactly once. The scenario is reloaded from the path
/// recorded in the parts; its files must still have the recorded hashes.
pub fn merge(paths: &[PathBuf], threads: usize) -> Result<RunResults> {
    let start = Instant::now();
    let mut parts = Vec::new();
    for p in paths {
        parts.push((p.clone(), read_partial(p)?));
    }
    let Some((first_path, first)) = parts.first().cloned() else {
        return Err(Error::invalid(
            Location::file("merge"),
            "no partial files given",
            Some("xiang merge results/NAME-shards/part-*.json --out results/NAME".into()),
        ));
    };
    let mut issues = Vec::new();
    for (p, part) in &parts[1..] {
        let mismatch = [
            ("scenario", part.scenario != first.scenario),
            ("files", part.files != first.files),
            ("seed", part.seed != first.seed),
            ("draws", part.draws != first.draws),
            ("shards", part.shards != first.shards),
        ];
        for (key, differs) in mismatch {
            if differs {
                issues.push(InputIssue::new(
                    at(p, key),
                    format!(
                        "`{key}` differs from {}: these parts are not shards of one run",
                        first_path.display()
                    ),
                    Some("merge only the parts of one `xiang run --shard` job array".into()),
                ));
            }
        }
    }
    let mut seen = vec![0u32; first.shards as usize];
    for (p, part) in &parts {
        match seen.get_mut((part.shard.max(1) - 1) as usize) {
            Some(c) => {
                *c += 1;
                if *c > 1 {
                    issues.push(InputIssue::new(
                        at(p, "shard"),
                        format!("shard {}/{} is given twice", part.shard, part.shards),
                        None,
                    ));
                }
            }
            None => issues.push(InputIssue::new(
                at(p, "shard"),
                format!("shard {} is outside 1..{}", part.shard, part.shards),
                None,
            )),
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == 0)
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    if !missing.is_empty() && issues.is_empty() {
        issues.push(InputIssue::new(
            at(&first_path, "shard"),
            format!(
                "missing shard{} {} (of {})",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                first.shards
            ),
            Some("wait for every task of the job array, or rerun the missing ones".into()),
        ));
    }
    if !issues.is_empty() {
        return Err(Error::Invalid(issues));
    }

    let scenario = scenario::load(Path::new(&first.scenario_path))?;
    if input_files(&scenario) != first.files {
        return Err(Error::invalid(
            at(&first_path, "files"),
            format!(
                "the scenario's files have changed since the shards ran (reloaded from {})",
                first.scenario_path
            ),
            Some("merge with the same files the shards used, from the same folder".into()),
        ));
    }
    let settings = RunSettings {
        draws: first.draws,
        seed: first.seed,
        threads,
    };
    let (_, ev) = engine::evaluator(&scenario, first.seed)?;
    let mut total = Accumulator::new(&ev);
    for (p, part) in &parts {
        let acc = Accumulator::from_parts(&ev, &part.accumulator).ok_or_else(|| {
            Error::invalid(
                at(p, "accumulator"),
                "the partial result does not fit the scenario's series and targets",
                Some("rerun the shard with the current files".into()),
            )
        })?;
        total.merge(&acc);
    }
    let mut info = run_info(&scenario, settings);
    info.threads = parts
        .iter()
        .map(|(_, p)| p.threads)
        .max()
        .unwrap_or(threads);
    let mut results = total.finish(&scenario, &ev, info);
    results.observed = observed(&scenario);
    results.info.wall_time_s =
        parts.iter().map(|(_, p)| p.wall_time_s).sum::<f64>() + start.elapsed().as_secs_f64();
    Ok(results)
}
