//! `xiang compare`: changes of P(met) between result folders, missing targets, the
//! Markdown table, and bad input.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use xiang::compare::{self, CSV_HEADER};
use xiang::engine::RunSettings;
use xiang::export::{standard_exporters, write_outputs};
use xiang::run::run_scenario;

const FEASIBILITY_HEADER: &str = "plan,target_id,node,indicator,year,comparator,target,unit,p_met,p_met_se,p05,p50,p95,required_growth,status,reason,quote\n";
const PLANS_HEADER: &str = "plan,title,targets_total,targets_modelled,p_all_met,p_all_met_se\n";

/// Writes a result folder by hand: `feasibility.csv` rows, `plans.csv` rows and, if
/// given, a manifest naming the scenario.
fn result_dir(
    root: &Path,
    folder: &str,
    manifest: Option<&str>,
    targets: &[&str],
    plans: &[&str],
) -> PathBuf {
    let dir = root.join(folder);
    fs::create_dir_all(&dir).unwrap();
    let mut f = FEASIBILITY_HEADER.to_string();
    for t in targets {
        f.push_str(t);
        f.push('\n');
    }
    fs::write(dir.join("feasibility.csv"), f).unwrap();
    let mut p = PLANS_HEADER.to_string();
    for row in plans {
        p.push_str(row);
        p.push('\n');
    }
    fs::write(dir.join("plans.csv"), p).unwrap();
    if let Some(name) = manifest {
        fs::write(
            dir.join("manifest.json"),
            format!(
                "{{\"version\": \"0.1.0\", \"scenario\": \"{name}\", \"base_year\": 2020, \"horizon\": 2025, \"seed\": 7, \"draws\": 10000}}"
            ),
        )
        .unwrap();
    }
    dir
}

const VA: &str = "plan-a,va-2025,Solo,service_va,2025,>=,620,亿元";
const GROWTH: &str = "plan-a,growth-2025,Solo,service_va_real_growth,2025,>=,7.5,% per year";
const SHARE: &str = "plan-a,share-2025,Solo,service_share_of_employment,2025,>=,42,%";
const LOGI: &str = "plan-b,logistics-2025,Near,logistics_total,2025,>,8000,亿元";

/// Two hand-written folders: `base` (manifest) with three targets, and `push` (no
/// manifest) where the growth target is absent and a logistics target is new.
fn two_dirs(root: &Path) -> (PathBuf, PathBuf) {
    let base = result_dir(
        root,
        "run-base",
        Some("base"),
        &[
            &format!("{VA},0.5,0.005,600,619,640,8.9,modelled,,句子"),
            &format!("{GROWTH},0.2,0.004,5,6,8,7.5,modelled,,句子"),
            &format!("{SHARE},,,,,,,not_modelled,no base value,句子"),
        ],
        &["plan-a,甲,3,2,0.15,0.0036", "plan-c,丙,1,0,,"],
    );
    let push = result_dir(
        root,
        "push",
        None,
        &[
            &format!("{VA},0.62,0.0048,605,625,650,8.9,modelled,,句子"),
            &format!("{SHARE},,,,,,,not_modelled,no base value,句子"),
            &format!("{LOGI},0.01,0.001,100,200,300,12.9,modelled,,句子"),
        ],
        &["plan-a,甲,3,1,0.62,0.0048", "plan-b,乙,1,1,0.01,0.001"],
    );
    (base, push)
}

/// compare.csv as records keyed by (target_id, scenario).
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(bytes);
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, CSV_HEADER);
    reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

fn row<'a>(rows: &'a [Vec<String>], target: &str, scenario: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r[1] == target && r[8] == scenario)
        .unwrap_or_else(|| panic!("no row for {target} under {scenario}"))
}

fn num(text: &str) -> f64 {
    text.parse()
        .unwrap_or_else(|_| panic!("`{text}` is not a number"))
}

#[test]
fn deltas_are_against_the_first_folder_with_independent_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, push) = two_dirs(tmp.path());
    let cmp = compare::compare_dirs(&[base, push]).unwrap();
    let names: Vec<_> = cmp.scenarios.iter().map(|s| s.name.as_str()).collect();
    // The manifest names the first; the second has none and is named after its folder.
    assert_eq!(names, ["base", "push"]);

    let rows = csv_rows(&compare::render_csv_file(&cmp).unwrap());
    // One row per target (4 distinct) and scenario (2).
    assert_eq!(rows.len(), 8);

    let va = row(&rows, "va-2025", "push");
    assert!((num(&va[11]) - 0.12).abs() < 1e-9, "delta {}", va[11]);
    let se = (0.005f64.powi(2) + 0.0048f64.powi(2)).sqrt();
    assert!((num(&va[12]) - se).abs() < 1e-6, "delta_se {}", va[12]);
    assert_eq!(va[13], "modelled");

    // The reference against itself.
    let va_base = row(&rows, "va-2025", "base");
    assert_eq!((va_base[9].as_str(), va_base[11].as_str()), ("0.5", "0"));

    // Not modelled in both: no probability, no change, status kept.
    let share = row(&rows, "share-2025", "push");
    assert_eq!(
        (share[9].as_str(), share[11].as_str(), share[13].as_str()),
        ("", "", "not_modelled")
    );
}

