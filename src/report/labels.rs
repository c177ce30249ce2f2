//! Labels of the report in Chinese and English, and the verdict bands.
//!
//! Rationale: reports go into Chinese and English documents alike, so every word the
//! report prints (titles, column headers, indicator and node names, verdicts) comes from
//! one small table with both languages; `both` shows "中文 / English". The verdict
//! wording follows fixed probability bands, stated in the report itself, so that the
//! same probability always reads the same way (in the spirit of the IPCC's calibrated
//! language).

use std::fmt;
use std::str::FromStr;

use crate::results::CalibrationInfo;

/// The language of the report's labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Chinese only.
    Zh,
    /// English only.
    En,
    /// "中文 / English".
    #[default]
    Both,
}

impl Lang {
    /// The option's spelling: `zh`, `en` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
            Lang::Both => "both",
        }
    }

    /// Picks the text of a (Chinese, English) pair.
    pub fn pick(self, zh: &str, en: &str) -> String {
        match self {
            Lang::Zh => zh.to_string(),
            Lang::En => en.to_string(),
            Lang::Both if zh == en => zh.to_string(),
            Lang::Both => format!("{zh} / {en}"),
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zh" => Ok(Lang::Zh),
            "en" => Ok(Lang::En),
            "both" => Ok(Lang::Both),
            other => Err(format!("unknown language `{other}`; use zh, en or both")),
        }
    }
}

/// Every fixed text of the report: key, Chinese, English.
const TEXTS: &[(&str, &str, &str)] = &[
    ("title", "规划目标可行性报告", "Feasibility of plan targets"),
    ("scenario", "情景", "Scenario"),
    ("draws", "模拟次数", "Draws"),
    ("seed", "随机种子", "Seed"),
    ("version", "版本", "Version"),
    ("base_year", "基年", "Base year"),
    ("horizon", "预测终年", "Horizon"),
    ("threads", "线程数", "Threads"),
    (
        "bands_title",
        "结论用语与概率区间",
        "Verdict wording and probability bands",
    ),
    ("probability", "达成概率", "Probability"),
    ("verdict", "结论", "Verdict"),
    ("feasibility_title", "目标可行性", "Feasibility of targets"),
    ("plan", "规划", "Plan"),
    ("target_id", "目标编号", "Target"),
    ("node", "地区", "Node"),
    ("indicator", "指标", "Indicator"),
    ("year", "年份", "Year"),
    ("target", "目标值", "Target value"),
    ("quote", "规划原文", "Source sentence"),
    ("p_met", "达成概率", "P(met)"),
    (
        "median_interval",
        "预测中位数 [90%区间]",
        "Median [90% interval]",
    ),
    (
        "required_growth",
        "所需年均增速 (%)",
        "Required growth, % per year",
    ),
    (
        "delivered_growth",
        "2015–2020年实际增速 (%)",
        "Delivered 2015–2020, % per year",
    ),
    (
        "p_met_note",
        "达成概率：目标达成的模拟次数占比，± 为1.96倍蒙特卡洛标准误（百分点）。中位数与90%区间（5%与95%分位数）为预测值，单位同目标。",
        "P(met): share of draws in which the target is met, ± 1.96 Monte Carlo standard errors in percentage points. Median and 90% interval (5% and 95% quantiles) of the projected value, in the target's unit.",
    ),
    (
        "growth_rule_title",
        "已实现增速的计算规则",
        "How delivered growth is computed",
    ),
    (
        "growth_rule",
        "总量与比重目标：同一数据版本（vintage）内最早与最晚观测年份之间的名义年均增速（不跨版本计算；有多对年份时取跨度最长者，跨度相同取较新者）；比重目标为比重本身的年均变化率。实际增速目标：服务业增加值（GDP目标为地区生产总值）在首个观测年份之后各年已公布实际增速的平均值。无法计算时显示“—”并注明原因。",
        "Level and share targets: nominal average annual growth between the earliest and latest observed years of the same data vintage (never across vintages; of several such pairs the longest span, then the most recent); for shares, the growth of the share itself. Real growth targets: the mean of the published real growth of service value added (GDP for GDP targets) over the observed years after the first. Where this cannot be computed the cell shows “—” with a footnote saying why.",
    ),
    (
        "plans_title",
        "规划整体可行性",
        "Plans: all targets together",
    ),
    ("targets_total", "目标数", "Targets"),
    ("targets_modelled", "已建模目标数", "Modelled"),
    (
        "p_all_met",
        "全部已建模目标同时达成的概率",
        "P(all modelled targets met)",
    ),
    (
        "p_all_met_note",
        "同一规划的目标相互关联，联合概率不等于单项概率之积。",
        "Targets of one plan are correlated, so the joint probability is not the product of the single ones.",
    ),
    ("none_modelled", "无已建模目标", "no modelled target"),
    ("uncalibrated_mark", "（未校准）", " (uncalibrated)"),
    (
        "uncalibrated_title",
        "概率未经校准。",
        "Probabilities are uncalibrated.",
    ),
    (
        "uncalibrated_text",
        "以下概率来自情景假设，其区间尚未经回测证明可靠（回测中90%区间须覆盖至少80%的观测值，且观测值不少于36个）。原因：",
        "The probabilities below follow from the scenario's assumptions; the bands behind them have not been shown to hold (a backtest must find at least 80% of at least 36 observed values inside the 90% bands). Reason: ",
    ),
    (
        "calibrated_text",
        "概率已经回测检验：",
        "Probabilities backtested: ",
    ),
    ("observed_met", "已达成（观测值）", "met (observed)"),
    ("observed_missed", "未达成（观测值）", "missed (observed)"),
    (
        "tracked_title",
        "已采用的基年后观测值",
        "Observations used after the base year",
    ),
    (
        "tracked_text",
        "预测从以下观测值出发，达成概率是以这些已发生的数据为条件的概率。",
        "The projection starts from these observed values; probabilities are conditional on what has already happened.",
    ),
    (
        "tracked_none",
        "无：预测仅以基年数据为起点。",
        "None: the projection starts from the base year alone.",
    ),
    ("value", "数值", "Value"),
    ("source", "来源", "Source"),
    (
        "not_modelled_title",
        "未建模的目标及原因",
        "Targets not modelled, with reasons",
    ),
    ("reason", "原因", "Reason"),
    (
        "no_not_modelled",
        "所有目标均已建模。",
        "Every target is modelled.",
    ),
    ("comparison_title", "情景比较", "Scenario comparison"),
    ("charts_title", "扇形图", "Fan charts"),
    (
        "chart_note",
        "点：2015–2020年观测值；深色带：50%区间；浅色带：90%区间；线：中位数；菱形：目标及其达成概率。",
        "Points: observed 2015–2020; dark band: 50% interval; light band: 90% interval; line: median; diamond: target with its P(met).",
    ),
    (
        "manifest_title",
        "运行信息（可复现）",
        "Run manifest (to reproduce)",
    ),
    (
        "reproduce",
        "以相同的输入文件（SHA-256一致）运行以下命令可逐位复现结果：",
        "The results are reproduced bit for bit by this command with the same input files (same SHA-256):",
    ),
    ("role", "用途", "Role"),
    ("path", "文件", "File"),
    ("sha256", "SHA-256", "SHA-256"),
    ("median", "中位数", "median"),
    ("band50", "50%区间", "50%"),
    ("band90", "90%区间", "90%"),
    ("observed", "观测值", "observed"),
    ("target_marker", "目标", "target"),
    ("missing", "—", "—"),
];

