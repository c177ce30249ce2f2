//! Standard normal draws by the ziggurat method, with a fast path that reads one
//! 64-bit word and nothing else.
//!
//! Rationale: a draw of the model takes about 140 normals, and the engine computes them
//! for all of a draw's random terms in one loop that the compiler vectorizes (see
//! `engine::terms`). That loop needs the ziggurat's fast path as a pure function of one
//! word, [`Ziggurat::fast`]; the rare words it rejects (0.43%) finish in
//! [`Ziggurat::finish`], which reads further words from the stream. `rand_distr`'s
//! ziggurat keeps its tables private and reads its words from the generator one at a
//! time, so it cannot be split this way.
//!
//! The method is Marsaglia and Tsang's ziggurat in Doornik's form, with 1024 layers:
//! the low 10 bits of a word pick a layer, the top 52 bits a signed position in it.
//! The tables are built once from R, the right edge of the base layer, with the `libm`
//! crate's exp, log and erfc, so they and every draw are the same on any machine.
//! Every layer, the base one with its tail included, has the same area V.
//!
//! Why 1024 layers rather than the usual 128 or 256: a word is rejected with
//! probability 1 − mean(x\[i+1\]/x\[i\]), 1.49% at 256 layers, 0.80% at 512 and 0.43% at
//! 1024, and a rejected word leaves the vectorized loop for [`Ziggurat::finish`], one
//! draw at a time. With about 140 normals a draw, 88% of draws had a word to finish
//! at 256 layers and 45% have one at 1024; a baseline run takes about 5% less CPU
//! time. The fast path costs the same at any size (two table lookups), and the table
//! of edges, 8 KB, stays in the first-level cache; 2048 and 4096 layers gained
//! nothing more.
//!
//! The fast path looks up one word per normal, the layer's width and its core
//! threshold packed together (`Ziggurat::layers`): in the vectorized loop one gather
//! of 8 values rather than two, about 3% of a baseline run. The threshold is rounded
//! down, so the few core points it turns away are accepted by [`Ziggurat::finish`]
//! as they are; the width gives up the low 20 bits of its significand.

use std::sync::OnceLock;

use rand::Rng;

/// Layers of the ziggurat (a power of two: a word's low bits pick one).
const LAYERS: usize = 1024;

/// Right edge of the base layer for 1024 layers: the R for which the recursion of
/// [`Ziggurat::build`] closes the top layer, x\[1023\]·(1 − f(x\[1023\])) = V, found by
/// bisection (the same method gives Marsaglia and Tsang's 3.654 152 885 361 009 for
/// 256 layers); the test that every layer has the same area checks it.
const R: f64 = 4.038_849_846_109_505;

/// How far beyond the chord or a tangent of the density a point of a wedge must lie
/// for [`Ziggurat::under_density`] to decide it without the exp: an absolute distance
/// (the density is at most 1), about 10⁴ times the rounding of either side.
const SQUEEZE_MARGIN: f64 = 1e-12;

/// Low bits of a layer's fast-path word that hold its core threshold.
const CORE_BITS: u32 = 20;
/// Those bits.
const CORE_MASK: u64 = (1 << CORE_BITS) - 1;
/// 2²⁰: a magnitude in [0, 1) times this compares with a core threshold.
const CORE_SCALE: f64 = (1u64 << CORE_BITS) as f64;
/// 2⁵², whose bits OR-ed with an integer below 2⁵² give 2⁵² plus that integer, exactly.
const TWO_52: f64 = 4_503_599_627_370_496.0;

