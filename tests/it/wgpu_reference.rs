//! The engine on a GPU through wgpu against the HF references (within 1e-3). `BEYOND_WGPU_API`
//! picks the graphics API (`wgpu`, the default, lets wgpu choose; `vulkan`, `gl`, `metal`, `dx12`).
//! In CI this runs on Mesa's software rasteriser, where `BEYOND_REQUIRE_GPU=1` makes a missing
//! adapter (or one that fails the device check) a failure; elsewhere, without a trustworthy
//! adapter, the test says why and passes. Debian 12's own Mesa 22 fails the check: its llvmpipe
//! sums no more than about 2^18 elements (`beyond::device::check`).

use crate::common;

use beyond::device::DeviceChoice;
use common::reference::{check_batch_loss, check_greedy, check_kv_cache, check_logits, load};

#[test]
fn wgpu_matches_transformers() {
    let api: DeviceChoice = match std::env::var("BEYOND_WGPU_API") {
        Ok(name) => name.parse().expect("BEYOND_WGPU_API"),
        Err(_) => DeviceChoice::Wgpu,
    };
    let Some((device, info)) = common::gpu(api) else {
        return;
    };
    assert_eq!(info.kind, "gpu");
    // Each step's time is printed: with an empty shader cache, lavapipe compiling kernels is most
    // of this test's time, and these lines show where it goes.
    let started = std::time::Instant::now();
    let timed = |what: &str, step: &dyn Fn()| {
        let t = std::time::Instant::now();
        step();
        eprintln!(
            "wgpu: {what}: {:.1} s (total {:.1} s)",
            t.elapsed().as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    };
    for dir in [
        common::fixture_a(),
        common::variant("mqa-bf16-v5-llama3rope"),
    ] {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let model = load(&dir, &device);
        timed(&format!("{name} logits"), &|| {
            check_logits(&model, &dir, 1e-3)
        });
        timed(&format!("{name} greedy"), &|| check_greedy(&model, &dir));
        timed(&format!("{name} batch loss"), &|| {
            check_batch_loss(&model, &dir, 1e-3)
        });
        timed(&format!("{name} kv cache"), &|| {
            check_kv_cache(&model, &dir, 1e-3)
        });
    }
    timed("training", &|| {
        common::reference::check_training(&common::fixture_a(), &device, 1e-3)
    });
    // What `beyond doctor` runs: on a trustworthy device every check passes.
    let t = std::time::Instant::now();
    let checks = beyond::device::check::known_answers(&device);
    eprintln!("wgpu: known answers: {:.1} s", t.elapsed().as_secs_f64());
    assert!(checks.iter().all(|c| c.passed), "{checks:?}");
}
