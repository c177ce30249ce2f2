//! Checks a merged raw scenario and builds the [`Scenario`] the engine runs.
//!
//! Rationale: every contract of the model's inputs is stated here once (volatilities
//! ≥ 0, |ρ| < 1, a positive-definite shock correlation, target years inside the
//! horizon, known nodes) and checked before any draw. Problems are collected, not
//! thrown one at a time, and each names the file and line that set the offending key.

use std::path::{Path, PathBuf};

use super::raw::{DistSpec, RawNodeParams, RawScenario};
use super::source::SourceChain;
use super::{
    Gravity, Group, Hub, Impulse, Link, NodeParams, Observation, ObservedKind, ResolvedTarget,
    Scenario, Sector, Shocks, WeightScheme,
};
use crate::backtest::CalibrationStatus;
use crate::data::{self, BaseValue, History, NodeBase, NodeInfo};
use crate::dist::Dist;
use crate::error::{Error, InputIssue, Location, Result};
use crate::indicator::{BaseQuantity, Indicator};
use crate::suggest;
use crate::targets::{self, Plan, Target};

/// Percent (or percentage points) to fraction.
const PCT: f64 = 0.01;

struct Checker<'a> {
    chain: &'a SourceChain,
    issues: Vec<InputIssue>,
}

impl Checker<'_> {
    fn at(&self, key: &str) -> Location {
        self.chain.locate(key)
    }

    /// Records a problem at `key`; a problem already recorded (the same line and
    /// message, e.g. a bad default shared by every node) is not repeated.
    fn fail(&mut self, key: &str, message: impl Into<String>, hint: impl Into<Option<String>>) {
        let issue = InputIssue::new(self.at(key), message, hint.into());
        if !self.issues.contains(&issue) {
            self.issues.push(issue);
        }
    }

    fn required<T>(&mut self, key: &str, v: Option<T>, example: &str) -> Option<T> {
        if v.is_none() {
            self.fail(
                key,
                format!("missing key `{key}`"),
                format!("add `{example}` to the scenario or to the scenario it extends"),
            );
        }
        v
    }

    /// A finite number within [lo, hi] (open bounds where `open`).
    fn number(&mut self, key: &str, v: f64, lo: f64, hi: f64, what: &str, hint: &str) -> f64 {
        if !v.is_finite() || v < lo || v > hi {
            self.fail(
                key,
                format!("{what} must be in [{lo}, {hi}], got {v}"),
                hint.to_string(),
            );
        }
        v
    }

    fn non_negative(&mut self, key: &str, v: f64, what: &str) -> f64 {
        if !v.is_finite() || v < 0.0 {
            self.fail(
                key,
                format!("{what} must be ≥ 0, got {v}"),
                format!("a {what} is a size; write its absolute value (in percentage points)"),
            );
        }
        v
    }

    /// Validates a distribution spec and converts it to model units.
    fn dist(&mut self, key: &str, spec: &DistSpec, scale: f64) -> Dist {
        let d = match *spec {
            DistSpec::Fixed(v) => {
                if !v.is_finite() {
                    self.fail(key, "value is not a finite number", None);
                }
                Dist::Fixed(v)
            }
            DistSpec::Normal { mean, sd, min, max } => {
                if !mean.is_finite() {
                    self.fail(&format!("{key}.mean"), "mean is not a finite number", None);
                }
                if !sd.is_finite() || sd < 0.0 {
                    self.fail(
                        &format!("{key}.sd"),
                        format!("standard deviation must be ≥ 0, got {sd}"),
                        "write the uncertainty as a positive sd (0 for a fixed value)".to_string(),
                    );
                }
                let (lo, hi) = (
                    min.unwrap_or(f64::NEG_INFINITY),
                    max.unwrap_or(f64::INFINITY),
                );
                if lo >= hi {
                    self.fail(
                        &format!("{key}.min"),
                        format!("min ({lo}) must be below max ({hi})"),
                        None,
                    );
                } else if sd > 0.0 && (mean < lo - 3.0 * sd || mean > hi + 3.0 * sd) {
                    self.fail(
                        &format!("{key}.mean"),
                        format!("mean {mean} lies far outside [min, max] = [{lo}, {hi}]"),
                        "widen the range or move the mean inside it".to_string(),
                    );
                }
                Dist::Normal {
                    mean,
                    sd,
                    min: lo,
                    max: hi,
                }
            }
            DistSpec::Uniform { low, high } => {
                if !(low.is_finite() && high.is_finite()) || low > high {
                    self.fail(
                        &format!("{key}.low"),
                        format!("need low ≤ high, got low = {low}, high = {high}"),
                        None,
                    );
                }
                Dist::Uniform { low, high }
            }
        };
        d.scaled(scale)
    }
}

