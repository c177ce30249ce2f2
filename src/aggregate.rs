//! From stored draws to results, through the same accumulator as a streaming run.
//!
//! Rationale: small runs (tests, backtests) keep every draw to inspect them; their
//! summaries must still be exactly those of a streaming run of the same draws, so they
//! are fed block by block through [`crate::accumulate::Accumulator`].

use crate::accumulate::{Accumulator, BlockSums, Evaluator};
use crate::engine::{BLOCK, Draws};
use crate::results::{RunInfo, RunResults};
use crate::scenario::Scenario;

/// Builds the run's results from stored draws (identical to a streaming run's).
pub fn aggregate(scenario: &Scenario, draws: &Draws, info: RunInfo) -> RunResults {
    let n = draws.layout.len();
    let draw0: Vec<f64> = if draws.draws > 0 && n > 0 {
        draws.row(0).to_vec()
    } else {
        vec![0.0; n]
    };
    let ev = Evaluator::new(scenario, draws.layout.clone(), &draw0);
    let mut acc = Accumulator::new(&ev);
    let mut sums = BlockSums::default();
    let mut cols = Vec::new();
    let total = draws.draws as usize;
    let block = BLOCK as usize;
    for start in (0..total).step_by(block) {
        let count = block.min(total - start);
        // Stored draw-major; the accumulator reads series-major.
        cols.clear();
        cols.resize(count * n, 0.0);
        for d in 0..count {
            for (s, x) in draws.row(start + d).iter().enumerate() {
                cols[s * count + d] = *x;
            }
        }
        acc.add_block(&ev, &cols, count, &mut sums);
    }
    acc.finish(scenario, &ev, info)
}
