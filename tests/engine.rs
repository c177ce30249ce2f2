//! The streaming engine: thread- and shard-invariance, sketch accuracy, merge checks.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use xiang::accumulate::{Accumulator, Evaluator};
use xiang::aggregate::aggregate;
use xiang::engine::layout::{Layout, extract};
use xiang::engine::model::{Model, run_key};
use xiang::engine::simd::{Simd, project_on};
use xiang::engine::{
    BLOCK, BlockScratch, Draws, RunSettings, shard_draws, simulate, simulate_series, with_threads,
};
use xiang::export::{Exporter, FeasibilityCsv, PlansCsv, SummaryCsv};
use xiang::results::{RunResults, SUMMARY_PROBS};
use xiang::run::{run_info, run_scenario};
use xiang::scenario::{Scenario, load};
use xiang::shard::{FORMAT, merge, read_partial, run_shard, write_partial};
use xiang::sketch::{SignSplitter, Sketch};
use xiang::stats::quantile_sorted;

fn outputs(r: &RunResults) -> Vec<Vec<u8>> {
    [&SummaryCsv as &dyn Exporter, &FeasibilityCsv, &PlansCsv]
        .iter()
        .map(|e| e.render(r).unwrap())
        .collect()
}

/// [`uncertain`]'s scenario and `draws` draws of it with seed `seed`, every series
/// stored.
fn uncertain_draws(draws: u64, seed: u64) -> (Scenario, Draws) {
    let dir = tempfile::tempdir().unwrap();
    let scn = load(&uncertain(dir.path())).unwrap();
    let settings = RunSettings {
        draws,
        seed,
        threads: 1,
    };
    let simulated = simulate(&scn, settings, &|_| {}).unwrap();
    (scn, simulated)
}

/// A two-node scenario with every source of uncertainty switched on and two targets.
fn uncertain(dir: &std::path::Path) -> std::path::PathBuf {
    let blocks = vec![
        common::target(
            "va",
            "Solo",
            "service_va",
            ">=",
            560.0,
            "亿元",
            "nominal_level",
            "",
        ),
        common::target(
            "g",
            "Pair",
            "service_va_real_growth",
            ">=",
            6.5,
            "% per year",
            "real_growth",
            "from_year = 2020",
        ),
    ];
    let targets = common::targets_file("u", &blocks);
    let text = common::scenario(&[
        ("service_trend", "{ mean = 7.0, sd = 1.5 }"),
        ("rho", "{ low = 0.0, high = 0.5 }"),
        ("volatility", "1.5"),
        ("persistence", "0.5"),
        ("jump_probability", "0.1"),
        ("targets", r#"["u.toml"]"#),
    ]);
    common::write(dir, &text, &[("u.toml", &targets)])
}

#[test]
fn shards_draws_add_up_to_the_run() {
    for draws in [1, 511, 512, 513, 5000, 1_000_000] {
        for shards in [1, 2, 3, 7, 64] {
            let each: Vec<u64> = (0..shards).map(|i| shard_draws(draws, i, shards)).collect();
            assert_eq!(each.iter().sum::<u64>(), draws, "{draws} draws in {shards}");
            // Whole blocks each, but for the run's last.
            for (i, &d) in each.iter().enumerate().take(shards as usize - 1) {
                assert_eq!(d % BLOCK, 0, "shard {i} of {shards}, {draws} draws");
            }
        }
    }
}

#[test]
fn one_shard_equals_three_shards_merged_and_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = uncertain(dir.path());
    let scn = load(&path).unwrap();
    // 5000 draws = 9 full blocks of 512 and a partial one: shards cut inside the run.
    let settings = |threads| RunSettings {
        draws: 5000,
        seed: 99,
        threads,
    };
    let single = run_scenario(&scn, settings(1), &|_| {}).unwrap();
    for threads in [2, 3] {
        assert_eq!(
            outputs(&single),
            outputs(&run_scenario(&scn, settings(threads), &|_| {}).unwrap())
        );
    }
    let mut parts = Vec::new();
    for i in 1..=3 {
        // Progress counts the shard's own draws, up to its share of the run.
        let reported = AtomicU64::new(0);
        let progress = |done: u64| {
            reported.fetch_max(done, Ordering::Relaxed);
        };
        let part = run_shard(&path, &scn, settings(i as usize), i, 3, &progress).unwrap();
        let own = shard_draws(5000, i - 1, 3);
        assert_eq!(reported.into_inner(), own);
        assert_eq!(part.accumulator.draws, own);
        let file = dir.path().join(format!("part-{i}-of-3.json"));
        write_partial(&file, &part).unwrap();
        parts.push(file);
    }
    parts.reverse(); // order of the files does not matter
    let merged = merge(&parts, 2).unwrap();
    assert_eq!(outputs(&single), outputs(&merged));
    // One shard alone is one third of the draws, not the run.
    let alone = read_partial(&parts[0]).unwrap();
    assert!(alone.accumulator.draws < 5000 && alone.accumulator.draws > 1000);
}

