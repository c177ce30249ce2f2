//! A mergeable quantile sketch with bounded relative error.
//!
//! Rationale: 10⁷ draws of a few hundred series cannot be kept in memory to sort, and
//! shards computed on different machines must combine into the same answer as one
//! run. This sketch (after DDSketch, Masson et al. 2019) keeps integer counts in
//! logarithmically spaced bins: adding a value or merging two sketches only adds counts,
//! so the result is the same in any order, and every quantile it returns lies within a
//! relative error α of a value of the right rank.
//!
//! Bins: for x > 0 with x = 2^e (1 + f), f ∈ [0, 1), the index is ⌊(e + f)/w⌋ with
//! w = γ − 1 and γ = (1 + α)/(1 − α). Within a bin the largest and smallest values differ
//! by a factor of at most 1 + w = γ, so the bin's harmonic-mean representative is within
//! α of every value in it. The index needs no logarithm, only the float's bits.
//! Values with |x| < [`Sketch::ZERO`] share one bin and are returned as 0.

use serde::{Deserialize, Serialize};

/// Relative accuracy of returned quantiles (0.05%).
pub const ALPHA: f64 = 0.0005;

/// Integer counts per bin index, stored densely from `offset`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Store {
    offset: i32,
    counts: Vec<u64>,
}

impl Store {
    #[inline]
    fn add(&mut self, k: i32, n: u64) {
        // Fast path: the bin is inside the current range.
        let i = k.wrapping_sub(self.offset) as u32 as usize;
        if let Some(c) = self.counts.get_mut(i) {
            *c += n;
            return;
        }
        self.grow(k, n);
    }

    #[cold]
    fn grow(&mut self, k: i32, n: u64) {
        if self.counts.is_empty() {
            self.offset = k;
            self.counts.push(0);
        } else if k < self.offset {
            let grow = (self.offset - k) as usize;
            let mut counts = vec![0; grow + self.counts.len()];
            counts[grow..].copy_from_slice(&self.counts);
            self.counts = counts;
            self.offset = k;
        } else {
            self.counts.resize((k - self.offset) as usize + 1, 0);
        }
        self.counts[(k - self.offset) as usize] += n;
    }

    /// Non-empty bins in ascending index order.
    fn bins(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (self.offset + i as i32, *c))
    }
}

/// A quantile sketch over finite values.
#[derive(Debug, Clone, PartialEq)]
pub struct Sketch {
    positive: Store,
    negative: Store,
    zero: u64,
    count: u64,
    /// Smallest and largest value added (exact; +∞ and −∞ while empty). Order
    /// statistics are clamped to them, so the extremes and a constant series are exact.
    min: f64,
    max: f64,
}