/// Builds the validated scenario from the merged raw form.
pub(super) fn validate(chain: &SourceChain, raw: RawScenario) -> Result<Scenario> {
    let mut c = Checker {
        chain,
        issues: Vec::new(),
    };

    let name = c
        .required("name", raw.name.clone(), "name = \"baseline\"")
        .unwrap_or_default();
    if !name.is_empty()
        && !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        c.fail(
            "name",
            format!("name `{name}` is used as a folder name and may hold only ASCII letters, digits, - and _"),
            "e.g. name = \"czt-integration\"".to_string(),
        );
    }
    let base_year = c.required("base_year", raw.base_year, "base_year = 2020");
    let horizon = c.required("horizon", raw.horizon, "horizon = 2025");
    if let (Some(b), Some(h)) = (base_year, horizon)
        && (h <= b || h - b > 100)
    {
        c.fail(
            "horizon",
            format!("horizon {h} must be 1 to 100 years after base_year {b}"),
            None,
        );
    }
    let seed = c.required("seed", raw.seed, "seed = 2025");
    let draws = c.required("draws", raw.draws, "draws = 100000");
    if draws == Some(0) {
        c.fail("draws", "draws must be at least 1", None);
    }
    let node_file = c.required(
        "node_file",
        raw.node_file.clone(),
        "node_file = \"data/nodes.csv\"",
    );
    let history_file = c.required(
        "history_file",
        raw.history_file.clone(),
        "history_file = \"data/history.csv\"",
    );
    let node_names = c.required(
        "nodes",
        raw.nodes.clone(),
        "nodes = [\"Changsha\", \"Zhuzhou\", \"Xiangtan\", \"Hengyang\"]",
    );

    // Files: read them even if other keys failed, to report their problems too.
    let mut files: Vec<(String, PathBuf, String)> = chain
        .files
        .iter()
        .map(|f| {
            (
                "scenario".to_string(),
                f.path.clone(),
                crate::hash::sha256_hex(f.text.as_bytes()),
            )
        })
        .collect();
    let mut file_error: Option<Error> = None;
    let mut read_file = |role: &str, p: &Path, key: &str, c: &mut Checker| -> Option<Vec<u8>> {
        match std::fs::read(p) {
            Ok(bytes) => {
                files.push((
                    role.to_string(),
                    p.to_path_buf(),
                    crate::hash::sha256_hex(&bytes),
                ));
                Some(bytes)
            }
            Err(e) => {
                c.fail(
                    key,
                    format!("cannot read {}: {e}", p.display()),
                    "paths are relative to the folder of the scenario file that names them"
                        .to_string(),
                );
                None
            }
        }
    };
    let all_nodes: Vec<NodeInfo> = match &node_file {
        Some(p) if read_file("node_data", Path::new(p), "node_file", &mut c).is_some() => {
            match data::read_nodes(Path::new(p)) {
                Ok(n) => n,
                Err(Error::Invalid(mut v)) => {
                    c.issues.append(&mut v);
                    Vec::new()
                }
                Err(e) => {
                    file_error = Some(e);
                    Vec::new()
                }
            }
        }
        _ => Vec::new(),
    };
    let history: History = match &history_file {
        Some(p) if read_file("history", Path::new(p), "history_file", &mut c).is_some() => {
            match data::read_history(Path::new(p)) {
                Ok(h) => h,
                Err(Error::Invalid(mut v)) => {
                    c.issues.append(&mut v);
                    History::default()
                }
                Err(e) => {
                    file_error = Some(e);
                    History::default()
                }
            }
        }
        _ => History::default(),
    };
    if let Some(e) = file_error {
        return Err(e);
    }
    let known: Vec<&str> = all_nodes.iter().map(|n| n.name.as_str()).collect();

    // Nodes.
    let mut nodes: Vec<NodeInfo> = Vec::new();
    for (i, n) in node_names.iter().flatten().enumerate() {
        match all_nodes.iter().find(|x| &x.name == n) {
            _ if nodes.iter().any(|x| &x.name == n) => c.fail(
                &format!("nodes[{i}]"),
                format!("node `{n}` is listed twice"),
                None,
            ),
            Some(info) => nodes.push(info.clone()),
            None if !all_nodes.is_empty() => c.fail(
                &format!("nodes[{i}]"),
                format!("unknown node `{n}`: it is not in the node file"),
                format!(
                    "{} (or add the node with its coordinates to the node file)",
                    suggest::hint(n, known.iter().copied())
                ),
            ),
            None => {}
        }
    }
    if node_names.as_ref().is_some_and(|v| v.is_empty()) {
        c.fail("nodes", "at least one node is needed", None);
    }
    // When the node file or the node list is wrong, names elsewhere cannot be checked
    // against it without a cascade of knock-on errors: those checks are skipped.
    let nodes_ok = !all_nodes.is_empty()
        && c.issues.iter().all(|i| {
            !i.location
                .key
                .as_deref()
                .is_some_and(|k| k.starts_with("nodes") || k == "node_file")
        });
    let node_index = |n: &str| nodes.iter().position(|x| x.name == n);
    let selected: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();

    // Groups.
    let mut groups = Vec::new();
    for (gname, g) in raw.groups.iter().flatten() {
        if node_index(gname).is_some() {
            c.fail(
                &format!("groups.{gname}"),
                format!("group `{gname}` has the name of a node"),
                "give the group another name".to_string(),
            );
        }
        let mut members = Vec::new();
        for (i, m) in g.members.iter().enumerate() {
            match node_index(m) {
                Some(ix) if !members.contains(&ix) => members.push(ix),
                Some(_) => c.fail(
                    &format!("groups.{gname}.members[{i}]"),
                    format!("`{m}` is listed twice"),
                    None,
                ),
                None if !nodes_ok => {}
                None => c.fail(
                    &format!("groups.{gname}.members[{i}]"),
                    format!("unknown node `{m}` in group `{gname}`: members must be among `nodes`"),
                    suggest::hint(m, selected.iter().copied()),
                ),
            }
        }
        if g.members.is_empty() {
            c.fail(
                &format!("groups.{gname}.members"),
                "a group needs members",
                None,
            );
        }
        groups.push(Group {
            name: gname.clone(),
            name_zh: g.name_zh.clone().unwrap_or_default(),
            members,
        });
    }

    // Spatial.
    let spatial = raw.spatial.clone().unwrap_or_default();
    let weights = match spatial.weights.as_deref().unwrap_or("inverse_distance") {
        "inverse_distance" => {
            let power = spatial.distance_power.unwrap_or(1.0);
            if !(power.is_finite() && power > 0.0) {
                c.fail(
                    "spatial.distance_power",
                    format!("distance_power must be > 0, got {power}"),
                    None,
                );
            }
            WeightScheme::InverseDistance { power }
        }
        "nearest" => {
            let k = spatial.neighbours.unwrap_or(1);
            if k == 0 || (nodes.len() > 1 && k >= nodes.len()) {
                c.fail(
                    "spatial.neighbours",
                    format!("neighbours must be between 1 and the number of nodes less one ({}), got {k}", nodes.len().saturating_sub(1)),
                    None,
                );
            }
            WeightScheme::Nearest { k }
        }
        other => {
            c.fail(
                "spatial.weights",
                format!("unknown weight scheme `{other}`"),
                "use \"inverse_distance\" or \"nearest\"".to_string(),
            );
            WeightScheme::InverseDistance { power: 1.0 }
        }
    };
    let rho = match c.required(
        "spatial.rho",
        spatial.rho.clone(),
        "rho = { low = 0.0, high = 0.4 } under [spatial]",
    ) {
        Some(spec) => {
            let d = c.dist("spatial.rho", &spec, 1.0);
            let (lo, hi) = d.support();
            if lo <= -1.0 || hi >= 1.0 {
                c.fail(
                    "spatial.rho",
                    format!("every value of ρ must satisfy |ρ| < 1, but ρ can be as large as {}", if hi >= 1.0 { hi } else { lo }),
                    "with row-standardized weights the spatial multiplier (I − ρW)⁻¹ exists only for |ρ| < 1; e.g. rho = { low = 0.0, high = 0.4 }, or truncate a normal with min/max".to_string(),
                );
            }
            d
        }
        None => Dist::Fixed(0.0),
    };

    // Prices.
    let prices = raw.prices.clone().unwrap_or_default();
    let deflator_trend = match c.required(
        "prices.deflator_trend",
        prices.deflator_trend,
        "deflator_trend = { mean = 2.0, sd = 0.5 } under [prices]",
    ) {
        Some(s) => c.dist("prices.deflator_trend", &s, PCT),
        None => Dist::Fixed(0.0),
    };
    let deflator_volatility = c
        .required(
            "prices.deflator_volatility",
            prices.deflator_volatility,
            "deflator_volatility = 1.0 under [prices]",
        )
        .map(|v| c.non_negative("prices.deflator_volatility", v, "volatility") * PCT)
        .unwrap_or(0.0);

    // Shocks.
    let s = raw.shocks.clone().unwrap_or_default();
    let persistence = c
        .required(
            "shocks.persistence",
            s.persistence,
            "persistence = 0.5 under [shocks]",
        )
        .unwrap_or(0.0);
    if !(persistence.is_finite() && persistence.abs() < 1.0) {
        c.fail(
            "shocks.persistence",
            format!("persistence φ must satisfy |φ| < 1, got {persistence}"),
            "values near 0.3–0.6 are typical for annual growth deviations".to_string(),
        );
    }
    let node_correlation = c
        .required(
            "shocks.node_correlation",
            s.node_correlation,
            "node_correlation = 0.6 under [shocks]",
        )
        .unwrap_or(0.0);
    let sector_correlation = c
        .required(
            "shocks.sector_correlation",
            s.sector_correlation,
            "sector_correlation = 0.5 under [shocks]",
        )
        .unwrap_or(0.0);
    c.number(
        "shocks.sector_correlation",
        sector_correlation,
        -0.999,
        0.999,
        "sector_correlation",
        "a correlation strictly between −1 and 1",
    );
    let k = nodes.len().max(1) as f64;
    let min_c = if k > 1.0 { -1.0 / (k - 1.0) } else { -1.0 };
    if !(node_correlation.is_finite() && node_correlation > min_c + 1e-9 && node_correlation < 1.0)
    {
        c.fail(
            "shocks.node_correlation",
            format!("a common correlation among {} nodes must lie in ({min_c:.4}, 1), got {node_correlation}", nodes.len()),
            "outside this range the correlation matrix is not positive definite".to_string(),
        );
    }
    let jump_probability = c
        .required(
            "shocks.jump_probability",
            s.jump_probability,
            "jump_probability = 0.05 under [shocks]",
        )
        .unwrap_or(0.0);
    c.number(
        "shocks.jump_probability",
        jump_probability,
        0.0,
        1.0,
        "jump_probability",
        "a probability per year",
    );
    let jump_size = match c.required(
        "shocks.jump_size",
        s.jump_size.clone(),
        "jump_size = { mean = -4.0, sd = 1.5 } under [shocks]",
    ) {
        Some(spec) => c.dist("shocks.jump_size", &spec, PCT),
        None => Dist::Fixed(0.0),
    };
    let mut fixed_jumps = Vec::new();
    for (i, j) in s.fixed_jumps.iter().flatten().enumerate() {
        if let (Some(b), Some(h)) = (base_year, horizon)
            && (j.year <= b || j.year > h)
        {
            c.fail(
                &format!("shocks.fixed_jumps[{i}].year"),
                format!("year {} is outside the projection {}–{h}", j.year, b + 1),
                None,
            );
        }
        fixed_jumps.push((j.year, j.size * PCT));
    }

    // Logistics.
    let l = raw.logistics.clone().unwrap_or_default();
    let gravity = Gravity {
        origin_exponent: c.non_negative(
            "logistics.origin_exponent",
            l.origin_exponent.unwrap_or(1.0),
            "gravity exponent",
        ),
        destination_exponent: c.non_negative(
            "logistics.destination_exponent",
            l.destination_exponent.unwrap_or(1.0),
            "gravity exponent",
        ),
        distance_decay: c.non_negative(
            "logistics.distance_decay",
            l.distance_decay.unwrap_or(2.0),
            "distance decay",
        ),
        internal_distance_km: l.internal_distance_km.unwrap_or(25.0),
    };
    if gravity.origin_exponent + gravity.destination_exponent <= 0.0 {
        c.fail(
            "logistics.origin_exponent",
            "origin_exponent + destination_exponent must be > 0",
            None,
        );
    }
    if !(gravity.internal_distance_km.is_finite() && gravity.internal_distance_km > 0.0) {
        c.fail(
            "logistics.internal_distance_km",
            "internal_distance_km must be > 0",
            None,
        );
    }

    // Node parameters.
    let defaults = raw.node_defaults.clone().unwrap_or_default();
    let overrides = raw.node_params.clone().unwrap_or_default();
    for n in overrides.keys() {
        if !known.is_empty() && !known.contains(&n.as_str()) {
            c.fail(
                &format!("node_params.{n}"),
                format!("unknown node `{n}`"),
                suggest::hint(n, known.iter().copied()),
            );
        }
    }
    let params: Vec<NodeParams> = nodes
        .iter()
        .map(|n| node_params(&mut c, &n.name, &defaults, overrides.get(&n.name)))
        .collect();

    // Impulses.
    let mut impulses = Vec::new();
    for (i, imp) in raw.impulses.iter().flatten().enumerate() {
        let key = |k: &str| format!("impulses[{i}].{k}");
        let node = node_index(&imp.node);
        if node.is_none() {
            c.fail(
                &key("node"),
                format!("unknown node `{}`: impulses apply to `nodes`", imp.node),
                suggest::hint(&imp.node, selected.iter().copied()),
            );
        }
        let sector = match imp.sector.as_str() {
            "service" => Sector::Service,
            "non_service" => Sector::NonService,
            other => {
                c.fail(
                    &key("sector"),
                    format!("unknown sector `{other}`"),
                    "use \"service\" or \"non_service\"".to_string(),
                );
                Sector::Service
            }
        };
        if let (Some(b), Some(h)) = (base_year, horizon)
            && (imp.from <= b || imp.to > h || imp.from > imp.to)
        {
            c.fail(
                &key("from"),
                format!(
                    "years {}–{} must lie within the projection {}–{h}",
                    imp.from,
                    imp.to,
                    b + 1
                ),
                None,
            );
        }
        let size = c.dist(&key("size"), &imp.size, PCT);
        if let Some(node) = node {
            impulses.push(Impulse {
                node,
                sector,
                from: imp.from,
                to: imp.to,
                size,
                note: imp.note.clone().unwrap_or_default(),
            });
        }
    }

    // Links and hubs.
    let in_projection = |c: &mut Checker, key: &str, year: Option<i32>| {
        if let (Some(y), Some(b), Some(h)) = (year, base_year, horizon)
            && (y <= b || y > h)
        {
            c.fail(
                key,
                format!("year {y} is outside the projection {}–{h}", b + 1),
                "leave from_year out for a link in place from the base year".to_string(),
            );
        }
    };
    let mut links = Vec::new();
    for (i, l) in raw.links.iter().flatten().enumerate() {
        let key = |k: &str| format!("links[{i}].{k}");
        let ends: Vec<Option<usize>> = [(&l.from, "from"), (&l.to, "to")]
            .into_iter()
            .map(|(n, k)| {
                let ix = node_index(n);
                if ix.is_none() && nodes_ok {
                    c.fail(
                        &key(k),
                        format!("unknown node `{n}`: links join two of `nodes`"),
                        suggest::hint(n, selected.iter().copied()),
                    );
                }
                ix
            })
            .collect();
        if l.from == l.to {
            c.fail(
                &key("to"),
                "a link joins two different nodes",
                "the internal distance is set by [logistics] internal_distance_km".to_string(),
            );
        }
        if !(l.distance_km.is_finite() && l.distance_km > 0.0) {
            c.fail(
                &key("distance_km"),
                format!("distance_km must be > 0, got {}", l.distance_km),
                None,
            );
        }
        in_projection(&mut c, &key("from_year"), l.from_year);
        if let [Some(a), Some(b)] = ends[..] {
            links.push(Link {
                a,
                b,
                distance_km: l.distance_km,
                from_year: l.from_year,
                note: l.note.clone().unwrap_or_default(),
            });
        }
    }
    let mut hubs = Vec::new();
    for (i, h) in raw.hubs.iter().flatten().enumerate() {
        let key = |k: &str| format!("hubs[{i}].{k}");
        let node = node_index(&h.node);
        if node.is_none() && nodes_ok {
            c.fail(
                &key("node"),
                format!("unknown node `{}`: hubs apply to `nodes`", h.node),
                suggest::hint(&h.node, selected.iter().copied()),
            );
        }
        if !(h.factor.is_finite() && h.factor > 0.0) {
            c.fail(
                &key("factor"),
                format!("factor must be > 0, got {}", h.factor),
                "1 leaves attractiveness unchanged; 1.2 raises it by a fifth".to_string(),
            );
        }
        in_projection(&mut c, &key("from_year"), h.from_year);
        if let Some(node) = node {
            hubs.push(Hub {
                node,
                factor: h.factor,
                from_year: h.from_year,
                note: h.note.clone().unwrap_or_default(),
            });
        }
    }

    // Base values: history, then the scenario's own.
    let by = base_year.unwrap_or(0);
    let mut base: Vec<NodeBase> = nodes
        .iter()
        .map(|n| data::node_base(&history, &n.name, by))
        .collect();
    for (n, values) in raw.base_values.iter().flatten() {
        let ix = node_index(n);
        if ix.is_none() && nodes_ok {
            c.fail(
                &format!("base_values.{n}"),
                format!("unknown node `{n}`: base values apply to `nodes`"),
                suggest::hint(n, selected.iter().copied()),
            );
        }
        for (q, v) in values {
            let key = format!("base_values.{n}.{q}");
            let Some(quantity) = BaseQuantity::ALL.into_iter().find(|x| x.as_str() == q) else {
                c.fail(
                    &key,
                    format!("unknown base quantity `{q}`"),
                    suggest::hint(q, BaseQuantity::ALL.map(|x| x.as_str())),
                );
                continue;
            };
            if !(v.value.is_finite() && v.value > 0.0) {
                c.fail(
                    &format!("{key}.value"),
                    format!("a base value must be > 0, got {}", v.value),
                    None,
                );
            }
            if v.source.trim().is_empty() {
                c.fail(
                    &format!("{key}.source"),
                    "a base value needs its source",
                    "say where the figure is published".to_string(),
                );
            }
            if let Some(ix) = ix {
                base[ix].values[quantity.index()] = Some(BaseValue {
                    value: v.value,
                    source: v.source.clone(),
                });
            }
        }
    }

    // Observations after the base year.
    let mut observations: Vec<Observation> = Vec::new();
    for (i, o) in raw.observed.iter().flatten().enumerate() {
        let key = |k: &str| format!("observed[{i}].{k}");
        let node = node_index(&o.node);
        if node.is_none() && nodes_ok {
            c.fail(
                &key("node"),
                format!("unknown node `{}`: observations apply to `nodes`", o.node),
                suggest::hint(&o.node, selected.iter().copied()),
            );
        }
        let kind = ObservedKind::NAMES
            .iter()
            .find(|(n, _)| *n == o.indicator)
            .map(|(_, k)| *k);
        if kind.is_none() {
            c.fail(
                &key("indicator"),
                format!("`{}` cannot be observed here", o.indicator),
                suggest::hint(&o.indicator, ObservedKind::NAMES.map(|(n, _)| n)),
            );
        }
        in_projection(&mut c, &key("year"), Some(o.year));
        if !(o.value.is_finite() && o.value > 0.0) {
            c.fail(
                &key("value"),
                format!("an observed value must be > 0, got {}", o.value),
                None,
            );
        }
        if o.source.trim().is_empty() {
            c.fail(
                &key("source"),
                "an observation needs its source",
                "say where the figure is published".to_string(),
            );
        }
        if let (Some(node), Some(kind)) = (node, kind) {
            let needs = match kind {
                ObservedKind::ServiceVa | ObservedKind::Gdp => BaseQuantity::NonServiceVa,
                ObservedKind::LogisticsTotal => BaseQuantity::LogisticsTotal,
                ObservedKind::ServiceEmployment => BaseQuantity::ServiceEmployment,
            };
            if base[node].values[needs.index()].is_none()
                || base[node].values[BaseQuantity::ServiceVa.index()].is_none()
            {
                c.fail(&key("indicator"), format!("{} has no base-year value to project `{}` from, so an observation cannot condition it", o.node, o.indicator), "supply the base value under [base_values] with its source".to_string());
            }
            if observations
                .iter()
                .any(|x| x.node == node && x.kind == kind && x.year == o.year)
            {
                c.fail(
                    &key("year"),
                    format!("{} {} {} is observed twice", o.node, o.indicator, o.year),
                    None,
                );
            }
            observations.push(Observation {
                node,
                kind,
                year: o.year,
                value: o.value,
                source: o.source.clone(),
            });
        }
    }

    // Targets.
    let mut plans: Vec<Plan> = Vec::new();
    let mut targets: Vec<Target> = Vec::new();
    for (i, p) in raw.targets.iter().flatten().enumerate() {
        let path = Path::new(p);
        if read_file("targets", path, &format!("targets[{i}]"), &mut c).is_none() {
            continue;
        }
        match targets::read_targets_file(path, plans.len()) {
            Ok(f) => {
                if plans.iter().any(|x| x.id == f.plan.id) {
                    c.fail(
                        &format!("targets[{i}]"),
                        format!("plan `{}` is listed twice", f.plan.id),
                        None,
                    );
                    continue;
                }
                plans.push(f.plan);
                targets.extend(f.targets);
            }
            Err(Error::Invalid(mut v)) => c.issues.append(&mut v),
            Err(e) => return Err(e),
        }
    }
    let entities: Vec<&str> = selected
        .iter()
        .copied()
        .chain(groups.iter().map(|g| g.name.as_str()))
        .collect();
    let mut resolved = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        if targets[..i].iter().any(|x| x.id == t.id) {
            c.issues.push(InputIssue::new(
                t.location.clone(),
                format!("target id `{}` is used twice", t.id),
                Some("ids must be unique across all targets files".into()),
            ));
        }
        let entity = entities.iter().position(|e| *e == t.node);
        if entity.is_none() && t.not_modelled.is_none() && nodes_ok {
            c.issues.push(InputIssue::new(
                t.node_location.clone(),
                format!("unknown node or group `{}`", t.node),
                Some(format!(
                    "{}; the scenario's nodes and groups are the ones a target can name",
                    suggest::hint(&t.node, entities.iter().copied())
                )),
            ));
        }
        if let (Some(b), Some(h)) = (base_year, horizon)
            && (t.year <= b || t.year > h)
        {
            c.issues.push(InputIssue::new(
                t.year_location.clone(),
                format!("target year {} is outside the projection {}–{h}", t.year, b + 1),
                Some(format!("set the scenario's horizon to at least {} (or base_year before it), or leave this targets file out", t.year)),
            ));
        }
        let mut r = resolve_target(t, entity, &nodes, &groups, &base, by);
        r.observed = observed_value(&r, &observations, nodes.len());
        resolved.push(r);
    }

    let calibration = match &raw.backtest {
        None => CalibrationStatus::Uncalibrated {
            reason: "the scenario names no backtest (key `backtest`)".to_string(),
            scored: None,
        },
        // A summary that cannot be read leaves the run uncalibrated, saying why (so a
        // backtest scenario that inherits the key can still run to write it); one that
        // reads but is not a summary is an error.
        Some(p) => match std::fs::read(p) {
            Ok(bytes) => {
                files.push((
                    "backtest".to_string(),
                    PathBuf::from(p),
                    crate::hash::sha256_hex(&bytes),
                ));
                match crate::backtest::status_from_summary(&String::from_utf8_lossy(&bytes)) {
                    Ok(status) => status,
                    Err(e) => {
                        c.fail(
                            "backtest",
                            format!("{p} is not a backtest summary: {e}"),
                            "name the backtest-summary.json written by `xiang backtest`"
                                .to_string(),
                        );
                        CalibrationStatus::Uncalibrated {
                            reason: e,
                            scored: None,
                        }
                    }
                }
            }
            Err(e) => CalibrationStatus::Uncalibrated {
                reason: format!("the backtest summary {p} cannot be read ({e})"),
                scored: None,
            },
        },
    };
    if !c.issues.is_empty() {
        return Err(Error::Invalid(c.issues));
    }
    Ok(Scenario {
        name,
        title: raw.title.unwrap_or_default(),
        base_year: by,
        horizon: horizon.unwrap_or(0),
        seed: seed.unwrap_or(0),
        draws: draws.unwrap_or(1),
        nodes,
        base,
        params,
        groups,
        weights,
        rho,
        deflator_trend,
        deflator_volatility,
        shocks: Shocks {
            persistence,
            node_correlation,
            sector_correlation,
            jump_probability,
            jump_size,
            fixed_jumps,
        },
        gravity,
        impulses,
        links,
        hubs,
        observations,
        plans,
        targets: resolved,
        files,
        history,
        calibration,
    })
}

