//! The desktop face: an egui window. Panels render core jobs' events; they hold no work.

/// Opens the desktop app and returns when its window closes.
pub fn run() -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("beyond")
            .with_inner_size([1100.0, 720.0]),
        ..Default::default()
    };
    eframe::run_native("beyond", options, Box::new(|_cc| Ok(Box::new(App))))
        .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}

#[derive(Default)]
struct App;

impl eframe::App for App {
    fn ui(&mut self, ui: &mut eframe::egui::Ui, _frame: &mut eframe::Frame) {
        ui.heading("beyond");
        ui.label("Language capability transfer for LLaMA-architecture models.");
    }
}
