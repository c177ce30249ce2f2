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

/// Mean Earth radius, km.
const EARTH_RADIUS_KM: f64 = 6371.0;

/// Great-circle distance between two nodes, km (haversine formula).
pub fn great_circle_km(a: &NodeInfo, b: &NodeInfo) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().asin()
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
    let k = dist.nrows();
    let mut w = Array2::<f64>::zeros((k, k));
    for i in 0..k {
        match scheme {
            WeightScheme::InverseDistance { power } => {
                for j in 0..k {
                    if i != j {
                        w[[i, j]] = dist[[i, j]].max(1.0).powf(-power);
                    }
                }
            }
            WeightScheme::Nearest { k: n } => {
                let mut others: Vec<usize> = (0..k).filter(|&j| j != i).collect();
                others.sort_by(|&a, &b| dist[[i, a]].total_cmp(&dist[[i, b]]).then(a.cmp(&b)));
                for &j in others.iter().take(n) {
                    w[[i, j]] = 1.0;
                }
            }
        }
        let total: f64 = w.row(i).sum();
        if total > 0.0 {
            w.row_mut(i).mapv_inplace(|x| x / total);
        }
    }
    w
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
}
