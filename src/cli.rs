//! Command-line front end: raw arguments → validated options → library calls.
//!
//! Rationale: like ripgrep and hyperfine, the binary is thin. clap parses raw
//! arguments; [`RunOptions`] is what the core sees, with defaults filled from the
//! scenario; everything else is the library's.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use xiang::backtest;
use xiang::engine::simd::Simd;
use xiang::engine::{RunSettings, shard_draws};
use xiang::error::Result;
use xiang::export::{standard_exporters, write_outputs};
use xiang::report::{self, Lang, ReportOptions, Templates};
use xiang::run::run_scenario;
use xiang::scenario::{self, Scenario};
use xiang::shard;
use xiang::spillovers;

/// Projects service value added, service employment and logistics for Hunan city
/// nodes under a scenario, and reports how likely each plan target is to be met.
#[derive(Debug, Parser)]
#[command(name = "xiang", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario and write summary.csv, feasibility.csv, plans.csv,
    /// feasibility.md and manifest.json.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        #[command(flatten)]
        draws: DrawArgs,
        /// Output folder [default: results/<scenario name>/].
        #[arg(long)]
        out: Option<PathBuf>,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
        /// Compute only shard I of N (1-based) and write its partial file (to --out,
        /// default results/<name>-shards/part-I-of-N.json); combine with `xiang merge`.
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<(u64, u64)>,
        #[command(flatten)]
        output: OutputFlags,
    },
    /// Write report.md, report.html and charts/*.svg for result folders of `xiang run`
    /// (the first is reported on, the others compared with it).
    Report {
        /// Result folders; the report is written into the first unless --out is given.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Write the report into this folder instead (replaced as a whole).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Language of the labels: zh, en or both.
        #[arg(long, default_value = "both")]
        lang: Lang,
        /// Folder with templates (report.md.j2, report.html.j2, style.css) that replace
        /// the built-in ones of the same name.
        #[arg(long)]
        templates: Option<PathBuf>,
    },
    /// Merge the partial files of `xiang run --shard I/N` into the outputs of the whole
    /// run, identical to an unsharded run.
    Merge {
        /// The partial files (part-I-of-N.json), all N of them.
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Output folder [default: results/<scenario name>/].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write spillovers.csv: the effect of a 1-point growth impulse in each node on every
    /// node (direct, spillover, indirect, total), over draws of ρ.
    Spillovers {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Draws of ρ when it is uncertain.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
        draws: u64,
        /// Random seed [default: the scenario's `seed`].
        #[arg(long)]
        seed: Option<u64>,
        /// Output folder [default: results/<scenario name>-spillovers/].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a scenario, its data and its targets without running it.
    Validate {
        /// The scenario file (TOML).
        scenario: PathBuf,
    },
    /// List the targets a scenario would evaluate, with their sources.
    Targets {
        /// The scenario file (TOML).
        scenario: PathBuf,
    },
    /// Estimate trends, volatility, persistence, correlation and the deflator from a
    /// history, as a scenario fragment that extends another scenario.
    Calibrate {
        /// The history file (CSV, as scenarios/data/history.csv).
        data: PathBuf,
        /// Last year of history used; estimates describe growth from the next year.
        #[arg(long)]
        base_year: i32,
        /// Write the fragment here [default: print it].
        #[arg(long)]
        out: Option<PathBuf>,
        /// The reference series trends are shrunk toward (`none` for the node mean).
        #[arg(long, default_value = "Hunan")]
        anchor: String,
        /// Years left out as jumps (epidemic-type years), comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "2020")]
        jump_years: Vec<i32>,
        /// The scenario the fragment extends, relative to the fragment's folder.
        #[arg(long, default_value = "baseline.toml")]
        extends: String,
    },
    /// Project from a past base year and score every later observed value.
    Backtest {
        /// The scenario file (TOML), with a base year in the past.
        scenario: PathBuf,
        /// The observed history (CSV).
        #[arg(long)]
        observed: PathBuf,
        #[command(flatten)]
        draws: DrawArgs,
        /// Output folder [default: results/<scenario name>/].
        #[arg(long)]
        out: Option<PathBuf>,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Compare result folders of `xiang run`: every target's P(met) under each scenario
    /// and its change against the first; writes compare.csv and compare.md.
    Compare {
        /// The result folders; the first is the reference.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output folder [default: results/compare/].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Output options of `xiang run`: the report and Excel-ready CSV files.
#[derive(Debug, Clone, clap::Args)]
struct OutputFlags {
    /// Also write report.md, report.html and charts/*.svg.
    #[arg(long)]
    report: bool,
    /// Write the CSV files with a UTF-8 byte-order mark, so Excel shows Chinese names.
    #[arg(long)]
    excel: bool,
    /// Language of the report's labels: zh, en or both.
    #[arg(long, default_value = "both")]
    lang: Lang,
    /// Folder with report templates that replace the built-in ones of the same name.
    #[arg(long)]
    templates: Option<PathBuf>,
}

/// How many draws, with which seed, on how many threads: each defaults to the
/// scenario's value (threads: all cores).
#[derive(Debug, Args)]
struct DrawArgs {
    /// Number of Monte Carlo draws [default: the scenario's `draws`].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    draws: Option<u64>,
    /// Random seed [default: the scenario's `seed`].
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads; results do not depend on it [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
}

impl DrawArgs {
    /// The settings for `scenario`, defaults filled in.
    fn settings(&self, scenario: &Scenario) -> RunSettings {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        RunSettings {
            draws: self.draws.unwrap_or(scenario.draws),
            seed: self.seed.unwrap_or(scenario.seed),
            threads: self.threads.map_or(cores, |t| t as usize),
        }
    }
}

/// Validated options of `xiang run`.
#[derive(Debug, Clone)]
struct RunOptions {
    settings: RunSettings,
    out: PathBuf,
    progress: bool,
}

impl RunOptions {
    fn new(scenario: &Scenario, draws: &DrawArgs, out: Option<PathBuf>, quiet: bool) -> RunOptions {
        RunOptions {
            settings: draws.settings(scenario),
            out: out.unwrap_or_else(|| Path::new("results").join(&scenario.name)),
            progress: !quiet && std::io::stderr().is_terminal(),
        }
    }
}

/// Warns, on stderr, when `XIANG_SIMD` is set to something other than a copy of the
/// engine's pipeline: it is then ignored, and a typo would otherwise go unnoticed.
fn warn_on_unknown_simd_cap() {
    if let Some(Err(cap)) = Simd::cap_from_env() {
        eprintln!(
            "warning: XIANG_SIMD={cap:?} is ignored: set it to portable, avx2 or avx512 \
             (or unset it to use the widest vectors the processor has)"
        );
    }
}

/// Parses the command line and runs the command.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    warn_on_unknown_simd_cap();
    match cli.command {
        Command::Run {
            scenario,
            draws,
            out,
            quiet,
            shard,
            output,
        } => {
            let scn = scenario::load(&scenario)?;
            let opts = RunOptions::new(&scn, &draws, out.clone(), quiet);
            match shard {
                None => run_command(&scn, &opts, &output),
                Some((i, n)) => {
                    let path = out.unwrap_or_else(|| shard::default_path(&scn, i, n));
                    let own = shard_draws(opts.settings.draws, i - 1, n);
                    let partial = with_progress(&opts, own, |progress| {
                        let partial =
                            shard::run_shard(&scenario, &scn, opts.settings, i, n, progress)?;
                        shard::write_partial(&path, &partial)?;
                        Ok(partial)
                    })?;
                    // Printed once the bar is cleared, which would otherwise erase it.
                    eprintln!(
                        "{}: shard {i}/{n}, {own} of {} draws, {:.2} s; wrote {}",
                        scn.name,
                        opts.settings.draws,
                        partial.wall_time_s,
                        path.display()
                    );
                    Ok(())
                }
            }
        }
        Command::Merge { parts, out } => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let results = shard::merge(&parts, cores)?;
            let out = out.unwrap_or_else(|| Path::new("results").join(&results.info.scenario));
            let written = write_outputs(&out, &results, &standard_exporters())?;
            eprintln!(
                "{}: merged {} parts, {} draws; wrote {} files to {}",
                results.info.scenario,
                parts.len(),
                results.info.draws,
                written.len(),
                out.display()
            );
            Ok(())
        }
        Command::Spillovers {
            scenario,
            draws,
            seed,
            out,
        } => {
            let scn = scenario::load(&scenario)?;
            let effects = spillovers::spillovers(&scn, draws, seed.unwrap_or(scn.seed))?;
            let dir = out
                .unwrap_or_else(|| Path::new("results").join(format!("{}-spillovers", scn.name)));
            let path = dir.join("spillovers.csv");
            xiang::export::write_file_atomic(&path, &spillovers::to_csv(&scn.name, &effects)?)?;
            eprintln!(
                "{}: wrote {} effects to {}",
                scn.name,
                effects.len(),
                path.display()
            );
            Ok(())
        }
        Command::Report {
            dirs,
            out,
            lang,
            templates,
        } => {
            let options = ReportOptions {
                lang,
                templates: Templates::load(templates.as_deref())?,
            };
            let written = report::write_report(&dirs, out.as_deref(), options)?;
            eprintln!(
                "wrote {} report files to {}",
                written.len(),
                out.iter()
                    .chain(dirs.first())
                    .next()
                    .map_or_else(|| ".".to_string(), |d| d.display().to_string())
            );
            Ok(())
        }
        Command::Validate { scenario } => {
            let scn = scenario::load(&scenario)?;
            let modelled = scn.targets.iter().filter(|t| t.evaluable.is_some()).count();
            println!(
                "{}: valid — {} nodes, {} groups, {}–{}, {} targets in {} plans ({} modelled)",
                scenario.display(),
                scn.nodes.len(),
                scn.groups.len(),
                scn.base_year,
                scn.horizon,
                scn.targets.len(),
                scn.plans.len(),
                modelled
            );
            Ok(())
        }
        Command::Targets { scenario } => {
            let scn = scenario::load(&scenario)?;
            print_targets(&scn);
            Ok(())
        }
        Command::Calibrate {
            data,
            base_year,
            out,
            anchor,
            jump_years,
            extends,
        } => xiang::calibrate::command(
            &data,
            base_year,
            out.as_deref(),
            &anchor,
            &jump_years,
            &extends,
        ),
        Command::Backtest {
            scenario,
            observed,
            draws,
            out,
            quiet,
        } => {
            let scn = scenario::load(&scenario)?;
            let opts = RunOptions::new(&scn, &draws, out, quiet);
            let (bt, written) = with_progress(&opts, opts.settings.draws, |progress| {
                let bt = backtest::run_backtest(&scn, &observed, opts.settings, progress)?;
                let written = backtest::write_backtest(&opts.out, &bt)?;
                Ok((bt, written))
            })?;
            eprintln!(
                "{}; wrote {} files to {}",
                backtest::describe(&bt.summary),
                written.len(),
                opts.out.display()
            );
            Ok(())
        }
        Command::Compare { dirs, out } => {
            let written = xiang::compare::command(&dirs, out.as_deref())?;
            let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
            eprintln!(
                "compared {} folders; wrote {}",
                dirs.len(),
                names.join(", ")
            );
            Ok(())
        }
    }
}

/// Parses `I/N` with 1 ≤ I ≤ N.
fn parse_shard(s: &str) -> std::result::Result<(u64, u64), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not I/N (e.g. 2/8)"))?;
    let i: u64 = i
        .trim()
        .parse()
        .map_err(|_| format!("`{i}` is not a whole number"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a whole number"))?;
    if i == 0 || n == 0 || i > n {
        return Err(format!(
            "shard {i}/{n} does not exist: write I/N with 1 ≤ I ≤ N"
        ));
    }
    Ok((i, n))
}

/// Runs `work`, which computes `total` draws, with a progress callback that shows a bar
/// (draws done, rate, ETA) on stderr once the work has taken a second, when progress is
/// wanted and stderr is a terminal. The bar is cleared before this returns: print the
/// outcome after, not inside `work`, or the clearing erases its line.
fn with_progress<T>(
    opts: &RunOptions,
    total: u64,
    work: impl FnOnce(&(dyn Fn(u64) + Sync)) -> Result<T>,
) -> Result<T> {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} draws  {rate}  ETA {eta}")
            .map(|style| {
                style.with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&rate_label(state.per_sec()));
                    },
                )
            })
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let progress = |done: u64| {
        if opts.progress && bar.is_hidden() && start.elapsed() > Duration::from_secs(1) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        bar.set_position(done);
    };
    let out = work(&progress);
    bar.finish_and_clear();
    out
}

