//! The Monte Carlo engine: draws in fixed-size blocks, in parallel, in a fixed order.
//!
//! Rationale: results must be identical bit for bit whatever the thread count. Each
//! draw has its own random stream derived from (seed, draw index), draws are grouped
//! into blocks of [`BLOCK`] draws, and every block writes its own slice of the output in
//! draw order, so how the blocks are scheduled cannot change a single value.
//!
//! Within a block, draws are simulated in small batches: each draw's random terms come
//! from its own stream, then the dynamics and the recorded series are computed for the
//! whole batch in loops over draws; the block's series then stream, series by series,
//! into the accumulator. Neither the batch size nor the split of blocks among workers
//! changes a result.
//!
//! Nor does the machine, so that shards may run on any nodes of a cluster: the vector
//! copies of the hot loops give the same bits ([`simd`]), and the model's exp, log,
//! pow, sin, cos and asin come from the `libm` crate rather than the system library,
//! whose processor-specific variants can differ in the last bit (a test switches
//! glibc's variants and compares the exact state).

pub mod chacha;
pub mod layout;
pub mod model;
pub mod simd;
pub mod stream;
pub mod terms;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use crate::accumulate::{Accumulator, Evaluator};
use crate::error::{Error, Result};
use crate::scenario::Scenario;
use layout::{Layout, PathBatch, extract};
use model::{Model, Workspace, run_key};
use simd::Simd;

/// Draws per block: the unit of parallel work, of progress reports and of the
/// rounding of partial sums. The accumulator pays a fixed cost per block and series
/// (a sum rounded to fixed point, each sketch's window and the padded tail of its
/// bins), which 512 draws halve against 256 (2.6% less CPU time for the baseline on a
/// Zen 4 core with a 1 MB L2). Small enough that a block's recorded series (512 draws
/// × 260 series of the baseline, 1 MB) stay near the core between their extraction and
/// their accumulation (1024 took more time, and missed the last-level cache four times
/// as often in simulation as 256).
pub const BLOCK: u64 = 512;

/// How to run: number of draws, seed and worker threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSettings {
    /// Number of Monte Carlo draws (≥ 1).
    pub draws: u64,
    /// Random seed.
    pub seed: u64,
    /// Worker threads (≥ 1); results do not depend on it.
    pub threads: usize,
}

/// Recorded series of every draw, stored as the engine produces them: block by block,
/// each block series-major (draw `d` of the `i`-th stored series lies in block
/// `d / BLOCK`, at `i · len + d % BLOCK` within it, `len` being the block's draw count),
/// so a block goes to the accumulator as it is. [`simulate`] stores every series of the
/// layout; [`simulate_series`] only those asked for.
#[derive(Debug, Clone)]
pub struct Draws {
    /// What each column of the layout is (stored or not).
    pub layout: Layout,
    /// The layout's columns stored, ascending.
    stored: Vec<usize>,
    values: Vec<f64>,
    /// Number of draws.
    pub draws: u64,
}

impl Draws {
    /// The value of the `i`-th stored series in draw `d`.
    fn at(&self, d: usize, i: usize) -> f64 {
        let block = BLOCK as usize;
        let first = d - d % block;
        let len = block.min(self.draws as usize - first);
        self.values[first * self.stored.len() + i * len + d % block]
    }

    /// All draws of the layout's series `s`, in draw order, or `None` where `s` was not
    /// stored.
    pub fn column(&self, s: usize) -> Option<Vec<f64>> {
        let i = self.stored.binary_search(&s).ok()?;
        Some((0..self.draws as usize).map(|d| self.at(d, i)).collect())
    }

    /// The values of draw `d`, one per stored series (every series of the layout, from
    /// [`simulate`]).
    pub fn row(&self, d: usize) -> Vec<f64> {
        (0..self.stored.len()).map(|i| self.at(d, i)).collect()
    }

