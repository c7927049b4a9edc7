//! Linear layers, in the model's float kind or with int8 weights, and the precision a model is
//! loaded in.

use tch::{Kind, Tensor};

use super::config::Weights;
use super::error::Result;

/// How a loaded model computes: the kind of its activations and float weights, and how the
/// decoder's linear layers (with the vocabulary projection) hold theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Precision {
    pub kind: Kind,
    pub decoder: LinearKind,
}

/// The weights of a linear layer, and so the arithmetic of its product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinearKind {
    /// The model's kind.
    Model,
    /// int8 weights, activations quantized per row at each product (CTranslate2's int8).
    Int8,
}

impl Precision {
    pub const FLOAT32: Precision = Precision { kind: Kind::Float, decoder: LinearKind::Model };
    pub const FLOAT16: Precision = Precision { kind: Kind::Half, decoder: LinearKind::Model };
    pub const BFLOAT16: Precision = Precision { kind: Kind::BFloat16, decoder: LinearKind::Model };
    /// The decoder's linear layers in int8 (its few-row products are bound by reading the
    /// weights), float32 for everything else. Quantizing the encoder's activations too, as
    /// CTranslate2 does, cost base 1.2 WER points on the development set for little speed, and
    /// bfloat16 encoder products were no faster in a whole run (AMD EPYC, AVX512-BF16).
    pub const INT8: Precision = Precision { kind: Kind::Float, decoder: LinearKind::Int8 };

    /// `auto`: float16 on CUDA, float32 elsewhere.
    pub fn auto(device: tch::Device) -> Self {
        if device.is_cuda() {
            Self::FLOAT16
        } else {
            Self::FLOAT32
        }
    }
}

enum Weight {
    /// [out, in] in the model's kind.
    Float(Tensor),
    /// Weights quantized symmetrically per output row: `t` is [in, out] int8 (the transposed
    /// view `_int_mm` takes without a copy), `scale` [out] f32. Each product quantizes its
    /// activations per row the same way, so the product itself runs on int8 (VNNI where the CPU
    /// has it), as CTranslate2's int8 does.
    Int8 { t: Tensor, scale: Tensor },
}

pub(crate) struct Linear {
    weight: Weight,
    bias: Option<Tensor>,
}

/// Rows of `x` ([M, K] f32) quantized symmetrically to int8, with each row's scale ([M, 1]).
fn quantize_rows(x: &Tensor) -> (Tensor, Tensor) {
    let scale = x.abs().amax([1], true).clamp_min(1e-12) / 127.0;
    let q = (x / &scale).round_().to_kind(Kind::Int8);
    (q, scale)
}

impl Linear {
    /// The layer under `prefix`, its weights held as `kind` says.
    pub fn load(w: &Weights, prefix: &str, out_dim: i64, in_dim: i64, kind: LinearKind) -> Result<Self> {
        let weight = Self::weight(kind, w.get(&format!("{prefix}/weight"), &[out_dim, in_dim])?);
        let b = format!("{prefix}/bias");
        let bias = if w.contains(&b) { Some(w.get(&b, &[out_dim])?) } else { None };
        Ok(Self { weight, bias })
    }

    /// A bias-free layer over an already loaded matrix (the vocabulary projection, which may
    /// share the token embedding).
    pub fn from_matrix(matrix: &Tensor, kind: LinearKind) -> Self {
        Self { weight: Self::weight(kind, matrix.shallow_clone()), bias: None }
    }

    fn weight(kind: LinearKind, matrix: Tensor) -> Weight {
        match kind {
            LinearKind::Model => Weight::Float(matrix),
            LinearKind::Int8 => {
                let (q, scale) = quantize_rows(&matrix.to_kind(Kind::Float));
                Weight::Int8 { t: q.tr(), scale: scale.view([-1]) }
            }
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        match &self.weight {
            Weight::Float(weight) => x.linear(weight, self.bias.as_ref()),
            Weight::Int8 { t, scale } => self.forward_int8(x, t, scale),
        }
    }

    /// `forward` for a few rows ([M, in]) against a large matrix (the vocabulary projection).
    ///
    /// In float it is computed as weight x rowsᵀ: with few rows the other order makes BLAS copy
    /// (pack) the whole matrix on every decoding step, and this product, the largest of a step,
    /// then neither streams the matrix once nor uses a second thread.
    pub fn forward_few_rows(&self, rows: &Tensor) -> Tensor {
        match &self.weight {
            Weight::Float(weight) => {
                let y = weight.matmul(&rows.tr()).tr();
                match &self.bias {
                    Some(b) => y + b,
                    None => y,
                }
            }
            Weight::Int8 { t, scale } => self.forward_int8(rows, t, scale),
        }
    }

    /// Int8 layers belong to float32 models only (`Precision::INT8`), so `x` is float32.
    fn forward_int8(&self, x: &Tensor, t: &Tensor, scale: &Tensor) -> Tensor {
        let size = x.size();
        let rows = x.reshape([-1, size[size.len() - 1]]);
        let (q, row_scale) = quantize_rows(&rows);
        let mut y = q.internal_int_mm(t).to_kind(Kind::Float);
        y *= row_scale;
        y *= scale;
        if let Some(b) = &self.bias {
            y += b;
        }
        let mut shape = size[..size.len() - 1].to_vec();
        shape.push(y.size()[1]);
        y.view(shape.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn layer(kind: LinearKind, weight: &Tensor, bias: &Tensor) -> Linear {
        let tensors = HashMap::from([("l/weight".to_string(), weight.copy()), ("l/bias".to_string(), bias.copy())]);
        let w = Weights::new(tensors, "test".into());
        let (out, inp) = weight.size2().unwrap();
        Linear::load(&w, "l", out, inp, kind).unwrap()
    }

    /// int8 products stay within a percent of float32 (CTranslate2's int8 is as close), in
    /// both forms, for batched rows, and in float32 out.
    #[test]
    fn int8_products_follow_float32() {
        tch::manual_seed(7);
        let weight = Tensor::randn([96, 64], (Kind::Float, tch::Device::Cpu)) * 0.05;
        let bias = Tensor::randn([96], (Kind::Float, tch::Device::Cpu));
        let x = Tensor::randn([2, 5, 64], (Kind::Float, tch::Device::Cpu));
        let rel = |a: &Tensor, b: &Tensor| (a - b).norm().double_value(&[]) / b.norm().double_value(&[]);
        let exact = layer(LinearKind::Model, &weight, &bias);
        let rows = x.view([-1, 64]);
        let approx = layer(LinearKind::Int8, &weight, &bias);
        let y = approx.forward(&x);
        assert_eq!((y.size(), y.kind()), (vec![2, 5, 96], Kind::Float));
        let e = rel(&y, &exact.forward(&x));
        assert!(e < 0.01, "relative error {e}");
        let e = rel(&approx.forward_few_rows(&rows), &exact.forward_few_rows(&rows));
        assert!(e < 0.01, "relative error {e}");
    }
}
