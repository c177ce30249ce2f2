//! Analytic properties of the projection: compound growth without uncertainty, closed-form
//! probabilities, independence from the thread count, and joint-probability bounds.

mod common;

use statrs::distribution::{ContinuousCDF, Normal};
use xiang::engine::{RunSettings, simulate};
use xiang::export::{Exporter, FeasibilityCsv, SummaryCsv};
use xiang::indicator::Indicator;
use xiang::results::{RunResults, TargetResult, TargetStatus};
use xiang::run::run_scenario;
use xiang::scenario::load;

fn run(path: &std::path::Path, draws: u64, threads: usize) -> RunResults {
    let scn = load(path).unwrap();
    let settings = RunSettings {
        draws,
        seed: 11,
        threads,
    };
    run_scenario(&scn, settings, &|_| {}).unwrap()
}

fn series(r: &RunResults, entity: &str, indicator: &str, year: i32) -> f64 {
    let s = r
        .series
        .iter()
        .find(|s| s.entity == entity && s.indicator == indicator && s.year == year)
        .unwrap_or_else(|| panic!("no series {entity} {indicator} {year}"));
    assert!(
        s.sd <= 1e-12 * s.mean.abs().max(1.0),
        "{entity} {indicator} {year} should be deterministic, sd {}",
        s.sd
    );
    s.mean
}

fn rel(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

#[test]
fn zero_variance_run_equals_compound_growth() {
    let dir = tempfile::tempdir().unwrap();
    // Service trend 7% slowing by 0.3 points a year, non-service 5%, deflator 2%, ρ = 0.2:
    // with no shocks every deviation is zero, so spillovers vanish and growth is the trend.
    let text = common::scenario(&[("service_slowdown", "-0.3"), ("non_service_trend", "5.0")]);
    let path = common::write(dir.path(), &text, &[]);
    let r = run(&path, 3, 2);
    let (s0, n0, es0, l0) = (400.0, 600.0, 100.0, 2000.0);
    let en0 = 100.0 * 60.0 / 40.0;
    let (mut s, mut n, mut real_s, mut es, mut en) = (s0, n0, 1.0, es0, en0);
    for t in 1..=5 {
        let year = 2020 + t;
        let gs = 0.07 - 0.003 * (t - 1) as f64;
        s *= (1.0 + gs) * 1.02;
        n *= 1.05 * 1.02;
        real_s *= 1.0 + gs;
        es *= 1.0 + 0.5 * gs;
        en *= 1.0 - 0.01;
        assert!(rel(series(&r, "Solo", "service_va", year), s) < 1e-9);
        assert!(rel(series(&r, "Solo", "non_service_va", year), n) < 1e-9);
        assert!(rel(series(&r, "Solo", "gdp", year), s + n) < 1e-9);
        assert!(
            rel(
                series(&r, "Solo", "service_share_of_gdp", year),
                100.0 * s / (s + n)
            ) < 1e-9
        );
        let cagr = 100.0 * (real_s.powf(1.0 / t as f64) - 1.0);
        assert!(rel(series(&r, "Solo", "service_va_real_growth", year), cagr) < 1e-9);
        assert!(rel(series(&r, "Solo", "service_employment", year), es) < 1e-9);
        assert!(rel(series(&r, "Solo", "non_service_employment", year), en) < 1e-9);
        // Group levels are sums of the members' compound paths.
        let near_s = 250.0 * (s / s0);
        assert!(rel(series(&r, "Pair", "service_va", year), s + near_s) < 1e-9);
    }
    // Logistics: with equal sector growth everywhere, gravity activity grows with real
    // output, so L grows by (1 + λ g)(1 + π) a year.
    let text = common::scenario(&[]);
    let path = common::write(dir.path(), &text, &[]);
    let r = run(&path, 2, 1);
    let l5 = l0 * ((1.0 + 0.8 * 0.07) * 1.02_f64).powi(5);
    assert!(rel(series(&r, "Solo", "logistics_total", 2025), l5) < 1e-9);
}

/// P(X ≥ x) for X ~ Normal(mean, sd).
fn upper(mean: f64, sd: f64, x: f64) -> f64 {
    1.0 - Normal::new(mean, sd).unwrap().cdf(x)
}

fn target_named<'a>(r: &'a RunResults, id: &str) -> &'a TargetResult {
    r.targets.iter().find(|t| t.target_id == id).unwrap()
}

fn assert_within_3se(t: &TargetResult, exact: f64) {
    let p = t.p_met.unwrap();
    let se = t.p_met_se.unwrap().max(1e-4);
    assert!(
        (p - exact).abs() < 3.0 * se,
        "{}: P(met) = {p:.5} ± {se:.5}, closed form {exact:.5}",
        t.target_id
    );
}

