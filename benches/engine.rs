//! Benchmarks of the Monte Carlo engine.
//!
//! Groups:
//! - `projection_per_draw`: batches of 64 draws; on the AVX2 copy 256 where their
//!   paths take at most 1 MB (the baseline), else 128 (`engine::simd::project_on`: the dynamics, then the series, as the engine runs
//!   them, on the widest vector copy the processor has; fewer draws a batch for large
//!   paths), time per draw, for the shipped baseline
//!   (4 nodes × 5 years), all 13 cities × 10 years and 120 synthetic nodes × 10 years,
//!   each with ρ uncertain (M(ρ) applied through one eigendecomposition) and with ρ
//!   fixed (M precomputed once).
//! - `vector_copies`: `projection_per_draw`'s baseline and 120-node cases (ρ uncertain)
//!   on each copy of the pipeline the processor has (portable, AVX2, AVX-512), in one
//!   process: what each copy gains.
//! - `extract`: the series extraction of a batch of 64 simulated paths alone, at the same
//!   sizes.
//! - `spatial_multiplier`: a dense inverse M = (I − ρW)⁻¹ alone, at the same K: what
//!   each draw would cost without the spectral form.
//! - `rng_floor`: only the random numbers a baseline draw consumes (145 terms, each a
//!   standard normal here), from the same generator, taken as the engine takes them:
//!   from the draw's own stream, and (AVX-512 or AVX2) from the streams of 16 draws
//!   computed together, as a run's vector copies take them (the floor a draw cannot go below
//!   without a cheaper generator); and, for reference, the same count read one at a
//!   time through `ChaCha8Rng` into `rand_distr`'s ziggurat.
//! - `aggregation`: `aggregate` over 10 000 stored baseline draws.
//! - `full_run`: `run_scenario` on the baseline, 100 000 draws, on 1 and 2 threads
//!   (pool start, streamed draws, accumulation and results).
//! - `sketch`: `Sketch::add_finite` on one column of a block (`BLOCK` = 512 positive,
//!   lognormal draws) into one sketch that stays in cache, and on 260 such columns (of
//!   other scales and spreads) into 260 sketches, as a block of the accumulator meets
//!   them.
//!
//! `extract`, `aggregation` and `sketch` call the library's functions directly, so they
//! time the portable copy (SSE2); a run uses the widest vector copy the processor has
//! (`engine::simd`: AVX-512 or AVX2), as do `projection_per_draw` and `full_run`.
//!
//! Scenarios other than the baseline are written to a temporary folder when the bench
//! starts; the synthetic nodes come from a fixed-seed generator, so every run
//! benchmarks the same inputs.
//!
//! Run with `cargo bench --bench engine` (a few minutes on two cores).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use xiang::aggregate::aggregate;
use xiang::engine::chacha::{GROUP, StreamLanes};
use xiang::engine::layout::{Layout, extract};
use xiang::engine::model::{Model, run_key};
use xiang::engine::simd::{Simd, project_on};
use xiang::engine::stream::DrawStream;
use xiang::engine::terms::{TermLaws, TermScratch, TermSlots};
use xiang::engine::{BLOCK, BlockScratch, RunSettings, simulate, with_threads};
use xiang::normal::Ziggurat;
use xiang::run::{run_info, run_scenario};
use xiang::scenario::{self, Scenario};
use xiang::sketch::Sketch;

/// Random terms of one baseline draw (K = 4 nodes, T = 5 years, no impulses), each with
/// its own word of the draw's stream (`engine::terms::TermSlots`): 7 parameters per node
/// (7K = 28), ρ and the deflator trend (2), and per year the jump's uniform and size (2)
/// and 5K + 1 = 21 standard normal shocks. 28 + 2 + 5 × 23 = 145.
const BASELINE_TERMS: usize = 7 * 4 + 2 + 5 * (2 + 5 * 4 + 1);