impl Default for Sketch {
    fn default() -> Sketch {
        Sketch {
            positive: Store::default(),
            negative: Store::default(),
            zero: 0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

/// Width of a bin in the approximate-log₂ index space: γ − 1.
fn bin_width() -> f64 {
    (1.0 + ALPHA) / (1.0 - ALPHA) - 1.0
}

/// 1 / [`bin_width`], so that the index needs a product, not a division.
const INV_BIN_WIDTH: f64 = 1.0 / ((1.0 + ALPHA) / (1.0 - ALPHA) - 1.0);

/// Added before truncating so that truncation is a floor: larger than any |index|
/// (the exponent range ±1075 over a width of 0.001 gives at most about 1.1 · 10⁶).
const FLOOR_SHIFT: i32 = 1 << 22;

/// The bin index of a magnitude m ≥ [`Sketch::ZERO`]: ⌊(e + f)/w⌋ from the float's
/// bits, with no logarithm, division or library floor (a hot path: one call per value
/// and series of every draw).
#[inline]
fn index(m: f64) -> i32 {
    let bits = m.to_bits();
    let e = (bits >> 52) as i32 - 1023;
    // 1 + f as a float with the exponent of 1.0, so f needs no integer conversion.
    let f = f64::from_bits((bits & ((1u64 << 52) - 1)) | 1.0f64.to_bits()) - 1.0;
    let v = (f64::from(e) + f) * INV_BIN_WIDTH;
    (v + f64::from(FLOOR_SHIFT)) as i32 - FLOOR_SHIFT
}

/// The lower edge of bin `k` (inverse of [`index`]).
fn lower_edge(k: i32) -> f64 {
    let l = k as f64 * bin_width();
    let e = l.floor();
    (1.0 + (l - e)) * e.exp2()
}

/// The representative value of bin `k`: within α of every value in the bin.
fn representative(k: i32) -> f64 {
    let (lo, hi) = (lower_edge(k), lower_edge(k + 1));
    2.0 * lo * hi / (lo + hi)
}

impl Sketch {
    /// Magnitudes below this are counted as zero.
    pub const ZERO: f64 = 1e-9;

    /// An empty sketch.
    pub fn new() -> Sketch {
        Sketch::default()
    }

    /// Adds one finite value (non-finite values must be counted by the caller).
    #[inline]
    pub fn add(&mut self, x: f64) {
        self.widen(x, x);
        self.bin(x);
    }

    /// Counts `x` in its bin (the range is the caller's).
    #[inline]
    fn bin(&mut self, x: f64) {
        self.count += 1;
        let m = x.abs();
        if m < Sketch::ZERO {
            self.zero += 1;
        } else if x > 0.0 {
            self.positive.add(index(m), 1);
        } else {
            self.negative.add(index(m), 1);
        }
    }

    /// Widens the exact range to cover `[lo, hi]` (−0 is taken as +0, so that the
    /// range does not depend on the order of additions and merges).
    fn widen(&mut self, lo: f64, hi: f64) {
        self.min = self.min.min(lo + 0.0);
        self.max = self.max.max(hi + 0.0);
    }

    /// Adds the finite values of `values`, skipping the others (which the caller
    /// counts); the same state as [`Sketch::add`] on each finite value in turn. The
    /// range is tracked in four independent lanes (a hot path).
    pub fn add_finite(&mut self, values: &[f64]) {
        let mut lo = [f64::INFINITY; 4];
        let mut hi = [f64::NEG_INFINITY; 4];
        // Comparisons skip NaN by themselves and compile to packed min/max; an
        // infinite value (rare) sends the range through the checked path below.
        for group in values.chunks(4) {
            for (lane, &x) in group.iter().enumerate() {
                lo[lane] = if x < lo[lane] { x } else { lo[lane] };
                hi[lane] = if x > hi[lane] { x } else { hi[lane] };
            }
        }
        let (lo, hi) = (
            lo.into_iter().fold(f64::INFINITY, f64::min),
            hi.into_iter().fold(f64::NEG_INFINITY, f64::max),
        );
        if lo.is_finite() && hi.is_finite() {
            self.widen(lo, hi);
        } else {
            for &x in values.iter().filter(|x| x.is_finite()) {
                self.widen(x, x);
            }
        }
        for &x in values.iter().filter(|x| x.is_finite()) {
            self.bin(x);
        }
    }

    /// Adds `n` copies of the bins of `other` (merging).
    pub fn merge(&mut self, other: &Sketch) {
        for (k, c) in other.positive.bins() {
            self.positive.add(k, c);
        }
        for (k, c) in other.negative.bins() {
            self.negative.add(k, c);
        }
        self.zero += other.zero;
        self.count += other.count;
        if other.count > 0 {
            self.widen(other.min, other.max);
        }
    }

    /// Number of values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The quantile at probability `p` ∈ [0, 1], defined as R's type 7 (linear
    /// interpolation between the order statistics of ranks ⌊h⌋ and ⌊h⌋ + 1 at
    /// h = p (n − 1), 0-based), with each order statistic estimated within relative
    /// error α. NaN for an empty sketch.
    pub fn quantile(&self, p: f64) -> f64 {
        self.quantiles([p])[0]
    }

    /// [`Sketch::quantile`] at several probabilities, in one pass over the bins.
    pub fn quantiles<const N: usize>(&self, probs: [f64; N]) -> [f64; N] {
        if self.count == 0 {
            return [f64::NAN; N];
        }
        // Each quantile interpolates between ranks ⌊h⌋ and ⌊h⌋ + 1.
        let last = self.count - 1;
        let spots = probs.map(|p| {
            let h = p.clamp(0.0, 1.0) * last as f64;
            let r = h.floor() as u64;
            (r, h - r as f64)
        });
        let mut ranks: Vec<u64> = spots
            .iter()
            .flat_map(|&(r, frac)| [Some(r), (frac > 0.0 && r < last).then_some(r + 1)])
            .flatten()
            .collect();
        ranks.sort_unstable();
        ranks.dedup();
        let values = self.values_at_ranks(&ranks);
        let at = |r: u64| values[ranks.partition_point(|&x| x < r)];
        spots.map(|(r, frac)| {
            let low = at(r);
            if frac > 0.0 && r < last {
                low + frac * (at(r + 1) - low)
            } else {
                low
            }
        })
    }

    /// The order statistics of the ascending 0-based `ranks` (each < count), within
    /// relative error α, exact for the smallest and largest (estimates are clamped to
    /// the range); one walk over the bins, most negative first.
    fn values_at_ranks(&self, ranks: &[u64]) -> Vec<f64> {
        let mut out = Vec::with_capacity(ranks.len());
        let mut next = ranks.iter().peekable();
        let mut seen = 0u64;
        let bins = self
            .negative
            .bins()
            .rev()
            .map(|(k, c)| (-representative(k), c))
            .chain(std::iter::once((0.0, self.zero)))
            .chain(self.positive.bins().map(|(k, c)| (representative(k), c)));
        for (value, c) in bins {
            seen += c;
            while let Some(&&rank) = next.peek() {
                if rank >= seen {
                    break;
                }
                out.push(self.clamped(rank, value));
                next.next();
            }
        }
        // Ranks at or past the count: the largest value.
        out.extend(next.map(|_| self.max));
        out
    }

    /// A bin's representative as the estimate of rank `rank`: the exact extreme for the
    /// first and last rank, else clamped to the range.
    fn clamped(&self, rank: u64, value: f64) -> f64 {
        if rank == 0 {
            self.min
        } else if rank + 1 >= self.count {
            self.max
        } else {
            value.clamp(self.min, self.max)
        }
    }

    /// The sketch as sorted sparse bins, for partial-result files.
    pub fn to_parts(&self) -> SketchParts {
        let nonempty = self.count > 0;
        SketchParts {
            positive: self.positive.bins().collect(),
            negative: self.negative.bins().collect(),
            zero: self.zero,
            min: nonempty.then_some(self.min),
            max: nonempty.then_some(self.max),
        }
    }

    /// Rebuilds a sketch from [`Sketch::to_parts`].
    pub fn from_parts(parts: &SketchParts) -> Sketch {
        let mut s = Sketch::new();
        for &(k, c) in &parts.positive {
            s.positive.add(k, c);
            s.count += c;
        }
        for &(k, c) in &parts.negative {
            s.negative.add(k, c);
            s.count += c;
        }
        s.zero = parts.zero;
        s.count += parts.zero;
        if let (Some(lo), Some(hi)) = (parts.min, parts.max) {
            s.widen(lo, hi);
        }
        s
    }
}

/// A sketch as sparse (bin, count) lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SketchParts {
    /// Positive values' bins, ascending.
    pub positive: Vec<(i32, u64)>,
    /// Negative values' bins (by magnitude), ascending.
    pub negative: Vec<(i32, u64)>,
    /// Count of values counted as zero.
    pub zero: u64,
    /// Smallest value added (none when empty).
    pub min: Option<f64>,
    /// Largest value added (none when empty).
    pub max: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_bound_relative_error() {
        for &x in &[
            1e-6, 0.0137, 0.5, 1.0, 1.5, 2.0, 3.999, 999.21, 6979.79, 1e9,
        ] {
            let k = index(x);
            let (lo, hi) = (lower_edge(k), lower_edge(k + 1));
            assert!(
                lo <= x * (1.0 + 1e-12) && x < hi * (1.0 + 1e-12),
                "{x}: [{lo}, {hi})"
            );
            assert!(hi / lo <= (1.0 + ALPHA) / (1.0 - ALPHA) + 1e-12);
            let r = representative(k);
            assert!(((r - x) / x).abs() <= ALPHA + 1e-12, "{x} -> {r}");
        }
    }

    #[test]
    fn merge_is_order_free_and_matches_one_sketch() {
        let values: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 5000) as f64 / 100.0 - 20.0)
            .collect();
        let mut one = Sketch::new();
        values.iter().for_each(|&x| one.add(x));
        let (mut a, mut b) = (Sketch::new(), Sketch::new());
        values[..1234].iter().for_each(|&x| a.add(x));
        values[1234..].iter().for_each(|&x| b.add(x));
        let mut ba = b.clone();
        ba.merge(&a);
        a.merge(&b);
        for p in [0.0, 0.05, 0.5, 0.95, 1.0] {
            assert_eq!(a.quantile(p), one.quantile(p));
            assert_eq!(ba.quantile(p), one.quantile(p));
        }
        assert_eq!(
            Sketch::from_parts(&one.to_parts()).quantile(0.3),
            one.quantile(0.3)
        );
    }

