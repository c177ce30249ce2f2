//! Tracking: runs conditioned on values observed after the base year.

mod common;

use xiang::engine::RunSettings;
use xiang::results::{RunResults, TargetStatus};
use xiang::run::run_scenario;
use xiang::scenario::load;

fn run(dir: &std::path::Path, observed: &str) -> RunResults {
    let blocks = vec![common::target(
        "va-2025",
        "Solo",
        "service_va",
        ">=",
        620.0,
        "亿元",
        "nominal_level",
        "",
    )];
    let targets = common::targets_file("track", &blocks);
    let text = common::scenario(&[
        ("service_trend", "{ mean = 7.0, sd = 1.5 }"),
        ("volatility", "1.5"),
        ("persistence", "0.5"),
        ("targets", r#"["track.toml"]"#),
    ]) + observed;
    let path = common::write(dir, &text, &[("track.toml", &targets)]);
    let scn = load(&path).unwrap();
    run_scenario(
        &scn,
        RunSettings {
            draws: 20_000,
            seed: 9,
            threads: 2,
        },
        &|_| {},
    )
    .unwrap()
}

fn observation(year: i32, value: f64) -> String {
    format!(
        "\n[[observed]]\nnode = \"Solo\"\nindicator = \"service_va\"\nyear = {year}\nvalue = {value}\nsource = \"statistical communique\"\n"
    )
}

fn p_met(r: &RunResults) -> f64 {
    r.targets[0].p_met.unwrap()
}

fn median(r: &RunResults, year: i32) -> f64 {
    r.series
        .iter()
        .find(|s| s.entity == "Solo" && s.indicator == "service_va" && s.year == year)
        .unwrap()
        .quantiles[3]
}

#[test]
fn observing_the_median_changes_little_and_a_shortfall_lowers_p_met() {
    let dir = tempfile::tempdir().unwrap();
    let free = run(dir.path(), "");
    let p0 = p_met(&free);
    assert!(p0 > 0.2 && p0 < 0.8, "{p0}");
    let m2022 = median(&free, 2022);

    let on_track = run(dir.path(), &observation(2022, m2022));
    assert!(
        (p_met(&on_track) - p0).abs() < 0.06,
        "{} vs {p0}",
        p_met(&on_track)
    );
    // The observed year is fixed in every draw; later years are narrower than before.
    let sd = |r: &RunResults, y: i32| {
        r.series
            .iter()
            .find(|s| s.entity == "Solo" && s.indicator == "service_va" && s.year == y)
            .unwrap()
            .sd
    };
    assert_eq!(sd(&on_track, 2022), 0.0);
    assert!(sd(&on_track, 2025) < sd(&free, 2025));

    let shortfall = run(dir.path(), &observation(2022, 0.92 * m2022));
    assert!(
        p_met(&shortfall) < p0 - 0.2,
        "{} vs {p0}",
        p_met(&shortfall)
    );
    // Every draw holds the observed value (the sketch reports it within 0.05%).
    let m = median(&shortfall, 2022);
    assert!((m / (0.92 * m2022) - 1.0).abs() < 5e-4, "{m}");
    // The observation is reported with the history.
    assert!(
        shortfall
            .observed
            .iter()
            .any(|o| o.year == 2022 && o.vintage == "tracked")
    );
}

#[test]
fn an_observed_target_year_is_met_or_missed() {
    let dir = tempfile::tempdir().unwrap();
    let met = run(dir.path(), &observation(2025, 650.0));
    assert_eq!(met.targets[0].status, TargetStatus::Met);
    assert_eq!(met.targets[0].p_met, None);
    assert_eq!(met.targets[0].p50, Some(650.0));
    assert_eq!(met.plans[0].p_all_met, Some(1.0));
    let missed = run(dir.path(), &observation(2025, 600.0));
    assert_eq!(missed.targets[0].status, TargetStatus::Missed);
    assert_eq!(missed.plans[0].p_all_met, Some(0.0));
}

#[test]
fn bad_observations_are_rejected_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let text = common::scenario(&[("nodes", r#"["Solo", "Near", "Far"]"#)])
        + "\n[[observed]]\nnode = \"Sol\"\nindicator = \"service_va\"\nyear = 2022\nvalue = 1.0\nsource = \"x\"\n"
        + "\n[[observed]]\nnode = \"Solo\"\nindicator = \"tourism\"\nyear = 2030\nvalue = -1.0\nsource = \"\"\n"
        + "\n[[observed]]\nnode = \"Far\"\nindicator = \"service_va\"\nyear = 2022\nvalue = 5.0\nsource = \"x\"\n";
    let path = common::write(dir.path(), &text, &[]);
    let err = load(&path).unwrap_err().to_string();
    for key in [
        "observed[0].node",
        "observed[1].indicator",
        "observed[1].year",
        "observed[1].value",
        "observed[1].source",
        "observed[2].indicator",
    ] {
        assert!(
            err.contains(&format!("key `{key}`")),
            "{key} missing in:\n{err}"
        );
    }
}