/// Node parameters: the node's override, else the default; all converted to fractions.
fn node_params(
    c: &mut Checker,
    node: &str,
    d: &RawNodeParams,
    o: Option<&RawNodeParams>,
) -> NodeParams {
    macro_rules! pick {
        ($field:ident) => {{
            let key_o = format!("node_params.{node}.{}", stringify!($field));
            let key_d = format!("node_defaults.{}", stringify!($field));
            match (o.and_then(|o| o.$field.clone()), d.$field.clone()) {
                (Some(v), _) => Some((v, key_o)),
                (None, Some(v)) => Some((v, key_d)),
                (None, None) => {
                    c.fail(
                        &key_d,
                        format!("missing `{}` for node {node}", stringify!($field)),
                        format!("set it under [node_defaults] or [node_params.{node}]"),
                    );
                    None
                }
            }
        }};
    }
    macro_rules! dist {
        ($field:ident, $scale:expr) => {
            match pick!($field) {
                Some((spec, key)) => c.dist(&key, &spec, $scale),
                None => Dist::Fixed(0.0),
            }
        };
    }
    macro_rules! vol {
        ($field:ident, $what:expr, $scale:expr) => {
            match pick!($field) {
                Some((v, key)) => c.non_negative(&key, v, $what) * $scale,
                None => 0.0,
            }
        };
    }
    let p = NodeParams {
        service_trend: dist!(service_trend, PCT),
        service_slowdown: dist!(service_slowdown, PCT),
        non_service_trend: dist!(non_service_trend, PCT),
        non_service_slowdown: dist!(non_service_slowdown, PCT),
        service_volatility: vol!(service_volatility, "volatility", PCT),
        non_service_volatility: vol!(non_service_volatility, "volatility", PCT),
        service_jump_exposure: vol!(service_jump_exposure, "jump exposure", 1.0),
        non_service_jump_exposure: vol!(non_service_jump_exposure, "jump exposure", 1.0),
        employment_elasticity: dist!(employment_elasticity, 1.0),
        employment_volatility: vol!(employment_volatility, "volatility", PCT),
        non_service_employment_trend: dist!(non_service_employment_trend, PCT),
        non_service_employment_volatility: vol!(
            non_service_employment_volatility,
            "volatility",
            PCT
        ),
        logistics_elasticity: dist!(logistics_elasticity, 1.0),
        logistics_volatility: vol!(logistics_volatility, "volatility", PCT),
        hub_factor: vol!(hub_factor, "hub factor", 1.0),
    };
    for (name, d) in [
        ("service_trend", p.service_trend),
        ("non_service_trend", p.non_service_trend),
    ] {
        // A growth of −100% or less would wipe out the level; an untruncated normal is
        // accepted when that lies more than 8 sd below its mean (probability < 1e-15).
        let reaches = match d {
            Dist::Normal { mean, sd, min, .. } if min == f64::NEG_INFINITY => {
                mean - 8.0 * sd <= -1.0
            }
            _ => d.support().0 <= -1.0,
        };
        if reaches {
            c.fail(
                &format!("node_defaults.{name}"),
                format!("{name} for {node} can fall to −100% or below"),
                "truncate it with min, e.g. min = -20".to_string(),
            );
        }
    }
    if p.hub_factor == 0.0 {
        c.fail(
            &format!("node_params.{node}.hub_factor"),
            "hub_factor must be > 0 (1 = no hub)",
            None,
        );
    }
    p
}

