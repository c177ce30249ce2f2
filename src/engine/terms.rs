//! The random terms of a draw: where each lies in the draw's stream and in the
//! workspace, and how all of them are computed from the stream at once.
//!
//! Rationale: every random term of a draw (each uncertain parameter and each year's
//! jump, then year by year each shock, then each impulse's size) owns one 64-bit word
//! of the draw's stream, at a fixed position: term `j` starts from word `j`. What a term
//! needs beyond its word (a ziggurat or a truncation rejecting its first value, about
//! one normal in 80) comes from the words after all the terms' own, in term order. So
//! the words are taken from the generator in bulk, the standard normals are computed
//! from theirs in a tight loop that reads nothing else from the stream, and a handful
//! are then finished one by one. Where the streams of 16 draws are computed together
//! (`engine::chacha`), each term is computed for the 16 at once, straight into its
//! lane, and each draw then finishes its handful.
//!
//! Fixed positions also mean that a term's value does not depend on the other terms'
//! laws: making one parameter uncertain, or fixing it, leaves every other term of every
//! draw as it was, but for the rare term that needs more than its own word. Impulses
//! come last, so adding one moves nothing else either (but those rare terms: the extra
//! words start one later). Scenarios with the same nodes and years, run with the same
//! seed, thus share their random numbers (common random numbers), which sharpens their
//! comparison.

use super::chacha::{GROUP, StreamLanes};
use super::simd::Simd;
use super::stream::DrawStream;
use crate::dist::{self, Dist};
use crate::normal::Ziggurat;
use crate::scenario::Scenario;

/// The position of each random term of a draw, in stream order. First the general
/// terms, each with its own law: the parameters drawn once (trend growth μ and its
/// yearly change δ for the 2K node-sectors, service then non-service; the employment
/// elasticity η, the non-service employment trend and the logistics elasticity λ for
/// the K nodes; ρ; the deflator trend π) and each projected year's common jump (its
/// uniform, then its size). Then the standard normal shocks, year by year: the 2K
/// shocks z, the price shock, the K service and the K non-service employment shocks and
/// the K logistics shocks. Last, each impulse's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermSlots {
    k: usize,
    impulses: usize,
    years: usize,
}

impl TermSlots {
    /// The terms of a scenario with `k` nodes, `impulses` impulses and `years`
    /// projected years.
    pub fn new(k: usize, impulses: usize, years: usize) -> TermSlots {
        TermSlots { k, impulses, years }
    }

