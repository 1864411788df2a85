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

/// Draws weekly availability diagrams. CPU-bound: call it from `spawn_blocking` (as
/// [`crate::diagrams::render_blocking`] does).
///
/// The week comes with its state intervals already cut to the week; a renderer only draws. A
/// renderer that cannot produce a format says so with [`RenderError::Unsupported`].
///
/// ```
/// use outage_core::render::{DiagramRenderer, ImageFormat, Language, RenderError, WeekDiagram};
/// use outage_core::{IntervalKind, LocationId, StateInterval};
///
/// /// Draws one grey bar per interval without power; SVG only.
/// #[derive(Debug)]
/// struct Bars;
///
/// impl DiagramRenderer for Bars {
///     fn render(&self, week: &WeekDiagram, format: ImageFormat) -> Result<Vec<u8>, RenderError> {
///         if format != ImageFormat::Svg {
///             return Err(RenderError::Unsupported(format));
///         }
///         let bars = week.intervals.iter().filter(|i| i.kind == IntervalKind::Down).count();
///         let rects: String = (0..bars)
///             .map(|n| format!(r#"<rect x="{}" width="8" height="20" fill="grey"/>"#, n * 10))
///             .collect();
///         Ok(format!(r#"<svg xmlns="http://www.w3.org/2000/svg">{rects}</svg>"#).into_bytes())
///     }
/// }
///
/// let now = chrono::Utc::now();
/// let outage = StateInterval {
///     location_id: LocationId(1),
///     kind: IntervalKind::Down,
///     start: now - chrono::TimeDelta::hours(2),
///     end: Some(now - chrono::TimeDelta::hours(1)),
/// };
/// let week = WeekDiagram {
///     location_name: "Home".into(),
///     monday: chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
///     tz: chrono_tz::Europe::Kyiv,
///     intervals: vec![outage],
///     now,
///     language: Language::En,
/// };
/// let svg = String::from_utf8(Bars.render(&week, ImageFormat::Svg).unwrap()).unwrap();
/// assert_eq!(svg.matches("<rect").count(), 1);
/// assert!(matches!(Bars.render(&week, ImageFormat::Png), Err(RenderError::Unsupported(_))));
/// ```
pub trait DiagramRenderer: Send + Sync + std::fmt::Debug + 'static {
    /// Renders the week in the requested format.
    fn render(&self, week: &WeekDiagram, format: ImageFormat) -> Result<Vec<u8>, RenderError>;
}
