//! A mergeable quantile sketch with bounded relative error.
//!
//! Rationale: 10⁷ draws of a few hundred series cannot be kept in memory to sort, and
//! shards computed on different machines must combine into the same answer as one
//! run. This sketch (after DDSketch, Masson et al. 2019) keeps integer counts in
//! logarithmically spaced bins: adding a value or merging two sketches only adds counts,
//! so the result is the same in any order, and every quantile it returns lies within a
//! relative error α of a value of the right rank.
//!
//! Bins: for x > 0 with x = 2^e (1 + f), f ∈ [0, 1), the upper 32 bits of x's bits are
//! the integer c = 2²⁰ (e + 1023 + f₂₀), f₂₀ being f cut to its 20 leading bits: c
//! grows linearly in e + f, an approximate log₂ x. The index is ⌊c M / 2³²⌋, less a
//! constant that puts 1 in bin 0, with M = ⌈2³² / ⌊2²⁰ w⌋⌉, so that a bin holds at
//! most 2²⁰ w consecutive c; w = γ − 1 and γ = (1 + α)/(1 − α). Within a bin the
//! largest and smallest values then differ by a factor of at most 1 + w = γ, so the
//! bin's harmonic-mean representative is within α of every value in it. The index
//! needs no logarithm and no float arithmetic: a shift, a mask, a product and a shift
//! of the float's bits.
//! Values with |x| < [`Sketch::ZERO`] share one bin and are returned as 0.
//!
//! Adding a column of draws is the hot path of a run. The index is monotonic in the
//! magnitude, so when a column is finite, of one sign and outside the zero band (most
//! series), the bins of its two extremes bound all of its bins: the store grows once to
//! cover them, then the bins are computed a chunk at a time by branch-free arithmetic
//! (vectorized) and counted. Other columns go value by value. Both give the state of
//! adding each value in turn.

use std::mem::MaybeUninit;

use serde::{Deserialize, Serialize};

/// Relative accuracy of returned quantiles (0.05%).
pub const ALPHA: f64 = 0.0005;

/// The hot bin counts' integer type: a quarter of the cache footprint of u64 counts.
/// A run revisits a few hundred stores of thousands of bins every block (the
/// baseline's 260 span about a million bins, 4.5 MB as u32): as u16, their hot bins
/// stay in a 2 MiB L2 cache (simulated last-level misses per draw: 16 as u32, 4 as
/// u16).
type Narrow = u16;

/// Integer counts per bin index, stored densely from `offset`: a bin's count is its
/// narrow count plus its wide one.
///
/// Narrow counts never overflow: `bound` bounds every one of them, and whenever it
/// would pass `limit` the store is spilled: the bins whose narrow count exceeds half
/// the limit move whole into the wide counts, so that every narrow count is again at
/// most half the limit, and `bound` restarts from the largest of them. The wide counts
/// are dense too, but only over the bins that have ever been moved (the distribution's
/// most crowded ones, after tens of thousands of draws), so a long run costs little
/// more memory than a short one.
#[derive(Debug, Clone)]
struct Store {
    offset: i32,
    counts: Vec<Narrow>,
    /// Bin index of `wide[0]`.
    wide_offset: i32,
    /// Counts moved out of `counts`, over bins `wide_offset..wide_offset + wide.len()`
    /// (within the store's range).
    wide: Vec<u64>,
    /// At least every narrow count: the counts added since the last spill plus the
    /// largest it left.
    bound: u64,
    /// Most a narrow count may reach: [`Narrow::MAX`] (lower only in tests, to reach
    /// the spill).
    limit: u64,
}

impl Default for Store {
    fn default() -> Store {
        Store {
            offset: 0,
            counts: Vec::new(),
            wide_offset: 0,
            wide: Vec::new(),
            bound: 0,
            limit: u64::from(Narrow::MAX),
        }
    }
}

/// Two stores are equal when they cover the same range with the same counts, however
/// the counts are split between narrow and wide.
impl PartialEq for Store {
    fn eq(&self, other: &Store) -> bool {
        self.offset == other.offset
            && self.counts.len() == other.counts.len()
            && (0..self.counts.len()).all(|i| self.count_at(i) == other.count_at(i))
    }
}

impl Eq for Store {}

/// `v` grown to `grow_left` new leading zeros and at least `len` values in all.
fn extended<T: Copy + Default>(v: &mut Vec<T>, grow_left: usize, len: usize) {
    if grow_left > 0 {
        let mut grown = vec![T::default(); grow_left + v.len()];
        grown[grow_left..].copy_from_slice(v);
        *v = grown;
    }
    if len > v.len() {
        v.resize(len, T::default());
    }
}

/// `v`, whose first value is bin `offset`, extended to cover bins `kmin..=kmax`
/// (`kmin ≤ kmax`) with new bins at zero; returns the new offset.
fn covered<T: Copy + Default>(v: &mut Vec<T>, offset: i32, kmin: i32, kmax: i32) -> i32 {
    debug_assert!(kmin <= kmax);
    let offset = if v.is_empty() { kmin } else { offset };
    let grow_left = (offset - kmin).max(0) as usize;
    let offset = offset.min(kmin);
    extended(v, grow_left, (kmax - offset) as usize + 1);
    offset
}

impl Store {
    /// The count of bin `offset + i`.
    fn count_at(&self, i: usize) -> u64 {
        let wide = (self.offset + i as i32).wrapping_sub(self.wide_offset) as u32 as usize;
        u64::from(self.counts[i]) + self.wide.get(wide).copied().unwrap_or(0)
    }

    /// What a spill leaves at most in a narrow count: half the limit.
    fn kept(&self) -> u64 {
        self.limit / 2
    }

    /// Most counts [`Store::make_room`] can make room for at once.
    fn headroom(&self) -> u64 {
        self.limit - self.kept()
    }

    /// Makes room for `n` ≤ [`Store::headroom`] more narrow counts, spilling first if
    /// a narrow count could otherwise pass the limit.
    #[inline]
    fn make_room(&mut self, n: u64) {
        if self.bound + n > self.limit {
            self.spill();
        }
    }

    /// Moves the narrow counts above [`Store::kept`] into the wide counts (with those
    /// between them, so that the wide range stays one block), and restarts the bound
    /// from the largest narrow count left. That is usually far below `kept` (a bin
    /// holds a small share of the draws), so the next spill comes after nearly twice
    /// as many counts as from `kept`, and a spill that finds nothing crowded takes one
    /// pass over the counts.
    #[cold]
    fn spill(&mut self) {
        let kept = self.kept();
        let largest = |counts: &[Narrow]| counts.iter().copied().max().map_or(0, u64::from);
        let most = largest(&self.counts);
        if most <= kept {
            self.bound = most;
            return;
        }
        let crowded = |c: &Narrow| u64::from(*c) > kept;
        if let (Some(first), Some(last)) = (
            self.counts.iter().position(crowded),
            self.counts.iter().rposition(crowded),
        ) {
            let (kmin, kmax) = (self.offset + first as i32, self.offset + last as i32);
            self.wide_offset = covered(&mut self.wide, self.wide_offset, kmin, kmax);
            let start = (kmin - self.wide_offset) as usize;
            for (w, c) in self.wide[start..]
                .iter_mut()
                .zip(&mut self.counts[first..=last])
            {
                *w += u64::from(*c);
                *c = 0;
            }
        }
        self.bound = largest(&self.counts);
    }

