//! Our GPU kernels (`shaders/`) against Burn's composed operations on the same wgpu device:
//! values, and gradients through autodiff. In CI this runs on lavapipe, where
//! `BEYOND_REQUIRE_GPU=1` makes a missing adapter a failure; elsewhere, without a trustworthy
//! adapter, the test says why and passes.

use burn::module::Param;
use burn::nn::RmsNorm;
use burn::prelude::*;

use beyond::device::DeviceChoice;
use beyond::model::cross_entropy::cross_entropy;
use beyond::model::rms_norm::rms_norm_rows;
use beyond::model::rope::{apply_rotary_composed, rotary};

fn gpu() -> Option<Device> {
    crate::common::gpu(DeviceChoice::Wgpu).map(|(device, _)| device)
}

/// Values spread over both signs, different for each `seed`.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

fn tensor<const D: usize>(data: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// The output, and the gradients of `x` and the weight, of `sum(norm(x) * w)`.
struct Run {
    out: Vec<f32>,
    dx: Vec<f32>,
    dgamma: Vec<f32>,
}

fn run(device: &Device, kernel: bool, rows: usize, width: usize, eps: f64) -> Run {
    let x = tensor(values(rows * width, 1), [rows, width], device).require_grad();
    let gamma = tensor(values(width, 2), [width], device).require_grad();
    let w = tensor(values(rows * width, 3), [rows, width], device);
    let out = if kernel {
        rms_norm_rows(x.clone(), gamma.clone(), eps)
    } else {
        let norm = RmsNorm {
            gamma: Param::from_tensor(gamma.clone()),
            epsilon: eps,
        };
        norm.forward(x.clone())
    };
    let grads = (out.clone() * w).sum().backward();
    Run {
        out: to_vec(out.inner()),
        dx: to_vec(x.grad(&grads).expect("x has a gradient")),
        dgamma: to_vec(gamma.grad(&grads).expect("the weight has a gradient")),
    }
}

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let (worst, at) = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / w.abs().max(1.0))
        .enumerate()
        .fold(
            (0f32, 0),
            |(m, i), (j, d)| if d > m { (d, j) } else { (m, i) },
        );
    assert!(
        worst <= tol,
        "{what}: {} vs {} at {at} (difference {worst})",
        got[at],
        want[at]
    );
}

#[test]
fn the_rms_norm_kernels_match_burns_composed_rms_norm() {
    let Some(device) = gpu() else { return };
    let device = device.autodiff();
    // A row narrower than a cube, one as wide as a hidden state, rows wider than a cube's
    // 256 threads (each thread takes several elements), and more rows than one grid
    // dimension's 65,535 cubes.
    for (rows, width, eps) in [
        (1, 7, 1e-5),
        (5, 64, 1e-6),
        (3, 300, 1e-5),
        (2, 1_000, 1e-5),
        (70_000, 3, 1e-5),
    ] {
        let got = run(&device, true, rows, width, eps);
        let want = run(&device, false, rows, width, eps);
        let case = format!("{rows} x {width}");
        assert_close(&format!("{case}: output"), &got.out, &want.out, 1e-5);
        assert_close(&format!("{case}: x gradient"), &got.dx, &want.dx, 1e-4);
        assert_close(
            &format!("{case}: weight gradient"),
            &got.dgamma,
            &want.dgamma,
            1e-4,
        );
    }
}

