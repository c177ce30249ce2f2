//! Reading a scenario and the files it extends, and merging them.
//!
//! Rationale: `extends` lets a policy scenario state only its differences from the
//! baseline. Paths inside each file are resolved against that file's folder before
//! merging, so a scenario works from any working directory. Tables merge key by key
//! (the child wins); arrays (`targets`, `impulses`, `nodes`) are replaced whole.

use std::path::{Path, PathBuf};

use super::Scenario;
use super::raw::RawScenario;
use super::source::{SourceChain, TomlSource};
use super::validate::validate;
use crate::error::{Error, Location, Result};

/// Longest `extends` chain accepted.
const MAX_DEPTH: usize = 16;

/// Keys whose values are paths relative to the file that sets them.
const PATH_KEYS: [&str; 5] = [
    "extends",
    "node_file",
    "history_file",
    "targets",
    "backtest",
];

/// Loads, merges and validates the scenario at `path`.
pub fn load(path: &Path) -> Result<Scenario> {
    let (chain, merged) = read_chain(path)?;
    let raw: RawScenario =
        toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| {
                Error::invalid(
                    Location::file(path),
                    format!("the merged scenario is invalid: {}", e.message().trim()),
                    None,
                )
            })?;
    validate(&chain, raw)
}

/// Reads `path` and every file it extends; returns the chain (child first) and the
/// merged table.
fn read_chain(path: &Path) -> Result<(SourceChain, toml::Table)> {
    let mut chain = SourceChain::default();
    let mut tables: Vec<toml::Table> = Vec::new();
    let mut next = Some(path.to_path_buf());
    let mut seen: Vec<PathBuf> = Vec::new();
    while let Some(p) = next.take() {
        let canonical = p.canonicalize().unwrap_or_else(|_| p.clone());
        if seen.contains(&canonical) {
            let child = chain
                .files
                .last()
                .map(|f| f.path.clone())
                .unwrap_or_default();
            return Err(Error::invalid(
                Location {
                    key: Some("extends".into()),
                    line: chain
                        .files
                        .last()
                        .and_then(|f| f.line_of_key(&super::source::parse_path("extends"))),
                    file: child,
                },
                format!("`extends` makes a loop back to {}", p.display()),
                Some("a scenario must not extend itself, directly or through others".into()),
            ));
        }
        if seen.len() >= MAX_DEPTH {
            return Err(Error::invalid(
                Location::file(&p),
                format!("more than {MAX_DEPTH} levels of `extends`"),
                None,
            ));
        }
        seen.push(canonical);
        let src = match TomlSource::read(&p) {
            Ok(s) => s,
            Err(Error::Read {
                path: missing,
                source,
            }) if !chain.files.is_empty() => {
                let child = &chain.files[chain.files.len() - 1];
                return Err(Error::invalid(
                    Location {
                        file: child.path.clone(),
                        line: child.line_of_key(&super::source::parse_path("extends")),
                        key: Some("extends".into()),
                    },
                    format!(
                        "cannot read the extended scenario {}: {source}",
                        missing.display()
                    ),
                    Some(
                        "the path is relative to the folder of the file that says `extends`".into(),
                    ),
                ));
            }
            Err(e) => return Err(e),
        };
        // Per-file check: unknown keys and wrong types at this file's own lines.
        let _: RawScenario = src.deserialize()?;
        let mut table: toml::Table = toml::from_str(&src.text).map_err(|e: toml::de::Error| {
            Error::invalid(Location::file(&p), e.message().trim().to_string(), None)
        })?;
        let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
        resolve_paths(&mut table, &dir);
        next = table
            .get("extends")
            .and_then(|v| v.as_str())
            .map(PathBuf::from);
        table.remove("extends");
        chain.files.push(src);
        tables.push(table);
    }
    let mut merged = toml::Table::new();
    for t in tables.into_iter().rev() {
        merge(&mut merged, t);
    }
    Ok((chain, merged))
}

/// Rewrites relative path values of `table` to be relative to `dir`.
fn resolve_paths(table: &mut toml::Table, dir: &Path) {
    let join = |s: &str| -> String {
        let p = Path::new(s);
        if p.is_absolute() || dir.as_os_str().is_empty() {
            s.to_string()
        } else {
            dir.join(p).to_string_lossy().into_owned()
        }
    };
    for key in PATH_KEYS {
        match table.get_mut(key) {
            Some(toml::Value::String(s)) => *s = join(s),
            Some(toml::Value::Array(items)) => {
                for item in items {
                    if let toml::Value::String(s) = item {
                        *s = join(s);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Deep-merges `child` into `base`: tables key by key, everything else replaced.
fn merge(base: &mut toml::Table, child: toml::Table) {
    for (key, value) in child {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(c)) => merge(b, c),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_deep_for_tables_and_replaces_arrays() {
        let mut base: toml::Table =
            toml::from_str("a = 1\nlist = [1, 2]\n[t]\nx = 1\ny = 2\n").unwrap();
        let child: toml::Table = toml::from_str("list = [3]\n[t]\ny = 5\n").unwrap();
        merge(&mut base, child);
        let expected: toml::Table =
            toml::from_str("a = 1\nlist = [3]\n[t]\nx = 1\ny = 5\n").unwrap();
        assert_eq!(base, expected);
    }
}