    /// Adds `n` to the wide count of bin `k` (within the store's range).
    fn add_wide(&mut self, k: i32, n: u64) {
        self.wide_offset = covered(&mut self.wide, self.wide_offset, k, k);
        self.wide[(k - self.wide_offset) as usize] += n;
    }

    #[inline]
    fn add(&mut self, k: i32, n: u64) {
        // Fast path: the bin is inside the current range, and the count fits.
        let i = k.wrapping_sub(self.offset) as u32 as usize;
        match self.counts.get_mut(i) {
            Some(c) if self.bound + n <= self.limit => {
                // At most `bound + n`, within the limit, which a narrow count holds.
                *c += n as Narrow;
                self.bound += n;
            }
            _ => self.grow(k, n),
        }
    }

    /// [`Store::add`] outside the range, or past the narrow counts' limit: the range
    /// grown, the narrow counts spilled if need be, and a count larger than the
    /// headroom itself (merging a large sketch) into the wide counts.
    #[cold]
    fn grow(&mut self, k: i32, n: u64) {
        self.cover(k, k);
        if n <= self.headroom() {
            self.make_room(n);
            self.counts[(k - self.offset) as usize] += n as Narrow;
            self.bound += n;
        } else {
            self.add_wide(k, n);
        }
    }

    /// Adds the counts of `other`: the same state as adding each of its bins.
    fn merge(&mut self, other: &Store) {
        let Some(last) = other.counts.len().checked_sub(1) else {
            return;
        };
        // The ends of a store's range are bins it has counted.
        let (first, last) = (other.offset, other.offset + last as i32);
        self.cover(first, last);
        let start = (first - self.offset) as usize;
        let counts = (0..other.counts.len()).map(|i| other.count_at(i));
        // Every count of `other`: its narrow counts and its wide ones.
        let total = other.counts.iter().map(|&c| u64::from(c)).sum::<u64>()
            + other.wide.iter().sum::<u64>();
        if self.bound + total <= self.limit {
            for (c, n) in self.counts[start..].iter_mut().zip(counts) {
                // Each count is at most `total`, which fits.
                *c += n as Narrow;
            }
            self.bound += total;
        } else {
            // Every narrow count at most `kept` first; then each sum that would
            // pass it moves whole into the wide counts.
            self.spill();
            let kept = self.kept();
            for (i, n) in counts.enumerate() {
                let c = &mut self.counts[start + i];
                let sum = u64::from(*c) + n;
                if sum <= kept {
                    *c = sum as Narrow;
                } else {
                    *c = 0;
                    self.add_wide(first + i as i32, sum);
                }
            }
            // Every narrow count is at most `kept` again.
            self.bound = kept;
        }
    }

    /// Extends the range to bins `kmin..=kmax` (`kmin ≤ kmax`), new bins at zero, and
    /// returns their narrow counts. The range becomes the union of the current one and
    /// `kmin..=kmax`: the same offset and counts as [`Store::add`] leaves after adding
    /// at `kmin` and at `kmax` (it only ever grows the dense range to the smallest and
    /// largest index seen), so reserving a column's extreme bins first and counting its
    /// values after changes nothing in the state.
    fn cover(&mut self, kmin: i32, kmax: i32) -> &mut [Narrow] {
        self.offset = covered(&mut self.counts, self.offset, kmin, kmax);
        let start = (kmin - self.offset) as usize;
        &mut self.counts[start..=(kmax - self.offset) as usize]
    }

    /// Counts each value of `values` in the bin of its magnitude: the same counts and
    /// range as [`Store::add`]`(index(|x|), 1)` on each, in turn. The caller
    /// guarantees that every |x| is finite and ≥ [`Sketch::ZERO`], that every index is
    /// in `kmin..=kmax`, and that `kmin` and `kmax` are themselves indices of values of
    /// `values` (as those of the smallest and largest magnitude are: [`index`] is
    /// monotonic), so the range is grown once, up front, to what adding one value at a
    /// time would reach. The loop then has no branch but the bounds check, which never
    /// fails while the contract holds (and panics rather than miscount if it did not).
    ///
    /// Chunk by chunk, the bins are computed first (pure arithmetic on the bits, a loop
    /// the compiler vectorizes) and counted after.
    // Inlined into every copy of the per-block pipeline (`engine::simd`).
    #[inline(always)]
    fn add_magnitudes(&mut self, values: &[f64], kmin: i32, kmax: i32) {
        let n = values.len() as u64;
        if n > self.headroom() {
            // More values than narrow counts can take at once (never in a run's blocks).
            for &x in values {
                self.add(index(x), 1);
            }
            return;
        }
        self.make_room(n);
        self.bound += n;
        let window = self.cover(kmin, kmax);
        if let [one] = window {
            // A constant column, or one inside a single bin.
            *one += n as Narrow;
            return;
        }
        // Not cleared: each chunk's bins are written whole before they are read
        // (clearing 1 KB for every column took about 1% of a run).
        let mut bins = [MaybeUninit::uninit(); BIN_CHUNK];
        let (chunks, rest) = values.as_chunks::<BIN_CHUNK>();
        for chunk in chunks {
            for &b in bins_from(chunk, kmin, &mut bins) {
                window[b as usize] += 1;
            }
        }
        if !rest.is_empty() {
            // The last values, padded with the first (a valid value) to a whole chunk.
            let mut padded = [rest[0]; BIN_CHUNK];
            padded[..rest.len()].copy_from_slice(rest);
            for &b in &bins_from(&padded, kmin, &mut bins)[..rest.len()] {
                window[b as usize] += 1;
            }
        }
    }

    /// The counts of bins `offset + range` together.
    fn count_over(&self, range: std::ops::Range<usize>) -> u64 {
        let narrow: u64 = self.counts[range.clone()]
            .iter()
            .map(|&c| u64::from(c))
            .sum();
        // The same bins' places among the wide counts, clipped to them.
        let shift = i64::from(self.offset) - i64::from(self.wide_offset);
        let place = |i: usize| (i as i64 + shift).clamp(0, self.wide.len() as i64) as usize;
        narrow
            + self.wide[place(range.start)..place(range.end)]
                .iter()
                .sum::<u64>()
    }

    /// Adds the store's counts to `seen` bin by bin, in ascending index order or
    /// descending, and pushes to `found` the index of the bin where each of `ranks`
    /// (ascending 0-based ranks, none below `seen` on entry) falls, until the bins or
    /// the ranks run out. A stretch of [`WALK_CHUNK`] bins where no rank falls is added
    /// in one sum: the baseline's 260 sketches span 1.5 million bins at 10⁶ draws, and
    /// a summary asks each for a dozen ranks.
    fn locate(&self, descending: bool, seen: &mut u64, ranks: &[u64], found: &mut Vec<i32>) {
        let n = self.counts.len();
        let chunks = n.div_ceil(WALK_CHUNK);
        let mut left = ranks;
        for c in 0..chunks {
            let c = if descending { chunks - 1 - c } else { c };
            let Some(&next) = left.first() else { return };
            let range = c * WALK_CHUNK..n.min((c + 1) * WALK_CHUNK);
            let total = self.count_over(range.clone());
            if *seen + total <= next {
                *seen += total;
                continue;
            }
            for j in 0..range.len() {
                let i = if descending {
                    range.end - 1 - j
                } else {
                    range.start + j
                };
                *seen += self.count_at(i);
                while let Some(&rank) = left.first()
                    && rank < *seen
                {
                    found.push(self.offset + i as i32);
                    left = &left[1..];
                }
            }
        }
    }

