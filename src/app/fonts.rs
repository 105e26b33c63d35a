//! Fonts for the UDHR's scripts. egui's built-in fonts cover Latin and little else, so the app
//! adds the system's fonts behind them: for each group of scripts the first file found of a
//! list (Noto on Linux, the platform's own on macOS and Windows), plus any named in
//! `BEYOND_FONTS` (paths separated as in PATH). Fonts are fallbacks: a character takes the
//! first font that has it.
//!
//! egui shapes each run of text (HarfRust): Arabic letters join, Indic conjuncts and vowel
//! signs form, Thai marks stack. It lays runs out left to right; `bidi` orders right-to-left
//! text for display.

use std::path::PathBuf;

use eframe::egui;

/// A group of scripts and the Noto family that covers it (Linux), with macOS and Windows files.
struct Group {
    name: &'static str,
    noto: &'static [&'static str],
    other: &'static [&'static str],
}

const GROUPS: &[Group] = &[
    Group {
        name: "Chinese, Japanese, Korean",
        noto: &[],
        other: &[
            "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
            "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
            "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
            "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
            "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
            "/System/Library/Fonts/PingFang.ttc",
            "/System/Library/Fonts/Hiragino Sans GB.ttc",
            "C:\\Windows\\Fonts\\msyh.ttc",
        ],
    },
    Group {
        name: "Latin, Greek, Cyrillic (all accents)",
        noto: &["NotoSans-Regular.ttf"],
        other: &[
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
            "C:\\Windows\\Fonts\\segoeui.ttf",
        ],
    },
    Group {
        name: "Arabic",
        noto: &["NotoSansArabic-Regular.ttf", "NotoNaskhArabic-Regular.ttf"],
        other: &[
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/System/Library/Fonts/GeezaPro.ttc",
            "C:\\Windows\\Fonts\\arial.ttf",
        ],
    },
    Group {
        name: "Hebrew",
        noto: &["NotoSansHebrew-Regular.ttf"],
        other: &[
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/System/Library/Fonts/SFHebrew.ttf",
            "C:\\Windows\\Fonts\\arial.ttf",
        ],
    },
    Group {
        name: "Georgian",
        noto: &["NotoSansGeorgian-Regular.ttf"],
        other: &[
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
            "C:\\Windows\\Fonts\\sylfaen.ttf",
        ],
    },
    Group {
        name: "Devanagari",
        noto: &["NotoSansDevanagari-Regular.ttf"],
        other: &[
            "/System/Library/Fonts/Kohinoor.ttc",
            "/System/Library/Fonts/Supplemental/Devanagari Sangam MN.ttc",
            "C:\\Windows\\Fonts\\Nirmala.ttf",
        ],
    },
    Group {
        name: "Bengali",
        noto: &["NotoSansBengali-Regular.ttf"],
        other: &[
            "/System/Library/Fonts/KohinoorBangla.ttc",
            "C:\\Windows\\Fonts\\Nirmala.ttf",
        ],
    },
    Group {
        name: "Gujarati",
        noto: &["NotoSansGujarati-Regular.ttf"],
        other: &[
            "/System/Library/Fonts/KohinoorGujarati.ttc",
            "C:\\Windows\\Fonts\\Nirmala.ttf",
        ],
    },
    Group {
        name: "Tamil",
        noto: &["NotoSansTamil-Regular.ttf"],
        other: &[
            "/System/Library/Fonts/Supplemental/Tamil Sangam MN.ttc",
            "C:\\Windows\\Fonts\\Nirmala.ttf",
        ],
    },
    Group {
        name: "Telugu",
        noto: &["NotoSansTelugu-Regular.ttf"],
        other: &[
            "/System/Library/Fonts/KohinoorTelugu.ttc",
            "C:\\Windows\\Fonts\\Nirmala.ttf",
        ],
    },
    Group {
        name: "Malayalam",
        noto: &["NotoSansMalayalam-Regular.ttf"],
        other: &[
            "/System/Library/Fonts/Supplemental/Malayalam Sangam MN.ttc",
            "C:\\Windows\\Fonts\\Nirmala.ttf",
        ],
    },
    Group {
        name: "Sinhala",
        noto: &["NotoSansSinhala-Regular.ttf"],
        other: &[
            "/System/Library/Fonts/Supplemental/Sinhala Sangam MN.ttc",
            "C:\\Windows\\Fonts\\Nirmala.ttf",
        ],
    },
    Group {
        name: "Thai",
        noto: &["NotoSansThai-Regular.ttf"],
        other: &[
            "/System/Library/Fonts/Supplemental/Thonburi.ttc",
            "C:\\Windows\\Fonts\\LeelawUI.ttf",
            "C:\\Windows\\Fonts\\tahoma.ttf",
        ],
    },
    Group {
        name: "Khmer",
        noto: &["NotoSansKhmer-Regular.ttf"],
        other: &[
            "/System/Library/Fonts/Supplemental/Khmer Sangam MN.ttf",
            "C:\\Windows\\Fonts\\LeelawUI.ttf",
        ],
    },
    Group {
        name: "Myanmar",
        noto: &["NotoSansMyanmar-Regular.ttf"],
        other: &[
            "/System/Library/Fonts/Supplemental/Myanmar Sangam MN.ttc",
            "C:\\Windows\\Fonts\\mmrtext.ttf",
        ],
    },
    Group {
        name: "Ethiopic",
        noto: &["NotoSansEthiopic-Regular.ttf"],
        other: &[
            "/System/Library/Fonts/Supplemental/Kefa.ttc",
            "C:\\Windows\\Fonts\\ebrima.ttf",
        ],
    },
];

