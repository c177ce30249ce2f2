//! Shared fixtures for integration tests: small data files and scenarios written to a
//! temporary folder, so each test states its whole model in its own text.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Two nodes 100 km apart and one far away, with 2020 base values for every quantity.
pub const NODES_CSV: &str = "node,name_zh,lon,lat,source\n\
Solo,独,112.00,28.00,test\n\
Near,近,113.02,28.00,test\n\
Far,远,110.00,25.00,test\n";

/// Base values: Solo has everything; Near has output only; Far has nothing.
pub const HISTORY_CSV: &str = "node,year,indicator,value,unit,real_growth_pct,vintage,source\n\
Solo,2020,gdp,1000,亿元,,revised,test\n\
Solo,2020,service_va,400,亿元,,revised,test\n\
Solo,2020,service_employment,100,万人,,revised,test\n\
Solo,2020,service_share_of_employment_pct,40,%,,revised,test\n\
Solo,2020,social_logistics_total,2000,亿元,,revised,test\n\
Near,2020,gdp,500,亿元,,revised,test\n\
Near,2020,service_va,250,亿元,,revised,test\n";

/// A scenario body with every key set; `{…}` placeholders are filled by [`scenario`].
pub const TEMPLATE: &str = r#"
name = "test"
base_year = 2020
horizon = {horizon}
seed = 7
draws = 1000
nodes = {nodes}
node_file = "nodes.csv"
history_file = "history.csv"
targets = {targets}

[groups.Pair]
members = ["Solo", "Near"]

[spatial]
rho = {rho}

[prices]
deflator_trend = {deflator}
deflator_volatility = 0.0

[shocks]
persistence = {persistence}
node_correlation = 0.5
sector_correlation = 0.3
jump_probability = {jump_probability}
jump_size = { mean = -4.0, sd = 1.0 }

[node_defaults]
service_trend = {service_trend}
service_slowdown = {service_slowdown}
non_service_trend = {non_service_trend}
non_service_slowdown = 0.0
service_volatility = {volatility}
non_service_volatility = {volatility}
service_jump_exposure = 1.0
non_service_jump_exposure = 1.0
employment_elasticity = 0.5
employment_volatility = 0.0
non_service_employment_trend = -1.0
non_service_employment_volatility = 0.0
logistics_elasticity = 0.8
logistics_volatility = 0.0
hub_factor = 1.0
"#;

/// Fills the template: `overrides` are (placeholder, value) pairs; unset ones get
/// deterministic defaults (no uncertainty at all).
pub fn scenario(overrides: &[(&str, &str)]) -> String {
    let defaults = [
        ("horizon", "2025"),
        ("nodes", r#"["Solo", "Near"]"#),
        ("targets", "[]"),
        ("rho", "0.2"),
        ("deflator", "2.0"),
        ("persistence", "0.0"),
        ("jump_probability", "0.0"),
        ("service_trend", "7.0"),
        ("service_slowdown", "0.0"),
        ("non_service_trend", "7.0"),
        ("volatility", "0.0"),
    ];
    let mut text = TEMPLATE.to_string();
    for (key, default) in defaults {
        let value = overrides
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(default, |(_, v)| v);
        text = text.replace(&format!("{{{key}}}"), value);
    }
    text
}

/// Writes the data files, `targets` (name, text) and the scenario into `dir`; returns
/// the scenario's path.
pub fn write(dir: &Path, scenario_text: &str, targets: &[(&str, &str)]) -> PathBuf {
    std::fs::write(dir.join("nodes.csv"), NODES_CSV).unwrap();
    std::fs::write(dir.join("history.csv"), HISTORY_CSV).unwrap();
    for (name, text) in targets {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let path = dir.join("scenario.toml");
    std::fs::write(&path, scenario_text).unwrap();
    path
}

/// A targets file for plan `id` with the given `[[targets]]` blocks.
pub fn targets_file(id: &str, blocks: &[String]) -> String {
    let mut s = format!("[plan]\nid = \"{id}\"\ntitle = \"测试\"\n");
    for b in blocks {
        s.push_str("\n[[targets]]\n");
        s.push_str(b);
    }
    s
}

/// One target block (a flat argument list reads like the TOML it writes).
#[allow(clippy::too_many_arguments)]
pub fn target(
    id: &str,
    node: &str,
    indicator: &str,
    cmp: &str,
    value: f64,
    unit: &str,
    basis: &str,
    extra: &str,
) -> String {
    format!(
        "id = \"{id}\"\nnode = \"{node}\"\nindicator = \"{indicator}\"\nyear = 2025\ncomparator = \"{cmp}\"\nvalue = {value}\nunit = \"{unit}\"\nbasis = \"{basis}\"\nquote = \"测试句子\"\n{extra}\n"
    )
}

/// Path of a shipped scenario.
pub fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}
