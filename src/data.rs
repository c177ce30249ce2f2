//! Node data files: city coordinates (`nodes.csv`) and the statistical history
//! (`history.csv`) from which base-year values are taken.
//!
//! Rationale: data are files, never code, so that more cities or a later base year need
//! no recompilation. Readers check every row and report all bad rows at once with file
//! and line. Base values are looked up, never filled in: a quantity that the history
//! does not hold for the base year is reported as missing, with the latest year that
//! does hold it, so the user can see what data would make it projectable.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, InputIssue, Location, Result};
use crate::indicator::BaseQuantity;

/// A city node: name and coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// Identifier used everywhere in scenarios and outputs (e.g. `Xiangtan`).
    pub name: String,
    /// Chinese name (e.g. `湘潭市`).
    pub name_zh: String,
    /// Longitude of the city centre, decimal degrees east.
    pub lon: f64,
    /// Latitude of the city centre, decimal degrees north.
    pub lat: f64,
    /// Where the coordinates come from.
    pub source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeRow {
    node: String,
    name_zh: String,
    lon: f64,
    lat: f64,
    source: String,
}

/// One figure of the statistical history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryValue {
    /// The value, in `unit`.
    pub value: f64,
    /// Unit as written (亿元, 万人, %).
    pub unit: String,
    /// Published real growth over the previous year, %, where published.
    pub real_growth_pct: Option<f64>,
    /// Data vintage (`first_published`, `revised`, `plan_document`), where given.
    pub vintage: String,
    /// Where it comes from.
    pub source: String,
    /// The file and line it was read from.
    pub location: Location,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryRow {
    node: String,
    year: i32,
    indicator: String,
    value: f64,
    unit: String,
    real_growth_pct: Option<f64>,
    vintage: Option<String>,
    source: String,
}

/// The statistical history: (node, indicator, year) → value.
#[derive(Debug, Clone, Default)]
pub struct History {
    values: BTreeMap<(String, String, i32), HistoryValue>,
}

impl History {
    /// The value of `indicator` for `node` in `year`, if the history holds it.
    pub fn get(&self, node: &str, indicator: &str, year: i32) -> Option<&HistoryValue> {
        self.values
            .get(&(node.to_string(), indicator.to_string(), year))
    }

    /// The latest year ≤ `year` in which `node` has `indicator`.
    pub fn latest_year(&self, node: &str, indicator: &str, year: i32) -> Option<i32> {
        self.values
            .keys()
            .filter(|(n, i, y)| n == node && i == indicator && *y <= year)
            .map(|(_, _, y)| *y)
            .max()
    }

    /// Every figure of `node`, as ((indicator, year), value), in indicator then year order.
    pub fn of_node<'a>(
        &'a self,
        node: &'a str,
    ) -> impl Iterator<Item = ((&'a str, i32), &'a HistoryValue)> + 'a {
        self.values
            .iter()
            .filter(move |((n, _, _), _)| n == node)
            .map(|((_, i, y), v)| ((i.as_str(), *y), v))
    }

    /// All (year, value) of one series, in year order.
    pub fn series(&self, node: &str, indicator: &str) -> Vec<(i32, f64)> {
        self.values
            .iter()
            .filter(|((n, i, _), _)| n == node && i == indicator)
            .map(|((_, _, y), v)| (*y, v.value))
            .collect()
    }
}

/// Line number of a csv record (1-based, counting the header as line 1).
fn record_line(pos: Option<&csv::Position>) -> Option<usize> {
    pos.map(|p| p.line() as usize)
}

fn open_csv(path: &Path) -> Result<csv::Reader<std::fs::File>> {
    let file = std::fs::File::open(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(file))
}

