//! Cross-entropy of logits against target ids as one differentiable operation.
//!
//! Written as `log_softmax` then `gather`, the loss makes several full passes over the
//! `(tokens, vocab)` logits each way, and each pass is as large as the LM head's output: at a
//! 32,000-token vocabulary that is most of a small model's training step on the CPU. Here the
//! forward pass reads each row once (running maximum and sum of exponentials, then the target's
//! logit) and the backward pass writes `softmax(row) - one_hot(target)` scaled by the row's
//! gradient in one more pass, as PyTorch's fused `cross_entropy` kernels do.
//!
//! The CPU backend has its own kernel (with [`crate::model::rows`]); CubeCL devices (wgpu, the browser's WebGPU)
//! have one kernel each way ([`kernels`], in `shaders/`), one work group per row; other dtypes
//! compose Burn's tensor operations. Autodiff records the operation with its own backward step.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, AutodiffBackend, Backend, DType, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;

#[path = "../../shaders/cross_entropy.rs"]
mod kernels;

/// Backends that compute the cross-entropy of `(rows, vocab)` logits against `(rows)` targets.
#[backend_extension(Flex, Cube, Fusion: cfg(feature = "native"), Autodiff)]
pub trait CrossEntropyBackend: Backend {
    /// `logsumexp(logits[r]) - logits[r, targets[r]]` for every row `r`: `(rows)`.
    #[fusion(dtype = logits, shape = targets)]
    fn cross_entropy(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
        composed_forward::<Self>(logits, targets)
    }

    /// The gradient of the logits given the gradient of each row's loss `grad` `(rows)`:
    /// `(softmax(logits[r]) - one_hot(targets[r])) * grad[r]`.
    #[fusion(dtype = logits, shape = logits)]
    fn cross_entropy_backward(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        composed_backward::<Self>(logits, targets, grad)
    }
}

/// The forward step from Burn's operations: log-sum-exp, then the target's logit gathered.
fn composed_forward<B: Backend>(logits: FloatTensor<B>, targets: IntTensor<B>) -> FloatTensor<B> {
    let [n, _] = dims2::<B>(&logits);
    let lse = log_sum_exp::<B>(logits.clone());
    let targets = B::int_reshape(targets, [n, 1].into());
    let picked = B::float_gather(1, logits, targets);
    B::float_reshape(B::float_sub(lse, picked), [n].into())
}

/// The backward step from Burn's operations: the softmax scaled, the target's share scattered.
fn composed_backward<B: Backend>(
    logits: FloatTensor<B>,
    targets: IntTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let [n, _] = dims2::<B>(&logits);
    let lse = log_sum_exp::<B>(logits.clone());
    let softmax = B::float_exp(B::float_sub(logits, lse));
    let grad = B::float_reshape(grad, [n, 1].into());
    let scaled = B::float_mul(softmax, grad.clone());
    let targets = B::int_reshape(targets, [n, 1].into());
    B::float_scatter(
        1,
        scaled,
        targets,
        B::float_neg(grad),
        IndexingUpdateOp::Add,
    )
}

fn dims2<B: Backend>(t: &FloatTensor<B>) -> [usize; 2] {
    use burn::backend::TensorMetadata;
    let shape = t.shape();
    assert_eq!(
        shape.num_dims(),
        2,
        "cross-entropy takes (rows, vocab) logits"
    );
    [shape[0], shape[1]]
}

/// `(rows, 1)`: the log of each row's sum of exponentials, shifted by the row maximum.
fn log_sum_exp<B: Backend>(logits: FloatTensor<B>) -> FloatTensor<B> {
    let max = B::float_max_dim(logits.clone(), 1);
    let shifted = B::float_sub(logits, max.clone());
    let sum = B::float_sum_dim(B::float_exp(shifted), 1);
    B::float_add(B::float_log(sum), max)
}

impl CrossEntropyBackend for burn::backend::wgpu::CubeBackend {
    fn cross_entropy(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
        if cube::takes(&logits, &targets) {
            cube::forward(logits, targets)
        } else {
            composed_forward::<Self>(logits, targets)
        }
    }

