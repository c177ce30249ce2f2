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
    pub fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        toml::from_str::<T>(&self.text).map_err(|err| Error::Invalid(vec![self.serde_issue(&err)]))
    }

    fn serde_issue(&self, err: &toml::de::Error) -> InputIssue {
        let line = err.span().map(|s| line_of(&self.text, s.start));
        let key = err
            .span()
            .and_then(|s| self.text.get(s))
            .map(|k| k.trim().trim_matches('"').to_string())
            .filter(|k| !k.is_empty() && !k.contains('\n') && k.len() < 60);
        let message = err.message().trim().to_string();
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
