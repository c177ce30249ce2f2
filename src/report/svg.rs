//! Fan charts as hand-written SVG.
//!
//! Rationale: a fan chart is a few polygons, a line, points and text; writing the SVG
//! directly keeps the output small, stable byte for byte (so it can be snapshot-tested)
//! and free of any plotting dependency. The same SVG is inlined in `report.html` and
//! written as a separate file for Word or LaTeX. Fonts name common CJK families first so
//! Chinese labels render wherever one of them is installed; every text is escaped.

use std::fmt::Write as _;

/// Font stack of every text in the charts.
pub const FONT_FAMILY: &str =
    "'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif";

/// The projected distribution of one year.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FanYear {
    /// Calendar year.
    pub year: i32,
    /// 5 %, 25 %, 50 %, 75 % and 95 % quantiles.
    pub q: [f64; 5],
}

/// A target drawn as a marker.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Target year.
    pub year: i32,
    /// Target value.
    pub value: f64,
    /// Label next to the marker, e.g. "≥ 1500: P = 48.1%".
    pub label: String,
}

/// Everything one chart shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chart {
    /// Title line.
    pub title: String,
    /// Unit of the vertical axis.
    pub unit: String,
    /// Projection, by year (ascending).
    pub fan: Vec<FanYear>,
    /// Observed (year, value) points.
    pub observed: Vec<(i32, f64)>,
    /// Target markers.
    pub markers: Vec<Marker>,
    /// Legend texts: 90 % band, 50 % band, median, observed, target.
    pub legend: [String; 5],
}

const WIDTH: f64 = 680.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 76.0;

/// Escapes text for XML content and attribute values.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A "nice" tick step (1, 2 or 5 × 10^k) giving about `n` ticks over `span`.
fn nice_step(span: f64, n: f64) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / n;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// A tick value printed with as many decimals as the step needs.
fn tick_text(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    let text = format!("{value:.decimals$}");
    if text
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        "0".to_string()
    } else {
        text
    }
}

