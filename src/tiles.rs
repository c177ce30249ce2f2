//! Loops over the draws of a batch a tile at a time.
//!
//! Rationale: the engine stores each quantity of a batch of draws as a lane, the draws
//! side by side, so that each step is a loop over contiguous memory the compiler
//! vectorizes. A quantity built from many lanes (a sum over terms, over a group's
//! members) would, lane by lane, store and reload its partial results once per term.
//! Taken a tile of draws at a time, the partial results stay in registers over all the
//! terms and are stored once; the operations and their order are those of the plain
//! loops, so the results are the same to the bit.

/// Draws per tile: two 512-bit registers of f64, four 256-bit.
pub const TILE: usize = 16;

/// `for_tiles!(n, |start, len| body)` runs `body` for the draws `0..n` a tile at a
/// time: with `len` = [`TILE`] for each whole tile from draw `start`, then with the
/// length of the part tile of the rest. The body is written out in both places rather
/// than called as a closure, so that it is always inlined and a whole tile's `len` is
/// a constant there: arrays of a tile's values stay in registers.
macro_rules! for_tiles {
    ($n:expr, |$start:ident, $len:ident| $body:block) => {{
        let n: usize = $n;
        let whole = n / $crate::tiles::TILE * $crate::tiles::TILE;
        for $start in (0..whole).step_by($crate::tiles::TILE) {
            let $len = $crate::tiles::TILE;
            $body
        }
        if whole < n {
            let ($start, $len) = (whole, n - whole);
            $body
        }
    }};
}
pub(crate) use for_tiles;

/// For each of `n` draws d, the sum Σⱼ `weights[j]` · `lane(j)[d]`, run from −0 in the
/// order of j, handed to `finish(start, sums)` a tile of draws `start..start +
/// sums.len()` at a time. Each tile's sums stay in registers over all of `weights`,
/// rather than being stored and reloaded for every j; the sums are those of the plain
/// loop, to the bit.
// Inlined into every copy of the per-block pipeline (`engine::simd`).
#[inline(always)]
pub fn combine_lanes<'a>(
    n: usize,
    weights: &[f64],
    lane: impl Fn(usize) -> &'a [f64],
    mut finish: impl FnMut(usize, &[f64]),
) {
    for_tiles!(n, |start, len| {
        let mut sums = [-0.0; TILE];
        let sums = &mut sums[..len];
        for (j, w) in weights.iter().enumerate() {
            for (sum, x) in sums.iter_mut().zip(&lane(j)[start..start + len]) {
                *sum += w * x;
            }
        }
        finish(start, sums);
    });
}

/// Rows of weights from which the AVX2 and AVX-512 copies run products two rows at a
/// time ([`combine_lanes_pair`]); fewer rows run one at a time ([`combine_lanes`]).
/// With 120 nodes, pairs took 8% off a run on the AVX2 copy (the shock correlations'
/// 240 rows and the spatial multiplier's 120); with the baseline's 8 and 4 rows they
/// cost 3%; with the 13 cities' 26 rows of shock correlations they were even. (The
/// portable copy never pairs: see `engine::simd`.)
pub const PAIRED_ROWS_FROM: usize = 16;

