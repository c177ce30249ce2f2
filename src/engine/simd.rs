//! The per-block pipeline compiled three times, for the portable x86-64 baseline, for
//! AVX2 and for AVX-512, and the copy to run chosen at run time.
//!
//! Rationale: the hot loops (the dynamics over a batch of draws, series extraction,
//! moments, sketch bins) are plain loops over draws that the compiler vectorizes, but a
//! portable x86-64 build may use only 128-bit SSE2 vectors. The two entry points here,
//! a block's projection and accumulation (streaming runs) and its projection alone
//! ([`project_on`]: stored draws, benchmarks), each exist in a copy compiled with AVX2
//! enabled, one compiled with AVX-512 (F, DQ, VL and BW: 512-bit vectors and 32
//! registers) enabled, and the portable one. What they call is `#[inline(always)]`, so
//! that each copy covers it, and each copy passes down which it is: the AVX-512 and
//! AVX2 copies also compute their draws' ChaCha8 streams and random terms 16 at a time
//! (`engine::chacha`, `TermLaws::draw_lanes`). The same
//! binary thus runs on any x86-64 machine and uses the widest vectors the processor
//! has.
//!
//! Every copy gives the same bits: every IEEE operation is correctly rounded at any
//! vector width, and the compiler neither reorders nor fuses floating-point operations
//! (AVX-512 brings fused multiply-add instructions, which Rust emits only for an
//! explicit `mul_add`). A test compares runs on every copy the processor has, byte for
//! byte. The environment variable `XIANG_SIMD` caps the choice: `portable`, `avx2` or
//! `avx512` (any other value is ignored, and the command line warns of it).

use std::sync::OnceLock;

use super::layout::Layout;
use super::model::Model;
use super::{BlockScratch, BlockWork, Worker};
use crate::error::Result;
use crate::sketch::SignSplitter;
use crate::tiles::{self, TILE};

/// Paths a batch of 256 draws may take on the AVX2 copy ([`Simd::batch_draws`]): 1 MB.
pub const SMALL_PATHS_BYTES: usize = 1 << 20;

/// The copies of the pipeline, from the narrowest vectors to the widest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Simd {
    /// The x86-64 baseline (SSE2), or the target's own baseline elsewhere.
    Portable,
    /// AVX2: 256-bit vectors.
    Avx2,
    /// AVX-512 F, DQ, VL and BW: 512-bit vectors and 32 vector registers.
    Avx512,
}

