//! ChaCha8 computed for 16 consecutive draws' streams at once, one stream per 32-bit
//! vector lane: the same words as `ChaCha8Rng` gives each of them.
//!
//! Rationale: a baseline draw reads 20 ChaCha blocks (its 145 terms' words and those
//! after them). `ChaCha8Rng` computes a stream's blocks four at a time, a block's
//! sixteen state words spread over a few vector registers, with shuffles between
//! rounds. The draws of a batch are consecutive streams that differ only in the stream
//! id, so the same block of many streams can be computed with each state word in one
//! register, a lane per stream, and no shuffle in the rounds. The words are then stored
//! as they lie, each 64-bit word of the 16 streams side by side: the engine computes a
//! term for 16 draws from them at once, into its lanes, which hold a term's draws side
//! by side too, so no transpose is needed on either side.
//!
//! With AVX-512, the 16 streams fill one 512-bit register per state word, 16 of the 32
//! registers. With AVX2, the 16 streams are computed as two halves of 8, each state
//! word a 256-bit register: the 16 words then fill all 16 registers and a few live in
//! memory during the rounds.
//!
//! The state is laid out as `ChaCha8Rng` lays it out: the constants, the 32-byte key
//! as eight little-endian words, the 64-bit block counter (words 12, 13) and the 64-bit
//! stream id (words 14, 15); block `b` holds the stream's 32-bit words 16b..16b + 16,
//! read two at a time as little-endian 64-bit words. A test compares every lane with
//! `ChaCha8Rng`.

use super::simd::Simd;

/// Streams computed together: one per 32-bit lane of a 512-bit vector, or of two
/// 256-bit ones.
pub const GROUP: usize = 16;

/// A kernel computing ChaCha8 for 16 consecutive streams at once, compiled for AVX-512
/// or for AVX2. Holding one proves the processor has the instructions it was compiled
/// for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLanes {
    /// The copy of the pipeline the kernel belongs to: [`Simd::Avx512`] or
    /// [`Simd::Avx2`], and one the processor runs.
    simd: Simd,
}

impl StreamLanes {
    /// The kernel for copy `simd` of the pipeline (capped by what the processor runs):
    /// the AVX-512 copy's or the AVX2 copy's. The portable copy has none: it takes
    /// each draw's words from `ChaCha8Rng`.
    pub fn on(simd: Simd) -> Option<StreamLanes> {
        match simd.min(Simd::available()) {
            Simd::Portable => None,
            simd => Some(StreamLanes { simd }),
        }
    }

    /// The copy of the pipeline this kernel is compiled for ([`Simd::Avx512`] or
    /// [`Simd::Avx2`]), which the processor runs.
    pub fn simd(self) -> Simd {
        self.simd
    }

    /// Streams computed together: [`GROUP`].
    pub fn lanes(self) -> usize {
        GROUP
    }

    /// The first `8 · blocks` 64-bit words of the streams of draws
    /// `first..first + GROUP` of the run with key `key`, word by word: draw
    /// `first + l`'s word `w` into `out[w · GROUP + l]` (the words
    /// `ChaCha8Rng::next_u64` gives from the stream's start). Each word's 16 draws are
    /// thus side by side, as the engine's lanes hold its terms.
    ///
    /// # Panics
    /// If `out` is shorter than `8 · blocks · GROUP` words: the engine sizes `out`
    /// itself.
    pub fn fill(self, key: &[u8; 32], first: u64, blocks: usize, out: &mut [u64]) {
        assert!(
            out.len() >= 8 * blocks * GROUP,
            "stream lanes: {blocks} blocks, {} words",
            out.len()
        );
        let key = key_words(key);
        // SAFETY: a `StreamLanes` exists only for a copy that `Simd::available` found
        // the processor to run; `out` holds every word written (checked above).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            match self.simd {
                Simd::Avx512 => x86::fill_avx512(&key, first, blocks, out),
                _ => x86::fill_avx2(&key, first, blocks, out),
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (key, first, out);
    }
}

/// A block's initial state, as `ChaCha8Rng` lays it out, each word `V` (one 32-bit word,
/// or a register holding it for many streams): the constants, the key, the block
/// counter's low and high words, the stream id's low and high words.
#[inline(always)]
fn initial_state<V: Copy>(
    constant: [V; 4],
    key: [V; 8],
    counter: [V; 2],
    stream: [V; 2],
) -> [V; 16] {
    let [c0, c1, c2, c3] = constant;
    let [k0, k1, k2, k3, k4, k5, k6, k7] = key;
    let [n0, n1] = counter;
    let [s0, s1] = stream;
    [
        c0, c1, c2, c3, k0, k1, k2, k3, k4, k5, k6, k7, n0, n1, s0, s1,
    ]
}

