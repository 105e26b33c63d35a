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
