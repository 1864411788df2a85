//! The weekly chart: data → [`Scene`] (what to draw, backend independent) → pixels or SVG.
//!
//! # Layout
//!
//! Seven rows, one per local day (Monday first), against a 00:00–24:00 wall-clock axis in the
//! week's time zone, so the same time of day lines up across days. Right of the bars, the
//! hours without power of each day; below, the week's total, a legend and notes.
//!
//! # Days of 23 and 25 hours
//!
//! The axis is the wall clock, so DST days keep the same hour grid as the others:
//!
//! * on a 23-hour day the skipped wall-clock hour (e.g. 03:00–04:00 in Europe/Kyiv on the last
//!   Sunday of March) is drawn hatched grey: nothing happened there, it did not exist;
//! * on a 25-hour day the repeated hour (03:00–04:00 on the last Sunday of October) is drawn as
//!   two half-height bars: the upper half is the first time the clock showed that hour, the
//!   lower half the second. Nothing is clipped and no hour is invented;
//! * a note under the legend names the day and the hour, and the daily total counts real time
//!   (a 25-hour day can have 25 h without power).
//!
//! The same rules cover zones whose clocks change at midnight (the day starts at 01:00; its
//! first hour is hatched) and a day a zone skipped entirely (the whole row is hatched).

use std::cell::RefCell;
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use outage_core::availability::{Granularity, IsoWeek, Period, Timeline, clock_spans};
use outage_core::domain::IntervalKind;
use outage_core::render::{DiagramRenderer, ImageFormat, Language, RenderError, WeekDiagram};
use plotters::backend::{BitMapBackend, DrawingBackend, SVGBackend};
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::element::{PathElement, Rectangle};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{
    Color, FontDesc, FontFamily, FontStyle, RGBAColor, RGBColor, TextStyle, register_font,
};

use crate::config::{PlottersConfig, Theme};
use crate::text;

/// Font family name the embedded DejaVu Sans is registered under. It is also written as the
/// SVG `font-family`, so browsers use DejaVu Sans when installed and their sans-serif otherwise.
pub const FONT_FAMILY: &str = "DejaVu Sans, sans-serif";

const DAY_SECS: f64 = 86_400.0;
/// The layout is designed for this canvas and scaled to the configured size.
const DESIGN_W: f64 = 1280.0;
const DESIGN_H: f64 = 800.0;

/// The embedded fonts, parsed once per process. PNG text is rasterised from them directly
/// (fractional advances and kerning); they are also registered with plotters, which needs
/// every family it is asked for to be registered.
struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

impl Fonts {
    fn get(&self, bold: bool) -> &FontRef<'static> {
        if bold { &self.bold } else { &self.regular }
    }

    /// Width of `text` at `size` (ab_glyph scale: ascent − descent = `size` pixels).
    fn measure(&self, text: &str, size: f64, bold: bool) -> f64 {
        let font = self.get(bold).as_scaled(PxScale::from(size as f32));
        let mut width = 0.0f32;
        let mut prev: Option<GlyphId> = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                width += font.kern(p, id);
            }
            width += font.h_advance(id);
            prev = Some(id);
        }
        f64::from(width)
    }

    /// Size of one em at `size`, in pixels.
    fn em(&self, size: f64) -> f64 {
        let f = &self.regular;
        let upem = f64::from(f.units_per_em().unwrap_or(2048.0));
        size * upem / f64::from(f.height_unscaled())
    }

    /// The largest size ≤ `size` (down to 70 %) at which `text` fits in `max_w`.
    fn fit_size(&self, text: &str, size: f64, bold: bool, max_w: f64) -> f64 {
        let w = self.measure(text, size, bold);
        if w <= max_w {
            size
        } else {
            (size * max_w / w).max(size * 0.7)
        }
    }

    /// `text` cut with an ellipsis so that it fits in `max_w`.
    fn truncate_to(&self, text: &str, size: f64, bold: bool, max_w: f64) -> String {
        if self.measure(text, size, bold) <= max_w {
            return text.to_string();
        }
        let mut chars: Vec<char> = text.chars().collect();
        while !chars.is_empty() {
            chars.pop();
            let candidate: String = chars.iter().collect::<String>() + "…";
            if self.measure(&candidate, size, bold) <= max_w {
                return candidate;
            }
        }
        "…".to_string()
    }
}

fn fonts() -> Result<&'static Fonts, RenderError> {
    static FONTS: OnceLock<Result<Fonts, String>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let regular = FontRef::try_from_slice(dejavu::sans::regular())
                .map_err(|e| format!("embedded DejaVu Sans: {e}"))?;
            let bold = FontRef::try_from_slice(dejavu::sans::bold())
                .map_err(|e| format!("embedded DejaVu Sans Bold: {e}"))?;
            register_font(FONT_FAMILY, FontStyle::Normal, dejavu::sans::regular())
                .map_err(|_| "embedded DejaVu Sans is not a valid font".to_string())?;
            register_font(FONT_FAMILY, FontStyle::Bold, dejavu::sans::bold())
                .map_err(|_| "embedded DejaVu Sans Bold is not a valid font".to_string())?;
            Ok(Fonts { regular, bold })
        })
        .as_ref()
        .map_err(|e| RenderError::Backend(e.clone()))
}

/// Draws weekly availability diagrams with plotters: PNG (for Telegram) and SVG (for the web),
/// with the embedded DejaVu Sans font (no system fonts are used).
#[derive(Debug, Clone, Default)]
pub struct PlottersRenderer {
    config: PlottersConfig,
}

impl PlottersRenderer {
    /// A renderer with validated settings.
    pub fn new(config: PlottersConfig) -> Result<Self, String> {
        config.validate()?;
        Ok(Self { config })
    }