/// Cos and sin tables `(seq, dim)` as the model makes them: both halves of a row share angles.
fn tables(seq: usize, dim: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let half = dim / 2;
    let (mut cos, mut sin) = (Vec::new(), Vec::new());
    for p in 0..seq {
        for _ in 0..2 {
            for i in 0..half {
                let angle = p as f64 / 10_000f64.powf(2.0 * i as f64 / dim as f64);
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
    }
    (
        tensor(cos, [seq, dim], device),
        tensor(sin, [seq, dim], device),
    )
}

/// The output and the input's gradient of `sum(rotate(x) * w)`, `x` made `(batch, seq, heads,
/// dim)` and seen as `(batch, heads, seq, dim)` as the model's heads are (not contiguous).
fn run_rotary(device: &Device, kernel: bool, [b, h, s, d]: [usize; 4]) -> (Vec<f32>, Vec<f32>) {
    let x = tensor(values(b * s * h * d, 4), [b, s, h, d], device).require_grad();
    let (cos, sin) = tables(s, d, device);
    let w = tensor(values(b * h * s * d, 5), [b, h, s, d], device);
    let heads = x.clone().swap_dims(1, 2);
    let out = if kernel {
        rotary(heads, &cos, &sin)
    } else {
        apply_rotary_composed(heads, &cos, &sin)
    };
    let grads = (out.clone() * w).sum().backward();
    (
        to_vec(out.inner()),
        to_vec(x.grad(&grads).expect("x has a gradient")),
    )
}

#[test]
fn the_rotary_kernel_matches_burns_composed_rotation() {
    let Some(device) = gpu() else { return };
    let device = device.autodiff();
    // The smallest head, odd sizes, a model's head width, and more elements than one cube takes
    // many times over.
    for shape in [[1, 1, 1, 2], [2, 3, 5, 8], [2, 4, 7, 64], [4, 8, 512, 64]] {
        let (out, dx) = run_rotary(&device, true, shape);
        let (want_out, want_dx) = run_rotary(&device, false, shape);
        let case = format!("{shape:?}");
        assert_close(&format!("{case}: output"), &out, &want_out, 1e-5);
        assert_close(&format!("{case}: x gradient"), &dx, &want_dx, 1e-5);
    }
}

/// The per-row losses and the logits' gradient of `sum(cross_entropy(z, t) * w)`, by the kernels
/// or by Burn's `log_softmax` and `gather`.
fn run_cross_entropy(
    device: &Device,
    kernel: bool,
    rows: usize,
    vocab: usize,
    spread: f32,
) -> (Vec<f32>, Vec<f32>) {
    let scaled: Vec<f32> = values(rows * vocab, 6).iter().map(|v| v * spread).collect();
    let logits = tensor(scaled, [rows, vocab], device).require_grad();
    let targets: Vec<i64> = (0..rows).map(|r| ((r * 7919 + 3) % vocab) as i64).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [rows]), device);
    let w = tensor(values(rows, 7), [rows], device);
    let loss = if kernel {
        cross_entropy(logits.clone(), targets)
    } else {
        let picked = burn::tensor::activation::log_softmax(logits.clone(), 1)
            .gather(1, targets.reshape([rows, 1]));
        picked.reshape([rows]).neg()
    };
    let grads = (loss.clone() * w).sum().backward();
    (
        to_vec(loss.inner()),
        to_vec(logits.grad(&grads).expect("the logits have a gradient")),
    )
}

#[test]
fn the_cross_entropy_kernels_match_burns_log_softmax() {
    let Some(device) = gpu() else { return };
    let device = device.autodiff();
    // Rows narrower than a cube, a vocabulary (LLaMA-2's 32,000, each thread taking 125 logits),
    // logits large enough to overflow an exponential without the maximum taken out, and more
    // rows than one grid dimension's 65,535 cubes.
    for (rows, vocab, spread) in [
        (1, 5, 1.0),
        (3, 100, 1.0),
        (7, 1_000, 30.0),
        (2, 32_000, 4.0),
        (70_000, 3, 1.0),
    ] {
        let (loss, dz) = run_cross_entropy(&device, true, rows, vocab, spread);
        let (want_loss, want_dz) = run_cross_entropy(&device, false, rows, vocab, spread);
        let case = format!("{rows} x {vocab} (x{spread})");
        assert_close(&format!("{case}: loss"), &loss, &want_loss, 1e-4);
        assert_close(&format!("{case}: gradient"), &dz, &want_dz, 1e-5);
    }
}
