//! The desktop face: an egui window. Panels start core jobs and render what they return; they
//! hold no work of their own.

mod evaluate;
mod microscope;
mod model;
mod running;
mod start;
mod train;
mod vocabulary;

use eframe::egui;

/// What the app opens with.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AppOptions {
    /// An HF model directory to describe in the Model panel.
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
            add_system_fonts(&cc.egui_ctx);
            Ok(Box::new(App::new(&options)))
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}

/// Fonts for the scripts egui's built-in fonts lack (Chinese, Japanese, Korean, ...), taken from
/// the system where one of these common files exists; the first found is a fallback after the
/// built-in fonts.
const SYSTEM_FONTS: [&str; 8] = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "C:\\Windows\\Fonts\\msyh.ttc",
];

fn add_system_fonts(ctx: &egui::Context) {
    let Some(bytes) = SYSTEM_FONTS.iter().find_map(|p| std::fs::read(p).ok()) else {
        return;
    };
    let mut fonts = egui::FontDefinitions::default();
    fonts.font_data.insert(
        "system-cjk".into(),
        std::sync::Arc::new(egui::FontData::from_owned(bytes)),
    );
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        fonts
            .families
            .entry(family)
            .or_default()
            .push("system-cjk".into());
    }
    ctx.set_fonts(fonts);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Page {
    #[default]
    Start,
    Model,
    Microscope,
    Vocabulary,
    Train,
    Evaluate,
}

#[derive(Default)]
struct App {
    page: Page,
    start: start::StartPanel,
    model: model::ModelPanel,
    microscope: microscope::MicroscopePanel,
    vocabulary: vocabulary::VocabularyPanel,
    train: train::TrainPanel,
    evaluate: evaluate::EvaluatePanel,
}

impl App {
    fn new(options: &AppOptions) -> Self {
        let mut app = App::default();
        if let Some(dir) = &options.model {
            app.model.open(dir);
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

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::left("pages")
            .resizable(false)
            .default_size(170.0)
            .show(ui, |ui| {
                ui.add_space(8.0);
                ui.heading("beyond");
                ui.label("language capability transfer");
                ui.separator();
                ui.selectable_value(&mut self.page, Page::Start, "Start");
                ui.selectable_value(&mut self.page, Page::Model, "Model");
                ui.selectable_value(&mut self.page, Page::Microscope, "Token microscope");
                ui.selectable_value(&mut self.page, Page::Vocabulary, "Vocabulary");
                ui.selectable_value(&mut self.page, Page::Train, "Train");
                ui.selectable_value(&mut self.page, Page::Evaluate, "Evaluate");
            });
        egui::CentralPanel::default().show(ui, |ui| match self.page {
            Page::Start => self.start.ui(ui),
            Page::Model => self.model.ui(ui),
            Page::Microscope => self.microscope.ui(ui),
            Page::Vocabulary => self.vocabulary.ui(ui),
            Page::Train => self.train.ui(ui),
            Page::Evaluate => self.evaluate.ui(ui),
        });
    }
}