#[test]
fn merge_refuses_parts_of_different_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = uncertain(dir.path());
    let scn = load(&path).unwrap();
    let write = |name: &str, draws: u64, seed: u64, i: u64, n: u64| {
        let part = run_shard(
            &path,
            &scn,
            RunSettings {
                draws,
                seed,
                threads: 1,
            },
            i,
            n,
            &|_| {},
        )
        .unwrap();
        let file = dir.path().join(name);
        write_partial(&file, &part).unwrap();
        file
    };
    let a = write("a.json", 2000, 1, 1, 2);
    let b = write("b.json", 2000, 1, 2, 2);
    let other_seed = write("c.json", 2000, 2, 2, 2);
    let other_draws = write("d.json", 3000, 1, 2, 2);
    let other_count = write("e.json", 2000, 1, 2, 3);
    assert!(merge(&[a.clone(), b.clone()], 1).is_ok());
    for (bad, key) in [
        (&other_seed, "seed"),
        (&other_draws, "draws"),
        (&other_count, "shards"),
    ] {
        let err = merge(&[a.clone(), bad.clone()], 1).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains(&format!("key `{key}`")), "{err}");
    }
    let err = merge(std::slice::from_ref(&a), 1).unwrap_err().to_string();
    assert!(err.contains("missing shard 2"), "{err}");
    let err = merge(&[a.clone(), a.clone(), b.clone()], 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("given twice"), "{err}");
    // A part written in an earlier format (some of its values were computed another
    // way).
    let earlier = dir.path().join("earlier.json");
    let text = std::fs::read_to_string(&b).unwrap();
    let (now, before) = (format!("{{\"format\":{FORMAT},"), FORMAT - 1);
    assert!(text.starts_with(&now), "{}", &text[..40]);
    let text = text.replacen(&now, &format!("{{\"format\":{before},"), 1);
    std::fs::write(&earlier, text).unwrap();
    let err = merge(&[a.clone(), earlier], 1).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let message = err.to_string();
    assert!(
        message.contains(&format!("format {before} is not {FORMAT}")),
        "{message}"
    );
    // A different scenario: same draws and seed, other files.
    let dir2 = tempfile::tempdir().unwrap();
    let text = common::scenario(&[("service_trend", "{ mean = 6.0, sd = 1.0 }")]);
    let path2 = common::write(dir2.path(), &text, &[]);
    let scn2 = load(&path2).unwrap();
    let part = run_shard(
        &path2,
        &scn2,
        RunSettings {
            draws: 2000,
            seed: 1,
            threads: 1,
        },
        2,
        2,
        &|_| {},
    )
    .unwrap();
    let f = dir.path().join("f.json");
    write_partial(&f, &part).unwrap();
    let err = merge(&[a, f], 1).unwrap_err().to_string();
    assert!(err.contains("key `files`"), "{err}");
    // Not a partial file at all.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"hello\": 1}").unwrap();
    assert_eq!(merge(&[junk], 1).unwrap_err().exit_code(), 2);
}