/// Reads every row of a CSV file into `T`, collecting row errors with their lines.
fn read_rows<T: serde::de::DeserializeOwned>(
    path: &Path,
    issues: &mut Vec<InputIssue>,
) -> Result<Vec<(T, Location)>> {
    let mut reader = open_csv(path)?;
    let at = |line: Option<usize>, key: Option<String>| Location {
        file: path.to_path_buf(),
        line,
        key,
    };
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(err) => {
            issues.push(InputIssue::new(
                at(Some(1), None),
                format!("cannot read the header: {err}"),
                None,
            ));
            return Ok(Vec::new());
        }
    };
    let mut rows = Vec::new();
    for result in reader.records() {
        let record = match result {
            Ok(r) => r,
            Err(err) => {
                issues.push(InputIssue::new(
                    at(record_line(err.position()), None),
                    format!("bad row: {}", csv_message(&err)),
                    Some("every row needs as many fields as the header".into()),
                ));
                continue;
            }
        };
        let line = record_line(record.position());
        match record.deserialize::<T>(Some(&headers)) {
            Ok(row) => rows.push((row, at(line, None))),
            Err(err) => {
                let key = match err.kind() {
                    csv::ErrorKind::Deserialize { err, .. } => err
                        .field()
                        .and_then(|i| headers.get(i as usize))
                        .map(str::to_string),
                    _ => None,
                };
                issues.push(InputIssue::new(
                    at(line, key),
                    format!("bad row: {}", csv_message(&err)),
                    Some(format!(
                        "the columns are: {}; numbers must be plain decimals",
                        headers.iter().collect::<Vec<_>>().join(",")
                    )),
                ));
            }
        }
    }
    Ok(rows)
}

fn csv_message(err: &csv::Error) -> String {
    match err.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
        _ => err.to_string(),
    }
}

/// Reads `nodes.csv` (columns `node,name_zh,lon,lat,source`).
pub fn read_nodes(path: &Path) -> Result<Vec<NodeInfo>> {
    let mut issues = Vec::new();
    let rows: Vec<(NodeRow, Location)> = read_rows(path, &mut issues)?;
    let mut nodes: Vec<NodeInfo> = Vec::new();
    for (row, loc) in rows {
        if !(-180.0..=180.0).contains(&row.lon) || !(-90.0..=90.0).contains(&row.lat) {
            issues.push(InputIssue::new(
                Location {
                    key: Some("lon/lat".into()),
                    ..loc.clone()
                },
                format!("coordinates ({}, {}) are not on Earth", row.lon, row.lat),
                Some("write longitude then latitude, in decimal degrees".into()),
            ));
        }
        if nodes.iter().any(|n| n.name == row.node) {
            issues.push(InputIssue::new(
                Location {
                    key: Some("node".into()),
                    ..loc
                },
                format!("node `{}` is listed twice", row.node),
                Some("keep one row per node".into()),
            ));
            continue;
        }
        nodes.push(NodeInfo {
            name: row.node,
            name_zh: row.name_zh,
            lon: row.lon,
            lat: row.lat,
            source: row.source,
        });
    }
    if issues.is_empty() {
        Ok(nodes)
    } else {
        Err(Error::Invalid(issues))
    }
}

/// Reads `history.csv` (columns `node,year,indicator,value,unit,real_growth_pct,vintage,source`).
pub fn read_history(path: &Path) -> Result<History> {
    let mut issues = Vec::new();
    let rows: Vec<(HistoryRow, Location)> = read_rows(path, &mut issues)?;
    let mut history = History::default();
    for (row, loc) in rows {
        if !row.value.is_finite() {
            issues.push(InputIssue::new(
                Location {
                    key: Some("value".into()),
                    ..loc
                },
                "value is not a finite number",
                None,
            ));
            continue;
        }
        let key = (row.node.clone(), row.indicator.clone(), row.year);
        if let Some(first) = history.values.get(&key) {
            issues.push(InputIssue::new(
                Location {
                    key: Some("node,year,indicator".into()),
                    ..loc
                },
                format!(
                    "{} {} {} appears twice (first at line {})",
                    row.node,
                    row.year,
                    row.indicator,
                    first.location.line.unwrap_or(0)
                ),
                Some("keep one figure per node, indicator and year; put another vintage under its own indicator name".into()),
            ));
            continue;
        }
        history.values.insert(
            key,
            HistoryValue {
                value: row.value,
                unit: row.unit,
                real_growth_pct: row.real_growth_pct,
                vintage: row.vintage.unwrap_or_default(),
                source: row.source,
                location: loc,
            },
        );
    }
    if issues.is_empty() {
        Ok(history)
    } else {
        Err(Error::Invalid(issues))
    }
}