    /// Non-empty bins in ascending index order.
    fn bins(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        (0..self.counts.len())
            .map(|i| (self.offset + i as i32, self.count_at(i)))
            .filter(|(_, c)| *c > 0)
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

/// γ = (1 + α)/(1 − α): the largest ratio of two values in one bin.
const GAMMA: f64 = (1.0 + ALPHA) / (1.0 - ALPHA);

/// Most consecutive codes (upper 32 bits of a magnitude) a bin may hold: ⌊2²⁰ w⌋
/// with w = γ − 1, so that its values differ by a factor of at most γ (1049 for
/// α = 0.05%).
const CODES_PER_BIN: u64 = ((1u64 << 20) as f64 * (GAMMA - 1.0)) as u64;

/// M of the index ⌊c M / 2³²⌋: a bin then holds 2³²/M ≤ [`CODES_PER_BIN`] codes.
/// With c < 2³¹ and M < 2²³ the product fits in 64 bits.
const BIN_MULTIPLIER: u64 = (1u64 << 32).div_ceil(CODES_PER_BIN);

/// ⌊c M / 2³²⌋ for c the code of 1: subtracted so that 1 lies in bin 0.
const INDEX_OFFSET: i64 = (((1023u64 << 20) * BIN_MULTIPLIER) >> 32) as i64;

/// The code of +∞: the code of [`lower_edge`] never exceeds it.
const INFINITE_CODE: u64 = f64::INFINITY.to_bits() >> 32;

/// Values per chunk of [`Sketch::add_mixed`]: a block's column of a run, split by
/// sign into two buffers on the stack.
const CHUNK: usize = 256;

/// Values whose bins [`Store::add_magnitudes`] computes at a time, before counting
/// them: 1 KB of bins that stays in the fastest cache. The buffer is cleared for every
/// column of every block, and a column that is not a whole number of chunks (a side
/// of a column of both signs) pads its last chunk: with 128 rather than 256 values a
/// chunk, both cost half as much (a run 2% faster on AVX-512; chunks of 32 and 64
/// gained less).
const BIN_CHUNK: usize = 128;

/// Bins summed at once where the quantiles' walk finds no rank ([`Store::locate`]).
const WALK_CHUNK: usize = 64;

/// Independent lanes of [`ColumnRange::of`]: enough chains of packed minima and
/// maxima to hide their latency.
const LANES: usize = 8;

/// How a column of both signs is split by sign (in [`Sketch::add_scanned`]). Both
/// ways give the same split, to the bit (tested); each copy of the block pipeline
/// takes the one its instructions allow (`engine::simd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignSplitter {
    /// Value by value, each written to both sides and counted on one, with no branch
    /// on the sign: any processor.
    Scan,
    /// Eight values at a time by AVX-512's compress (`vcompresspd`), where the
    /// processor has AVX-512 (F); elsewhere as [`SignSplitter::Scan`].
    Compress,
    /// Four values at a time, each side's packed to the front of a vector by a
    /// permutation looked up by its mask (`vpermps`), where the processor has AVX2;
    /// elsewhere as [`SignSplitter::Scan`].
    Permute,
}

/// The bin index of a magnitude m ≥ [`Sketch::ZERO`]: ⌊c M / 2³²⌋ − [`INDEX_OFFSET`]
/// for c the upper 32 bits of m, with no logarithm, division or float arithmetic (a
/// hot path: one call per value and series of every draw). The sign bit is ignored:
/// `index(x)` is `index(|x|)`. Monotonic in |x|, since c is.
#[inline]
fn index(m: f64) -> i32 {
    shifted_index(m, 0) as i32
}

/// [`index`]`(m) − shift`, in 64-bit lanes only: a loop of calls compiles to packed
/// shifts, masks and 32 × 32-bit products (`vpmuludq`, `pmuludq`) on any x86-64
/// processor, with no conversion between 64- and 32-bit lanes. Defined for every bit
/// pattern of m (NaN and ±∞ included): c < 2³¹, so c M < 2⁵⁴.
#[inline(always)]
fn shifted_index(m: f64, shift: i32) -> i64 {
    let code = (m.to_bits() >> 32) & 0x7fff_ffff;
    ((code * BIN_MULTIPLIER) >> 32) as i64 - (INDEX_OFFSET + i64::from(shift))
}

/// The offsets from bin `kmin` of the bins of a chunk of values, written into `bins`
/// (a loop of fixed length with no branch, which the compiler vectorizes).
#[inline(always)]
fn bins_from<'a>(
    values: &[f64; BIN_CHUNK],
    kmin: i32,
    bins: &'a mut [MaybeUninit<u64>; BIN_CHUNK],
) -> &'a [u64] {
    for (b, &x) in bins.iter_mut().zip(values) {
        b.write(shifted_index(x, kmin) as u64);
    }
    // SAFETY: the loop wrote all `BIN_CHUNK` places (`values` has as many).
    unsafe { written(bins, BIN_CHUNK) }
}

/// The lower edge of bin `k`, the smallest magnitude in it (inverse of [`index`]): the
/// float whose upper bits are the bin's first code, ⌈(k + [`INDEX_OFFSET`]) 2³² / M⌉,
/// and lower bits zero; +∞ above the finite floats.
fn lower_edge(k: i32) -> f64 {
    let scaled = u128::try_from(i64::from(k) + INDEX_OFFSET).unwrap_or(0) << 32;
    let code = scaled.div_ceil(u128::from(BIN_MULTIPLIER));
    let code = u64::try_from(code).map_or(INFINITE_CODE, |c| c.min(INFINITE_CODE));
    f64::from_bits(code << 32)
}

/// The representative value of bin `k`: within α of every value in the bin.
fn representative(k: i32) -> f64 {
    let (lo, hi) = (lower_edge(k), lower_edge(k + 1));
    2.0 * lo * hi / (lo + hi)
}

/// The smallest and largest of a column's values that are not NaN (±∞ when there
/// are none), and whether every value is finite: what [`Sketch::add_scanned`] needs
/// besides the values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnRange {
    lo: f64,
    hi: f64,
    finite: bool,
}

impl ColumnRange {
    /// The range of `values`, in one pass over `LANES` independent lanes (chains of
    /// packed minima and maxima the processor can overlap; a hot path).
    // Inlined into every copy of the per-block pipeline (`engine::simd`).
    #[inline(always)]
    pub fn of(values: &[f64]) -> ColumnRange {
        let mut lo = [f64::INFINITY; LANES];
        let mut hi = [f64::NEG_INFINITY; LANES];
        // x − x is +0 for a finite x and NaN otherwise: the bits stay zero while the
        // values are finite.
        let mut nonfinite = [0u64; LANES];
        // Comparisons skip NaN by themselves; lanes zipped (not indexed) compile to
        // packed minima and maxima.
        let mut see = |xs: &[f64; LANES]| {
            let lanes = lo.iter_mut().zip(hi.iter_mut()).zip(nonfinite.iter_mut());
            for (((lo, hi), nonfinite), &x) in lanes.zip(xs) {
                *lo = if x < *lo { x } else { *lo };
                *hi = if x > *hi { x } else { *hi };
                #[allow(clippy::eq_op)] // x − x is the point: 0 or NaN.
                let probe = x - x;
                *nonfinite |= probe.to_bits();
            }
        };
        let (groups, rest) = values.as_chunks::<LANES>();
        for group in groups {
            see(group);
        }
        if let Some(&first) = rest.first() {
            // The last values padded with one of them, which changes no extreme: every
            // lane is then named by a constant, so they stay in registers (indexed by
            // a variable, they lived on the stack, stored back at every step).
            let mut padded = [first; LANES];
            padded[..rest.len()].copy_from_slice(rest);
            see(&padded);
        }
        ColumnRange {
            lo: lo.into_iter().fold(f64::INFINITY, f64::min),
            hi: hi.into_iter().fold(f64::NEG_INFINITY, f64::max),
            finite: nonfinite == [0; LANES],
        }
    }