    fn cross_entropy_backward(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        if cube::takes(&logits, &targets) && grad.dtype() == DType::F32 {
            cube::backward(logits, targets, grad)
        } else {
            composed_backward::<Self>(logits, targets, grad)
        }
    }
}

/// The kernels on the CubeCL backend: one cube per row.
mod cube {
    use super::kernels::{cross_entropy_backward, cross_entropy_forward};
    use crate::model::row_grid::row_grid;
    use burn::backend::wgpu::CubeTensor;
    use burn::backend::{DType, Shape, TensorMetadata};
    use burn_cubecl::kernel::into_contiguous;
    use burn_cubecl::ops::numeric::empty_device_dtype;
    use cubecl::ir::{FloatKind, IntKind};
    use cubecl::prelude::*;

    /// f32 logits and i32 or i64 targets: what the kernels take.
    pub fn takes(logits: &CubeTensor, targets: &CubeTensor) -> bool {
        logits.dtype() == DType::F32 && int_type(targets.dtype()).is_some()
    }

    fn int_type(dtype: DType) -> Option<ElemType> {
        match dtype {
            DType::I32 => Some(ElemType::Int(IntKind::I32)),
            DType::I64 => Some(ElemType::Int(IntKind::I64)),
            _ => None,
        }
    }

    fn types(targets: &CubeTensor) -> [ElemType; 2] {
        [
            ElemType::Float(FloatKind::F32),
            int_type(targets.dtype()).unwrap_or(ElemType::Int(IntKind::I64)),
        ]
    }

    pub fn forward(logits: CubeTensor, targets: CubeTensor) -> CubeTensor {
        let [rows, width] = logits.shape().dims::<2>();
        let logits = into_contiguous(logits);
        let targets = into_contiguous(targets);
        let loss = empty_device_dtype(
            logits.client.clone(),
            logits.device.clone(),
            Shape::new([rows]),
            DType::F32,
        );
        if rows == 0 || width == 0 {
            return loss;
        }
        let (threads, cube_dim, cube_count) = row_grid(&logits, rows, width);
        let dtypes = types(&targets);
        cross_entropy_forward::launch(
            &logits.client.clone(),
            cube_count,
            cube_dim,
            logits.into_tensor_arg(),
            targets.into_tensor_arg(),
            loss.clone().into_tensor_arg(),
            rows as u32,
            width as u32,
            threads,
            dtypes,
        );
        loss
    }

    pub fn backward(logits: CubeTensor, targets: CubeTensor, grad: CubeTensor) -> CubeTensor {
        let [rows, width] = logits.shape().dims::<2>();
        let logits = into_contiguous(logits);
        let targets = into_contiguous(targets);
        let grad = into_contiguous(grad);
        let dlogits = empty_device_dtype(
            logits.client.clone(),
            logits.device.clone(),
            logits.shape(),
            DType::F32,
        );
        if rows == 0 || width == 0 {
            return dlogits;
        }
        let (threads, cube_dim, cube_count) = row_grid(&logits, rows, width);
        let dtypes = types(&targets);
        cross_entropy_backward::launch(
            &logits.client.clone(),
            cube_count,
            cube_dim,
            logits.into_tensor_arg(),
            targets.into_tensor_arg(),
            grad.into_tensor_arg(),
            dlogits.clone().into_tensor_arg(),
            rows as u32,
            width as u32,
            threads,
            dtypes,
        );
        dlogits
    }
}

impl CrossEntropyBackend for burn::backend::Flex {
    fn cross_entropy(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
        flex::forward(logits, targets)
    }

    fn cross_entropy_backward(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        flex::backward(logits, targets, grad)
    }
}

impl<B: CrossEntropyBackend, C: CheckpointStrategy> CrossEntropyBackend for Autodiff<B, C> {
    fn cross_entropy(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct CrossEntropy;

        impl<B: CrossEntropyBackend> Backward<B, 1> for CrossEntropy {
            type State = (FloatTensor<B>, IntTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (logits, targets) = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::cross_entropy_backward(logits, targets, grad)
                });
            }
        }

        let (primitive, node) = logits.into_parts();
        match CrossEntropy.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = B::cross_entropy(primitive.clone(), targets.clone());
                prep.finish((primitive, targets), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::cross_entropy(primitive, targets)),
        }
    }

    fn cross_entropy_backward(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        // A gradient is not differentiated again: computed on the inner backend, untracked.
        let out = B::cross_entropy_backward(Self::inner(logits), targets, Self::inner(grad));
        Self::from_inner(out)
    }
}

