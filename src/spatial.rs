//! Distances between nodes, the spatial weight matrix W and the multiplier
//! M = (I − ρW)⁻¹.
//!
//! Rationale: growth deviations spread between cities through M; its diagonal holds the
//! direct effects and its off-diagonal columns the spillovers an impulse in one node
//! sends to the others. W is built from coordinates alone, so a new city needs only a
//! row in the node file.

use nalgebra::DMatrix;
use ndarray::Array2;

use crate::data::NodeInfo;
use crate::error::{Error, Result};
use crate::scenario::WeightScheme;
use crate::tiles::{combine_lanes, combine_lanes_pair};

/// Mean Earth radius, km.
const EARTH_RADIUS_KM: f64 = 6371.0;

/// Great-circle distance between two nodes, km (haversine formula).
pub fn great_circle_km(a: &NodeInfo, b: &NodeInfo) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = libm::sin(dlat / 2.0).powi(2)
        + libm::cos(la1) * libm::cos(la2) * libm::sin(dlon / 2.0).powi(2);
    2.0 * EARTH_RADIUS_KM * libm::asin(h.sqrt())
}

/// Matrix of great-circle distances, km, with zero diagonal.
pub fn distance_matrix(nodes: &[NodeInfo]) -> Array2<f64> {
    let k = nodes.len();
    Array2::from_shape_fn((k, k), |(i, j)| {
        if i == j {
            0.0
        } else {
            great_circle_km(&nodes[i], &nodes[j])
        }
    })
}

/// Row-standardized spatial weights from distances (zero diagonal). A node with no
/// neighbour (a single-node scenario) has a zero row.
///
/// Coincident nodes (distance 0) under inverse distance are rejected by the caller's
/// validation in practice; here they get weight from a 1 km floor so W stays finite.
pub fn weight_matrix(dist: &Array2<f64>, scheme: WeightScheme) -> Array2<f64> {
    let (mut w, totals) = raw_weights(dist, scheme);
    for (i, total) in totals.iter().enumerate() {
        if *total > 0.0 {
            w.row_mut(i).mapv_inplace(|x| x / total);
        }
    }
    w
}

/// The weights before row standardization, A, and their row totals: W = D⁻¹A with
/// D = diag(totals).
fn raw_weights(dist: &Array2<f64>, scheme: WeightScheme) -> (Array2<f64>, Vec<f64>) {
    let k = dist.nrows();
    let mut a = Array2::<f64>::zeros((k, k));
    for i in 0..k {
        match scheme {
            WeightScheme::InverseDistance { power } => {
                for j in 0..k {
                    if i != j {
                        a[[i, j]] = libm::pow(dist[[i, j]].max(1.0), -power);
                    }
                }
            }
            WeightScheme::Nearest { k: n } => {
                let mut others: Vec<usize> = (0..k).filter(|&j| j != i).collect();
                others.sort_by(|&x, &y| dist[[i, x]].total_cmp(&dist[[i, y]]).then(x.cmp(&y)));
                for &j in others.iter().take(n) {
                    a[[i, j]] = 1.0;
                }
            }
        }
    }
    let totals = a.rows().into_iter().map(|r| r.sum()).collect();
    (a, totals)
}

/// `out = m x` for each of `n` draws stored lane by lane (entry `i` of draw `d` at
/// `[i * cap + d]`), with a row-major K×K `m` shared by all draws (K = `out.len() /
/// cap`). Each sum runs from −0 in column order, as `Iterator::sum` does, so a draw
/// gets the same bits as a scalar product gives it alone. With `paired_from` rows or
/// more, rows run two at a time, each lane's tile read once for both (the same sums).
// Inlined into every copy of the per-block pipeline (`engine::simd`).
#[inline(always)]
pub fn mat_vec_lanes(
    m: &[f64],
    x: &[f64],
    out: &mut [f64],
    cap: usize,
    n: usize,
    paired_from: usize,
) {
    let k = out.len() / cap;
    let row = |i: usize| &m[i * k..(i + 1) * k];
    // Two rows at a time from `paired_from` rows on, each lane's tile read once for
    // both; the other rows (all of them below, the last of an odd K above) one at a time.
    let paired = if k < paired_from { 0 } else { k / 2 };
    let (pairs, singles) = out.split_at_mut(2 * paired * cap);
    for (p, pair) in pairs.chunks_exact_mut(2 * cap).enumerate() {
        let (first, second) = pair.split_at_mut(cap);
        combine_lanes_pair(
            n,
            row(2 * p),
            row(2 * p + 1),
            |j| &x[j * cap..],
            |r, start, sums| {
                let o = if r == 0 { &mut *first } else { &mut *second };
                o[start..start + sums.len()].copy_from_slice(sums);
            },
        );
    }
    for (i, o) in singles.chunks_mut(cap).enumerate() {
        combine_lanes(
            n,
            row(2 * paired + i),
            |j| &x[j * cap..],
            |start, sums| {
                o[start..start + sums.len()].copy_from_slice(sums);
            },
        );
    }
}

