//! Tests of the report: snapshots of `report.md` and one chart, a self-contained HTML
//! that parses, every target accounted for, Excel-ready CSV files, template overrides,
//! reading result folders back and the `xiang report` command.

use std::fs;
use std::path::Path;
use std::process::Command;

use xiang::error::Error;
use xiang::export::*;
use xiang::report::{self, Lang, ReportOptions, Templates, UTF8_BOM, load::load_results};
use xiang::results::*;

/// A quantile row around `mid` with relative spread `s`.
fn row(entity: &str, indicator: &str, unit: &str, year: i32, mid: f64, s: f64) -> SeriesSummary {
    let k = [-1.645, -1.28, -0.674, 0.0, 0.674, 1.28, 1.645];
    SeriesSummary {
        entity: entity.to_string(),
        indicator: indicator.to_string(),
        year,
        unit: unit.to_string(),
        mean: mid,
        sd: mid * s,
        quantiles: k.map(|z| mid * (1.0 + z * s)),
    }
}

fn observed(
    indicator: &str,
    year: i32,
    value: f64,
    growth: Option<f64>,
    vintage: &str,
) -> ObservedPoint {
    ObservedPoint {
        node: "Xiangtan".to_string(),
        indicator: indicator.to_string(),
        year,
        value,
        unit: "亿元".to_string(),
        real_growth_pct: growth,
        vintage: vintage.to_string(),
        source: "test <source> & \"quotes\"".to_string(),
    }
}

/// A small fixed run: one node with two indicators, three targets (one not modelled)
/// in two plans, and a history with two vintages.
fn fixture() -> RunResults {
    let mut series = Vec::new();
    for (i, year) in (2020..=2025).enumerate() {
        let t = i as f64;
        let s = 0.02 * t;
        series.push(row(
            "Xiangtan",
            "service_va",
            "亿元",
            year,
            1000.0 * 1.08_f64.powf(t),
            s,
        ));
        series.push(row(
            "Xiangtan",
            "service_va_real_growth",
            "% per year",
            year,
            6.5,
            s,
        ));
    }
    RunResults {
        info: RunInfo {
            version: "0.1.0".to_string(),
            scenario: "small".to_string(),
            base_year: 2020,
            horizon: 2025,
            seed: 7,
            draws: 1000,
            threads: 2,
            wall_time_s: 0.5,
            files: vec![InputFile {
                role: "scenario".to_string(),
                path: "scenarios/small.toml".to_string(),
                sha256: sha256_hex(b"scenario"),
            }],
            calibration: CalibrationInfo {
                calibrated: true,
                note: "the latest backtest's 90% bands held 88% of 40 observed values".to_string(),
                coverage90: Some(0.88),
                points: Some(40),
            },
        },
        series,
        targets: vec![
            TargetResult {
                plan: "xt".to_string(),
                target_id: "xt-va-2025".to_string(),
                node: "Xiangtan".to_string(),
                indicator: "service_va".to_string(),
                year: 2025,
                comparator: ">=".to_string(),
                target: 1500.0,
                unit: "亿元".to_string(),
                p_met: Some(0.412),
                p_met_se: Some((0.412_f64 * 0.588 / 1000.0).sqrt()),
                p05: Some(1200.0),
                p50: Some(1469.3),
                p95: Some(1750.0),
                required_growth: Some(8.4472),
                status: TargetStatus::Modelled,
                reason: String::new(),
                quote: "力争到2025年，实现服务业增加值1500亿元 | 测试".to_string(),
            },
            TargetResult {
                plan: "xt".to_string(),
                target_id: "xt-growth-2025".to_string(),
                node: "Xiangtan".to_string(),
                indicator: "service_va_real_growth".to_string(),
                year: 2025,
                comparator: ">=".to_string(),
                target: 7.5,
                unit: "% per year".to_string(),
                p_met: Some(0.95),
                p_met_se: Some((0.95_f64 * 0.05 / 1000.0).sqrt()),
                p05: Some(5.1),
                p50: Some(6.5),
                p95: Some(7.9),
                required_growth: Some(7.5),
                status: TargetStatus::Modelled,
                reason: String::new(),
                quote: "年均增长7.5%".to_string(),
            },
            TargetResult {
                plan: "hy".to_string(),
                target_id: "hy-finance-2025".to_string(),
                node: "Hengyang".to_string(),
                indicator: "financial_va_share_of_gdp".to_string(),
                year: 2025,
                comparator: ">=".to_string(),
                target: 5.0,
                unit: "%".to_string(),
                p_met: None,
                p_met_se: None,
                p05: None,
                p50: None,
                p95: None,
                required_growth: None,
                status: TargetStatus::NotModelled,
                reason: "sub-sector value added (finance) is not modelled".to_string(),
                quote: "金融业增加值占GDP比重达5%以上".to_string(),
            },
        ],
        plans: vec![
            PlanResult {
                plan: "xt".to_string(),
                title: "湘潭市“十四五”服务业发展规划".to_string(),
                targets_total: 2,
                targets_modelled: 2,
                p_all_met: Some(0.4),
                p_all_met_se: Some((0.4_f64 * 0.6 / 1000.0).sqrt()),
            },
            PlanResult {
                plan: "hy".to_string(),
                title: "衡阳市“十四五”服务业发展规划".to_string(),
                targets_total: 1,
                targets_modelled: 0,
                p_all_met: None,
                p_all_met_se: None,
            },
        ],
        observed: vec![
            observed("service_va", 2015, 595.46, None, "plan_document"),
            observed("service_va", 2017, 886.54, Some(9.0), "first_published"),
            observed("service_va", 2018, 994.27, Some(8.0), "first_published"),
            observed("service_va", 2019, 999.57, Some(7.0), "revised"),
            observed("service_va", 2020, 999.21, None, "revised"),
        ],
        flows: Vec::new(),
    }
}