/// A base-year value with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseValue {
    /// The value (亿元 or 万人).
    pub value: f64,
    /// Its source, or how it was derived from sourced figures.
    pub source: String,
}

/// Base-year values of one node; `None` where the data do not hold them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeBase {
    /// Indexed by [`BaseQuantity::index`].
    pub values: [Option<BaseValue>; 5],
    /// Why each missing value is missing (indexed like `values`).
    pub missing_reason: [String; 5],
}

impl NodeBase {
    /// The value of one quantity, if known.
    pub fn get(&self, q: BaseQuantity) -> Option<f64> {
        self.values[q.index()].as_ref().map(|v| v.value)
    }
}

/// Looks up the base-year values of `node` in the history.
///
/// - service value added: `service_va`;
/// - non-service value added: `gdp` less `service_va` (both in the base year);
/// - service employment: `service_employment`;
/// - non-service employment: service employment × (100 − s) / s with s the
///   `service_share_of_employment_pct` of the same year;
/// - logistics: `social_logistics_total`.
pub fn node_base(history: &History, node: &str, base_year: i32) -> NodeBase {
    let mut base = NodeBase::default();
    let get = |ind: &str| history.get(node, ind, base_year);
    let missing = |ind: &str| -> String {
        match history.latest_year(node, ind, base_year) {
            Some(y) => {
                format!("no {base_year} value of `{ind}` for {node} (latest in the data: {y})")
            }
            None => format!("no value of `{ind}` for {node} in the data"),
        }
    };
    let mut set = |q: BaseQuantity, v: Option<BaseValue>, why: String| {
        if v.is_none() {
            base.missing_reason[q.index()] = why;
        }
        base.values[q.index()] = v;
    };

    let sva = get("service_va");
    set(
        BaseQuantity::ServiceVa,
        sva.map(|v| BaseValue {
            value: v.value,
            source: v.source.clone(),
        }),
        missing("service_va"),
    );
    let gdp = get("gdp");
    let nsva = match (gdp, sva) {
        (Some(g), Some(s)) => Some(BaseValue {
            value: g.value - s.value,
            source: format!("gdp less service_va ({}; {})", g.source, s.source),
        }),
        _ => None,
    };
    let why = if gdp.is_none() {
        missing("gdp")
    } else {
        missing("service_va")
    };
    set(BaseQuantity::NonServiceVa, nsva, why);

    let es = get("service_employment");
    set(
        BaseQuantity::ServiceEmployment,
        es.map(|v| BaseValue {
            value: v.value,
            source: v.source.clone(),
        }),
        missing("service_employment"),
    );
    let share = get("service_share_of_employment_pct");
    let en = match (es, share) {
        (Some(e), Some(s)) if s.value > 0.0 && s.value < 100.0 => Some(BaseValue {
            value: e.value * (100.0 - s.value) / s.value,
            source: format!(
                "service_employment × (100 − share) / share ({}; {})",
                e.source, s.source
            ),
        }),
        _ => None,
    };
    let why = if es.is_none() {
        missing("service_employment")
    } else {
        missing("service_share_of_employment_pct")
    };
    set(BaseQuantity::NonServiceEmployment, en, why);

    let l = get("social_logistics_total");
    set(
        BaseQuantity::LogisticsTotal,
        l.map(|v| BaseValue {
            value: v.value,
            source: v.source.clone(),
        }),
        missing("social_logistics_total"),
    );
    base
}
