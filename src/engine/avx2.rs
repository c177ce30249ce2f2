//! The per-block pipeline compiled a second time, for AVX2, and chosen at run time.
//!
//! Rationale: the hot loops (the dynamics over a batch of draws, series extraction,
//! moments, sketch bins) are plain loops over draws that the compiler vectorizes, but a
//! portable x86-64 build may use only 128-bit SSE2 vectors. The two entry points here,
//! a block's projection and accumulation (streaming runs) and its projection alone
//! ([`project`]: stored draws, benchmarks), each exist in a copy compiled with AVX2
//! enabled, taken when the processor has it, and in the portable copy otherwise. What
//! they call is `#[inline(always)]`, so that each copy covers it. The same binary
//! thus runs on any x86-64 machine and uses 256-bit vectors where it can.
//!
//! The two copies give the same bits: every IEEE operation is correctly rounded at any
//! vector width, the compiler neither reorders nor fuses floating-point operations, and
//! only AVX2 (not FMA) is enabled. A test compares runs on both paths byte for byte;
//! setting the environment variable `XIANG_NO_AVX2` forces the portable path.

use std::sync::OnceLock;

use super::layout::Layout;
use super::model::Model;
use super::{BlockScratch, BlockWork, Worker};
use crate::error::Result;

/// Whether this process takes the AVX2 copy: the processor has AVX2 and
/// `XIANG_NO_AVX2` is not set (decided once).
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::env::var_os("XIANG_NO_AVX2").is_none()
                && std::arch::is_x86_feature_detected!("avx2")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// [`super::project_and_add`] on the AVX2 copy when [`enabled`], else on the portable
/// one; returns the block's draw count.
pub(super) fn add_block_of_draws(work: &BlockWork, b: u64, worker: &mut Worker) -> Result<u64> {
    #[cfg(target_arch = "x86_64")]
    if enabled() {
        // SAFETY: `enabled` is true only on a processor that supports AVX2, the one
        // feature this copy was compiled for.
        return unsafe { project_and_add_avx2(work, b, worker) };
    }
    super::project_and_add(work, b, worker)
}

/// [`super::project_and_add`] compiled with AVX2 enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn project_and_add_avx2(work: &BlockWork, b: u64, worker: &mut Worker) -> Result<u64> {
    super::project_and_add(work, b, worker)
}

/// Simulates draws `first..first + count` and writes their series into `cols`,
/// series-major (`cols[s * count + j]` for draw `first + j`), on the copy [`enabled`]
/// picks: the projection of a block without its accumulation (stored draws,
/// benchmarks).
pub fn project(
    model: &Model,
    layout: &Layout,
    key: &[u8; 32],
    first: u64,
    count: usize,
    scratch: &mut BlockScratch,
    cols: &mut [f64],
) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if enabled() {
        // SAFETY: as in `add_block_of_draws`.
        return unsafe { project_avx2(model, layout, key, first, count, scratch, cols) };
    }
    super::project_block(model, layout, key, first, count, scratch, cols)
}

/// [`project`]'s AVX2 copy.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn project_avx2(
    model: &Model,
    layout: &Layout,
    key: &[u8; 32],
    first: u64,
    count: usize,
    scratch: &mut BlockScratch,
    cols: &mut [f64],
) -> Result<()> {
    super::project_block(model, layout, key, first, count, scratch, cols)
}
