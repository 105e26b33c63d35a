//! What the app remembers between sessions: the paths and choices typed into its pages, kept by
//! eframe's storage (a file in the platform's app-data folder).

use std::collections::BTreeMap;

/// Field values by `page.field` key.
pub type Settings = BTreeMap<String, String>;

/// Where eframe keeps them.
pub const KEY: &str = "beyond-settings";

/// Records `value` under `key`.
pub fn keep(settings: &mut Settings, key: &str, value: &str) {
    settings.insert(key.to_string(), value.to_string());
}

/// Puts back the value recorded under `key`, if any.
pub fn recall(settings: &Settings, key: &str, field: &mut String) {
    if let Some(v) = settings.get(key) {
        field.clone_from(v);
    }
}
