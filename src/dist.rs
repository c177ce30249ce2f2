//! Distributions of uncertain parameters, drawn once per Monte Carlo draw.
//!
//! Rationale: every uncertain parameter of the model (trend growth, ρ, elasticities, the
//! deflator trend, jump sizes, impulse sizes) is one of three shapes; giving them one
//! type keeps the engine free of parsing and lets validation state each contract once.

use rand::Rng;

use crate::normal::{self, Ziggurat};

/// A validated parameter distribution (values in model units, e.g. fractions per year).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    /// Always this value.
    Fixed(f64),
    /// Normal(mean, sd) truncated to [min, max] (infinite bounds when absent).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation, ≥ 0.
        sd: f64,
        /// Lower bound (may be −∞).
        min: f64,
        /// Upper bound (may be +∞), > min.
        max: f64,
    },
    /// Uniform on [low, high], low ≤ high.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
}

/// A uniform law's value on [low, high] from `word` (always final): `low + (high −
/// low) u`, u the word's top 53 bits in [0, 1). The one formula of [`Dist::sample_from`]
/// and of loops that take a law's values for many draws at once.
#[inline(always)]
pub fn uniform_from_word(low: f64, high: f64, word: u64) -> f64 {
    low + (high - low) * normal::unit(word)
}

/// A normal law's value `mean + sd z` from the ziggurat's fast path `(z, accepted)` of
/// a word, and whether it is final: accepted and within [min, max]. The one formula
/// of [`Dist::sample_from`] and of loops that take a law's values for many draws at
/// once.
#[inline(always)]
pub fn normal_from_fast_path(
    (mean, sd, min, max): (f64, f64, f64, f64),
    (z, accepted): (f64, bool),
) -> (f64, bool) {
    let x = mean + sd * z;
    (x, accepted & (min <= x) & (x <= max))
}

impl Dist {
    /// The distribution scaled by `k` (unit conversion, e.g. percent to fraction).
    pub fn scaled(self, k: f64) -> Dist {
        match self {
            Dist::Fixed(v) => Dist::Fixed(v * k),
            Dist::Normal { mean, sd, min, max } => Dist::Normal {
                mean: mean * k,
                sd: sd * k.abs(),
                min: min * k,
                max: max * k,
            },
            Dist::Uniform { low, high } => Dist::Uniform {
                low: low * k,
                high: high * k,
            },
        }
    }