/// The fixed texts in `lang`, as (key, text) pairs.
pub fn texts(lang: Lang) -> Vec<(&'static str, String)> {
    TEXTS
        .iter()
        .map(|(key, zh, en)| (*key, lang.pick(zh, en)))
        .collect()
}

/// One fixed text by key; the key itself if unknown.
pub fn text(lang: Lang, key: &str) -> String {
    TEXTS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map_or_else(|| key.to_string(), |(_, zh, en)| lang.pick(zh, en))
}

/// Indicator names: model name, Chinese, English.
const INDICATORS: &[(&str, &str, &str)] = &[
    ("service_va", "服务业增加值", "Service value added"),
    ("gdp", "地区生产总值", "GDP"),
    (
        "non_service_va",
        "非服务业增加值",
        "Non-service value added",
    ),
    (
        "service_share_of_gdp",
        "服务业增加值占GDP比重",
        "Service share of GDP",
    ),
    (
        "service_va_real_growth",
        "服务业增加值年均实际增速",
        "Service VA real growth",
    ),
    (
        "gdp_real_growth",
        "地区生产总值年均实际增速",
        "GDP real growth",
    ),
    ("service_employment", "服务业就业人数", "Service employment"),
    (
        "non_service_employment",
        "非服务业就业人数",
        "Non-service employment",
    ),
    (
        "service_share_of_employment",
        "服务业就业占比",
        "Service share of employment",
    ),
    (
        "logistics_total",
        "社会物流总额",
        "Total social logistics value",
    ),
];

/// The name of an indicator in `lang`; unknown indicators keep their own name.
pub fn indicator(lang: Lang, name: &str) -> String {
    INDICATORS
        .iter()
        .find(|(k, _, _)| *k == name)
        .map_or_else(|| name.to_string(), |(_, zh, en)| lang.pick(zh, en))
}

/// Node and group names: model name, Chinese, English.
const NODES: &[(&str, &str, &str)] = &[
    ("Changsha", "长沙", "Changsha"),
    ("Zhuzhou", "株洲", "Zhuzhou"),
    ("Xiangtan", "湘潭", "Xiangtan"),
    ("Hengyang", "衡阳", "Hengyang"),
    ("CZT", "长株潭", "CZT"),
];

/// The name of a node or group in `lang`; unknown names are kept as they are.
pub fn node(lang: Lang, name: &str) -> String {
    NODES
        .iter()
        .find(|(k, _, _)| *k == name)
        .map_or_else(|| name.to_string(), |(_, zh, en)| lang.pick(zh, en))
}