#[test]
fn targets_missing_from_a_folder_stay_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, push) = two_dirs(tmp.path());
    let cmp = compare::compare_dirs(&[base, push]).unwrap();
    let rows = csv_rows(&compare::render_csv_file(&cmp).unwrap());

    // In the first folder only.
    let growth = row(&rows, "growth-2025", "push");
    assert_eq!(&growth[9..], ["", "", "", "", "missing"]);
    assert_eq!(row(&rows, "growth-2025", "base")[9], "0.2");

    // In the second folder only: its own P(met), but no change without a reference.
    let logi = row(&rows, "logistics-2025", "push");
    assert_eq!(&logi[9..], ["0.01", "0.001", "", "", "modelled"]);
    assert_eq!(row(&rows, "logistics-2025", "base")[13], "missing");

    // A target whose value changed is a different target, not a change of P(met).
    let moved = result_dir(
        tmp.path(),
        "moved",
        Some("moved"),
        &[&format!(
            "{},0.9,0.003,600,619,640,8.9,modelled,,句子",
            VA.replace(",620,", ",600,")
        )],
        &[],
    );
    let cmp = compare::compare_dirs(&[tmp.path().join("run-base"), moved]).unwrap();
    let va: Vec<_> = cmp
        .targets
        .iter()
        .filter(|t| t.key.target_id == "va-2025")
        .collect();
    assert_eq!(va.len(), 2);
    assert!(
        va.iter()
            .all(|t| t.cells.iter().filter(|c| c.is_some()).count() == 1)
    );
}

#[test]
fn markdown_table() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, push) = two_dirs(tmp.path());
    let cmp = compare::compare_dirs(&[base, push]).unwrap();
    let md = compare::render_markdown(&cmp).replace(&tmp.path().display().to_string(), "<tmp>");
    assert!(md.contains("62.0% (Δ +12.0 pts)"));
    insta::assert_snapshot!("compare_md", md);
}

#[test]
fn writes_both_files_and_replaces_an_earlier_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, push) = two_dirs(tmp.path());
    let out = tmp.path().join("out").join("compare");
    let written = compare::command(&[base.clone(), push.clone()], Some(&out)).unwrap();
    assert_eq!(written, [out.join("compare.csv"), out.join("compare.md")]);
    // Again, over the first comparison: replaced as a whole.
    fs::write(out.join("stale.txt"), "old").unwrap();
    compare::command(&[push, base], Some(&out)).unwrap();
    assert!(!out.join("stale.txt").exists());
    let md = fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(md.contains("change against `push`"));
    // A folder that holds something else is never replaced.
    let other = tmp.path().join("run-base");
    let err = compare::command(std::slice::from_ref(&other), Some(&other)).unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(other.join("feasibility.csv").exists());
}

/// A tiny model: one node with every base value; service growth 7% ± 1 a year.
const NODES: &str = "node,name_zh,lon,lat,source\nSolo,独,112.00,28.00,test\n";
const HISTORY: &str = "node,year,indicator,value,unit,real_growth_pct,vintage,source\n\
Solo,2020,gdp,1000,亿元,,revised,test\n\
Solo,2020,service_va,400,亿元,,revised,test\n";
const TARGETS: &str = r#"[plan]
id = "plan-a"
title = "测试"

[[targets]]
id = "va-2025"
node = "Solo"
indicator = "service_va"
year = 2025
comparator = ">="
value = 620
unit = "亿元"
basis = "nominal_level"
quote = "测试句子"
"#;
const SCENARIO: &str = r#"
name = "{name}"
base_year = 2020
horizon = 2025
seed = 7
draws = 4000
nodes = ["Solo"]
node_file = "nodes.csv"
history_file = "history.csv"
targets = ["targets.toml"]

[spatial]
rho = 0.0

[prices]
deflator_trend = 2.0
deflator_volatility = 0.0

[shocks]
persistence = 0.0
node_correlation = 0.0
sector_correlation = 0.0
jump_probability = 0.0
jump_size = -4.0