#[test]
fn sketch_quantiles_match_exact_sorted_quantiles() {
    let dir = tempfile::tempdir().unwrap();
    let path = uncertain(dir.path());
    let scn = load(&path).unwrap();
    let settings = RunSettings {
        draws: 100_000,
        seed: 5,
        threads: 2,
    };
    let draws = simulate(&scn, settings, &|_| {}).unwrap();
    let results = aggregate(&scn, &draws, run_info(&scn, settings));
    assert_eq!(results.series.len(), draws.layout.series.len());
    assert_eq!(results.flows.len(), draws.layout.flows.len());
    assert!(!results.flows.is_empty());
    let mut worst = 0.0_f64;
    for (s, row) in results.series.iter().enumerate() {
        let mut col = draws.column(s).expect("simulate stores every series");
        col.sort_unstable_by(f64::total_cmp);
        for (p, q) in SUMMARY_PROBS.iter().zip(row.quantiles) {
            let exact = quantile_sorted(&col, *p);
            let rel = ((q - exact) / exact).abs();
            worst = worst.max(rel);
            assert!(
                rel <= 0.001,
                "{} {} {} p{p}: sketch {q} exact {exact}",
                row.entity,
                row.indicator,
                row.year
            );
        }
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        assert!(
            ((row.mean - mean) / mean).abs() < 1e-9,
            "{} {}",
            row.entity,
            row.indicator
        );
    }
    assert!(
        worst > 0.0,
        "the sketch is not exact, so the comparison is not vacuous"
    );
}

#[test]
fn streaming_run_equals_stored_draws_aggregated() {
    let dir = tempfile::tempdir().unwrap();
    let path = uncertain(dir.path());
    let scn = load(&path).unwrap();
    let settings = RunSettings {
        draws: 3000,
        seed: 8,
        threads: 2,
    };
    let streamed = run_scenario(&scn, settings, &|_| {}).unwrap();
    let draws = simulate(&scn, settings, &|_| {}).unwrap();
    let stored = aggregate(&scn, &draws, run_info(&scn, settings));
    assert_eq!(outputs(&streamed), outputs(&stored));
}

/// A run that stores some series stores the values a full run has for them.
#[test]
fn some_series_stored_are_those_series_of_a_full_simulation() {
    let dir = tempfile::tempdir().unwrap();
    let scn = load(&uncertain(dir.path())).unwrap();
    // 1300 draws: two full blocks and a short one.
    let settings = RunSettings {
        draws: 1300,
        seed: 7,
        threads: 2,
    };
    let full = simulate(&scn, settings, &|_| {}).unwrap();
    let n = full.layout.len();
    let some = [0, 3, n / 2, n - 1];
    let kept = with_threads(2, || simulate_series(&scn, settings, &some, &|_| {}))
        .unwrap()
        .unwrap();
    for s in 0..n {
        match some.contains(&s) {
            true => assert_eq!(kept.column(s), full.column(s), "series {s}"),
            false => assert_eq!(kept.column(s), None, "series {s}"),
        }
    }
    assert_eq!(kept.row(1299).len(), some.len());
    // Asked for out of order, twice, or beyond the layout: refused.
    for bad in [vec![3, 0], vec![3, 3], vec![n]] {
        assert!(
            simulate_series(&scn, settings, &bad, &|_| {}).is_err(),
            "{bad:?}"
        );
    }
}