    /// Trend growth μ of node-sector `a` (service nodes, then non-service).
    pub fn mu(self, a: usize) -> usize {
        a
    }
    /// Yearly change δ of the trend of node-sector `a`.
    pub fn delta(self, a: usize) -> usize {
        2 * self.k + a
    }
    /// Employment elasticity η of node `i`.
    pub fn eta(self, i: usize) -> usize {
        4 * self.k + i
    }
    /// Non-service employment trend of node `i`.
    pub fn en_trend(self, i: usize) -> usize {
        5 * self.k + i
    }
    /// Logistics elasticity λ of node `i`.
    pub fn lambda(self, i: usize) -> usize {
        6 * self.k + i
    }
    /// Spillover strength ρ.
    pub fn rho(self) -> usize {
        7 * self.k
    }
    /// Deflator trend π.
    pub fn pi(self) -> usize {
        7 * self.k + 1
    }
    /// The uniform that decides whether the common jump occurs in projected year `t`
    /// (1-based).
    pub fn jump_uniform(self, t: usize) -> usize {
        7 * self.k + 2 + 2 * (t - 1)
    }
    /// The common jump's size in year `t` (used only if the jump occurs).
    pub fn jump_size(self, t: usize) -> usize {
        self.jump_uniform(t) + 1
    }
    /// Number of general terms, each with its own law; the standard normal shocks
    /// follow them.
    pub fn general(self) -> usize {
        7 * self.k + 2 + 2 * self.years
    }
    /// Number of standard normal shocks.
    pub fn standard(self) -> usize {
        self.years * (5 * self.k + 1)
    }
    /// First standard normal shock of year `t`.
    fn year(self, t: usize) -> usize {
        self.general() + (t - 1) * (5 * self.k + 1)
    }
    /// Shock z `a` of year `t` (node-sectors as for μ).
    pub fn z(self, t: usize, a: usize) -> usize {
        self.year(t) + a
    }
    /// The price shock of year `t`.
    pub fn price(self, t: usize) -> usize {
        self.year(t) + 2 * self.k
    }
    /// The service employment shock of node `i` in year `t`.
    pub fn employment(self, t: usize, i: usize) -> usize {
        self.year(t) + 2 * self.k + 1 + i
    }
    /// The non-service employment shock of node `i` in year `t`.
    pub fn non_service_employment(self, t: usize, i: usize) -> usize {
        self.year(t) + 3 * self.k + 1 + i
    }
    /// The logistics shock of node `i` in year `t`.
    pub fn logistics(self, t: usize, i: usize) -> usize {
        self.year(t) + 4 * self.k + 1 + i
    }
    /// Size of impulse `x`.
    pub fn impulse(self, x: usize) -> usize {
        self.general() + self.standard() + x
    }
    /// Number of terms of a draw.
    pub fn len(self) -> usize {
        self.general() + self.standard() + self.impulses
    }
    /// Whether a draw has no random terms (never: ρ and π are terms).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// The laws of a draw's terms: one per general term and per impulse, standard normal
/// for the shocks between them.
#[derive(Debug, Clone)]
pub struct TermLaws {
    general: Vec<Dist>,
    standard: usize,
    impulses: Vec<Dist>,
}

impl TermLaws {
    /// The laws of the terms of `scenario`, placed by `slots`.
    pub fn new(scenario: &Scenario, slots: TermSlots) -> TermLaws {
        let s = scenario;
        let k = s.nodes.len();
        let mut general = vec![Dist::Fixed(0.0); slots.general()];
        for (i, p) in s.params.iter().enumerate() {
            general[slots.mu(i)] = p.service_trend;
            general[slots.mu(k + i)] = p.non_service_trend;
            general[slots.delta(i)] = p.service_slowdown;
            general[slots.delta(k + i)] = p.non_service_slowdown;
            general[slots.eta(i)] = p.employment_elasticity;
            general[slots.en_trend(i)] = p.non_service_employment_trend;
            general[slots.lambda(i)] = p.logistics_elasticity;
        }
        general[slots.rho()] = s.rho;
        general[slots.pi()] = s.deflator_trend;
        for t in 1..=s.years() {
            general[slots.jump_uniform(t)] = Dist::Uniform {
                low: 0.0,
                high: 1.0,
            };
            general[slots.jump_size(t)] = s.shocks.jump_size;
        }
        TermLaws {
            general,
            standard: slots.standard(),
            impulses: s.impulses.iter().map(|imp| imp.size).collect(),
        }
    }

    /// The laws of `count` standard normal terms and nothing else: the terms of the
    /// random-number floor the benchmarks time.
    pub fn standard_normals(count: usize) -> TermLaws {
        TermLaws {
            general: Vec::new(),
            standard: count,
            impulses: Vec::new(),
        }
    }

    /// Number of terms.
    pub fn len(&self) -> usize {
        self.general.len() + self.standard + self.impulses.len()
    }

    /// Every term of draw `draw` of the run with key `key`, in term order: the values
    /// the engine draws, for figures computed outside it (the spillover table's ρ).
    pub fn values_of(&self, key: &[u8; 32], draw: u64) -> Vec<f64> {
        let mut values = vec![0.0; self.len()];
        let mut scratch = TermScratch::new(self);
        let mut stream = DrawStream::new(key, draw);
        self.draw(&mut stream, &mut scratch, &mut values, 1, 0);
        values
    }

