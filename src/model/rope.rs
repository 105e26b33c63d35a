//! Rotary position embedding in the HF layout (`rotate_half`: dimension `i` pairs with `i + d/2`).
//!
//! The cos/sin tables are computed on the host in f64 for the positions a forward pass needs, so
//! positions are never limited by a precomputed table and the same code runs on every device.

use burn::prelude::*;

use super::config::{LlamaConfig, RopeScaling};

/// Inverse frequencies of the rotary embedding, one per pair of dimensions.
#[derive(Debug, Clone)]
pub struct Rope {
    inv_freq: Vec<f64>,
}

impl Rope {
    /// Frequencies as transformers computes them, including `linear` and `llama3` scaling.
    pub fn new(config: &LlamaConfig) -> Self {
        let dim = config.head_dim;
        let base: Vec<f64> = (0..dim / 2)
            .map(|i| 1.0 / config.rope_theta.powf((2 * i) as f64 / dim as f64))
            .collect();
        let inv_freq = match config.rope_scaling {
            RopeScaling::None => base,
            RopeScaling::Linear { factor } => base.into_iter().map(|f| f / factor).collect(),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                let old = original_max_position_embeddings as f64;
                let low_wavelen = old / low_freq_factor;
                let high_wavelen = old / high_freq_factor;
                base.into_iter()
                    .map(|f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / factor
                        } else {
                            let smooth = (old / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    })
                    .collect()
            }
        };
        Self { inv_freq }
    }

    /// Cos and sin tables for positions `start..start + len`, each `(len, head_dim)`.
    pub fn tables(&self, start: usize, len: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
        let half = self.inv_freq.len();
        let dim = 2 * half;
        let mut cos = Vec::with_capacity(len * dim);
        let mut sin = Vec::with_capacity(len * dim);
        for pos in start..start + len {
            // Both halves of a head share the same angles (`torch.cat((freqs, freqs), dim=-1)`).
            for _ in 0..2 {
                for f in &self.inv_freq {
                    let angle = (pos as f64 * f) as f32;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        (
            Tensor::from_data(TensorData::new(cos, [len, dim]), device),
            Tensor::from_data(TensorData::new(sin, [len, dim]), device),
        )
    }
}

/// Rotates `x` of shape `(batch, heads, seq_len, head_dim)` by the tables of [`Rope::tables`].
pub fn apply_rotary(x: Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>) -> Tensor<4> {
    let [_, _, _, dim] = x.dims();
    let half = dim / 2;
    let x1 = x.clone().slice(s![.., .., .., 0..half]);
    let x2 = x.clone().slice(s![.., .., .., half..dim]);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x * cos.clone().unsqueeze::<4>() + rotated * sin.clone().unsqueeze::<4>()
}