/// The ziggurat's tables: `x[i]` is the right edge of layer `i` (`x[0]` the base
/// layer's virtual width V / f(R), `x[1]` = R, `x[1024]` = 0), `f[i]` = exp(−`x[i]`²/2).
/// Built once per process ([`Ziggurat::get`]).
#[derive(Debug)]
pub struct Ziggurat {
    x: [f64; LAYERS + 1],
    f: [f64; LAYERS + 1],
    /// The half-width of layer `i` as drawn: `x[i]` with the low 20 bits of its
    /// significand cleared, less than `x[i]` by under 2⁻³² of it, so that it fits in
    /// `layers` beside a threshold. Layers of these widths have areas within 2⁻³² of
    /// one another, far below what any count of draws can detect.
    w: [f64; LAYERS],
    /// What [`Ziggurat::fast_packed`] needs of layer `i`, in one word so that one
    /// lookup (in a vectorized loop, one gather) serves: `w[i]`, and in its 20 cleared
    /// bits ⌊2²⁰ `x[i + 1]` / `w[i]`⌋, the share of the layer in its core, rounded down.
    layers: [u64; LAYERS],
}

/// The density up to its constant factor, exp(−x²/2).
fn density(x: f64) -> f64 {
    libm::exp(-0.5 * x * x)
}

