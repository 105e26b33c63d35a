//! The app: one egui app for the desktop window and the web page. Panels start core jobs and
//! render what they return; they hold no work of their own. The web page has the pages that need
//! no file system or threads of their own (the lesson, the token microscope, the vocabulary
//! lab, and a Playground for a model given as files); the others say they are for the desktop.

mod arrivals;
mod bidi;
#[cfg(feature = "native")]
mod evaluate;
#[cfg(feature = "native")]
mod files;
mod fonts;
mod knowledge;
mod lesson;
mod microscope;
#[cfg(feature = "native")]
mod model;
#[cfg(not(feature = "native"))]
mod page_model;
#[cfg(feature = "native")]
mod playground;
#[cfg(feature = "native")]
mod rate;
mod running;
mod samples;
mod settings;
#[cfg(feature = "native")]
mod start;
#[cfg(feature = "native")]
mod study;
mod style;
#[cfg(test)]
mod testing;
#[cfg(feature = "native")]
mod train;
#[cfg(feature = "native")]
mod train_export;
#[cfg(feature = "native")]
mod train_form;
mod vocabulary;
#[cfg(target_family = "wasm")]
pub mod web;

use eframe::egui;

/// What the app opens with.
#[cfg(feature = "native")]
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AppOptions {
    /// An HF model directory: described in the Model page, used by Playground and Evaluate.
    #[arg(long, value_name = "DIR")]
    pub model: Option<std::path::PathBuf>,
    /// A tokenizer for the token microscope (default: the model's).
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<std::path::PathBuf>,
    /// A second tokenizer to compare with (an extended one).
    #[arg(long, value_name = "FILE")]
    pub extended: Option<std::path::PathBuf>,
}

