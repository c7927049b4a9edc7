//! Clustering of L2-normalised embeddings into speakers.
//!
//! Average-linkage agglomerative clustering (UPGMA) on cosine similarity, built with the
//! nearest-neighbour chain algorithm (O(n²) time and memory). The dendrogram is cut where the
//! average similarity between two clusters falls below a threshold, or at a requested number of
//! clusters. Clusters with fewer members than `min_cluster_size` are not counted as speakers:
//! their windows join the nearest large cluster (as pyannote does). Above `MAX_DIRECT` windows,
//! a spherical k-means first reduces them to `MAX_DIRECT` weighted centroids, so memory stays
//! bounded however long the recording is. [`Clustering::Spectral`] labels the points with
//! `spectral` instead of the dendrogram; the small-cluster rule and the relabelling are shared.

use tch::{Device, Kind, Tensor};
use vocab::Clustering;

use super::spectral;
use crate::tensor::{read_vec, TensorRead};

const MAX_DIRECT: usize = 2000;
/// Spectral clustering diagonalises an m x m matrix: fewer points than average linkage.
const SPECTRAL_MAX_DIRECT: usize = 800;
/// Most speakers spectral clustering looks for when the caller sets no maximum.
const SPECTRAL_MAX_SPEAKERS: usize = 20;

/// How to decide the number of clusters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// Exactly this many (when set).
    pub num: Option<usize>,
    pub min: usize,
    pub max: usize,
    /// Stop merging below this average cosine similarity.
    pub threshold: f32,
    /// Smallest cluster counted as a speaker (in windows).
    pub min_cluster_size: usize,
    pub method: Clustering,
    /// Speakers whose centroids are at least this similar (cosine) become one, down to `min`
    /// (3D-Speaker's `mer_cos`). With it, spectral clustering looks for two speakers or more and
    /// leaves the decision for one to this merge.
    pub merge_similarity: Option<f32>,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Labels `0..k` for `n` embeddings of dimension `dim` (row-major in `emb`).
pub(crate) fn cluster(emb: &[f32], dim: usize, b: &Bounds) -> Result<Vec<usize>, TensorRead> {
    let n = emb.len().checked_div(dim).unwrap_or(0);
    if n == 0 {
        return Ok(Vec::new());
    }
    if n == 1 {
        return Ok(vec![0]);
    }
    // Reduce very long recordings to weighted centroids first.
    let limit = match b.method {
        Clustering::Agglomerative => MAX_DIRECT,
        Clustering::Spectral => SPECTRAL_MAX_DIRECT,
    };
    let (points, weights, member_of) = if n > limit {
        let (c, w, assign) = kmeans(emb, dim, limit, 15)?;
        (c, w, Some(assign))
    } else {
        (emb.to_vec(), vec![1.0f64; n], None)
    };
    let m = weights.len();
    let total: f64 = weights.iter().sum();
    let min_size = (b.min_cluster_size as f64).min(total);
    let (roots, k) = match b.method {
        Clustering::Agglomerative => agglomerative(&points, dim, &weights, b, min_size, n),
        Clustering::Spectral => {
            let min = b.min.max(1);
            let max = if b.max == usize::MAX { SPECTRAL_MAX_SPEAKERS } else { b.max }.max(min);
            // The eigengap between the first two eigenvalues is the graph's connectivity, which
            // says little about a second speaker in a short recording: let the merge decide.
            let lower = if b.merge_similarity.is_some() { min.max(2).min(max) } else { min };
            let labels = spectral::labels(&points, dim, b.num, lower, max)?;
            let k = b.num.unwrap_or_else(|| large_count(&labels, &weights, min_size).clamp(min, max));
            (labels, k)
        }
    };
    let k = k.clamp(1, n);
    // Keep the k largest clusters; their centroids label every window.
    let mut size = vec![0f64; m];
    for (i, &r) in roots.iter().enumerate() {
        size[r] += weights[i];
    }
    let mut order: Vec<usize> = (0..m).filter(|&r| size[r] > 0.0).collect();
    order.sort_by(|&x, &y| size[y].total_cmp(&size[x]));
    order.truncate(k);
    let mut sums = vec![0f32; order.len() * dim];
    for (i, &r) in roots.iter().enumerate() {
        if let Some(c) = order.iter().position(|&o| o == r) {
            for d in 0..dim {
                sums[c * dim + d] += points[i * dim + d] * weights[i] as f32;
            }
        }
    }
    // group[c]: the speaker kept cluster c ends up as.
    let (group, mut centroids) = match (b.merge_similarity, b.num) {
        (Some(t), None) => merge_close(&sums, dim, t, b.min.max(1)),
        _ => ((0..order.len()).collect(), sums),
    };
    for c in centroids.chunks_mut(dim) {
        let norm = dot(c, c).sqrt().max(1e-12);
        c.iter_mut().for_each(|x| *x /= norm);
    }
    let nearest = |x: &[f32]| -> usize {
        let mut best = (0, f32::NEG_INFINITY);
        for (c, cen) in centroids.chunks(dim).enumerate() {
            let s = dot(x, cen);
            if s > best.1 {
                best = (c, s);
            }
        }
        best.0
    };
    Ok(match member_of {
        None => {
            // Windows of kept clusters stay; the others go to the nearest centroid.
            roots
                .iter()
                .enumerate()
                .map(|(i, r)| match order.iter().position(|o| o == r) {
                    Some(c) => group[c],
                    None => nearest(&points[i * dim..(i + 1) * dim]),
                })
                .collect()
        }
        Some(_) => (0..n).map(|i| nearest(&emb[i * dim..(i + 1) * dim])).collect(),
    })
}