/// Most draws whose paths are extracted together, as the AVX-512 and portable copies'
/// batches ([`Simd::batch_draws`]).
const BATCH: usize = 64;

/// Draws per sample in `aggregation`.
const AGGREGATION_DRAWS: u64 = 10_000;

/// Draws per run in `full_run`.
const FULL_RUN_DRAWS: u64 = 100_000;

/// Synthetic nodes in the largest per-draw case.
const SYNTHETIC_NODES: usize = 120;

/// Values per column in `sketch`: the draws of one accumulator block.
const SKETCH_COLUMN: usize = BLOCK as usize;

/// Columns (series) per block in `sketch`'s many-series case.
const SKETCH_SERIES: usize = 260;

fn baseline_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/baseline.toml")
}

fn load(path: &Path) -> Scenario {
    scenario::load(path).unwrap_or_else(|e| panic!("cannot load {}: {e}", path.display()))
}

fn write_toml(path: &Path, table: &toml::Table) {
    let text = toml::to_string(table).expect("a scenario table serializes");
    std::fs::write(path, text).expect("cannot write a bench scenario");
}

fn string_array<S: AsRef<str>>(items: &[S]) -> toml::Value {
    toml::Value::Array(
        items
            .iter()
            .map(|s| toml::Value::String(s.as_ref().to_string()))
            .collect(),
    )
}

/// `[spatial] rho = value`, merged into `table`.
fn set_fixed_rho(table: &mut toml::Table, rho: f64) {
    let spatial = table
        .entry("spatial")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    spatial
        .as_table_mut()
        .expect("[spatial] is a table")
        .insert("rho".into(), toml::Value::Float(rho));
}

/// A 64-bit linear congruential generator (Knuth's MMIX constants): fixed seed, no
/// dependence on anything outside the bench.
struct Lcg(u64);

impl Lcg {
    /// Uniform on [0, 1), from the top 53 bits.
    fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }
}