/// Two-decimal coordinates keep the files small and stable.
fn c(x: f64) -> String {
    let text = format!("{x:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// Renders the chart as a standalone SVG document.
pub fn render(chart: &Chart) -> String {
    let mut years: Vec<i32> = chart.fan.iter().map(|f| f.year).collect();
    years.extend(chart.observed.iter().map(|o| o.0));
    years.extend(chart.markers.iter().map(|m| m.year));
    let x_min = years.iter().copied().min().unwrap_or(2020);
    let x_max = years
        .iter()
        .copied()
        .max()
        .unwrap_or(x_min + 1)
        .max(x_min + 1);

    let mut values: Vec<f64> = chart
        .fan
        .iter()
        .flat_map(|f| [f.q[0], f.q[4]])
        .chain(chart.observed.iter().map(|o| o.1))
        .chain(chart.markers.iter().map(|m| m.value))
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        values.push(0.0);
    }
    let v_lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let v_hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = if v_hi > v_lo {
        (v_hi - v_lo) * 0.06
    } else {
        v_lo.abs().max(1.0) * 0.1
    };
    let step = nice_step(v_hi - v_lo + 2.0 * pad, 5.0);
    let y_min = ((v_lo - pad) / step).floor() * step;
    let y_max = ((v_hi + pad) / step).ceil() * step;

    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let sx = |year: f64| LEFT + (year - f64::from(x_min)) / f64::from(x_max - x_min) * plot_w;
    let sy = |v: f64| TOP + (y_max - v) / (y_max - y_min) * plot_h;

    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" font-family=\"{font}\" font-size=\"12\" role=\"img\">",
        w = WIDTH,
        h = HEIGHT,
        font = xml_escape(FONT_FAMILY)
    );
    let _ = writeln!(s, "<title>{}</title>", xml_escape(&chart.title));
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"22\" font-size=\"15\" font-weight=\"bold\" fill=\"#222222\">{}</text>",
        c(LEFT),
        xml_escape(&chart.title)
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" fill=\"#444444\">{}</text>",
        c(LEFT - 6.0),
        c(TOP - 10.0),
        xml_escape(&chart.unit)
    );

    // Grid and value ticks.
    let mut k = (y_min / step).round() as i64;
    let k_max = (y_max / step).round() as i64;
    while k <= k_max {
        let v = k as f64 * step;
        let y = sy(v);
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#e3e3e3\"/>",
            c(LEFT),
            c(LEFT + plot_w),
            y = c(y)
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#444444\">{}</text>",
            c(LEFT - 6.0),
            c(y + 4.0),
            xml_escape(&tick_text(v, step))
        );
        k += 1;
    }
    // Year ticks.
    let year_step = if x_max - x_min > 12 { 2 } else { 1 };
    let mut year = x_min;
    while year <= x_max {
        let x = sx(f64::from(year));
        let _ = writeln!(
            s,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#888888\"/>",
            c(TOP + plot_h),
            c(TOP + plot_h + 5.0),
            x = c(x)
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#444444\">{year}</text>",
            c(x),
            c(TOP + plot_h + 19.0)
        );
        year += year_step;
    }
    let _ = writeln!(
        s,
        "<path d=\"M{} {}V{}H{}\" fill=\"none\" stroke=\"#888888\"/>",
        c(LEFT),
        c(TOP),
        c(TOP + plot_h),
        c(LEFT + plot_w)
    );

    // Bands and median: a band runs along its upper quantile and back along its lower.
    let line = |k: usize| -> String {
        let mut d = String::new();
        for (i, f) in chart.fan.iter().enumerate() {
            let _ = write!(
                d,
                "{}{} {}",
                if i == 0 { "M" } else { "L" },
                c(sx(f64::from(f.year))),
                c(sy(f.q[k]))
            );
        }
        d
    };
    let band = |lo: usize, hi: usize| -> String {
        let mut d = line(hi);
        for f in chart.fan.iter().rev() {
            let _ = write!(d, "L{} {}", c(sx(f64::from(f.year))), c(sy(f.q[lo])));
        }
        d.push('Z');
        d
    };
    if !chart.fan.is_empty() {
        let _ = writeln!(s, "<path d=\"{}\" fill=\"#c6dbef\"/>", band(0, 4));
        let _ = writeln!(s, "<path d=\"{}\" fill=\"#6baed6\"/>", band(1, 3));
        let d = line(2);
        let _ = writeln!(
            s,
            "<path d=\"{d}\" fill=\"none\" stroke=\"#08306b\" stroke-width=\"2\"/>"
        );
    }

    // Observed points.
    for (year, value) in chart.observed.iter().filter(|o| o.1.is_finite()) {
        let _ = writeln!(
            s,
            "<circle cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"#333333\"/>",
            c(sx(f64::from(*year))),
            c(sy(*value))
        );
    }

    // Targets: a diamond at (year, value), labelled to the right of the plot.
    for (i, m) in chart.markers.iter().enumerate() {
        let (x, y) = (sx(f64::from(m.year)), sy(m.value));
        let _ = writeln!(
            s,
            "<path d=\"M{} {}L{} {}L{} {}L{} {}Z\" fill=\"#d62728\" stroke=\"#ffffff\"/>",
            c(x),
            c(y - 7.0),
            c(x + 7.0),
            c(y),
            c(x),
            c(y + 7.0),
            c(x - 7.0),
            c(y)
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" fill=\"#b2182b\">{}</text>",
            c(x + 12.0),
            c(y + 4.0 + 14.0 * i as f64),
            xml_escape(&m.label)
        );
    }

    // Legend under the axis.
    let ly = HEIGHT - 20.0;
    let mut lx = LEFT;
    let items: [(&str, &str); 5] = [
        ("rect", "#c6dbef"),
        ("rect", "#6baed6"),
        ("line", "#08306b"),
        ("circle", "#333333"),
        ("diamond", "#d62728"),
    ];
    for ((kind, colour), label) in items.iter().zip(chart.legend.iter()) {
        match *kind {
            "rect" => {
                let _ = writeln!(
                    s,
                    "<rect x=\"{}\" y=\"{}\" width=\"16\" height=\"10\" fill=\"{colour}\"/>",
                    c(lx),
                    c(ly - 9.0)
                );
            }
            "line" => {
                let _ = writeln!(
                    s,
                    "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                    c(lx),
                    c(lx + 16.0),
                    y = c(ly - 4.0)
                );
            }
            "circle" => {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"{colour}\"/>",
                    c(lx + 8.0),
                    c(ly - 4.0)
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    "<path d=\"M{} {}L{} {}L{} {}L{} {}Z\" fill=\"{colour}\"/>",
                    c(lx + 8.0),
                    c(ly - 10.0),
                    c(lx + 14.0),
                    c(ly - 4.0),
                    c(lx + 8.0),
                    c(ly + 2.0),
                    c(lx + 2.0),
                    c(ly - 4.0)
                );
            }
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" fill=\"#444444\">{}</text>",
            c(lx + 20.0),
            c(ly),
            xml_escape(label)
        );
        lx += 22.0
            + 7.5
                * label
                    .chars()
                    .map(|ch| if ch.is_ascii() { 1.0 } else { 1.8 })
                    .sum::<f64>();
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            xml_escape("a<b & \"c\"'"),
            "a&lt;b &amp; &quot;c&quot;&apos;"
        );
    }

    #[test]
    fn steps_are_nice() {
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        assert_eq!(nice_step(7.0, 5.0), 2.0);
        assert!((nice_step(0.3, 5.0) - 0.1).abs() < 1e-12);
        assert_eq!(tick_text(1500.0, 100.0), "1500");
        assert_eq!(tick_text(0.30000000000000004, 0.1), "0.3");
    }

    #[test]
    fn empty_chart_is_well_formed() {
        let svg = render(&Chart::default());
        assert!(svg.starts_with("<svg"));
        assert!(svg.ends_with("</svg>\n"));
        assert!(!svg.contains("NaN"));
    }
}