/// The verdict bands: lower bound (fraction, inclusive), Chinese, English; from the
/// highest band down. The last band has lower bound 0.
pub const VERDICT_BANDS: [(f64, &str, &str); 5] = [
    (0.90, "很可能", "very likely"),
    (0.66, "可能", "likely"),
    (0.33, "可能性中等", "about as likely as not"),
    (0.10, "不太可能", "unlikely"),
    (0.0, "很不可能", "very unlikely"),
];

/// The verdict for a probability (fraction 0..1) in `lang`; `None` for a missing or
/// non-finite probability.
pub fn verdict(lang: Lang, p: Option<f64>) -> Option<String> {
    let p = p.filter(|p| p.is_finite())?;
    VERDICT_BANDS
        .iter()
        .find(|(low, _, _)| p >= *low)
        .or(VERDICT_BANDS.last())
        .map(|(_, zh, en)| lang.pick(zh, en))
}

/// The report's sentence on whether a run's probabilities are calibrated, and why, in
/// its language: the backtest's figures where one was read, else its English note (a
/// file path or a system error has no translation).
pub fn calibration_note(lang: Lang, info: &CalibrationInfo) -> String {
    use crate::backtest::{MIN_COVERAGE90, MIN_POINTS, Shortfall, shortfall};
    let zh = match (info.points, info.coverage90) {
        (Some(n), Some(c)) => match shortfall(c, n) {
            None => format!(
                "最近一次回测的90%区间覆盖了{n}个观测值中的{:.0}%",
                100.0 * c
            ),
            Some(Shortfall::TooFewPoints) => format!(
                "最近一次回测仅评估了{n}个观测值，少于区分90%与80%覆盖率所需的{MIN_POINTS}个"
            ),
            Some(Shortfall::LowCoverage) => format!(
                "最近一次回测的90%区间仅覆盖了{n}个观测值中的{:.0}%（低于{:.0}%）",
                100.0 * c,
                100.0 * MIN_COVERAGE90
            ),
        },
        _ => format!("没有可用的回测结果（{}）", info.note),
    };
    let lead = if info.calibrated {
        "calibrated_text"
    } else {
        "uncalibrated_text"
    };
    lang.pick(
        &format!("{}{zh}。", text(Lang::Zh, lead)),
        &format!("{}{}.", text(Lang::En, lead), info.note),
    )
}

/// The bands as (range text, verdict) pairs for the report's legend, e.g.
/// ("≥ 90%", "very likely"), ("66%–90%", "likely"), …, ("< 10%", "very unlikely").
pub fn band_legend(lang: Lang) -> Vec<(String, String)> {
    let mut rows = Vec::with_capacity(VERDICT_BANDS.len());
    let mut upper: Option<f64> = None;
    for (low, zh, en) in VERDICT_BANDS {
        let range = match (upper, low > 0.0) {
            (None, _) => format!("≥ {:.0}%", low * 100.0),
            (Some(up), true) => format!("{:.0}%–{:.0}%", low * 100.0, up * 100.0),
            (Some(up), false) => format!("< {:.0}%", up * 100.0),
        };
        rows.push((range, lang.pick(zh, en)));
        upper = Some(low);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_bands() {
        assert_eq!(
            verdict(Lang::En, Some(0.95)).as_deref(),
            Some("very likely")
        );
        assert_eq!(
            verdict(Lang::En, Some(0.90)).as_deref(),
            Some("very likely")
        );
        assert_eq!(verdict(Lang::En, Some(0.8999)).as_deref(), Some("likely"));
        assert_eq!(
            verdict(Lang::En, Some(0.5)).as_deref(),
            Some("about as likely as not")
        );
        assert_eq!(verdict(Lang::En, Some(0.2)).as_deref(), Some("unlikely"));
        assert_eq!(verdict(Lang::Zh, Some(0.0)).as_deref(), Some("很不可能"));
        assert_eq!(
            verdict(Lang::Both, Some(0.0999)).as_deref(),
            Some("很不可能 / very unlikely")
        );
        assert_eq!(verdict(Lang::En, None), None);
        assert_eq!(verdict(Lang::En, Some(f64::NAN)), None);
    }

    #[test]
    fn legend_states_every_band() {
        let legend = band_legend(Lang::En);
        assert_eq!(legend[0].0, "≥ 90%");
        assert_eq!(legend[1].0, "66%–90%");
        assert_eq!(
            legend[4],
            ("< 10%".to_string(), "very unlikely".to_string())
        );
    }

    #[test]
    fn languages_parse_and_pick() {
        assert_eq!("zh".parse::<Lang>(), Ok(Lang::Zh));
        assert!("fr".parse::<Lang>().is_err());
        assert_eq!(indicator(Lang::Zh, "gdp"), "地区生产总值");
        assert_eq!(indicator(Lang::Both, "unknown_x"), "unknown_x");
        assert_eq!(node(Lang::Both, "Xiangtan"), "湘潭 / Xiangtan");
    }
}