    /// The blocks in draw order, each with its draw count, series-major over the stored
    /// series.
    pub fn blocks(&self) -> impl Iterator<Item = (&[f64], usize)> {
        let n = self.stored.len();
        let total = self.draws as usize;
        (0..total).step_by(BLOCK as usize).map(move |first| {
            let len = (BLOCK as usize).min(total - first);
            (&self.values[first * n..(first + len) * n], len)
        })
    }
}

/// Runs `work` on a pool of `threads` worker threads (at least one).
pub fn with_threads<T: Send>(threads: usize, work: impl FnOnce() -> T + Send) -> Result<T> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Error::Numerical(format!("cannot start worker threads: {e}")))?;
    Ok(pool.install(work))
}

/// Runs the scenario's `draws` draws on the current rayon thread pool (see
/// [`with_threads`]) and stores every recorded series; `settings.threads` is not
/// consulted here. `progress` is called with the number of draws completed so far
/// (from worker threads). Memory: 8 bytes a draw and series.
pub fn simulate(
    scenario: &Scenario,
    settings: RunSettings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Draws> {
    let every: Vec<usize> = (0..Layout::new(scenario).len()).collect();
    simulate_series(scenario, settings, &every, progress)
}

/// As [`simulate`], storing only the layout's columns `series` (ascending, distinct):
/// the same values for them, in 8 bytes a draw and stored series. A backtest keeps
/// the few series it scores this way rather than the whole layout.
pub fn simulate_series(
    scenario: &Scenario,
    settings: RunSettings,
    series: &[usize],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Draws> {
    let model = Model::new(scenario)?;
    let layout = Layout::new(scenario);
    let len = layout.len();
    if let Some(w) = series.windows(2).find(|w| w[0] >= w[1]) {
        return Err(Error::Numerical(format!(
            "series to store must ascend, without repeats: {} then {}",
            w[0], w[1]
        )));
    }
    if let Some(&s) = series.iter().find(|&&s| s >= len) {
        return Err(Error::Numerical(format!(
            "series {s} is not among the {len} recorded"
        )));
    }
    // Every series: projected in place. Some: projected into a block of all of them,
    // then the stored ones copied out.
    let every = series.len() == len;
    let n = series.len().max(1);
    let total = usize::try_from(settings.draws)
        .ok()
        .and_then(|d| d.checked_mul(n))
        .ok_or_else(|| {
            Error::Numerical(format!("{} draws do not fit in memory", settings.draws))
        })?;
    let mut values = vec![0.0; total];
    let key = run_key(settings.seed);
    let done = AtomicU64::new(0);
    let copy = Simd::selected();
    values
        .par_chunks_mut(BLOCK as usize * n)
        .enumerate()
        .try_for_each_init(
            || {
                let block = if every { 0 } else { BLOCK as usize * len };
                (BlockScratch::new(&model, &layout, copy), vec![0.0; block])
            },
            |(scratch, block), (b, chunk)| -> Result<()> {
                let first = b as u64 * BLOCK;
                let rows = chunk.len() / n;
                if every {
                    // Written in place: stored draws keep the engine's block layout.
                    let cols = if len > 0 { chunk } else { &mut [] };
                    simd::project_on(copy, &model, &layout, &key, first, rows, scratch, cols)?;
                } else {
                    let cols = &mut block[..rows * len];
                    simd::project_on(copy, &model, &layout, &key, first, rows, scratch, cols)?;
                    for (to, &s) in chunk.chunks_exact_mut(rows).zip(series) {
                        to.copy_from_slice(&cols[s * rows..(s + 1) * rows]);
                    }
                }
                progress(done.fetch_add(rows as u64, Ordering::Relaxed) + rows as u64);
                Ok(())
            },
        )?;
    if series.is_empty() {
        values.clear();
    }
    Ok(Draws {
        layout,
        stored: series.to_vec(),
        values,
        draws: settings.draws,
    })
}

/// A worker's space for projecting blocks, reused from block to block.
pub struct BlockScratch {
    /// The dynamics' workspace.
    ws: Workspace,
    /// The paths of a chunk of draws.
    batch: PathBatch,
}

impl BlockScratch {
    /// Space for projecting draws of `model` recording `layout`, a batch at a time,
    /// laid out for copy `simd` of the pipeline (any copy may use it, at some cost).
    pub fn new(model: &Model, layout: &Layout, simd: Simd) -> BlockScratch {
        let capacity = simd.batch_draws(model.path_bytes(layout));
        let batch = model.path_batch(layout, capacity, simd);
        BlockScratch {
            ws: model.workspace(batch.capacity(), simd),
            batch,
        }
    }

    /// Most draws simulated together (at most [`Simd::batch_draws`], fewer for large
    /// paths).
    pub fn batch_capacity(&self) -> usize {
        self.batch.capacity()
    }
}

/// What every block of a streaming run shares.
pub(crate) struct BlockWork<'a> {
    model: &'a Model,
    ev: &'a Evaluator,
    key: [u8; 32],
    /// Draws in the whole run (the last block may be short).
    draws: u64,
}

/// One worker's state in a streaming run: its accumulator and its scratch space,
/// reused from block to block.
pub(crate) struct Worker {
    acc: Accumulator,
    scratch: BlockScratch,
    /// The block's series, series-major.
    cols: Vec<f64>,
    /// Per plan and draw: all targets met so far (scratch of the accumulator).
    all_met: Vec<bool>,
}

impl Worker {
    fn new(model: &Model, ev: &Evaluator, simd: Simd) -> Worker {
        Worker {
            acc: Accumulator::new(ev),
            scratch: BlockScratch::new(model, &ev.layout, simd),
            cols: Vec::new(),
            all_met: Vec::new(),
        }
    }
}

/// Projects block `b` and adds it to the worker's accumulator; returns its draw count.
/// The per-block pipeline, inlined whole into each of its copies (see [`simd`]).
#[inline(always)]
fn project_and_add(simd: Simd, work: &BlockWork, b: u64, worker: &mut Worker) -> Result<u64> {
    let first = b * BLOCK;
    let count = BLOCK.min(work.draws - first) as usize;
    let ev = work.ev;
    worker.cols.resize(count * ev.layout.len(), 0.0);
    project_block(
        simd,
        work.model,
        &ev.layout,
        &work.key,
        first,
        count,
        &mut worker.scratch,
        &mut worker.cols,
    )?;
    worker.acc.add_block(
        ev,
        &worker.cols,
        count,
        &mut worker.all_met,
        simd.sign_splitter(),
    );
    Ok(count as u64)
}

/// Simulates draws `first..first + count` and writes their series into `cols`,
/// series-major (`cols[s * count + j]` for draw `first + j`; `count · layout.len()`
/// values). Draws are simulated a batch at a time, and each batch is extracted into
/// its slice of `cols`.
// Inlined into every copy of the per-block pipeline (`engine::simd`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn project_block(
    simd: Simd,
    model: &Model,
    layout: &Layout,
    key: &[u8; 32],
    first: u64,
    count: usize,
    scratch: &mut BlockScratch,
    cols: &mut [f64],
) -> Result<()> {
    let BlockScratch { ws, batch } = scratch;
    let n = layout.len();
    let chunk = batch.capacity();
    for start in (0..count).step_by(chunk) {
        let len = chunk.min(count - start);
        model.simulate(simd, key, first + start as u64, len, ws, batch)?;
        if n > 0 {
            extract(
                layout,
                batch,
                len,
                &model.base_sva,
                &model.base_nsva,
                &mut cols[start..],
                count,
            );
        }
    }
    Ok(())
}