/// A draw's series are the same, to the bit, whatever batch it is simulated in
/// (batches of 1, 7, 20, 32 and 64 draws, of 72 draws in all, so that every size ends in
/// a short batch) and whichever copy simulates it (the AVX-512 copy computes a batch's
/// streams 16 at a time, so batches of 7 and 20 end in part of a group; sums run a
/// tile of 16 draws at a time, so batches of 7, 20 and the last of 72 end in a part
/// tile): with ρ uncertain, jumps and a tracked observation, on the shipped
/// baseline, and on the 13 cities (whose 26 rows of shock correlations run two at a
/// time).
#[test]
fn a_draws_series_do_not_depend_on_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = uncertain(dir.path());
    let observed = "\n[[observed]]\nnode = \"Solo\"\nindicator = \"service_va\"\nyear = 2022\nvalue = 480.0\nsource = \"test\"\n";
    let text = std::fs::read_to_string(&path).unwrap() + observed;
    std::fs::write(&path, text).unwrap();
    for scn in [
        load(&path).unwrap(),
        load(&common::shipped("baseline.toml")).unwrap(),
        load(&common::shipped("hunan-13.toml")).unwrap(),
    ] {
        let model = Model::new(&scn).unwrap();
        let layout = Layout::new(&scn);
        let draws = 72;
        let series = |capacity: usize, simd: Simd| -> Vec<u64> {
            let mut batch = model.path_batch(&layout, capacity, simd);
            let capacity = batch.capacity();
            let mut ws = model.workspace(capacity, simd);
            let mut out = vec![0.0; layout.len() * draws];
            for first in (0..draws).step_by(capacity) {
                let n = capacity.min(draws - first);
                model
                    .simulate(simd, &run_key(5), first as u64, n, &mut ws, &mut batch)
                    .unwrap();
                let (sva, nsva) = (&model.base_sva, &model.base_nsva);
                extract(&layout, &batch, n, sva, nsva, &mut out[first..], draws);
            }
            out.iter().map(|x| x.to_bits()).collect()
        };
        let one = series(1, Simd::Portable);
        assert!(one.iter().any(|&x| f64::from_bits(x).is_finite()));
        for simd in [Simd::Portable, Simd::Avx2, Simd::Avx512] {
            for capacity in [7, 20, 32, 64] {
                let got = series(capacity, simd);
                assert_eq!(one, got, "{}: batches of {capacity}, {simd:?}", scn.name);
            }
        }
    }
}

/// Values that are not finite are counted per series and left out of its moments and
/// quantiles, wherever they fall in a block (a whole group of lanes or the tail of a
/// short last block); the other series are untouched.
#[test]
fn non_finite_values_are_counted_and_left_out() {
    // With blocks of 512: one full and one of 488.
    let (scn, draws) = uncertain_draws(1000, 3);
    let n = draws.layout.len();
    let ev = Evaluator::new(&scn, draws.layout.clone(), &draws.row(0));
    let (hit, other) = (n / 2, n / 2 + 1);
    let bad = [
        (1, f64::NAN),
        (300, f64::INFINITY),
        (301, f64::NEG_INFINITY),
        (999, f64::NAN),
    ];
    let accumulate = |corrupt: bool| {
        let mut acc = Accumulator::new(&ev);
        let mut all_met = Vec::new();
        for (b, (block, count)) in draws.blocks().enumerate() {
            let mut block = block.to_vec();
            if corrupt {
                let block_len = BLOCK as usize;
                for &(d, x) in bad.iter().filter(|(d, _)| d / block_len == b) {
                    block[hit * count + d % block_len] = x;
                }
            }
            acc.add_block(&ev, &block, count, &mut all_met, SignSplitter::Scan);
        }
        acc
    };
    let (clean, dirty) = (accumulate(false), accumulate(true));
    assert_eq!(clean.nonfinite[hit], 0);
    assert_eq!(dirty.nonfinite[hit], bad.len() as u64);
    let finite: Vec<f64> = draws
        .column(hit)
        .expect("simulate stores every series")
        .into_iter()
        .enumerate()
        .filter(|(d, _)| bad.iter().all(|(b, _)| b != d))
        .map(|(_, x)| x)
        .collect();
    let mut sketch = Sketch::new();
    finite.iter().for_each(|&x| sketch.add(x));
    assert_eq!(dirty.sketches[hit], sketch);
    let (mean, sd, _) = dirty.summary(&ev, hit);
    let m = finite.iter().sum::<f64>() / finite.len() as f64;
    let v = finite.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / finite.len() as f64;
    assert!(((mean - m) / m).abs() < 1e-12, "mean {mean} against {m}");
    assert!(((sd - v.sqrt()) / v.sqrt()).abs() < 1e-9, "sd {sd}");
    assert_eq!(dirty.sum[other], clean.sum[other]);
    assert_eq!(dirty.sumsq[other], clean.sumsq[other]);
    assert_eq!(dirty.sketches[other], clean.sketches[other]);
}