/// Renders one report file of the fixture (no comparison) as text.
fn render(name: &str, lang: Lang) -> String {
    render_of(&fixture(), name, lang)
}

/// The file `name` of the report on `results`.
fn render_of(results: &RunResults, name: &str, lang: Lang) -> String {
    let options = ReportOptions {
        lang,
        templates: Templates::default(),
    };
    let exporters = report::report_exporters(results, Vec::new(), options);
    let exporter = exporters
        .iter()
        .find(|e| e.file_name() == name)
        .unwrap_or_else(|| panic!("no exporter writes {name}"));
    String::from_utf8(exporter.render(results).unwrap()).unwrap()
}

#[test]
fn report_md_snapshot() {
    insta::assert_snapshot!("report_md", render("report.md", Lang::Both));
}

#[test]
fn chart_svg_snapshot() {
    insta::assert_snapshot!(
        "chart_svg",
        render("charts/Xiangtan-service_va.svg", Lang::Both)
    );
}

#[test]
fn chart_svg_is_well_formed_xml_with_the_target() {
    let svg = render("charts/Xiangtan-service_va.svg", Lang::Zh);
    let doc = scraper::Html::parse_fragment(&svg);
    let texts: String = doc.root_element().text().collect();
    assert!(texts.contains("湘潭 — 服务业增加值"), "{texts}");
    assert!(texts.contains("≥ 1500: P = 41.2%"), "{texts}");
    // One point per observed year.
    assert_eq!(svg.matches("<circle").count(), 5 + 1);
    assert!(svg.contains("Noto Sans CJK SC"));
}

#[test]
fn html_is_self_contained_and_parses() {
    let html = render("report.html", Lang::Both);
    let doc = scraper::Html::parse_document(&html);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    let any = scraper::Selector::parse("[src], [href]").unwrap();
    for element in doc.select(&any) {
        for attr in ["src", "href"] {
            if let Some(value) = element.value().attr(attr) {
                assert!(value.starts_with('#'), "external reference {attr}={value}");
            }
        }
    }
    for tag in ["script", "link", "img", "iframe"] {
        let selector = scraper::Selector::parse(tag).unwrap();
        assert_eq!(doc.select(&selector).count(), 0, "<{tag}> in the report");
    }
    assert!(!html.contains("@import"));
    let svgs = scraper::Selector::parse("svg").unwrap();
    assert_eq!(doc.select(&svgs).count(), 2);
    // Text from the data is escaped, the inlined CSS is not.
    assert!(html.contains("1500亿元 | 测试"));
    assert!(html.contains("<style>\nbody {"));
}

#[test]
fn every_target_of_feasibility_csv_is_in_the_report() {
    let bytes = FeasibilityCsv.render(&fixture()).unwrap();
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let ids: Vec<String> = reader
        .records()
        .map(|r| r.unwrap().get(1).unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3);
    for lang in [Lang::Zh, Lang::En, Lang::Both] {
        let md = render("report.md", lang);
        let html = render("report.html", lang);
        for id in &ids {
            assert!(
                md.contains(id.as_str()),
                "{id} missing in report.md ({lang})"
            );
            assert!(
                html.contains(id.as_str()),
                "{id} missing in report.html ({lang})"
            );
        }
    }
}

