//! The growth a city delivered in the observed years, to set against the growth a
//! target requires.
//!
//! Rationale: "the target needs 8.5% a year" means little without "and 2015–2020 gave
//! 10.9%". The rule is fixed and stated in the report. Levels and shares: the nominal
//! average annual growth between the earliest and latest observed years of one data
//! vintage, because growth across a statistical revision (the 2018 census) mixes two
//! definitions; of several vintages the longest span wins, then the most recent. Real
//! growth: the mean of the published real growth rates of the underlying aggregate
//! (service value added, or GDP) after the first observed year. When no figure can be
//! computed the reason is returned instead of a number.

use crate::results::ObservedPoint;

/// A delivered growth rate, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivered {
    /// Average growth in % per year over `from..=to`.
    Growth {
        /// % per year.
        pct: f64,
        /// First year of the span.
        from: i32,
        /// Last year of the span.
        to: i32,
    },
    /// No figure; the reason, in English.
    Missing(String),
}

/// The delivered growth for a target on `node` and `indicator`, from the observed
/// history.
pub fn delivered(observed: &[ObservedPoint], node: &str, indicator: &str) -> Delivered {
    match indicator.strip_suffix("_real_growth") {
        Some(base) => real_growth(observed, node, base),
        None => level_growth(observed, node, indicator),
    }
}

/// Mean published real growth of `base` after its first observed year.
fn real_growth(observed: &[ObservedPoint], node: &str, base: &str) -> Delivered {
    let points: Vec<&ObservedPoint> = observed
        .iter()
        .filter(|o| o.node == node && o.indicator == base)
        .collect();
    let Some(first) = points.iter().map(|o| o.year).min() else {
        return Delivered::Missing(format!("no observed `{base}` for {node}"));
    };
    let rates: Vec<(i32, f64)> = points
        .iter()
        .filter(|o| o.year > first)
        .filter_map(|o| {
            o.real_growth_pct
                .filter(|g| g.is_finite())
                .map(|g| (o.year, g))
        })
        .collect();
    if rates.is_empty() {
        return Delivered::Missing(format!(
            "no published real growth of `{base}` for {node} after {first}"
        ));
    }
    let from = rates.iter().map(|r| r.0).min().unwrap_or(first);
    let to = rates.iter().map(|r| r.0).max().unwrap_or(first);
    let pct = rates.iter().map(|r| r.1).sum::<f64>() / rates.len() as f64;
    Delivered::Growth { pct, from, to }
}

/// Average nominal growth over the longest same-vintage span.
fn level_growth(observed: &[ObservedPoint], node: &str, indicator: &str) -> Delivered {
    let points: Vec<&ObservedPoint> = observed
        .iter()
        .filter(|o| o.node == node && o.indicator == indicator && o.value.is_finite())
        .collect();
    if points.is_empty() {
        return Delivered::Missing(format!("no observed `{indicator}` for {node}"));
    }
    // (span, last year, first point, last point) of each vintage with two years or more.
    let mut best: Option<(i32, i32, &ObservedPoint, &ObservedPoint)> = None;
    let mut vintages: Vec<&str> = points.iter().map(|o| o.vintage.as_str()).collect();
    vintages.sort_unstable();
    vintages.dedup();
    for vintage in vintages {
        let same: Vec<&&ObservedPoint> = points.iter().filter(|o| o.vintage == vintage).collect();
        let (Some(first), Some(last)) = (
            same.iter().min_by_key(|o| o.year),
            same.iter().max_by_key(|o| o.year),
        ) else {
            continue;
        };
        let span = last.year - first.year;
        if span < 1 || first.value <= 0.0 || last.value <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((b_span, b_last, _, _)) => (span, last.year) > (b_span, b_last),
        };
        if better {
            best = Some((span, last.year, first, last));
        }
    }
    match best {
        Some((span, _, first, last)) => Delivered::Growth {
            pct: ((last.value / first.value).powf(1.0 / f64::from(span)) - 1.0) * 100.0,
            from: first.year,
            to: last.year,
        },
        None => Delivered::Missing(format!(
            "no two years of `{indicator}` for {node} in the same data vintage with positive values"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(
        indicator: &str,
        year: i32,
        value: f64,
        growth: Option<f64>,
        vintage: &str,
    ) -> ObservedPoint {
        ObservedPoint {
            node: "A".to_string(),
            indicator: indicator.to_string(),
            year,
            value,
            unit: "亿元".to_string(),
            real_growth_pct: growth,
            vintage: vintage.to_string(),
            source: "test".to_string(),
        }
    }

    #[test]
    fn level_growth_stays_within_a_vintage() {
        let obs = vec![
            point("service_va", 2015, 100.0, None, "old"),
            point("service_va", 2018, 133.1, None, "old"),
            point("service_va", 2019, 200.0, None, "new"),
            point("service_va", 2020, 210.0, None, "new"),
        ];
        let Delivered::Growth { pct, from, to } = delivered(&obs, "A", "service_va") else {
            panic!("expected a growth rate");
        };
        assert_eq!((from, to), (2015, 2018));
        assert!((pct - 10.0).abs() < 1e-9, "{pct}");
    }

    #[test]
    fn single_years_per_vintage_give_no_growth() {
        let obs = vec![
            point("gdp", 2015, 100.0, None, "a"),
            point("gdp", 2020, 200.0, None, "b"),
        ];
        assert!(matches!(delivered(&obs, "A", "gdp"), Delivered::Missing(_)));
        assert!(matches!(delivered(&obs, "B", "gdp"), Delivered::Missing(_)));
    }

    #[test]
    fn real_growth_is_the_mean_after_the_first_year() {
        let obs = vec![
            point("gdp", 2015, 100.0, Some(99.0), "a"),
            point("gdp", 2016, 110.0, Some(8.0), "a"),
            point("gdp", 2017, 120.0, None, "a"),
            point("gdp", 2018, 130.0, Some(6.0), "b"),
        ];
        assert_eq!(
            delivered(&obs, "A", "gdp_real_growth"),
            Delivered::Growth {
                pct: 7.0,
                from: 2016,
                to: 2018
            }
        );
        assert!(matches!(
            delivered(&obs, "A", "service_va_real_growth"),
            Delivered::Missing(_)
        ));
    }
}
