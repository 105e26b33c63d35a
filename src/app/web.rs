//! The web page's face: starts the egui app on the page's canvas, fetches the bundled files the
//! pages offer (LLaMA-2's tokenizer), and tells the page (and a test driving it) how things
//! went through `window.beyond`: `{ready, device, lesson, error}`.
//!
//! The page's address can ask for a start: `?lesson=run` trains the lesson at once,
//! `&device=cpu|webgpu|auto` picks where, `&steps=N` how long, `&save=zip` downloads the
//! trained model as soon as it is trained (`window.beyond.saved` then says what was saved),
//! `&ask=N|all` puts the world's questions (N per subject) to it (`window.beyond.benchmark`),
//! `&prompt=TEXT` has it continue TEXT (`window.beyond.continuation`), and `&perplexity=1`
//! measures its perplexity on the world's held-out text (`window.beyond.perplexity`).
//! `?page=microscope` opens the token microscope, whose loaded tokenizers are published as
//! `window.beyond.microscope`. `?page=vocabulary` opens the vocabulary lab, where
//! `&analyse=en,zh` analyses those built-in samples, `&extend=zh:200` learns 200 tokens from
//! one and `&sweep=0,50,100` sweeps those sizes; what it found is `window.beyond.vocabulary`.
//! `?page=playground&measure=en` opens the Playground, where a model given as files (the
//! picker, a drop) continues `&prompt=TEXT` and is measured on the built-in English text once
//! it is loaded (`window.beyond.model`).

use burn::tensor::wgpu::{WgpuSetup, wgpu};
use eframe::{egui, egui_wgpu};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::arrivals::Arrivals;
use super::{App, Page, settings};
use crate::device::DeviceChoice;

/// The bundled LLaMA-2 tokenizer, beside the page.
const LLAMA2_TOKENIZER: &str = "assets/tokenizers/llama2/tokenizer.json";

/// Starts the app on the canvas with id `canvas_id`; errors go to the page.
pub fn start(canvas_id: &str) {
    std::panic::set_hook(Box::new(|info| {
        let message = info.to_string();
        web_sys::console::error_1(&message.clone().into());
        publish("error", &JsValue::from_str(&message));
    }));
    let canvas_id = canvas_id.to_string();
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = run(&canvas_id).await {
            let text = e.as_string().unwrap_or_else(|| format!("{e:?}"));
            web_sys::console::error_1(&format!("the app could not start: {text}").into());
            publish("error", &JsValue::from_str(&text));
        }
    });
}

async fn run(canvas_id: &str) -> Result<(), JsValue> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let canvas = document
        .get_element_by_id(canvas_id)
        .ok_or_else(|| format!("no element `{canvas_id}` in the page"))?
        .dyn_into::<web_sys::HtmlCanvasElement>()?;
    let asks = Asks::from_address();
    eframe::WebRunner::new()
        .start(
            canvas,
            web_options(),
            Box::new(move |cc| {
                super::fonts::install(&cc.egui_ctx);
                if let Some(render) = cc.wgpu_render_state.as_ref() {
                    crate::device::page_gpu::share(WgpuSetup {
                        instance: render.instance.clone(),
                        adapter: render.adapter.clone(),
                        device: render.device.clone(),
                        queue: render.queue.clone(),
                        backend: render.adapter.get_info().backend,
                    });
                }
                let saved: Option<settings::Settings> =
                    cc.storage.and_then(|s| eframe::get_value(s, settings::KEY));
                let mut app = App::default();
                app.restore(&saved.unwrap_or_default());
                fetch_into(
                    vec![app.microscope.arrivals(), app.vocabulary.arrivals()],
                    cc.egui_ctx.clone(),
                    "LLaMA-2 (bundled)",
                    LLAMA2_TOKENIZER,
                );
                if let Some(device) = asks.device {
                    app.lesson.device = device;
                }
                if let Some(steps) = asks.steps {
                    app.lesson.steps = steps;
                }
                app.lesson.save_when_trained = asks.save;
                asks.vocabulary(&mut app.vocabulary);
                if let Some(text) = &asks.measure {
                    app.page_model.run_when_loaded = true;
                    app.page_model.text.clone_from(text);
                    if let Some(prompt) = &asks.prompt {
                        app.page_model.prompt.clone_from(prompt);
                    }
                    if let Some(device) = asks.device {
                        app.page_model.device = device;
                    }
                }
                if let Some(prompt) = asks.prompt {
                    app.lesson.prompt = prompt;
                    app.lesson.continue_when_trained = true;
                }
                app.lesson.perplexity_when_trained = asks.perplexity;
                if let Some(limit) = asks.ask {
                    app.lesson.ask_when_trained = true;
                    app.lesson.ask_limit = limit;
                }
                if let Some(page) = asks.page {
                    app.page = page;
                }
                if asks.lesson {
                    app.page = Page::Lesson;
                    app.lesson.start(&cc.egui_ctx);
                }
                publish("ready", &JsValue::TRUE);
                Ok(Box::new(app))
            }),
        )
        .await
}