impl Simd {
    /// The widest copy this processor can run.
    pub fn available() -> Simd {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512dq") && has!("avx512vl") && has!("avx512bw") {
                return Simd::Avx512;
            }
            if has!("avx2") {
                return Simd::Avx2;
            }
        }
        Simd::Portable
    }

    /// The copy a cap names (`portable`, `avx2`, `avx512`; case-insensitive), or
    /// `None` for any other text.
    pub fn parse(cap: &str) -> Option<Simd> {
        match cap.trim().to_ascii_lowercase().as_str() {
            "portable" => Some(Simd::Portable),
            "avx2" => Some(Simd::Avx2),
            "avx512" => Some(Simd::Avx512),
            _ => None,
        }
    }

    /// The distance between successive lanes of an array holding up to `capacity`
    /// draws per lane, for this copy. The portable copy writes each draw's random terms
    /// one by one, one to each of 145 lanes (the baseline's), and the dynamics read
    /// many lanes at the same draws: with a stride of 64 draws (512 bytes, eight cache
    /// lines) all those lanes fall into one eighth of the 64 sets of a 48 KB level-1
    /// cache and evict each other. For it the stride is rounded up to an odd number of
    /// lines (from 16 draws), which spreads the lanes over all the sets (7–12% less CPU
    /// time on the AVX2 copy when it too wrote its terms one draw at a time). The
    /// AVX-512 copy writes its terms 16 draws at a time, whole lines, and ran no faster
    /// with the padding (1–2% slower), so its lanes stay packed. The AVX2 copy, which
    /// now writes its terms 16 draws at a time too, runs as fast either way (1.006, IQR
    /// 0.990–1.019, 30 pairs, packed against padded), and keeps the padding. Results do
    /// not depend on the stride.
    pub fn lane_stride(self, capacity: usize) -> usize {
        const LINE: usize = 8;
        if self == Simd::Avx512 || capacity < TILE {
            capacity
        } else {
            (capacity.div_ceil(LINE) | 1) * LINE
        }
    }

    /// Most draws this copy simulates together and extracts together into the block,
    /// for paths of `path_bytes` a draw (fewer for large paths, see
    /// [`Model::path_batch`]): small enough that a batch's paths and random terms stay
    /// in cache, large enough for the loops over draws to vectorize and to pay for
    /// their set-up. 64 took 3–5% less CPU time than 32 on the baseline once sums ran a
    /// tile at a time, and 128 took 1.2% more on the AVX-512 copy (on a Xeon) and as
    /// much on the portable copy (0.991, IQR 0.975–1.021, on a Zen 3 EPYC). On the AVX2
    /// copy, which computes its terms 16 draws at a time, 128 took 1.5–5% less (0.986,
    /// 0.950, 0.967 and 0.957 in four series on that EPYC), and 256 less again where
    /// their paths take at most [`SMALL_PATHS_BYTES`] (the baseline's 600 KB: 0.987 and,
    /// at 10⁶ draws on two threads, 0.973), but 3% more for the 13 cities' 2.6 MB; so
    /// that copy takes 256 for small paths and 128 for others. Results do not depend on
    /// it.
    pub fn batch_draws(self, path_bytes: usize) -> usize {
        match self {
            Simd::Avx2 if 256 * path_bytes <= SMALL_PATHS_BYTES => 256,
            Simd::Avx2 => 128,
            Simd::Avx512 | Simd::Portable => 64,
        }
    }

    /// Rows of weights from which this copy's products run two rows at a time
    /// ([`tiles::PAIRED_ROWS_FROM`] on the AVX2 and AVX-512 copies). Never on the
    /// portable copy: in SSE2's 16 registers of two values, a tile's sums fill eight,
    /// and two rows' would spill (2.6% slower with 120 nodes). The sums are the same
    /// either way.
    pub fn paired_rows_from(self) -> usize {
        match self {
            Simd::Avx512 | Simd::Avx2 => tiles::PAIRED_ROWS_FROM,
            Simd::Portable => usize::MAX,
        }
    }

    /// How this copy's sketches split a column of both signs: by AVX-512's compress,
    /// eight values an instruction, on the AVX-512 copy; four at a time by permutations
    /// on the AVX2 copy; value by value on the portable one. The split is the same.
    pub fn sign_splitter(self) -> SignSplitter {
        match self {
            Simd::Avx512 => SignSplitter::Compress,
            Simd::Avx2 => SignSplitter::Permute,
            Simd::Portable => SignSplitter::Scan,
        }
    }

    /// The cap `XIANG_SIMD` sets: `None` when it is unset, the copy it names, or the
    /// text it holds when that names no copy (which [`Simd::selected`] ignores).
    pub fn cap_from_env() -> Option<std::result::Result<Simd, String>> {
        let text = std::env::var_os("XIANG_SIMD")?;
        let text = text.to_string_lossy();
        Some(Simd::parse(&text).ok_or_else(|| text.into_owned()))
    }

    /// The copy this process runs: [`Simd::available`], capped by `XIANG_SIMD` when
    /// that names a copy (decided once).
    pub fn selected() -> Simd {
        static SELECTED: OnceLock<Simd> = OnceLock::new();
        *SELECTED.get_or_init(|| {
            let available = Simd::available();
            match Simd::cap_from_env() {
                Some(Ok(cap)) => cap.min(available),
                _ => available,
            }
        })
    }
}

