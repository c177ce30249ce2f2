//! Bad input through the binary: every kind of mistake a scenario writer can make gives
//! a clear error (file, line, key and a hint where there is one) and exit code 2, and
//! writes nothing.
//!
//! Each case builds a fresh temporary folder holding copies of the shipped baseline, its
//! data and its targets files in the same layout, plus a scenario that `extends` the
//! baseline and changes one thing. `xiang run`, `xiang validate` and `xiang targets` are
//! run on it from that folder, so paths in messages are short and relative.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// Files copied into every case, as (path in the case folder, path in the crate).
const FIXTURE_FILES: [(&str, &str); 7] = [
    (
        "baseline.toml",
        concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/baseline.toml"),
    ),
    (
        "data/nodes.csv",
        concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/data/nodes.csv"),
    ),
    (
        "results/backtest-2017/backtest-summary.json",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/results/backtest-2017/backtest-summary.json"
        ),
    ),
    (
        "data/history.csv",
        concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/data/history.csv"),
    ),
    (
        "targets/xiangtan-services-14th.toml",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/targets/xiangtan-services-14th.toml"
        ),
    ),
    (
        "targets/hengyang-services-14th.toml",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/targets/hengyang-services-14th.toml"
        ),
    ),
    (
        "targets/changsha-producer-services-2025.toml",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/targets/changsha-producer-services-2025.toml"
        ),
    ),
];

/// The name of the scenario file each case writes.
const BAD: &str = "bad.toml";

/// A temporary folder with the baseline, its data and its targets.
struct Case {
    dir: TempDir,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().expect("temporary folder");
        let case = Case { dir };
        for (rel, src) in FIXTURE_FILES {
            let text = fs::read_to_string(src).unwrap_or_else(|e| panic!("read {src}: {e}"));
            // The case keeps the results folder beside the scenario, not above it.
            case.write(rel, &text.replace("\"../results/", "\"results/"));
        }
        case
    }

    /// A case whose `bad.toml` extends the baseline with `changes`; returns the case and
    /// the text written, for looking up line numbers.
    fn extending(changes: &str) -> (Case, String) {
        let case = Case::new();
        let text = format!("extends = \"baseline.toml\"\n{changes}");
        case.write(BAD, &text);
        (case, text)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create folder");
        }
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Runs the binary with `args` from the case folder.
    fn xiang(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_xiang"))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run xiang")
    }

    /// Runs `run`, `validate` and `targets` on `scenario` and checks what every bad input
    /// must give: exit code 2, an `error:` message on stderr (the same for the three
    /// commands), nothing on stdout, and nothing written. Returns the message.
    fn bad_input(&self, scenario: &str) -> String {
        let before = snapshot(self.dir.path());
        let out = self.path("out");
        let out_arg = out.to_str().expect("UTF-8 path");
        let commands: [&[&str]; 3] = [
            &[
                "run", scenario, "--out", out_arg, "--draws", "100", "--quiet",
            ],
            &["validate", scenario],
            &["targets", scenario],
        ];
        let mut messages = Vec::new();
        for args in commands {
            let output = self.xiang(args);
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert_eq!(
                output.status.code(),
                Some(2),
                "`xiang {}` should exit with 2; stderr:\n{stderr}",
                args.join(" ")
            );
            assert!(
                stdout.is_empty(),
                "`xiang {}` should print nothing on stdout; it printed:\n{stdout}",
                args.join(" ")
            );
            assert!(
                stderr.starts_with("error: "),
                "`xiang {}` stderr should start with `error: `:\n{stderr}",
                args.join(" ")
            );
            messages.push(stderr);
        }
        assert_eq!(messages[0], messages[1], "run and validate disagree");
        assert_eq!(messages[0], messages[2], "run and targets disagree");

        assert!(!out.exists(), "the --out folder was created");
        let parent = out.parent().expect("parent of --out");
        for entry in fs::read_dir(parent).expect("list parent of --out") {
            let name = entry.expect("entry").file_name();
            let name = name.to_string_lossy();
            assert!(
                !name.contains(".tmp-") && !name.contains(".old-"),
                "a temporary folder `{name}` was left next to --out"
            );
        }
        assert_eq!(
            snapshot(self.dir.path()),
            before,
            "the case folder changed: something was written"
        );
        messages.swap_remove(0)
    }
}

