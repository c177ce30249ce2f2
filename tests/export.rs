//! Tests of the export stage: rendered files (snapshots), CSV and JSON round trips, and
//! the replacement of the output folder.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use xiang::error::{Error, Result};
use xiang::export::*;
use xiang::results::*;

/// A small run with two series, three targets (one not modelled) and two plans.
fn fixture() -> RunResults {
    RunResults {
        info: RunInfo {
            version: "0.1.0".to_string(),
            scenario: "baseline".to_string(),
            base_year: 2023,
            horizon: 2030,
            seed: 42,
            draws: 10_000,
            threads: 4,
            wall_time_s: 1.25,
            files: vec![
                InputFile {
                    role: "scenario".to_string(),
                    path: "scenarios/baseline.toml".to_string(),
                    sha256: sha256_hex(b"scenario"),
                },
                InputFile {
                    role: "targets".to_string(),
                    path: "data/targets.csv".to_string(),
                    sha256: sha256_hex(b"targets"),
                },
            ],
            calibration: CalibrationInfo {
                calibrated: true,
                note: "the latest backtest's 90% bands held 88% of 40 observed values".to_string(),
                coverage90: Some(0.88),
                points: Some(40),
            },
        },
        series: vec![
            SeriesSummary {
                entity: "Xiangtan".to_string(),
                indicator: "service_va".to_string(),
                year: 2025,
                unit: "亿元".to_string(),
                mean: 1523.456789,
                sd: 80.123456,
                quantiles: [
                    1391.2,
                    1420.55,
                    1468.0,
                    1522.9,
                    1577.77,
                    1626.123456,
                    1655.5,
                ],
            },
            SeriesSummary {
                entity: "CZT".to_string(),
                indicator: "service_share".to_string(),
                year: 2030,
                unit: "%".to_string(),
                mean: 55.5,
                sd: 1.2,
                quantiles: [53.5, 54.0, 54.7, 55.5, 56.3, 57.0, 57.5],
            },
        ],
        targets: vec![
            TargetResult {
                plan: "xt14".to_string(),
                target_id: "xt_va_2025".to_string(),
                node: "Xiangtan".to_string(),
                indicator: "service_va".to_string(),
                year: 2025,
                comparator: ">=".to_string(),
                target: 1500.0,
                unit: "亿元".to_string(),
                p_met: Some(0.6183),
                p_met_se: Some((0.6183_f64 * 0.3817 / 10_000.0).sqrt()),
                p05: Some(1391.2),
                p50: Some(1522.9),
                p95: Some(1655.5),
                required_growth: Some(6.2345678),
                status: TargetStatus::Modelled,
                reason: String::new(),
                quote: "到2025年，全市服务业增加值达到1500亿元".to_string(),
            },
            TargetResult {
                plan: "xt14".to_string(),
                target_id: "xt_share_2025".to_string(),
                node: "Xiangtan".to_string(),
                indicator: "service_share".to_string(),
                year: 2025,
                comparator: ">=".to_string(),
                target: 50.0,
                unit: "%".to_string(),
                p_met: Some(0.9),
                p_met_se: Some(0.003),
                p05: Some(49.1),
                p50: Some(51.85),
                p95: Some(54.25),
                required_growth: Some(0.8),
                status: TargetStatus::Modelled,
                reason: String::new(),
                quote: "服务业增加值占地区生产总值比重达到50%".to_string(),
            },
            TargetResult {
                plan: "cs14".to_string(),
                target_id: "cs_logistics_2025".to_string(),
                node: "Changsha".to_string(),
                indicator: "logistics_volume".to_string(),
                year: 2025,
                comparator: ">=".to_string(),
                target: 5.0,
                unit: "万亿元".to_string(),
                p_met: None,
                p_met_se: None,
                p05: None,
                p50: None,
                p95: None,
                required_growth: None,
                status: TargetStatus::NotModelled,
                reason: "no history for \"logistics_volume\", so no growth model".to_string(),
                quote: "“十四五”期间，社会物流总额突破5万亿元".to_string(),
            },
        ],
        plans: vec![
            PlanResult {
                plan: "xt14".to_string(),
                title: "湘潭市“十四五”现代服务业发展规划".to_string(),
                targets_total: 2,
                targets_modelled: 2,
                p_all_met: Some(0.5712),
                p_all_met_se: Some((0.5712_f64 * 0.4288 / 10_000.0).sqrt()),
            },
            PlanResult {
                plan: "cs14".to_string(),
                title: "长沙市“十四五”现代物流业发展规划".to_string(),
                targets_total: 1,
                targets_modelled: 0,
                p_all_met: None,
                p_all_met_se: None,
            },
        ],
        observed: vec![ObservedPoint {
            node: "Xiangtan".to_string(),
            indicator: "service_va".to_string(),
            year: 2020,
            value: 999.21,
            unit: "亿元".to_string(),
            real_growth_pct: None,
            vintage: "plan_document".to_string(),
            source: "湘潭市“十四五”服务业发展规划, \"source\" with quotes".to_string(),
        }],
        flows: vec![FlowSummary {
            year: 2025,
            origin: "Changsha".to_string(),
            destination: "Xiangtan".to_string(),
            mean: 131.2,
            p05: 120.0,
            p50: 131.0,
            p95: 143.5,
        }],
    }
}