[node_defaults]
service_trend = { mean = 7.0, sd = 1.0 }
service_slowdown = 0.0
non_service_trend = 5.0
non_service_slowdown = 0.0
service_volatility = 0.5
non_service_volatility = 0.5
service_jump_exposure = 1.0
non_service_jump_exposure = 1.0
employment_elasticity = 0.5
employment_volatility = 0.0
non_service_employment_trend = 0.0
non_service_employment_volatility = 0.0
logistics_elasticity = 0.5
logistics_volatility = 0.0
hub_factor = 1.0
{impulses}
"#;

/// Runs the tiny model (with `impulses` TOML appended) and writes its result folder.
fn run_dir(root: &Path, name: &str, impulses: &str) -> PathBuf {
    let input = root.join(format!("{name}-input"));
    fs::create_dir_all(&input).unwrap();
    fs::write(input.join("nodes.csv"), NODES).unwrap();
    fs::write(input.join("history.csv"), HISTORY).unwrap();
    fs::write(input.join("targets.toml"), TARGETS).unwrap();
    let text = SCENARIO
        .replace("{name}", name)
        .replace("{impulses}", impulses);
    let path = input.join("scenario.toml");
    fs::write(&path, text).unwrap();
    let scn = xiang::scenario::load(&path).unwrap();
    let settings = RunSettings {
        draws: 4000,
        seed: 7,
        threads: 1,
    };
    let results = run_scenario(&scn, settings, &|_| {}).unwrap();
    let out = root.join(name);
    write_outputs(&out, &results, &standard_exporters()).unwrap();
    out
}

#[test]
fn compares_real_runs_and_a_growth_impulse_raises_p_met() {
    let tmp = tempfile::tempdir().unwrap();
    let base = run_dir(tmp.path(), "flat", "");
    let push = run_dir(
        tmp.path(),
        "boost",
        "[[impulses]]\nnode = \"Solo\"\nsector = \"service\"\nfrom = 2021\nto = 2025\nsize = 1.0\n",
    );
    let cmp = compare::compare_dirs(&[base.clone(), push.clone()]).unwrap();
    let t = &cmp.targets[0];
    let (p0, p1) = (
        t.cells[0].as_ref().and_then(|c| c.p).unwrap(),
        t.cells[1].as_ref().and_then(|c| c.p).unwrap(),
    );
    // One point more growth a year for five years is about 5% more value added in 2025,
    // against a spread of about 6%: P(met) must rise by far more than its noise.
    let d = compare::delta(t.cells[0].as_ref(), t.cells[1].as_ref()).unwrap();
    assert!((d.value - (p1 - p0)).abs() < 1e-12);
    assert!(
        d.value > 5.0 * d.se.unwrap(),
        "Δ {} with se {:?}",
        d.value,
        d.se
    );

    // The compared probabilities are exactly those the runs wrote.
    let rows = csv_rows(&compare::render_csv_file(&cmp).unwrap());
    for (dir, name) in [(&base, "flat"), (&push, "boost")] {
        let text = fs::read_to_string(dir.join("feasibility.csv")).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(row(&rows, "va-2025", name)[9], record[8]);
    }
}

fn xiang(args: &[&Path]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xiang"))
        .arg("compare")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_folder_without_feasibility_csv_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, _) = two_dirs(tmp.path());
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let out = tmp.path().join("cmp");
    let output = xiang(&[&base, &empty, Path::new("--out"), &out]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&empty.join("feasibility.csv").display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn a_malformed_csv_names_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, _) = two_dirs(tmp.path());
    let bad = result_dir(
        tmp.path(),
        "bad",
        Some("bad"),
        &[
            &format!("{VA},0.5,0.005,600,619,640,8.9,modelled,,句子"),
            &format!("{GROWTH},lots,0.004,5,6,8,7.5,modelled,,句子"),
            &format!("{LOGI},1.5,0.004,5,6,8,7.5,modelled,,句子"),
        ],
        &[],
    );
    let out = tmp.path().join("cmp");
    let output = xiang(&[&base, &bad, Path::new("--out"), &out]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = bad.join("feasibility.csv").display().to_string();
    assert!(
        stderr.contains(&format!("{file}:3: key `p_met`")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:4: key `p_met`")),
        "{stderr}"
    );
    assert!(stderr.contains("2 problems found"), "{stderr}");
    assert!(!out.exists());

    // A header without the probability column.
    fs::write(bad.join("feasibility.csv"), "plan,target_id\nx,y\n").unwrap();
    let output = xiang(&[&bad, Path::new("--out"), &out]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{file}:1: key `p_met`")),
        "{stderr}"
    );
}