    #[test]
    fn quantiles_of_a_known_sample() {
        let mut s = Sketch::new();
        for i in 1..=1001 {
            s.add(i as f64);
        }
        // h = 0.5 × 1000 = 500 → value 501.
        assert!(((s.quantile(0.5) - 501.0) / 501.0).abs() <= ALPHA);
        assert!(((s.quantile(0.0) - 1.0) / 1.0).abs() <= ALPHA);
        let mut z = Sketch::new();
        [-2.0, 0.0, 3.0].iter().for_each(|&x| z.add(x));
        assert!((z.quantile(0.0) + 2.0).abs() < 2.0 * ALPHA);
        assert_eq!(z.quantile(0.5), 0.0);
        assert!(Sketch::new().quantile(0.5).is_nan());
        // Several at once (ranks shared, out of order) equal one at a time.
        let probs = [0.95, 0.05, 0.5, 0.5, 0.0, 1.0, 0.333];
        assert_eq!(s.quantiles(probs), probs.map(|p| s.quantile(p)));
        assert_eq!(z.quantiles(probs), probs.map(|p| z.quantile(p)));
    }

    #[test]
    fn extremes_and_constant_series_are_exact() {
        // A base-year figure: the same value in every draw, reported as itself.
        let mut c = Sketch::new();
        c.add_finite(&[999.21; 1000]);
        for p in [0.0, 0.05, 0.5, 0.95, 1.0] {
            assert_eq!(c.quantile(p), 999.21);
        }
        // The smallest and largest values are exact, whatever the order of merges,
        // with non-finite values skipped and −0 taken as +0.
        let values = [3.0, f64::NAN, -0.0, 7.25, f64::INFINITY, 1.0e-3, 0.5];
        let mut one = Sketch::new();
        one.add_finite(&values);
        assert_eq!((one.quantile(0.0), one.quantile(1.0)), (0.0, 7.25));
        assert_eq!(one.count(), 5);
        let (mut a, mut b) = (Sketch::new(), Sketch::new());
        a.add_finite(&values[..3]);
        b.add_finite(&values[3..]);
        let mut ab = a.clone();
        ab.merge(&b);
        b.merge(&a);
        assert_eq!(ab, one);
        assert_eq!(b, one);
        assert_eq!(Sketch::from_parts(&one.to_parts()), one);
        // Inner order statistics stay inside the range.
        let q = one.quantile(0.75);
        assert!((0.0..=7.25).contains(&q), "{q}");
    }
}
