//! Settings of the plotters renderer: an optional table (all keys have defaults).

use serde::{Deserialize, Serialize};

/// Colour scheme of the diagram. State colours are the same in both (Okabe–Ito, colour-blind
/// safe); only background, text and grid change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Dark text on white.
    #[default]
    Light,
    /// Light text on near-black.
    Dark,
}

/// Renderer settings.
///
/// The canvas is laid out for 1280×800 and scales with the size; text stays at least 16 px
/// high at the default size. PNG and SVG use the same size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlottersConfig {
    /// Width in pixels, 960..=3840.
    pub width: u32,
    /// Height in pixels, 600..=2400.
    pub height: u32,
    /// Colour scheme.
    pub theme: Theme,
}

impl Default for PlottersConfig {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 800,
            theme: Theme::Light,
        }
    }
}

/// Accepted widths.
pub const WIDTH_RANGE: std::ops::RangeInclusive<u32> = 960..=3840;
/// Accepted heights.
pub const HEIGHT_RANGE: std::ops::RangeInclusive<u32> = 600..=2400;

impl PlottersConfig {
    /// Checks the values, saying what is wrong and what would be right.
    pub fn validate(&self) -> Result<(), String> {
        if !WIDTH_RANGE.contains(&self.width) {
            return Err(format!(
                "width = {} is out of range; use {}..={}",
                self.width,
                WIDTH_RANGE.start(),
                WIDTH_RANGE.end()
            ));
        }
        if !HEIGHT_RANGE.contains(&self.height) {
            return Err(format!(
                "height = {} is out of range; use {}..={}",
                self.height,
                HEIGHT_RANGE.start(),
                HEIGHT_RANGE.end()
            ));
        }
        let ratio = f64::from(self.width) / f64::from(self.height);
        if !(1.2..=2.4).contains(&ratio) {
            return Err(format!(
                "width / height = {ratio:.2} does not fit a weekly chart; keep it between 1.2 and 2.4 (e.g. 1280×800)"
            ));
        }
        Ok(())
    }

    /// Reads the settings from a plugin table (`Null` means all defaults) and validates them.
    pub fn from_value(table: &serde_json::Value) -> Result<Self, String> {
        let cfg: Self = if table.is_null() {
            Self::default()
        } else {
            serde_json::from_value(table.clone()).map_err(|e| e.to_string())?
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Example settings shown by `plugins list` (all optional; these are the defaults).
pub const EXAMPLE_CONFIG: &str = r#"[renderer.plotters]
# Canvas size in pixels for PNG (Telegram) and SVG (web); 1280x800 reads well on phones.
width = 1280
height = 800
# "light" or "dark"
theme = "light"
"#;
