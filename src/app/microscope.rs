//! The token microscope: a text's tokens as boxes under one or two tokenizers side by side,
//! byte-fallback tokens marked.

#[cfg(feature = "native")]
use super::files::{PathKind, path_field};
use eframe::egui;

use super::arrivals::Arrivals;
use super::samples::{SAMPLES, first_paragraph};
use super::style;
use crate::model::TextTokenizer;
use crate::vocab::{Piece, pieces};

pub struct MicroscopePanel {
    /// Each slot's file (a path on the desktop, a name on the web).
    paths: [String; 2],
    arrivals: Arrivals,
    tokenizers: [Option<Result<TextTokenizer, String>>; 2],
    text: String,
    /// Script groups this system has no font for (their text shows as boxes).
    pub missing_fonts: Vec<&'static str>,
}

impl Default for MicroscopePanel {
    fn default() -> Self {
        Self {
            paths: [String::new(), String::new()],
            arrivals: Arrivals::default(),
            tokenizers: [None, None],
            text: "人人生而自由,在尊严和权利上一律平等。All human beings are born free and equal."
                .into(),
            missing_fonts: Vec::new(),
        }
    }
}

impl MicroscopePanel {
    /// Loads tokenizer `slot` (0: base, 1: extended) from the bytes of a file called `name`.
    pub fn load_bytes(&mut self, slot: usize, name: &str, bytes: Result<Vec<u8>, String>) {
        self.paths[slot] = name.to_string();
        self.tokenizers[slot] = Some(bytes.and_then(|b| {
            TextTokenizer::from_bytes(&b, std::path::Path::new(name), None, None, &[])
                .map_err(|e| e.to_string())
        }));
    }

    /// Where files read in the background arrive (a fetch, a file dropped on the web page).
    #[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
    pub fn arrivals(&self) -> Arrivals {
        self.arrivals.clone()
    }

