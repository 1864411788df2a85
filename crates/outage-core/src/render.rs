//! The [`DiagramRenderer`] trait: draws a location's week of state intervals.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::StateInterval;

/// Output format of a diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// PNG, for Telegram.
    Png,
    /// SVG, for the web.
    Svg,
}

/// Language of texts in messages and diagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    #[default]
    En,
    /// Ukrainian.
    Uk,
}

/// Everything needed to draw one week of one location.
#[derive(Debug, Clone, PartialEq)]
pub struct WeekDiagram {
    /// Location name for the title.
    pub location_name: String,
    /// Monday of the ISO week, in `tz`.
    pub monday: NaiveDate,
    /// Time zone the days are cut in (DST-aware).
    pub tz: chrono_tz::Tz,
    /// Intervals overlapping the week (open ones end at `now`).
    pub intervals: Vec<StateInterval>,
    /// Nothing after this is drawn (the future is blank).
    pub now: DateTime<Utc>,
    /// Text language.
    pub language: Language,
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The drawing backend failed.
    #[error("rendering failed: {0}")]
    Backend(String),
    /// The requested format is not supported by this renderer.
    #[error("format {0:?} is not supported")]
    Unsupported(ImageFormat),
}

/// Draws weekly availability diagrams. CPU-bound: call it from `spawn_blocking`.
pub trait DiagramRenderer: Send + Sync + std::fmt::Debug + 'static {
    /// Renders the week in the requested format.
    fn render(&self, week: &WeekDiagram, format: ImageFormat) -> Result<Vec<u8>, RenderError>;
}