/// The multiplier M(ρ) = (I − ρW)⁻¹ in factored form, for applying it at many ρ.
///
/// Where W = D⁻¹A with A symmetric (inverse-distance weights on symmetric distances),
/// W is similar to the symmetric S = D^(−½) A D^(−½) = Q Λ Qᵀ, so
/// M(ρ) = D^(−½) Q diag(1/(1 − ρλ)) Qᵀ D^(½). One eigendecomposition serves every ρ:
/// applying M(ρ) to a vector costs 2K² + K operations and no K³ inverse per draw.
#[derive(Debug, Clone)]
pub struct SpectralMultiplier {
    k: usize,
    /// D^(−½) Q, row-major K×K.
    left: Vec<f64>,
    /// Qᵀ D^(½), row-major K×K.
    right: Vec<f64>,
    /// Eigenvalues λ of W (real, in [−1, 1]).
    lambda: Vec<f64>,
}

impl SpectralMultiplier {
    /// The factored multiplier of the weights built from `dist` by `scheme`, if their
    /// raw form is symmetric (always for inverse distance on symmetric distances;
    /// rarely for nearest neighbours). `None` means: invert per ρ instead.
    pub fn new(dist: &Array2<f64>, scheme: WeightScheme) -> Option<SpectralMultiplier> {
        let (a, totals) = raw_weights(dist, scheme);
        let k = a.nrows();
        if a != a.t() {
            return None;
        }
        // An isolated node (zero row and column) takes any positive scale.
        let d: Vec<f64> = totals
            .iter()
            .map(|t| if *t > 0.0 { *t } else { 1.0 })
            .collect();
        let sym = DMatrix::from_fn(k, k, |i, j| a[[i, j]] / (d[i] * d[j]).sqrt());
        let eig = sym.symmetric_eigen();
        let q = &eig.eigenvectors;
        let left = (0..k * k)
            .map(|x| q[(x / k, x % k)] / d[x / k].sqrt())
            .collect();
        let right = (0..k * k)
            .map(|x| q[(x % k, x / k)] * d[x % k].sqrt())
            .collect();
        Some(SpectralMultiplier {
            k,
            left,
            right,
            lambda: eig.eigenvalues.iter().copied().collect(),
        })
    }

    /// Writes 1/(1 − ρλᵢ) into `scales` (length K). Fails where I − ρW is singular.
    pub fn scales(&self, rho: f64, scales: &mut [f64]) -> Result<()> {
        for (s, l) in scales.iter_mut().zip(&self.lambda) {
            let denom = 1.0 - rho * l;
            if denom.abs() < 1e-12 {
                return Err(Error::Numerical(format!("I − ρW is singular at ρ = {rho}")));
            }
            *s = 1.0 / denom;
        }
        Ok(())
    }

    /// `out = M(ρ) x`, with `scales` from [`SpectralMultiplier::scales`] and `tmp` of
    /// length K as scratch.
    pub fn apply(&self, scales: &[f64], x: &[f64], tmp: &mut [f64], out: &mut [f64]) {
        let k = self.k;
        for (i, (t, s)) in tmp.iter_mut().zip(scales).enumerate() {
            let row = &self.right[i * k..(i + 1) * k];
            *t = s * row.iter().zip(x).map(|(r, x)| r * x).sum::<f64>();
        }
        for (i, o) in out.iter_mut().enumerate() {
            let row = &self.left[i * k..(i + 1) * k];
            *o = row.iter().zip(tmp.iter()).map(|(l, t)| l * t).sum();
        }
    }

    /// [`SpectralMultiplier::apply`] for `n` draws at once, each quantity stored lane by
    /// lane (entry `i` of draw `d` at `[i * cap + d]`, `d < n ≤ cap`), each draw with its
    /// own `scales`: every draw gets the same bits as `apply` gives it alone, in loops
    /// over draws that the compiler vectorizes (`paired_from`: see [`mat_vec_lanes`]).
    // Inlined into every copy of the per-block pipeline (`engine::simd`).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)] // the lanes' layout, as `mat_vec_lanes` takes it
    pub fn apply_lanes(
        &self,
        scales: &[f64],
        x: &[f64],
        tmp: &mut [f64],
        out: &mut [f64],
        cap: usize,
        n: usize,
        paired_from: usize,
    ) {
        mat_vec_lanes(&self.right, x, tmp, cap, n, paired_from);
        for (t, s) in tmp.chunks_mut(cap).zip(scales.chunks(cap)) {
            for (t, s) in t[..n].iter_mut().zip(&s[..n]) {
                *t *= s;
            }
        }
        mat_vec_lanes(&self.left, tmp, out, cap, n, paired_from);
    }

    /// M(ρ) as a matrix (for checks; the engine applies it without forming it).
    pub fn matrix(&self, rho: f64) -> Result<Array2<f64>> {
        let k = self.k;
        let mut scales = vec![0.0; k];
        self.scales(rho, &mut scales)?;
        let mut m = Array2::zeros((k, k));
        let (mut x, mut tmp, mut col) = (vec![0.0; k], vec![0.0; k], vec![0.0; k]);
        for j in 0..k {
            x.iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = f64::from(i == j));
            self.apply(&scales, &x, &mut tmp, &mut col);
            m.column_mut(j)
                .iter_mut()
                .zip(&col)
                .for_each(|(m, c)| *m = *c);
        }
        Ok(m)
    }
}