    /// Whether every value of the column is finite.
    pub fn all_finite(&self) -> bool {
        self.finite
    }

    /// Whether every value is finite and equal to `x` (−0 and +0 equal).
    pub fn holds_only(&self, x: f64) -> bool {
        self.finite && self.lo == x && self.hi == x
    }
}

/// A chunk split by sign ([`Sketch::add_mixed`]): how many magnitudes went to each
/// side, and each side's smallest and largest (∞ and 0 for a side with none).
struct SignSplit {
    positives: usize,
    negatives: usize,
    lo_p: f64,
    hi_p: f64,
    lo_n: f64,
    hi_n: f64,
}

impl SignSplit {
    /// This split of a chunk's first values followed by `tail`, the split of the rest
    /// (written after them on each side): the counts added, the extremes of both.
    fn then(self, tail: SignSplit) -> SignSplit {
        SignSplit {
            positives: self.positives + tail.positives,
            negatives: self.negatives + tail.negatives,
            lo_p: self.lo_p.min(tail.lo_p),
            hi_p: self.hi_p.max(tail.hi_p),
            lo_n: self.lo_n.min(tail.lo_n),
            hi_n: self.hi_n.max(tail.hi_n),
        }
    }
}

/// Places for a chunk's magnitudes on one side of a split, left unwritten until the
/// split writes them: clearing both sides for every chunk of every mixed-sign column
/// cost about 2% of a run.
type SideBuffer = [MaybeUninit<f64>; CHUNK];

/// The first `n` of `places`, which the caller has written: the split sides (both
/// splits write each value's magnitude to the place at its side's count before the
/// count can pass it, so the places below a side's count are written) and the bins of
/// [`bins_from`].
///
/// # Safety
/// Every place below `n` must have been written.
unsafe fn written<T>(places: &[MaybeUninit<T>], n: usize) -> &[T] {
    assert!(n <= places.len());
    // SAFETY: `MaybeUninit<T>` has the layout of `T`, the first `n` places are
    // initialized (the caller's contract), and `n` is within the slice.
    unsafe { std::slice::from_raw_parts(places.as_ptr().cast::<T>(), n) }
}

/// Splits finite `values` by sign: the magnitudes of the positive ones at least
/// [`Sketch::ZERO`] to the front of `positive`, in order, those of the negative ones
/// to `negative` (each at least as long as `values`); the rest are in the zero band.
/// Each value is written to the place at each side's count, which advances on one
/// side at most, so the places below the counts are all written.
#[inline(always)]
fn split_by_sign(
    values: &[f64],
    positive: &mut [MaybeUninit<f64>],
    negative: &mut [MaybeUninit<f64>],
) -> SignSplit {
    assert!(positive.len() >= values.len() && negative.len() >= values.len());
    let (mut np, mut nn) = (0, 0);
    let (mut lo_p, mut hi_p) = (f64::INFINITY, 0.0f64);
    let (mut lo_n, mut hi_n) = (f64::INFINITY, 0.0f64);
    for &x in values {
        let m = x.abs();
        let outside = m >= Sketch::ZERO;
        let (p, n) = (outside & (x > 0.0), outside & (x < 0.0));
        positive[np] = MaybeUninit::new(m);
        negative[nn] = MaybeUninit::new(m);
        np += usize::from(p);
        nn += usize::from(n);
        lo_p = if p { lo_p.min(m) } else { lo_p };
        hi_p = if p { hi_p.max(m) } else { hi_p };
        lo_n = if n { lo_n.min(m) } else { lo_n };
        hi_n = if n { hi_n.max(m) } else { hi_n };
    }
    SignSplit {
        positives: np,
        negatives: nn,
        lo_p,
        hi_p,
        lo_n,
        hi_n,
    }
}

/// [`split_by_sign`] eight values at a time: each side's magnitudes packed by
/// AVX-512's compress, its extremes by masked minima and maxima (the values are
/// finite and the magnitudes never −0, so the extremes do not depend on the order in
/// which they are taken). The same split, to the bit (tested).
///
/// # Safety
/// The processor must have AVX-512 (F).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn split_by_sign_avx512(
    values: &[f64],
    positive: &mut SideBuffer,
    negative: &mut SideBuffer,
) -> SignSplit {
    use std::arch::x86_64::*;
    assert!(values.len() <= CHUNK);
    let (groups, rest) = values.as_chunks::<8>();
    let zero_band = _mm512_set1_pd(Sketch::ZERO);
    let origin = _mm512_setzero_pd();
    let (mut lo_p, mut hi_p) = (_mm512_set1_pd(f64::INFINITY), origin);
    let (mut lo_n, mut hi_n) = (lo_p, origin);
    let (mut np, mut nn) = (0, 0);
    for group in groups {
        // SAFETY: `group` is 8 values. Before it, at most `CHUNK − 8` values were
        // split, so each side has room for 8 more at its count.
        unsafe {
            let x = _mm512_loadu_pd(group.as_ptr());
            let m = _mm512_abs_pd(x);
            let outside = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(m, zero_band);
            let p = outside & _mm512_cmp_pd_mask::<_CMP_GT_OQ>(x, origin);
            let n = outside & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, origin);
            // All eight places from each count are written (the compress fills the
            // places past its values with zeros).
            _mm512_storeu_pd(
                positive.as_mut_ptr().add(np).cast::<f64>(),
                _mm512_maskz_compress_pd(p, m),
            );
            _mm512_storeu_pd(
                negative.as_mut_ptr().add(nn).cast::<f64>(),
                _mm512_maskz_compress_pd(n, m),
            );
            np += p.count_ones() as usize;
            nn += n.count_ones() as usize;
            lo_p = _mm512_mask_min_pd(lo_p, p, lo_p, m);
            hi_p = _mm512_mask_max_pd(hi_p, p, hi_p, m);
            lo_n = _mm512_mask_min_pd(lo_n, n, lo_n, m);
            hi_n = _mm512_mask_max_pd(hi_n, n, hi_n, m);
        }
    }
    let split = SignSplit {
        positives: np,
        negatives: nn,
        lo_p: _mm512_reduce_min_pd(lo_p),
        hi_p: _mm512_reduce_max_pd(hi_p),
        lo_n: _mm512_reduce_min_pd(lo_n),
        hi_n: _mm512_reduce_max_pd(hi_n),
    };
    // The last values, fewer than eight, one at a time after the others (np and nn
    // are at most the count of values before them).
    split.then(split_by_sign(
        rest,
        &mut positive[np..],
        &mut negative[nn..],
    ))
}