    /// Whether there are no terms.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of every term of the draw whose stream is `stream` (not yet read),
    /// into position `d` of its lane of `lanes` (a lane of `cap` values per term).
    /// Each value is what [`Dist::sample_from`] gives from the term's own word, reading
    /// any further words from the stream after all the terms' own, in term order.
    pub fn draw(
        &self,
        stream: &mut DrawStream,
        scratch: &mut TermScratch,
        lanes: &mut [f64],
        cap: usize,
        d: usize,
    ) {
        // Taken out of the scratch while it is lent whole, then put back: no allocation.
        let mut words = std::mem::take(&mut scratch.words);
        stream.fill_words(&mut words[..self.len()]);
        self.draw_from_words(&words, stream, scratch, lanes, cap, d);
        scratch.words = words;
    }

    /// As [`TermLaws::draw`], the terms' own words, `words` (one per term, as
    /// little-endian bytes), already read: `stream` hands out the words after them.
    // Kept out of line: inlined into the block pipeline, its loops lost their
    // registers to the pipeline's state.
    #[inline(never)]
    fn draw_from_words(
        &self,
        words: &[[u8; 8]],
        stream: &mut DrawStream,
        scratch: &mut TermScratch,
        lanes: &mut [f64],
        cap: usize,
        d: usize,
    ) {
        let (n, g, st) = (self.len(), self.general.len(), self.standard);
        let (words, values) = (&words[..n], &mut scratch.values[..n]);
        let rejected = &mut scratch.rejected;
        let zig = Ziggurat::get();
        // General terms, each finished at once: they come first in term order.
        general_terms(zig, &self.general, &words[..g], &mut values[..g], stream);
        // Standard normals: the fast path for all, noting the rejected ones.
        let mut count = 0;
        let standard = values[g..g + st].iter_mut().zip(&words[g..g + st]);
        for (j, (value, word)) in standard.enumerate() {
            let (z, accepted) = zig.fast(u64::from_le_bytes(*word));
            *value = z;
            rejected[count] = j;
            count += usize::from(!accepted);
        }
        for &j in &rejected[..count] {
            values[g + j] = zig.finish(u64::from_le_bytes(words[g + j]), stream);
        }
        // Impulse sizes, last.
        general_terms(
            zig,
            &self.impulses,
            &words[g + st..],
            &mut values[g + st..],
            stream,
        );
        for (lane, value) in lanes.chunks_exact_mut(cap).zip(values.iter()) {
            lane[d] = *value;
        }
    }
}

/// Defines `$name`, [`TermLaws::draw_lanes`]'s body compiled with the target features
/// `$features` (on x86-64) and kept out of line.
macro_rules! draw_lanes_copy {
    ($(#[$doc:meta])* $name:ident, $features:literal) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)]
        #[cfg_attr(target_arch = "x86_64", target_feature(enable = $features))]
        #[inline(never)]
        unsafe fn $name(
            &self,
            words: &[u64],
            key: &[u8; 32],
            first: u64,
            valid: usize,
            stream: &mut DrawStream,
            scratch: &mut TermScratch,
            lanes: &mut [f64],
            cap: usize,
            start: usize,
        ) {
            self.draw_lanes_in(words, key, first, valid, stream, scratch, lanes, cap, start)
        }
    };
}

impl TermLaws {
    /// The terms of the [`GROUP`] draws `first..first + GROUP` of the run with key
    /// `key`, whose streams' words were computed together by `group`
    /// ([`StreamLanes::fill`]): draw `first + l`'s word `w` is `words[w · GROUP + l]`,
    /// for its terms' own words and at least one more ([`TermLaws::draw`] then gives
    /// the same values). The first `valid` draws' terms go to positions
    /// `start..start + valid` of `lanes` (a lane of `cap` values per term); `stream` is
    /// scratch.
    ///
    /// Each term is computed for the whole group at once, from its words side by side,
    /// into its lane: the values its own words settle, noting in a mask the draws whose
    /// word does not. Then each draw with a noted term finishes those in term order,
    /// from the words after its terms' own, exactly as [`TermLaws::draw`] would. This is
    /// compiled for the copy of the engine `group` belongs to, AVX-512 or AVX2: on
    /// AVX-512 the ziggurat's table lookups become gathers of 8 values; on AVX2, where
    /// the compiler judges gathers too slow, loads of one value each into vectors.
    ///
    /// # Panics
    /// If `words` holds no word beyond the terms' own, `valid > GROUP` or `lanes` is
    /// too short: the engine sizes them itself.
    #[allow(clippy::too_many_arguments)]
    pub fn draw_lanes(
        &self,
        group: StreamLanes,
        words: &[u64],
        key: &[u8; 32],
        first: u64,
        valid: usize,
        stream: &mut DrawStream,
        scratch: &mut TermScratch,
        lanes: &mut [f64],
        cap: usize,
        start: usize,
    ) {
        debug_assert_eq!(group.lanes(), GROUP);
        // SAFETY: a `StreamLanes` exists only for a copy whose instructions the
        // processor has.
        unsafe {
            match group.simd() {
                Simd::Avx512 => self.draw_lanes_avx512(
                    words, key, first, valid, stream, scratch, lanes, cap, start,
                ),
                _ => self
                    .draw_lanes_avx2(words, key, first, valid, stream, scratch, lanes, cap, start),
            }
        }
    }

    draw_lanes_copy!(
        /// [`TermLaws::draw_lanes`], compiled for AVX-512 (kept out of line, as
        /// `draw_from_words`).
        ///
        /// # Safety
        /// The processor must have AVX-512 F, DQ, VL and BW.
        draw_lanes_avx512,
        "avx512f,avx512dq,avx512vl,avx512bw"
    );

    draw_lanes_copy!(
        /// [`TermLaws::draw_lanes`], compiled for AVX2 (kept out of line, as
        /// `draw_from_words`).
        ///
        /// # Safety
        /// The processor must have AVX2.
        draw_lanes_avx2,
        "avx2"
    );

    /// [`TermLaws::draw_lanes`]'s body, inlined into each copy.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn draw_lanes_in(
        &self,
        words: &[u64],
        key: &[u8; 32],
        first: u64,
        valid: usize,
        stream: &mut DrawStream,
        scratch: &mut TermScratch,
        lanes: &mut [f64],
        cap: usize,
        start: usize,
    ) {
        let (n, g, st) = (self.len(), self.general.len(), self.standard);
        let per_draw = words.len() / GROUP;
        assert!(
            per_draw > n && valid <= GROUP,
            "{per_draw} words for {n} terms"
        );
        let zig = Ziggurat::get();
        let (rows, _) = words.as_chunks::<GROUP>();
        let lane = |j: usize| j * cap + start..j * cap + start + valid;
        let unsettled = &mut scratch.unsettled;
        unsettled.resize(n, (0, 0));
        let mut found = 0;
        // In term order: general terms, standard normals, impulse sizes.
        for (j, dist) in self.general.iter().enumerate() {
            let law = OwnLaw { dist, zig };
            settle(
                &law,
                &rows[j],
                &mut lanes[lane(j)],
                j,
                unsettled,
                &mut found,
            );
        }
        for j in g..g + st {
            let normal = StandardNormal(zig);
            settle(
                &normal,
                &rows[j],
                &mut lanes[lane(j)],
                j,
                unsettled,
                &mut found,
            );
        }
        for (j, dist) in (g + st..n).zip(&self.impulses) {
            let law = OwnLaw { dist, zig };
            settle(
                &law,
                &rows[j],
                &mut lanes[lane(j)],
                j,
                unsettled,
                &mut found,
            );
        }
        // Each draw's unsettled terms, in term order: draw l's are `per_lane[l * n..]`,
        // `counts[l]` of them.
        let (per_lane, counts) = (&mut scratch.per_lane, &mut scratch.counts);
        per_lane.resize(GROUP * n, 0);
        *counts = [0; GROUP];
        for &(j, mask) in &unsettled[..found] {
            let mut draws = mask;
            while draws != 0 {
                let l = draws.trailing_zeros() as usize;
                draws &= draws - 1;
                per_lane[l * n + counts[l]] = j;
                counts[l] += 1;
            }
        }
        // Each draw with an unsettled term finishes them in term order.
        let ahead = &mut scratch.ahead;
        ahead.resize(per_draw - n, [0; 8]);
        for (l, &count) in counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            for (a, row) in ahead.iter_mut().zip(&rows[n..]) {
                *a = row[l].to_le_bytes();
            }
            stream.resume(key, first + l as u64, ahead, per_draw as u64);
            for &j in &per_lane[l * n..l * n + count] {
                let word = rows[j][l];
                lanes[j * cap + start + l] = match j {
                    _ if j < g => self.general[j].redrawn(zig, word, stream),
                    _ if j < g + st => zig.finish(word, stream),
                    _ => self.impulses[j - g - st].redrawn(zig, word, stream),
                };
            }
        }
    }
}