#[test]
fn verdicts_and_bands_are_stated() {
    let md = render("report.md", Lang::En);
    for band in ["≥ 90%", "66%–90%", "33%–66%", "10%–33%", "< 10%"] {
        assert!(md.contains(band), "{band}");
    }
    assert!(md.contains("| **about as likely as not** |"));
    assert!(md.contains("| **very likely** |"));
    let zh = render("report.md", Lang::Zh);
    assert!(zh.contains("很可能") && !zh.contains("very likely"));
}

#[test]
fn delivered_growth_follows_the_rule() {
    let md = render("report.md", Lang::En);
    // Levels: the longest same-vintage span (2017–2018 and 2019–2020 tie; the later wins).
    let g = ((999.21_f64 / 999.57) - 1.0) * 100.0;
    assert!(md.contains(&format!("{g:.2} (2019–2020)")), "{md}");
    // Real growth: mean of published rates after 2015.
    assert!(md.contains("8.00 (2017–2019)"), "{md}");
}

#[test]
fn excel_csv_files_start_with_the_bom_and_round_trip() {
    let results = fixture();
    let exporters = report::run_exporters(&results, None, true);
    let mut csv_files = 0;
    for e in &exporters {
        let bytes = e.render(&results).unwrap();
        if !e.file_name().ends_with(".csv") {
            assert!(!bytes.starts_with(&UTF8_BOM), "{}", e.file_name());
            continue;
        }
        csv_files += 1;
        assert!(bytes.starts_with(&UTF8_BOM), "{}", e.file_name());
        let plain = standard_exporters()
            .into_iter()
            .find(|p| p.file_name() == e.file_name())
            .unwrap()
            .render(&results)
            .unwrap();
        assert_eq!(&bytes[3..], plain.as_slice());
        let parse = |data: &[u8]| -> Vec<Vec<String>> {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(data);
            reader
                .records()
                .map(|r| r.unwrap().iter().map(str::to_string).collect())
                .collect()
        };
        assert_eq!(parse(&bytes), parse(&plain), "{}", e.file_name());
    }
    assert!(csv_files >= 4);
}

#[test]
fn run_outputs_with_report_include_charts_in_a_sub_folder() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("out");
    let results = fixture();
    let exporters = report::run_exporters(&results, Some(ReportOptions::default()), false);
    let written = write_outputs(&dir, &results, &exporters).unwrap();
    assert!(written.iter().all(|p| p.is_file()));
    assert!(dir.join("charts/Xiangtan-service_va.svg").is_file());
    assert!(
        dir.join("charts/Xiangtan-service_va_real_growth.svg")
            .is_file()
    );
    let manifest = fs::read_to_string(dir.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"charts/Xiangtan-service_va.svg\""));
    // A second run replaces the folder, sub-folder included.
    write_outputs(&dir, &results, &exporters).unwrap();
    assert!(dir.join("report.html").is_file());
}

/// An exporter with a given file name.
struct Named(&'static str);

impl Exporter for Named {
    fn file_name(&self) -> &'static str {
        self.0
    }

    fn render(&self, _results: &RunResults) -> xiang::Result<Vec<u8>> {
        Ok(b"x".to_vec())
    }
}

#[test]
fn unsafe_output_names_are_refused() {
    let root = tempfile::tempdir().unwrap();
    for name in ["a/b/c.svg", "../x.svg", "/abs.svg", "./x.svg", "a/../x"] {
        let dir = root.path().join("out");
        let exporters: Vec<Box<dyn Exporter>> = vec![Box::new(Named(name))];
        let error = write_outputs(&dir, &fixture(), &exporters).unwrap_err();
        assert!(matches!(error, Error::Write { .. }), "{name}: {error:?}");
        assert!(!dir.exists(), "{name}");
    }
}