    /// Its settings.
    pub fn config(&self) -> &PlottersConfig {
        &self.config
    }

    fn render_png(&self, scene: &Scene, fonts: &Fonts) -> Result<Vec<u8>, RenderError> {
        let (w, h) = (self.config.width, self.config.height);
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        let texts = {
            let area = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            let painter = Painter {
                area: &area,
                target: Target::Png,
                fonts,
                texts: RefCell::new(Vec::new()),
            };
            draw(&painter, scene, &self.config).map_err(RenderError::Backend)?;
            area.present()
                .map_err(|e| RenderError::Backend(e.to_string()))?;
            painter.texts.into_inner()
        };
        // Text never overlaps shapes, so it is rasterised last, straight into the buffer.
        for t in &texts {
            blit_text(&mut rgb, w, h, fonts, t);
        }
        encode_png(&rgb, w, h)
    }

    fn render_svg(&self, scene: &Scene, fonts: &Fonts) -> Result<Vec<u8>, RenderError> {
        let (w, h) = (self.config.width, self.config.height);
        let mut svg = String::with_capacity(64 * 1024);
        {
            let area = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            let painter = Painter {
                area: &area,
                target: Target::Svg,
                fonts,
                texts: RefCell::new(Vec::new()),
            };
            draw(&painter, scene, &self.config).map_err(RenderError::Backend)?;
            area.present()
                .map_err(|e| RenderError::Backend(e.to_string()))?;
        }
        Ok(add_svg_title(svg, &format!("{} — {}", scene.name, scene.dates)).into_bytes())
    }
}

impl DiagramRenderer for PlottersRenderer {
    fn render(&self, week: &WeekDiagram, format: ImageFormat) -> Result<Vec<u8>, RenderError> {
        let fonts = fonts()?;
        let scene = Scene::build(week);
        match format {
            ImageFormat::Png => self.render_png(&scene, fonts),
            ImageFormat::Svg => self.render_svg(&scene, fonts),
        }
    }
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, RenderError> {
    let mut out = Vec::with_capacity(128 * 1024);
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc
            .write_header()
            .map_err(|e| RenderError::Backend(format!("PNG encoding: {e}")))?;
        writer
            .write_image_data(rgb)
            .map_err(|e| RenderError::Backend(format!("PNG encoding: {e}")))?;
        writer
            .finish()
            .map_err(|e| RenderError::Backend(format!("PNG encoding: {e}")))?;
    }
    Ok(out)
}

/// A text to rasterise into the PNG: left edge and baseline in pixels.
struct TextOp {
    text: String,
    x: f32,
    baseline: f32,
    size: f32,
    bold: bool,
    color: RGBColor,
}

/// Rasterises `t` with ab_glyph into an RGB buffer, blending by coverage.
fn blit_text(rgb: &mut [u8], w: u32, h: u32, fonts: &Fonts, t: &TextOp) {
    let font = fonts.get(t.bold);
    let scaled = font.as_scaled(PxScale::from(t.size));
    let mut caret = t.x;
    let mut prev: Option<GlyphId> = None;
    let RGBColor(r, g, b) = t.color;
    for c in t.text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        prev = Some(id);
        let glyph = id.with_scale_and_position(t.size, point(caret, t.baseline));
        caret += scaled.h_advance(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        let (ox, oy) = (bounds.min.x as i64, bounds.min.y as i64);
        outline.draw(|gx, gy, coverage| {
            let (x, y) = (ox + i64::from(gx), oy + i64::from(gy));
            if coverage <= 0.0 || x < 0 || y < 0 || x >= i64::from(w) || y >= i64::from(h) {
                return;
            }
            let a = coverage.min(1.0);
            let i = (y as usize * w as usize + x as usize) * 3;
            for (k, c) in [r, g, b].into_iter().enumerate() {
                if let Some(px) = rgb.get_mut(i + k) {
                    *px = (f32::from(*px) * (1.0 - a) + f32::from(c) * a).round() as u8;
                }
            }
        });
    }
}

/// Puts an accessible `<title>` right after the opening `<svg …>` tag.
fn add_svg_title(svg: String, title: &str) -> String {
    let Some(open_end) = svg
        .find("<svg")
        .and_then(|i| svg[i..].find('>').map(|j| i + j + 1))
    else {
        return svg;
    };
    let mut escaped = String::with_capacity(title.len());
    for c in title.chars() {
        match c {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            c => escaped.push(c),
        }
    }
    let mut out = String::with_capacity(svg.len() + escaped.len() + 20);
    out.push_str(&svg[..open_end]);
    out.push_str("\n<title>");
    out.push_str(&escaped);
    out.push_str("</title>");
    out.push_str(&svg[open_end..]);
    out
}

// ---- Scene: what to draw ------------------------------------------------------------------

/// One coloured stretch of a day row, in fractions of the 24-hour clock axis.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bar {
    kind: IntervalKind,
    x0: f64,
    x1: f64,
    /// Which of `lanes` horizontal lanes (0 = top); 2 lanes in a repeated hour.
    lane: usize,
    lanes: usize,
}

