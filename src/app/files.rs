//! Path fields: a labelled text box with a "Browse" button that opens the system's file dialog.
//! The dialog is created on the UI thread and awaited on another, so the window keeps drawing
//! while it is open; the chosen path fills the field on a later frame.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, channel};

use eframe::egui;

/// What a field holds, for the dialog's mode and filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// A directory (an HF model, a run directory, the world).
    Folder,
    /// A `tokenizer.json` or other JSON.
    Json,
    /// A text corpus: `.txt`, `.jsonl`, gzipped or not.
    Text,
    /// A run manifest.
    Toml,
    /// A JSON Lines file (answers, prompts, ratings).
    Jsonl,
}

/// A dialog in flight, kept in egui's memory under the field's id.
#[derive(Clone)]
struct Pending(std::sync::Arc<std::sync::Mutex<Receiver<Option<PathBuf>>>>);

/// A text field for a path, named `name` for screen readers, with a Browse button. Returns true
/// when the text changed (typed or picked).
pub fn path_field(
    ui: &mut egui::Ui,
    name: &str,
    text: &mut String,
    kind: PathKind,
    width: f32,
) -> bool {
    let mut changed = false;
    ui.horizontal(|ui| {
        let edit = ui
            .add(
                egui::TextEdit::singleline(text)
                    .desired_width(width)
                    .hint_text(hint(kind)),
            )
            .accessible_name(name);
        changed |= edit.changed();
        let id = edit.id.with("browse");
        let pending: Option<Pending> = ui.data(|d| d.get_temp(id));
        match pending {
            Some(p) => {
                ui.spinner();
                let picked = p.0.lock().ok().and_then(|r| r.try_recv().ok());
                if let Some(choice) = picked {
                    ui.data_mut(|d| d.remove::<Pending>(id));
                    if let Some(path) = choice {
                        *text = path.display().to_string();
                        changed = true;
                    }
                }
            }
            None => {
                let button = ui
                    .button("Browse…")
                    .on_hover_text(format!("choose the {name} in a file dialog"));
                if button.clicked() {
                    let rx = open_dialog(ui.ctx(), text, kind);
                    ui.data_mut(|d| d.insert_temp(id, Pending(std::sync::Arc::new(rx.into()))));
                }
            }
        }
    });
    changed
}

fn hint(kind: PathKind) -> &'static str {
    match kind {
        PathKind::Folder => "a folder",
        PathKind::Json => "a .json file",
        PathKind::Text => "a .txt or .jsonl file",
        PathKind::Toml => "a .toml manifest",
        PathKind::Jsonl => "a .jsonl file",
    }
}

/// Starts the dialog at the field's current path; the choice (or `None`, cancelled) arrives on
/// the returned channel and repaints the window.
fn open_dialog(ctx: &egui::Context, current: &str, kind: PathKind) -> Receiver<Option<PathBuf>> {
    let mut dialog = rfd::AsyncFileDialog::new();
    let current = PathBuf::from(current.trim());
    let start = if current.is_dir() {
        Some(current.as_path())
    } else {
        current.parent().filter(|p| p.is_dir())
    };
    if let Some(dir) = start {
        dialog = dialog.set_directory(dir);
    }
    dialog = match kind {
        PathKind::Folder => dialog,
        PathKind::Json => dialog.add_filter("JSON", &["json"]),
        PathKind::Text => dialog.add_filter("text", &["txt", "jsonl", "json", "gz"]),
        PathKind::Toml => dialog.add_filter("run manifest", &["toml"]),
        PathKind::Jsonl => dialog.add_filter("JSON Lines", &["jsonl"]),
    };
    // Created here, on the UI thread (macOS wants that), awaited on another.
    type Picked =
        std::pin::Pin<Box<dyn std::future::Future<Output = Option<rfd::FileHandle>> + Send>>;
    let future: Picked = match kind {
        PathKind::Folder => Box::pin(dialog.pick_folder()),
        _ => Box::pin(dialog.pick_file()),
    };
    let (tx, rx) = channel();
    let ctx = ctx.clone();
    std::thread::spawn(move || {
        let _ = tx.send(pollster::block_on(future).map(|h| h.path().to_path_buf()));
        ctx.request_repaint();
    });
    rx
}
