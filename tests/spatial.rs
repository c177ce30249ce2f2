//! Spatial economy: impact matrices, gravity flows, links, hubs and policy impulses.

mod common;

use xiang::engine::RunSettings;
use xiang::engine::layout::{Layout, PathBatch};
use xiang::engine::model::{Model, run_key};
use xiang::engine::simd::Simd;
use xiang::results::RunResults;
use xiang::run::run_scenario;
use xiang::scenario::{Scenario, load};
use xiang::spillovers::spillovers;

fn run(path: &std::path::Path, draws: u64) -> RunResults {
    let scn = load(path).unwrap();
    run_scenario(
        &scn,
        RunSettings {
            draws,
            seed: 4,
            threads: 2,
        },
        &|_| {},
    )
    .unwrap()
}

fn value(r: &RunResults, entity: &str, indicator: &str, year: i32) -> f64 {
    r.series
        .iter()
        .find(|s| s.entity == entity && s.indicator == indicator && s.year == year)
        .unwrap_or_else(|| panic!("no {entity} {indicator} {year}"))
        .mean
}

fn flow(r: &RunResults, origin: &str, destination: &str, year: i32) -> f64 {
    r.flows
        .iter()
        .find(|f| f.origin == origin && f.destination == destination && f.year == year)
        .unwrap_or_else(|| panic!("no flow {origin}→{destination} {year}"))
        .p50
}

fn scenario_with(
    dir: &std::path::Path,
    overrides: &[(&str, &str)],
    extra: &str,
) -> std::path::PathBuf {
    let text = common::scenario(overrides) + extra;
    common::write(dir, &text, &[])
}

#[test]
fn impact_matrix_is_identity_at_zero_rho_and_rows_sum_to_the_multiplier() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = r#"["Solo", "Near", "Far"]"#;
    let scn = load(&scenario_with(
        dir.path(),
        &[("nodes", nodes), ("rho", "0.0")],
        "",
    ))
    .unwrap();
    for e in spillovers(&scn, 10, 1).unwrap() {
        let expected = match e.kind {
            "direct" | "total" => 1.0,
            _ => 0.0,
        };
        assert_eq!(e.mean, expected, "{e:?}");
    }
    // ρ = 0.35: with row-standardized W, each destination's effects from all origins sum
    // to 1/(1 − ρ) (rows of M); each effect is positive.
    let scn = load(&scenario_with(
        dir.path(),
        &[("nodes", nodes), ("rho", "0.35")],
        "",
    ))
    .unwrap();
    let effects = spillovers(&scn, 10, 1).unwrap();
    for dest in ["Solo", "Near", "Far"] {
        let row: f64 = effects
            .iter()
            .filter(|e| e.destination == dest)
            .map(|e| e.mean)
            .sum();
        assert!((row - 1.0 / 0.65).abs() < 1e-12, "{dest}: {row}");
    }
    assert!(effects.iter().all(|e| e.mean > 0.0));
    // With ρ ~ U(0.1, 0.5) the effects have a spread. In every draw the origins' totals
    // add up to K/(1 − ρ) (the sum of all entries of M), so their means add up to
    // K E[1/(1 − ρ)] = 3 × ln(0.9/0.5)/0.4, within Monte Carlo error (sd of the mean of
    // 2000 draws ≈ 0.006 per node).
    let scn = load(&scenario_with(
        dir.path(),
        &[("nodes", nodes), ("rho", "{ low = 0.1, high = 0.5 }")],
        "",
    ))
    .unwrap();
    let effects = spillovers(&scn, 2000, 1).unwrap();
    let totals: Vec<_> = effects.iter().filter(|e| e.kind == "total").collect();
    assert_eq!(totals.len(), 3);
    for t in &totals {
        assert!(
            t.quantiles[0] < t.quantiles[2] && t.quantiles[0] >= 1.0,
            "{t:?}"
        );
    }
    let sum: f64 = totals.iter().map(|t| t.mean).sum();
    let expected = 3.0 * (0.9_f64 / 0.5).ln() / 0.4;
    assert!((sum - expected).abs() < 0.05, "{sum} vs {expected}");
}