/// A rate of draws for the progress bar, to three significant figures with its unit:
/// `850 draws/s`, `85.0 k draws/s`, `1.56 M draws/s`.
fn rate_label(per_sec: f64) -> String {
    // Thresholds on the value as it will be rounded, so 999 950 reads 1.00 M, not 1000 k.
    let (value, prefix) = if per_sec >= 999.5e3 {
        (per_sec / 1e6, "M ")
    } else if per_sec >= 999.5 {
        (per_sec / 1e3, "k ")
    } else {
        (per_sec.max(0.0), "")
    };
    let decimals = match value {
        v if prefix.is_empty() || v >= 99.95 => 0,
        v if v >= 9.995 => 1,
        _ => 2,
    };
    format!("{value:.decimals$} {prefix}draws/s")
}

fn run_command(scn: &Scenario, opts: &RunOptions, output: &OutputFlags) -> Result<()> {
    // Templates are read before the run, so a bad one fails fast.
    let report = if output.report {
        Some(ReportOptions {
            lang: output.lang,
            templates: Templates::load(output.templates.as_deref())?,
        })
    } else {
        None
    };
    let results = with_progress(opts, opts.settings.draws, |progress| {
        run_scenario(scn, opts.settings, progress)
    })?;
    let exporters = report::run_exporters(&results, report, output.excel);
    let written = write_outputs(&opts.out, &results, &exporters)?;
    eprintln!(
        "{}: {} draws, seed {}, {} threads, {:.2} s; wrote {} files to {}",
        scn.name,
        opts.settings.draws,
        opts.settings.seed,
        opts.settings.threads,
        results.info.wall_time_s,
        written.len(),
        opts.out.display()
    );
    Ok(())
}