/// Matches a target to an entity and checks that its base data exist.
fn resolve_target(
    t: &Target,
    entity: Option<usize>,
    nodes: &[NodeInfo],
    groups: &[super::Group],
    base: &[NodeBase],
    base_year: i32,
) -> ResolvedTarget {
    let unresolved = |reason: String| ResolvedTarget {
        target: t.clone(),
        evaluable: None,
        reason,
        base_value: None,
        observed: None,
    };
    if let Some(r) = &t.not_modelled {
        return unresolved(r.clone());
    }
    let (Some(entity), Some(ind)) = (entity, t.indicator) else {
        return unresolved("node or indicator not in the scenario".into());
    };
    if let Some(f) = t.from_year
        && f != base_year
    {
        return unresolved(format!(
            "growth window starts in {f}, but projections start from the base year {base_year}"
        ));
    }
    // Members and what each needs.
    let (members, needs): (Vec<usize>, &[BaseQuantity]) = if entity < nodes.len() {
        (vec![entity], ind.node_requires())
    } else {
        (
            groups[entity - nodes.len()].members.clone(),
            ind.group_requires(),
        )
    };
    let mut missing = Vec::new();
    for &m in &members {
        for &q in needs {
            if base[m].values[q.index()].is_none() {
                missing.push(base[m].missing_reason[q.index()].clone());
            }
        }
    }
    if !missing.is_empty() {
        missing.dedup();
        return unresolved(format!(
            "missing base data: {}; supply it under [base_values] with its source to model this target",
            missing.join("; ")
        ));
    }
    let sum = |q: BaseQuantity| -> f64 { members.iter().filter_map(|&m| base[m].get(q)).sum() };
    let base_value = match ind {
        Indicator::ServiceVa => Some(sum(BaseQuantity::ServiceVa)),
        Indicator::NonServiceVa => Some(sum(BaseQuantity::NonServiceVa)),
        Indicator::Gdp => Some(sum(BaseQuantity::ServiceVa) + sum(BaseQuantity::NonServiceVa)),
        Indicator::ServiceShareOfGdp => {
            let s = sum(BaseQuantity::ServiceVa);
            Some(100.0 * s / (s + sum(BaseQuantity::NonServiceVa)))
        }
        Indicator::ServiceEmployment => Some(sum(BaseQuantity::ServiceEmployment)),
        Indicator::NonServiceEmployment => Some(sum(BaseQuantity::NonServiceEmployment)),
        Indicator::ServiceShareOfEmployment => {
            let s = sum(BaseQuantity::ServiceEmployment);
            Some(100.0 * s / (s + sum(BaseQuantity::NonServiceEmployment)))
        }
        Indicator::LogisticsTotal => Some(sum(BaseQuantity::LogisticsTotal)),
        Indicator::LogisticsIndex => Some(100.0),
        Indicator::ServiceVaRealGrowth | Indicator::GdpRealGrowth => None,
    };
    ResolvedTarget {
        target: t.clone(),
        evaluable: Some((entity, ind)),
        reason: String::new(),
        base_value,
        observed: None,
    }
}

/// The value a node's target takes in an observed year, where observations fix it:
/// a level observed directly, or the service share when service value added and GDP
/// are both observed. Groups and growth targets are left to the projection.
fn observed_value(r: &ResolvedTarget, obs: &[Observation], k: usize) -> Option<f64> {
    let (entity, ind) = r.evaluable?;
    if entity >= k {
        return None;
    }
    let year = r.target.year;
    let get = |kind: ObservedKind| {
        obs.iter()
            .find(|o| o.node == entity && o.kind == kind && o.year == year)
            .map(|o| o.value)
    };
    match ind {
        Indicator::ServiceVa => get(ObservedKind::ServiceVa),
        Indicator::Gdp => get(ObservedKind::Gdp),
        Indicator::LogisticsTotal => get(ObservedKind::LogisticsTotal),
        Indicator::ServiceEmployment => get(ObservedKind::ServiceEmployment),
        Indicator::ServiceShareOfGdp => {
            Some(100.0 * get(ObservedKind::ServiceVa)? / get(ObservedKind::Gdp)?)
        }
        _ => None,
    }
}