/// Defines `$name`, which evaluates `$body` on copy `simd` of the pipeline, or on the
/// widest copy the processor has if `simd` is wider: the body is compiled three times,
/// with AVX2 enabled, with AVX-512 enabled (x86-64 only) and portable, `$copy` naming
/// the copy in each. Everything `$body` calls is `#[inline(always)]`, so each is a
/// whole copy of it.
macro_rules! vector_copies {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty,
        |$copy:ident| $body:expr
    ) => {
        $(#[$meta])*
        $vis fn $name(simd: Simd, $($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            fn avx2($($arg: $ty),*) -> $ret {
                let $copy = Simd::Avx2;
                $body
            }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
            fn avx512($($arg: $ty),*) -> $ret {
                let $copy = Simd::Avx512;
                $body
            }

            #[cfg(target_arch = "x86_64")]
            match simd.min(Simd::available()) {
                // SAFETY: `available` names only copies whose features the processor
                // supports.
                Simd::Avx512 => return unsafe { avx512($($arg),*) },
                // SAFETY: as above.
                Simd::Avx2 => return unsafe { avx2($($arg),*) },
                Simd::Portable => {}
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = simd;
            let $copy = Simd::Portable;
            $body
        }
    };
}

vector_copies!(
    /// [`super::project_and_add`] on copy `simd` (the engine passes
    /// [`Simd::selected`]); returns the block's draw count.
    pub(super) fn add_block_of_draws(work: &BlockWork, b: u64, worker: &mut Worker) -> Result<u64>,
    |copy| super::project_and_add(copy, work, b, worker)
);

vector_copies!(
    /// Simulates draws `first..first + count` and writes their series into `cols`,
    /// series-major (`cols[s * count + j]` for draw `first + j`), on copy `simd`, or on
    /// the widest copy the processor has if `simd` is wider: the projection of a block
    /// without its accumulation (stored draws take [`Simd::selected`]; benchmarks
    /// compare the copies in one process). Every copy writes the same bits.
    #[allow(clippy::too_many_arguments)]
    pub fn project_on(
        model: &Model,
        layout: &Layout,
        key: &[u8; 32],
        first: u64,
        count: usize,
        scratch: &mut BlockScratch,
        cols: &mut [f64]
    ) -> Result<()>,
    |copy| super::project_block(copy, model, layout, key, first, count, scratch, cols)
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_name_the_copies_in_order() {
        assert_eq!(Simd::parse("portable"), Some(Simd::Portable));
        assert_eq!(Simd::parse(" AVX2 "), Some(Simd::Avx2));
        assert_eq!(Simd::parse("avx512"), Some(Simd::Avx512));
        assert_eq!(Simd::parse("sse"), None);
        assert_eq!(Simd::parse(""), None);
        assert!(Simd::Portable < Simd::Avx2 && Simd::Avx2 < Simd::Avx512);
    }

    /// Padded strides hold the capacity in an odd number of whole lines, so that
    /// lanes at the same draw fall into every set of a 64-set cache; small batches and
    /// the AVX-512 copy keep their lanes packed.
    #[test]
    fn lane_strides_spread_lanes_over_the_cache_sets() {
        for capacity in 1..=300 {
            for simd in [Simd::Portable, Simd::Avx2] {
                let stride = simd.lane_stride(capacity);
                if capacity < TILE {
                    assert_eq!(stride, capacity);
                    continue;
                }
                let lines = stride / 8;
                assert!(stride % 8 == 0 && lines % 2 == 1, "{capacity}: {stride}");
                assert!((capacity..capacity + 16).contains(&stride), "{capacity}");
                // 64 lanes one stride apart, read at the same draw: 64 sets.
                let sets: std::collections::BTreeSet<usize> =
                    (0..64).map(|lane| lane * lines % 64).collect();
                assert_eq!(sets.len(), 64, "{capacity}");
            }
            assert_eq!(Simd::Avx512.lane_stride(capacity), capacity);
        }
    }

    #[test]
    fn the_selected_copy_is_one_the_processor_runs() {
        assert!(Simd::selected() <= Simd::available());
    }
}