/// How a term's value for a group's draws comes from each draw's own word. A trait
/// rather than a closure: its methods are `#[inline(always)]`, so that they are
/// compiled into each vector copy's loop (a closure called from two places was kept
/// out of line, compiled for the portable baseline, on the AVX2 copy).
trait OwnWordValue {
    /// The value from `word`, and whether the word settles it.
    fn value(&self, word: u64) -> (f64, bool);

    /// Each draw's value from its word in `row` into `out`: the mask of the draws
    /// whose words do not settle it. One loop of [`OwnWordValue::value`] with no
    /// branch, which the compiler vectorizes.
    #[inline(always)]
    fn values(&self, row: &[u64; GROUP], out: &mut [f64; GROUP]) -> u32 {
        let mut mask = 0;
        for (l, (out, &word)) in out.iter_mut().zip(row).enumerate() {
            let (x, settled) = self.value(word);
            *out = x;
            mask |= u32::from(!settled) << l;
        }
        mask
    }
}

/// A standard normal shock: the ziggurat's fast path, one packed lookup.
struct StandardNormal<'a>(&'a Ziggurat);

impl OwnWordValue for StandardNormal<'_> {
    #[inline(always)]
    fn value(&self, word: u64) -> (f64, bool) {
        self.0.fast_packed(word)
    }
}