/// Number of blocks of a run of `draws` draws.
pub fn block_count(draws: u64) -> u64 {
    draws.div_ceil(BLOCK)
}

/// The blocks of shard `index` (0-based) of `shards`: a contiguous, balanced range.
pub fn shard_blocks(draws: u64, index: u64, shards: u64) -> std::ops::Range<u64> {
    let nb = block_count(draws);
    let at = |i: u64| (u128::from(nb) * u128::from(i) / u128::from(shards.max(1))) as u64;
    at(index)..at(index + 1)
}

/// The number of draws in shard `index` (0-based) of `shards`: those of its
/// [`shard_blocks`], the last block of the run possibly short. Over all shards they sum
/// to `draws`.
pub fn shard_draws(draws: u64, index: u64, shards: u64) -> u64 {
    let blocks = shard_blocks(draws, index, shards);
    let end = blocks.end.saturating_mul(BLOCK).min(draws);
    end.saturating_sub(blocks.start.saturating_mul(BLOCK))
}

/// The evaluator of a run: its layout, and moment shifts from draw 0.
pub fn evaluator(scenario: &Scenario, seed: u64) -> Result<(Model, Evaluator)> {
    let model = Model::new(scenario)?;
    let layout = Layout::new(scenario);
    let mut batch = model.path_batch(&layout, 1, Simd::Portable);
    let mut ws = model.workspace(1, Simd::Portable);
    let mut draw0 = vec![0.0; layout.len()];
    model.simulate(Simd::Portable, &run_key(seed), 0, 1, &mut ws, &mut batch)?;
    extract(
        &layout,
        &batch,
        1,
        &model.base_sva,
        &model.base_nsva,
        &mut draw0,
        1,
    );
    let ev = Evaluator::new(scenario, layout, &draw0);
    Ok((model, ev))
}

