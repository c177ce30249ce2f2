//! Plan targets files: one TOML file per plan, each target with its source sentence.
//!
//! Rationale: targets are data that planners maintain (the 2030 targets of the next
//! plan are a new file, not new code). A target the model cannot evaluate stays in the
//! file with the reason, so nothing a plan promises silently disappears from the output.
//! Indicator names are checked against the model's list unless the target is marked
//! `not_modelled`, so a typo is an error with a suggestion, never a silent omission.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, InputIssue, Location, Result};
use crate::indicator::Indicator;
use crate::scenario::source::{TomlSource, parse_path};

/// How a projected value is compared with the target value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    /// value ≥ target.
    Ge,
    /// value > target.
    Gt,
    /// value ≤ target.
    Le,
    /// value < target.
    Lt,
}

impl Comparator {
    /// Parses `>=`, `>`, `<=`, `<`.
    pub fn parse(s: &str) -> Option<Comparator> {
        match s {
            ">=" => Some(Comparator::Ge),
            ">" => Some(Comparator::Gt),
            "<=" => Some(Comparator::Le),
            "<" => Some(Comparator::Lt),
            _ => None,
        }
    }

    /// As written in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::Ge => ">=",
            Comparator::Gt => ">",
            Comparator::Le => "<=",
            Comparator::Lt => "<",
        }
    }

    /// Whether `value` meets `target`. A NaN value never meets a target.
    #[inline]
    pub fn met(self, value: f64, target: f64) -> bool {
        match self {
            Comparator::Ge => value >= target,
            Comparator::Gt => value > target,
            Comparator::Le => value <= target,
            Comparator::Lt => value < target,
        }
    }
}

/// A plan: the document whose targets a file lists.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Identifier (e.g. `xiangtan-services-14th`).
    pub id: String,
    /// Title as published.
    pub title: String,
    /// English title.
    pub title_en: String,
    /// The plan's own base year.
    pub base_year: Option<i32>,
    /// The targets file.
    pub file: PathBuf,
}

/// One target as read from a file (before it is matched to the scenario's nodes).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Identifier, unique in a run.
    pub id: String,
    /// Index of its plan in the run's plan list.
    pub plan: usize,
    /// Node or group name.
    pub node: String,
    /// Indicator name as written.
    pub indicator_name: String,
    /// The model's indicator, when it is one.
    pub indicator: Option<Indicator>,
    /// Target year.
    pub year: i32,
    /// Comparator.
    pub comparator: Comparator,
    /// Target value, in `unit`.
    pub value: f64,
    /// Unit as written.
    pub unit: String,
    /// Price basis as written (`nominal_level`, `real_growth`, `share`).
    pub basis: String,
    /// Start of the growth window, for growth targets.
    pub from_year: Option<i32>,
    /// The plan's sentence.
    pub quote: String,
    /// How the target was read.
    pub note: Option<String>,
    /// Reason given in the file why the model cannot evaluate it.
    pub not_modelled: Option<String>,
    /// Where it is written (its `id` key).
    pub location: Location,
    /// Where its `node` key is written.
    pub node_location: Location,
    /// Where its `year` key is written.
    pub year_location: Location,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    plan: RawPlan,
    #[serde(default)]
    targets: Vec<RawTarget>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    id: String,
    title: String,
    title_en: Option<String>,
    base_year: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    id: String,
    node: String,
    indicator: String,
    year: i32,
    comparator: String,
    value: f64,
    unit: String,
    basis: String,
    from_year: Option<i32>,
    quote: String,
    note: Option<String>,
    not_modelled: Option<String>,
}

/// The contents of one targets file.
#[derive(Debug, Clone)]
pub struct TargetsFile {
    /// The plan.
    pub plan: Plan,
    /// Its targets (with `plan` set to `plan_index`).
    pub targets: Vec<Target>,
    /// The parsed source, for the manifest.
    pub text: String,
}