/// Where Linux distributions put Noto (Debian, Fedora, Arch).
const NOTO_DIRS: [&str; 4] = [
    "/usr/share/fonts/truetype/noto",
    "/usr/share/fonts/google-noto",
    "/usr/share/fonts/noto",
    "/usr/share/fonts/google-noto-vf",
];

/// Each group's font file, or `None` where this system has none of its list.
pub fn find() -> Vec<(&'static str, Option<PathBuf>)> {
    GROUPS
        .iter()
        .map(|g| {
            let noto = g
                .noto
                .iter()
                .flat_map(|name| NOTO_DIRS.iter().map(move |d| PathBuf::from(d).join(name)));
            let found = noto
                .chain(g.other.iter().map(PathBuf::from))
                .find(|p| p.is_file());
            (g.name, found)
        })
        .collect()
}

/// Adds the fonts found (each file once) behind egui's own; returns the groups without one.
pub fn install(ctx: &egui::Context) -> Vec<&'static str> {
    let mut fonts = egui::FontDefinitions::default();
    let mut missing = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut groups: Vec<(&str, String)> = Vec::new();
    for (group, path) in find() {
        match path {
            Some(p) => {
                groups.push((group, p.display().to_string()));
                if !files.contains(&p) {
                    files.push(p);
                }
            }
            None => missing.push(group),
        }
    }
    if let Some(extra) = std::env::var_os("BEYOND_FONTS") {
        files.extend(std::env::split_paths(&extra));
    }
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let name = path.display().to_string();
        fonts.font_data.insert(
            name.clone(),
            std::sync::Arc::new(egui::FontData::from_owned(bytes)),
        );
        for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
            fonts.families.entry(family).or_default().push(name.clone());
        }
    }
    // Each group's font also as a family of its own, first: a mark drawn alone on a dotted
    // circle needs the circle from its own script's font to sit on.
    let proportional = fonts.families[&egui::FontFamily::Proportional].clone();
    for (group, file) in groups {
        let mut family = vec![file];
        family.extend(proportional.iter().cloned());
        fonts
            .families
            .insert(egui::FontFamily::Name(group.into()), family);
    }
    ctx.set_fonts(fonts);
    missing
}

/// The family of `script`'s own font (by its Unicode name: "Devanagari", "Tamil"), where this
/// system has one.
pub fn of_script(ctx: &egui::Context, script: &str) -> Option<egui::FontFamily> {
    let family = egui::FontFamily::Name(script.into());
    ctx.fonts(|f| f.definitions().families.contains_key(&family))
        .then_some(family)
}