/// Every file and folder under `root` with its contents (None for folders).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for entry in fs::read_dir(dir).expect("list folder") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(root).expect("inside root").to_path_buf();
            if path.is_dir() {
                into.insert(rel, None);
                walk(root, &path, into);
            } else {
                into.insert(rel, Some(fs::read(&path).expect("read file")));
            }
        }
    }
    let mut all = BTreeMap::new();
    walk(root, root, &mut all);
    all
}

/// 1-based number of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} is not in:\n{text}"))
        + 1
}

/// How a located problem starts: `file:line: key `key``.
fn at(file: &str, line: usize, key: &str) -> String {
    format!("{file}:{line}: key `{key}`")
}

/// The number in the closing "N problem(s) found" line.
fn problem_count(stderr: &str) -> Option<usize> {
    let last = stderr.trim_end().lines().last()?;
    let (n, rest) = last.split_once(' ')?;
    if rest.starts_with("problem found") || rest.starts_with("problems found") {
        n.parse().ok()
    } else {
        None
    }
}

#[track_caller]
fn assert_mentions(stderr: &str, needle: &str) {
    assert!(
        stderr.contains(needle),
        "stderr should contain {needle:?}; it is:\n{stderr}"
    );
}

#[track_caller]
fn assert_problems(stderr: &str, n: usize) {
    assert_eq!(
        problem_count(stderr),
        Some(n),
        "stderr should end with \"{n} problem(s) found\"; it is:\n{stderr}"
    );
}

// ---------------------------------------------------------------------------------------
// Unknown keys and wrong types (caught while parsing each file).

#[test]
fn unknown_key_at_top_level() {
    let (case, text) = Case::extending("seeds = 5\n");
    let err = case.bad_input(BAD);
    assert_mentions(&err, &at(BAD, line_of(&text, "seeds"), "seeds"));
    assert_mentions(&err, "unknown field `seeds`");
    assert_mentions(&err, "hint: did you mean `seed`?");
    assert_problems(&err, 1);
}

