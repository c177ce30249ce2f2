//! Export stage: turns [`RunResults`] into the files of an output folder.
//!
//! Rationale: every output format is an [`Exporter`] that renders the results to bytes
//! in memory and knows its own file name (the design of hyperfine's exporters). Keeping
//! rendering free of I/O lets [`write_outputs`] render everything first and then swap
//! the whole folder in at once, so a failed run never leaves a half-written folder, and
//! lets tests compare rendered files byte for byte. All CSV files print numbers through
//! [`format_number`], so the same value reads the same in every file and no file shows
//! binary-float noise such as `1499.8765400000001`.

pub mod feasibility_csv;
pub mod flows_csv;
pub mod history_csv;
pub mod manifest_json;
pub mod markdown;
pub mod output_dir;
pub mod plans_csv;
pub mod summary_csv;

use std::io;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::results::RunResults;

pub use crate::hash::sha256_hex;
pub use feasibility_csv::FeasibilityCsv;
pub use flows_csv::FlowsCsv;
pub use history_csv::HistoryCsv;
pub use manifest_json::ManifestJson;
pub use markdown::FeasibilityMarkdown;
pub use output_dir::{write_file_atomic, write_folder, write_outputs};
pub use plans_csv::PlansCsv;
pub use summary_csv::SummaryCsv;

/// One output file format.
pub trait Exporter {
    /// File name written inside the output folder, e.g. "summary.csv".
    fn file_name(&self) -> &'static str;
    /// Serialize the results to bytes.
    fn render(&self, results: &RunResults) -> Result<Vec<u8>>;
}

/// The exporters of a normal run, in the order their files are written:
/// `summary.csv`, `feasibility.csv`, `plans.csv`, `history.csv`, `flows.csv`,
/// `feasibility.md`, `manifest.json`.
///
/// The manifest lists the file names of all seven.
pub fn standard_exporters() -> Vec<Box<dyn Exporter>> {
    let mut exporters: Vec<Box<dyn Exporter>> = vec![
        Box::new(SummaryCsv),
        Box::new(FeasibilityCsv),
        Box::new(PlansCsv),
        Box::new(HistoryCsv),
        Box::new(FlowsCsv),
        Box::new(FeasibilityMarkdown),
    ];
    let mut outputs: Vec<&'static str> = exporters.iter().map(|e| e.file_name()).collect();
    outputs.push(manifest_json::FILE_NAME);
    exporters.push(Box::new(ManifestJson::new(outputs)));
    exporters
}

/// Significant digits kept by [`format_number`].
pub const SIGNIFICANT_DIGITS: usize = 6;

