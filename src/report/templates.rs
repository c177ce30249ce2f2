//! The report's templates: built into the binary, overridable from a folder.
//!
//! Rationale: an institution should be able to restyle the report (its logo text, its
//! colours, its section order) without recompiling, so the layout lives in MiniJinja
//! templates. The built-in ones are compiled in; `--templates DIR` replaces any of them
//! by file name. A broken template is bad input: the error names the template's file
//! and line.

use std::fs;
use std::path::{Path, PathBuf};

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, Value};

use crate::error::{Error, Location, Result};
use crate::report::model::ReportModel;

/// The Markdown report's template file name.
pub const REPORT_MD: &str = "report.md.j2";
/// The HTML report's template file name.
pub const REPORT_HTML: &str = "report.html.j2";
/// The style sheet inlined into the HTML report.
pub const STYLE_CSS: &str = "style.css";

/// The built-in templates: (file name, text).
pub const BUILT_IN: [(&str, &str); 3] = [
    (REPORT_MD, include_str!("templates/report.md.j2")),
    (REPORT_HTML, include_str!("templates/report.html.j2")),
    (STYLE_CSS, include_str!("templates/style.css")),
];

/// The set of templates a report is rendered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    /// (file name, text, where it came from).
    sources: Vec<(&'static str, String, PathBuf)>,
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            sources: BUILT_IN
                .iter()
                .map(|(name, text)| (*name, (*text).to_string(), built_in_path(name)))
                .collect(),
        }
    }
}

/// How a built-in template is named in messages.
fn built_in_path(name: &str) -> PathBuf {
    Path::new("<built-in>").join(name)
}

impl Templates {
    /// The built-in templates, with those found in `dir` (by file name) instead.
    /// A missing `dir` or an unreadable override is an error; files in `dir` that are
    /// not template names are ignored.
    pub fn load(dir: Option<&Path>) -> Result<Templates> {
        let mut templates = Templates::default();
        let Some(dir) = dir else {
            return Ok(templates);
        };
        if !dir.is_dir() {
            return Err(Error::invalid(
                Location::file(dir),
                "the templates folder does not exist or is not a folder",
                Some(format!(
                    "give a folder holding any of {REPORT_MD}, {REPORT_HTML}, {STYLE_CSS}"
                )),
            ));
        }
        for (name, text, origin) in &mut templates.sources {
            let path = dir.join(*name);
            if path.exists() {
                *text = fs::read_to_string(&path).map_err(|source| Error::Read {
                    path: path.clone(),
                    source,
                })?;
                *origin = path;
            }
        }
        Ok(templates)
    }

    /// Where the template `name` came from.
    fn origin(&self, name: &str) -> PathBuf {
        self.sources
            .iter()
            .find(|(n, _, _)| *n == name)
            .map_or_else(|| built_in_path(name), |(_, _, p)| p.clone())
    }

    /// Renders template `name` (one of the file names above) with `model`.
    pub fn render(&self, name: &str, model: &ReportModel) -> Result<String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        // Files end with a newline, as templates written in an editor do.
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html.j2") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.add_filter("md", md_cell);
        for (n, text, _) in &self.sources {
            env.add_template_owned(*n, text.clone())
                .map_err(|e| self.template_error(&e))?;
        }
        let template = env
            .get_template(name)
            .map_err(|e| self.template_error(&e))?;
        template
            .render(Value::from(Serde(model)))
            .map_err(|e| self.template_error(&e))
    }

    /// A template error as an input error naming the file and line.
    fn template_error(&self, e: &minijinja::Error) -> Error {
        let name = e.name().unwrap_or(REPORT_HTML);
        let mut location = Location::file(self.origin(name));
        location.line = e.line();
        let message = match e.detail() {
            Some(detail) => format!("template error: {}: {detail}", e.kind()),
            None => format!("template error: {}", e.kind()),
        };
        Error::invalid(
            location,
            message,
            Some("fix the template or remove it to use the built-in one".to_string()),
        )
    }
}

/// MiniJinja filter: text made safe for a Markdown table cell (line breaks become
/// spaces, pipes are escaped).
fn md_cell(text: String) -> String {
    text.replace(['\r', '\n'], " ").trim().replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md_cells_are_escaped() {
        assert_eq!(md_cell("a|b\nc ".to_string()), "a\\|b c");
    }
}