#[test]
fn gravity_flows_are_symmetric_when_exponents_and_hubs_are() {
    // Two nodes with output; a = b = 1, equal hubs: F_ij = h ys_i ys_j d^-θ = F_ji.
    let dir = tempfile::tempdir().unwrap();
    let path = scenario_with(
        dir.path(),
        &[
            ("service_trend", "{ mean = 7.0, sd = 1.0 }"),
            ("volatility", "1.0"),
        ],
        "",
    );
    let scn = load(&path).unwrap();
    let draws = 20;
    let (layout, batch) = simulate_batch(&scn, draws);
    // Each recorded flow: in the base year, and in its year t = 1..=5.
    let flow = |batch: &PathBatch, d: usize, i: usize, j: usize, t: usize| {
        let f = layout
            .flows
            .iter()
            .position(|f| (f.origin, f.destination, f.t) == (i, j, t))
            .expect("the flow is recorded");
        batch.flow(f, d)
    };
    for d in 0..draws {
        for t in 1..=5 {
            let ((a0, a), (b0, b)) = (flow(&batch, d, 0, 1, t), flow(&batch, d, 1, 0, t));
            for (a, b) in [(a0, b0), (a, b)] {
                assert!(
                    a > 0.0 && ((a - b) / a).abs() < 1e-12,
                    "draw {d} year {t}: {a} vs {b}"
                );
            }
        }
    }
    // A hub at one end breaks the symmetry in its favour.
    let hub = "\n[[hubs]]\nnode = \"Solo\"\nfactor = 1.5\n";
    let scn = load(&scenario_with(dir.path(), &[], hub)).unwrap();
    let (_, batch) = simulate_batch(&scn, 1);
    let (f01, f10) = (flow(&batch, 0, 0, 1, 2), flow(&batch, 0, 1, 0, 2));
    assert!((f01.0 / f10.0 - 1.5).abs() < 1e-12);
    assert!((f01.1 / f10.1 - 1.5).abs() < 1e-12);
}

/// A link flow's index is 100 × the flow over its base-year flow: with both gravity
/// exponents 1, no new links and constant hubs, 100 × R_o(t) R_d(t), R being a node's
/// real output over its base year's. The nodes grow apart (an impulse to one node's
/// services for two years, spread by ρ), and R is read back from their real GDP
/// growth, an output of its own.
#[test]
fn a_flows_index_is_its_nodes_real_output_growth() {
    let dir = tempfile::tempdir().unwrap();
    let impulse = "\n[[impulses]]\nnode = \"Solo\"\nsector = \"service\"\nfrom = 2022\nto = 2023\nsize = 3.0\n";
    let r = run(&scenario_with(dir.path(), &[], impulse), 2);
    let real_output = |node: &str, year: i32| {
        let growth = value(&r, node, "gdp_real_growth", year);
        (1.0 + growth / 100.0).powi(year - 2020)
    };
    assert!(real_output("Solo", 2025) > real_output("Near", 2025) * 1.01);
    assert_eq!(r.flows.len(), 10, "two links over five years");
    for f in &r.flows {
        let expected = 100.0 * real_output(&f.origin, f.year) * real_output(&f.destination, f.year);
        assert!(
            ((f.mean - expected) / expected).abs() < 1e-9,
            "{}→{} {}: {} against {expected}",
            f.origin,
            f.destination,
            f.year,
            f.mean
        );
    }
}

/// The layout of `scn` and the paths of its first `draws` draws (seed 3).
fn simulate_batch(scn: &Scenario, draws: usize) -> (Layout, PathBatch) {
    let model = Model::new(scn).unwrap();
    let layout = Layout::new(scn);
    let mut batch = model.path_batch(&layout, draws, Simd::selected());
    assert_eq!(batch.capacity(), draws);
    let mut ws = model.workspace(draws, Simd::selected());
    model
        .simulate(Simd::selected(), &run_key(3), 0, draws, &mut ws, &mut batch)
        .unwrap();
    (layout, batch)
}

