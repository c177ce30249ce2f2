//! TOML source files with positions: parse, report errors at file:line, and find the
//! line of any key path after the fact.
//!
//! Rationale: semantic checks (a negative volatility, |ρ| ≥ 1) run after parsing and
//! merging, when serde has long forgotten where a value was written. Keeping each file's
//! span-preserving document lets any later check name the file and line of the key it
//! rejects; for a scenario that `extends` another, the lookup walks from the child to
//! its parents, so the message points at the file that actually set the value.

use std::path::{Path, PathBuf};

use crate::error::{Error, InputIssue, Location, Result};
use crate::suggest;

/// One segment of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array (or array-of-tables) index, 0-based.
    Index(usize),
}

/// Parses a dotted path such as `shocks.persistence` or `impulses[1].size.sd`.
pub fn parse_path(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            segs.push(Seg::Key(key.to_string()));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                segs.push(Seg::Index(i));
            }
        }
    }
    segs
}

/// A TOML file held with its text and a span-preserving parse.
#[derive(Debug)]
pub struct TomlSource {
    /// Path as resolved (relative to the working directory or absolute).
    pub path: PathBuf,
    /// File contents.
    pub text: String,
    doc: toml_edit::Document<String>,
}

enum Cur<'a> {
    Item(&'a toml_edit::Item),
    Table(&'a toml_edit::Table),
    Value(&'a toml_edit::Value),
}

impl TomlSource {
    /// Reads and parses a TOML file; a syntax error is reported at its line.
    pub fn read(path: &Path) -> Result<TomlSource> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        TomlSource::parse(path, text)
    }

    /// Parses `text` as the contents of `path`.
    pub fn parse(path: &Path, text: String) -> Result<TomlSource> {
        match toml_edit::Document::parse(text.clone()) {
            Ok(doc) => Ok(TomlSource {
                path: path.to_path_buf(),
                text,
                doc,
            }),
            Err(err) => Err(Error::invalid(
                Location {
                    file: path.to_path_buf(),
                    line: err.span().map(|s| line_of(&text, s.start)),
                    key: None,
                },
                format!("not valid TOML: {}", err.message().trim()),
                Some("check quotes, brackets and `key = value` syntax on that line".into()),
            )),
        }
    }

    /// Deserializes the whole file into `T`, turning serde errors into located issues.
    ///
    /// serde stops at the first bad key; to report every bad `key = value` line at
    /// once, such a line is blanked (keeping line numbers) and parsing retried.
    pub fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let mut text = self.text.clone();
        let mut issues = Vec::new();
        for _ in 0..32 {
            match toml::from_str::<T>(&text) {
                Ok(v) if issues.is_empty() => return Ok(v),
                Ok(_) => break,
                Err(err) => {
                    issues.push(self.serde_issue(&err));
                    match err.span().and_then(|s| blank_line(&text, s.start)) {
                        Some(t) => text = t,
                        None => break,
                    }
                }
            }
        }
        Err(Error::Invalid(issues))
    }

    fn serde_issue(&self, err: &toml::de::Error) -> InputIssue {
        let line = err.span().map(|s| line_of(&self.text, s.start));
        let key = err.span().and_then(|s| self.path_at(s.start));
        let message = plain_types(err.message().trim());
        let hint = unknown_field_hint(&message);
        InputIssue::new(
            Location {
                file: self.path.clone(),
                line,
                key,
            },
            message,
            hint,
        )
    }

    /// The dotted path of the deepest key whose key or value covers byte `offset`.
    pub fn path_at(&self, offset: usize) -> Option<String> {
        fn covers(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
            span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
        }
        fn walk_table(t: &dyn toml_edit::TableLike, offset: usize, path: &mut Vec<String>) -> bool {
            for (k, item) in t.iter() {
                let (key, _) = match t.get_key_value(k) {
                    Some(kv) => kv,
                    None => continue,
                };
                path.push(k.to_string());
                if walk_item(item, offset, path)
                    || covers(key.span(), offset)
                    || covers(item.span(), offset)
                {
                    return true;
                }
                path.pop();
            }
            false
        }
        fn walk_value(v: &toml_edit::Value, offset: usize, path: &mut Vec<String>) -> bool {
            match v {
                toml_edit::Value::InlineTable(t) => walk_table(t, offset, path),
                toml_edit::Value::Array(a) => {
                    for (i, x) in a.iter().enumerate() {
                        if covers(x.span(), offset) {
                            path.push(format!("[{i}]"));
                            // A deeper match refines the path; the element matches anyway.
                            walk_value(x, offset, path);
                            return true;
                        }
                    }
                    false
                }
                _ => false,
            }
        }
        fn walk_item(item: &toml_edit::Item, offset: usize, path: &mut Vec<String>) -> bool {
            match item {
                toml_edit::Item::Table(t) => walk_table(t, offset, path),
                toml_edit::Item::ArrayOfTables(a) => {
                    for (i, t) in a.iter().enumerate() {
                        path.push(format!("[{i}]"));
                        if walk_table(t, offset, path) {
                            return true;
                        }
                        path.pop();
                    }
                    false
                }
                toml_edit::Item::Value(v) => walk_value(v, offset, path),
                toml_edit::Item::None => false,
            }
        }
        let mut path = Vec::new();
        let root = self.doc.as_table();
        if !walk_table(root, offset, &mut path) {
            return None;
        }
        let mut out = String::new();
        for seg in path {
            if !seg.starts_with('[') && !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
        Some(out)
    }

    /// The 1-based line where `path` is written in this file, if it is.
    pub fn line_of_key(&self, path: &[Seg]) -> Option<usize> {
        let mut cur = Cur::Item(self.doc.as_item());
        let mut span = None;
        for seg in path {
            let next = match (seg, &cur) {
                (Seg::Key(k), Cur::Item(item)) => {
                    item.as_table_like().and_then(|t| t.get_key_value(k))
                }
                (Seg::Key(k), Cur::Table(t)) => t.get_key_value(k),
                (Seg::Key(k), Cur::Value(v)) => {
                    v.as_inline_table().and_then(|t| t.get_key_value(k))
                }
                (Seg::Index(_), _) => None,
            };
            if let Some((key, item)) = next {
                span = key.span().or_else(|| item.span()).or(span);
                cur = Cur::Item(item);
                continue;
            }
            let found = match (seg, &cur) {
                (Seg::Index(i), Cur::Item(item)) => {
                    if let Some(aot) = item.as_array_of_tables() {
                        aot.get(*i).map(|t| (t.span(), Cur::Table(t)))
                    } else {
                        item.as_array()
                            .and_then(|a| a.get(*i))
                            .map(|v| (v.span(), Cur::Value(v)))
                    }
                }
                (Seg::Index(i), Cur::Value(v)) => v
                    .as_array()
                    .and_then(|a| a.get(*i))
                    .map(|v| (v.span(), Cur::Value(v))),
                _ => None,
            };
            match found {
                Some((s, c)) => {
                    span = s.or(span);
                    cur = c;
                }
                None => return None,
            }
        }
        span.map(|s| line_of(&self.text, s.start))
    }

    /// Whether this file writes `path` (used to attribute a value to a file of a chain).
    pub fn has_key(&self, path: &[Seg]) -> bool {
        self.line_of_key(path).is_some()
    }
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Replaces serde's Rust type names with words a scenario author uses.
fn plain_types(message: &str) -> String {
    let mut m = message.to_string();
    for (rust, plain) in [
        ("expected i32", "expected a whole number (e.g. 2025)"),
        ("expected u64", "expected a whole number ≥ 0"),
        ("expected usize", "expected a whole number ≥ 0"),
        ("expected f64", "expected a number (e.g. 0.5)"),
        ("expected a string", "expected text in double quotes"),
    ] {
        m = m.replace(rust, plain);
    }
    m
}

/// `text` with the line holding byte `offset` blanked (spaces, same length), when that
/// line is a plain `key = value` line; `None` otherwise.
fn blank_line(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[start..end];
    let trimmed = line.trim_start();
    let is_key_value = trimmed.split('=').next().is_some_and(|k| {
        !k.trim().is_empty() && !k.contains(['[', '{', '"']) && line.contains('=')
    });
    if !is_key_value || line.trim_end().ends_with(['[', '{']) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    out.push_str(&" ".repeat(line.len()));
    out.push_str(&text[end..]);
    Some(out)
}

/// For serde's "unknown field `x`, expected one of `a`, `b`", a did-you-mean hint.
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let end = rest.find('`')?;
    let name = &rest[..end];
    let expected: Vec<&str> = rest[end + 1..].split('`').skip(1).step_by(2).collect();
    if expected.is_empty() {
        return Some("remove the key".into());
    }
    Some(format!(
        "{} (a misspelt key is never ignored)",
        suggest::hint(name, expected.iter().copied())
    ))
}

/// A chain of scenario files: the file named on the command line first, then the file it
/// extends, and so on.
#[derive(Debug, Default)]
pub struct SourceChain {
    /// Child first.
    pub files: Vec<TomlSource>,
}

impl SourceChain {
    /// Location of a key path: the first file of the chain (child first) that writes it,
    /// or the child file without a line when none does (a key that is missing).
    pub fn locate(&self, path: &str) -> Location {
        let segs = parse_path(path);
        for f in &self.files {
            // Prefer the most specific match: the full path; else fall back below.
            if let Some(line) = f.line_of_key(&segs) {
                return Location {
                    file: f.path.clone(),
                    line: Some(line),
                    key: Some(path.to_string()),
                };
            }
        }
        // Not written anywhere: point at the closest parent that is written.
        for n in (1..segs.len()).rev() {
            for f in &self.files {
                if let Some(line) = f.line_of_key(&segs[..n]) {
                    return Location {
                        file: f.path.clone(),
                        line: Some(line),
                        key: Some(path.to_string()),
                    };
                }
            }
        }
        Location {
            file: self
                .files
                .first()
                .map(|f| f.path.clone())
                .unwrap_or_default(),
            line: None,
            key: Some(path.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        assert_eq!(
            parse_path("impulses[1].size.sd"),
            vec![
                Seg::Key("impulses".into()),
                Seg::Index(1),
                Seg::Key("size".into()),
                Seg::Key("sd".into())
            ]
        );
    }

    #[test]
    fn lines_of_keys_in_tables_inline_tables_and_arrays() {
        let text = "a = 1\n[shocks]\npersistence = 0.5\nsize = { mean = -4, sd = 1 }\n\n[[impulses]]\nnode = \"X\"\n[[impulses]]\nnode = \"Y\"\nlist = [1, 2]\n";
        let src = TomlSource::parse(Path::new("s.toml"), text.to_string()).unwrap();
        assert_eq!(src.line_of_key(&parse_path("a")), Some(1));
        assert_eq!(src.line_of_key(&parse_path("shocks.persistence")), Some(3));
        assert_eq!(src.line_of_key(&parse_path("shocks.size.sd")), Some(4));
        assert_eq!(src.line_of_key(&parse_path("impulses[1].node")), Some(9));
        assert_eq!(src.line_of_key(&parse_path("impulses[0].node")), Some(7));
        assert_eq!(
            src.line_of_key(&parse_path("impulses[1].list[1]")),
            Some(10)
        );
        assert_eq!(src.line_of_key(&parse_path("shocks.nothing")), None);
    }

    #[test]
    fn syntax_error_names_line() {
        let err = TomlSource::parse(Path::new("s.toml"), "a = 1\nb = \n".into()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("s.toml:2"), "{msg}");
    }

    #[test]
    fn unknown_field_gets_suggestion() {
        let h = unknown_field_hint(
            "unknown field `persistance`, expected one of `persistence`, `jump_probability`",
        );
        assert!(h.unwrap().contains("`persistence`"));
    }
}