/// [`combine_lanes`] for two rows of weights at once: for each of `n` draws d, the
/// sums Σⱼ `first[j]` · `lane(j)[d]` and Σⱼ `second[j]` · `lane(j)[d]`, each run from
/// −0 in the order of j, handed to `finish(0, start, sums)` and `finish(1, start,
/// sums)` a tile of draws at a time. The rows may differ in length (the rows of a
/// triangular factor): the terms both have come first, then each row's own. A lane's
/// tile is read once for both rows, so a product with many rows (a K × K matrix, a
/// Cholesky factor) reads its lanes half as often; each row's sums are those of
/// [`combine_lanes`] with that row, to the bit.
// Inlined into every copy of the per-block pipeline (`engine::simd`).
#[inline(always)]
pub fn combine_lanes_pair<'a>(
    n: usize,
    first: &[f64],
    second: &[f64],
    lane: impl Fn(usize) -> &'a [f64],
    mut finish: impl FnMut(usize, usize, &[f64]),
) {
    let shared = first.len().min(second.len());
    let (first_shared, first_own) = first.split_at(shared);
    let (second_shared, second_own) = second.split_at(shared);
    for_tiles!(n, |start, len| {
        let mut sums_first = [-0.0; TILE];
        let mut sums_second = [-0.0; TILE];
        let (sums_first, sums_second) = (&mut sums_first[..len], &mut sums_second[..len]);
        for (j, (w_first, w_second)) in first_shared.iter().zip(second_shared).enumerate() {
            let x = &lane(j)[start..start + len];
            for ((a, b), x) in sums_first.iter_mut().zip(sums_second.iter_mut()).zip(x) {
                *a += w_first * x;
                *b += w_second * x;
            }
        }
        for (sums, own) in [
            (&mut *sums_first, first_own),
            (&mut *sums_second, second_own),
        ] {
            for (j, w) in own.iter().enumerate() {
                for (sum, x) in sums.iter_mut().zip(&lane(shared + j)[start..start + len]) {
                    *sum += w * x;
                }
            }
        }
        finish(0, start, sums_first);
        finish(1, start, sums_second);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tiled sums are the plain loop's, to the bit: whole tiles, a part tile, no
    /// draws at all, zero weights, and −0 where there are no weights.
    #[test]
    fn tiled_lane_sums_are_the_plain_loops() {
        let (k, cap) = (5, 2 * TILE + 7);
        let x: Vec<f64> = (0..k * cap)
            .map(|i| (0.37 * i as f64).sin() * 1e3 / (1.0 + i as f64))
            .collect();
        for weights in [
            vec![0.3, -1.7, 2.9e-3, 11.0, -0.0],
            vec![0.0; 5],
            vec![],
            vec![1e-300, 1e300, -1e300, 3.0, 0.1],
        ] {
            for n in [0, 1, TILE - 1, TILE, TILE + 1, 2 * TILE, cap] {
                let mut tiled = vec![f64::NAN; n];
                combine_lanes(
                    n,
                    &weights,
                    |j| &x[j * cap..],
                    |start, sums| {
                        tiled[start..start + sums.len()].copy_from_slice(sums);
                    },
                );
                for (d, got) in tiled.iter().enumerate() {
                    let mut plain = -0.0;
                    for (j, w) in weights.iter().enumerate() {
                        plain += w * x[j * cap + d];
                    }
                    assert_eq!(got.to_bits(), plain.to_bits(), "n {n}, draw {d}");
                }
            }
        }
    }

    /// Two rows at a time give each row the plain loop's sums, to the bit: rows of
    /// equal length, a longer first or second row (a triangular factor's), an empty
    /// row, whole tiles and a part tile.
    #[test]
    fn paired_rows_are_each_rows_plain_loop() {
        let (k, cap) = (9, 2 * TILE + 5);
        let x: Vec<f64> = (0..k * cap)
            .map(|i| (0.61 * i as f64).cos() * 1e2 / (1.0 + 0.5 * i as f64))
            .collect();
        let row = |len: usize, seed: f64| -> Vec<f64> {
            (0..len).map(|j| (seed * (j + 1) as f64).sin()).collect()
        };
        for (first, second) in [
            (row(9, 0.3), row(9, 1.7)),
            (row(4, 0.9), row(5, -2.1)),
            (row(7, 1.1), row(2, 0.4)),
            (row(0, 1.0), row(6, 0.7)),
            (vec![1e300, -1e300, 3.0], vec![0.0; 3]),
        ] {
            for n in [0, 1, TILE - 1, TILE, TILE + 3, cap] {
                let mut got = [vec![f64::NAN; n], vec![f64::NAN; n]];
                combine_lanes_pair(
                    n,
                    &first,
                    &second,
                    |j| &x[j * cap..],
                    |r, start, sums| {
                        got[r][start..start + sums.len()].copy_from_slice(sums);
                    },
                );
                for (r, weights) in [&first, &second].into_iter().enumerate() {
                    for (d, got) in got[r].iter().enumerate() {
                        let mut plain = -0.0;
                        for (j, w) in weights.iter().enumerate() {
                            plain += w * x[j * cap + d];
                        }
                        assert_eq!(got.to_bits(), plain.to_bits(), "row {r}, n {n}, draw {d}");
                    }
                }
            }
        }
    }
}