#[test]
fn result_folders_read_back() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("out");
    let results = fixture();
    write_outputs(&dir, &results, &report::run_exporters(&results, None, true)).unwrap();
    let back = load_results(&dir).unwrap();
    assert_eq!(back.info, results.info);
    assert_eq!(back.targets.len(), results.targets.len());
    for (a, b) in back.targets.iter().zip(&results.targets) {
        // Numbers are written with six significant digits.
        let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-5 * y.abs(),
            (x, y) => x == y,
        };
        assert_eq!(
            (&a.target_id, &a.quote, a.status),
            (&b.target_id, &b.quote, b.status)
        );
        assert!(
            close(a.p_met, b.p_met) && close(a.p_met_se, b.p_met_se),
            "{a:?}"
        );
        assert_eq!(
            (a.p50, a.required_growth, &a.reason),
            (b.p50, b.required_growth, &b.reason)
        );
    }
    assert_eq!(back.plans.len(), 2);
    assert_eq!(back.observed, results.observed);
    assert_eq!(back.series.len(), results.series.len());
    for (a, b) in back.series.iter().zip(&results.series) {
        assert_eq!(
            (&a.entity, &a.indicator, a.year),
            (&b.entity, &b.indicator, b.year)
        );
        assert!((a.quantiles[3] - b.quantiles[3]).abs() <= 1e-5 * b.quantiles[3].abs());
    }
}

#[test]
fn bad_result_files_name_file_line_and_column() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("out");
    let results = fixture();
    write_outputs(&dir, &results, &standard_exporters()).unwrap();
    let path = dir.join("feasibility.csv");
    let text = fs::read_to_string(&path)
        .unwrap()
        .replacen("0.412", "zero", 1);
    fs::write(&path, text).unwrap();
    let error = load_results(&dir).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    let message = error.to_string();
    assert!(
        message.contains("feasibility.csv:2: key `p_met`"),
        "{message}"
    );
    assert!(message.contains("`zero` is not a number"), "{message}");

    fs::remove_file(dir.join("plans.csv")).unwrap();
    let error = load_results(&dir).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    assert!(error.to_string().contains("plans.csv"), "{error}");
}

#[test]
fn templates_are_overridden_by_file_name() {
    let root = tempfile::tempdir().unwrap();
    fs::write(
        root.path().join("report.md.j2"),
        "Custom {{ runs[0].scenario }}: {% for t in targets %}{{ t.target_id }} {% endfor %}\n",
    )
    .unwrap();
    let templates = Templates::load(Some(root.path())).unwrap();
    let results = fixture();
    let options = ReportOptions {
        lang: Lang::En,
        templates,
    };
    let exporters = report::report_exporters(&results, Vec::new(), options);
    let md = String::from_utf8(exporters[0].render(&results).unwrap()).unwrap();
    assert_eq!(md, "Custom small: xt-va-2025 xt-growth-2025 \n");
    // The HTML keeps the built-in template.
    let html = String::from_utf8(exporters[1].render(&results).unwrap()).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
}

#[test]
fn broken_templates_name_file_and_line() {
    let root = tempfile::tempdir().unwrap();
    fs::write(
        root.path().join("report.html.j2"),
        "<html>\n<body>\n{% for t in targets %}\n{{ t.target_id }\n</body>\n",
    )
    .unwrap();
    let templates = Templates::load(Some(root.path())).unwrap();
    let results = fixture();
    let options = ReportOptions {
        lang: Lang::En,
        templates,
    };
    let exporters = report::report_exporters(&results, Vec::new(), options);
    let error = exporters[1].render(&results).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    let message = error.to_string();
    assert!(message.contains("report.html.j2:4"), "{message}");

    let missing = Templates::load(Some(&root.path().join("nope"))).unwrap_err();
    assert_eq!(missing.exit_code(), 2);
}

#[test]
fn several_runs_are_compared() {
    let main = fixture();
    let mut other = fixture();
    other.info.scenario = "high".to_string();
    other.targets[0].p_met = Some(0.7);
    let options = ReportOptions {
        lang: Lang::En,
        templates: Templates::default(),
    };
    let exporters = report::report_exporters(&main, vec![other], options);
    let md = String::from_utf8(exporters[0].render(&main).unwrap()).unwrap();
    assert!(md.contains("## Scenario comparison"));
    assert!(
        md.contains("| Target | Target value | small | high |"),
        "{md}"
    );
    assert!(md.contains("| 41.2% | 70.0% |"), "{md}");
    assert!(md.contains("xiang run scenarios/small.toml --seed 7 --draws 1000"));
}

