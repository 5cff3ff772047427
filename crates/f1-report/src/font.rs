//! The font the charts are drawn with. plotters measures and rasterises text
//! with ab_glyph from a TrueType file registered once per process; the file is
//! the one `F1AI_FONT` names, or the first common sans-serif font installed.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::style::FontStyle;

use crate::error::{Error, Result};

/// The family name charts ask for.
pub const FAMILY: &str = "sans-serif";

/// Where systems usually keep a sans-serif TrueType font.
const CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

fn locate() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("F1AI_FONT") {
        return Ok(PathBuf::from(path));
    }
    CANDIDATES
        .iter()
        .map(Path::new)
        .find(|path| path.is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            Error::Font(format!(
                "no font for the charts: set F1AI_FONT to a .ttf file or install DejaVu \
                 Sans (e.g. the fonts-dejavu-core package); looked in {}",
                CANDIDATES.join(", ")
            ))
        })
}

/// Registers the charts' font, once.
pub fn ensure_registered() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let path = locate().map_err(|e| e.to_string())?;
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("reading the chart font {}: {e}", path.display()))?;
            // plotters keeps registered fonts for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
                .map_err(|_| format!("{} is not a TrueType/OpenType font", path.display()))?;
            tracing::debug!(font = %path.display(), "chart font registered");
            Ok(())
        })
        .clone()
        .map_err(Error::Font)
}
