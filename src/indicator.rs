//! The indicators the model projects, with their units and the base values they need.
//!
//! Rationale: indicator names appear in targets files, in every output row and in the
//! engine's extraction of series; keeping their names, units and data requirements in
//! one table means a new indicator is one entry here plus its formula in
//! [`crate::engine::layout`], and a typo in a targets file is caught with a suggestion.

use std::fmt;

/// A projected indicator of a node or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Indicator {
    /// Service (tertiary) value added, current prices, 亿元.
    ServiceVa,
    /// Non-service (primary + secondary) value added, current prices, 亿元.
    NonServiceVa,
    /// GDP = service + non-service value added, current prices, 亿元.
    Gdp,
    /// Service value added over GDP, %.
    ServiceShareOfGdp,
    /// Average annual real growth of service value added since the base year (or a
    /// target's window start), % per year.
    ServiceVaRealGrowth,
    /// Average annual real growth of GDP since the base year, % per year.
    GdpRealGrowth,
    /// Service employment, 万人 (10^4 persons).
    ServiceEmployment,
    /// Non-service employment, 万人.
    NonServiceEmployment,
    /// Service employment over total employment, %.
    ServiceShareOfEmployment,
    /// Total social logistics value 社会物流总额, current prices, 亿元.
    LogisticsTotal,
    /// Logistics volume as an index, base year = 100 (nominal): projected for every
    /// node with output levels, also where no logistics level is known.
    LogisticsIndex,
}

/// How a target on an indicator is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// A level in current prices (or a count of persons).
    NominalLevel,
    /// An average annual growth rate at constant prices.
    RealGrowth,
    /// A ratio of two levels, in %.
    Share,
}

impl Basis {
    /// Name used in targets files.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::NominalLevel => "nominal_level",
            Basis::RealGrowth => "real_growth",
            Basis::Share => "share",
        }
    }
}

/// A base-year quantity a node must have for an indicator to be projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BaseQuantity {
    /// Service value added (亿元).
    ServiceVa,
    /// Non-service value added (亿元), from GDP less service value added.
    NonServiceVa,
    /// Service employment (万人).
    ServiceEmployment,
    /// Non-service employment (万人), from service employment and its share.
    NonServiceEmployment,
    /// Social logistics total (亿元).
    LogisticsTotal,
}

impl BaseQuantity {
    /// All base quantities, in state order.
    pub const ALL: [BaseQuantity; 5] = [
        BaseQuantity::ServiceVa,
        BaseQuantity::NonServiceVa,
        BaseQuantity::ServiceEmployment,
        BaseQuantity::NonServiceEmployment,
        BaseQuantity::LogisticsTotal,
    ];