/// Renders one file of the fixture as text.
fn render_text(exporter: &dyn Exporter) -> String {
    let bytes = exporter.render(&fixture()).unwrap();
    String::from_utf8(bytes).unwrap()
}

/// Parses a rendered CSV: header and records, checking every record's length.
fn parse_csv(exporter: &dyn Exporter) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = exporter.render(&fixture()).unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(bytes.as_slice());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    for row in &rows {
        assert_eq!(row.len(), header.len(), "row {row:?}");
    }
    (header, rows)
}

/// Names of the entries of a folder.
fn entries(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn summary_csv_snapshot() {
    insta::assert_snapshot!("summary_csv", render_text(&SummaryCsv));
}

#[test]
fn feasibility_csv_snapshot() {
    insta::assert_snapshot!("feasibility_csv", render_text(&FeasibilityCsv));
}

#[test]
fn plans_csv_snapshot() {
    insta::assert_snapshot!("plans_csv", render_text(&PlansCsv));
}

#[test]
fn feasibility_md_snapshot() {
    insta::assert_snapshot!("feasibility_md", render_text(&FeasibilityMarkdown));
}

#[test]
fn manifest_json_snapshot() {
    insta::assert_snapshot!("manifest_json", render_text(&ManifestJson::default()));
}

#[test]
fn summary_csv_parses_back() {
    let (header, rows) = parse_csv(&SummaryCsv);
    assert_eq!(
        header.join(","),
        "scenario,node,indicator,year,unit,mean,sd,p05,p10,p25,p50,p75,p90,p95"
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0][..5],
        ["baseline", "Xiangtan", "service_va", "2025", "亿元"]
    );
    assert_eq!(rows[0][5], "1523.46");
    assert_eq!(rows[0][12], "1626.12");
    assert_eq!(rows[1][1], "CZT");
}

#[test]
fn feasibility_csv_parses_back() {
    let (header, rows) = parse_csv(&FeasibilityCsv);
    assert_eq!(
        header.join(","),
        "plan,target_id,node,indicator,year,comparator,target,unit,p_met,p_met_se,\
         p05,p50,p95,required_growth,status,calibration,reason,quote"
    );
    let targets = fixture().targets;
    assert_eq!(rows.len(), targets.len());
    for (row, target) in rows.iter().zip(&targets) {
        assert_eq!(row[1], target.target_id);
        assert_eq!(row[14], target.status.as_str());
        // The fixture is calibrated: the word stands beside every probability only.
        let word = if target.p_met.is_some() {
            "calibrated"
        } else {
            ""
        };
        assert_eq!(row[15], word);
        assert_eq!(row[16], target.reason);
        assert_eq!(row[17], target.quote);
    }
    let not_modelled = &rows[2];
    assert_eq!(not_modelled[6], "5");
    assert_eq!(not_modelled[14], "not_modelled");
    for column in 8..=13 {
        assert_eq!(not_modelled[column], "", "column {}", header[column]);
    }
    assert_eq!(rows[0][8], "0.6183");
    assert_eq!(rows[0][13], "6.23457");
}

#[test]
fn plans_csv_parses_back() {
    let (header, rows) = parse_csv(&PlansCsv);
    assert_eq!(
        header.join(","),
        "plan,title,targets_total,targets_modelled,p_all_met,p_all_met_se,calibration"
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][1], "湘潭市“十四五”现代服务业发展规划");
    assert_eq!(rows[0][4], "0.5712");
    assert_eq!(rows[0][6], "calibrated");
    assert_eq!(rows[1][2..], ["1", "0", "", "", ""]);
}

#[test]
fn manifest_json_has_the_keys() {
    let exporters = standard_exporters();
    let manifest = exporters
        .iter()
        .find(|e| e.file_name() == "manifest.json")
        .unwrap();
    let bytes = manifest.render(&fixture()).unwrap();
    assert_eq!(bytes.last(), Some(&b'\n'));
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let object = value.as_object().unwrap();
    for key in [
        "version",
        "scenario",
        "base_year",
        "horizon",
        "seed",
        "draws",
        "threads",
        "wall_time_s",
        "files",
        "outputs",
    ] {
        assert!(object.contains_key(key), "missing key {key}");
    }
    assert_eq!(value["seed"], 42);
    assert_eq!(value["draws"], 10_000);
    assert_eq!(value["files"][1]["role"], "targets");
    assert_eq!(value["files"][1]["path"], "data/targets.csv");
    assert_eq!(value["files"][1]["sha256"], sha256_hex(b"targets"));
    let outputs: Vec<&str> = value["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let names: Vec<&str> = exporters.iter().map(|e| e.file_name()).collect();
    assert_eq!(outputs, names);
}

#[test]
fn sha256_is_lower_case_hex() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn writes_every_file_creating_parents() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("runs").join("baseline");
    let results = fixture();
    let exporters = standard_exporters();
    let written = write_outputs(&dir, &results, &exporters).unwrap();

    let expected: Vec<_> = exporters.iter().map(|e| dir.join(e.file_name())).collect();
    assert_eq!(written, expected);
    for (path, exporter) in written.iter().zip(&exporters) {
        assert_eq!(fs::read(path).unwrap(), exporter.render(&results).unwrap());
    }
    assert_eq!(entries(&dir).len(), exporters.len());
    assert_eq!(
        entries(&root.path().join("runs")),
        ["baseline".to_string()].into()
    );
}