/// Per-row negative log-likelihood of `targets` under `logits` `(rows, vocab)`: `(rows)`,
/// differentiable with respect to the logits.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    use burn::backend::Dispatch;
    let out = <Dispatch as CrossEntropyBackend>::cross_entropy(
        logits.into_dispatch(),
        targets.into_dispatch(),
    );
    Tensor::from_dispatch(out)
}

/// The gradient of `sum(cross_entropy(logits, targets) * grad)` with respect to the logits:
/// `(softmax(logits[r]) - one_hot(targets[r])) * grad[r]`, `(rows, vocab)`, not differentiated
/// further.
pub fn cross_entropy_grad(
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    grad: Tensor<1>,
) -> Tensor<2> {
    use burn::backend::Dispatch;
    let out = <Dispatch as CrossEntropyBackend>::cross_entropy_backward(
        logits.into_dispatch(),
        targets.into_dispatch(),
        grad.into_dispatch(),
    );
    Tensor::from_dispatch(out)
}

/// The CPU kernels: rows in parallel, each row read while it sits in cache.
mod flex {
    use burn::backend::flex::FlexTensor;
    use burn::backend::tensor::{FloatTensor, IntTensor};
    use burn::backend::{DType, Flex};
    use burn::prelude::TensorData;

    use crate::model::rows::for_each_chunk;

    /// Rows handed to one task: enough work to amortise scheduling, small enough to balance.
    const ROWS_PER_TASK: usize = 8;

    fn contiguous_f32(t: &FlexTensor) -> FlexTensor {
        assert_eq!(
            t.dtype(),
            DType::F32,
            "cross-entropy kernels take f32 logits"
        );
        if t.is_contiguous() && t.layout().start_offset() == 0 {
            t.clone()
        } else {
            t.to_contiguous()
        }
    }

    fn targets_i64(t: &FlexTensor) -> Vec<i64> {
        let t = if t.is_contiguous() {
            t.clone()
        } else {
            t.to_contiguous()
        };
        let start = t.layout().start_offset();
        let n = t.layout().num_elements();
        match t.dtype() {
            DType::I64 => t.storage::<i64>()[start..start + n].to_vec(),
            DType::I32 => t.storage::<i32>()[start..start + n]
                .iter()
                .map(|&x| x as i64)
                .collect(),
            other => panic!("cross-entropy targets must be integers, got {other:?}"),
        }
    }

    fn f32_values(t: &FlexTensor) -> Vec<f32> {
        let t = contiguous_f32(t);
        let n = t.layout().num_elements();
        t.storage::<f32>()[..n].to_vec()
    }

    pub fn forward(logits: FloatTensor<Flex>, targets: IntTensor<Flex>) -> FloatTensor<Flex> {
        let logits = contiguous_f32(&logits);
        let shape = logits.layout().shape().clone();
        let (n, v) = (shape[0], shape[1]);
        let targets = targets_i64(&targets);
        assert_eq!(targets.len(), n, "one target per row");
        let data = &logits.storage::<f32>()[..n * v];
        let mut out = vec![0f32; n];
        for_each_chunk(&mut out, ROWS_PER_TASK, |chunk, out| {
            for (i, slot) in out.iter_mut().enumerate() {
                let r = chunk * ROWS_PER_TASK + i;
                let row = &data[r * v..(r + 1) * v];
                let target = target_index(targets[r], v);
                *slot = crate::model::rows::log_sum_exp(row) - row[target];
            }
        });
        FlexTensor::from_data(TensorData::new(out, [n]))
    }