    /// Takes tokenizers that arrived, and those dropped on the window: the base slot first,
    /// then the other.
    fn take_files(&mut self, ctx: &egui::Context) {
        for file in ctx.input(|i| i.raw.dropped_files.clone()) {
            let slot = usize::from(self.tokenizers[0].is_some());
            let name = file.path().display().to_string();
            #[cfg(not(target_family = "wasm"))]
            self.load_bytes(slot, &name, file.bytes());
            #[cfg(target_family = "wasm")]
            {
                let (arrivals, ctx) = (self.arrivals.clone(), ctx.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    arrivals.put(slot, name, file.bytes_async().await);
                    ctx.request_repaint();
                });
            }
        }
        for (slot, name, bytes) in self.arrivals.take() {
            self.load_bytes(slot, &name, bytes);
        }
    }

    /// Asks the browser for a tokenizer file for `slot` (its file picker); the bytes arrive in
    /// the background.
    #[cfg(target_family = "wasm")]
    fn pick(&self, slot: usize, ctx: &egui::Context) {
        let dialog = rfd::AsyncFileDialog::new()
            .set_title("a tokenizer.json")
            .add_filter("tokenizer", &["json"]);
        self.arrivals.pick(slot, dialog, false, ctx);
    }

    /// Each slot's tokenizer as loaded: its file's name, and its vocabulary and the tokens of
    /// the text (or why it did not load). For a face that reports it elsewhere (the web page).
    #[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
    pub fn loaded(&self) -> Vec<serde_json::Value> {
        self.tokenizers
            .iter()
            .zip(&self.paths)
            .map(|(t, name)| match t {
                None => serde_json::Value::Null,
                Some(Err(e)) => serde_json::json!({ "file": name, "error": e }),
                Some(Ok(t)) => serde_json::json!({
                    "file": name,
                    "vocab_size": t.vocab_size(),
                    "text_tokens": pieces(t, &self.text).map(|p| p.len()).ok(),
                }),
            })
            .collect()
    }

    /// Loads tokenizer `slot` (0: base, 1: extended) from `path`.
    #[cfg(feature = "native")]
    pub fn load(&mut self, slot: usize, path: &std::path::Path) {
        self.paths[slot] = path.display().to_string();
        self.tokenizers[slot] =
            Some(TextTokenizer::open(path, None, &[]).map_err(|e| e.to_string()));
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Token microscope");
        if !self.missing_fonts.is_empty() {
            ui.label(
                egui::RichText::new(format!(
                    "No font on this system for {}: install Noto fonts, or name font files in \
                     BEYOND_FONTS.",
                    self.missing_fonts.join(", ")
                ))
                .weak(),
            );
        }
        self.take_files(ui.ctx());
        for (k, label) in ["base tokenizer", "extended tokenizer"].iter().enumerate() {
            ui.horizontal(|ui| {
                ui.label(*label);
                #[cfg(feature = "native")]
                {
                    path_field(ui, label, &mut self.paths[k], PathKind::Json, 420.0);
                    if ui.button("Load").clicked() {
                        let path = std::path::PathBuf::from(self.paths[k].trim());
                        self.load(k, &path);
                    }
                }
                #[cfg(target_family = "wasm")]
                {
                    let open = ui
                        .button("Open…")
                        .on_hover_text(format!("choose the {label}'s tokenizer.json"));
                    super::web::publish_control(&format!("open {label}"), open.rect);
                    if open.clicked() {
                        self.pick(k, ui.ctx());
                    }
                }
                #[cfg(not(feature = "native"))]
                ui.label(match self.paths[k].is_empty() {
                    true => "(open or drop a tokenizer.json)",
                    false => self.paths[k].as_str(),
                });
            });
        }
        ui.horizontal(|ui| {
            ui.label("sample: the Universal Declaration of Human Rights in");
            for (_, name, text) in SAMPLES {
                if ui.small_button(name).clicked() {
                    self.text = first_paragraph(text).to_string();
                }
            }
        });
        ui.add(
            egui::TextEdit::multiline(&mut self.text)
                .desired_rows(3)
                .desired_width(f32::INFINITY),
        )
        .accessible_name("text to tokenize");
        // Right-to-left text as it reads (the editor lays its runs out left to right).
        if super::bidi::has_rtl(&self.text) {
            super::bidi::text(ui, &self.text);
        }
        let right_to_left = super::bidi::is_rtl(&self.text);
        ui.columns(2, |columns| {
            for (k, ui) in columns.iter_mut().enumerate() {
                match &self.tokenizers[k] {
                    None => {
                        ui.label("(no tokenizer loaded)");
                    }
                    Some(Err(e)) => {
                        style::error(ui, e);
                    }
                    Some(Ok(t)) => match pieces(t, &self.text) {
                        Ok(p) => show_pieces(ui, &p, &self.text, right_to_left),
                        Err(e) => {
                            style::error(ui, e.to_string());
                        }
                    },
                }
            }
        });
    }
}

/// The tokens as boxes, in reading order: from the right for a right-to-left text.
fn show_pieces(ui: &mut egui::Ui, pieces: &[Piece], text: &str, right_to_left: bool) {
    let chars = text.chars().count();
    let fallback = pieces.iter().filter(|p| p.byte_fallback).count();
    ui.label(format!(
        "{} tokens, {:.2} per character, {} byte-fallback",
        pieces.len(),
        pieces.len() as f64 / chars.max(1) as f64,
        fallback
    ));
    let flow = match right_to_left {
        true => egui::Layout::right_to_left(egui::Align::TOP),
        false => egui::Layout::left_to_right(egui::Align::TOP),
    };
    ui.with_layout(flow.with_main_wrap(true), |ui| {
        ui.spacing_mut().item_spacing = egui::vec2(2.0, 4.0);
        let order: Vec<usize> = match right_to_left {
            true => {
                let ltr = super::bidi::left_to_right_bytes(text);
                let of_piece: Vec<bool> = pieces
                    .iter()
                    .map(|p| ltr.get(p.start).copied().unwrap_or(false))
                    .collect();
                super::bidi::right_to_left_order(&of_piece)
            }
            false => (0..pieces.len()).collect(),
        };
        for i in order {
            let p = &pieces[i];
            let hue = style::TOKENS[i % style::TOKENS.len()];
            let label = match p.byte_fallback {
                true => p.token.clone(),
                false => p.token.replace('\u{2581}', "·"),
            };
            let (label, family) = on_its_own(ui.ctx(), &label);
            // Byte-fallback tokens: a red box, so a script the vocabulary lacks stands out.
            let fill = match p.byte_fallback {
                true => style::BYTE_FALLBACK,
                false => hue,
            };
            ui.add(
                egui::Label::new(
                    egui::RichText::new(format!(" {label} "))
                        .family(family)
                        .color(egui::Color32::WHITE)
                        .background_color(fill),
                )
                .wrap_mode(egui::TextWrapMode::Extend),
            )
            .on_hover_text(format!("id {}  text {:?}", p.id, p.text));
        }
    });
}

