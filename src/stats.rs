//! Small statistics with stated contracts: moments and sample quantiles.
//!
//! Rationale: output numbers must be reproducible to the bit, so each statistic is
//! computed in one fixed order over values held in draw order; the quantile definition
//! is the one R, NumPy and Excel's PERCENTILE.INC use by default, so users can check a
//! figure in the tool they know.

/// Mean and population standard deviation (divisor n) of `values`, summed in order
/// (two passes). The mean is accumulated as offsets from the first value, so a constant
/// series has exactly its value as mean and exactly zero sd. Empty input gives
/// (NaN, NaN).
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let Some(&first) = values.first() else {
        return (f64::NAN, f64::NAN);
    };
    let n = values.len() as f64;
    let mean = first + values.iter().map(|x| x - first).sum::<f64>() / n;
    let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Quantile at probability `p` ∈ [0, 1] of ascending-sorted `sorted`, by linear
/// interpolation between order statistics at h = (n − 1) p ("type 7": R's default,
/// NumPy's `linear`, Excel's PERCENTILE.INC). Empty input gives NaN.
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let h = (n - 1) as f64 * p.clamp(0.0, 1.0);
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

/// Monte Carlo standard error of a proportion `p` estimated from `n` draws.
pub fn proportion_se(p: f64, n: u64) -> f64 {
    (p * (1.0 - p) / n as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_type_7() {
        let x = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(quantile_sorted(&x, 0.5), 3.0);
        assert_eq!(quantile_sorted(&x, 0.0), 1.0);
        assert_eq!(quantile_sorted(&x, 1.0), 10.0);
        // h = 4 * 0.9 = 3.6 → 4 + 0.6 * 6 = 7.6 (R: quantile(c(1,2,3,4,10), .9) = 7.6)
        assert!((quantile_sorted(&x, 0.9) - 7.6).abs() < 1e-12);
        assert!(quantile_sorted(&[], 0.5).is_nan());
    }

    #[test]
    fn moments() {
        let (m, s) = mean_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(m, 5.0);
        assert_eq!(s, 2.0);
        assert_eq!(proportion_se(0.5, 100), 0.05);
        let c = vec![6979.79; 1001];
        assert_eq!(mean_sd(&c), (6979.79, 0.0));
    }
}