/// Reads one targets file and checks what can be checked without the scenario:
/// comparator, indicator name, unit and basis against the indicator, growth windows.
/// All problems of the file are reported together.
pub fn read_targets_file(path: &Path, plan_index: usize) -> Result<TargetsFile> {
    let src = TomlSource::read(path)?;
    let raw: RawFile = src.deserialize()?;
    let mut issues = Vec::new();
    let at = |key: String| Location {
        file: path.to_path_buf(),
        line: src.line_of_key(&parse_path(&key)),
        key: Some(key),
    };
    let plan = Plan {
        id: raw.plan.id,
        title: raw.plan.title,
        title_en: raw.plan.title_en.unwrap_or_default(),
        base_year: raw.plan.base_year,
        file: path.to_path_buf(),
    };
    let mut targets = Vec::new();
    for (i, t) in raw.targets.into_iter().enumerate() {
        let key = |k: &str| format!("targets[{i}].{k}");
        let comparator = match Comparator::parse(t.comparator.trim()) {
            Some(c) => c,
            None => {
                issues.push(InputIssue::new(
                    at(key("comparator")),
                    format!("unknown comparator `{}`", t.comparator),
                    Some(
                        "use one of \">=\", \">\", \"<=\", \"<\" (read 左右 'about' as \">=\")"
                            .into(),
                    ),
                ));
                Comparator::Ge
            }
        };
        if !t.value.is_finite() {
            issues.push(InputIssue::new(
                at(key("value")),
                "value is not a finite number",
                None,
            ));
        }
        let indicator = Indicator::parse(&t.indicator);
        match (indicator, &t.not_modelled) {
            (None, None) => issues.push(InputIssue::new(
                at(key("indicator")),
                format!("`{}` is not an indicator the model projects", t.indicator),
                Some(match Indicator::closest(&t.indicator) {
                    Some(c) => format!("did you mean `{c}`? If the target really is on another indicator, keep it and add not_modelled = \"<reason>\""),
                    None => "add not_modelled = \"<reason>\" to keep it in the output unscored, or use one of: ".to_string()
                        + &Indicator::ALL.map(|i| i.as_str()).join(", "),
                }),
            )),
            (Some(ind), None) => {
                if t.unit != ind.unit() {
                    issues.push(InputIssue::new(
                        at(key("unit")),
                        format!("unit `{}` does not match `{}`, which is in {}", t.unit, ind, ind.unit()),
                        Some(format!("write unit = \"{}\" and the value in that unit", ind.unit())),
                    ));
                }
                if t.basis != ind.basis().as_str() {
                    issues.push(InputIssue::new(
                        at(key("basis")),
                        format!("basis `{}` does not match `{}`", t.basis, ind),
                        Some(format!("write basis = \"{}\"", ind.basis().as_str())),
                    ));
                }
                match (ind.is_growth(), t.from_year) {
                    (true, None) => issues.push(InputIssue::new(
                        at(key("indicator")),
                        "a growth target needs `from_year`, the start of its growth window",
                        Some("add from_year = 2020 for a 2021–2025 average".into()),
                    )),
                    (true, Some(f)) if f >= t.year => issues.push(InputIssue::new(
                        at(key("from_year")),
                        format!("from_year {f} is not before the target year {}", t.year),
                        None,
                    )),
                    (false, Some(_)) => issues.push(InputIssue::new(
                        at(key("from_year")),
                        "from_year applies to growth targets only",
                        Some("remove it".into()),
                    )),
                    _ => {}
                }
            }
            (_, Some(reason)) if reason.trim().is_empty() => issues.push(InputIssue::new(
                at(key("not_modelled")),
                "not_modelled needs a reason",
                Some("say why the model cannot evaluate this target".into()),
            )),
            _ => {}
        }
        if t.quote.trim().is_empty() {
            issues.push(InputIssue::new(
                at(key("quote")),
                "every target needs the plan's sentence it comes from",
                None,
            ));
        }
        targets.push(Target {
            id: t.id,
            plan: plan_index,
            node: t.node,
            indicator_name: t.indicator,
            indicator: indicator.filter(|_| t.not_modelled.is_none()),
            year: t.year,
            comparator,
            value: t.value,
            unit: t.unit,
            basis: t.basis,
            from_year: t.from_year,
            quote: t.quote,
            note: t.note,
            not_modelled: t.not_modelled,
            location: at(key("id")),
            node_location: at(key("node")),
            year_location: at(key("year")),
        });
    }
    if issues.is_empty() {
        Ok(TargetsFile {
            plan,
            targets,
            text: src.text,
        })
    } else {
        Err(Error::Invalid(issues))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparators() {
        assert!(Comparator::Ge.met(2.0, 2.0));
        assert!(!Comparator::Gt.met(2.0, 2.0));
        assert!(Comparator::Le.met(1.0, 2.0));
        assert!(!Comparator::Lt.met(f64::NAN, 2.0));
        assert!(!Comparator::Ge.met(f64::NAN, 2.0));
        for s in [">=", ">", "<=", "<"] {
            assert_eq!(Comparator::parse(s).map(|c| c.as_str()), Some(s));
        }
        assert_eq!(Comparator::parse("=="), None);
    }
}