    /// Name as used in data files and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            BaseQuantity::ServiceVa => "service_va",
            BaseQuantity::NonServiceVa => "non_service_va",
            BaseQuantity::ServiceEmployment => "service_employment",
            BaseQuantity::NonServiceEmployment => "non_service_employment",
            BaseQuantity::LogisticsTotal => "logistics_total",
        }
    }

    /// Position in per-node arrays of base values.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Indicator {
    /// Every indicator, in output order.
    pub const ALL: [Indicator; 11] = [
        Indicator::ServiceVa,
        Indicator::NonServiceVa,
        Indicator::Gdp,
        Indicator::ServiceShareOfGdp,
        Indicator::ServiceVaRealGrowth,
        Indicator::GdpRealGrowth,
        Indicator::ServiceEmployment,
        Indicator::NonServiceEmployment,
        Indicator::ServiceShareOfEmployment,
        Indicator::LogisticsTotal,
        Indicator::LogisticsIndex,
    ];

    /// Name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Indicator::ServiceVa => "service_va",
            Indicator::NonServiceVa => "non_service_va",
            Indicator::Gdp => "gdp",
            Indicator::ServiceShareOfGdp => "service_share_of_gdp",
            Indicator::ServiceVaRealGrowth => "service_va_real_growth",
            Indicator::GdpRealGrowth => "gdp_real_growth",
            Indicator::ServiceEmployment => "service_employment",
            Indicator::NonServiceEmployment => "non_service_employment",
            Indicator::ServiceShareOfEmployment => "service_share_of_employment",
            Indicator::LogisticsTotal => "logistics_total",
            Indicator::LogisticsIndex => "logistics_index",
        }
    }

    /// Unit of the indicator's values.
    pub fn unit(self) -> &'static str {
        match self {
            Indicator::ServiceVa
            | Indicator::NonServiceVa
            | Indicator::Gdp
            | Indicator::LogisticsTotal => "亿元",
            Indicator::ServiceShareOfGdp | Indicator::ServiceShareOfEmployment => "%",
            Indicator::ServiceVaRealGrowth | Indicator::GdpRealGrowth => "% per year",
            Indicator::ServiceEmployment | Indicator::NonServiceEmployment => "万人",
            Indicator::LogisticsIndex => "index, base year = 100",
        }
    }

    /// How targets on this indicator are read.
    pub fn basis(self) -> Basis {
        match self {
            Indicator::ServiceShareOfGdp | Indicator::ServiceShareOfEmployment => Basis::Share,
            Indicator::ServiceVaRealGrowth | Indicator::GdpRealGrowth => Basis::RealGrowth,
            _ => Basis::NominalLevel,
        }
    }

    /// Whether the indicator is a growth rate over a window (undefined in the base year).
    pub fn is_growth(self) -> bool {
        self.basis() == Basis::RealGrowth
    }

    /// The base-year quantities a single node needs for this indicator.
    ///
    /// Real growth of service value added needs none for a node (it follows from the
    /// growth dynamics alone); a group needs the members' levels to weight them, which
    /// [`Indicator::group_requires`] adds.
    pub fn node_requires(self) -> &'static [BaseQuantity] {
        use BaseQuantity as B;
        match self {
            Indicator::ServiceVa => &[B::ServiceVa],
            Indicator::NonServiceVa => &[B::NonServiceVa],
            Indicator::Gdp | Indicator::ServiceShareOfGdp | Indicator::GdpRealGrowth => {
                &[B::ServiceVa, B::NonServiceVa]
            }
            Indicator::ServiceVaRealGrowth => &[],
            Indicator::ServiceEmployment => &[B::ServiceEmployment],
            Indicator::NonServiceEmployment => &[B::NonServiceEmployment],
            Indicator::ServiceShareOfEmployment => &[B::ServiceEmployment, B::NonServiceEmployment],
            // Logistics grows with gravity-weighted real output, so it needs output too.
            Indicator::LogisticsTotal => &[B::LogisticsTotal, B::ServiceVa, B::NonServiceVa],
            Indicator::LogisticsIndex => &[B::ServiceVa, B::NonServiceVa],
        }
    }

    /// The base-year quantities every member of a group needs for this indicator.
    pub fn group_requires(self) -> &'static [BaseQuantity] {
        match self {
            Indicator::ServiceVaRealGrowth => &[BaseQuantity::ServiceVa],
            // A group's index weights members by their logistics levels.
            Indicator::LogisticsIndex => Indicator::LogisticsTotal.node_requires(),
            other => other.node_requires(),
        }
    }

    /// Parses a name used in files.
    pub fn parse(name: &str) -> Option<Indicator> {
        Indicator::ALL.into_iter().find(|i| i.as_str() == name)
    }

    /// The known name closest to `name`, for "did you mean" hints.
    pub fn closest(name: &str) -> Option<&'static str> {
        crate::suggest::closest(name, Indicator::ALL.iter().map(|i| i.as_str()))
    }
}

impl fmt::Display for Indicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for ind in Indicator::ALL {
            assert_eq!(Indicator::parse(ind.as_str()), Some(ind));
        }
        let mut names: Vec<_> = Indicator::ALL.iter().map(|i| i.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Indicator::ALL.len());
    }

    #[test]
    fn typo_gets_a_suggestion() {
        assert_eq!(Indicator::closest("service_vaa"), Some("service_va"));
        assert_eq!(Indicator::parse("service_vaa"), None);
    }
}