/// Opens the desktop app and returns when its window closes.
#[cfg(feature = "native")]
pub fn run(options: AppOptions) -> anyhow::Result<()> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("beyond")
            .with_inner_size([1100.0, 720.0]),
        ..Default::default()
    };
    eframe::run_native(
        "beyond",
        native,
        Box::new(move |cc| {
            let missing = fonts::install(&cc.egui_ctx);
            if !missing.is_empty() {
                eprintln!(
                    "no font found for {}: text in them shows as boxes (install Noto fonts, \
                     or name font files in BEYOND_FONTS)",
                    missing.join(", ")
                );
            }
            let saved: Option<settings::Settings> =
                cc.storage.and_then(|s| eframe::get_value(s, settings::KEY));
            let mut app = App::new(&options, saved.unwrap_or_default());
            app.microscope.missing_fonts = missing;
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Page {
    #[default]
    Start,
    Study,
    Model,
    Microscope,
    Vocabulary,
    Train,
    Evaluate,
    Playground,
    Rate,
    Lesson,
}

impl Page {
    const ALL: [(Page, &'static str); 10] = [
        (Page::Start, "Start"),
        (Page::Study, "Study"),
        (Page::Model, "Model"),
        (Page::Microscope, "Token microscope"),
        (Page::Vocabulary, "Vocabulary"),
        (Page::Train, "Train"),
        (Page::Evaluate, "Evaluate"),
        (Page::Playground, "Playground"),
        (Page::Rate, "Rate"),
        (Page::Lesson, "Lesson"),
    ];

    fn name(self) -> &'static str {
        Page::ALL
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("Start", |(_, n)| n)
    }

    fn from_name(name: &str) -> Option<Page> {
        Page::ALL.iter().find(|(_, n)| *n == name).map(|(p, _)| *p)
    }

    /// Whether the page works where the app runs (on the web: no file system, no threads).
    fn available(self) -> bool {
        cfg!(feature = "native")
            || matches!(self, Page::Lesson | Page::Microscope | Page::Vocabulary)
    }
}

/// Time spent drawing each frame, written to the file named by `BEYOND_FRAME_TIMES` (for
/// measuring that the window stays responsive while jobs run).
#[derive(Default)]
struct FrameTimes {
    millis: Vec<f64>,
}

impl FrameTimes {
    fn record(&mut self, millis: f64) {
        self.millis.push(millis);
        #[cfg(feature = "native")]
        if self.millis.len().is_multiple_of(30)
            && let Some(path) = std::env::var_os("BEYOND_FRAME_TIMES")
        {
            let mut sorted = self.millis.clone();
            sorted.sort_by(f64::total_cmp);
            let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
            let summary = serde_json::json!({
                "frames": sorted.len(),
                "p50_ms": at(0.5),
                "p95_ms": at(0.95),
                "max_ms": at(1.0),
            });
            let _ = std::fs::write(path, summary.to_string());
        }
    }
}

#[derive(Default)]
struct App {
    page: Page,
    lesson: lesson::LessonPanel,
    microscope: microscope::MicroscopePanel,
    #[cfg(feature = "native")]
    start: start::StartPanel,
    #[cfg(feature = "native")]
    study: study::StudyPanel,
    #[cfg(feature = "native")]
    model: model::ModelPanel,
    vocabulary: vocabulary::VocabularyPanel,
    #[cfg(feature = "native")]
    train: train::TrainPanel,
    #[cfg(feature = "native")]
    evaluate: evaluate::EvaluatePanel,
    #[cfg(feature = "native")]
    playground: playground::PlaygroundPanel,
    /// The web page's Playground: a model given as files.
    #[cfg(not(feature = "native"))]
    page_model: page_model::PageModelPanel,
    #[cfg(feature = "native")]
    rate: rate::RatePanel,
    frames: FrameTimes,
}

#[cfg(feature = "native")]
impl App {
    fn new(options: &AppOptions, saved: settings::Settings) -> Self {
        let mut app = App::default();
        app.restore(&saved);
        if let Some(dir) = &options.model {
            app.model.open(dir);
            app.playground.set_model(dir);
            app.evaluate.set_model(dir);
            app.page = Page::Model;
        }
        let base = options
            .tokenizer
            .clone()
            .or_else(|| options.model.as_ref().map(|d| d.join("tokenizer.json")));
        if let Some(path) = base {
            app.microscope.load(0, &path);
            app.page = Page::Microscope;
        }
        if let Some(path) = &options.extended {
            app.microscope.load(1, path);
        }
        app
    }
}

impl App {
    fn settings(&self) -> settings::Settings {
        let mut s = settings::Settings {
            page: Some(self.page.name().to_string()),
            ..settings::Settings::default()
        };
        self.lesson.remember(&mut s);
        self.vocabulary.remember(&mut s);
        #[cfg(feature = "native")]
        {
            self.start.remember(&mut s);
            self.study.remember(&mut s);
            self.model.remember(&mut s);
            self.train.remember(&mut s);
            self.evaluate.remember(&mut s);
            self.playground.remember(&mut s);
            self.rate.remember(&mut s);
        }
        s
    }

    fn restore(&mut self, s: &settings::Settings) {
        if let Some(page) = s.page.as_deref().and_then(Page::from_name) {
            self.page = page;
        }
        if !self.page.available() {
            self.page = Page::Lesson;
        }
        self.lesson.restore(s);
        self.vocabulary.restore(s);
        #[cfg(feature = "native")]
        {
            self.start.restore(s);
            self.study.restore(s);
            self.model.restore(s);
            self.train.restore(s);
            self.evaluate.restore(s);
            self.playground.restore(s);
            self.rate.restore(s);
        }
    }

    /// Draws the current page.
    #[cfg(feature = "native")]
    fn page_ui(&mut self, ui: &mut egui::Ui) {
        let device = self.model.choice;
        self.start.device = device;
        self.study.device = device;
        self.evaluate.device = device;
        self.playground.device = device;
        match self.page {
            Page::Start => self.start.ui(ui),
            Page::Lesson => self.lesson.ui(ui),
            Page::Study => self.study.ui(ui),
            Page::Model => self.model.ui(ui),
            Page::Microscope => self.microscope.ui(ui),
            Page::Vocabulary => self.vocabulary.ui(ui),
            Page::Train => self.train.ui(ui),
            Page::Evaluate => self.evaluate.ui(ui),
            Page::Playground => self.playground.ui(ui),
            Page::Rate => self.rate.ui(ui),
        }
        if let Some(run) = self.start.open_run.take() {
            self.train.show_run(run);
            self.page = Page::Train;
        }
    }

    /// Draws the current page (the web page's set).
    #[cfg(not(feature = "native"))]
    fn page_ui(&mut self, ui: &mut egui::Ui) {
        #[cfg(target_family = "wasm")]
        self.web_frame();
        match self.page {
            Page::Microscope => self.microscope.ui(ui),
            Page::Vocabulary => self.vocabulary.ui(ui),
            Page::Playground => self.page_model.ui(ui),
            _ => self.lesson.ui(ui),
        }
    }
}

#[cfg(target_family = "wasm")]
impl App {
    /// Tells the page how a finished lesson, a save of its model and its benchmark went.
    fn web_frame(&mut self) {
        if let Some(finished) = self.lesson.finished.take() {
            match finished {
                Ok(report) => web::publish_json("lesson", &report),
                Err(e) => web::publish("lesson_error", &e.into()),
            }
        }
        if let Some(saved) = self.lesson.saved.take() {
            match saved {
                Ok(what) => web::publish("saved", &what.into()),
                Err(e) => web::publish("save_error", &e.into()),
            }
        }
        if let Some(asked) = self.lesson.asked.take() {
            match asked {
                Ok(report) => web::publish_json("benchmark", &report),
                Err(e) => web::publish("benchmark_error", &e.into()),
            }
        }
        if let Some(measured) = self.lesson.measured.take() {
            match measured {
                Ok(report) => web::publish_json("perplexity", &report),
                Err(e) => web::publish("perplexity_error", &e.into()),
            }
        }
        if let Some(continued) = self.lesson.continued.take() {
            match continued {
                Ok(generation) => web::publish_json("continuation", &generation),
                Err(e) => web::publish("continuation_error", &e.into()),
            }
        }
        if self.page == Page::Microscope {
            web::publish_json("microscope", &self.microscope.loaded());
        }
        if std::mem::take(&mut self.page_model.finished) {
            web::publish_json("model", &self.page_model.report());
        }
        if std::mem::take(&mut self.vocabulary.finished) {
            web::publish_json("vocabulary", &self.vocabulary.report());
        }
    }
}

impl eframe::App for App {
    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, settings::KEY, &self.settings());
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let started = web_time::Instant::now();
        egui::Panel::left("pages")
            .resizable(false)
            .default_size(170.0)
            .show(ui, |ui| {
                ui.add_space(8.0);
                ui.heading("beyond");
                ui.label("language capability transfer");
                ui.separator();
                // The pages that work here first (all of them on the desktop).
                let mut pages = Page::ALL.to_vec();
                pages.sort_by_key(|(page, _)| !page.available());
                for (page, name) in pages {
                    let enabled = page.available();
                    ui.add_enabled_ui(enabled, |ui| {
                        ui.selectable_value(&mut self.page, page, name)
                            .on_disabled_hover_text("on the desktop app only");
                    });
                }
            });
        egui::CentralPanel::default().show(ui, |ui| self.page_ui(ui));
        self.frames.record(started.elapsed().as_secs_f64() * 1000.0);
    }
}