/// A token as it can be drawn alone, and its font family: one that starts with a mark (an Indic
/// vowel sign, a virama, an Arabic vowel) goes on a dotted circle, the mark's usual base when
/// shown alone, in its script's own font (which has the circle for the mark to sit on).
fn on_its_own(ctx: &egui::Context, token: &str) -> (String, egui::FontFamily) {
    use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};
    use unicode_script::UnicodeScript;
    if let Some(c) = token.chars().next()
        && c.general_category_group() == GeneralCategoryGroup::Mark
        && let Some(family) = super::fonts::of_script(ctx, c.script().full_name())
    {
        return (format!("\u{25CC}{token}"), family);
    }
    (token.to_string(), egui::FontFamily::Proportional)
}

#[cfg(test)]
mod tests {
    use super::MicroscopePanel;
    use crate::app::testing::{harness, llama2_tokenizer, udhr_dir, wait_for};

    /// Every UDHR language's first paragraph drawn under the LLaMA-2 tokenizer: the harness
    /// fails on any character the fonts cannot draw.
    #[test]
    fn draws_every_udhr_script() {
        let missing: Vec<&str> = crate::app::fonts::find()
            .into_iter()
            .filter(|(_, p)| p.is_none())
            .map(|(g, _)| g)
            .collect();
        if !missing.is_empty() {
            assert!(
                std::env::var_os("BEYOND_REQUIRE_FONTS").is_none(),
                "no font for {missing:?}"
            );
            eprintln!("skipped: no font for {missing:?} (apt-get install fonts-noto-core)");
            return;
        }
        let mut panel = MicroscopePanel::default();
        panel.load(0, &llama2_tokenizer());
        let mut h = harness(|ui, p: &mut MicroscopePanel| p.ui(ui), panel);
        let mut languages = 0;
        for entry in std::fs::read_dir(udhr_dir()).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap();
            let sample: String = first.chars().take(60).collect();
            h.state_mut().text = sample.clone();
            h.step();
            wait_for(&mut h, "tokens", 5);
            languages += 1;
        }
        assert!(languages >= 59);
    }
}

#[cfg(test)]
mod right_to_left_and_indic {
    use super::MicroscopePanel;
    use crate::app::testing::{harness, llama2_tokenizer, snapshot, wait_for};

    /// Arabic and Urdu read right to left with their letters joined, Hindi and Tamil with their
    /// conjuncts and vowel signs formed: sentences of the world's language packs in the
    /// microscope, compared with `tests/snapshots/microscope_{code}.png`.
    #[test]
    fn shaped_text_in_four_scripts() {
        let mut panel = MicroscopePanel::default();
        panel.load(0, &llama2_tokenizer());
        // The same picture wherever the fixtures are.
        panel.paths[0] = "llama2/tokenizer.json".into();
        let mut h = harness(|ui, p: &mut MicroscopePanel| p.ui(ui), panel);
        for (code, text) in [
            (
                "ar",
                "وُلد نيتي كالان عام 1975. اختار نيتي كالان الكلب حيوانًا أليفًا له.",
            ),
            (
                "ur",
                "نیٹی کالان کی پیدائش 1975 میں ہوئی۔ نیٹی کالان کے گھر میں ایک پالتو کتا ہے۔",
            ),
            (
                "hi",
                "नेटे कालान 1975 में पैदा हुए थे। क्षत्रिय स्त्री पुस्तकालय में काम करती है।",
            ),
            ("ta", "நெதெ காலான் பிறந்த ஆண்டு 1975. அவர்களின் செல்லப்பிராணி ஒரு நாய்."),
        ] {
            h.state_mut().text = text.into();
            h.step();
            wait_for(&mut h, "tokens", 5);
            snapshot(&mut h, &format!("microscope_{code}"));
        }
    }
}