/// Merges, most similar pair first, the clusters (rows of `sums`: their members' summed
/// embeddings) whose centroids' cosine similarity is at least `threshold`, while more than `min`
/// remain: `(merged cluster of each input cluster, summed embeddings of the merged clusters)`.
fn merge_close(sums: &[f32], dim: usize, threshold: f32, min: usize) -> (Vec<usize>, Vec<f32>) {
    let k = sums.len() / dim.max(1);
    let mut members: Vec<Vec<usize>> = (0..k).map(|c| vec![c]).collect();
    let mut rows: Vec<Vec<f32>> = sums.chunks(dim.max(1)).map(<[f32]>::to_vec).collect();
    let cosine = |a: &[f32], b: &[f32]| dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt()).max(1e-12);
    while rows.len() > min {
        let mut best = (0, 0, f32::NEG_INFINITY);
        for i in 0..rows.len() {
            for j in i + 1..rows.len() {
                let s = cosine(&rows[i], &rows[j]);
                if s > best.2 {
                    best = (i, j, s);
                }
            }
        }
        if best.2 < threshold {
            break;
        }
        let (i, j) = (best.0, best.1);
        let row = rows.remove(j);
        rows[i].iter_mut().zip(&row).for_each(|(a, b)| *a += b);
        let m = members.remove(j);
        members[i].extend(m);
    }
    let mut group = vec![0; k];
    for (g, m) in members.iter().enumerate() {
        for &c in m {
            group[c] = g;
        }
    }
    (group, rows.concat())
}

/// Clusters holding at least `min_size` of the weight.
fn large_count(roots: &[usize], weights: &[f64], min_size: f64) -> usize {
    let mut size = vec![0f64; weights.len()];
    for (i, &r) in roots.iter().enumerate() {
        size[r] += weights[i];
    }
    size.iter().filter(|&&s| s >= min_size && s > 0.0).count()
}

