//! Typed errors of the library.
//!
//! Rationale: a user who wrote a bad scenario must learn, in one message, which file,
//! which line and which key is wrong and what to write instead; and every problem in the
//! input should be reported at once rather than one per run (like a compiler). Input
//! problems map to exit code 2, failures while running or writing to exit code 1. The
//! library never panics on user input: every fallible step returns [`Error`].

use std::fmt;
use std::path::PathBuf;

/// Where in the user's input a problem sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as the user named it or as resolved from a scenario.
    pub file: PathBuf,
    /// 1-based line number, when known.
    pub line: Option<usize>,
    /// The key (dotted TOML path or CSV column), when known.
    pub key: Option<String>,
}

impl Location {
    /// A location in `file` with no line or key yet.
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Location {
            file: file.into(),
            line: None,
            key: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        Ok(())
    }
}

/// One problem found in the input, with a suggested fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputIssue {
    /// Where it is.
    pub location: Location,
    /// What is wrong.
    pub message: String,
    /// What to do about it, when there is a useful suggestion.
    pub hint: Option<String>,
}

impl InputIssue {
    /// A problem at `location` with an optional hint.
    pub fn new(location: Location, message: impl Into<String>, hint: Option<String>) -> Self {
        InputIssue {
            location,
            message: message.into(),
            hint,
        }
    }
}

impl fmt::Display for InputIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Formats a list of issues, one per paragraph, with a count.
fn list_issues(issues: &[InputIssue]) -> String {
    let mut out = String::new();
    for issue in issues {
        out.push_str(&issue.to_string());
        out.push('\n');
    }
    let n = issues.len();
    out.push_str(&format!(
        "{n} problem{} found; nothing was run or written",
        if n == 1 { "" } else { "s" }
    ));
    out
}

/// Every error the library returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input (scenario, data, targets, options) is malformed or inconsistent.
    #[error("{}", list_issues(.0))]
    Invalid(Vec<InputIssue>),

    /// An input file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// An output could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// A numerical step failed for a reason the input validation could not foresee.
    #[error("numerical failure: {0}")]
    Numerical(String),
}

impl Error {
    /// One input problem as an error.
    pub fn invalid(location: Location, message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Invalid(vec![InputIssue::new(location, message, hint)])
    }

    /// The process exit code for this error: 2 for bad input, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Read { .. } => 2,
            Error::Write { .. } | Error::Numerical(_) => 1,
        }
    }
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;