/// The scenarios of `projection_per_draw`: (label, ρ uncertain, ρ fixed at 0.2).
struct Cases {
    cases: Vec<(&'static str, Scenario, Scenario)>,
}

fn build_cases() -> Cases {
    let dir = tempfile::tempdir().expect("cannot create a temporary folder");
    let baseline = baseline_path();
    let extends = toml::Value::String(baseline.to_string_lossy().into_owned());

    // (a) The shipped baseline, and the same with ρ fixed.
    let base_uncertain = load(&baseline);
    let mut t = toml::Table::new();
    t.insert("extends".into(), extends.clone());
    set_fixed_rho(&mut t, 0.2);
    let p = dir.path().join("baseline-fixed-rho.toml");
    write_toml(&p, &t);
    let base_fixed = load(&p);

    // (b) All 13 cities of the node file, to 2030, without targets. Cities without
    // history get no levels, so fewer series, but the same per-node dynamics.
    let nodes_csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/data/nodes.csv");
    let mut reader = csv::Reader::from_path(&nodes_csv).expect("cannot read nodes.csv");
    let cities: Vec<String> = reader
        .records()
        .map(|r| r.expect("a nodes.csv row")[0].trim().to_string())
        .collect();
    assert_eq!(
        cities.len(),
        13,
        "nodes.csv should list the 13 cities of Hunan"
    );
    let mut t = toml::Table::new();
    t.insert("extends".into(), extends);
    t.insert("name".into(), toml::Value::String("bench-13-cities".into()));
    t.insert("nodes".into(), string_array(&cities));
    t.insert("horizon".into(), toml::Value::Integer(2030));
    t.insert("targets".into(), toml::Value::Array(Vec::new()));
    let p = dir.path().join("cities-13.toml");
    write_toml(&p, &t);
    let cities_uncertain = load(&p);
    set_fixed_rho(&mut t, 0.2);
    let p = dir.path().join("cities-13-fixed-rho.toml");
    write_toml(&p, &t);
    let cities_fixed = load(&p);

    // (c) 120 synthetic nodes at pseudo-random points of Hunan's bounding box, each
    // with 2020 GDP and service value added. The scenario is a copy of the baseline
    // without its groups and node overrides (they name real cities).
    let mut rng = Lcg(0x5EED_0000_0000_0120);
    let names: Vec<String> = (1..=SYNTHETIC_NODES).map(|i| format!("S{i:03}")).collect();
    let mut nodes = String::from("node,name_zh,lon,lat,source\n");
    let mut history =
        String::from("node,year,indicator,value,unit,real_growth_pct,vintage,source\n");
    for name in &names {
        let lon = rng.uniform(108.8, 114.3);
        let lat = rng.uniform(24.6, 30.1);
        let gdp = rng.uniform(500.0, 3000.0);
        let service = gdp * rng.uniform(0.45, 0.55);
        nodes.push_str(&format!("{name},synthetic,{lon:.4},{lat:.4},synthetic\n"));
        history.push_str(&format!(
            "{name},2020,gdp,{gdp:.2},亿元,,synthetic,synthetic\n\
             {name},2020,service_va,{service:.2},亿元,,synthetic,synthetic\n"
        ));
    }
    std::fs::write(dir.path().join("nodes.csv"), nodes).expect("cannot write nodes.csv");
    std::fs::write(dir.path().join("history.csv"), history).expect("cannot write history.csv");
    let text = std::fs::read_to_string(&baseline).expect("cannot read the baseline");
    let mut t: toml::Table = toml::from_str(&text).expect("the baseline is TOML");
    t.remove("groups");
    t.remove("node_params");
    t.insert(
        "name".into(),
        toml::Value::String("bench-synthetic-120".into()),
    );
    t.insert("nodes".into(), string_array(&names));
    t.insert("node_file".into(), toml::Value::String("nodes.csv".into()));
    t.insert(
        "history_file".into(),
        toml::Value::String("history.csv".into()),
    );
    t.insert("horizon".into(), toml::Value::Integer(2030));
    t.insert("targets".into(), toml::Value::Array(Vec::new()));
    let p = dir.path().join("synthetic-120.toml");
    write_toml(&p, &t);
    let synthetic_uncertain = load(&p);
    set_fixed_rho(&mut t, 0.2);
    let p = dir.path().join("synthetic-120-fixed-rho.toml");
    write_toml(&p, &t);
    let synthetic_fixed = load(&p);

    for (s, k, years) in [
        (&base_uncertain, 4, 5),
        (&cities_uncertain, 13, 10),
        (&synthetic_uncertain, SYNTHETIC_NODES, 10),
    ] {
        assert_eq!((s.nodes.len(), s.years()), (k, years), "{}", s.name);
        assert!(!s.rho.is_fixed(), "{}: ρ should be uncertain", s.name);
    }
    for s in [&base_fixed, &cities_fixed, &synthetic_fixed] {
        assert!(s.rho.is_fixed(), "{}: ρ should be fixed", s.name);
    }
    Cases {
        cases: vec![
            ("baseline_4x5", base_uncertain, base_fixed),
            ("cities_13x10", cities_uncertain, cities_fixed),
            ("synthetic_120x10", synthetic_uncertain, synthetic_fixed),
        ],
    }
}

/// A scenario's model, series and scratch, set up to project one batch after another
/// (each call the next draws) on one copy of the pipeline, its scratch laid out for
/// that copy as the engine lays it out.
struct Batches {
    model: Model,
    layout: Layout,
    scratch: BlockScratch,
    out: Vec<f64>,
    key: [u8; 32],
    draw: u64,
    simd: Simd,
}

impl Batches {
    fn new(s: &Scenario, simd: Simd) -> Batches {
        let model = Model::new(s).expect("the model builds");
        let layout = Layout::new(s);
        let scratch = BlockScratch::new(&model, &layout, simd);
        let out = vec![0.0; layout.len() * scratch.batch_capacity()];
        Batches {
            key: run_key(s.seed),
            model,
            layout,
            scratch,
            out,
            draw: 0,
            simd,
        }
    }