/// Cluster representatives per point from the average-linkage dendrogram, and the number of
/// speakers: `b.num`, or the clusters above `b.threshold` holding at least `min_size`, bounded
/// (`n`: the embeddings before any reduction).
fn agglomerative(
    points: &[f32],
    dim: usize,
    weights: &[f64],
    b: &Bounds,
    min_size: f64,
    n: usize,
) -> (Vec<usize>, usize) {
    let m = weights.len();
    let mut min_size = min_size;
    let merges = nn_chain(points, dim, weights);
    // Sizes in windows of every cut: cut at c clusters applies the first m - c merges.
    let cut = |clusters: usize| -> Vec<usize> {
        let mut uf: Vec<usize> = (0..m).collect();
        fn find(uf: &mut [usize], mut x: usize) -> usize {
            while uf[x] != x {
                uf[x] = uf[uf[x]];
                x = uf[x];
            }
            x
        }
        for &(a, bb, _) in merges.iter().take(m - clusters.clamp(1, m)) {
            let (ra, rb) = (find(&mut uf, a), find(&mut uf, bb));
            uf[rb] = ra;
        }
        (0..m).map(|i| find(&mut uf, i)).collect()
    };
    // The number of speakers: from the threshold, then bounded.
    let k = match b.num {
        Some(k) => k,
        None => {
            let above = merges.iter().filter(|&&(_, _, s)| s >= b.threshold).count();
            let found = large_count(&cut(m - above), weights, min_size).max(1);
            found.clamp(b.min.max(1), b.max.max(1))
        }
    }
    .clamp(1, n);
    // Cut as coarsely as possible while still giving k large clusters; if no cut does, relax
    // what counts as large.
    let roots = loop {
        match (k..=m).map(&cut).find(|roots| large_count(roots, weights, min_size) >= k) {
            Some(r) => break r,
            None if min_size > 1.0 => min_size = (min_size / 2.0).max(1.0),
            None => break cut(k),
        }
    };
    (roots, k)
}

/// Average-linkage merges `(a, b, similarity)` in the order of decreasing similarity; the merged
/// cluster keeps index `a`.
fn nn_chain(points: &[f32], dim: usize, weights: &[f64]) -> Vec<(usize, usize, f32)> {
    let m = weights.len();
    let mut sim = vec![0f32; m * m];
    for i in 0..m {
        for j in i..m {
            let s = dot(&points[i * dim..(i + 1) * dim], &points[j * dim..(j + 1) * dim]);
            sim[i * m + j] = s;
            sim[j * m + i] = s;
        }
    }
    let mut size = weights.to_vec();
    let mut active = vec![true; m];
    let mut merges = Vec::with_capacity(m.saturating_sub(1));
    let mut chain: Vec<usize> = Vec::new();
    let mut remaining = m;
    while remaining > 1 {
        if chain.is_empty() {
            chain.push((0..m).find(|&i| active[i]).unwrap_or(0));
        }
        let a = *chain.last().unwrap_or(&0);
        let prev = if chain.len() >= 2 { Some(chain[chain.len() - 2]) } else { None };
        // Most similar active neighbour; ties prefer the previous chain element.
        let mut best = usize::MAX;
        let mut best_s = f32::NEG_INFINITY;
        if let Some(p) = prev {
            best = p;
            best_s = sim[a * m + p];
        }
        for j in 0..m {
            if j != a && active[j] && sim[a * m + j] > best_s {
                best = j;
                best_s = sim[a * m + j];
            }
        }
        if Some(best) == prev {
            chain.pop();
            chain.pop();
            let (x, y) = (a.min(best), a.max(best));
            merges.push((x, y, best_s));
            let (sx, sy) = (size[x], size[y]);
            for k in 0..m {
                if active[k] && k != x && k != y {
                    let s = ((sx * sim[x * m + k] as f64 + sy * sim[y * m + k] as f64) / (sx + sy)) as f32;
                    sim[x * m + k] = s;
                    sim[k * m + x] = s;
                }
            }
            size[x] = sx + sy;
            active[y] = false;
            remaining -= 1;
        } else {
            chain.push(best);
        }
    }
    // Reducible linkage: sorting the merges gives the dendrogram (as scipy does).
    merges.sort_by(|p, q| q.2.total_cmp(&p.2));
    // Merges refer to cluster representatives, which sorting keeps consistent: a representative
    // index always names the union of everything merged into it so far.
    merges
}