/// Formats a number for the output files.
///
/// Rule: the value is rounded to 6 significant digits (round half to even on the exact
/// binary value, as Rust's formatter does). If the rounded value's magnitude lies in
/// `[1e-6, 1e12)` it is written in plain decimal notation, so large values keep zeros
/// in place of the dropped digits (`12345678.9` → `12345700`); otherwise it is written
/// in Rust's `{:e}` notation of the rounded value (`1e-7`, `1.23457e15`). Trailing zeros
/// after the decimal point and a trailing point are removed (`2.0` → `2`), zero of
/// either sign is `0`, and NaN or an infinity is the empty string (a missing value).
pub fn format_number(x: f64) -> String {
    if !x.is_finite() {
        return String::new();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    // `{:.5e}` rounds correctly to 6 significant digits: "-1.49988e3".
    let sci = format!("{:.*e}", SIGNIFICANT_DIGITS - 1, x);
    let Some((mantissa, exponent)) = sci.split_once('e') else {
        return sci;
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        return sci;
    };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    if !(-6..12).contains(&exponent) {
        let mantissa = trim_fraction(mantissa);
        return format!("{sign}{mantissa}e{exponent}");
    }
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let plain = if exponent >= 0 {
        let int_len = usize::try_from(exponent).unwrap_or(0) + 1;
        if int_len >= digits.len() {
            format!("{digits}{}", "0".repeat(int_len - digits.len()))
        } else {
            format!("{}.{}", &digits[..int_len], &digits[int_len..])
        }
    } else {
        let leading = usize::try_from(-exponent - 1).unwrap_or(0);
        format!("0.{}{digits}", "0".repeat(leading))
    };
    format!("{sign}{}", trim_fraction(&plain))
}

/// The word written next to a probability `p` of `results`: `calibrated` or
/// `uncalibrated`; empty where there is no probability.
pub fn calibration_word(results: &RunResults, p: Option<f64>) -> String {
    p.map(|_| results.info.calibration.word().to_string())
        .unwrap_or_default()
}

/// Formats an optional number with [`format_number`]; `None` is the empty string.
pub fn format_opt(x: Option<f64>) -> String {
    x.map(format_number).unwrap_or_default()
}

/// Removes trailing zeros after a decimal point, then a trailing point.
fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Renders a CSV file in memory: `header`, then one record per row.
///
/// Fields are quoted only when needed; records end with `\n`; text is UTF-8 without a
/// byte-order mark.
pub(crate) fn render_csv<I>(file_name: &str, header: &[&str], rows: I) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = Vec<String>>,
{
    let fail = |source: io::Error| Error::Write {
        path: PathBuf::from(file_name),
        source,
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header).map_err(|e| fail(e.into()))?;
    for row in rows {
        writer.write_record(&row).map_err(|e| fail(e.into()))?;
    }
    writer.into_inner().map_err(|e| fail(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_six_significant_digits() {
        assert_eq!(format_number(1499.87654), "1499.88");
        assert_eq!(format_number(0.123456789), "0.123457");
        assert_eq!(format_number(12345678.9), "12345700");
        assert_eq!(format_number(-12345678.9), "-12345700");
        assert_eq!(format_number(123456.4), "123456");
        assert_eq!(format_number(999999.6), "1000000");
        assert_eq!(format_number(1.0000001), "1");
        assert_eq!(format_number(0.30000000000000004), "0.3");
    }

    #[test]
    fn trims_zeros_and_point() {
        assert_eq!(format_number(2.0), "2");
        assert_eq!(format_number(1500.0), "1500");
        assert_eq!(format_number(7.5), "7.5");
        assert_eq!(format_number(-0.25), "-0.25");
        assert_eq!(format_number(100000000000.0), "100000000000");
    }

    #[test]
    fn zero_of_either_sign_is_zero() {
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(-0.0), "0");
    }

    #[test]
    fn plain_notation_range() {
        assert_eq!(format_number(1e-6), "0.000001");
        assert_eq!(format_number(0.0000123456789), "0.0000123457");
        assert_eq!(format_number(-1e-6), "-0.000001");
        // Rounds up into the plain range.
        assert_eq!(format_number(9.999999e-7), "0.000001");
        assert_eq!(format_number(999999000000.0), "999999000000");
    }

    #[test]
    fn exponent_notation_outside_range() {
        assert_eq!(format_number(1e-7), "1e-7");
        assert_eq!(format_number(1.234567891e-7), "1.23457e-7");
        assert_eq!(format_number(-2.5e-9), "-2.5e-9");
        assert_eq!(format_number(1e12), "1e12");
        assert_eq!(format_number(1.2345678e15), "1.23457e15");
        // Rounds up out of the plain range.
        assert_eq!(format_number(999999999999.9), "1e12");
        assert_eq!(format_number(f64::MAX), "1.79769e308");
        assert_eq!(format_number(f64::MIN_POSITIVE), "2.22507e-308");
        assert_eq!(format_number(5e-324), "4.94066e-324");
    }

    #[test]
    fn missing_values_are_empty() {
        assert_eq!(format_number(f64::NAN), "");
        assert_eq!(format_number(f64::INFINITY), "");
        assert_eq!(format_number(f64::NEG_INFINITY), "");
        assert_eq!(format_opt(None), "");
        assert_eq!(format_opt(Some(0.5)), "0.5");
    }

    #[test]
    fn standard_exporters_in_order() {
        let names: Vec<_> = standard_exporters().iter().map(|e| e.file_name()).collect();
        assert_eq!(
            names,
            [
                "summary.csv",
                "feasibility.csv",
                "plans.csv",
                "history.csv",
                "flows.csv",
                "feasibility.md",
                "manifest.json"
            ]
        );
    }
}