#[test]
fn a_shorter_link_raises_its_flow_and_never_lowers_logistics() {
    let dir = tempfile::tempdir().unwrap();
    // Different sector trends so that the two nodes grow apart; no uncertainty.
    let overrides = [("non_service_trend", "5.0")];
    let base = run(&scenario_with(dir.path(), &overrides, ""), 2);
    let link =
        "\n[[links]]\nfrom = \"Solo\"\nto = \"Near\"\ndistance_km = 40.0\nfrom_year = 2023\n";
    let linked = run(&scenario_with(dir.path(), &overrides, link), 2);
    for year in 2021..=2025 {
        let (f0, f1) = (
            flow(&base, "Solo", "Near", year),
            flow(&linked, "Solo", "Near", year),
        );
        let (l0, l1) = (
            value(&base, "Solo", "logistics_total", year),
            value(&linked, "Solo", "logistics_total", year),
        );
        if year < 2023 {
            assert_eq!(f0, f1, "{year}: no change before the link opens");
            assert_eq!(l0, l1);
        } else {
            assert!(f1 > f0, "{year}: link flow {f1} should exceed {f0}");
            assert!(l1 >= l0, "{year}: logistics {l1} fell below {l0}");
        }
    }
    // The whole-run logistics gain is a level effect of the link year.
    assert!(
        value(&linked, "Solo", "logistics_total", 2025)
            > value(&base, "Solo", "logistics_total", 2025)
    );
    // Near has output but no logistics level: it gets an index, never a level.
    assert!(value(&linked, "Near", "logistics_index", 2025) > 100.0);
    assert!(
        !linked
            .series
            .iter()
            .any(|s| s.entity == "Near" && s.indicator == "logistics_total")
    );
}

#[test]
fn an_impulse_spills_over_to_neighbours_within_the_multiplier() {
    let dir = tempfile::tempdir().unwrap();
    let rho = 0.3;
    let impulse = "\n[[impulses]]\nnode = \"Solo\"\nsector = \"service\"\nfrom = 2021\nto = 2021\nsize = 1.0\n";
    let base = run(&scenario_with(dir.path(), &[("rho", "0.3")], ""), 2);
    let pushed = run(&scenario_with(dir.path(), &[("rho", "0.3")], impulse), 2);
    let gain = |node: &str| {
        value(&pushed, node, "service_va_real_growth", 2021)
            - value(&base, node, "service_va_real_growth", 2021)
    };
    // Two nodes: W = [[0, 1], [1, 0]], M = [[1, ρ], [ρ, 1]] / (1 − ρ²).
    let own = 1.0 / (1.0 - rho * rho);
    let spill = rho / (1.0 - rho * rho);
    assert!((gain("Solo") - own).abs() < 1e-9, "{}", gain("Solo"));
    assert!((gain("Near") - spill).abs() < 1e-9, "{}", gain("Near"));
    assert!(gain("Near") > 0.0);
    assert!(gain("Solo") + gain("Near") <= 1.0 / (1.0 - rho) + 1e-9);
    // Without spillovers the neighbour gains nothing.
    let base0 = run(&scenario_with(dir.path(), &[("rho", "0.0")], ""), 2);
    let pushed0 = run(&scenario_with(dir.path(), &[("rho", "0.0")], impulse), 2);
    let near0 = value(&pushed0, "Near", "service_va_real_growth", 2021)
        - value(&base0, "Near", "service_va_real_growth", 2021);
    assert_eq!(near0, 0.0);
}

#[test]
fn every_shipped_scenario_validates_and_runs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let scn = load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let r = run_scenario(
            &scn,
            RunSettings {
                draws: 300,
                seed: 1,
                threads: 2,
            },
            &|_| {},
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!r.series.is_empty(), "{}", path.display());
        count += 1;
    }
    assert!(count >= 1);
}