#[test]
fn a_wrong_backtest_summary_is_refused_and_a_missing_one_is_uncalibrated() {
    let (case, text) = Case::extending("backtest = \"data/nodes.csv\"\n");
    let err = case.bad_input(BAD);
    assert_mentions(&err, &at(BAD, line_of(&text, "backtest"), "backtest"));
    assert_mentions(&err, "is not a backtest summary");
    assert_mentions(
        &err,
        "hint: name the backtest-summary.json written by `xiang backtest`",
    );
    assert_problems(&err, 1);

    // Missing: the run goes ahead, and says why its probabilities are uncalibrated.
    let (case, _) = Case::extending("backtest = \"results/none.json\"\n");
    let out = case.xiang(&["run", BAD, "--out", "out", "--draws", "64", "--quiet"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = fs::read_to_string(case.path("out/feasibility.md")).expect("feasibility.md");
    assert!(md.contains("**Probabilities are uncalibrated:**"), "{md}");
    assert!(md.contains("results/none.json cannot be read"), "{md}");
}

#[test]
fn unknown_key_in_a_table() {
    let (case, text) = Case::extending("\n[shocks]\npersistance = 0.5\n");
    let err = case.bad_input(BAD);
    let line = line_of(&text, "persistance");
    assert_mentions(&err, &format!("{BAD}:{line}:"));
    assert_mentions(&err, "unknown field `persistance`");
    assert_mentions(&err, "hint: did you mean `persistence`?");
    assert_problems(&err, 1);
    // The key is named with its table, as every other message names keys.
    assert_mentions(&err, &at(BAD, line, "shocks.persistance"));
}

#[test]
fn unknown_key_in_a_distribution() {
    let (case, text) = Case::extending("[spatial]\nrho = { low = 0.0, hihg = 0.4 }\n");
    let err = case.bad_input(BAD);
    let line = line_of(&text, "hihg");
    assert_mentions(&err, &format!("{BAD}:{line}:"));
    assert_mentions(&err, "unknown field `hihg`");
    assert_mentions(&err, "hint: did you mean `high`?");
    assert_problems(&err, 1);
    // The parameter is named; the message names the misspelt field inside it.
    assert_mentions(&err, &at(BAD, line, "spatial.rho"));
}

#[test]
fn wrong_type_at_top_level() {
    let (case, text) = Case::extending("horizon = \"2025\"\n");
    let err = case.bad_input(BAD);
    let line = line_of(&text, "horizon");
    assert_mentions(&err, &format!("{BAD}:{line}:"));
    assert_mentions(&err, "invalid type: string \"2025\"");
    assert_problems(&err, 1);
    // The key is `horizon`, not the value that was written.
    assert_mentions(&err, &at(BAD, line, "horizon"));
}

#[test]
fn wrong_type_in_a_table() {
    let (case, text) = Case::extending("[shocks]\npersistence = \"0.5\"\n");
    let err = case.bad_input(BAD);
    let line = line_of(&text, "persistence");
    assert_mentions(&err, &format!("{BAD}:{line}:"));
    assert_mentions(&err, "invalid type: string \"0.5\"");
    assert_problems(&err, 1);
    assert_mentions(&err, &at(BAD, line, "shocks.persistence"));
}

// ---------------------------------------------------------------------------------------
// Values out of range (caught by validation after merging).

#[test]
fn negative_volatility() {
    let (case, text) = Case::extending("[node_defaults]\nservice_volatility = -1.0\n");
    let err = case.bad_input(BAD);
    let line = line_of(&text, "service_volatility");
    assert_mentions(&err, &at(BAD, line, "node_defaults.service_volatility"));
    assert_mentions(&err, "volatility must be ≥ 0, got -1");
    assert_mentions(&err, "hint: ");
}

#[test]
fn negative_volatility_in_node_defaults_is_reported_once() {
    let (case, _) = Case::extending("[node_defaults]\nservice_volatility = -1.0\n");
    let err = case.bad_input(BAD);
    // One key written once is one problem, however many nodes inherit it.
    assert_problems(&err, 1);
}

#[test]
fn negative_sd_in_a_distribution() {
    let (case, text) = Case::extending("[prices]\ndeflator_trend = { mean = 2.0, sd = -0.5 }\n");
    let err = case.bad_input(BAD);
    let line = line_of(&text, "deflator_trend");
    assert_mentions(&err, &at(BAD, line, "prices.deflator_trend.sd"));
    assert_mentions(&err, "standard deviation must be ≥ 0, got -0.5");
    assert_mentions(&err, "hint: ");
    assert_problems(&err, 1);
}

#[test]
fn negative_sd_in_node_defaults() {
    let (case, text) =
        Case::extending("[node_defaults]\nservice_slowdown = { mean = -0.25, sd = -0.2 }\n");
    let err = case.bad_input(BAD);
    let line = line_of(&text, "service_slowdown");
    assert_mentions(&err, &at(BAD, line, "node_defaults.service_slowdown.sd"));
    assert_mentions(&err, "standard deviation must be ≥ 0, got -0.2");
    assert_mentions(&err, "hint: ");
}

#[test]
fn negative_sd_in_node_defaults_is_reported_once() {
    let (case, _) =
        Case::extending("[node_defaults]\nservice_slowdown = { mean = -0.25, sd = -0.2 }\n");
    let err = case.bad_input(BAD);
    assert_problems(&err, 1);
}

#[test]
fn fixed_rho_of_one_or_more() {
    let (case, text) = Case::extending("[spatial]\nrho = 1.2\n");
    let err = case.bad_input(BAD);
    assert_mentions(&err, &at(BAD, line_of(&text, "rho"), "spatial.rho"));
    assert_mentions(&err, "|ρ| < 1");
    assert_mentions(&err, "1.2");
    assert_mentions(&err, "hint: ");
    assert_problems(&err, 1);
}

#[test]
fn uniform_rho_reaching_one() {
    let (case, text) = Case::extending("[spatial]\nrho = { low = 0.0, high = 1.0 }\n");
    let err = case.bad_input(BAD);
    assert_mentions(&err, &at(BAD, line_of(&text, "rho"), "spatial.rho"));
    assert_mentions(&err, "|ρ| < 1");
    assert_mentions(&err, "hint: ");
    assert_problems(&err, 1);
}

#[test]
fn persistence_of_one() {
    let (case, text) = Case::extending("[shocks]\npersistence = 1.0\n");
    let err = case.bad_input(BAD);
    assert_mentions(
        &err,
        &at(BAD, line_of(&text, "persistence"), "shocks.persistence"),
    );
    assert_mentions(&err, "|φ| < 1");
    assert_mentions(&err, "hint: ");
    assert_problems(&err, 1);
}

// ---------------------------------------------------------------------------------------
// Unknown names.

#[test]
fn unknown_node_in_nodes() {
    let (case, text) =
        Case::extending("nodes = [\"Changsha\", \"Zhuzhou\", \"Xiangtn\", \"Hengyang\"]\n");
    let err = case.bad_input(BAD);
    assert_mentions(&err, &at(BAD, line_of(&text, "Xiangtn"), "nodes[2]"));
    assert_mentions(&err, "unknown node `Xiangtn`");
    assert_mentions(&err, "hint: did you mean `Xiangtan`?");
}

#[test]
fn unknown_node_in_a_group() {
    let (case, text) =
        Case::extending("[groups.CZT]\nmembers = [\"Changsha\", \"Zhuzhou\", \"Xiangtam\"]\n");
    let err = case.bad_input(BAD);
    assert_mentions(
        &err,
        &at(BAD, line_of(&text, "Xiangtam"), "groups.CZT.members[2]"),
    );
    assert_mentions(&err, "unknown node `Xiangtam` in group `CZT`");
    assert_mentions(&err, "hint: did you mean `Xiangtan`?");
    assert_problems(&err, 1);
}

// ---------------------------------------------------------------------------------------
// Targets files.

const XIANGTAN: &str = "targets/xiangtan-services-14th.toml";

#[test]
fn target_year_outside_the_horizon() {
    let (case, _) = Case::extending("horizon = 2024\n");
    let err = case.bad_input(BAD);
    assert_mentions(&err, "xiangtan-services-14th.toml:");
    assert_mentions(&err, "key `targets[0].year`");
    assert_mentions(&err, "target year 2025 is outside the projection 2021–2024");
    assert_mentions(&err, "hint: set the scenario's horizon to at least 2025");
    // Every target of the three files is for 2025 and out of range, modelled or not.
    let targets: usize = FIXTURE_FILES
        .iter()
        .filter(|(rel, _)| rel.starts_with("targets/"))
        .map(|(rel, _)| {
            let text = fs::read_to_string(case.path(rel)).expect("targets file");
            assert_eq!(
                text.matches("[[targets]]").count(),
                text.matches("year = 2025").count()
            );
            text.matches("[[targets]]").count()
        })
        .sum();
    assert_problems(&err, targets);
}

#[test]
fn target_year_outside_the_horizon_points_at_the_year_line() {
    let (case, _) = Case::extending("horizon = 2024\n");
    let err = case.bad_input(BAD);
    let targets = fs::read_to_string(case.path(XIANGTAN)).expect("targets file");
    // The first `year = ` line of the file belongs to targets[0].
    let line = line_of(&targets, "year = 2025");
    assert_mentions(&err, &at(XIANGTAN, line, "targets[0].year"));
}

#[test]
fn target_with_an_unknown_indicator() {
    let case = Case::new();
    let good = fs::read_to_string(case.path(XIANGTAN)).expect("targets file");
    let bad = good.replacen("indicator = \"service_va\"", "indicator = \"servce_va\"", 1);
    assert_ne!(good, bad);
    case.write("targets/bad-indicator.toml", &bad);
    case.write(
        BAD,
        "extends = \"baseline.toml\"\ntargets = [\"targets/bad-indicator.toml\"]\n",
    );
    let err = case.bad_input(BAD);
    assert_mentions(
        &err,
        &at(
            "targets/bad-indicator.toml",
            line_of(&bad, "servce_va"),
            "targets[0].indicator",
        ),
    );
    assert_mentions(&err, "`servce_va` is not an indicator");
    assert_mentions(&err, "hint: did you mean `service_va`?");
    assert_problems(&err, 1);
}

// ---------------------------------------------------------------------------------------
// Missing files, syntax errors, `extends` loops.

#[test]
fn missing_scenario_file() {
    let case = Case::new();
    let err = case.bad_input("does-not-exist.toml");
    assert_mentions(&err, "does-not-exist.toml");
    assert_mentions(&err, "cannot read");
}

#[test]
fn missing_extended_file() {
    let case = Case::new();
    let text = "extends = \"nope.toml\"\n";
    case.write(BAD, text);
    let err = case.bad_input(BAD);
    assert_mentions(&err, &at(BAD, line_of(text, "extends"), "extends"));
    assert_mentions(&err, "nope.toml");
    assert_mentions(&err, "hint: ");
    assert_problems(&err, 1);
}

#[test]
fn missing_node_file() {
    let (case, text) = Case::extending("node_file = \"data/nope.csv\"\n");
    let err = case.bad_input(BAD);
    assert_mentions(&err, &at(BAD, line_of(&text, "node_file"), "node_file"));
    assert_mentions(&err, "nope.csv");
    assert_mentions(&err, "hint: ");
}

#[test]
fn missing_node_file_is_one_problem() {
    let (case, _) = Case::extending("node_file = \"data/nope.csv\"\n");
    let err = case.bad_input(BAD);
    // Nodes that cannot be looked up are not also unknown: no follow-on errors (and no
    // empty "use one of:" hints) about groups and targets.
    assert_problems(&err, 1);
}

#[test]
fn toml_syntax_error() {
    let (case, text) = Case::extending("\n[shocks\npersistence = 0.5\n");
    let err = case.bad_input(BAD);
    assert_mentions(&err, &format!("{BAD}:{}:", line_of(&text, "[shocks")));
    assert_mentions(&err, "not valid TOML");
    assert_mentions(&err, "hint: ");
    assert_problems(&err, 1);
}

#[test]
fn toml_syntax_error_missing_value() {
    let (case, text) = Case::extending("seed = 1\nhorizon = \n");
    let err = case.bad_input(BAD);
    assert_mentions(&err, &format!("{BAD}:{}:", line_of(&text, "horizon")));
    assert_mentions(&err, "not valid TOML");
    assert_mentions(&err, "hint: ");
    assert_problems(&err, 1);
}

#[test]
fn extends_loop() {
    let case = Case::new();
    let b = "# the second file of the loop\nextends = \"a.toml\"\n";
    case.write("a.toml", "extends = \"b.toml\"\n");
    case.write("b.toml", b);
    let err = case.bad_input("a.toml");
    assert_mentions(&err, &at("b.toml", line_of(b, "extends"), "extends"));
    assert_mentions(&err, "loop back to a.toml");
    assert_mentions(&err, "hint: ");
    assert_problems(&err, 1);
}

// ---------------------------------------------------------------------------------------
// Several problems in one run.

#[test]
fn two_out_of_range_values_are_both_reported() {
    let (case, text) = Case::extending("[spatial]\nrho = 1.2\n[shocks]\npersistence = 1.5\n");
    let err = case.bad_input(BAD);
    assert_mentions(&err, &at(BAD, line_of(&text, "rho"), "spatial.rho"));
    assert_mentions(
        &err,
        &at(BAD, line_of(&text, "persistence"), "shocks.persistence"),
    );
    assert_mentions(&err, "2 problems found");
}

#[test]
fn two_unknown_keys_are_both_reported() {
    let (case, text) = Case::extending("seeds = 5\n[shocks]\npersistance = 0.5\n");
    let err = case.bad_input(BAD);
    assert_mentions(&err, &format!("{BAD}:{}:", line_of(&text, "seeds")));
    assert_mentions(&err, &format!("{BAD}:{}:", line_of(&text, "persistance")));
    assert_mentions(&err, "hint: did you mean `seed`?");
    assert_mentions(&err, "hint: did you mean `persistence`?");
    assert_mentions(&err, "2 problems found");
}

// ---------------------------------------------------------------------------------------
// Good input and bad options.

#[test]
fn shipped_baseline_validates() {
    let output = Command::new(env!("CARGO_BIN_EXE_xiang"))
        .args([
            "validate",
            concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/baseline.toml"),
        ])
        .output()
        .expect("run xiang");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stdout.contains("valid"), "stdout:\n{stdout}");
    assert!(stderr.is_empty(), "stderr:\n{stderr}");
}

#[test]
fn zero_draws_is_a_usage_error() {
    let case = Case::new();
    let before = snapshot(case.dir.path());
    let out = case.path("out");
    let output = case.xiang(&[
        "run",
        "--draws",
        "0",
        concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/baseline.toml"),
        "--out",
        out.to_str().expect("UTF-8 path"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{stderr}");
    assert_mentions(&stderr, "--draws");
    assert_mentions(&stderr, "'0'");
    assert_mentions(&stderr, "--help");
    assert!(output.stdout.is_empty());
    assert!(!out.exists(), "the --out folder was created");
    assert_eq!(snapshot(case.dir.path()), before, "something was written");
}