/// The spatial multiplier M = (I − ρW)⁻¹.
///
/// Contract: `w` is square; for row-standardized W and |ρ| < 1 the inverse exists.
/// Returns [`Error::Numerical`] if it does not.
pub fn multiplier(w: &Array2<f64>, rho: f64) -> Result<Array2<f64>> {
    let k = w.nrows();
    let a = DMatrix::from_fn(k, k, |i, j| f64::from(i == j) - rho * w[[i, j]]);
    let inv = a
        .try_inverse()
        .ok_or_else(|| Error::Numerical(format!("I − ρW is singular at ρ = {rho}")))?;
    Ok(Array2::from_shape_fn((k, k), |(i, j)| inv[(i, j)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiles::PAIRED_ROWS_FROM;

    fn node(name: &str, lon: f64, lat: f64) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            name_zh: String::new(),
            lon,
            lat,
            source: String::new(),
        }
    }

    #[test]
    fn changsha_xiangtan_distance_is_about_44_km() {
        let d = great_circle_km(&node("C", 112.93, 28.23), &node("X", 112.93, 27.83));
        // 0.4° of latitude ≈ 44.5 km.
        assert!((d - 44.48).abs() < 0.1, "{d}");
    }

    #[test]
    fn rows_sum_to_one_and_multiplier_rows_to_one_over_one_minus_rho() {
        let nodes = vec![
            node("A", 112.0, 28.0),
            node("B", 113.0, 28.0),
            node("C", 112.5, 27.0),
        ];
        let d = distance_matrix(&nodes);
        for scheme in [
            WeightScheme::InverseDistance { power: 1.5 },
            WeightScheme::Nearest { k: 1 },
        ] {
            let w = weight_matrix(&d, scheme);
            for i in 0..3 {
                assert!((w.row(i).sum() - 1.0).abs() < 1e-12);
                assert_eq!(w[[i, i]], 0.0);
            }
            let m = multiplier(&w, 0.3).unwrap();
            for i in 0..3 {
                assert!((m.row(i).sum() - 1.0 / 0.7).abs() < 1e-12);
            }
        }
        let w = weight_matrix(&d, WeightScheme::InverseDistance { power: 1.0 });
        let m0 = multiplier(&w, 0.0).unwrap();
        assert_eq!(m0, Array2::<f64>::eye(3));
    }

    #[test]
    fn spectral_form_equals_the_inverse() {
        let nodes: Vec<NodeInfo> = (0..7)
            .map(|i| {
                let x = f64::from(i);
                node("N", 111.0 + 0.37 * x, 26.0 + (0.9 * x).sin())
            })
            .collect();
        let d = distance_matrix(&nodes);
        let scheme = WeightScheme::InverseDistance { power: 1.3 };
        let w = weight_matrix(&d, scheme);
        let spectral = SpectralMultiplier::new(&d, scheme).expect("inverse distance is symmetric");
        for rho in [-0.6, 0.0, 0.25, 0.9] {
            let exact = multiplier(&w, rho).unwrap();
            let factored = spectral.matrix(rho).unwrap();
            let worst = (&exact - &factored)
                .iter()
                .fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(worst < 1e-12, "rho {rho}: {worst}");
        }
        // Nearest neighbours are not symmetric here: no factored form.
        assert!(SpectralMultiplier::new(&d, WeightScheme::Nearest { k: 1 }).is_none());
    }

    /// A matrix applied to many draws' lanes gives each draw the sums of its own scalar
    /// product, to the bit, whether its rows run one at a time (K below the vector
    /// copies' [`PAIRED_ROWS_FROM`], or never paired) or two at a time, with a row left
    /// over (K odd) or not.
    #[test]
    fn lane_products_are_each_draws_own() {
        for (k, paired_from) in [
            (3, PAIRED_ROWS_FROM),
            (PAIRED_ROWS_FROM - 1, PAIRED_ROWS_FROM),
            (PAIRED_ROWS_FROM, PAIRED_ROWS_FROM),
            (17, PAIRED_ROWS_FROM),
            (40, PAIRED_ROWS_FROM),
            (40, usize::MAX),
        ] {
            let cap = 37;
            let m: Vec<f64> = (0..k * k).map(|i| (0.37 * i as f64).sin()).collect();
            let x: Vec<f64> = (0..k * cap)
                .map(|i| (1.3 * i as f64).cos() * 1e3 / (1.0 + i as f64))
                .collect();
            for n in [1, 16, 33, cap] {
                let mut out = vec![f64::NAN; k * cap];
                mat_vec_lanes(&m, &x, &mut out, cap, n, paired_from);
                for i in 0..k {
                    for d in 0..n {
                        let own: f64 = (0..k).map(|j| m[i * k + j] * x[j * cap + d]).sum();
                        let got = out[i * cap + d];
                        assert_eq!(
                            got.to_bits(),
                            own.to_bits(),
                            "k {k}, n {n}, row {i}, draw {d}"
                        );
                    }
                }
            }
        }
    }
}