    /// Draws one value: [`Dist::sample_from`] the stream's next word.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let word = rng.next_u64();
        self.sample_from(word, rng)
    }

    /// Draws one value starting from the 64-bit word `word`, reading further words from
    /// `rng` only where needed. Every law takes its first word, a fixed value included,
    /// so a parameter's law never shifts the words of the terms after it. A uniform is
    /// `low + (high − low) u` with u the word's top 53 bits in [0, 1). A normal is
    /// `mean + sd z` with z from the ziggurat ([`crate::normal`]), which reads more
    /// words for about one value in 80; truncation is by rejection, with a new z from
    /// the stream, at most 64 tries in all, then the last value is clamped to the range
    /// (validation keeps the range's probability far from that).
    #[inline]
    pub fn sample_from<R: Rng + ?Sized>(&self, word: u64, rng: &mut R) -> f64 {
        self.sample_with(Ziggurat::get(), word, rng)
    }

    /// [`Dist::sample_from`] with the ziggurat's tables at hand (a caller drawing many
    /// values looks them up once).
    // Inlined: the engine calls it once a parameter, about 40 times a draw; the rare
    // paths that read further words stay out of line.
    #[inline(always)]
    pub fn sample_with<R: Rng + ?Sized>(&self, zig: &Ziggurat, word: u64, rng: &mut R) -> f64 {
        match self.from_own_word(zig, word) {
            (x, true) => x,
            _ => self.redrawn(zig, word, rng),
        }
    }

    /// The value [`Dist::sample_from`] gives from `word` alone, and whether it is
    /// final: always for a fixed value or a uniform; for a normal, when the ziggurat's
    /// fast path accepts the word and the value lies in the range. Branch-free for a
    /// normal, so a loop of calls on one law vectorizes.
    #[inline(always)]
    pub fn from_own_word(&self, zig: &Ziggurat, word: u64) -> (f64, bool) {
        self.own_word_by(word, |w| zig.fast(w))
    }

    /// [`Dist::from_own_word`] by the ziggurat's one-lookup fast path
    /// ([`Ziggurat::fast_packed`]), for loops that look up many words' layers at once:
    /// the same value, final for the same words but the few that
    /// [`Dist::redrawn`] then settles as they are.
    #[inline(always)]
    pub fn from_own_word_packed(&self, zig: &Ziggurat, word: u64) -> (f64, bool) {
        self.own_word_by(word, |w| zig.fast_packed(w))
    }

    #[inline(always)]
    fn own_word_by(&self, word: u64, fast: impl Fn(u64) -> (f64, bool)) -> (f64, bool) {
        match *self {
            Dist::Fixed(v) => (v, true),
            Dist::Uniform { low, high } => (uniform_from_word(low, high, word), true),
            Dist::Normal { mean, sd, min, max } => {
                normal_from_fast_path((mean, sd, min, max), fast(word))
            }
        }
    }

    /// The value [`Dist::sample_from`] gives from `word` where
    /// [`Dist::from_own_word`] is not final, reading further words from `rng`.
    #[cold]
    pub fn redrawn<R: Rng + ?Sized>(&self, zig: &Ziggurat, word: u64, rng: &mut R) -> f64 {
        match *self {
            Dist::Normal { mean, sd, min, max } => {
                Dist::normal_redrawn(zig, word, (mean, sd, min, max), rng)
            }
            _ => self.from_own_word(zig, word).0,
        }
    }

    /// [`Dist::sample_from`] for a normal whose word alone does not settle it: the
    /// ziggurat finishes the word, then new values are drawn while outside the range.
    fn normal_redrawn<R: Rng + ?Sized>(
        zig: &Ziggurat,
        word: u64,
        (mean, sd, min, max): (f64, f64, f64, f64),
        rng: &mut R,
    ) -> f64 {
        let mut x = mean + sd * zig.from_word(word, rng);
        for _ in 1..64 {
            if x >= min && x <= max {
                return x;
            }
            x = mean + sd * normal::sample(rng);
        }
        x.clamp(min, max)
    }

    /// Whether every draw is the same value.
    pub fn is_fixed(&self) -> bool {
        match *self {
            Dist::Fixed(_) => true,
            Dist::Normal { sd, .. } => sd == 0.0,
            Dist::Uniform { low, high } => low == high,
        }
    }

    /// The central value: the fixed value, the (untruncated) mean, or the midpoint.
    pub fn center(&self) -> f64 {
        match *self {
            Dist::Fixed(v) => v,
            Dist::Normal { mean, .. } => mean,
            Dist::Uniform { low, high } => 0.5 * (low + high),
        }
    }

    /// Smallest and largest value a draw can take.
    pub fn support(&self) -> (f64, f64) {
        match *self {
            Dist::Fixed(v) => (v, v),
            Dist::Normal { mean, sd: 0.0, .. } => (mean, mean),
            Dist::Normal { min, max, .. } => (min, max),
            Dist::Uniform { low, high } => (low, high),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::ChaCha8Rng;

    #[test]
    fn either_own_word_path_gives_the_same_values() {
        // A truncated normal, settled by its own word where one path says so, else
        // redrawn: the same values from the same words by either fast path.
        use rand::Rng;
        let zig = Ziggurat::get();
        let d = Dist::Normal {
            mean: 1.0,
            sd: 2.0,
            min: -1.0,
            max: 4.0,
        };
        let mut words = ChaCha8Rng::seed_from_u64(11);
        let value = |packed: bool, word: u64, seed: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let own = if packed {
                d.from_own_word_packed(zig, word)
            } else {
                d.from_own_word(zig, word)
            };
            match own {
                (x, true) => x,
                _ => d.redrawn(zig, word, &mut rng),
            }
        };
        for seed in 0..100_000 {
            let word = words.next_u64();
            assert_eq!(
                value(false, word, seed).to_bits(),
                value(true, word, seed).to_bits()
            );
        }
    }

    #[test]
    fn truncated_normal_stays_in_range_and_uniform_mean_is_mid() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let d = Dist::Normal {
            mean: 0.0,
            sd: 1.0,
            min: -0.5,
            max: 2.0,
        };
        for _ in 0..10_000 {
            let x = d.sample(&mut rng);
            assert!((-0.5..=2.0).contains(&x));
        }
        let u = Dist::Uniform {
            low: 1.0,
            high: 3.0,
        };
        let n = 100_000;
        let mean: f64 = (0..n).map(|_| u.sample(&mut rng)).sum::<f64>() / n as f64;
        // sd of the mean = (2/sqrt(12))/sqrt(n) ≈ 0.0018
        assert!((mean - 2.0).abs() < 0.01, "{mean}");
    }

    #[test]
    fn scaling_converts_percent() {
        let d = Dist::Normal {
            mean: 7.5,
            sd: 1.0,
            min: f64::NEG_INFINITY,
            max: 20.0,
        }
        .scaled(0.01);
        assert_eq!(d.center(), 0.075);
        assert!(matches!(d, Dist::Normal { sd, max, .. } if sd == 0.01 && max == 0.2));
    }
}