/// A term with its own law.
struct OwnLaw<'a> {
    dist: &'a Dist,
    zig: &'a Ziggurat,
}

impl OwnWordValue for OwnLaw<'_> {
    #[inline(always)]
    fn value(&self, word: u64) -> (f64, bool) {
        self.dist.from_own_word_packed(self.zig, word)
    }

    /// The law is matched once for the group, not in each draw's lane: the loop of a
    /// law the match left in it ran one value at a time (as long as the standard
    /// normals' loop for a third as many terms, on the AVX2 copy).
    #[inline(always)]
    fn values(&self, row: &[u64; GROUP], out: &mut [f64; GROUP]) -> u32 {
        match *self.dist {
            Dist::Fixed(v) => {
                out.fill(v);
                0
            }
            Dist::Uniform { low, high } => UniformLaw { low, high }.values(row, out),
            Dist::Normal { mean, sd, min, max } => NormalLaw {
                law: (mean, sd, min, max),
                zig: self.zig,
            }
            .values(row, out),
        }
    }
}

/// A term with a uniform law ([`OwnLaw`]'s values, the law matched).
struct UniformLaw {
    low: f64,
    high: f64,
}

impl OwnWordValue for UniformLaw {
    #[inline(always)]
    fn value(&self, word: u64) -> (f64, bool) {
        (dist::uniform_from_word(self.low, self.high, word), true)
    }
}

/// A term with a normal law: (mean, sd, min, max) ([`OwnLaw`]'s values, the law
/// matched).
struct NormalLaw<'a> {
    law: (f64, f64, f64, f64),
    zig: &'a Ziggurat,
}

impl OwnWordValue for NormalLaw<'_> {
    #[inline(always)]
    fn value(&self, word: u64) -> (f64, bool) {
        dist::normal_from_fast_path(self.law, self.zig.fast_packed(word))
    }
}