impl Ziggurat {
    /// The tables, built on first use.
    pub fn get() -> &'static Ziggurat {
        static TABLES: OnceLock<Ziggurat> = OnceLock::new();
        TABLES.get_or_init(Ziggurat::build)
    }

    fn build() -> Ziggurat {
        // Area of every layer: the base rectangle of height f(R) plus the tail.
        let v = R * density(R)
            + (std::f64::consts::PI / 2.0).sqrt() * libm::erfc(R / std::f64::consts::SQRT_2);
        let mut x = [0.0; LAYERS + 1];
        x[0] = v / density(R);
        x[1] = R;
        for i in 1..LAYERS - 1 {
            // The layer above has height V / x[i]: its top edge is f at x[i + 1].
            x[i + 1] = (-2.0 * libm::log(v / x[i] + density(x[i]))).sqrt();
        }
        x[LAYERS] = 0.0;
        let mut f = [0.0; LAYERS + 1];
        for (f, &x) in f.iter_mut().zip(&x) {
            *f = density(x);
        }
        let w: [f64; LAYERS] = std::array::from_fn(|i| f64::from_bits(x[i].to_bits() & !CORE_MASK));
        let layers = std::array::from_fn(|i| {
            let core = (x[i + 1] / w[i] * CORE_SCALE).floor() as u64;
            w[i].to_bits() | core.min(CORE_MASK)
        });
        Ziggurat { x, f, w, layers }
    }

    /// The fast path on one 64-bit word: the candidate value, and whether it is
    /// accepted (it lies in the core of its layer, under the density). Branch-free, so
    /// a loop of calls vectorizes; two table lookups, the cheapest form one normal at a
    /// time.
    #[inline(always)]
    pub fn fast(&self, word: u64) -> (f64, bool) {
        let i = (word & (LAYERS as u64 - 1)) as usize;
        let x = signed_unit(word) * self.w[i];
        (x, x.abs() < self.x[i + 1])
    }

    /// [`Ziggurat::fast`] with one table lookup rather than two, for loops that look
    /// up many layers at once (a gather apiece): the same value, accepted where its
    /// position lies below the layer's core threshold rounded down to 2⁻²⁰, so it may
    /// turn away a few core points that [`Ziggurat::fast`] accepts (and, by the
    /// rounding of a product, accept one it turns away). [`Ziggurat::finish`] accepts
    /// every point either accepts, as it is and reading no further word, so the
    /// normal from a word is the same whichever a loop takes.
    #[inline(always)]
    pub fn fast_packed(&self, word: u64) -> (f64, bool) {
        let layer = self.layers[(word & (LAYERS as u64 - 1)) as usize];
        let u = signed_unit(word);
        let x = u * f64::from_bits(layer & !CORE_MASK);
        // The threshold as a float, exactly (an OR and a subtraction, in every copy).
        let core = f64::from_bits((layer & CORE_MASK) | TWO_52.to_bits()) - TWO_52;
        (x, u.abs() * CORE_SCALE < core)
    }

    /// The normal that starts from `word`, whose fast path (either form) was rejected:
    /// the value itself where the other form accepts it, else the wedge test of its
    /// layer, or the tail beyond R for the base layer, then new words from `rng` until
    /// one is accepted.
    #[cold]
    pub fn finish<G: Rng + ?Sized>(&self, mut word: u64, rng: &mut G) -> f64 {
        loop {
            let (x, accepted) = self.fast(word);
            if accepted || self.fast_packed(word).1 {
                return x;
            }
            let i = (word & (LAYERS as u64 - 1)) as usize;
            if i == 0 {
                return tail(signed_unit(word), rng);
            }
            // A point of the wedge, uniform in height between the layer's edges.
            if self.under_density(
                i,
                x,
                self.f[i + 1] + (self.f[i] - self.f[i + 1]) * unit(rng.next_u64()),
            ) {
                return x;
            }
            word = rng.next_u64();
        }
    }

    /// Whether the point (`x`, `y`) of layer `i`'s wedge (1 ≤ `i` < 1024, `x[i + 1]` ≤
    /// |`x`| ≤ `x[i]`) lies under the density: `y < exp(−x²/2)`, the same decision
    /// as that comparison with `libm`'s exp, mostly without computing it
    /// ([`Ziggurat::squeeze`]).
    #[inline]
    fn under_density(&self, i: usize, x: f64, y: f64) -> bool {
        self.squeeze(i, x, y).unwrap_or_else(|| y < density(x))
    }

    /// [`Ziggurat::under_density`] where bounds of the density decide it, else
    /// `None`. Across a layer, the density lies between its chord and its tangents at
    /// the layer's edges: below the chord and above the tangents where it is convex
    /// (|x| ≥ 1), the other way round where it is concave (|x| ≤ 1). A point farther
    /// than [`SQUEEZE_MARGIN`] beyond these bounds is decided by them (a margin far
    /// wider than the few units in the last place by which they and the exp are
    /// rounded). That leaves under 1% of points, and the layer across |x| = 1.
    #[inline]
    fn squeeze(&self, i: usize, x: f64, y: f64) -> Option<bool> {
        let (a, b) = (self.x[i + 1], self.x[i]);
        let [chord, tangent_a, tangent_b] = self.wedge_bounds(i, x.abs());
        let (below, above) = if a >= 1.0 {
            (tangent_a.max(tangent_b), chord)
        } else if b <= 1.0 {
            (chord, tangent_a.min(tangent_b))
        } else {
            return None;
        };
        if y < below - SQUEEZE_MARGIN {
            Some(true)
        } else if y >= above + SQUEEZE_MARGIN {
            Some(false)
        } else {
            None
        }
    }

    /// At |x| = `t` in layer `i`, the chord of the density across the layer and its
    /// tangents at the layer's two edges, `x[i + 1]` and `x[i]`.
    #[inline]
    fn wedge_bounds(&self, i: usize, t: f64) -> [f64; 3] {
        let (a, b, fa, fb) = (self.x[i + 1], self.x[i], self.f[i + 1], self.f[i]);
        // The density's slope is −x f(x).
        [
            fa + (fb - fa) * ((t - a) / (b - a)),
            fa - a * fa * (t - a),
            fb - b * fb * (t - b),
        ]
    }

    /// The normal that starts from `word`, reading further words from `rng` only if
    /// the fast path rejects it.
    #[inline(always)]
    pub fn from_word<G: Rng + ?Sized>(&self, word: u64, rng: &mut G) -> f64 {
        match self.fast(word) {
            (x, true) => x,
            _ => self.finish(word, rng),
        }
    }
}

/// The top 52 bits of `word` as a value in [−1, 1).
#[inline(always)]
fn signed_unit(word: u64) -> f64 {
    f64::from_bits((word >> 12) | 0x4000_0000_0000_0000) - 3.0
}

/// A value in (0, 1) from the top 52 bits of a word (never 0, so its log is finite).
fn open_unit(word: u64) -> f64 {
    f64::from_bits((word >> 12) | 0x3ff0_0000_0000_0000) - (1.0 - f64::EPSILON / 2.0)
}

