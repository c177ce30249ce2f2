//! Reports economists can paste: `report.md`, a self-contained `report.html` and one
//! SVG fan chart per node and indicator; and Excel-ready CSV files.
//!
//! Rationale: the report is built from a [`RunResults`] in memory, so `xiang run
//! --report` writes it with the other outputs through the same atomic
//! [`write_outputs`], and `xiang report DIR...` reads result folders back
//! ([`load::load_results`]) and renders the very same thing. Each report file is an
//! [`Exporter`]. The content (numbers, verdicts, labels) is decided in [`model`]; the
//! layout lives in overridable templates ([`templates`]). The HTML inlines its CSS and
//! SVG and loads nothing, so it opens offline and pastes into Word as is.

pub mod growth;
pub mod labels;
pub mod load;
pub mod model;
pub mod svg;
pub mod templates;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::export::{
    Exporter, ManifestJson, manifest_json, standard_exporters, write_file_atomic, write_outputs,
};
use crate::results::RunResults;

pub use labels::Lang;
pub use templates::Templates;

/// The UTF-8 byte-order mark that makes Excel read a CSV file as UTF-8.
pub const UTF8_BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// How a report is rendered.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Language of the labels.
    pub lang: Lang,
    /// The templates (built-in or overridden).
    pub templates: Templates,
}

/// What the report exporters share: the options and the runs compared with the one
/// being exported.
#[derive(Debug)]
struct Shared {
    options: ReportOptions,
    others: Vec<RunResults>,
}

impl Shared {
    /// Renders `template` on `main` and the other runs.
    fn render(&self, template: &str, main: &RunResults) -> Result<Vec<u8>> {
        let mut runs: Vec<&RunResults> = vec![main];
        runs.extend(self.others.iter());
        let model = model::build(&runs, self.options.lang);
        Ok(self
            .options
            .templates
            .render(template, &model)?
            .into_bytes())
    }
}

/// Writes `report.md`.
#[derive(Debug, Clone)]
pub struct ReportMarkdown(Arc<Shared>);

impl Exporter for ReportMarkdown {
    fn file_name(&self) -> &'static str {
        "report.md"
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        self.0.render(templates::REPORT_MD, results)
    }
}

/// Writes `report.html`.
#[derive(Debug, Clone)]
pub struct ReportHtml(Arc<Shared>);

impl Exporter for ReportHtml {
    fn file_name(&self) -> &'static str {
        "report.html"
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        self.0.render(templates::REPORT_HTML, results)
    }
}

/// Writes one fan chart, `charts/<entity>-<indicator>.svg`.
#[derive(Debug, Clone)]
pub struct ChartSvg {
    file: &'static str,
    entity: String,
    indicator: String,
    lang: Lang,
}

impl ChartSvg {
    /// The chart of `entity` and `indicator`, labelled in `lang`.
    pub fn new(entity: &str, indicator: &str, lang: Lang) -> Self {
        // The exporter interface names files with `&'static str`. Chart names depend on
        // the run, so each is leaked once: a few dozen short strings per process.
        let file: &'static str = Box::leak(model::chart_file(entity, indicator).into_boxed_str());
        ChartSvg {
            file,
            entity: entity.to_string(),
            indicator: indicator.to_string(),
            lang,
        }
    }
}

impl Exporter for ChartSvg {
    fn file_name(&self) -> &'static str {
        self.file
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        Ok(
            model::chart(results, self.lang, &self.entity, &self.indicator)
                .svg
                .into_bytes(),
        )
    }
}

/// Wraps an exporter so that its file starts with the UTF-8 byte-order mark (for
/// Excel, which otherwise reads CSV files in the system's legacy code page).
pub struct ExcelBom(pub Box<dyn Exporter>);