/// Computes term `j`'s values from its words `row` by `term` into its lane of
/// `valid ≤ GROUP` draws (straight into the lane where the group is whole), and notes
/// the valid draws whose own words do not settle it as `unsettled[*found]`, counted in
/// `found` if there are any. The entry is written either way, with no branch (a term
/// has a draw to finish about one time in six, at random); `found` ≤ `j` <
/// `unsettled.len()`.
#[inline(always)]
fn settle(
    term: &impl OwnWordValue,
    row: &[u64; GROUP],
    lane: &mut [f64],
    j: usize,
    unsettled: &mut [(usize, u32)],
    found: &mut usize,
) {
    let mask = match <&mut [f64; GROUP]>::try_from(&mut *lane) {
        Ok(whole) => term.values(row, whole),
        Err(_) => {
            let mut values = [0.0; GROUP];
            let mask = term.values(row, &mut values);
            let valid = lane.len();
            lane.copy_from_slice(&values[..valid]);
            mask & ((1u64 << valid) - 1) as u32
        }
    };
    unsettled[*found] = (j, mask);
    *found += usize::from(mask != 0);
}

const _: () = assert!(GROUP <= 32, "a u32 masks a group's draws");

/// Terms with their own laws, each from its word and, where its first value is not
/// kept, the stream's next words ([`Dist::sample_from`]).
#[inline(always)]
fn general_terms(
    zig: &Ziggurat,
    dists: &[Dist],
    words: &[[u8; 8]],
    values: &mut [f64],
    stream: &mut DrawStream,
) {
    for ((value, dist), word) in values.iter_mut().zip(dists).zip(words) {
        *value = dist.sample_with(zig, u64::from_le_bytes(*word), stream);
    }
}

/// A draw's scratch for [`TermLaws::draw`]: its terms' own words and values, and the
/// standard normals whose fast path rejected them.
#[derive(Debug, Clone)]
pub struct TermScratch {
    /// The terms' own words, as the generator's little-endian bytes.
    words: Vec<[u8; 8]>,
    values: Vec<f64>,
    rejected: Vec<usize>,
    /// [`TermLaws::draw_lanes`]: the terms some of whose draws their own words do not
    /// settle, with a mask of those draws (one entry a term, the first few used).
    unsettled: Vec<(usize, u32)>,
    /// [`TermLaws::draw_lanes`]: each draw's unsettled terms, `n` places a draw.
    per_lane: Vec<usize>,
    /// [`TermLaws::draw_lanes`]: how many of each draw's places are used.
    counts: [usize; GROUP],
    /// [`TermLaws::draw_lanes`]: one draw's words after its terms' own.
    ahead: Vec<[u8; 8]>,
}