fn print_targets(scn: &Scenario) {
    for (pi, plan) in scn.plans.iter().enumerate() {
        println!("{} — {} ({})", plan.id, plan.title, plan.file.display());
        for rt in scn.targets.iter().filter(|t| t.target.plan == pi) {
            let t = &rt.target;
            let status = if rt.evaluable.is_some() {
                "modelled".to_string()
            } else {
                format!("not modelled: {}", rt.reason)
            };
            println!(
                "  {:<38} {:<9} {:<28} {} {} {} {}  [{}]",
                t.id,
                t.node,
                t.indicator_name,
                t.year,
                t.comparator.as_str(),
                t.value,
                t.unit,
                status
            );
            println!("      “{}”", t.quote);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_with_three_figures_and_their_unit() {
        assert_eq!(rate_label(0.0), "0 draws/s");
        assert_eq!(rate_label(850.4), "850 draws/s");
        assert_eq!(rate_label(85_040.0), "85.0 k draws/s");
        assert_eq!(rate_label(999_400.0), "999 k draws/s");
        assert_eq!(rate_label(1_559_575.3), "1.56 M draws/s");
        // At the edges of a unit or a figure, the rounded value picks them.
        assert_eq!(rate_label(999.7), "1.00 k draws/s");
        assert_eq!(rate_label(999_950.0), "1.00 M draws/s");
        assert_eq!(rate_label(9_997.0), "10.0 k draws/s");
        assert_eq!(rate_label(99_970.0), "100 k draws/s");
        // No rate yet (NaN) reads as none.
        assert_eq!(rate_label(f64::NAN), "0 draws/s");
    }
}