    /// Draws a batch holds.
    fn size(&self) -> usize {
        self.scratch.batch_capacity()
    }

    /// Projects the next batch.
    fn project(&mut self) {
        let n = self.size();
        project_on(
            self.simd,
            &self.model,
            &self.layout,
            &self.key,
            self.draw,
            n,
            &mut self.scratch,
            &mut self.out,
        )
        .expect("a batch succeeds");
        self.draw += n as u64;
        black_box(&self.out);
    }
}

/// A batch of draws after another (as the engine runs: a batch simulated, then its
/// series extracted, on the copy the engine picks), draw index advancing inside the
/// timed loop; time per batch, throughput in draws.
fn bench_draws(c: &mut Criterion, cases: &Cases) {
    let mut group = c.benchmark_group("projection_per_draw");
    group.sample_size(50);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for (label, uncertain, fixed) in &cases.cases {
        for (rho, s) in [("rho_uniform", uncertain), ("rho_fixed", fixed)] {
            let mut batches = Batches::new(s, Simd::selected());
            group.throughput(Throughput::Elements(batches.size() as u64));
            group.bench_function(BenchmarkId::new(*label, rho), |b| {
                b.iter(|| batches.project())
            });
        }
    }
    group.finish();
}

/// `projection_per_draw`'s baseline and 120-node cases (ρ uncertain) on each copy of
/// the pipeline the processor has, side by side (time per batch; throughput in draws).
fn bench_vector_copies(c: &mut Criterion, cases: &Cases) {
    let mut group = c.benchmark_group("vector_copies");
    group.sample_size(30);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let copies = [Simd::Portable, Simd::Avx2, Simd::Avx512];
    for (label, s, _) in cases.cases.iter().filter(|(l, ..)| *l != "cities_13x10") {
        for simd in copies.into_iter().filter(|c| *c <= Simd::available()) {
            let mut batches = Batches::new(s, simd);
            group.throughput(Throughput::Elements(batches.size() as u64));
            let id = BenchmarkId::new(*label, format!("{simd:?}").to_lowercase());
            group.bench_function(id, |b| b.iter(|| batches.project()));
        }
    }
    group.finish();
}

/// `extract` alone, on a full batch of stored paths (up to [`BATCH`] draws, fewer for
/// large paths, as in the engine), at each case of `projection_per_draw`: the part of a
/// draw spent turning node paths into the recorded series (time per batch;
/// throughput in draws).
fn bench_extract(c: &mut Criterion, cases: &Cases) {
    let mut group = c.benchmark_group("extract");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    for (label, s, _) in &cases.cases {
        let model = Model::new(s).expect("the model builds");
        let layout = Layout::new(s);
        let mut batch = model.path_batch(&layout, BATCH, Simd::selected());
        let per_batch = batch.capacity();
        let mut ws = model.workspace(per_batch, Simd::selected());
        let mut out = vec![0.0; layout.len() * per_batch];
        model
            .simulate(
                Simd::selected(),
                &run_key(s.seed),
                0,
                per_batch,
                &mut ws,
                &mut batch,
            )
            .expect("a batch succeeds");
        group.throughput(Throughput::Elements(per_batch as u64));
        group.bench_function(*label, |b| {
            b.iter(|| {
                extract(
                    &layout,
                    black_box(&batch),
                    per_batch,
                    &model.base_sva,
                    &model.base_nsva,
                    &mut out,
                    per_batch,
                );
                black_box(&out);
            })
        });
    }
    group.finish();
}

/// The spatial multiplier alone, at each K of `projection_per_draw`.
fn bench_multiplier(c: &mut Criterion, cases: &Cases) {
    let mut group = c.benchmark_group("spatial_multiplier");
    group.sample_size(50);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    for (label, s, _) in &cases.cases {
        let dist = xiang::spatial::distance_matrix(&s.nodes);
        let w = xiang::spatial::weight_matrix(&dist, s.weights);
        group.bench_function(*label, |b| {
            b.iter(|| xiang::spatial::multiplier(black_box(&w), black_box(0.2)).unwrap())
        });
    }
    group.finish();
}

/// The random numbers of one baseline draw, taken as the engine takes them: its terms'
/// words at once, each made a standard normal by the ziggurat's fast path, the rare
/// rejected one finished with further words. The words come from the draw's own
/// stream (`baseline_145_normals`, as the portable copy takes them) or, on a processor
/// with AVX2 or AVX-512, from the streams of 16 draws computed together, each term then
/// computed for the 16 draws at once into its lane (`baseline_145_normals_grouped`, as
/// the widest copy takes them; time per draw).
/// (The engine makes 11 of the 145 uniform or fixed instead, which costs less.)
fn bench_rng_floor(c: &mut Criterion, cases: &Cases) {
    let s = &cases.cases[0].1;
    let slots = TermSlots::new(s.nodes.len(), s.impulses.len(), s.years());
    assert_eq!(slots.len(), BASELINE_TERMS, "the baseline's count of terms");
    let key = run_key(s.seed);
    let zig = Ziggurat::get();
    let mut group = c.benchmark_group("rng_floor");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let mut draw = 0u64;
    let mut words = vec![[0u8; 8]; BASELINE_TERMS];
    group.bench_function(format!("baseline_{BASELINE_TERMS}_normals"), |b| {
        b.iter(|| {
            let mut stream = DrawStream::new(&key, draw);
            stream.fill_words(&mut words);
            let mut acc = 0.0f64;
            for w in &words {
                acc += zig.from_word(u64::from_le_bytes(*w), &mut stream);
            }
            draw += 1;
            black_box(acc)
        })
    });
    if let Some(lanes) = StreamLanes::on(Simd::selected()) {
        // Whole blocks covering the terms and 8 words more, as the engine's groups.
        let laws = TermLaws::standard_normals(BASELINE_TERMS);
        let per_draw = (BASELINE_TERMS + 8).div_ceil(8) * 8;
        let mut words = vec![0u64; GROUP * per_draw];
        let mut values = vec![0.0; BASELINE_TERMS * GROUP];
        let mut scratch = TermScratch::new(&laws);
        let mut stream = DrawStream::new(&key, 0);
        let mut first = 0u64;
        group.throughput(Throughput::Elements(GROUP as u64));
        group.bench_function(format!("baseline_{BASELINE_TERMS}_normals_grouped"), |b| {
            b.iter(|| {
                lanes.fill(&key, first, per_draw / 8, &mut words);
                laws.draw_lanes(
                    lanes,
                    &words,
                    &key,
                    first,
                    GROUP,
                    &mut stream,
                    &mut scratch,
                    &mut values,
                    GROUP,
                    0,
                );
                first += GROUP as u64;
                black_box(&values);
            })
        });
        group.throughput(Throughput::Elements(1));
    }
    // For reference, the same numbers read the generic way: one at a time through
    // `ChaCha8Rng` into `rand_distr`'s ziggurat, as the engine did before.
    let mut draw = 0u64;
    group.bench_function(format!("rand_distr_{BASELINE_TERMS}_normals"), |b| {
        b.iter(|| {
            let mut rng = ChaCha8Rng::from_seed(key);
            rng.set_stream(draw);
            let mut acc = 0.0f64;
            for _ in 0..BASELINE_TERMS {
                let z: f64 = StandardNormal.sample(&mut rng);
                acc += z;
            }
            draw += 1;
            black_box(acc)
        })
    });
    group.finish();
}

/// `aggregate` over the same 10 000 baseline draws (stored once, before timing).
fn bench_aggregation(c: &mut Criterion, cases: &Cases) {
    let s = &cases.cases[0].1;
    let settings = RunSettings {
        draws: AGGREGATION_DRAWS,
        seed: s.seed,
        threads: 1,
    };
    let draws = with_threads(1, || simulate(s, settings, &|_| {}))
        .expect("a pool starts")
        .expect("the draws succeed");
    let mut group = c.benchmark_group("aggregation");
    group.throughput(Throughput::Elements(AGGREGATION_DRAWS));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("baseline_10000_draws", |b| {
        b.iter(|| aggregate(s, &draws, run_info(s, settings)))
    });
    group.finish();
}

/// The whole run as the command line makes it.
fn bench_full_run(c: &mut Criterion, cases: &Cases) {
    let s = &cases.cases[0].1;
    let mut group = c.benchmark_group("full_run");
    group.throughput(Throughput::Elements(FULL_RUN_DRAWS));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(15));
    for threads in [1usize, 2] {
        let settings = RunSettings {
            draws: FULL_RUN_DRAWS,
            seed: s.seed,
            threads,
        };
        group.bench_function(BenchmarkId::new("baseline_100000_draws", threads), |b| {
            b.iter(|| run_scenario(s, settings, &|_| {}).expect("the run succeeds"))
        });
    }
    group.finish();
}

