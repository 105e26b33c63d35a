//! Files that arrive while the app draws.

/// Files read in the background (a fetch, the browser's file picker, a file dropped on the page):
/// (slot, name, bytes), until the panel they are for takes them.
#[derive(Clone, Default)]
pub struct Arrivals(std::sync::Arc<std::sync::Mutex<Vec<Arrival>>>);

type Arrival = (usize, String, Result<Vec<u8>, String>);

impl Arrivals {
    #[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
    pub fn put(&self, slot: usize, name: String, bytes: Result<Vec<u8>, String>) {
        if let Ok(mut a) = self.0.lock() {
            a.push((slot, name, bytes));
        }
    }

    pub fn take(&self) -> Vec<Arrival> {
        self.0
            .lock()
            .map(|mut a| a.drain(..).collect())
            .unwrap_or_default()
    }
}

#[cfg(target_family = "wasm")]
impl Arrivals {
    /// Asks the browser for files (its picker, through rfd; several at once when `many`), each
    /// to arrive in `slot`.
    pub fn pick(
        &self,
        slot: usize,
        dialog: rfd::AsyncFileDialog,
        many: bool,
        ctx: &eframe::egui::Context,
    ) {
        let (arrivals, ctx) = (self.clone(), ctx.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let files = match many {
                true => dialog.pick_files().await.unwrap_or_default(),
                false => dialog.pick_file().await.into_iter().collect(),
            };
            for file in files {
                arrivals.put(slot, file.file_name(), Ok(file.read().await));
            }
            ctx.request_repaint();
        });
    }

    /// Takes the files dropped on the page this frame; each arrives in the slot `slot_of` gives
    /// its name.
    pub fn take_dropped(&self, ctx: &eframe::egui::Context, slot_of: impl Fn(&str) -> usize) {
        for file in ctx.input(|i| i.raw.dropped_files.clone()) {
            let name = file.path().display().to_string();
            let slot = slot_of(&name);
            let (arrivals, ctx) = (self.clone(), ctx.clone());
            wasm_bindgen_futures::spawn_local(async move {
                arrivals.put(slot, name, file.bytes_async().await);
                ctx.request_repaint();
            });
        }
    }
}
