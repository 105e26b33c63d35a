//! Optimisers with their state kept by parameter name, so that it saves to plain safetensors
//! and resumes in another process: AdamW exactly as `torch.optim.AdamW` computes it (decoupled
//! weight decay, bias-corrected moments, `eps` added after the square root), and plain SGD.
//! Also the global-norm gradient clipping of `torch.nn.utils.clip_grad_norm_`.

use std::collections::{BTreeMap, HashMap};

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::adamw::{AdamWScalars, adamw_update};
use super::params::NamedParam;

/// AdamW hyper-parameters (the learning rate comes from the schedule at each step).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Also decay norm gains, biases, the embedding and the head (PyTorch's default does).
    pub decay_norms_and_embeddings: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
            decay_norms_and_embeddings: true,
        }
    }
}

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerConfig {
    AdamW(AdamWConfig),
    Sgd,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::AdamW(AdamWConfig::default())
    }
}

/// First and second moments of one parameter, flattened.
#[derive(Debug, Clone)]
struct Moments {
    m: Tensor<1>,
    v: Tensor<1>,
}

/// An optimiser and its state.
#[derive(Debug, Clone)]
pub struct Optimizer {
    pub config: OptimizerConfig,
    /// Updates applied so far.
    pub steps: u64,
    moments: BTreeMap<String, Moments>,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig) -> Self {
        Self {
            config,
            steps: 0,
            moments: BTreeMap::new(),
        }
    }

    /// Applies one update with learning rate `lr` to the parameters that have a gradient.
    pub fn step<M: Module>(
        &mut self,
        model: M,
        grads: &GradientsParams,
        params: &[NamedParam],
        lr: f64,
    ) -> M {
        self.steps += 1;
        let by_id = params.iter().map(|p| (p.id, p)).collect();
        let mut mapper = Update {
            optimizer: self,
            grads,
            by_id,
            lr,
        };
        model.map(&mut mapper)
    }

    /// The state as named flat tensors (`exp_avg.NAME`, `exp_avg_sq.NAME`), for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, Tensor<1>)> {
        let mut out = Vec::with_capacity(self.moments.len() * 2);
        for (name, moments) in &self.moments {
            out.push((format!("exp_avg.{name}"), moments.m.clone()));
            out.push((format!("exp_avg_sq.{name}"), moments.v.clone()));
        }
        out
    }

    /// Restores the state written by [`Optimizer::state_tensors`].
    pub fn load_state(&mut self, steps: u64, tensors: Vec<(String, Tensor<1>)>) {
        self.steps = steps;
        self.moments.clear();
        let mut first = BTreeMap::new();
        let mut second = BTreeMap::new();
        for (key, t) in tensors {
            if let Some(name) = key.strip_prefix("exp_avg.") {
                first.insert(name.to_string(), t);
            } else if let Some(name) = key.strip_prefix("exp_avg_sq.") {
                second.insert(name.to_string(), t);
            }
        }
        for (name, m) in first {
            if let Some(v) = second.remove(&name) {
                self.moments.insert(name, Moments { m, v });
            }
        }
    }

    fn update(&mut self, p: &NamedParam, param: Tensor<1>, grad: Tensor<1>, lr: f64) -> Tensor<1> {
        match self.config {
            OptimizerConfig::Sgd => param - grad.mul_scalar(lr),
            OptimizerConfig::AdamW(c) => {
                let decay =
                    if c.decay_norms_and_embeddings || !(p.is_norm_or_bias || p.is_embedding) {
                        c.weight_decay
                    } else {
                        0.0
                    };
                let t = self.steps as i32;
                let scalars = AdamWScalars {
                    keep: 1.0 - lr * decay,
                    beta1: c.beta1,
                    beta2: c.beta2,
                    bias2_sqrt: (1.0 - c.beta2.powi(t)).sqrt(),
                    eps: c.eps,
                    step: lr / (1.0 - c.beta1.powi(t)),
                };
                let moments = self.moments.remove(&p.name).map(|m| (m.m, m.v));
                let (updated, m, v) = adamw_update(param, grad, moments, scalars);
                self.moments.insert(p.name.clone(), Moments { m, v });
                updated
            }
        }
    }
}

struct Update<'a> {
    optimizer: &'a mut Optimizer,
    grads: &'a GradientsParams,
    by_id: HashMap<ParamId, &'a NamedParam>,
    lr: f64,
}

