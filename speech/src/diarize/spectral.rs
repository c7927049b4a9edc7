//! Spectral clustering of L2-normalised embeddings, as 3D-Speaker clusters CAM++ embeddings.
//!
//! The cosine affinity matrix keeps, per row, only its strongest entries (p-pruning: at least
//! [`MIN_NEIGHBOURS`], or [`NEIGHBOUR_FRACTION`] of the points), is symmetrised, and the
//! unnormalised graph Laplacian is diagonalised. The number of speakers is where the gap
//! between consecutive smallest eigenvalues is largest (within the caller's bounds), and k-means
//! on the first eigenvectors gives the labels. Unlike a similarity threshold, the eigengap
//! adapts to how close voices are in one recording, which is what makes a strong embedding model
//! usable without tuning a threshold to it.

use tch::{Device, Kind, Tensor};

use crate::tensor::{read_vec, TensorRead};

/// Neighbours each point keeps in the affinity matrix, at least.
const MIN_NEIGHBOURS: usize = 6;
/// ... or this fraction of the points, when more.
const NEIGHBOUR_FRACTION: f64 = 0.022;
const KMEANS_ITERS: usize = 30;

/// A cluster label per point (`n` points of dimension `dim`), from `num` clusters when given,
/// else as many as the eigengap picks within `min..=max`. Labels are below `n`, not necessarily
/// without gaps.
pub(crate) fn labels(
    points: &[f32],
    dim: usize,
    num: Option<usize>,
    min: usize,
    max: usize,
) -> Result<Vec<usize>, TensorRead> {
    let n = points.len() / dim;
    if n <= 2 {
        return Ok(match num {
            Some(k) if k >= n => (0..n).collect(),
            _ => vec![0; n],
        });
    }
    let keep = MIN_NEIGHBOURS.max((NEIGHBOUR_FRACTION * n as f64).ceil() as usize).min(n);
    let x = Tensor::from_slice(points).view([n as i64, dim as i64]).to_kind(Kind::Double).to_device(Device::Cpu);
    let sim = x.matmul(&x.tr());
    // Keep each row's `keep` largest similarities, then symmetrise.
    let (top, idx) = sim.topk(keep as i64, 1, true, false);
    let pruned = sim.zeros_like().scatter(1, &idx, &top);
    let affinity = (&pruned + pruned.tr()) / 2.0;
    let laplacian = Tensor::diag_embed(&affinity.sum_dim_intlist(1, false, Kind::Double), 0, -2, -1) - &affinity;
    let (values, vectors) = laplacian.linalg_eigh("L");
    let values: Vec<f64> = read_vec(&values, "Laplacian eigenvalues")?;
    let upper = max.clamp(1, n - 1);
    let k = match num {
        Some(k) => k.clamp(1, n),
        None => {
            let lower = min.clamp(1, upper);
            (lower..=upper)
                .max_by(|&a, &b| {
                    let gap = |k: usize| values[k] - values[k - 1];
                    gap(a).total_cmp(&gap(b)).then(b.cmp(&a))
                })
                .unwrap_or(1)
        }
    };
    if k == 1 {
        return Ok(vec![0; n]);
    }
    let u = vectors.narrow(1, 0, k as i64).contiguous();
    let u: Vec<f64> = read_vec(&u.view([-1]), "Laplacian eigenvectors")?;
    Ok(kmeans(&u, k, k))
}

/// Euclidean k-means with farthest-point initialisation (deterministic).
fn kmeans(rows: &[f64], dim: usize, k: usize) -> Vec<usize> {
    let n = rows.len() / dim;
    let row = |i: usize| &rows[i * dim..(i + 1) * dim];
    let dist = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>();
    let mut centres: Vec<Vec<f64>> = vec![row(0).to_vec()];
    while centres.len() < k {
        let far = (0..n)
            .max_by(|&a, &b| {
                let d = |i: usize| centres.iter().map(|c| dist(row(i), c)).fold(f64::INFINITY, f64::min);
                d(a).total_cmp(&d(b))
            })
            .unwrap_or(0);
        centres.push(row(far).to_vec());
    }
    let mut assign = vec![0usize; n];
    for _ in 0..KMEANS_ITERS {
        let mut changed = false;
        for (i, a) in assign.iter_mut().enumerate() {
            let best =
                (0..k).min_by(|&p, &q| dist(row(i), &centres[p]).total_cmp(&dist(row(i), &centres[q]))).unwrap_or(0);
            changed |= best != *a;
            *a = best;
        }
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<usize> = (0..n).filter(|&i| assign[i] == c).collect();
            if !members.is_empty() {
                for (d, v) in centre.iter_mut().enumerate() {
                    *v = members.iter().map(|&i| row(i)[d]).sum::<f64>() / members.len() as f64;
                }
            }
        }
        if !changed {
            break;
        }
    }
    assign
}