/// eframe's options: on WebGPU its device is asked for all the adapter can do (the limits and
/// features Burn's kernels ask for), since the models trained in the page share it.
fn web_options() -> eframe::WebOptions {
    let mut options = eframe::WebOptions::default();
    if let egui_wgpu::WgpuSetup::CreateNew(create) = &mut options.wgpu_options.wgpu_setup {
        let drawing_only = create.device_descriptor.clone();
        create.device_descriptor = std::sync::Arc::new(move |adapter| {
            if adapter.get_info().backend != wgpu::Backend::BrowserWebGpu {
                return drawing_only(adapter);
            }
            wgpu::DeviceDescriptor {
                label: Some("beyond: drawing and training"),
                required_features: adapter
                    .features()
                    .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
                required_limits: adapter.limits(),
                memory_hints: wgpu::MemoryHints::MemoryUsage,
                ..drawing_only(adapter)
            }
        });
    }
    options
}

/// What the page's address asks for.
struct Asks {
    /// The page to open: `?page=microscope` or `lesson`.
    page: Option<Page>,
    lesson: bool,
    /// Download the trained model.
    save: bool,
    /// A prompt for the trained model to continue.
    prompt: Option<String>,
    /// Put the world's questions to the trained model: at most this many per subject.
    ask: Option<Option<usize>>,
    device: Option<DeviceChoice>,
    steps: Option<u64>,
    /// Measure the trained model's perplexity on held-out text (`&perplexity=1`).
    perplexity: bool,
    /// The Playground's model, once given: continue the prompt, then measure its perplexity on
    /// this built-in text (`?page=playground&measure=en`).
    measure: Option<String>,
    /// Analyse the built-in samples of these languages (`&analyse=en,zh`).
    analyse: Option<Vec<String>>,
    /// Extend the tokenizer by N tokens learned from a language's text (`&extend=zh:200`).
    extend: Option<(String, usize)>,
    /// Sweep these extension sizes (`&sweep=0,50,100`).
    sweep: Option<String>,
}

impl Asks {
    fn from_address() -> Self {
        let params = web_sys::window()
            .and_then(|w| w.location().search().ok())
            .and_then(|s| web_sys::UrlSearchParams::new_with_str(&s).ok());
        let get = |key: &str| params.as_ref().and_then(|p| p.get(key));
        Self {
            page: get("page").and_then(|v| match v.as_str() {
                "microscope" => Some(Page::Microscope),
                "vocabulary" => Some(Page::Vocabulary),
                "playground" => Some(Page::Playground),
                "lesson" => Some(Page::Lesson),
                _ => None,
            }),
            lesson: get("lesson").is_some_and(|v| v == "run"),
            save: get("save").is_some_and(|v| v == "zip"),
            prompt: get("prompt").filter(|p| !p.trim().is_empty()),
            ask: get("ask").and_then(|v| match v.as_str() {
                "all" => Some(None),
                n => n.parse().ok().map(Some),
            }),
            device: get("device").and_then(|d| d.parse().ok()),
            steps: get("steps").and_then(|s| s.parse().ok()),
            perplexity: get("perplexity").is_some_and(|v| v == "1"),
            measure: get("measure"),
            analyse: get("analyse").map(|v| v.split(',').map(str::to_string).collect()),
            extend: get("extend").and_then(|v| {
                let (lang, n) = v.split_once(':')?;
                Some((lang.to_string(), n.parse().ok()?))
            }),
            sweep: get("sweep"),
        }
    }

    /// Queues the vocabulary lab's work the address asks for (it starts once the tokenizer
    /// is in).
    fn vocabulary(&self, panel: &mut super::vocabulary::VocabularyPanel) {
        use super::vocabulary::Action;
        if let Some(codes) = &self.analyse {
            panel.use_samples(codes);
            panel.queued.push(Action::Analyse);
        }
        if let Some((lang, add)) = &self.extend {
            panel.learn_from(lang, *add);
            panel.queued.push(Action::Extend);
        }
        if let Some(sizes) = &self.sweep {
            panel.set_sizes(sizes);
            panel.queued.push(Action::Sweep);
        }
    }
}