impl Exporter for ExcelBom {
    fn file_name(&self) -> &'static str {
        self.0.file_name()
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        let body = self.0.render(results)?;
        let mut bytes = Vec::with_capacity(body.len() + UTF8_BOM.len());
        if !body.starts_with(&UTF8_BOM) {
            bytes.extend_from_slice(&UTF8_BOM);
        }
        bytes.extend_from_slice(&body);
        Ok(bytes)
    }
}

/// The report's exporters for `results`: `report.md`, `report.html` and one chart per
/// projected entity and indicator. `others` are compared with `results` in a scenario
/// comparison table when not empty.
pub fn report_exporters(
    results: &RunResults,
    others: Vec<RunResults>,
    options: ReportOptions,
) -> Vec<Box<dyn Exporter>> {
    let lang = options.lang;
    let shared = Arc::new(Shared { options, others });
    let mut exporters: Vec<Box<dyn Exporter>> = vec![
        Box::new(ReportMarkdown(Arc::clone(&shared))),
        Box::new(ReportHtml(shared)),
    ];
    for (entity, indicator) in model::chart_keys(results) {
        exporters.push(Box::new(ChartSvg::new(&entity, &indicator, lang)));
    }
    exporters
}

/// The exporters of `xiang run`: the standard files, with the CSV files starting with
/// a byte-order mark if `excel`, the report's files if `report` is given, and the
/// manifest last, listing every file.
pub fn run_exporters(
    results: &RunResults,
    report: Option<ReportOptions>,
    excel: bool,
) -> Vec<Box<dyn Exporter>> {
    let mut exporters: Vec<Box<dyn Exporter>> = standard_exporters()
        .into_iter()
        .filter(|e| e.file_name() != manifest_json::FILE_NAME)
        .map(|e| {
            if excel && e.file_name().ends_with(".csv") {
                Box::new(ExcelBom(e)) as Box<dyn Exporter>
            } else {
                e
            }
        })
        .collect();
    if let Some(options) = report {
        exporters.extend(report_exporters(results, Vec::new(), options));
    }
    let mut outputs: Vec<&'static str> = exporters.iter().map(|e| e.file_name()).collect();
    outputs.push(manifest_json::FILE_NAME);
    exporters.push(Box::new(ManifestJson::new(outputs)));
    exporters
}

/// `xiang report DIR...`: reads the result folders, renders the report of the first
/// (comparing it with the others) and writes it. With `out`, the report replaces the
/// folder `out` as a whole ([`write_outputs`]); without, its files are written into
/// the first folder next to the results, each file replaced atomically, leaving the
/// result files untouched. Returns the paths written.
pub fn write_report(
    dirs: &[PathBuf],
    out: Option<&Path>,
    options: ReportOptions,
) -> Result<Vec<PathBuf>> {
    let mut runs = Vec::with_capacity(dirs.len());
    for dir in dirs {
        runs.push(load::load_results(dir)?);
    }
    if runs.is_empty() {
        return Err(Error::invalid(
            crate::error::Location::file("xiang report"),
            "no result folder given",
            Some("name at least one folder written by `xiang run`".to_string()),
        ));
    }
    let main = runs.remove(0);
    let exporters = report_exporters(&main, runs, options);
    match (out, dirs.first()) {
        (Some(out), _) => write_outputs(out, &main, &exporters),
        (None, Some(dir)) => write_beside(dir, &main, &exporters),
        (None, None) => Ok(Vec::new()),
    }
}

/// Renders every file, then writes each into `dir` through a temporary sibling and a
/// rename, so no file is ever seen half-written and nothing is written if a render
/// fails. File names may hold one sub-folder (`charts/x.svg`), created as needed.
fn write_beside(
    dir: &Path,
    results: &RunResults,
    exporters: &[Box<dyn Exporter>],
) -> Result<Vec<PathBuf>> {
    let mut files = Vec::with_capacity(exporters.len());
    for e in exporters {
        files.push((e.file_name(), e.render(results)?));
    }
    let mut written = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let path = dir.join(name);
        write_file_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}