/// A column that holds one value over a block adds nothing to its sums when that value
/// is its shift (every deviation is ±0, and the loop is skipped), and adds its
/// deviations when it is not: the moments are a constant's either way.
#[test]
fn constant_columns_have_the_moments_of_a_constant() {
    let (scn, draws) = uncertain_draws(1000, 5);
    let n = draws.layout.len();
    let ev = Evaluator::new(&scn, draws.layout.clone(), &draws.row(0));
    // A series that varies over the draws, made constant at its shift and off it.
    let s = (0..n)
        .find(|&s| {
            let column = draws.column(s).unwrap();
            column.iter().all(|x| x.is_finite()) && column.iter().any(|x| *x != column[0])
        })
        .expect("a varying series");
    let shift = ev.shifts[s];
    for (value, at_shift) in [(shift, true), (shift * 1.1 + 0.3, false)] {
        let mut acc = Accumulator::new(&ev);
        let mut all_met = Vec::new();
        for (block, count) in draws.blocks() {
            let mut block = block.to_vec();
            block[s * count..(s + 1) * count].fill(value);
            acc.add_block(&ev, &block, count, &mut all_met, SignSplitter::Scan);
        }
        let (mean, sd, _) = acc.summary(&ev, s);
        if at_shift {
            assert_eq!((acc.sum[s], acc.sumsq[s]), (0, 0));
            assert_eq!((mean, sd), (value, 0.0));
        } else {
            assert_ne!(acc.sum[s], 0);
            assert!(
                ((mean - value) / value).abs() < 1e-12,
                "mean {mean} for {value}"
            );
            assert!(sd < 1e-6 * value.abs(), "sd {sd} for {value}");
        }
    }
}

/// The exact accumulator state of a shard file, `xiang run SCENARIO --shard 1/1`, with
/// `env` set (and the variables of `unset` removed); the wall time, the one field that
/// may differ between runs, left out.
fn shard_state(
    scenario: &std::path::Path,
    draws: u64,
    seed: u64,
    out: &std::path::Path,
    env: &[(&str, &str)],
    unset: &[&str],
) -> serde_json::Value {
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_xiang"));
    run.arg("run")
        .arg(scenario)
        .args([
            "--draws",
            &draws.to_string(),
            "--seed",
            &seed.to_string(),
            "--threads",
            "2",
        ])
        .args(["--shard", "1/1", "-q", "--out"])
        .arg(out);
    for (k, v) in env {
        run.env(k, v);
    }
    for k in unset {
        run.env_remove(k);
    }
    let status = run.status().unwrap();
    assert!(status.success(), "{}", scenario.display());
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    let wall = state.as_object_mut().unwrap().remove("wall_time_s");
    assert!(wall.is_some(), "the one field allowed to differ is gone");
    let sketches = state["accumulator"]["sketches"].as_array();
    assert!(sketches.is_some_and(|s| s.len() > 100));
    state
}