impl ModuleMapper for Update<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(named) = self.by_id.get(&param.id).copied() else {
            return param;
        };
        let Some(grad) = self.grads.get::<D>(param.id) else {
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        let require_grad = tensor.is_require_grad();
        let shape = tensor.dims();
        let flat = tensor.inner().reshape([named.numel]);
        let grad = grad.reshape([named.numel]);
        let updated = self
            .optimizer
            .update(named, flat, grad, self.lr)
            .reshape(shape);
        let mut updated = Tensor::from_inner(updated);
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// The L2 norm of each parameter's gradient, by name (`None` where a parameter has none).
pub fn grad_norms(grads: &GradientsParams, params: &[NamedParam]) -> Vec<(String, Option<f64>)> {
    params
        .iter()
        .map(|p| {
            let norm = squared_norm(grads, p).map(|s| s.into_scalar::<f32>() as f64);
            (p.name.clone(), norm.map(f64::sqrt))
        })
        .collect()
}

/// The gradient of `p`, flattened.
pub fn flat_grad(grads: &GradientsParams, p: &NamedParam) -> Option<Tensor<1>> {
    match p.rank {
        1 => grads.get::<1>(p.id),
        2 => grads.get::<2>(p.id).map(|g| g.reshape([p.numel])),
        _ => None,
    }
}

fn squared_norm(grads: &GradientsParams, p: &NamedParam) -> Option<Tensor<1>> {
    flat_grad(grads, p).map(sum_of_squares)
}

/// Elements summed in one row of [`sum_of_squares`].
const ROW: usize = 16_384;

/// The sum of the squares of `values`, row by row and then over the rows, so that no reduction
/// runs over more than a few thousand steps: Burn's reduction on wgpu can give one invocation a
/// whole axis, and Debian 12's Mesa 22 (llvmpipe) stops every shader loop after 65,535
/// iterations, which cut a flat sum of an embedding's gradient to a quarter of its value.
pub fn sum_of_squares(values: Tensor<1>) -> Tensor<1> {
    let [n] = values.dims();
    let rows = n / ROW;
    if rows < 2 {
        return values.square().sum();
    }
    let head = values
        .clone()
        .slice(0..rows * ROW)
        .reshape([rows, ROW])
        .square()
        .sum_dim(1)
        .reshape([rows])
        .sum();
    match rows * ROW == n {
        true => head,
        false => head + values.slice(rows * ROW..n).square().sum(),
    }
}

/// Multiplies the gradient of `p` by `factor` in place.
pub fn scale_grad(grads: &mut GradientsParams, p: &NamedParam, factor: f64) {
    match p.rank {
        1 => {
            if let Some(g) = grads.remove::<1>(p.id) {
                grads.register(p.id, g.mul_scalar(factor));
            }
        }
        2 => {
            if let Some(g) = grads.remove::<2>(p.id) {
                grads.register(p.id, g.mul_scalar(factor));
            }
        }
        _ => {}
    }
}

/// The global L2 norm of all gradients; where it exceeds `max_norm`, every gradient is scaled
/// by `max_norm / (norm + 1e-6)` as `torch.nn.utils.clip_grad_norm_` does. Returns the norm
/// before clipping.
pub fn clip_global_norm(
    grads: &mut GradientsParams,
    params: &[NamedParam],
    max_norm: Option<f64>,
) -> f64 {
    let squares: Vec<Tensor<1>> = params
        .iter()
        .filter_map(|p| squared_norm(grads, p))
        .collect();
    if squares.is_empty() {
        return 0.0;
    }
    let total = Tensor::cat(squares, 0).sum().into_scalar::<f32>() as f64;
    let norm = total.sqrt();
    if let Some(max) = max_norm
        && norm.is_finite()
        && norm > max
    {
        let scale = max / (norm + 1e-6);
        for p in params {
            scale_grad(grads, p, scale);
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_of_squares_by_rows_equal_the_flat_sum() {
        let device = Device::flex();
        for n in [7, ROW, 2 * ROW, 3 * ROW + 5] {
            let values: Vec<f32> = (0..n).map(|i| ((i % 7) as f32 - 3.0) * 0.5).collect();
            let expected: f64 = values.iter().map(|&v| (v as f64) * (v as f64)).sum();
            let t = Tensor::<1>::from_data(TensorData::new(values, [n]), &device);
            let got = sum_of_squares(t).into_scalar::<f32>() as f64;
            assert_eq!(got, expected, "n = {n}");
        }
    }
}