/// For each mask of 4 lanes, the 32-bit lanes that move the selected 64-bit lanes to
/// the front of a vector, in order (the places after them take lane 0).
#[cfg(target_arch = "x86_64")]
const LEFT_PACK: [[i32; 8]; 16] = {
    let mut table = [[0; 8]; 16];
    let mut mask = 0;
    while mask < 16 {
        let (mut lane, mut to) = (0i32, 0);
        while lane < 4 {
            if mask & (1 << lane) != 0 {
                table[mask][2 * to] = 2 * lane;
                table[mask][2 * to + 1] = 2 * lane + 1;
                to += 1;
            }
            lane += 1;
        }
        mask += 1;
    }
    table
};

/// [`split_by_sign`] four values at a time: each side's magnitudes packed to the
/// front of a vector by the permutation of its mask ([`LEFT_PACK`]) and stored whole at
/// the side's count, its extremes by minima and maxima of the selected lanes (the
/// values are finite and the magnitudes above 0, so the extremes do not depend on the
/// order in which they are taken). The same split, to the bit (tested): the branch-free
/// value-by-value split costs about 2% of a run on AVX2.
///
/// # Safety
/// The processor must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn split_by_sign_avx2(
    values: &[f64],
    positive: &mut [MaybeUninit<f64>],
    negative: &mut [MaybeUninit<f64>],
) -> SignSplit {
    use std::arch::x86_64::*;
    assert!(positive.len() >= values.len() && negative.len() >= values.len());
    let (groups, rest) = values.as_chunks::<4>();
    let zero_band = _mm256_set1_pd(Sketch::ZERO);
    let origin = _mm256_setzero_pd();
    let magnitude = _mm256_castsi256_pd(_mm256_set1_epi64x(i64::MAX));
    let infinity = _mm256_set1_pd(f64::INFINITY);
    let (mut lo_p, mut hi_p) = (infinity, origin);
    let (mut lo_n, mut hi_n) = (infinity, origin);
    let (mut np, mut nn) = (0, 0);
    // The selected magnitudes of `m` packed to the front, stored whole at `to`.
    let pack = |m: __m256d, mask: i32, to: *mut MaybeUninit<f64>| {
        // SAFETY: an unaligned load of 32 bytes from an array of 32 bytes.
        let order = unsafe { _mm256_loadu_si256(LEFT_PACK[mask as usize].as_ptr().cast()) };
        let packed = _mm256_permutevar8x32_ps(_mm256_castpd_ps(m), order);
        // SAFETY: the caller leaves room for four values at `to`.
        unsafe { _mm256_storeu_ps(to.cast::<f32>(), packed) };
    };
    for group in groups {
        // SAFETY: an unaligned load of 4 values from a group of 4.
        let x = unsafe { _mm256_loadu_pd(group.as_ptr()) };
        let m = _mm256_and_pd(x, magnitude);
        let outside = _mm256_cmp_pd::<_CMP_GE_OQ>(m, zero_band);
        let p = _mm256_and_pd(outside, _mm256_cmp_pd::<_CMP_GT_OQ>(x, origin));
        let n = _mm256_and_pd(outside, _mm256_cmp_pd::<_CMP_LT_OQ>(x, origin));
        let (p_mask, n_mask) = (_mm256_movemask_pd(p), _mm256_movemask_pd(n));
        // All four places from each count are written. Before this group at most
        // `values.len() − 4` values were split, so each side has room for them.
        pack(m, p_mask, positive[np..np + 4].as_mut_ptr());
        pack(m, n_mask, negative[nn..nn + 4].as_mut_ptr());
        np += p_mask.count_ones() as usize;
        nn += n_mask.count_ones() as usize;
        lo_p = _mm256_min_pd(lo_p, _mm256_blendv_pd(infinity, m, p));
        hi_p = _mm256_max_pd(hi_p, _mm256_and_pd(m, p));
        lo_n = _mm256_min_pd(lo_n, _mm256_blendv_pd(infinity, m, n));
        hi_n = _mm256_max_pd(hi_n, _mm256_and_pd(m, n));
    }
    let lanes = |v: __m256d| {
        let mut out = [0.0; 4];
        // SAFETY: an unaligned store of 32 bytes to an array of 32 bytes.
        unsafe { _mm256_storeu_pd(out.as_mut_ptr(), v) };
        out
    };
    let least = |v| lanes(v).into_iter().fold(f64::INFINITY, f64::min);
    let most = |v| lanes(v).into_iter().fold(0.0, f64::max);
    let split = SignSplit {
        positives: np,
        negatives: nn,
        lo_p: least(lo_p),
        hi_p: most(hi_p),
        lo_n: least(lo_n),
        hi_n: most(hi_n),
    };
    // The last values, fewer than four, one at a time after the others (np and nn
    // are at most the count of values before them).
    split.then(split_by_sign(
        rest,
        &mut positive[np..],
        &mut negative[nn..],
    ))
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
    /// counts); the same state as [`Sketch::add`] on each finite value in turn.
    pub fn add_finite(&mut self, values: &[f64]) {
        self.add_scanned(values, ColumnRange::of(values), SignSplitter::Scan);
    }

    /// [`Sketch::add_finite`] for a caller that has already taken the column's range
    /// (the accumulator, which needs to know whether every value is finite). Contract:
    /// `range` is [`ColumnRange::of`]`(values)`. `splitter` is how a column of both
    /// signs is split; the state is the same either way.
    ///
    /// A column of finite values of one sign outside the zero band (the common case)
    /// is counted between the bins of its extremes, in chunks, without a branch per
    /// value (`Store::add_magnitudes`); other finite columns are first split by sign;
    /// a column with NaN or infinities goes value by value.
    // Inlined into every copy of the per-block pipeline (`engine::simd`).
    #[inline(always)]
    pub fn add_scanned(&mut self, values: &[f64], range: ColumnRange, splitter: SignSplitter) {
        let ColumnRange { lo, hi, finite } = range;
        if lo.is_finite() && hi.is_finite() {
            self.widen(lo, hi);
            // If every value is finite, of one sign and of magnitude at least ZERO,
            // the bins of the extremes bound all the others'.
            if finite {
                if lo >= Sketch::ZERO {
                    self.count += values.len() as u64;
                    self.positive.add_magnitudes(values, index(lo), index(hi));
                } else if hi <= -Sketch::ZERO {
                    self.count += values.len() as u64;
                    self.negative.add_magnitudes(values, index(-hi), index(-lo));
                } else {
                    for chunk in values.chunks(CHUNK) {
                        self.add_mixed(chunk, splitter);
                    }
                }
                return;
            }
        } else {
            for &x in values.iter().filter(|x| x.is_finite()) {
                self.widen(x, x);
            }
        }
        for &x in values.iter().filter(|x| x.is_finite()) {
            self.bin(x);
        }
    }

    /// A chunk of finite values of both signs, or in the zero band: split by sign into
    /// magnitudes, each side then counted between the bins of its extremes. The split
    /// writes every value to both sides and advances one, so no branch depends on a
    /// value's sign (growth rates near zero have either, at random); on the AVX-512
    /// copy ([`SignSplitter::Compress`]) it takes eight values at a time by compress,
    /// on the AVX2 copy ([`SignSplitter::Permute`]) four by permutations.
    // Inlined into every copy of the per-block pipeline (`engine::simd`).
    #[inline(always)]
    fn add_mixed(&mut self, values: &[f64], splitter: SignSplitter) {
        debug_assert!(values.len() <= CHUNK);
        let mut positive: SideBuffer = [MaybeUninit::uninit(); CHUNK];
        let mut negative: SideBuffer = [MaybeUninit::uninit(); CHUNK];
        let split = match splitter {
            #[cfg(target_arch = "x86_64")]
            SignSplitter::Compress if std::arch::is_x86_feature_detected!("avx512f") => {
                // SAFETY: the processor has AVX-512 (F), just checked.
                unsafe { split_by_sign_avx512(values, &mut positive, &mut negative) }
            }
            #[cfg(target_arch = "x86_64")]
            SignSplitter::Permute if std::arch::is_x86_feature_detected!("avx2") => {
                // SAFETY: the processor has AVX2, just checked.
                unsafe { split_by_sign_avx2(values, &mut positive, &mut negative) }
            }
            _ => split_by_sign(values, &mut positive, &mut negative),
        };
        let SignSplit {
            positives,
            negatives,
            lo_p,
            hi_p,
            lo_n,
            hi_n,
        } = split;
        // SAFETY: either split wrote every place below each side's count.
        let (positive, negative) =
            unsafe { (written(&positive, positives), written(&negative, negatives)) };
        self.count += values.len() as u64;
        self.zero += (values.len() - positives - negatives) as u64;
        if positives > 0 {
            self.positive
                .add_magnitudes(positive, index(lo_p), index(hi_p));
        }
        if negatives > 0 {
            self.negative
                .add_magnitudes(negative, index(lo_n), index(hi_n));
        }
    }

    /// Adds `n` copies of the bins of `other` (merging).
    pub fn merge(&mut self, other: &Sketch) {
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
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
    /// the range); one walk over the bins, most negative first ([`Store::locate`]).
    /// The walk only notes the bin where each rank falls; the representatives, two
    /// powers of two each, are computed after it, for those bins alone. (Computed
    /// inside the walk, behind the test that a rank falls in the bin, the compiler
    /// hoisted them out of that test: a representative for each of the 462 000
    /// non-empty bins of the baseline's sketches at 10⁶ draws, 12 ms on one thread
    /// after the draws.)
    fn values_at_ranks(&self, ranks: &[u64]) -> Vec<f64> {
        // The bins where the ranks fall, most negative first: the negative values' bins
        // by descending magnitude, the zero bin, the positive values' bins.
        let mut seen = 0;
        let mut negative = Vec::new();
        self.negative.locate(true, &mut seen, ranks, &mut negative);
        let rest = &ranks[negative.len()..];
        seen += self.zero;
        let zeros = rest.partition_point(|&rank| rank < seen);
        let mut positive = Vec::new();
        self.positive
            .locate(false, &mut seen, &rest[zeros..], &mut positive);
        let bins = (negative.iter().map(|&k| Some((-1.0, k))))
            .chain(std::iter::repeat_n(None, zeros))
            .chain(positive.iter().map(|&k| Some((1.0, k))));
        let found = negative.len() + zeros + positive.len();
        let values = bins.zip(ranks).map(|(bin, &rank)| {
            let value = bin.map_or(0.0, |(sign, k): (f64, i32)| sign * representative(k));
            self.clamped(rank, value)
        });
        // Ranks at or past the count: the largest value.
        values
            .chain(std::iter::repeat_n(self.max, ranks.len() - found))
            .collect()
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
    use rand::rngs::ChaCha8Rng;
    use rand::{RngExt, SeedableRng};
    use std::collections::BTreeMap;

    #[test]
    fn the_bin_constants_bound_a_bins_ratio_by_gamma() {
        // ⌊2²⁰ w⌋ with w = γ − 1 = 0.0010005…
        assert_eq!(CODES_PER_BIN, 1049);
        // CODES_PER_BIN consecutive codes span a factor of at most 1 + CODES_PER_BIN/2²⁰.
        assert!(1.0 + CODES_PER_BIN as f64 / (1u64 << 20) as f64 <= GAMMA);
        assert!((1u64 << 32).div_ceil(BIN_MULTIPLIER) <= CODES_PER_BIN);
        assert_eq!(index(1.0), 0);
        assert!(lower_edge(0) <= 1.0 && 1.0 < lower_edge(1));
        assert_eq!(lower_edge(i32::MAX), f64::INFINITY);
        assert_eq!(lower_edge(i32::MIN), 0.0);
    }

    #[test]
    fn bins_bound_relative_error() {
        for &x in &[
            1e-6, 0.0137, 0.5, 1.0, 1.5, 2.0, 3.999, 999.21, 6979.79, 1e9,
        ] {
            let k = index(x);
            let (lo, hi) = (lower_edge(k), lower_edge(k + 1));
            assert!(lo <= x && x < hi, "{x}: [{lo}, {hi})");
            assert!(hi / lo <= GAMMA);
            let r = representative(k);
            assert!(((r - x) / x).abs() <= ALPHA + 1e-12, "{x} -> {r}");
        }
    }

    /// The next float up from a positive finite `x` (`f64::next_up` needs Rust 1.86).
    fn next_up(x: f64) -> f64 {
        f64::from_bits(x.to_bits() + 1)
    }

    /// The next float down from a positive finite `x`.
    fn next_down(x: f64) -> f64 {
        f64::from_bits(x.to_bits() - 1)
    }

    #[test]
    fn every_bin_starts_at_its_lower_edge_and_spans_at_most_gamma() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (first, last) = (index(Sketch::ZERO), index(1e12));
        for _ in 0..100_000 {
            let k = rng.random_range(first..last);
            let (lo, hi) = (lower_edge(k), lower_edge(k + 1));
            // The index steps exactly at the edges: no float of the bin lies outside
            // [lo, hi), none outside it inside.
            assert_eq!(index(lo), k, "{lo:e}");
            assert_eq!(index(next_down(lo)), k - 1, "{lo:e}");
            assert_eq!(index(next_down(hi)), k, "{hi:e}");
            // 1048 or 1049 codes each: the bins are even in the approximate log.
            let codes = (hi.to_bits() >> 32) - (lo.to_bits() >> 32);
            assert!(
                codes == CODES_PER_BIN || codes == CODES_PER_BIN - 1,
                "{k}: {codes}"
            );
            assert!(hi / lo <= GAMMA, "{k}: [{lo:e}, {hi:e})");
            let r = representative(k);
            for x in [lo, next_down(hi)] {
                assert!(((r - x) / x).abs() <= ALPHA, "{x:e} -> {r:e}");
            }
        }
    }

    #[test]
    fn the_index_is_monotonic_ignores_the_sign_and_shifts_for_any_bits() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        // Any positive float, subnormals included, and the extremes, in order.
        let mut values: Vec<f64> = (0..200_000)
            .map(|_| f64::from_bits(rng.random::<u64>() % f64::INFINITY.to_bits()))
            .collect();
        values.extend([f64::MIN_POSITIVE, f64::MAX, 5e-324, Sketch::ZERO, 1.0, 2.0]);
        values.sort_by(f64::total_cmp);
        for pair in values.windows(2) {
            assert!(
                index(pair[0]) <= index(pair[1]),
                "{:e} {:e}",
                pair[0],
                pair[1]
            );
        }
        // Any bit pattern: NaN, infinities, subnormals and negatives included.
        values.extend((0..200_000).map(|_| f64::from_bits(rng.random::<u64>())));
        values.extend([f64::NAN, f64::INFINITY, -f64::INFINITY, 0.0, -0.0]);
        for (i, &m) in values.iter().enumerate() {
            let shift = (i % 2001) as i32 - 1000;
            assert_eq!(index(-m), index(m), "{m:e}");
            assert_eq!(
                shifted_index(m, shift),
                i64::from(index(m)) - i64::from(shift),
                "{m:e}"
            );
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

    /// The order statistic of `rank` by the plain walk over every non-empty bin.
    fn by_every_bin(s: &Sketch, rank: u64) -> f64 {
        let bins = (s.negative.bins().rev())
            .map(|(k, c)| (-representative(k), c))
            .chain(std::iter::once((0.0, s.zero)))
            .chain(s.positive.bins().map(|(k, c)| (representative(k), c)));
        let mut seen = 0;
        for (value, c) in bins {
            seen += c;
            if rank < seen {
                return s.clamped(rank, value);
            }
        }
        s.max
    }

    #[test]
    fn the_walk_by_chunks_finds_every_rank_bin_by_bin() {
        // Both signs over thousands of bins, zeros, crowded bins spilled to the wide
        // counts, and empty stretches longer than a chunk between clusters.
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut s = spilling_at(40);
        for _ in 0..3000 {
            let x = match rng.random_range(0..6) {
                0 => 0.0,
                1 => -3.0,
                2 => 1e-3 * (1.0 + rng.random::<f64>()),
                3 => 1e3 * (1.0 + rng.random::<f64>()),
                _ => (rng.random::<f64>() * 8.0 - 4.0).exp2() * [1.0, -1.0][rng.random_range(0..2)],
            };
            s.add(x);
        }
        assert!(s.negative.wide.iter().any(|&w| w > 0));
        assert!(s.positive.counts.len() > 10 * WALK_CHUNK);
        let ranks: Vec<u64> = (0..s.count + 2).collect();
        let every = ranks.iter().map(|&r| by_every_bin(&s, r).to_bits());
        let walked = s.values_at_ranks(&ranks).into_iter().map(f64::to_bits);
        assert!(walked.eq(every));
        // A few ranks at once, as a summary asks.
        let few = [0, 1, 999, 1000, 1001, 2500, s.count - 1];
        let values = s.values_at_ranks(&few);
        for (&r, v) in few.iter().zip(values) {
            assert_eq!(v.to_bits(), by_every_bin(&s, r).to_bits(), "rank {r}");
        }
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

    /// A column of `n` values of one of several kinds: one-signed spans of many
    /// octaves or of a few bins, constants, mixed signs, the zero band and its edges,
    /// NaN, ±∞ and the extreme floats.
    fn column(rng: &mut ChaCha8Rng, kind: usize, n: usize) -> Vec<f64> {
        // A magnitude 2^u with u uniform on [a, b).
        let mut octaves = |a: f64, b: f64| (a + (b - a) * rng.random::<f64>()).exp2();
        let mut v: Vec<f64> = match kind % 8 {
            0 => (0..n).map(|_| octaves(-29.0, 40.0)).collect(),
            1 => (0..n).map(|_| -octaves(-29.0, 40.0)).collect(),
            2 => (0..n).map(|_| 1000.0 * octaves(-0.01, 0.01)).collect(),
            3 => vec![if kind % 16 < 8 { 999.21 } else { -3.5e-3 }; n],
            4 => (0..n)
                .map(|i| octaves(-40.0, 10.0) * if i % 3 == 0 { -1.0 } else { 1.0 })
                .collect(),
            5 => {
                // At the edge of the zero band: with zeros, or of one sign.
                let (cases, sign) = match kind % 24 {
                    k if k < 8 => (6, 1.0),
                    k if k < 16 => (3, 1.0),
                    _ => (3, -1.0),
                };
                (0..n)
                    .map(|i| {
                        sign * match i % cases {
                            0 => Sketch::ZERO,
                            1 => next_up(Sketch::ZERO),
                            2 => next_down(Sketch::ZERO),
                            3 => 0.0,
                            4 => -0.0,
                            _ => octaves(-32.0, -28.0),
                        }
                    })
                    .collect()
            }
            6 => (0..n)
                .map(|i| {
                    if i % 2 == 0 {
                        f64::MAX
                    } else {
                        f64::MIN_POSITIVE
                    }
                })
                .collect(),
            _ => (0..n).map(|_| -octaves(-29.9, -29.8)).collect(),
        };
        // Now and then a NaN or an infinity among the values.
        if n > 0 && kind % 5 == 4 {
            let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -f64::NAN];
            for _ in 0..1 + n / 100 {
                let i = (rng.random::<f64>() * n as f64) as usize;
                v[i] = specials[(rng.random::<f64>() * 4.0) as usize];
            }
        }
        v
    }

    /// Checks a store against the bins of the magnitudes it was given, without
    /// [`Store::add`]: a dense range from the smallest to the largest index seen.
    fn assert_store(store: &Store, bins: &BTreeMap<i32, u64>) {
        let (Some((&first, _)), Some((&last, _))) = (bins.first_key_value(), bins.last_key_value())
        else {
            assert!(store.counts.is_empty());
            return;
        };
        let mut counts = vec![0; (last - first) as usize + 1];
        for (&k, &c) in bins {
            counts[(k - first) as usize] = c;
        }
        assert_eq!(store.offset, first);
        let stored: Vec<u64> = (0..store.counts.len()).map(|i| store.count_at(i)).collect();
        assert!(stored == counts, "bins from {first} to {last}");
    }

    #[test]
    fn column_ranges_are_the_extremes_and_finiteness_at_any_length() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for n in 0..=70 {
            for _ in 0..20 {
                let values: Vec<f64> = (0..n)
                    .map(|_| match rng.random_range(0..40) {
                        0 => f64::NAN,
                        1 => f64::INFINITY,
                        2 => f64::NEG_INFINITY,
                        3 => -0.0,
                        _ => rng.random_range(-1e3..1e3),
                    })
                    .collect();
                let got = ColumnRange::of(&values);
                let numbers = values.iter().filter(|x| !x.is_nan());
                let lo = numbers.clone().fold(f64::INFINITY, |a, &x| a.min(x));
                let hi = numbers.fold(f64::NEG_INFINITY, |a, &x| a.max(x));
                // The extremes up to the sign of a zero, which the sketch ignores.
                assert!(got.lo == lo && got.hi == hi, "{values:?}: {got:?}");
                assert_eq!(got.all_finite(), values.iter().all(|x| x.is_finite()));
            }
        }
    }

    #[test]
    fn add_finite_matches_adding_one_value_at_a_time() {
        let mut rng = ChaCha8Rng::seed_from_u64(20);
        let lengths = [0, 1, 2, 3, 5, 255, 256, 257, 1024, 1500];
        // Columns into fresh sketches, and all of them in turn into one.
        let (mut all, mut all_one_by_one) = (Sketch::new(), Sketch::new());
        let (mut positive, mut negative) = (BTreeMap::new(), BTreeMap::new());
        let rounds = 160;
        for round in 0..rounds {
            let n = lengths[round % lengths.len()];
            let values = column(&mut rng, round / lengths.len() + round, n);
            let mut fresh = Sketch::new();
            fresh.add_finite(&values);
            let mut one_by_one = Sketch::new();
            for &x in values.iter().filter(|x| x.is_finite()) {
                one_by_one.add(x);
                all_one_by_one.add(x);
                if x.abs() >= Sketch::ZERO {
                    let bins = if x > 0.0 {
                        &mut positive
                    } else {
                        &mut negative
                    };
                    *bins.entry(index(x.abs())).or_insert(0) += 1;
                }
            }
            assert_eq!(fresh, one_by_one, "round {round}: {values:?}");
            assert_eq!(
                fresh.count(),
                values.iter().filter(|x| x.is_finite()).count() as u64
            );
            all.add_finite(&values);
            // The shared sketch's stores are large: checked now and then, and at the end.
            if round % 8 == 7 || round + 1 == rounds {
                assert_eq!(all, all_one_by_one, "round {round}");
                assert_store(&all.positive, &positive);
                assert_store(&all.negative, &negative);
            }
        }
        // The columns reached both stores, and grew them on both sides.
        assert!(all.positive.counts.len() > 1000 && all.negative.counts.len() > 1000);
        assert!(all.zero > 0 && all.min < -1.0 && all.max > 1.0);
    }

    /// A vector copy's split of mixed-sign chunks: the same counts, magnitudes and
    /// extremes as the value-by-value split, to the bit, over chunks of the sizes
    /// `sizes` (every eighth one negated, and with zeros and values at the zero
    /// band's edge); and whole columns added with `splitter` give the same sketch.
    #[cfg(target_arch = "x86_64")]
    fn split_matches_the_scan(
        vector_split: impl Fn(&[f64], &mut SideBuffer, &mut SideBuffer) -> SignSplit,
        splitter: SignSplitter,
        sizes: [usize; 8],
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        for round in 0..400 {
            let n = sizes[round % 8];
            let mut values = column(&mut rng, [4, 5, 5 + 16, 2][round % 4], n);
            for x in values.iter_mut().step_by(3 + round % 3) {
                *x = -*x;
            }
            let unwritten = [MaybeUninit::uninit(); CHUNK];
            let (mut p, mut q, mut pv, mut qv) = (unwritten, unwritten, unwritten, unwritten);
            let one = split_by_sign(&values, &mut p, &mut q);
            let vector = vector_split(&values, &mut pv, &mut qv);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                (one.positives, one.negatives),
                (vector.positives, vector.negatives)
            );
            // SAFETY: each split wrote the places below its counts.
            let sides = unsafe {
                [
                    (written(&p, one.positives), written(&pv, vector.positives)),
                    (written(&q, one.negatives), written(&qv, vector.negatives)),
                ]
            };
            for (by_one, by_vector) in sides {
                assert_eq!(bits(by_one), bits(by_vector), "round {round}");
            }
            let ends = |s: &SignSplit| bits(&[s.lo_p, s.hi_p, s.lo_n, s.hi_n]);
            assert_eq!(ends(&one), ends(&vector), "round {round}");
            // And whole columns, as the vector copy adds them.
            let (mut a, mut b) = (Sketch::new(), Sketch::new());
            a.add_finite(&values);
            b.add_scanned(&values, ColumnRange::of(&values), splitter);
            assert_eq!(a, b, "round {round}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_split_by_compress_is_the_split_value_by_value() {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor has AVX-512 (F), just checked.
            let split = |v: &[f64], p: &mut SideBuffer, q: &mut SideBuffer| unsafe {
                split_by_sign_avx512(v, p, q)
            };
            let sizes = [0, 1, 7, 8, 9, 100, 255, 256];
            split_matches_the_scan(split, SignSplitter::Compress, sizes);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_split_by_permutation_is_the_split_value_by_value() {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2, just checked.
            let split = |v: &[f64], p: &mut SideBuffer, q: &mut SideBuffer| unsafe {
                split_by_sign_avx2(v, p, q)
            };
            let sizes = [0, 1, 3, 4, 5, 100, 255, 256];
            split_matches_the_scan(split, SignSplitter::Permute, sizes);
        }
    }

    /// An empty sketch whose narrow counts spill past `limit` (instead of 2¹⁶ − 1).
    fn spilling_at(limit: u64) -> Sketch {
        let mut s = Sketch::new();
        s.positive.limit = limit;
        s.negative.limit = limit;
        s
    }

    #[test]
    fn spilled_counts_keep_the_state() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let lengths = [1, 3, 40, 256];
        for limit in [2, 64, 1000] {
            let (mut narrow, mut spilling) = (Sketch::new(), spilling_at(limit));
            let mut parts = Vec::new();
            for round in 0..40 {
                // A column within an octave (a few hundred bins) of one sign, or mixed.
                let sign = [1.0, -1.0][round % 2];
                let mut values: Vec<f64> = (0..lengths[round % lengths.len()])
                    .map(|_| sign * (50.0 + 50.0 * rng.random::<f64>()))
                    .collect();
                if round % 3 == 0 {
                    values[0] = -values[0];
                }
                if round % 4 == 3 {
                    // A crowded bin, which the spills move to the wide counts.
                    values.fill(-75.0);
                }
                narrow.add_finite(&values);
                spilling.add_finite(&values);
                narrow.add(values[0]);
                spilling.add(values[0]);
                assert_eq!(narrow, spilling, "limit {limit}, round {round}");
                for store in [&spilling.positive, &spilling.negative] {
                    let most = store.counts.iter().copied().max().map_or(0, u64::from);
                    assert!(
                        most <= store.bound && store.bound <= limit,
                        "limit {limit}, round {round}: {most} > {}",
                        store.bound
                    );
                }
                let mut part = spilling_at(limit);
                part.add_finite(&values);
                parts.push(part);
            }
            // The spill was reached, and merges spill alike.
            assert!(
                spilling
                    .positive
                    .wide
                    .iter()
                    .chain(&spilling.negative.wide)
                    .any(|&w| w > 0)
            );
            if limit == 1000 {
                // Only the crowded bins moved: the wide counts span a small part of
                // the range.
                let store = &spilling.negative;
                assert!(
                    store.wide.len() * 10 < store.counts.len(),
                    "{}",
                    store.wide.len()
                );
            }
            let mut merged = spilling_at(limit);
            let mut merged_narrow = Sketch::new();
            for part in &parts {
                merged.merge(part);
                merged_narrow.merge(part);
            }
            assert_eq!(merged, merged_narrow, "limit {limit}");
            for store in [&merged.positive, &merged.negative] {
                let most = store.counts.iter().copied().max().map_or(0, u64::from);
                assert!(most <= store.bound && store.bound <= limit, "limit {limit}");
            }
            let bits = |s: &Sketch| s.quantiles([0.05, 0.5, 0.95]).map(f64::to_bits);
            assert_eq!(bits(&merged), bits(&merged_narrow));
            assert_eq!(Sketch::from_parts(&merged.to_parts()), merged);
        }
    }

    #[test]
    fn one_signed_columns_grow_the_range_both_ways() {
        // Each column beyond the range so far, alternately below and above it.
        let mut s = Sketch::new();
        let mut one_by_one = Sketch::new();
        for (i, scale) in [1.0, 0.25, 4.0, 1e-6, 1e6, 2.0, 0.5]
            .into_iter()
            .enumerate()
        {
            let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
            let values: Vec<f64> = (0..300)
                .map(|j| sign * scale * (1.0 + j as f64 / 300.0))
                .collect();
            s.add_finite(&values);
            values.iter().for_each(|&x| one_by_one.add(x));
            assert_eq!(s, one_by_one, "column {i}");
        }
    }
}