/// Every copy of the per-block pipeline gives the same bits: the exact accumulator
/// state (fixed-point sums, every sketch bin, every count) of a shard file is
/// byte-identical whichever copy `XIANG_SIMD` caps the run at, with ρ uncertain, jumps
/// and link flows. (A processor without AVX2 or AVX-512 runs the copies it has: the
/// caps above them fall back to those, and the test says so.)
#[test]
fn every_vector_copy_gives_the_same_bits() {
    let available = Simd::available();
    if available < Simd::Avx512 {
        eprintln!("only up to {available:?} here: the wider caps run that copy");
    }
    let dir = tempfile::tempdir().unwrap();
    let scenarios = [uncertain(dir.path()), common::shipped("baseline.toml")];
    for (i, scenario) in scenarios.iter().enumerate() {
        let part = |cap: &str| {
            let out = dir.path().join(format!("part-{i}-{cap}.json"));
            shard_state(scenario, 3000, 11, &out, &[("XIANG_SIMD", cap)], &[])
        };
        let portable = part("portable");
        for cap in ["avx2", "avx512"] {
            assert!(
                part(cap) == portable,
                "{} differs on {cap}",
                scenario.display()
            );
        }
    }
}

/// The same in one process, through the library: a block's projection writes the same
/// bits on each copy `project_on` names (copies wider than the processor's fall back to
/// its widest), with ρ uncertain, jumps and link flows.
#[test]
fn project_on_each_copy_writes_the_same_bits() {
    let dir = tempfile::tempdir().unwrap();
    let scn = load(&uncertain(dir.path())).unwrap();
    let model = Model::new(&scn).unwrap();
    let layout = Layout::new(&scn);
    let key = run_key(scn.seed);
    let count = BLOCK as usize;
    let block = |simd: Simd| {
        let mut scratch = BlockScratch::new(&model, &layout, simd);
        let mut cols = vec![0.0; layout.len() * count];
        project_on(
            simd,
            &model,
            &layout,
            &key,
            3 * BLOCK,
            count,
            &mut scratch,
            &mut cols,
        )
        .unwrap();
        cols.iter().map(|x| x.to_bits()).collect::<Vec<u64>>()
    };
    let portable = block(Simd::Portable);
    assert!(portable.iter().any(|&b| f64::from_bits(b) != 0.0));
    for simd in [Simd::Avx2, Simd::Avx512] {
        assert!(block(simd) == portable, "{simd:?} differs");
    }
}

/// A `XIANG_SIMD` that names no copy is ignored, with a warning that says which values
/// it takes; the run still succeeds.
#[test]
fn an_unknown_simd_cap_is_ignored_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_xiang"))
        .arg("run")
        .arg(common::shipped("baseline.toml"))
        .args(["--draws", "300", "-q", "--out"])
        .arg(dir.path().join("out"))
        .env("XIANG_SIMD", "sse4")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: XIANG_SIMD=\"sse4\" is ignored")
            && stderr.contains("portable, avx2 or avx512"),
        "{stderr}"
    );
}

/// A run's bits do not depend on the processor through the system math library: with
/// glibc's processor-specific exp, log, pow, sin and cos variants switched to the plain
/// SSE2 ones (`GLIBC_TUNABLES`) and the portable engine, the exact accumulator state
/// is the same. At 10⁵ draws of `czt-integration` (its own seed) the system library's
/// variants moved a fixed-point block sum by one unit of 2⁻³², so the model takes these
/// functions from the `libm` crate. (Elsewhere than glibc on x86-64 the variable is
/// ignored.)
#[test]
fn the_system_math_library_does_not_change_a_bit() {
    const SEED: u64 = 20210101; // the scenario's own
    let dir = tempfile::tempdir().unwrap();
    let scenario = common::shipped("czt-integration.toml");
    let out = |name: &str| dir.path().join(name);
    let usual = shard_state(
        &scenario,
        100_000,
        SEED,
        &out("usual.json"),
        &[],
        &["GLIBC_TUNABLES"],
    );
    let plain = shard_state(
        &scenario,
        100_000,
        SEED,
        &out("plain.json"),
        &[
            (
                "GLIBC_TUNABLES",
                "glibc.cpu.hwcaps=-AVX,-AVX2,-FMA,-AVX512F",
            ),
            ("XIANG_SIMD", "portable"),
        ],
        &[],
    );
    assert!(usual == plain, "the system math library changed the result");
}
