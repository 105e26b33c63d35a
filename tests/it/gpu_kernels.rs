//! Our GPU kernels (`shaders/`) against Burn's composed operations on the same wgpu device:
//! values, and gradients through autodiff. In CI this runs on lavapipe, where
//! `BEYOND_REQUIRE_GPU=1` makes a missing adapter a failure; elsewhere, without a trustworthy
//! adapter, the test says why and passes.

use burn::module::Param;
use burn::nn::RmsNorm;
use burn::prelude::*;

use beyond::device::{DeviceChoice, select};
use beyond::model::rms_norm::rms_norm_rows;

fn gpu() -> Option<Device> {
    match select(DeviceChoice::Wgpu) {
        Ok((device, info)) => {
            eprintln!("wgpu device: {}", info.summary());
            Some(device)
        }
        Err(e) if std::env::var_os("BEYOND_REQUIRE_GPU").is_none() => {
            eprintln!("GPU kernels not tested: {e}");
            None
        }
        Err(e) => panic!("BEYOND_REQUIRE_GPU is set but no trustworthy adapter was found: {e}"),
    }
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