/// Fetches `url` (beside the page) as the first file of each of `arrivals` (slot 0: the
/// microscope's base tokenizer, the vocabulary lab's tokenizer).
fn fetch_into(arrivals: Vec<Arrivals>, ctx: egui::Context, name: &str, url: &str) {
    let (name, url) = (name.to_string(), url.to_string());
    wasm_bindgen_futures::spawn_local(async move {
        let bytes = fetch(&url).await.map_err(|e| format!("{url}: {e}"));
        for to in arrivals {
            to.put(0, name.clone(), bytes.clone());
        }
        ctx.request_repaint();
    });
}

/// The bytes at `url`.
async fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let describe = |e: JsValue| e.as_string().unwrap_or_else(|| format!("{e:?}"));
    let window = web_sys::window().ok_or("no window")?;
    let response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(describe)?
        .dyn_into::<web_sys::Response>()
        .map_err(describe)?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let buffer = wasm_bindgen_futures::JsFuture::from(response.array_buffer().map_err(describe)?)
        .await
        .map_err(describe)?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Offers `bytes` to the browser as a download named `name`, of media type `mime`: a link to
/// the bytes as a blob, clicked.
pub(super) fn download(name: &str, bytes: &[u8], mime: &str) -> Result<(), String> {
    let describe = |e: JsValue| e.as_string().unwrap_or_else(|| format!("{e:?}"));
    let window = web_sys::window().ok_or("no window")?;
    let document = window.document().ok_or("no document")?;
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(describe)?;
    // `URL.createObjectURL(blob)` and its revocation, called through the global `URL`.
    let url_class = js_sys::Reflect::get(&window, &"URL".into()).map_err(describe)?;
    let method = |name: &str| -> Result<js_sys::Function, String> {
        js_sys::Reflect::get(&url_class, &name.into())
            .map_err(describe)?
            .dyn_into::<js_sys::Function>()
            .map_err(|_| format!("URL.{name} is not a function"))
    };
    let url = method("createObjectURL")?
        .call1(&url_class, &blob)
        .map_err(describe)?;
    let link = document.create_element("a").map_err(describe)?;
    link.set_attribute("href", &url.as_string().unwrap_or_default())
        .map_err(describe)?;
    link.set_attribute("download", name).map_err(describe)?;
    link.dyn_into::<web_sys::HtmlElement>()
        .map_err(|_| "a link that is not an element")?
        .click();
    // The address stays valid a minute, long enough for the browser to take the bytes.
    let revoke = method("revokeObjectURL")?;
    let later = Closure::once_into_js(move || {
        let _ = revoke.call1(&url_class, &url);
    });
    window
        .set_timeout_with_callback_and_timeout_and_arguments_0(later.unchecked_ref(), 60_000)
        .map_err(describe)?;
    Ok(())
}

/// A button, published as the control `control`, that offers `bytes()` to the browser as the
/// download `name` when clicked; the download's outcome in the frame it is clicked.
pub(super) fn download_button(
    ui: &mut egui::Ui,
    label: &str,
    control: &str,
    name: &str,
    mime: &str,
    bytes: impl FnOnce() -> Vec<u8>,
) -> Option<Result<(), String>> {
    let button = ui.button(label);
    publish_control(control, button.rect);
    button.clicked().then(|| download(name, &bytes(), mime))
}

/// `parent[key]` when it is an object, else a new object set there.
fn object_at(parent: &JsValue, key: &str) -> JsValue {
    let key = JsValue::from_str(key);
    js_sys::Reflect::get(parent, &key)
        .ok()
        .filter(|o| o.is_object())
        .unwrap_or_else(|| {
            let o: JsValue = js_sys::Object::new().into();
            let _ = js_sys::Reflect::set(parent, &key, &o);
            o
        })
}

/// Sets `window.beyond[key]` (the object made on first use).
pub(super) fn publish(key: &str, value: &JsValue) {
    if let Some(window) = web_sys::window() {
        let beyond = object_at(&window, "beyond");
        let _ = js_sys::Reflect::set(&beyond, &JsValue::from_str(key), value);
    }
}

/// Publishes where a control is drawn, `window.beyond.controls[name] = [x, y]` (its centre in
/// the canvas's CSS pixels), so a test can click it as a person would.
pub(super) fn publish_control(name: &str, rect: egui::Rect) {
    if let Some(window) = web_sys::window() {
        let controls = object_at(&object_at(&window, "beyond"), "controls");
        let centre = rect.center();
        let at = js_sys::Array::of2(&centre.x.into(), &centre.y.into());
        let _ = js_sys::Reflect::set(&controls, &JsValue::from_str(name), &at);
    }
}

/// Publishes a serialisable value as JSON text.
pub(super) fn publish_json(key: &str, value: &impl serde::Serialize) {
    if let Ok(text) = serde_json::to_string(value) {
        publish(key, &JsValue::from_str(&text));
    }
}
