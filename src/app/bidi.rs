//! Text in both directions. egui shapes each run of text (Arabic letters join, Indic conjuncts
//! form) but lays runs out left to right, in the order they are stored. This module orders a
//! paragraph for display as the Unicode bidirectional algorithm does (UAX #9, from the
//! `unicode-bidi` crate), one wrapped line at a time, and sets right-to-left paragraphs against
//! the right edge: Arabic and Urdu read right to left, with numbers and Latin words inside them
//! still left to right.

use std::ops::Range;
use std::sync::Arc;

use eframe::egui::{self, Galley, TextFormat, text::LayoutJob};
use unicode_bidi::{BidiClass, Direction, ParagraphBidiInfo, bidi_class};

/// Whether `text` holds a right-to-left letter (Arabic, Hebrew, Syriac, Thaana, N'Ko...).
pub fn has_rtl(text: &str) -> bool {
    text.chars()
        .any(|c| matches!(bidi_class(c), BidiClass::R | BidiClass::AL))
}

/// Whether a paragraph reads right to left: its first strong letter does.
pub fn is_rtl(text: &str) -> bool {
    unicode_bidi::get_base_direction(text) == Direction::Rtl
}

/// The pieces of one line in display order, each in stored order for the shaper: runs that
/// read left to right whole; runs that read right to left cut into words and the spaces between
/// them, last word first (the shaper sets each word's letters right to left itself).
pub fn visual_pieces<'t>(bidi: &ParagraphBidiInfo<'t>, line: Range<usize>) -> Vec<&'t str> {
    let text = bidi.text;
    let (levels, runs) = bidi.visual_runs(line);
    let mut out = Vec::new();
    for run in runs {
        let piece = &text[run.clone()];
        if !levels[run.start].is_rtl() {
            out.push(piece);
            continue;
        }
        let mut words: Vec<&str> = Vec::new();
        let mut start = 0;
        let mut in_space = None;
        for (i, c) in piece.char_indices() {
            let space = c.is_whitespace();
            if in_space.is_some_and(|s| s != space) {
                words.push(&piece[start..i]);
                start = i;
            }
            in_space = Some(space);
        }
        words.push(&piece[start..]);
        out.extend(words.into_iter().rev().filter(|w| !w.is_empty()));
    }
    out
}

/// The order to place items (tokens, say) of a right-to-left paragraph in a flow that runs from
/// the right: stored order, but each run of items that read left to right (`ltr`: numbers, Latin
/// words) reversed, so that it still reads left to right.
pub fn right_to_left_order(ltr: &[bool]) -> Vec<usize> {
    let mut out = Vec::with_capacity(ltr.len());
    let mut i = 0;
    while i < ltr.len() {
        let j = (i..ltr.len())
            .find(|&k| ltr[k] != ltr[i])
            .unwrap_or(ltr.len());
        match ltr[i] {
            true => out.extend((i..j).rev()),
            false => out.extend(i..j),
        }
        i = j;
    }
    out
}

/// For each byte of `text`, whether it reads left to right (its resolved bidi level is even).
pub fn left_to_right_bytes(text: &str) -> Vec<bool> {
    let bidi = ParagraphBidiInfo::new(text, None);
    bidi.levels.iter().map(|l| l.is_ltr()).collect()
}

/// A paragraph laid out for display: its wrapped lines, each in display order.
pub struct Laid {
    pub rows: Vec<Arc<Galley>>,
    pub right_to_left: bool,
}

impl Laid {
    pub fn size(&self) -> egui::Vec2 {
        self.rows.iter().fold(egui::Vec2::ZERO, |s, r| {
            egui::vec2(s.x.max(r.size().x), s.y + r.size().y)
        })
    }
}

/// Lays `job` (its text and its sections' formats) out at most `width` wide. Lines break where
/// egui breaks the stored text; each line is then put in display order.
pub fn layout(ctx: &egui::Context, job: &LayoutJob, width: f32) -> Laid {
    let text = job.text.as_str();
    let mut rows = Vec::new();
    let mut offset = 0;
    for paragraph in text.split('\n') {
        let range = offset..offset + paragraph.len();
        offset = range.end + 1;
        let mut logical = sub_job(job, range.clone());
        logical.wrap.max_width = width;
        let logical = ctx.fonts_mut(|f| f.layout_job(logical));
        let bidi = ParagraphBidiInfo::new(paragraph, None);
        let mut chars = paragraph
            .char_indices()
            .map(|(i, _)| i)
            .chain([paragraph.len()]);
        let mut start = chars.next().unwrap_or(0);
        for row in &logical.rows {
            let end = match row.char_count_excluding_newline().0 {
                0 => start,
                n => chars.nth(n - 1).unwrap_or(paragraph.len()),
            };
            let mut line = LayoutJob::default();
            for piece in visual_pieces(&bidi, start..end) {
                let at = range.start + (piece.as_ptr() as usize - paragraph.as_ptr() as usize);
                for (r, format) in formats(job, at..at + piece.len()) {
                    line.append(&text[r], 0.0, format);
                }
            }
            rows.push(ctx.fonts_mut(|f| f.layout_job(line)));
            start = end;
        }
    }
    Laid {
        rows,
        right_to_left: is_rtl(text),
    }
}