#[derive(Debug, Clone, PartialEq)]
struct Row {
    label: String,
    today: bool,
    bars: Vec<Bar>,
    /// Clock fractions that did not exist that day.
    skipped: Vec<(f64, f64)>,
    /// Clock fractions that happened more than once that day.
    repeated: Vec<(f64, f64)>,
    /// Hours without power, `None` for a day entirely in the future.
    down: Option<String>,
    down_is_zero: bool,
    /// Where `now` is: clock fraction, lane, lanes.
    now: Option<(f64, usize, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Swatch {
    Kind(IntervalKind),
    NoData,
    Skipped,
}

#[derive(Debug, Clone, PartialEq)]
struct Scene {
    name: String,
    dates: String,
    subtitle: String,
    header: &'static str,
    total: String,
    rows: Vec<Row>,
    legend: Vec<(Swatch, &'static str)>,
    notes: Vec<String>,
}

fn secs(d: TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

impl Scene {
    fn build(week: &WeekDiagram) -> Self {
        let (tz, lang, now) = (week.tz, week.language, week.now);
        let labels = text::labels(lang);
        let timeline = Timeline::new(&week.intervals, now);
        let days: Vec<NaiveDate> = (0..7).map(|i| week.monday + Days::new(i)).collect();
        let first = Period::day(tz, days[0]);
        let last = Period::day(tz, days[6]);
        let week_period = Period {
            granularity: Granularity::Week,
            label: IsoWeek::of(week.monday).to_string(),
            start: first.start,
            end: last.end,
        };
        let week_av = timeline.availability(&week_period);

        let mut rows = Vec::with_capacity(7);
        let mut notes = Vec::new();
        for &date in &days {
            let (row, note) = build_row(&timeline, tz, lang, date, now);
            rows.push(row);
            notes.extend(note);
        }

        let mut subtitle = text::outages_summary(lang, week_av.outages, week_av.longest_outage);
        if week_av.network > TimeDelta::zero() {
            subtitle.push_str(" · ");
            subtitle.push_str(&text::network_summary(lang, week_av.network));
        }
        subtitle.push_str(" · ");
        subtitle.push_str(&text::zone_note(lang, tz));

        let mut legend = vec![
            (Swatch::Kind(IntervalKind::Up), labels.up),
            (Swatch::Kind(IntervalKind::Down), labels.down),
            (Swatch::Kind(IntervalKind::Network), labels.network),
            (Swatch::Kind(IntervalKind::Unknown), labels.unknown),
            (Swatch::Kind(IntervalKind::Paused), labels.paused),
            (Swatch::NoData, labels.no_data),
        ];
        if rows.iter().any(|r| !r.skipped.is_empty()) {
            legend.push((Swatch::Skipped, labels.skipped));
        }

        Scene {
            name: week.location_name.clone(),
            dates: text::date_range(lang, days[0], days[6]),
            subtitle,
            header: labels.without_power,
            total: format!(
                "{}: {}",
                labels.week_total,
                text::duration(lang, week_av.down)
            ),
            rows,
            legend,
            notes,
        }
    }
}

/// One elementary stretch of the clock axis of a day (seconds since midnight on the clock
/// face) and the clock spans that cover it.
struct ClockPiece {
    from: f64,
    to: f64,
    spans: Vec<usize>,
}

fn build_row(
    timeline: &Timeline,
    tz: chrono_tz::Tz,
    lang: Language,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> (Row, Option<String>) {
    let period = Period::day(tz, date);
    let av = timeline.availability(&period);
    let spans = clock_spans(tz, date);

    let mut cuts: Vec<f64> = vec![0.0, DAY_SECS];
    for sp in &spans {
        cuts.push(secs(sp.clock_start));
        cuts.push(secs(sp.clock_end()));
    }
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let pieces: Vec<ClockPiece> = cuts
        .windows(2)
        .map(|w| ClockPiece {
            from: w[0],
            to: w[1],
            spans: spans
                .iter()
                .enumerate()
                .filter(|(_, sp)| secs(sp.clock_start) <= w[0] && secs(sp.clock_end()) >= w[1])
                .map(|(i, _)| i)
                .collect(),
        })
        .collect();

    let ranges = |pred: &dyn Fn(&ClockPiece) -> bool| {
        let mut out: Vec<(f64, f64)> = Vec::new();
        for p in pieces.iter().filter(|p| pred(p)) {
            match out.last_mut() {
                Some(last) if last.1 == p.from => last.1 = p.to,
                _ => out.push((p.from, p.to)),
            }
        }
        out
    };
    let skipped_secs = ranges(&|p| p.spans.is_empty());
    let repeated_secs = ranges(&|p| p.spans.len() > 1);

    let mut bars: Vec<Bar> = Vec::new();
    for (i, sp) in spans.iter().enumerate() {
        for seg in timeline.clip(sp.start, sp.end) {
            let (a, b) = (secs(sp.clock_at(seg.start)), secs(sp.clock_at(seg.end)));
            for p in &pieces {
                let (lo, hi) = (a.max(p.from), b.min(p.to));
                if lo >= hi {
                    continue;
                }
                let Some(lane) = p.spans.iter().position(|s| *s == i) else {
                    continue;
                };
                let bar = Bar {
                    kind: seg.kind,
                    x0: lo / DAY_SECS,
                    x1: hi / DAY_SECS,
                    lane,
                    lanes: p.spans.len(),
                };
                match bars.last_mut() {
                    Some(prev)
                        if prev.kind == bar.kind
                            && prev.lane == bar.lane
                            && prev.lanes == bar.lanes
                            && prev.x1 == bar.x0 =>
                    {
                        prev.x1 = bar.x1;
                    }
                    _ => bars.push(bar),
                }
            }
        }
    }

    let now_mark = if period.contains(now) {
        spans
            .iter()
            .enumerate()
            .find(|(_, sp)| sp.start <= now && now < sp.end)
            .and_then(|(i, sp)| {
                let x = secs(sp.clock_at(now));
                let p = pieces.iter().find(|p| p.from <= x && x < p.to)?;
                let lane = p.spans.iter().position(|s| *s == i)?;
                Some((x / DAY_SECS, lane, p.spans.len()))
            })
    } else {
        None
    };

    let note = (!skipped_secs.is_empty() || !repeated_secs.is_empty()).then(|| {
        let as_clock = |r: &[(f64, f64)]| -> Vec<(TimeDelta, TimeDelta)> {
            r.iter()
                .map(|(a, b)| (TimeDelta::seconds(*a as i64), TimeDelta::seconds(*b as i64)))
                .collect()
        };
        text::clock_change_note(
            lang,
            date,
            &as_clock(&skipped_secs),
            &as_clock(&repeated_secs),
        )
    });

    let frac = |r: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
        r.into_iter()
            .map(|(a, b)| (a / DAY_SECS, b / DAY_SECS))
            .collect()
    };
    let row = Row {
        label: text::day_label(lang, date),
        today: period.contains(now),
        bars,
        skipped: frac(skipped_secs),
        repeated: frac(repeated_secs),
        down: (av.elapsed > TimeDelta::zero()).then(|| text::duration(lang, av.down)),
        down_is_zero: av.down == TimeDelta::zero(),
        now: now_mark,
    };
    (row, note)
}

// ---- Colours --------------------------------------------------------------------------------

const fn hex(c: u32) -> RGBColor {
    RGBColor((c >> 16) as u8, (c >> 8) as u8, c as u8)
}

/// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies. Down is
/// also hatched, so it stands out without colour at all.
fn kind_color(kind: IntervalKind) -> RGBColor {
    match kind {
        IntervalKind::Up => hex(0x009E73),      // bluish green
        IntervalKind::Down => hex(0xD55E00),    // vermillion (+ dark hatching)
        IntervalKind::Network => hex(0xE69F00), // orange
        IntervalKind::Unknown => hex(0x9A9A9A), // grey
        IntervalKind::Paused => hex(0xCC79A7),  // reddish purple
    }
}

/// Stripes drawn over down bars.
const DOWN_STRIPES: RGBColor = hex(0x6B2600);

struct Palette {
    bg: RGBColor,
    text: RGBColor,
    muted: RGBColor,
    track: RGBColor,
    grid: RGBColor,
    skipped: RGBColor,
    now: RGBColor,
}

fn palette(theme: Theme) -> Palette {
    match theme {
        Theme::Light => Palette {
            bg: hex(0xFFFFFF),
            text: hex(0x1A1A1A),
            muted: hex(0x6B6B6B),
            track: hex(0xEDEDED),
            grid: hex(0xD2D2D2),
            skipped: hex(0xB0B0B0),
            now: hex(0x000000),
        },
        Theme::Dark => Palette {
            bg: hex(0x1C1C1E),
            text: hex(0xF2F2F2),
            muted: hex(0xA5A5A5),
            track: hex(0x303033),
            grid: hex(0x47474B),
            skipped: hex(0x77777C),
            now: hex(0xFFFFFF),
        },
    }
}

// ---- Drawing ---------------------------------------------------------------------------------

/// How a backend positions text vertically (see `Painter::text`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Png,
    Svg,
}

struct Painter<'a, DB: DrawingBackend> {
    area: &'a DrawingArea<DB, Shift>,
    target: Target,
    fonts: &'a Fonts,
    /// PNG only: texts collected for `blit_text`.
    texts: RefCell<Vec<TextOp>>,
}

type DrawResult = Result<(), String>;

fn font(size: f64, bold: bool) -> FontDesc<'static> {
    let style = if bold {
        FontStyle::Bold
    } else {
        FontStyle::Normal
    };
    FontDesc::new(FontFamily::Name(FONT_FAMILY), size, style)
}

impl<DB: DrawingBackend> Painter<'_, DB> {
    fn rect(&self, x0: f64, y0: f64, x1: f64, y1: f64, color: impl Color) -> DrawResult {
        let (x0, y0, x1, y1) = (
            x0.round() as i32,
            y0.round() as i32,
            x1.round() as i32,
            y1.round() as i32,
        );
        if x0 >= x1 || y0 >= y1 {
            return Ok(());
        }
        self.area
            .draw(&Rectangle::new([(x0, y0), (x1, y1)], color.filled()))
            .map_err(|e| e.to_string())
    }

