//! `manifest.json`: how the run was made and which files it wrote.
//!
//! Rationale: a folder of results is only trustworthy if it says which version, seed,
//! number of draws and exact input files (by SHA-256) produced it; with the manifest a
//! run can be repeated bit for bit, and a reader can tell which files belong to the run.
//! The keys are those of [`RunInfo`], plus `outputs`.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::export::{Exporter, standard_exporters};
use crate::results::{RunInfo, RunResults};

/// The manifest's file name.
pub const FILE_NAME: &str = "manifest.json";

/// Writes `manifest.json`: pretty-printed JSON of [`RunInfo`] with an `outputs` list,
/// followed by a newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestJson {
    outputs: Vec<&'static str>,
}

impl ManifestJson {
    /// A manifest that lists `outputs` (file names in the output folder, including the
    /// manifest's own if it should appear).
    pub fn new(outputs: Vec<&'static str>) -> Self {
        ManifestJson { outputs }
    }

    /// The file names the manifest lists.
    pub fn outputs(&self) -> &[&'static str] {
        &self.outputs
    }
}

impl Default for ManifestJson {
    /// A manifest listing the files of [`standard_exporters`].
    fn default() -> Self {
        ManifestJson::new(standard_exporters().iter().map(|e| e.file_name()).collect())
    }
}

/// The JSON document: the run's provenance with the outputs appended.
#[derive(Serialize)]
struct Manifest<'a> {
    #[serde(flatten)]
    info: &'a RunInfo,
    outputs: &'a [&'static str],
}

impl Exporter for ManifestJson {
    fn file_name(&self) -> &'static str {
        FILE_NAME
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        let manifest = Manifest {
            info: &results.info,
            outputs: &self.outputs,
        };
        let mut bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Write {
            path: PathBuf::from(FILE_NAME),
            source: e.into(),
        })?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}
