//! Helpers for the pages' UI tests: drive a page in an `egui_kittest` harness and wait for what
//! its jobs put on screen.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

/// A path inside the repository.
pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The HF-made fixture `tiny-llama-a` (see its README for where it comes from).
pub fn fixture_a() -> PathBuf {
    repo("tests/fixtures/tiny-llama-a")
}

/// LLaMA-2's tokenizer, as shipped in `assets/tokenizers/llama2`.
pub fn llama2_tokenizer() -> PathBuf {
    repo("assets/tokenizers/llama2/tokenizer.json")
}

/// The Universal Declaration of Human Rights, one file per language.
pub fn udhr_dir() -> PathBuf {
    repo("assets/corpora/udhr")
}

/// A harness drawing one page. Every input must have an accessible name (a screen reader's,
/// and the one the tests find it by): [`wait_for`] checks each time it finds what it waits for.
pub fn harness<'a, S>(page: impl FnMut(&mut egui::Ui, &mut S) + 'a, state: S) -> Harness<'a, S> {
    // The same fonts as the app, from the first frame: a text they cannot draw fails the test.
    Harness::builder()
        .with_size(egui::vec2(1100.0, 720.0))
        .with_context_setup(|ctx| {
            super::fonts::install(ctx);
        })
        .build_ui_state(page, state)
}

/// Steps frames until a label containing `text` shows, for at most `seconds`.
pub fn wait_for<S>(harness: &mut Harness<'_, S>, text: &str, seconds: u64) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        harness.step();
        if harness.query_all_by_label_contains(text).next().is_some() {
            harness.check_accessibility();
            return;
        }
        assert!(
            Instant::now() < deadline,
            "`{text}` did not show within {seconds} s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Clicks the widget labelled exactly `label`, then draws a frame.
pub fn click<S>(harness: &mut Harness<'_, S>, label: &str) {
    harness.get_by_label(label).click();
    harness.step();
}

/// Compares the harness's rendering with `tests/snapshots/{name}.png` (`UPDATE_SNAPSHOTS=1`
/// writes it). Rendering needs a wgpu adapter: without one the comparison is skipped, unless
/// `BEYOND_REQUIRE_GPU` is set (CI, with Mesa's software Vulkan).
pub fn snapshot<S>(harness: &mut Harness<'_, S>, name: &str) {
    let instance = eframe::wgpu::Instance::default();
    let adapter = pollster::block_on(instance.request_adapter(&Default::default()));
    if let Err(e) = adapter {
        assert!(
            std::env::var_os("BEYOND_REQUIRE_GPU").is_none(),
            "BEYOND_REQUIRE_GPU is set but no adapter was found: {e}"
        );
        eprintln!("no wgpu adapter, snapshot {name} not compared: {e}");
        return;
    }
    harness.snapshot(name);
}