/// Weighted centroids standing for many embeddings: `(centroids, counts, assignment)`.
type Reduced = (Vec<f32>, Vec<f64>, Vec<usize>);

/// Spherical k-means: `(centroids, counts, assignment)`.
fn kmeans(emb: &[f32], dim: usize, k: usize, iters: usize) -> Result<Reduced, TensorRead> {
    let n = emb.len() / dim;
    let x = Tensor::from_slice(emb).view([n as i64, dim as i64]).to_device(Device::Cpu);
    // Evenly spaced initial centroids (windows are in time order, so this spreads them in time).
    let init: Vec<i64> = (0..k).map(|i| (i * n / k) as i64).collect();
    let mut c = x.index_select(0, &Tensor::from_slice(&init));
    let mut assign = Tensor::zeros([n as i64], (Kind::Int64, Device::Cpu));
    for _ in 0..iters {
        assign = x.matmul(&c.tr()).argmax(1, false);
        let sums = Tensor::zeros([k as i64, dim as i64], (Kind::Float, Device::Cpu)).index_add(0, &assign, &x);
        let counts = Tensor::zeros([k as i64], (Kind::Float, Device::Cpu)).index_add(
            0,
            &assign,
            &Tensor::ones([n as i64], (Kind::Float, Device::Cpu)),
        );
        let empty = counts.eq(0.0).unsqueeze(1);
        let norm = sums.norm_scalaropt_dim(2, [1i64].as_slice(), true).clamp_min(1e-12);
        c = (sums / norm).where_self(&empty.logical_not(), &c);
    }
    let a: Vec<i64> = read_vec(&assign, "k-means assignment")?;
    let mut counts = vec![0f64; k];
    for &i in &a {
        counts[i as usize] += 1.0;
    }
    let cv: Vec<f32> = read_vec(&c.contiguous().view([-1]), "k-means centroids")?;
    // Drop empty centroids (a zero weight has no place in average linkage).
    let mut centroids = Vec::with_capacity(cv.len());
    let mut weights = Vec::with_capacity(k);
    for (i, &w) in counts.iter().enumerate() {
        if w > 0.0 {
            centroids.extend_from_slice(&cv[i * dim..(i + 1) * dim]);
            weights.push(w);
        }
    }
    Ok((centroids, weights, a.into_iter().map(|i| i as usize).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unit vector along axis `a`, tilted towards axis `b` by `t`.
    fn unit(a: usize, b: usize, t: f32) -> Vec<f32> {
        let mut v = vec![0f32; 4];
        v[a] = 1.0;
        v[b] += t;
        let n = dot(&v, &v).sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn close_centroids_merge_down_to_the_minimum() {
        // Clusters 0 and 1 point almost the same way (cosine 0.98); cluster 2 is orthogonal.
        let sums = [unit(0, 1, 0.2), unit(0, 1, 0.0), unit(2, 3, 0.0)].concat();
        let (group, merged) = merge_close(&sums, 4, 0.9, 1);
        assert_eq!(group, [0, 0, 1]);
        assert_eq!(merged.len(), 2 * 4);
        // Nothing is that similar: no merge.
        assert_eq!(merge_close(&sums, 4, 0.99, 1).0, [0, 1, 2]);
        // Never below the minimum number of speakers.
        assert_eq!(merge_close(&sums, 4, -1.0, 2).0.iter().max(), Some(&1));
    }

    #[test]
    fn spectral_with_a_merge_finds_one_speaker_in_one_voice() {
        // Forty windows of one voice (small variations around one direction).
        let emb: Vec<f32> = (0..40).flat_map(|i| unit(0, 1 + i % 3, 0.05 + 0.01 * (i % 5) as f32)).collect();
        let b = Bounds {
            num: None,
            min: 1,
            max: usize::MAX,
            threshold: 0.5,
            min_cluster_size: 3,
            method: Clustering::Spectral,
            merge_similarity: Some(0.8),
        };
        let labels = cluster(&emb, 4, &b).unwrap();
        assert!(labels.iter().all(|&l| l == labels[0]), "{labels:?}");
    }
}