/// The part of `job` in `range`, its sections cut to it.
fn sub_job(job: &LayoutJob, range: Range<usize>) -> LayoutJob {
    let mut out = LayoutJob::default();
    for (r, format) in formats(job, range) {
        out.append(&job.text[r], 0.0, format);
    }
    out
}

/// The formats of `job` over `range`: each section's part of it, in stored order.
fn formats(job: &LayoutJob, range: Range<usize>) -> Vec<(Range<usize>, TextFormat)> {
    job.sections
        .iter()
        .filter_map(|s| {
            let r = s.byte_range.start.0.max(range.start)..s.byte_range.end.0.min(range.end);
            (r.start < r.end).then(|| (r, s.format.clone()))
        })
        .collect()
}

/// A label that reads right to left where its text does; text without right-to-left letters
/// goes to an ordinary label.
pub fn label(ui: &mut egui::Ui, job: LayoutJob) -> egui::Response {
    if !has_rtl(&job.text) {
        return ui.label(job);
    }
    let width = ui.available_width().max(40.0);
    let laid = layout(ui.ctx(), &job, width);
    let size = match laid.right_to_left {
        true => egui::vec2(width, laid.size().y),
        false => laid.size(),
    };
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::hover());
    let mut y = rect.top();
    for row in laid.rows {
        let x = match laid.right_to_left {
            true => rect.right() - row.size().x,
            false => rect.left(),
        };
        let height = row.size().y;
        ui.painter()
            .galley(egui::pos2(x, y), row, ui.visuals().text_color());
        y += height;
    }
    response
        .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, ui.is_enabled(), &job.text));
    response
}

/// [`label`] for plain text in the body style.
pub fn text(ui: &mut egui::Ui, text: &str) -> egui::Response {
    let format = TextFormat::simple(
        egui::TextStyle::Body.resolve(ui.style()),
        ui.visuals().text_color(),
    );
    label(ui, LayoutJob::single_section(text.to_string(), format))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<&str> {
        let bidi = ParagraphBidiInfo::new(text, None);
        visual_pieces(&bidi, 0..text.len())
    }

    #[test]
    fn arabic_runs_are_ordered_right_to_left_with_numbers_left_to_right() {
        assert!(is_rtl("وُلد نيتي عام 1975."));
        assert!(!is_rtl("Born in 1975: وُلد"));
        assert!(has_rtl("Born in 1975: وُلد") && !has_rtl("नेटे कालान"));
        // Stored: word1 word2 number. Shown, left to right: the full stop, the number, then
        // the words last first.
        assert_eq!(
            pieces("وُلد عام 1975."),
            [".", "1975", " ", "عام", " ", "وُلد"]
        );
        // An English sentence keeps its order; an Arabic word inside it is one piece.
        assert_eq!(pieces("Born in عام now"), ["Born in ", "عام", " now"]);
        // Urdu, with its own full stop (an Arabic letter to the algorithm: it stays with its
        // word, and the shaper sets it on the word's left).
        assert_eq!(pieces("کتا ہے۔"), ["ہے۔", " ", "کتا"]);
    }

    #[test]
    fn tokens_of_a_number_in_arabic_still_read_left_to_right() {
        // Arabic, Arabic, 1, 9, 7, 5, Arabic: from the right, the number's tokens reversed.
        let ltr = [false, false, true, true, true, true, false];
        assert_eq!(right_to_left_order(&ltr), [0, 1, 5, 4, 3, 2, 6]);
        let text = "عام 1975 نعم";
        let bytes = left_to_right_bytes(text);
        assert!(!bytes[0] && bytes[text.find('1').unwrap()]);
    }

    /// Laid out by egui, the first word of an Arabic sentence is on the right, its number
    /// reads left to right on the left, and each word's letters run right to left.
    #[test]
    fn a_laid_out_arabic_line_reads_from_the_right() {
        let ctx = egui::Context::default();
        crate::app::fonts::install(&ctx);
        let _ = ctx.run_ui(Default::default(), |_| {});
        let job = LayoutJob::single_section("وُلد عام 1975.".into(), TextFormat::default());
        let laid = layout(&ctx, &job, 500.0);
        assert!(laid.right_to_left);
        let x = |c: char| {
            laid.rows[0]
                .rows
                .iter()
                .flat_map(|r| &r.glyphs)
                .find(|g| g.chr == c)
                .map(|g| g.pos.x)
                .unwrap()
        };
        assert!(x('1') < x('9') && x('9') < x('5'), "digits left to right");
        assert!(x('5') < x('ع'), "the number left of the words");
        assert!(x('ع') < x('و'), "the first word on the right");
    }
}