fn xiang(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xiang"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn report_command_writes_beside_the_results() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let results = fixture();
    write_outputs(&dir, &results, &standard_exporters()).unwrap();
    let summary = fs::read(dir.join("summary.csv")).unwrap();
    let dir_arg = dir.to_str().unwrap();

    let out = xiang(&["report", dir_arg, "--lang", "zh"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("report.md").is_file());
    assert!(dir.join("report.html").is_file());
    assert!(dir.join("charts/Xiangtan-service_va.svg").is_file());
    assert_eq!(fs::read(dir.join("summary.csv")).unwrap(), summary);

    let elsewhere = root.path().join("report");
    let out = xiang(&[
        "report",
        dir_arg,
        dir_arg,
        "--out",
        elsewhere.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = fs::read_to_string(elsewhere.join("report.md")).unwrap();
    assert!(md.contains("情景比较 / Scenario comparison"));

    let bad = xiang(&["report", root.path().join("missing").to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = xiang(&["report", dir_arg, "--lang", "fr"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn templates_folder_must_exist() {
    let dir = Path::new("definitely-not-a-templates-folder");
    assert!(Templates::load(Some(dir)).is_err());
}

#[test]
fn uncalibrated_probabilities_say_so_next_to_every_verdict() {
    let mut results = fixture();
    let calibrated_md = render_of(&results, "report.md", Lang::En);
    assert!(!calibrated_md.contains("uncalibrated"), "{calibrated_md}");
    assert!(calibrated_md.contains("held 88% of 40 observed values"));

    results.info.calibration = CalibrationInfo {
        calibrated: false,
        note: "the latest backtest scored 17 points, fewer than the 36 needed".to_string(),
        coverage90: Some(16.0 / 17.0),
        points: Some(17),
    };
    let zh = render_of(&results, "report.md", Lang::Zh);
    assert!(
        zh.contains("**概率未经校准。**") && zh.contains("仅评估了17个观测值"),
        "{zh}"
    );
    assert!(zh.contains("（未校准）**") && !zh.contains("fewer than"));
    let md = render_of(&results, "report.md", Lang::En);
    assert!(md.contains("**Probabilities are uncalibrated.**"), "{md}");
    assert!(md.contains("fewer than the 36 needed"));
    // Every verdict cell of a probability carries the mark: the rows of modelled
    // targets (`| xt-…`) and of plans with a joint probability (`(\`xt\`)`).
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| xt-") || (l.contains("(`") && !l.contains("no modelled")))
        .collect();
    assert!(rows.len() >= 3, "{rows:?}");
    for line in rows {
        assert!(
            line.contains(" (uncalibrated)**") || line.ends_with("(uncalibrated) |"),
            "{line}"
        );
    }

    // The CSV files and the Markdown summary say it too.
    let csv = String::from_utf8(FeasibilityCsv.render(&results).unwrap()).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "calibration").unwrap();
    for line in csv.lines().skip(1) {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes());
        let rec = rdr.records().next().unwrap().unwrap();
        let has_p = !rec[8].is_empty();
        assert_eq!(&rec[col], if has_p { "uncalibrated" } else { "" }, "{line}");
    }
    let summary = String::from_utf8(FeasibilityMarkdown.render(&results).unwrap()).unwrap();
    assert!(summary.contains("41.2% ± 3.1 (uncalibrated)"), "{summary}");
}

#[test]
fn tracked_observations_and_observed_targets_are_reported() {
    let mut results = fixture();
    results
        .observed
        .push(observed("service_va", 2022, 1234.5, None, "tracked"));
    let t = &mut results.targets[0];
    t.year = 2022;
    t.status = TargetStatus::Met;
    t.p_met = None;
    t.p_met_se = None;
    t.reason = "observed 2022: 1234.5".to_string();
    let md = render_of(&results, "report.md", Lang::En);
    let section = md
        .split("## Observations used after the base year")
        .nth(1)
        .unwrap();
    let section = section.split("\n## ").next().unwrap();
    assert!(section.contains("| 2022 | 1234.5 亿元 |"), "{section}");
    assert!(md.contains("**met (observed)**"), "{md}");
    assert!(md.contains("observed 2022: 1234.5"));

    // The folder reads back with the met status and the tracked row.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("out");
    write_outputs(
        &dir,
        &results,
        &report::run_exporters(&results, None, false),
    )
    .unwrap();
    let back = load_results(&dir).unwrap();
    assert_eq!(back.targets[0].status, TargetStatus::Met);
    assert!(back.observed.iter().any(|o| o.vintage == "tracked"));
    assert_eq!(back.info.calibration, results.info.calibration);
}