impl TermScratch {
    /// Room for the terms of `laws`.
    pub fn new(laws: &TermLaws) -> TermScratch {
        TermScratch {
            words: vec![[0; 8]; laws.len()],
            values: vec![0.0; laws.len()],
            rejected: vec![0; laws.standard],
            unsettled: vec![(0, 0); laws.len()],
            per_lane: Vec::new(),
            counts: [0; GROUP],
            ahead: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::ChaCha8Rng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn laws(general: Vec<Dist>, standard: usize, impulses: Vec<Dist>) -> TermLaws {
        TermLaws {
            general,
            standard,
            impulses,
        }
    }

    /// Every term of draw `draw` through `TermLaws::draw`, lane by lane.
    fn drawn(laws: &TermLaws, key: &[u8; 32], draw: u64) -> Vec<f64> {
        let cap = 3;
        let mut lanes = vec![f64::NAN; laws.len() * cap];
        let mut scratch = TermScratch::new(laws);
        let mut stream = DrawStream::new(key, draw);
        laws.draw(&mut stream, &mut scratch, &mut lanes, cap, 1);
        lanes.iter().skip(1).step_by(cap).copied().collect()
    }

    /// The same terms one at a time, straight from ChaCha8: each from its own word,
    /// any further words from those after all the terms' own.
    fn one_at_a_time(laws: &TermLaws, key: &[u8; 32], draw: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::from_seed(*key);
        rng.set_stream(draw);
        let words: Vec<u64> = (0..laws.len()).map(|_| rng.next_u64()).collect();
        let zig = Ziggurat::get();
        let (general, rest) = words.split_at(laws.general.len());
        let (standard, impulses) = rest.split_at(laws.standard);
        let mut values: Vec<f64> = laws
            .general
            .iter()
            .zip(general)
            .map(|(dist, &w)| dist.sample_from(w, &mut rng))
            .collect();
        values.extend(standard.iter().map(|&w| zig.from_word(w, &mut rng)));
        for (dist, &w) in laws.impulses.iter().zip(impulses) {
            values.push(dist.sample_from(w, &mut rng));
        }
        values
    }

    #[test]
    fn terms_are_those_drawn_one_at_a_time() {
        let narrow = Dist::Normal {
            mean: 0.0,
            sd: 1.0,
            min: 0.5,
            max: 0.7,
        };
        let general = vec![
            Dist::Fixed(0.25),
            narrow,
            Dist::Uniform {
                low: -1.0,
                high: 3.0,
            },
            Dist::Normal {
                mean: 0.07,
                sd: 0.01,
                min: f64::NEG_INFINITY,
                max: f64::INFINITY,
            },
            narrow,
        ];
        let laws = laws(general, 130, vec![narrow, Dist::Fixed(1.0)]);
        let key = [11u8; 32];
        let mut clamped = 0;
        for draw in 0..2_000 {
            let got = drawn(&laws, &key, draw);
            let want = one_at_a_time(&laws, &key, draw);
            assert_eq!(got.len(), want.len());
            for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g.to_bits(), w.to_bits(), "draw {draw}, term {j}");
            }
            assert!(got[1] >= 0.5 && got[1] <= 0.7);
            clamped += usize::from(got[1] == 0.5 || got[1] == 0.7);
        }
        // The narrow range keeps a value in 6.7% of tries: most draws read further
        // words, and about 1% run out of tries and are clamped.
        assert!(clamped > 0, "no draw exhausted its tries");
    }

    /// Laws with the narrow truncated normal of `terms_are_those_drawn_one_at_a_time`,
    /// which keeps a value in 6.7% of tries, so most draws read many words beyond
    /// their own; and every other kind of law among them (fixed, uniform, normal
    /// without bounds), each taking its own loop in a group.
    fn narrow_laws() -> TermLaws {
        let narrow = Dist::Normal {
            mean: 0.0,
            sd: 1.0,
            min: 0.5,
            max: 0.7,
        };
        let uniform = Dist::Uniform {
            low: -0.4,
            high: 0.4,
        };
        let wide = Dist::Normal {
            mean: 7.0,
            sd: 1.5,
            min: f64::NEG_INFINITY,
            max: f64::INFINITY,
        };
        let general = vec![Dist::Fixed(0.25), narrow, uniform, narrow, wide, narrow];
        laws(general, 130, vec![narrow, Dist::Fixed(1.0), uniform])
    }