    fn line(&self, a: (f64, f64), b: (f64, f64), color: impl Color, width: u32) -> DrawResult {
        let p = |(x, y): (f64, f64)| (x.round() as i32, y.round() as i32);
        self.area
            .draw(&PathElement::new(
                vec![p(a), p(b)],
                color.stroke_width(width),
            ))
            .map_err(|e| e.to_string())
    }

    /// Draws `text` with its baseline at `baseline`, anchored horizontally by `h` at `x`.
    /// `size` is the ab_glyph scale (ascent − descent in pixels) in both formats.
    #[allow(clippy::too_many_arguments)]
    fn text(
        &self,
        text: &str,
        x: f64,
        baseline: f64,
        size: f64,
        bold: bool,
        color: RGBColor,
        h: HPos,
    ) -> DrawResult {
        match self.target {
            Target::Png => {
                let width = self.fonts.measure(text, size, bold);
                let left = match h {
                    HPos::Left => x,
                    HPos::Center => x - width / 2.0,
                    HPos::Right => x - width,
                };
                self.texts.borrow_mut().push(TextOp {
                    text: text.to_string(),
                    x: left as f32,
                    baseline: baseline as f32,
                    size: size as f32,
                    bold,
                    color,
                });
                Ok(())
            }
            Target::Svg => {
                // plotters writes `font-size = size / 1.24` and `dy = 0.76em` for a
                // top-anchored text: pick the size that gives the PNG's em, and the top that
                // puts the baseline where asked.
                let em = self.fonts.em(size);
                let top = baseline - 0.76 * em;
                let style = TextStyle::from(font(em * 1.24, bold))
                    .color(&color)
                    .pos(Pos::new(h, VPos::Top));
                self.area
                    .draw_text(text, &style, (x.round() as i32, top.round() as i32))
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Diagonal stripes inside a rectangle, `/` (rising) or `\` (falling), aligned to a global
    /// grid so that neighbouring rectangles continue the same pattern.
    #[allow(clippy::too_many_arguments)]
    fn hatch(
        &self,
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
        spacing: f64,
        rising: bool,
        color: impl Color + Copy,
        width: u32,
    ) -> DrawResult {
        let (x0, y0, x1, y1) = (x0.round(), y0.round(), x1.round() - 1.0, y1.round() - 1.0);
        if x0 > x1 || y0 > y1 || spacing < 1.0 {
            return Ok(());
        }
        if rising {
            // x + y = c
            let (c_lo, c_hi) = ((x0 + y0) / spacing, (x1 + y1) / spacing);
            let mut k = c_lo.ceil();
            while k <= c_hi {
                let c = k * spacing;
                let (xa, xb) = (x0.max(c - y1), x1.min(c - y0));
                if xa <= xb {
                    self.line((xa, c - xa), (xb, c - xb), color, width)?;
                }
                k += 1.0;
            }
        } else {
            // x - y = c
            let (c_lo, c_hi) = ((x0 - y1) / spacing, (x1 - y0) / spacing);
            let mut k = c_lo.ceil();
            while k <= c_hi {
                let c = k * spacing;
                let (xa, xb) = (x0.max(c + y0), x1.min(c + y1));
                if xa <= xb {
                    self.line((xa, xa - c), (xb, xb - c), color, width)?;
                }
                k += 1.0;
            }
        }
        Ok(())
    }
}

/// Sizes and positions, scaled from the 1280×800 design.
struct Geometry {
    s: f64,
    w: f64,
    margin: f64,
    title_size: f64,
    sub_size: f64,
    label_size: f64,
    axis_size: f64,
    legend_size: f64,
    note_size: f64,
    title_base: f64,
    sub_base: f64,
    axis_base: f64,
    rows_top: f64,
    row_h: f64,
    bar_h: f64,
    bars_x0: f64,
    bars_x1: f64,
    total_base: f64,
    legend_lines: Vec<Vec<(usize, f64)>>,
    legend_top: f64,
    legend_line_h: f64,
    note_base: f64,
    note_line_h: f64,
}

impl Geometry {
    fn new(scene: &Scene, config: &PlottersConfig, fonts: &Fonts) -> Self {
        let measure = |t: &str, size: f64, bold: bool| fonts.measure(t, size, bold);
        let (w, h) = (f64::from(config.width), f64::from(config.height));
        let s = (w / DESIGN_W).min(h / DESIGN_H);
        let margin = 24.0 * s;
        let title_size = 38.0 * s;
        let sub_size = 23.0 * s;
        let label_size = 24.0 * s;
        let axis_size = 20.0 * s;
        let legend_size = 21.0 * s;
        let note_size = 20.0 * s;

        let title_base = margin + 30.0 * s;
        let sub_base = title_base + 36.0 * s;
        let axis_base = sub_base + 44.0 * s;
        let rows_top = axis_base + 12.0 * s;

        // Left column: day labels (today's is bold).
        let label_w = scene
            .rows
            .iter()
            .map(|r| measure(&r.label, label_size, true))
            .fold(0.0, f64::max);
        // Right column: the header and the daily figures.
        let col_w = scene
            .rows
            .iter()
            .filter_map(|r| r.down.as_deref())
            .map(|t| measure(t, label_size, false))
            .chain([
                measure(scene.header, axis_size, true),
                measure("00 h 00 min", label_size, false),
            ])
            .fold(0.0, f64::max);
        let bars_x0 = margin + label_w + 18.0 * s;
        let bars_x1 = w - margin - col_w - 40.0 * s;

        // Legend: swatch + gap + label, wrapped into lines.
        let swatch = legend_size;
        let item_gap = 30.0 * s;
        let max_line = w - 2.0 * margin;
        let mut legend_lines: Vec<Vec<(usize, f64)>> = vec![Vec::new()];
        let mut line_w = 0.0;
        for (i, (_, label)) in scene.legend.iter().enumerate() {
            let item_w = swatch + 10.0 * s + measure(label, legend_size, false);
            let needed = if line_w > 0.0 {
                item_gap + item_w
            } else {
                item_w
            };
            if line_w > 0.0 && line_w + needed > max_line {
                legend_lines.push(Vec::new());
                line_w = 0.0;
            }
            let x = margin + if line_w > 0.0 { line_w + item_gap } else { 0.0 };
            line_w += if line_w > 0.0 {
                item_gap + item_w
            } else {
                item_w
            };
            if let Some(line) = legend_lines.last_mut() {
                line.push((i, x));
            }
        }
        let legend_line_h = 34.0 * s;
        let note_line_h = 28.0 * s;

        let bottom_h = 44.0 * s // total line
            + legend_lines.len() as f64 * legend_line_h
            + 8.0 * s
            + scene.notes.len() as f64 * note_line_h
            + margin;
        let row_h = ((h - rows_top - bottom_h) / 7.0).max(20.0 * s);
        let rows_bottom = rows_top + 7.0 * row_h;
        let total_base = rows_bottom + 32.0 * s;
        let legend_top = rows_bottom + 48.0 * s;
        let note_base = legend_top + legend_lines.len() as f64 * legend_line_h + 20.0 * s;

        Geometry {
            s,
            w,
            margin,
            title_size,
            sub_size,
            label_size,
            axis_size,
            legend_size,
            note_size,
            title_base,
            sub_base,
            axis_base,
            rows_top,
            row_h,
            bar_h: row_h * 0.7,
            bars_x0,
            bars_x1,
            total_base,
            legend_lines,
            legend_top,
            legend_line_h,
            note_base,
            note_line_h,
        }
    }

    fn x(&self, frac: f64) -> f64 {
        self.bars_x0 + frac * (self.bars_x1 - self.bars_x0)
    }

    /// Top and bottom of the bar in row `i`.
    fn bar_y(&self, i: usize) -> (f64, f64) {
        let top = self.rows_top + i as f64 * self.row_h + (self.row_h - self.bar_h) / 2.0;
        (top, top + self.bar_h)
    }

    /// Baseline that centres capital letters of `size` on the row `i`.
    fn row_baseline(&self, i: usize, size: f64) -> f64 {
        self.rows_top + (i as f64 + 0.5) * self.row_h + size * 0.31
    }
}

/// Draw order: the most important state last, so it is never hidden by a neighbour's
/// minimum width.
fn draw_rank(kind: IntervalKind) -> u8 {
    match kind {
        IntervalKind::Up => 0,
        IntervalKind::Paused => 1,
        IntervalKind::Unknown => 2,
        IntervalKind::Network => 3,
        IntervalKind::Down => 4,
    }
}

fn draw<DB: DrawingBackend>(
    p: &Painter<'_, DB>,
    scene: &Scene,
    config: &PlottersConfig,
) -> DrawResult {
    let pal = palette(config.theme);
    let g = Geometry::new(scene, config, p.fonts);
    let fonts = p.fonts;
    let s = g.s;
    let stripe_w = (1.4 * s).round().max(1.0) as u32;
    p.area.fill(&pal.bg).map_err(|e| e.to_string())?;

    // Title: "Name — dates", the name shortened if it does not fit.
    let max_title_w = g.w - 2.0 * g.margin;
    let dates = format!(" — {}", scene.dates);
    let name_w = max_title_w - fonts.measure(&dates, g.title_size, true);
    let title = fonts.truncate_to(&scene.name, g.title_size, true, name_w) + &dates;
    let title_size = fonts.fit_size(&title, g.title_size, true, max_title_w);
    p.text(
        &title,
        g.margin,
        g.title_base,
        title_size,
        true,
        pal.text,
        HPos::Left,
    )?;
    let sub_size = fonts.fit_size(&scene.subtitle, g.sub_size, false, max_title_w);
    p.text(
        &scene.subtitle,
        g.margin,
        g.sub_base,
        sub_size,
        false,
        pal.muted,
        HPos::Left,
    )?;

    // Hour axis and column header.
    for hour in (0..=24).step_by(3) {
        let x = g.x(f64::from(hour) / 24.0);
        p.text(
            &format!("{hour:02}:00"),
            x,
            g.axis_base,
            g.axis_size,
            false,
            pal.muted,
            HPos::Center,
        )?;
    }
    p.text(
        scene.header,
        g.w - g.margin,
        g.axis_base,
        g.axis_size,
        true,
        pal.text,
        HPos::Right,
    )?;

    for (i, row) in scene.rows.iter().enumerate() {
        let (top, bottom) = g.bar_y(i);
        // Day label and track.
        p.text(
            &row.label,
            g.margin,
            g.row_baseline(i, g.label_size),
            g.label_size,
            row.today,
            pal.text,
            HPos::Left,
        )?;
        p.rect(g.bars_x0, top, g.bars_x1, bottom, pal.track)?;
        // Hour grid inside the track.
        for hour in 1..24 {
            let x = g.x(f64::from(hour) / 24.0).round();
            p.rect(x, top, x + 1.0, bottom, pal.grid)?;
        }
        // Clock time that did not exist.
        for &(a, b) in &row.skipped {
            let (x0, x1) = (g.x(a), g.x(b));
            p.rect(x0, top, x1, bottom, pal.bg)?;
            p.hatch(x0, top, x1, bottom, 8.0 * s, false, pal.skipped, 1)?;
        }
        // State bars.
        let mut bars = row.bars.clone();
        bars.sort_by_key(|b| draw_rank(b.kind));
        for bar in &bars {
            let lane_h = g.bar_h / bar.lanes as f64;
            let y0 = top + lane_h * bar.lane as f64;
            let y1 = y0 + lane_h;
            let x0 = g.x(bar.x0).round();
            let mut x1 = g.x(bar.x1).round();
            let min_w = if draw_rank(bar.kind) >= 3 { 2.0 } else { 1.0 };
            if x1 - x0 < min_w {
                x1 = x0 + min_w;
            }
            p.rect(x0, y0, x1, y1, kind_color(bar.kind))?;
            if bar.kind == IntervalKind::Down {
                p.hatch(x0, y0, x1, y1, 8.0 * s, true, DOWN_STRIPES, stripe_w)?;
            }
        }
        // Lane separator in a repeated hour.
        for &(a, b) in &row.repeated {
            let y = (top + bottom) / 2.0;
            p.rect(g.x(a), y - 1.0 * s, g.x(b), y + 1.0 * s, pal.bg)?;
        }
        // Now.
        if let Some((frac, lane, lanes)) = row.now {
            let x = g.x(frac).round();
            let lane_h = g.bar_h / lanes as f64;
            let (y0, y1) = (top + lane_h * lane as f64, top + lane_h * (lane + 1) as f64);
            p.rect(
                x - 1.5 * s,
                y0 - 5.0 * s,
                x + 1.5 * s,
                y1 + 5.0 * s,
                pal.now,
            )?;
        }
        // Hours without power.
        if let Some(down) = &row.down {
            let color = if row.down_is_zero {
                pal.muted
            } else {
                pal.text
            };
            p.text(
                down,
                g.w - g.margin,
                g.row_baseline(i, g.label_size),
                g.label_size,
                false,
                color,
                HPos::Right,
            )?;
        }
    }
    // Light 6-hour lines over the bars to help reading times.
    let over: RGBAColor = pal.bg.mix(0.55);
    for hour in [6, 12, 18] {
        let x = g.x(f64::from(hour) / 24.0).round();
        for i in 0..scene.rows.len() {
            let (top, bottom) = g.bar_y(i);
            p.rect(x, top, x + 1.0, bottom, over)?;
        }
    }
    p.text(
        &scene.total,
        g.w - g.margin,
        g.total_base,
        g.label_size,
        true,
        pal.text,
        HPos::Right,
    )?;

    // Legend.
    let sw = g.legend_size;
    for (li, line) in g.legend_lines.iter().enumerate() {
        let top = g.legend_top + li as f64 * g.legend_line_h;
        for &(item, x) in line {
            let Some((swatch, label)) = scene.legend.get(item) else {
                continue;
            };
            let (x0, y0, x1, y1) = (x, top, x + sw, top + sw);
            match swatch {
                Swatch::Kind(kind) => {
                    p.rect(x0, y0, x1, y1, kind_color(*kind))?;
                    if *kind == IntervalKind::Down {
                        p.hatch(x0, y0, x1, y1, 8.0 * s, true, DOWN_STRIPES, stripe_w)?;
                    }
                }
                Swatch::NoData => {
                    p.rect(x0, y0, x1, y1, pal.track)?;
                }
                Swatch::Skipped => {
                    p.rect(x0, y0, x1, y1, pal.track)?;
                    p.rect(x0 + 1.0, y0 + 1.0, x1 - 1.0, y1 - 1.0, pal.bg)?;
                    p.hatch(
                        x0 + 1.0,
                        y0 + 1.0,
                        x1 - 1.0,
                        y1 - 1.0,
                        6.0 * s,
                        false,
                        pal.skipped,
                        1,
                    )?;
                }
            }
            p.text(
                label,
                x1 + 10.0 * s,
                y0 + sw / 2.0 + g.legend_size * 0.31,
                g.legend_size,
                false,
                pal.text,
                HPos::Left,
            )?;
        }
    }

    // Notes about clock changes.
    for (i, note) in scene.notes.iter().enumerate() {
        let size = fonts.fit_size(note, g.note_size, false, g.w - 2.0 * g.margin);
        p.text(
            note,
            g.margin,
            g.note_base + i as f64 * g.note_line_h,
            size,
            false,
            pal.muted,
            HPos::Left,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDateTime, TimeZone};
    use outage_core::domain::{LocationId, StateInterval};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn local(tz: chrono_tz::Tz, s: &str) -> DateTime<Utc> {
        let n = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        tz.from_local_datetime(&n)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn iv(kind: IntervalKind, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> StateInterval {
        StateInterval {
            location_id: LocationId(7),
            kind,
            start,
            end,
        }
    }

    fn week(
        tz: chrono_tz::Tz,
        monday: &str,
        now: DateTime<Utc>,
        intervals: Vec<StateInterval>,
    ) -> WeekDiagram {
        WeekDiagram {
            location_name: "Test".into(),
            monday: NaiveDate::parse_from_str(monday, "%Y-%m-%d").unwrap(),
            tz,
            intervals,
            now,
            language: Language::En,
        }
    }

    /// Real time covered by the bars of a row (a lane bar in a repeated hour is real time too).
    fn drawn_hours(row: &Row) -> f64 {
        row.bars.iter().map(|b| (b.x1 - b.x0) * 24.0).sum()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn spring_day_has_a_hatched_hour_and_23_hours_of_bars() {
        let kyiv = chrono_tz::Europe::Kyiv;
        let w = week(
            kyiv,
            "2026-03-23",
            utc("2026-04-01T00:00:00Z"),
            vec![iv(IntervalKind::Up, utc("2026-03-01T00:00:00Z"), None)],
        );
        let scene = Scene::build(&w);
        let sunday = &scene.rows[6];
        assert_eq!(sunday.skipped.len(), 1);
        assert!(close(sunday.skipped[0].0, 3.0 / 24.0) && close(sunday.skipped[0].1, 4.0 / 24.0));
        assert!(sunday.repeated.is_empty());
        assert!(close(drawn_hours(sunday), 23.0), "{}", drawn_hours(sunday));
        assert!(sunday.bars.iter().all(|b| b.lanes == 1));
        assert!(close(drawn_hours(&scene.rows[5]), 24.0));
        assert_eq!(scene.notes.len(), 1);
        assert!(
            scene.notes[0].contains("03:00–04:00 did not exist"),
            "{}",
            scene.notes[0]
        );
        assert!(scene.legend.iter().any(|(s, _)| *s == Swatch::Skipped));
    }

    #[test]
    fn autumn_day_draws_the_repeated_hour_in_two_lanes() {
        let kyiv = chrono_tz::Europe::Kyiv;
        // Down from the first 03:20 (EEST) to the second 03:40 (EET).
        let w = week(
            kyiv,
            "2026-10-19",
            utc("2026-11-01T00:00:00Z"),
            vec![
                iv(
                    IntervalKind::Up,
                    utc("2026-10-01T00:00:00Z"),
                    Some(utc("2026-10-25T00:20:00Z")),
                ),
                iv(
                    IntervalKind::Down,
                    utc("2026-10-25T00:20:00Z"),
                    Some(utc("2026-10-25T01:40:00Z")),
                ),
                iv(IntervalKind::Up, utc("2026-10-25T01:40:00Z"), None),
            ],
        );
        let scene = Scene::build(&w);
        let sunday = &scene.rows[6];
        assert!(sunday.skipped.is_empty());
        assert_eq!(sunday.repeated.len(), 1);
        assert!(close(sunday.repeated[0].0, 3.0 / 24.0) && close(sunday.repeated[0].1, 4.0 / 24.0));
        assert!(close(drawn_hours(sunday), 25.0), "{}", drawn_hours(sunday));
        let downs: Vec<&Bar> = sunday
            .bars
            .iter()
            .filter(|b| b.kind == IntervalKind::Down)
            .collect();
        assert_eq!(downs.len(), 2, "{downs:?}");
        let h = |x: f64| x * 24.0;
        // First pass of 03:00–04:00: upper lane, 03:20 to 04:00.
        assert_eq!((downs[0].lane, downs[0].lanes), (0, 2));
        assert!(close(h(downs[0].x0), 3.0 + 20.0 / 60.0) && close(h(downs[0].x1), 4.0));
        // Second pass: lower lane, 03:00 to 03:40.
        assert_eq!((downs[1].lane, downs[1].lanes), (1, 2));
        assert!(close(h(downs[1].x0), 3.0) && close(h(downs[1].x1), 3.0 + 40.0 / 60.0));
        assert_eq!(sunday.down.as_deref(), Some("1 h 20 min"));
        assert!(
            scene.notes[0].contains("happened twice"),
            "{}",
            scene.notes[0]
        );
        assert!(!scene.legend.iter().any(|(s, _)| *s == Swatch::Skipped));
    }

    #[test]
    fn the_future_is_blank_and_today_is_marked() {
        let kyiv = chrono_tz::Europe::Kyiv;
        let now = local(kyiv, "2026-11-26 15:40");
        let w = week(
            kyiv,
            "2026-11-23",
            now,
            vec![
                iv(
                    IntervalKind::Up,
                    utc("2026-11-01T00:00:00Z"),
                    Some(local(kyiv, "2026-11-24 19:05")),
                ),
                iv(
                    IntervalKind::Down,
                    local(kyiv, "2026-11-24 19:05"),
                    Some(local(kyiv, "2026-11-24 19:47")),
                ),
                iv(IntervalKind::Up, local(kyiv, "2026-11-24 19:47"), None),
            ],
        );
        let scene = Scene::build(&w);
        let today = &scene.rows[3];
        assert!(today.today && !scene.rows[2].today);
        let end = today.bars.iter().map(|b| b.x1).fold(0.0, f64::max);
        assert!(close(end * 24.0, 15.0 + 40.0 / 60.0), "{end}");
        let (x, lane, lanes) = today.now.unwrap();
        assert!(close(x, end) && lane == 0 && lanes == 1);
        for row in &scene.rows[4..] {
            assert!(row.bars.is_empty() && row.down.is_none() && row.now.is_none());
        }
        assert_eq!(scene.rows[1].down.as_deref(), Some("42 min"));
        assert!(!scene.rows[1].down_is_zero && scene.rows[0].down_is_zero);
        assert_eq!(scene.total, "Week total: 42 min");
        assert_eq!(scene.dates, "23–29 Nov 2026");
        assert!(
            scene.subtitle.starts_with("1 outage, 42 min"),
            "{}",
            scene.subtitle
        );
    }

    #[test]
    fn zones_changing_at_midnight_and_a_skipped_date() {
        // Brazil sprang forward at 00:00 on 2018-11-04: that day starts at 01:00.
        let sp = chrono_tz::America::Sao_Paulo;
        let w = week(
            sp,
            "2018-10-29",
            utc("2018-12-01T00:00:00Z"),
            vec![iv(IntervalKind::Up, utc("2018-10-01T00:00:00Z"), None)],
        );
        let scene = Scene::build(&w);
        assert_eq!(scene.rows[6].skipped, vec![(0.0, 1.0 / 24.0)]);
        assert!(close(drawn_hours(&scene.rows[6]), 23.0));
        assert!(
            scene.notes[0].contains("00:00–01:00 did not exist"),
            "{}",
            scene.notes[0]
        );

        // Samoa skipped Friday 2011-12-30 entirely: the whole row is hatched.
        let apia = chrono_tz::Pacific::Apia;
        let w = week(
            apia,
            "2011-12-26",
            utc("2012-01-10T00:00:00Z"),
            vec![iv(IntervalKind::Up, utc("2011-12-01T00:00:00Z"), None)],
        );
        let scene = Scene::build(&w);
        assert_eq!(scene.rows[4].skipped, vec![(0.0, 1.0)]);
        assert!(scene.rows[4].bars.is_empty());
        assert_eq!(scene.rows[4].down.as_deref(), None);
        assert!(close(drawn_hours(&scene.rows[3]), 24.0));
    }

    #[test]
    fn svg_title_is_escaped() {
        let svg = add_svg_title("<svg a=\"1\">\n<rect/></svg>".into(), "Mom & Dad <3");
        assert_eq!(
            svg,
            "<svg a=\"1\">\n<title>Mom &amp; Dad &lt;3</title>\n<rect/></svg>"
        );
    }

    #[test]
    fn measuring_and_fitting_text() {
        let f = fonts().unwrap();
        let w = f.measure("Home", 24.0, false);
        assert!(w > 40.0 && w < 90.0, "{w}");
        assert!(f.measure("Home", 24.0, true) > w);
        assert!(f.measure("Дім", 24.0, false) > 20.0);
        let long = "A very long location name ".repeat(10);
        let cut = f.truncate_to(&long, 24.0, false, 300.0);
        assert!(cut.ends_with('…') && f.measure(&cut, 24.0, false) <= 300.0);
        assert_eq!(f.fit_size("short", 20.0, false, 1000.0), 20.0);
        assert!(f.fit_size(&long, 20.0, false, 1000.0) < 20.0);
    }
}