/// The key as ChaCha reads it: eight little-endian 32-bit words.
fn key_words(key: &[u8; 32]) -> [u32; 8] {
    std::array::from_fn(|i| {
        u32::from_le_bytes([key[4 * i], key[4 * i + 1], key[4 * i + 2], key[4 * i + 3]])
    })
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::initial_state;

    /// The ChaCha constants, "expand 32-byte k".
    const CONSTANTS: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

    /// ChaCha's column round on the state registers `$x`: each quarter round by
    /// `$quarter!` (given the registers, then `$extra`).
    macro_rules! column_round {
        ($x:ident, $quarter:ident $(, $extra:ident)*) => {
            $quarter!($x[0], $x[4], $x[8], $x[12] $(, $extra)*);
            $quarter!($x[1], $x[5], $x[9], $x[13] $(, $extra)*);
            $quarter!($x[2], $x[6], $x[10], $x[14] $(, $extra)*);
            $quarter!($x[3], $x[7], $x[11], $x[15] $(, $extra)*);
        };
    }

    /// ChaCha's diagonal round on the state registers `$x`, as [`column_round!`].
    macro_rules! diagonal_round {
        ($x:ident, $quarter:ident $(, $extra:ident)*) => {
            $quarter!($x[0], $x[5], $x[10], $x[15] $(, $extra)*);
            $quarter!($x[1], $x[6], $x[11], $x[12] $(, $extra)*);
            $quarter!($x[2], $x[7], $x[8], $x[13] $(, $extra)*);
            $quarter!($x[3], $x[4], $x[9], $x[14] $(, $extra)*);
        };
    }

    /// ChaCha8's four double rounds on the state words `$init`, sixteen registers, each
    /// quarter round by `$quarter!` (given the registers, then `$extra`): the rounded
    /// state, before `$init` is added back.
    macro_rules! double_rounds {
        ($init:expr, $quarter:ident $(, $extra:ident)*) => {{
            let mut x = $init;
            for _ in 0..4 {
                column_round!(x, $quarter $(, $extra)*);
                diagonal_round!(x, $quarter $(, $extra)*);
            }
            x
        }};
    }

    /// One quarter round on four state words, each a register of 16 lanes.
    macro_rules! quarter_round {
        ($a:expr, $b:expr, $c:expr, $d:expr) => {
            $a = _mm512_add_epi32($a, $b);
            $d = _mm512_rol_epi32::<16>(_mm512_xor_si512($d, $a));
            $c = _mm512_add_epi32($c, $d);
            $b = _mm512_rol_epi32::<12>(_mm512_xor_si512($b, $c));
            $a = _mm512_add_epi32($a, $b);
            $d = _mm512_rol_epi32::<8>(_mm512_xor_si512($d, $a));
            $c = _mm512_add_epi32($c, $d);
            $b = _mm512_rol_epi32::<7>(_mm512_xor_si512($b, $c));
        };
    }

    /// ChaCha8's block function on 16 lanes: four double rounds on `init`, then
    /// `init` added back.
    #[target_feature(enable = "avx512f")]
    fn chacha8(init: [__m512i; 16]) -> [__m512i; 16] {
        let mut out = double_rounds!(init, quarter_round);
        for (x, i) in out.iter_mut().zip(&init) {
            *x = _mm512_add_epi32(*x, *i);
        }
        out
    }

    /// The stream id's low and high words for lanes `first..first + 16`.
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
    fn stream_words_512(first: u64) -> (__m512i, __m512i) {
        let first = _mm512_set1_epi64(first as i64);
        let low_eight = _mm512_add_epi64(first, _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
        let high_eight = _mm512_add_epi64(low_eight, _mm512_set1_epi64(8));
        let even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        let odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
        (
            _mm512_permutex2var_epi32(low_eight, even, high_eight),
            _mm512_permutex2var_epi32(low_eight, odd, high_eight),
        )
    }

    /// [`super::StreamLanes::fill`] for 16 lanes.
    ///
    /// # Safety
    /// The processor must have AVX-512 F, DQ, VL and BW, and `out` must hold
    /// `8 · blocks · 16` words.
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
    pub(super) unsafe fn fill_avx512(key: &[u32; 8], first: u64, blocks: usize, out: &mut [u64]) {
        let (stream_low, stream_high) = stream_words_512(first);
        let constant = CONSTANTS.map(|c| _mm512_set1_epi32(c as i32));
        let key = key.map(|k| _mm512_set1_epi32(k as i32));
        // A 64-bit word is two state words, low then high: interleaved, lanes 0–7
        // make one vector of 64-bit words and lanes 8–15 the next.
        let first_eight = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
        let last_eight =
            _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
        for block in 0..blocks {
            let counter = block as u64;
            let init = initial_state(
                constant,
                key,
                [
                    _mm512_set1_epi32(counter as u32 as i32),
                    _mm512_set1_epi32((counter >> 32) as u32 as i32),
                ],
                [stream_low, stream_high],
            );
            let r = chacha8(init);
            for word in 0..8 {
                let (low, high) = (r[2 * word], r[2 * word + 1]);
                let at = (8 * block + word) * 16;
                // SAFETY: `at + 16 ≤ 8 · blocks · 16 ≤ out.len()` (the caller's
                // contract); unaligned stores of 64 bytes.
                unsafe {
                    let to = out.as_mut_ptr().add(at);
                    _mm512_storeu_si512(
                        to.cast(),
                        _mm512_permutex2var_epi32(low, first_eight, high),
                    );
                    _mm512_storeu_si512(
                        to.add(8).cast(),
                        _mm512_permutex2var_epi32(low, last_eight, high),
                    );
                }
            }
        }
    }

    /// One quarter round on four state words, each a register of 8 lanes: rotations
    /// by 16 and 8 bits as byte shuffles, by 12 and 7 as two shifts.
    macro_rules! quarter_round_256 {
        ($a:expr, $b:expr, $c:expr, $d:expr, $rot16:ident, $rot8:ident) => {
            $a = _mm256_add_epi32($a, $b);
            $d = _mm256_shuffle_epi8(_mm256_xor_si256($d, $a), $rot16);
            $c = _mm256_add_epi32($c, $d);
            $b = _mm256_xor_si256($b, $c);
            $b = _mm256_or_si256(_mm256_slli_epi32::<12>($b), _mm256_srli_epi32::<20>($b));
            $a = _mm256_add_epi32($a, $b);
            $d = _mm256_shuffle_epi8(_mm256_xor_si256($d, $a), $rot8);
            $c = _mm256_add_epi32($c, $d);
            $b = _mm256_xor_si256($b, $c);
            $b = _mm256_or_si256(_mm256_slli_epi32::<7>($b), _mm256_srli_epi32::<25>($b));
        };
    }

    /// One quarter round on four words of a scalar state.
    fn quarter_round_u32(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(16);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(12);
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(8);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(7);
    }

    /// Block `counter`'s words of columns 0, 1 and 3 after the first column round, for
    /// streams whose id has the high word `stream_high`. Those columns hold the
    /// constants, the key, the block counter and that high word, so they are the same
    /// for every stream that shares it, and are computed once, as scalars, rather than
    /// in every lane: three of the 32 quarter rounds of a block. Column 2 (words 2, 6,
    /// 10 and 14, the last the stream id's low word) is left as the initial state has it.
    fn shared_columns(key: &[u32; 8], counter: u64, stream_high: u32) -> [u32; 16] {
        let counter = [counter as u32, (counter >> 32) as u32];
        let mut x = initial_state(CONSTANTS, *key, counter, [0, stream_high]);
        for column in [0, 1, 3] {
            quarter_round_u32(&mut x, column, column + 4, column + 8, column + 12);
        }
        x
    }

    /// ChaCha8's block function on 8 lanes: four double rounds on `init`, then `init`
    /// added back. Where the lanes' streams share the high word of their id, `shared`
    /// holds the words of columns 0, 1 and 3 after the first column round
    /// ([`shared_columns`]), and only column 2 takes that round in the lanes.
    #[target_feature(enable = "avx2")]
    fn chacha8_256(init: &[__m256i; 16], shared: Option<&[u32; 16]>) -> [__m256i; 16] {
        let rot16 = _mm256_set_epi8(
            13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, 13, 12, 15, 14, 9, 8, 11, 10, 5,
            4, 7, 6, 1, 0, 3, 2,
        );
        let rot8 = _mm256_set_epi8(
            14, 13, 12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3, 14, 13, 12, 15, 10, 9, 8, 11, 6,
            5, 4, 7, 2, 1, 0, 3,
        );
        let mut x = *init;
        match shared {
            Some(words) => {
                for (i, (x, &word)) in x.iter_mut().zip(words).enumerate() {
                    if i % 4 != 2 {
                        *x = _mm256_set1_epi32(word as i32);
                    }
                }
                quarter_round_256!(x[2], x[6], x[10], x[14], rot16, rot8);
            }
            None => {
                column_round!(x, quarter_round_256, rot16, rot8);
            }
        }
        diagonal_round!(x, quarter_round_256, rot16, rot8);
        for _ in 1..4 {
            column_round!(x, quarter_round_256, rot16, rot8);
            diagonal_round!(x, quarter_round_256, rot16, rot8);
        }
        for (x, i) in x.iter_mut().zip(init) {
            *x = _mm256_add_epi32(*x, *i);
        }
        x
    }

    /// [`super::StreamLanes::fill`] for 16 lanes, as two halves of 8.
    ///
    /// # Safety
    /// The processor must have AVX2, and `out` must hold `8 · blocks · 16` words.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn fill_avx2(key: &[u32; 8], first: u64, blocks: usize, out: &mut [u64]) {
        let key_words = key;
        let constant = CONSTANTS.map(|c| _mm256_set1_epi32(c as i32));
        let key = key.map(|k| _mm256_set1_epi32(k as i32));
        for half in 0..2 {
            let streams: [u64; 8] =
                std::array::from_fn(|l| first.wrapping_add((8 * half + l) as u64));
            let low: [u32; 8] = streams.map(|s| s as u32);
            let high: [u32; 8] = streams.map(|s| (s >> 32) as u32);
            // The 8 streams share their id's high word unless their ids cross a multiple
            // of 2³² (never below 2³² draws).
            let shared_high = high.iter().all(|&h| h == high[0]);
            // SAFETY: unaligned loads of 32 bytes from arrays of 32 bytes.
            let (stream_low, stream_high) = unsafe {
                (
                    _mm256_loadu_si256(low.as_ptr().cast()),
                    _mm256_loadu_si256(high.as_ptr().cast()),
                )
            };
            for block in 0..blocks {
                let counter = block as u64;
                let init = initial_state(
                    constant,
                    key,
                    [
                        _mm256_set1_epi32(counter as u32 as i32),
                        _mm256_set1_epi32((counter >> 32) as u32 as i32),
                    ],
                    [stream_low, stream_high],
                );
                // Scalar work beside the lanes' (computing it once for both halves, in
                // a loop over blocks outside the halves', was slower).
                let shared = shared_high.then(|| shared_columns(key_words, counter, high[0]));
                let r = chacha8_256(&init, shared.as_ref());
                for word in 0..8 {
                    let (low, high) = (r[2 * word], r[2 * word + 1]);
                    // The 64-bit words of lanes 0, 1, 4, 5 and of lanes 2, 3, 6, 7.
                    let (even, odd) = (
                        _mm256_unpacklo_epi32(low, high),
                        _mm256_unpackhi_epi32(low, high),
                    );
                    let at = (8 * block + word) * 16 + 8 * half;
                    // SAFETY: `at + 8 ≤ 8 · blocks · 16 ≤ out.len()` (the caller's
                    // contract); unaligned stores of 32 bytes.
                    unsafe {
                        let to = out.as_mut_ptr().add(at);
                        _mm256_storeu_si256(
                            to.cast(),
                            _mm256_permute2x128_si256::<0x20>(even, odd),
                        );
                        _mm256_storeu_si256(
                            to.add(4).cast(),
                            _mm256_permute2x128_si256::<0x31>(even, odd),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::ChaCha8Rng;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn every_lane_holds_its_streams_words() {
        let key: [u8; 32] = std::array::from_fn(|i| (i * 37 + 11) as u8);
        let kernels: Vec<StreamLanes> = [Simd::Avx512, Simd::Avx2]
            .into_iter()
            .filter_map(StreamLanes::on)
            .collect();
        // Streams whose low word carries into the high one (a half of 8 whose ids do
        // not share the high word), and the last ones.
        for first in [0, 5, u64::from(u32::MAX) - 6, u64::MAX - 15] {
            for &lanes in &kernels {
                let blocks = 21;
                let words = 8 * blocks;
                // One word more than the blocks fill, which is left alone.
                let mut out = vec![0u64; (words + 1) * GROUP];
                lanes.fill(&key, first, blocks, &mut out);
                for l in 0..GROUP {
                    let mut reference = ChaCha8Rng::from_seed(key);
                    reference.set_stream(first.wrapping_add(l as u64));
                    for w in 0..words {
                        assert_eq!(
                            out[w * GROUP + l],
                            reference.next_u64(),
                            "{lanes:?} stream {first}+{l} word {w}"
                        );
                    }
                }
                assert!(out[words * GROUP..].iter().all(|&w| w == 0));
            }
        }
    }

    #[test]
    fn the_vector_copies_have_kernels_and_the_portable_one_none() {
        assert_eq!(StreamLanes::on(Simd::Portable), None);
        for simd in [Simd::Avx2, Simd::Avx512] {
            let kernel = StreamLanes::on(simd).map(StreamLanes::simd);
            let runs = Simd::available() >= Simd::Avx2;
            assert_eq!(
                kernel,
                runs.then(|| simd.min(Simd::available())),
                "{simd:?}"
            );
        }
    }
}
