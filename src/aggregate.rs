//! From stored draws to results, through the same accumulator as a streaming run.
//!
//! Rationale: small runs (tests, backtests) keep every draw to inspect them; their
//! summaries must still be exactly those of a streaming run of the same draws, so they
//! are fed block by block through [`crate::accumulate::Accumulator`].

use crate::accumulate::{Accumulator, Evaluator};
use crate::engine::Draws;
use crate::results::{RunInfo, RunResults};
use crate::scenario::Scenario;
use crate::sketch::SignSplitter;

/// Builds the run's results from stored draws (identical to a streaming run's).
pub fn aggregate(scenario: &Scenario, draws: &Draws, info: RunInfo) -> RunResults {
    let n = draws.layout.len();
    let draw0: Vec<f64> = if draws.draws > 0 && n > 0 {
        draws.row(0)
    } else {
        vec![0.0; n]
    };
    let ev = Evaluator::new(scenario, draws.layout.clone(), &draw0);
    let mut acc = Accumulator::new(&ev);
    let mut all_met = Vec::new();
    for (block, count) in draws.blocks() {
        acc.add_block(&ev, block, count, &mut all_met, SignSplitter::Scan);
    }
    acc.finish(scenario, &ev, info)
}