/// Streams the draws of `blocks` (of a run of `settings.draws` draws) into one
/// accumulator, on the current rayon pool, in constant memory. The result does not
/// depend on the thread count or on how blocks are split among calls.
pub fn accumulate(
    scenario: &Scenario,
    settings: RunSettings,
    blocks: std::ops::Range<u64>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(Evaluator, Accumulator)> {
    let (model, ev) = evaluator(scenario, settings.seed)?;
    let work = BlockWork {
        model: &model,
        ev: &ev,
        key: run_key(settings.seed),
        draws: settings.draws,
    };
    let done = AtomicU64::new(0);
    let index = |b: u64| {
        usize::try_from(b).map_err(|_| Error::Numerical(format!("{b} blocks are too many")))
    };
    let blocks = index(blocks.start)?..index(blocks.end)?;
    // Idle workers, each with its accumulator (megabytes of sketch bins at many nodes)
    // and scratch. A block takes one, or makes one if none is idle, and puts it back:
    // there are never more workers than threads running blocks at once. Accumulators
    // hold integers only, so how blocks fall to workers cannot change the sum.
    let idle: Mutex<Vec<Worker>> = Mutex::new(Vec::new());
    let idle_workers = || idle.lock().unwrap_or_else(PoisonError::into_inner);
    let copy = Simd::selected();
    // Every block a task of its own, so that a thread that runs out of blocks can take
    // half of another's remaining ones to the last: rayon otherwise runs ranges of
    // hundreds of blocks without a point to split them, and one thread could finish
    // milliseconds before the other (a block takes half a millisecond).
    blocks
        .into_par_iter()
        .with_max_len(1)
        .try_for_each(|b| -> Result<()> {
            let taken = idle_workers().pop();
            let mut worker = taken.unwrap_or_else(|| Worker::new(&model, &ev, copy));
            let count = simd::add_block_of_draws(copy, &work, b as u64, &mut worker)?;
            progress(done.fetch_add(count, Ordering::Relaxed) + count);
            idle_workers().push(worker);
            Ok(())
        })?;
    let workers = idle.into_inner().unwrap_or_else(PoisonError::into_inner);
    let mut accs = workers.into_iter().map(|w| w.acc);
    let mut acc = accs.next().unwrap_or_else(|| Accumulator::new(&ev));
    for other in accs {
        acc.merge(&other);
    }
    Ok((ev, acc))
}