/// A column of `n` lognormal values exp(μ + σz): positive, spread over a few octaves
/// (σ = 0.3 in natural log spans about 3500 bins at ±4σ), from a fixed seed.
fn lognormal_column(rng: &mut ChaCha8Rng, n: usize, mu: f64, sigma: f64) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            (mu + sigma * z).exp()
        })
        .collect()
}

/// `Sketch::add_finite` on a block's column: one sketch kept warm in cache, and one
/// block of [`SKETCH_SERIES`] columns into as many sketches (each series' bins fetched
/// from memory in turn, as in a run). The sketches keep their counts from sample to
/// sample, so after the first block their range is set, as it soon is in a run.
fn bench_sketch(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5EED_5CE7);
    let mut group = c.benchmark_group("sketch");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    let column = lognormal_column(&mut rng, SKETCH_COLUMN, 7.0, 0.3);
    let mut sketch = Sketch::new();
    group.throughput(Throughput::Elements(SKETCH_COLUMN as u64));
    group.bench_function(format!("add_finite_{SKETCH_COLUMN}"), |b| {
        b.iter(|| sketch.add_finite(black_box(&column)))
    });

    let columns: Vec<Vec<f64>> = (0..SKETCH_SERIES)
        .map(|s| {
            let mu = 2.0 + (s % 13) as f64;
            let sigma = 0.1 + 0.3 * (s % 7) as f64 / 6.0;
            lognormal_column(&mut rng, SKETCH_COLUMN, mu, sigma)
        })
        .collect();
    let mut sketches = vec![Sketch::new(); SKETCH_SERIES];
    group.throughput(Throughput::Elements((SKETCH_SERIES * SKETCH_COLUMN) as u64));
    group.bench_function(format!("add_finite_{SKETCH_SERIES}x{SKETCH_COLUMN}"), |b| {
        b.iter(|| {
            for (sketch, column) in sketches.iter_mut().zip(&columns) {
                sketch.add_finite(black_box(column));
            }
        })
    });
    group.finish();
}

fn engine(c: &mut Criterion) {
    let cases = build_cases();
    bench_draws(c, &cases);
    bench_vector_copies(c, &cases);
    bench_extract(c, &cases);
    bench_multiplier(c, &cases);
    bench_rng_floor(c, &cases);
    bench_aggregation(c, &cases);
    bench_full_run(c, &cases);
    bench_sketch(c);
}

criterion_group!(benches, engine);
criterion_main!(benches);
