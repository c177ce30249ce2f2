//! Backtest scoring on hand-computed cases, and the shipped 2017 backtest end to end.

use std::path::Path;

use statrs::distribution::{Continuous, ContinuousCDF, Normal};
use xiang::backtest::{
    CalibrationStatus, Coverage, MIN_POINTS, calibration_status, crps_sorted, run_backtest, score,
    write_backtest,
};
use xiang::engine::RunSettings;

fn shipped(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

#[test]
fn value_at_the_median_has_pit_one_half() {
    let draws: Vec<f64> = (1..=101).rev().map(f64::from).collect();
    let s = score(&draws, 51.0).unwrap();
    assert_eq!(s.pit, 0.5);
    assert_eq!(s.quantiles[2], 51.0);
    // Even count, value between the middle two.
    let even: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(score(&even, 50.5).unwrap().pit, 0.5);
    // Outside every draw: 0 and 1.
    assert_eq!(score(&even, 0.0).unwrap().pit, 0.0);
    assert_eq!(score(&even, 1000.0).unwrap().pit, 1.0);
}

#[test]
fn band_membership_follows_type7_quantiles() {
    // 1..=101: p05 = 6, p25 = 26, p75 = 76, p95 = 96.
    let draws: Vec<f64> = (1..=101).map(f64::from).collect();
    let at = |y: f64| score(&draws, y).unwrap();
    assert_eq!(at(6.0).quantiles, [6.0, 26.0, 51.0, 76.0, 96.0]);
    assert!(at(6.0).in90 && !at(6.0).in50);
    assert!(!at(5.9).in90);
    assert!(at(96.0).in90 && !at(96.1).in90);
    assert!(at(26.0).in50 && !at(25.9).in50 && at(76.0).in50 && !at(76.1).in50);
}

#[test]
fn crps_by_hand_and_point_mass() {
    // {1, 2, 3} at 2: E|X − y| = 2/3, E|X − X′| = 8/9, CRPS = 2/3 − 4/9 = 2/9.
    assert!((crps_sorted(&[1.0, 2.0, 3.0], 2.0) - 2.0 / 9.0).abs() < 1e-15);
    // A point mass is the absolute error.
    assert!((crps_sorted(&[5.0; 10], 2.0) - 3.0).abs() < 1e-12);
    // score() sorts first.
    assert!((score(&[3.0, 1.0, 2.0], 2.0).unwrap().crps - 2.0 / 9.0).abs() < 1e-15);
}

#[test]
fn crps_of_a_normal_matches_its_closed_form() {
    // CRPS(N(μ, σ²), y) = σ [z (2Φ(z) − 1) + 2φ(z) − 1/√π], z = (y − μ)/σ.
    let (mu, sigma) = (7.0, 1.5);
    let std = Normal::new(0.0, 1.0).unwrap();
    let n = 20_000;
    let draws: Vec<f64> = (0..n)
        .map(|i| mu + sigma * std.inverse_cdf((i as f64 + 0.5) / n as f64))
        .collect();
    for y in [7.0, 8.2, 3.0, 12.0] {
        let z = (y - mu) / sigma;
        let exact = sigma
            * (z * (2.0 * std.cdf(z) - 1.0) + 2.0 * std.pdf(z) - 1.0 / std::f64::consts::PI.sqrt());
        let got = crps_sorted(&draws, y);
        assert!(
            (got - exact).abs() < 2e-4 * sigma,
            "y = {y}: {got} vs {exact}"
        );
    }
}

#[test]
fn coverage_counts_and_binomial_uncertainty() {
    let c = Coverage::new(9, 10);
    assert_eq!((c.hits, c.n), (9, 10));
    assert!((c.rate - 0.9).abs() < 1e-15);
    assert!((c.se - 0.09f64.sqrt() / 10f64.sqrt()).abs() < 1e-15);
    // Wilson 95% interval for 9/10: (0.5958, 0.9821).
    assert!((c.wilson95[0] - 0.5958).abs() < 1e-4, "{:?}", c.wilson95);
    assert!((c.wilson95[1] - 0.9821).abs() < 1e-4, "{:?}", c.wilson95);
    let none = Coverage::new(0, 0);
    assert_eq!((none.rate, none.wilson95), (0.0, [0.0, 1.0]));
}

#[test]
fn shipped_backtest_scores_like_with_like_and_is_uncalibrated() {
    let settings = RunSettings {
        draws: 2000,
        seed: 5,
        threads: 2,
    };
    let scn = xiang::scenario::load(&shipped("backtest-2017.toml")).unwrap();
    let bt = run_backtest(&scn, &shipped("data/history.csv"), settings, &|_| {}).unwrap();
    let s = &bt.summary;
    assert_eq!((s.base_year, s.horizon), (2017, 2020));
    // Levels only where the vintage matches the base (first published, i.e. 2018);
    // published real growth in every year.
    for p in &bt.points {
        assert!(p.seen.year > 2017 && p.seen.year <= 2020);
        if !p.seen.indicator.ends_with("_yoy") {
            assert_eq!(
                (p.seen.year, p.seen.vintage.as_str()),
                (2018, "first_published")
            );
        }
        assert!((0.0..=1.0).contains(&p.score.pit) && p.score.crps >= 0.0);
    }
    assert!(s.skipped.iter().all(|k| k.reason.contains("vintage")));
    let hits = bt.points.iter().filter(|p| p.score.in90).count();
    assert_eq!(s.coverage90.hits, hits);
    assert_eq!(s.points, bt.points.len());
    assert!(s.points < MIN_POINTS);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bt");
    let written = write_backtest(&out, &bt).unwrap();
    assert_eq!(written.len(), 3);
    let csv = std::fs::read_to_string(out.join("backtest.csv")).unwrap();
    assert_eq!(csv.lines().count(), bt.points.len() + 1);
    assert!(csv.starts_with(
        "node,indicator,unit,year,observed,vintage,p05,p25,p50,p75,p95,pit,crps,in50,in90\n"
    ));
    // Rewriting replaces the folder whole.
    write_backtest(&out, &bt).unwrap();
    match calibration_status(&out.join("backtest-summary.json")) {
        CalibrationStatus::Uncalibrated { reason, .. } => assert!(reason.contains("points")),
        other => panic!("expected uncalibrated, got {other:?}"),
    }
}

#[test]
fn status_reads_a_summary_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("backtest-summary.json");
    let write = |hits: usize, n: usize| {
        let c = Coverage::new(hits, n);
        let json = serde_json::json!({ "points": n, "coverage90": c });
        std::fs::write(&p, json.to_string()).unwrap();
    };
    write(36, 40);
    assert_eq!(
        calibration_status(&p),
        CalibrationStatus::Calibrated {
            coverage90: 0.9,
            n: 40
        }
    );
    write(30, 40); // 75%
    assert!(!calibration_status(&p).is_calibrated());
    write(30, 30); // 100% of too few
    assert!(!calibration_status(&p).is_calibrated());
    std::fs::write(&p, "not json").unwrap();
    assert!(!calibration_status(&p).is_calibrated());
}
