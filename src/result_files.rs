//! Reading result files back: the CSV tables and text files of a folder written by
//! `xiang run`.
//!
//! Rationale: `xiang report DIR...` and `xiang compare DIR...` read earlier results
//! without running anything again, and both must treat those files the same way. The
//! files are the contract: columns are found by header name (so columns added later do
//! not break old readers, and a reader names the columns it needs), a leading
//! byte-order mark (written by `--excel`, or by Excel itself) is accepted, and every
//! problem is collected with its file, line and column rather than stopping at the
//! first, so a user sees them all at once as bad input (exit code 2).

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, InputIssue, Location, Result};

/// The UTF-8 byte-order mark.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// The hint given for a malformed or incomplete result file.
const WRITTEN_BY_RUN: &str = "the folder must be written by `xiang run`";

/// Reads a UTF-8 text file, dropping a leading byte-order mark.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes = bytes.strip_prefix(&BOM).unwrap_or(&bytes).to_vec();
    String::from_utf8(bytes).map_err(|e| {
        Error::invalid(
            Location::file(path),
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            Some(
                "result files are written as UTF-8; was the file re-saved in another encoding?"
                    .to_string(),
            ),
        )
    })
}

/// Reads the `manifest.json` at `path` into `T` (the keys a reader needs); a malformed
/// file is bad input naming its line, with `hint`.
pub fn read_manifest<T: serde::de::DeserializeOwned>(path: &Path, hint: &str) -> Result<T> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| {
        let mut location = Location::file(path);
        location.line = Some(e.line()).filter(|l| *l > 0);
        Error::invalid(
            location,
            format!("malformed manifest: {e}"),
            Some(hint.to_string()),
        )
    })
}

/// One CSV record with its header, collecting problems (file, line, column) as its
/// fields are read. Each reader returns `None` when the field is unusable, after
/// recording why.
pub struct Row<'a> {
    file: &'a Path,
    line: usize,
    columns: &'a HashMap<String, usize>,
    record: &'a csv::StringRecord,
    issues: &'a mut Vec<InputIssue>,
}

impl Row<'_> {
    /// Records a problem with column `key` of this row.
    pub fn issue(&mut self, key: &str, message: String, hint: Option<String>) {
        self.issues.push(InputIssue::new(
            Location {
                file: self.file.to_path_buf(),
                line: Some(self.line),
                key: Some(key.to_string()),
            },
            message,
            hint,
        ));
    }

    /// Whether the header has column `key` (for columns added in later versions).
    pub fn has(&self, key: &str) -> bool {
        self.columns.contains_key(key)
    }

    /// The field as text; `None` without an issue if the header lacks the column
    /// (required columns are checked before any row is read).
    pub fn text(&mut self, key: &str) -> Option<String> {
        let index = *self.columns.get(key)?;
        match self.record.get(index) {
            Some(v) => Some(v.to_string()),
            None => {
                self.issue(
                    key,
                    "missing field: the row is shorter than the header".to_string(),
                    None,
                );
                None
            }
        }
    }

    /// A number, or `Some(None)` for an empty field (a missing value).
    pub fn opt_number(&mut self, key: &str) -> Option<Option<f64>> {
        let text = self.text(key)?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Some(None);
        }
        match trimmed.parse::<f64>() {
            Ok(v) => Some(Some(v)),
            Err(_) => {
                self.issue(key, format!("`{text}` is not a number"), None);
                None
            }
        }
    }

    /// A number that must be present.
    pub fn number(&mut self, key: &str) -> Option<f64> {
        match self.opt_number(key)? {
            Some(v) => Some(v),
            None => {
                self.issue(key, "empty field; a number is required".to_string(), None);
                None
            }
        }
    }

    /// A whole number (a year).
    pub fn int(&mut self, key: &str) -> Option<i32> {
        self.parsed(key, "a whole number")
    }

    /// A count (zero or more).
    pub fn count(&mut self, key: &str) -> Option<usize> {
        self.parsed(key, "a count")
    }

    /// The trimmed field parsed as `T`, or an issue saying it is not `what`.
    fn parsed<T: FromStr>(&mut self, key: &str, what: &str) -> Option<T> {
        let text = self.text(key)?;
        match text.trim().parse::<T>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.issue(key, format!("`{text}` is not {what}"), None);
                None
            }
        }
    }
}

/// Reads the CSV file at `path` into `T`s with `parse`, one per record; the `required`
/// columns must be in the header. Problems go to `issues` (a missing column stops the
/// file, a malformed record stops it at that line); only an unreadable file is an
/// early error.
pub fn read_table<T>(
    path: &Path,
    required: &[&str],
    issues: &mut Vec<InputIssue>,
    mut parse: impl FnMut(&mut Row<'_>) -> Option<T>,
) -> Result<Vec<T>> {
    let text = read_text(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            issues.push(csv_issue(path, &e));
            return Ok(Vec::new());
        }
    };
    let columns: HashMap<String, usize> = header
        .iter()
        .enumerate()
        .map(|(i, name)| (name.trim().to_string(), i))
        .collect();
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !columns.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        for column in missing {
            issues.push(InputIssue::new(
                Location {
                    file: path.to_path_buf(),
                    line: Some(1),
                    key: Some(column.to_string()),
                },
                "missing column in the header",
                Some(WRITTEN_BY_RUN.to_string()),
            ));
        }
        return Ok(Vec::new());
    }
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                issues.push(csv_issue(path, &e));
                break;
            }
        }
        let line = record
            .position()
            .map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
        let mut row = Row {
            file: path,
            line,
            columns: &columns,
            record: &record,
            issues,
        };
        if let Some(value) = parse(&mut row) {
            rows.push(value);
        }
    }
    Ok(rows)
}

/// A malformed-CSV problem at the reader's position.
fn csv_issue(file: &Path, e: &csv::Error) -> InputIssue {
    InputIssue::new(
        Location {
            file: file.to_path_buf(),
            line: e
                .position()
                .map(|p| usize::try_from(p.line()).unwrap_or(usize::MAX)),
            key: None,
        },
        format!("malformed CSV: {e}"),
        Some(WRITTEN_BY_RUN.to_string()),
    )
}