/// A value in [0, 1) from the top 53 bits of a word.
#[inline(always)]
pub fn unit(word: u64) -> f64 {
    (word >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A value beyond ±R with the normal's tail density (Marsaglia 1964), on the side of
/// the sign of `u`.
fn tail<G: Rng + ?Sized>(u: f64, rng: &mut G) -> f64 {
    loop {
        let x = libm::log(open_unit(rng.next_u64())) / R;
        let y = libm::log(open_unit(rng.next_u64()));
        if -2.0 * y >= x * x {
            return if u < 0.0 { x - R } else { R - x };
        }
    }
}

/// One standard normal from `rng`: its next word, and more only if that is rejected.
#[inline]
pub fn sample<G: Rng + ?Sized>(rng: &mut G) -> f64 {
    let word = rng.next_u64();
    Ziggurat::get().from_word(word, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layer_has_the_same_area() {
        let t = Ziggurat::get();
        let v = t.x[0] * t.f[1];
        for i in 1..LAYERS {
            let area = t.x[i] * (t.f[i + 1] - t.f[i]);
            assert!((area / v - 1.0).abs() < 1e-9, "layer {i}: {area} vs {v}");
        }
        assert!(t.x[1..].windows(2).all(|w| w[0] > w[1]));
        assert_eq!(t.f[LAYERS], 1.0);
    }

    /// Φ, the standard normal distribution function.
    fn phi(x: f64) -> f64 {
        0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
    }

    fn draws(n: usize) -> Vec<f64> {
        use rand::SeedableRng;
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(20210101);
        (0..n).map(|_| sample(&mut rng)).collect()
    }

    #[test]
    fn draws_follow_the_normal_distribution() {
        // Kolmogorov–Smirnov: the largest gap between the sample's distribution
        // function and Φ. Its 0.1% critical value is 1.95/√n.
        let n = 1_000_000;
        let mut z = draws(n);
        z.sort_by(f64::total_cmp);
        let gap = z
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let p = phi(x);
                (p - i as f64 / n as f64).max((i + 1) as f64 / n as f64 - p)
            })
            .fold(0.0, f64::max);
        assert!(gap < 1.95 / (n as f64).sqrt(), "KS distance {gap}");
        let mean = z.iter().sum::<f64>() / n as f64;
        let var = z.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        // Standard errors 0.001 and 0.0014.
        assert!(mean.abs() < 0.005, "mean {mean}");
        assert!((var - 1.0).abs() < 0.007, "variance {var}");
    }

    #[test]
    fn tails_and_wedges_have_their_probability() {
        // Beyond R the draw comes from the tail method, and between layer edges from
        // the wedge test: each region's count must match its probability within five
        // binomial standard errors.
        let n = 4_000_000;
        let z = draws(n);
        for (lo, hi) in [
            (R, f64::INFINITY),
            (3.0, R),
            (2.0, 3.0),
            (1.0, 2.0),
            (0.0, 1.0),
        ] {
            let count = z.iter().filter(|x| (lo..hi).contains(&x.abs())).count() as f64;
            let p = 2.0 * (phi(hi) - phi(lo));
            let expected = n as f64 * p;
            let se = (n as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (count - expected).abs() < 5.0 * se,
                "|z| in [{lo}, {hi}): {count} draws, {expected:.0} expected"
            );
        }
        assert!(z.iter().any(|x| x.abs() > 4.5), "no draw far in the tail");
    }

    #[test]
    fn the_tail_beyond_r_has_the_normal_shape() {
        // Kolmogorov–Smirnov against Z given |Z| > R, on each side.
        use rand::SeedableRng;
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(7);
        let n = 200_000;
        let upper = |x: f64| 0.5 * libm::erfc(x / std::f64::consts::SQRT_2);
        for sign in [-1.0, 1.0] {
            let mut excess: Vec<f64> = (0..n).map(|_| sign * tail(sign, &mut rng) - R).collect();
            assert!(excess.iter().all(|&e| e > 0.0));
            excess.sort_by(f64::total_cmp);
            let gap = excess
                .iter()
                .enumerate()
                .map(|(i, &e)| {
                    let p = 1.0 - upper(R + e) / upper(R);
                    (p - i as f64 / n as f64).max((i + 1) as f64 / n as f64 - p)
                })
                .fold(0.0, f64::max);
            assert!(
                gap < 1.95 / (n as f64).sqrt(),
                "side {sign}: KS distance {gap}"
            );
        }
    }

    #[test]
    fn a_layers_word_holds_its_width_and_core_threshold() {
        let zig = Ziggurat::get();
        for i in 0..LAYERS {
            let layer = zig.layers[i];
            let width = f64::from_bits(layer & !CORE_MASK);
            let core = (layer & CORE_MASK) as f64 / CORE_SCALE;
            assert!(width <= zig.x[i] && zig.x[i] - width < zig.x[i] * 2f64.powi(-32));
            let share = zig.x[i + 1] / width;
            assert!(
                core <= share && share - core < 1.0 / CORE_SCALE,
                "layer {i}"
            );
        }
    }

    /// An rng that must not be read.
    struct NoWords;
    impl rand::TryRng for NoWords {
        type Error = std::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            panic!("a core point read another word")
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            panic!("a core point read another word")
        }
        fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), Self::Error> {
            panic!("a core point read another word")
        }
    }

    /// The word whose top 52 bits put it at position `u` ∈ [0, 1) of layer `i`
    /// (`signed_unit` inverted).
    fn word_at(u: f64, i: usize) -> u64 {
        (((u + 3.0).to_bits() & ((1 << 52) - 1)) << 12) | i as u64
    }

    #[test]
    fn core_points_the_packed_threshold_turns_away_are_accepted_as_they_are() {
        // For each layer, words whose position lies between the packed threshold and
        // the core's edge: the one-lookup fast path rejects them, the two-lookup one
        // accepts them, and finish keeps their value without another word. The base
        // layer's matter most: there a rejection would go to the tail.
        let zig = Ziggurat::get();
        let mut seen = 0;
        for i in 0..LAYERS - 1 {
            let core = (zig.layers[i] & CORE_MASK) as f64 / CORE_SCALE;
            let edge = zig.x[i + 1] / zig.w[i];
            for t in [0.25, 0.5, 0.75] {
                let word = word_at(core + t * (edge - core), i);
                let (x, by_edges) = zig.fast(word);
                let (packed_x, packed) = zig.fast_packed(word);
                assert_eq!(x.to_bits(), packed_x.to_bits(), "layer {i}");
                if packed || !by_edges {
                    continue; // rounded onto the other side of either edge
                }
                assert_eq!(zig.finish(word, &mut NoWords).to_bits(), x.to_bits());
                seen += 1;
            }
        }
        assert!(seen > 2 * LAYERS, "only {seen} words between the edges");
    }

    #[test]
    fn either_fast_path_gives_the_same_normals_and_reads_the_same_words() {
        use rand::{Rng, SeedableRng};
        let zig = Ziggurat::get();
        let resolve = |word: u64, packed: bool, rng: &mut rand::rngs::ChaCha8Rng| {
            let (x, accepted) = if packed {
                zig.fast_packed(word)
            } else {
                zig.fast(word)
            };
            if accepted { x } else { zig.finish(word, rng) }
        };
        let mut words = rand::rngs::ChaCha8Rng::seed_from_u64(7);
        // Words at random, and words on either side of every layer's two thresholds.
        let mut all: Vec<u64> = (0..200_000).map(|_| words.next_u64()).collect();
        for i in 0..LAYERS {
            let core = (zig.layers[i] & CORE_MASK) as f64 / CORE_SCALE;
            let edge = zig.x[i + 1] / zig.w[i];
            for u in [core, edge].into_iter().filter(|&u| u > 0.0) {
                let below = f64::from_bits(u.to_bits() - 1);
                let above = f64::from_bits(u.to_bits() + 1);
                all.extend([below, u, above].map(|u| word_at(u.min(0.999), i)));
            }
        }
        for (n, &word) in all.iter().enumerate() {
            let mut a = rand::rngs::ChaCha8Rng::seed_from_u64(n as u64);
            let mut b = rand::rngs::ChaCha8Rng::seed_from_u64(n as u64);
            let (x, y) = (resolve(word, false, &mut a), resolve(word, true, &mut b));
            assert_eq!(x.to_bits(), y.to_bits(), "word {word:#x}");
            assert_eq!(a.next_u64(), b.next_u64(), "word {word:#x} read more words");
        }
    }

    #[test]
    fn the_fast_path_decides_most_words_alone() {
        // A word of layer i is accepted with probability x[i + 1] / x[i] (its position
        // is uniform across the layer), so 1 − the mean of those ratios, 0.43%, of
        // words need more than their own: observed within five standard errors.
        let zig = Ziggurat::get();
        let accepted = (0..LAYERS).map(|i| zig.x[i + 1] / zig.x[i]).sum::<f64>();
        let expected = 1.0 - accepted / LAYERS as f64;
        let mut word = 0x9e37_79b9_7f4a_7c15u64;
        let n = 1_000_000;
        let rejected = (0..n)
            .filter(|_| {
                word = word
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                !zig.fast(word).1
            })
            .count();
        let share = rejected as f64 / n as f64;
        let se = (expected * (1.0 - expected) / n as f64).sqrt();
        assert!(
            (share - expected).abs() < 5.0 * se,
            "{share} rejected against {expected}"
        );
        assert!((0.0042..0.0044).contains(&expected), "{expected}");
    }

    #[test]
    fn the_squeeze_decides_every_wedge_point_as_the_density_does() {
        // Points spread over every wedge, and points within a few units in the last
        // place of the density, its chord and its tangents, where rounding weighs most.
        let zig = Ziggurat::get();
        let mut word = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            word = word
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            unit(word)
        };
        let (mut points, mut with_exp) = (0, 0);
        for i in 1..LAYERS {
            let (a, b, fa, fb) = (zig.x[i + 1], zig.x[i], zig.f[i + 1], zig.f[i]);
            for k in 0..4_000 {
                let t = match k {
                    0 => a,
                    1 => b,
                    _ => a + (b - a) * next(),
                };
                let x = if k % 2 == 0 { t } else { -t };
                let [chord, tangent_a, tangent_b] = zig.wedge_bounds(i, t);
                let near = [density(x), chord, tangent_a, tangent_b];
                let y = match k % 4 {
                    0 | 1 => fa + (fb - fa) * next(),
                    _ => {
                        let at = near[(next() * 4.0) as usize];
                        let ulps = (next() * 8.0) as i64 - 4;
                        f64::from_bits((at.to_bits() as i64 + ulps) as u64)
                    }
                };
                assert_eq!(
                    zig.under_density(i, x, y),
                    y < density(x),
                    "layer {i}, x {x}, y {y}"
                );
                if k % 4 < 2 {
                    points += 1;
                    with_exp += usize::from(zig.squeeze(i, x, y).is_none());
                }
            }
        }
        // Uniform points of a wedge rarely need the exp.
        assert!(
            with_exp * 50 < points,
            "{with_exp} of {points} took the exp"
        );
    }

    #[test]
    fn unit_values_stay_in_range() {
        for w in [0, 1, 0xfff, u64::MAX, u64::MAX - 0xfff, 1 << 63] {
            assert!((0.0..1.0).contains(&unit(w)));
            let o = open_unit(w);
            assert!(o > 0.0 && o < 1.0, "{w:x}: {o}");
            assert!((-1.0..1.0).contains(&signed_unit(w)));
        }
    }
}