    pub fn backward(
        logits: FloatTensor<Flex>,
        targets: IntTensor<Flex>,
        grad: FloatTensor<Flex>,
    ) -> FloatTensor<Flex> {
        let logits = contiguous_f32(&logits);
        let shape = logits.layout().shape().clone();
        let (n, v) = (shape[0], shape[1]);
        let targets = targets_i64(&targets);
        let grad = f32_values(&grad);
        assert_eq!(grad.len(), n, "one gradient per row");
        let data = &logits.storage::<f32>()[..n * v];
        let mut out = vec![0f32; n * v];
        for_each_chunk(&mut out, ROWS_PER_TASK * v, |chunk, out| {
            for (i, out) in out.chunks_mut(v).enumerate() {
                let r = chunk * ROWS_PER_TASK + i;
                let row = &data[r * v..(r + 1) * v];
                crate::model::rows::softmax_into(row, out, grad[r]);
                out[target_index(targets[r], v)] -= grad[r];
            }
        });
        // Built from a vector of its own: `FlexTensor::empty` zeroes bytes, then copies them.
        FlexTensor::from_data(TensorData::new(out, [n, v]))
    }

    fn target_index(target: i64, vocab: usize) -> usize {
        assert!(
            (0..vocab as i64).contains(&target),
            "target id {target} outside the vocabulary of {vocab}"
        );
        target as usize
    }
}

#[cfg(test)]
mod tests {
    use super::cross_entropy;
    use burn::prelude::*;
    use burn::tensor::activation::log_softmax;

    /// Logits with a spread like a trained head's: large and small, positive and negative, and
    /// a vocabulary that is not a multiple of the vector width.
    fn logits_and_targets(n: usize, v: usize) -> (Vec<f32>, Vec<i64>) {
        let logits = (0..n * v)
            .map(|i| (((i * 7_919) % 1_013) as f32 / 1_013.0 - 0.5) * 24.0)
            .collect();
        let targets = (0..n).map(|r| ((r * 104_729) % v) as i64).collect();
        (logits, targets)
    }

    fn value_and_grad(
        device: &Device,
        fused: bool,
        logits: &[f32],
        targets: &[i64],
        weights: &[f32],
        v: usize,
    ) -> (Vec<f32>, Vec<f32>) {
        let n = targets.len();
        let x =
            Tensor::<2>::from_data(TensorData::new(logits.to_vec(), [n, v]), device).require_grad();
        let t = Tensor::<1, Int>::from_data(TensorData::new(targets.to_vec(), [n]), device);
        let w = Tensor::<1>::from_data(TensorData::new(weights.to_vec(), [n]), device);
        let nll = if fused {
            cross_entropy(x.clone(), t)
        } else {
            log_softmax(x.clone(), 1)
                .gather(1, t.reshape([n, 1]))
                .reshape([n])
                .neg()
        };
        let loss = (nll.clone() * w).sum();
        let grads = loss.backward();
        let grad = x.grad(&grads).expect("the logits have a gradient");
        let values = nll.inner().into_data().try_to_vec::<f32>().unwrap();
        (values, grad.into_data().try_to_vec::<f32>().unwrap())
    }

    #[test]
    fn the_fused_loss_and_gradient_equal_log_softmax_then_gather_on_the_cpu() {
        let (device, _) = crate::device::select(crate::device::DeviceChoice::Cpu).unwrap();
        let device = device.autodiff();
        let (n, v) = (37, 1_003);
        let (logits, targets) = logits_and_targets(n, v);
        // Some rows ignored (weight 0), others counted twice: the row gradients differ.
        let weights: Vec<f32> = (0..n).map(|r| [1.0, 0.0, 2.0][r % 3]).collect();
        let (want, want_grad) = value_and_grad(&device, false, &logits, &targets, &weights, v);
        let (got, got_grad) = value_and_grad(&device, true, &logits, &targets, &weights, v);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5 * w.abs().max(1.0), "loss {g} vs {w}");
        }
        for (g, w) in got_grad.iter().zip(&want_grad) {
            assert!((g - w).abs() < 1e-6, "gradient {g} vs {w}");
        }
        let ignored_row = &got_grad[v..2 * v];
        assert!(ignored_row.iter().all(|&g| g == 0.0));
    }
}
