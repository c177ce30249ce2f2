//! "Did you mean" suggestions for misspelt names (nodes, keys, indicators).
//!
//! Rationale: most bad input is a typo; naming the closest valid spelling turns an
//! error into a one-second fix.

/// The candidate closest to `name` by Jaro-Winkler similarity, if it is close enough
/// (similarity ≥ 0.8) to be a plausible intent.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// A hint sentence: "did you mean `x`?" or a list of the valid names.
pub fn hint<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str> + Clone) -> String {
    match closest(name, candidates.clone()) {
        Some(c) => format!("did you mean `{c}`?"),
        None => {
            let all: Vec<&str> = candidates.into_iter().collect();
            format!("use one of: {}", all.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_typo_is_found_far_name_is_not() {
        let names = ["Changsha", "Zhuzhou", "Xiangtan", "Hengyang"];
        assert_eq!(closest("Xiangtn", names), Some("Xiangtan"));
        assert_eq!(closest("xiangtan", names), Some("Xiangtan"));
        assert_eq!(closest("Beijing", names), None);
        assert!(hint("Beijing", names).contains("Hengyang"));
    }
}
