//! The result folders committed under `results/` are what the committed files and code
//! produce: every input a manifest names still has the hash it recorded, and rerunning
//! each shipped command gives the same files, byte for byte (a manifest's wall time
//! and thread count aside).
//!
//! Rationale: the README quotes these folders' figures, and a reader checks them by
//! rerunning the README's commands. A change to the engine, a scenario or the data
//! that moves a figure fails here until the folders are regenerated (in the order the
//! manifests cite each other: the backtest first, then the runs that name it).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use xiang::backtest::{run_backtest, write_backtest};
use xiang::engine::RunSettings;
use xiang::export::write_outputs;
use xiang::hash::sha256_hex;
use xiang::report::run_exporters;
use xiang::run::run_scenario;
use xiang::scenario;

/// The committed folder `results/<name>`. Tests run in the package root, which is also
/// where the README's commands are run, so paths stay relative as in the manifests.
fn committed(name: &str) -> PathBuf {
    Path::new("results").join(name)
}

fn manifest(dir: &Path) -> Value {
    let path = dir.join("manifest.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The manifest without what may differ between two runs of the same files.
fn reproducible(mut m: Value) -> Value {
    if let Some(o) = m.as_object_mut() {
        o.remove("wall_time_s");
        o.remove("threads");
    }
    m
}

/// Names of the files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts that `fresh` holds the same files as `committed`, with the same bytes
/// (manifests compared without wall time and thread count).
fn assert_same_folder(committed: &Path, fresh: &Path, command: &str) {
    assert_eq!(
        listing(committed),
        listing(fresh),
        "{}: files differ from a fresh `{command}`",
        committed.display()
    );
    for name in listing(committed) {
        let (a, b) = (committed.join(&name), fresh.join(&name));
        if name == "manifest.json" {
            assert_eq!(
                reproducible(manifest(committed)),
                reproducible(manifest(fresh)),
                "{}: stale; rerun `{command}`",
                a.display()
            );
        } else {
            assert!(
                fs::read(&a).unwrap() == fs::read(&b).unwrap(),
                "{}: stale; rerun `{command}`",
                a.display()
            );
        }
    }
}

#[test]
fn every_manifest_names_its_inputs_as_committed() {
    let mut checked = 0;
    for name in listing(Path::new("results")) {
        let dir = committed(&name);
        if !dir.join("manifest.json").is_file() {
            continue;
        }
        let m = manifest(&dir);
        let files = m["files"].as_array().expect("a manifest lists its files");
        assert!(!files.is_empty(), "{}: no input files", dir.display());
        for f in files {
            let path = f["path"].as_str().expect("a file has a path");
            let recorded = f["sha256"].as_str().expect("a file has a hash");
            let bytes = fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(
                sha256_hex(&bytes),
                recorded,
                "{}/manifest.json: {path} has changed since the run; rerun it",
                dir.display()
            );
            checked += 1;
        }
    }
    // The baseline and calibrated runs name seven inputs each.
    assert!(checked >= 14, "only {checked} inputs checked");
}

#[test]
fn rerunning_the_shipped_scenarios_gives_the_committed_folders() {
    for name in ["baseline", "calibrated"] {
        let dir = committed(name);
        let m = manifest(&dir);
        let settings = RunSettings {
            draws: m["draws"].as_u64().expect("draws"),
            seed: m["seed"].as_u64().expect("seed"),
            threads: 2,
        };
        let path = format!("scenarios/{name}.toml");
        let scn = scenario::load(Path::new(&path)).unwrap();
        let results = run_scenario(&scn, settings, &|_| {}).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join(name);
        write_outputs(&fresh, &results, &run_exporters(&results, None, false)).unwrap();
        assert_same_folder(&dir, &fresh, &format!("xiang run {path}"));
    }
}

#[test]
fn rerunning_the_shipped_backtest_gives_the_committed_folder() {
    let dir = committed("backtest-2017");
    let scn = scenario::load(Path::new("scenarios/backtest-2017.toml")).unwrap();
    let settings = RunSettings {
        draws: scn.draws,
        seed: scn.seed,
        threads: 2,
    };
    let tmp = tempfile::tempdir().unwrap();
    let fresh = tmp.path().join("backtest-2017");
    let observed = Path::new("scenarios/data/history.csv");
    let bt = run_backtest(&scn, observed, settings, &|_| {}).unwrap();
    write_backtest(&fresh, &bt).unwrap();
    assert_same_folder(
        &dir,
        &fresh,
        "xiang backtest scenarios/backtest-2017.toml --observed scenarios/data/history.csv",
    );
}