#[test]
fn second_write_replaces_the_folder() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("out");
    let exporters = standard_exporters();
    write_outputs(&dir, &fixture(), &exporters).unwrap();
    fs::write(dir.join("stray.txt"), "from before").unwrap();

    let mut results = fixture();
    results.info.seed = 7;
    write_outputs(&dir, &results, &exporters).unwrap();

    let names: BTreeSet<String> = exporters
        .iter()
        .map(|e| e.file_name().to_string())
        .collect();
    assert_eq!(entries(&dir), names);
    let manifest = fs::read_to_string(dir.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"seed\": 7"));
    assert_eq!(entries(root.path()), ["out".to_string()].into());
}

#[test]
fn parent_is_a_file() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("not_a_folder");
    fs::write(&file, "x").unwrap();
    let dir = file.join("out");

    let error = write_outputs(&dir, &fixture(), &standard_exporters()).unwrap_err();
    assert!(matches!(error, Error::Write { .. }), "{error:?}");
    assert_eq!(error.exit_code(), 1);
    assert_eq!(entries(root.path()), ["not_a_folder".to_string()].into());
    assert_eq!(fs::read_to_string(&file).unwrap(), "x");
}

#[test]
fn output_path_is_a_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("out");
    fs::write(&dir, "keep me").unwrap();

    let error = write_outputs(&dir, &fixture(), &standard_exporters()).unwrap_err();
    assert!(matches!(error, Error::Write { .. }), "{error:?}");
    assert_eq!(fs::read_to_string(&dir).unwrap(), "keep me");
    assert_eq!(entries(root.path()), ["out".to_string()].into());
}

#[test]
fn unrelated_folder_is_not_replaced() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("documents");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("thesis.docx"), "precious").unwrap();

    let error = write_outputs(&dir, &fixture(), &standard_exporters()).unwrap_err();
    assert!(matches!(error, Error::Write { .. }), "{error:?}");
    assert_eq!(entries(&dir), ["thesis.docx".to_string()].into());
    assert_eq!(entries(root.path()), ["documents".to_string()].into());
}

#[test]
fn empty_folder_is_filled() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("out");
    fs::create_dir(&dir).unwrap();
    let written = write_outputs(&dir, &fixture(), &standard_exporters()).unwrap();
    assert!(written.iter().all(|p| p.is_file()));
    assert_eq!(entries(root.path()), ["out".to_string()].into());
}

/// An exporter whose rendering always fails.
struct Failing;

impl Exporter for Failing {
    fn file_name(&self) -> &'static str {
        "failing.txt"
    }

    fn render(&self, _results: &RunResults) -> Result<Vec<u8>> {
        Err(Error::Numerical("test failure".to_string()))
    }
}

#[test]
fn render_failure_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("out");
    write_outputs(&dir, &fixture(), &standard_exporters()).unwrap();
    let before: Vec<(String, Vec<u8>)> = entries(&dir)
        .into_iter()
        .map(|name| {
            let bytes = fs::read(dir.join(&name)).unwrap();
            (name, bytes)
        })
        .collect();

    let mut exporters = standard_exporters();
    exporters.insert(1, Box::new(Failing));
    let mut results = fixture();
    results.info.seed = 7;
    let error = write_outputs(&dir, &results, &exporters).unwrap_err();
    assert!(matches!(error, Error::Numerical(_)), "{error:?}");

    let after: Vec<(String, Vec<u8>)> = entries(&dir)
        .into_iter()
        .map(|name| {
            let bytes = fs::read(dir.join(&name)).unwrap();
            (name, bytes)
        })
        .collect();
    assert_eq!(before, after);
    assert_eq!(entries(root.path()), ["out".to_string()].into());
}

#[test]
fn duplicate_file_names_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("out");
    let exporters: Vec<Box<dyn Exporter>> = vec![Box::new(SummaryCsv), Box::new(SummaryCsv)];
    let error = write_outputs(&dir, &fixture(), &exporters).unwrap_err();
    assert!(matches!(error, Error::Write { .. }), "{error:?}");
    assert!(entries(root.path()).is_empty());
}

#[test]
fn history_csv_round_trips_sources_and_vintages() {
    let text = render_text(&HistoryCsv);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(headers.iter().collect::<Vec<_>>(), HistoryCsv::HEADER);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][3], "999.21");
    assert_eq!(&rows[0][5], "");
    assert_eq!(&rows[0][6], "plan_document");
    assert_eq!(&rows[0][7], fixture().observed[0].source);
}