#[test]
fn lognormal_levels_match_closed_form_probabilities() {
    // One node, no trend uncertainty, no persistence, no jumps, ρ = 0, no inflation:
    // S_5 = S_0 Π (1 + μ + σ z_t). log(1 + μ + σ z) = log(1+μ) + σz/(1+μ) − σ²z²/(2(1+μ)²) + …,
    // so log S_5 is normal with mean 5 (log(1+μ) − σ²/(2(1+μ)²)) and variance 5 σ²/(1+μ)²
    // up to terms of order σ³ (below 1e-5 in log level here, far under Monte Carlo error).
    let (mu, sigma, s0) = (0.07_f64, 0.02_f64, 400.0_f64);
    let m = 5.0 * ((1.0 + mu).ln() - sigma * sigma / (2.0 * (1.0 + mu).powi(2)));
    let sd = (5.0_f64).sqrt() * sigma / (1.0 + mu);
    // Thresholds at z = +2.0, +0.8, 0, −1.2 (P from about 2% to 88%).
    let zs = [2.0, 0.8, 0.0, -1.2];
    let blocks: Vec<String> = zs
        .iter()
        .enumerate()
        .map(|(i, z)| {
            let level = s0 * (m + z * sd).exp();
            common::target(
                &format!("t{i}"),
                "Solo",
                "service_va",
                ">=",
                level,
                "亿元",
                "nominal_level",
                "",
            )
        })
        .collect();
    let targets = common::targets_file("ln", &blocks);
    let text = common::scenario(&[
        ("nodes", r#"["Solo"]"#),
        ("rho", "0.0"),
        ("deflator", "0.0"),
        ("volatility", "2.0"),
        ("targets", r#"["ln.toml"]"#),
    ])
    .replace("[groups.Pair]\nmembers = [\"Solo\", \"Near\"]", "");
    let dir = tempfile::tempdir().unwrap();
    let path = common::write(dir.path(), &text, &[("ln.toml", &targets)]);
    let r = run(&path, 40_000, 2);
    for (i, z) in zs.iter().enumerate() {
        let t = target_named(&r, &format!("t{i}"));
        assert_within_3se(t, upper(0.0, 1.0, *z));
    }
    let ps: Vec<f64> = r.targets.iter().map(|t| t.p_met.unwrap()).collect();
    assert!(
        ps[0] < 0.05 && ps[3] > 0.85,
        "targets span unlikely to likely: {ps:?}"
    );
}

#[test]
fn uncertain_trend_gives_exact_normal_probabilities() {
    // Only the trend is uncertain: μ ~ N(7%, 1.5%), drawn once; S_5 = S_0 ((1+μ)(1+π))^5 is
    // monotone in μ, so P(S_5 ≥ X) = P(μ ≥ (X/S_0)^(1/5)/(1+π) − 1) exactly, and the real
    // growth target P(CAGR ≥ g) = P(μ ≥ g).
    let s0 = 400.0_f64;
    let level = |mu: f64| s0 * ((1.0 + mu) * 1.02_f64).powi(5);
    let blocks = vec![
        common::target(
            "lvl-unlikely",
            "Solo",
            "service_va",
            ">",
            level(0.095),
            "亿元",
            "nominal_level",
            "",
        ),
        common::target(
            "lvl-even",
            "Solo",
            "service_va",
            ">=",
            level(0.07),
            "亿元",
            "nominal_level",
            "",
        ),
        common::target(
            "lvl-likely",
            "Solo",
            "service_va",
            ">=",
            level(0.055),
            "亿元",
            "nominal_level",
            "",
        ),
        common::target(
            "growth",
            "Solo",
            "service_va_real_growth",
            ">=",
            7.5,
            "% per year",
            "real_growth",
            "from_year = 2020",
        ),
        common::target(
            "below",
            "Solo",
            "service_va",
            "<",
            level(0.08),
            "亿元",
            "nominal_level",
            "",
        ),
    ];
    let targets = common::targets_file("tr", &blocks);
    let text = common::scenario(&[
        ("service_trend", "{ mean = 7.0, sd = 1.5 }"),
        ("targets", r#"["tr.toml"]"#),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = common::write(dir.path(), &text, &[("tr.toml", &targets)]);
    let r = run(&path, 40_000, 2);
    assert_within_3se(target_named(&r, "lvl-unlikely"), upper(0.07, 0.015, 0.095));
    assert_within_3se(target_named(&r, "lvl-even"), upper(0.07, 0.015, 0.07));
    assert_within_3se(target_named(&r, "lvl-likely"), upper(0.07, 0.015, 0.055));
    assert_within_3se(target_named(&r, "growth"), upper(0.07, 0.015, 0.075));
    assert_within_3se(target_named(&r, "below"), 1.0 - upper(0.07, 0.015, 0.08));
    // The projected median is the trend's median mapped through the level.
    let med = target_named(&r, "lvl-even").p50.unwrap();
    assert!(rel(med, level(0.07)) < 0.003, "{med}");
}

fn render(r: &RunResults, e: &dyn Exporter) -> Vec<u8> {
    e.render(r).unwrap()
}

#[test]
fn thread_count_never_changes_results() {
    // 5000 draws: four full blocks and a partial one.
    let path = common::shipped("baseline.toml");
    let one = run(&path, 5000, 1);
    for threads in [2, 3] {
        let many = run(&path, 5000, threads);
        assert_eq!(render(&one, &SummaryCsv), render(&many, &SummaryCsv));
        assert_eq!(
            render(&one, &FeasibilityCsv),
            render(&many, &FeasibilityCsv)
        );
    }
    // And a different seed does change them (the comparison above can fail).
    let scn = load(&path).unwrap();
    let other = run_scenario(
        &scn,
        RunSettings {
            draws: 5000,
            seed: 12,
            threads: 2,
        },
        &|_| {},
    )
    .unwrap();
    assert_ne!(render(&one, &SummaryCsv), render(&other, &SummaryCsv));
}

#[test]
fn draws_are_independent_of_block_boundaries() {
    // The first 1500 draws of a 3000-draw run equal a 1500-draw run draw for draw.
    let scn = load(&common::shipped("baseline.toml")).unwrap();
    let settings = |draws, threads| RunSettings {
        draws,
        seed: 3,
        threads,
    };
    let small = simulate(&scn, settings(1500, 1), &|_| {}).unwrap();
    let large = simulate(&scn, settings(3000, 2), &|_| {}).unwrap();
    for d in 0..1500 {
        assert_eq!(small.row(d), large.row(d), "draw {d}");
    }
}

#[test]
fn joint_probability_is_bounded_by_the_smallest_single_probability() {
    let r = run(&common::shipped("baseline.toml"), 4000, 2);
    for plan in &r.plans {
        let singles: Vec<f64> = r
            .targets
            .iter()
            .filter(|t| t.plan == plan.plan && t.status == TargetStatus::Modelled)
            .map(|t| t.p_met.unwrap())
            .collect();
        match plan.p_all_met {
            Some(p) => {
                let min = singles.iter().copied().fold(1.0, f64::min);
                assert!(p <= min, "{}: joint {p} > smallest single {min}", plan.plan);
            }
            None => assert!(singles.is_empty()),
        }
        assert_eq!(plan.targets_modelled, singles.len());
    }

    // A plan with one modelled target (and one that is not modelled): joint = single.
    let blocks = vec![
        common::target(
            "only",
            "Solo",
            "service_va",
            ">=",
            560.0,
            "亿元",
            "nominal_level",
            "",
        ),
        common::target(
            "other",
            "Solo",
            "producer_share",
            ">=",
            50.0,
            "%",
            "share",
            "not_modelled = \"sub-sector not modelled\"",
        ),
    ];
    let targets = common::targets_file("one", &blocks);
    let text = common::scenario(&[
        ("service_trend", "{ mean = 7.0, sd = 1.5 }"),
        ("volatility", "1.0"),
        ("targets", r#"["one.toml"]"#),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = common::write(dir.path(), &text, &[("one.toml", &targets)]);
    let r = run(&path, 3000, 2);
    let single = target_named(&r, "only").p_met.unwrap();
    assert!(single > 0.05 && single < 0.95, "{single}");
    assert_eq!(r.plans[0].targets_modelled, 1);
    assert_eq!(r.plans[0].p_all_met, Some(single));
    assert_eq!(target_named(&r, "other").status, TargetStatus::NotModelled);
}

#[test]
fn missing_base_data_is_reported_not_invented() {
    // Near has no employment or logistics base values; Far has nothing at all.
    let blocks = vec![
        common::target(
            "near-emp",
            "Near",
            "service_employment",
            ">=",
            10.0,
            "万人",
            "nominal_level",
            "",
        ),
        common::target(
            "far-va",
            "Far",
            "service_va",
            ">=",
            10.0,
            "亿元",
            "nominal_level",
            "",
        ),
        common::target(
            "far-growth",
            "Far",
            "service_va_real_growth",
            ">=",
            5.0,
            "% per year",
            "real_growth",
            "from_year = 2020",
        ),
    ];
    let targets = common::targets_file("miss", &blocks);
    let text = common::scenario(&[
        ("nodes", r#"["Solo", "Near", "Far"]"#),
        ("targets", r#"["miss.toml"]"#),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = common::write(dir.path(), &text, &[("miss.toml", &targets)]);
    let r = run(&path, 200, 1);
    for id in ["near-emp", "far-va"] {
        let t = target_named(&r, id);
        assert_eq!(t.status, TargetStatus::NotModelled, "{id}");
        assert!(t.reason.contains("missing base data"), "{}", t.reason);
        assert!(t.p_met.is_none() && t.p50.is_none() && t.required_growth.is_none());
    }
    // Real growth needs no level for a single node: it is projected.
    assert_eq!(
        target_named(&r, "far-growth").status,
        TargetStatus::Modelled
    );
    // No level series exists for Far, and none for Near's employment.
    assert!(
        !r.series
            .iter()
            .any(|s| s.entity == "Far" && s.indicator == Indicator::ServiceVa.as_str())
    );
    assert!(
        !r.series
            .iter()
            .any(|s| s.entity == "Near" && s.indicator == "service_employment")
    );
    assert!(
        r.series
            .iter()
            .any(|s| s.entity == "Far" && s.indicator == "service_va_real_growth")
    );
}