    #[test]
    fn terms_computed_a_group_at_a_time_are_those_drawn_one_at_a_time() {
        let laws = narrow_laws();
        let key = [12u8; 32];
        let n = laws.len();
        // The AVX-512 and AVX2 copies compute streams in groups.
        for group in [Simd::Avx512, Simd::Avx2]
            .into_iter()
            .filter_map(StreamLanes::on)
        {
            // Whole blocks: the draws' own words and a few after them.
            let per_draw = (n + 3).div_ceil(8) * 8;
            let mut words = vec![0u64; GROUP * per_draw];
            let mut scratch = TermScratch::new(&laws);
            let mut stream = DrawStream::new(&key, 0);
            // Lanes wider than a group, the group placed off their start; whole
            // groups, and part of one.
            let (cap, start) = (GROUP + 5, 3);
            for (first, valid) in (0..800).step_by(GROUP).map(|f| (f, GROUP)).chain([(9, 7)]) {
                let mut lanes = vec![f64::NAN; n * cap];
                group.fill(&key, first, per_draw / 8, &mut words);
                laws.draw_lanes(
                    group,
                    &words,
                    &key,
                    first,
                    valid,
                    &mut stream,
                    &mut scratch,
                    &mut lanes,
                    cap,
                    start,
                );
                for l in 0..valid {
                    let draw = first + l as u64;
                    let want = one_at_a_time(&laws, &key, draw);
                    for (j, w) in want.iter().enumerate() {
                        let got = lanes[j * cap + start + l];
                        assert_eq!(got.to_bits(), w.to_bits(), "draw {draw}, term {j}");
                    }
                }
                let written = |i: usize| (start..start + valid).contains(&(i % cap));
                assert!(
                    lanes
                        .iter()
                        .enumerate()
                        .all(|(i, v)| written(i) || v.is_nan()),
                    "a value outside the group's lanes"
                );
            }
        }
    }

    #[test]
    fn a_parameter_law_or_an_impulse_moves_no_other_term() {
        let key = [2u8; 32];
        let uncertain = laws(
            vec![
                Dist::Fixed(0.1),
                Dist::Uniform {
                    low: 0.0,
                    high: 0.4,
                },
                Dist::Fixed(0.3),
            ],
            60,
            vec![Dist::Uniform {
                low: 0.0,
                high: 0.6,
            }],
        );
        let fixed = laws(
            vec![Dist::Fixed(0.1), Dist::Fixed(0.2), Dist::Fixed(0.3)],
            60,
            Vec::new(),
        );
        let zig = Ziggurat::get();
        let mut moved = 0;
        for draw in 0..500 {
            let (a, b) = (drawn(&uncertain, &key, draw), drawn(&fixed, &key, draw));
            assert_ne!(a[1], b[1]);
            assert_eq!(a.len(), b.len() + 1, "the impulse is one more term, last");
            let mut rng = ChaCha8Rng::from_seed(key);
            rng.set_stream(draw);
            for j in 0..b.len() {
                let own_word_decides = zig.fast(rng.next_u64()).1;
                if j != 1 && own_word_decides {
                    assert_eq!(a[j].to_bits(), b[j].to_bits(), "draw {draw}, term {j}");
                }
                moved += usize::from(j != 1 && a[j] != b[j]);
            }
        }
        // Only normals that needed words beyond their own may move (0.43% of them),
        // as the extra words start one later.
        assert!(moved < 500 * 60 / 100, "{moved} terms moved");
    }

    #[test]
    fn slots_cover_every_term_once() {
        let (k, impulses, years) = (4, 2, 5);
        let s = TermSlots::new(k, impulses, years);
        let mut all = Vec::new();
        for a in 0..2 * k {
            all.extend([s.mu(a), s.delta(a)]);
        }
        for i in 0..k {
            all.extend([s.eta(i), s.en_trend(i), s.lambda(i)]);
        }
        all.extend([s.rho(), s.pi()]);
        all.extend((0..impulses).map(|x| s.impulse(x)));
        for t in 1..=years {
            all.extend([s.jump_uniform(t), s.jump_size(t), s.price(t)]);
            all.extend((0..2 * k).map(|a| s.z(t, a)));
            for i in 0..k {
                all.extend([
                    s.employment(t, i),
                    s.non_service_employment(t, i),
                    s.logistics(t, i),
                ]);
            }
        }
        all.sort_unstable();
        assert_eq!(all, (0..s.len()).collect::<Vec<_>>());
        assert!((0..s.general()).contains(&s.jump_size(years)));
        assert_eq!(s.z(1, 0), s.general());
        // Impulses last: the other terms do not depend on how many there are.
        let without = TermSlots::new(k, 0, years);
        assert_eq!(s.logistics(years, k - 1), without.len() - 1);
        assert_eq!(s.impulse(0), without.len());
    }
}
