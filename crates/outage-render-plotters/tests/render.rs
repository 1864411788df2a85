//! Rendering tests: SVG snapshots (reviewed on change), PNG structure and pixels, Cyrillic
//! text, the plugin registration.
//!
//! Update the snapshots after an intended change with
//! `UPDATE_EXPECT=1 cargo test -p outage-render-plotters --test render` and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../examples/common/mod.rs"]
mod common;

use ab_glyph::{Font, FontRef};
use expect_test::expect_file;
use outage_core::DiagramRenderer;
use outage_core::registry::{self, Factory, PluginContext, PluginKind};
use outage_core::render::{ImageFormat, Language, RenderError, WeekDiagram};
use outage_render_plotters::{EXAMPLE_CONFIG, PlottersConfig, PlottersRenderer, Theme};

fn svg(renderer: &PlottersRenderer, week: &WeekDiagram) -> String {
    let bytes = renderer.render(week, ImageFormat::Svg).unwrap();
    String::from_utf8(bytes).unwrap()
}

fn dark() -> PlottersRenderer {
    PlottersRenderer::new(PlottersConfig {
        theme: Theme::Dark,
        ..PlottersConfig::default()
    })
    .unwrap()
}

#[test]
fn snapshot_quiet_week_en() {
    expect_file!["snapshots/quiet-week-en.svg"]
        .assert_eq(&svg(&PlottersRenderer::default(), &common::quiet_week()));
}

#[test]
fn snapshot_bad_week_uk() {
    expect_file!["snapshots/bad-week-uk.svg"]
        .assert_eq(&svg(&PlottersRenderer::default(), &common::bad_week()));
}

#[test]
fn snapshot_spring_dst_week_en() {
    expect_file!["snapshots/spring-dst-week-en.svg"].assert_eq(&svg(
        &PlottersRenderer::default(),
        &common::spring_dst_week(Language::En),
    ));
}

#[test]
fn snapshot_autumn_dst_week_uk_dark() {
    expect_file!["snapshots/autumn-dst-week-uk-dark.svg"]
        .assert_eq(&svg(&dark(), &common::autumn_dst_week(Language::Uk)));
}

#[test]
fn rendering_is_deterministic() {
    let r = PlottersRenderer::default();
    let week = common::bad_week();
    assert_eq!(svg(&r, &week), svg(&r, &week));
    assert_eq!(
        r.render(&week, ImageFormat::Png).unwrap(),
        r.render(&week, ImageFormat::Png).unwrap()
    );
}

/// Text contents of the SVG's `<text>` elements (entities left as they are).
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let start = t.find('>')? + 1;
            let end = t.find("</text>")?;
            Some(t[start..end].trim().to_string())
        })
        .collect()
}

#[test]
fn cyrillic_text_is_in_the_svg_and_covered_by_the_embedded_font() {
    let out = svg(&PlottersRenderer::default(), &common::bad_week());
    let texts = svg_texts(&out);
    assert!(
        texts.iter().any(|t| t == "Дім — 16–22 листопада 2026"),
        "{texts:?}"
    );
    for expected in [
        "Пн 16 лис",
        "Нд 22 лис",
        "Без світла",
        "Світла немає",
        "7 год 50 хв",
    ] {
        assert!(
            texts.iter().any(|t| t == expected),
            "{expected} not in {texts:?}"
        );
    }
    assert!(out.contains("font-family=\"DejaVu Sans, sans-serif\""));
    assert!(out.contains("<title>Дім — 16–22 листопада 2026</title>"));

    // Every character drawn has a glyph in DejaVu Sans (no tofu boxes in the PNG).
    let regular = FontRef::try_from_slice(dejavu::sans::regular()).unwrap();
    let bold = FontRef::try_from_slice(dejavu::sans::bold()).unwrap();
    for week in [
        common::bad_week(),
        common::quiet_week(),
        common::spring_dst_week(Language::Uk),
        common::autumn_dst_week(Language::Uk),
        common::spring_dst_week(Language::En),
    ] {
        for t in svg_texts(&svg(&PlottersRenderer::default(), &week)) {
            for c in t.chars().filter(|c| !c.is_whitespace()) {
                assert_ne!(regular.glyph_id(c).0, 0, "no glyph for {c:?} in {t:?}");
                assert_ne!(bold.glyph_id(c).0, 0, "no bold glyph for {c:?} in {t:?}");
            }
        }
    }
}

#[test]
fn special_characters_and_long_names_stay_valid() {
    let mut week = common::quiet_week();
    week.location_name = format!("Mom & Dad <flat> {}", "very long name ".repeat(20));
    let out = svg(&PlottersRenderer::default(), &week);
    let title = svg_texts(&out).into_iter().next().unwrap();
    assert!(
        title.starts_with("Mom &amp; Dad &lt;flat&gt;")
            || title.starts_with("Mom &amp; Dad &lt;flat>"),
        "{title}"
    );
    assert!(
        title.contains("…") && title.ends_with("23–29 Nov 2026"),
        "{title}"
    );
    assert!(!out.contains("Mom & Dad"));
}

struct Decoded {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

fn decode_png(bytes: &[u8]) -> Decoded {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    Decoded {
        width: info.width,
        height: info.height,
        rgb: buf,
    }
}

impl Decoded {
    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    fn count(&self, color: [u8; 3]) -> usize {
        self.rgb.chunks_exact(3).filter(|p| *p == color).count()
    }

    /// Pixels in rows `y0..y1` that differ from the background.
    fn ink(&self, y0: u32, y1: u32, bg: [u8; 3]) -> usize {
        (y0..y1)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|(x, y)| self.pixel(*x, *y) != bg)
            .count()
    }
}

const VERMILLION: [u8; 3] = [0xD5, 0x5E, 0x00];
const GREEN: [u8; 3] = [0x00, 0x9E, 0x73];
const WHITE: [u8; 3] = [0xFF, 0xFF, 0xFF];

#[test]
fn png_has_the_configured_size_and_colours() {
    let r = PlottersRenderer::default();
    let quiet = decode_png(&r.render(&common::quiet_week(), ImageFormat::Png).unwrap());
    assert_eq!((quiet.width, quiet.height), (1280, 800));
    assert_eq!(quiet.pixel(0, 0), WHITE);
    assert!(quiet.count(GREEN) > 100_000, "power-on bars are drawn");
    let bad = decode_png(&r.render(&common::bad_week(), ImageFormat::Png).unwrap());
    // 47 h without power vs 42 min: far more vermillion.
    assert!(
        bad.count(VERMILLION) > 10 * quiet.count(VERMILLION),
        "{} vs {}",
        bad.count(VERMILLION),
        quiet.count(VERMILLION)
    );
    // The title band holds text (the embedded font was used).
    assert!(quiet.ink(20, 60, WHITE) > 1_000);
    assert!(bad.ink(20, 60, WHITE) > 1_000);

    let big = PlottersRenderer::new(PlottersConfig {
        width: 1920,
        height: 1200,
        theme: Theme::Dark,
    })
    .unwrap();
    let png = decode_png(&big.render(&common::bad_week(), ImageFormat::Png).unwrap());
    assert_eq!((png.width, png.height), (1920, 1200));
    assert_eq!(png.pixel(0, 0), [0x1C, 0x1C, 0x1E]);
}

#[test]
fn svg_has_the_configured_size() {
    let out = svg(&PlottersRenderer::default(), &common::quiet_week());
    assert!(out.starts_with("<svg"), "{}", &out[..40]);
    assert!(out.contains("width=\"1280\"") && out.contains("height=\"800\""));
    assert!(out.trim_end().ends_with("</svg>"));
}

#[test]
fn config_is_validated() {
    for bad in [
        PlottersConfig {
            width: 100,
            ..PlottersConfig::default()
        },
        PlottersConfig {
            height: 5000,
            ..PlottersConfig::default()
        },
        PlottersConfig {
            width: 3840,
            height: 600,
            ..PlottersConfig::default()
        },
    ] {
        assert!(PlottersRenderer::new(bad).is_err());
    }
    let err = PlottersConfig::from_value(&serde_json::json!({"widht": 1280})).unwrap_err();
    assert!(err.contains("widht") && err.contains("width"), "{err}");
    assert_eq!(
        PlottersConfig::from_value(&serde_json::Value::Null).unwrap(),
        PlottersConfig::default()
    );
}

#[test]
fn registered_as_the_plotters_renderer_plugin() {
    let d = registry::find(PluginKind::Renderer, "plotters").unwrap();
    assert_eq!(d.name, outage_render_plotters::NAME);
    let Factory::Renderer(factory) = d.factory else {
        panic!("not a renderer factory");
    };
    // The example config parses and builds.
    let doc: toml::Value = toml::from_str(d.example_config).unwrap();
    assert_eq!(d.example_config, EXAMPLE_CONFIG);
    let table = serde_json::to_value(&doc["renderer"]["plotters"]).unwrap();
    let config = outage_core::config::Config::default();
    let renderer = factory(&PluginContext {
        config: &config,
        table: &table,
        instance: "plotters",
    })
    .unwrap();
    let png = renderer
        .render(&common::quiet_week(), ImageFormat::Png)
        .unwrap();
    assert_eq!(decode_png(&png).width, 1280);
    // Defaults without a table; a bad table names the section.
    assert!(
        factory(&PluginContext {
            config: &config,
            table: &serde_json::Value::Null,
            instance: "plotters",
        })
        .is_ok()
    );
    let bad = serde_json::json!({"theme": "neon"});
    let err = factory(&PluginContext {
        config: &config,
        table: &bad,
        instance: "plotters",
    })
    .unwrap_err();
    assert!(err.to_string().contains("renderer.plotters"), "{err}");
}

#[test]
fn render_error_type_is_the_core_one() {
    // Compile-time check that the trait object API is usable from a plain Arc.
    let r: std::sync::Arc<dyn DiagramRenderer> = std::sync::Arc::new(PlottersRenderer::default());
    let res: Result<Vec<u8>, RenderError> = r.render(&common::quiet_week(), ImageFormat::Svg);
    assert!(res.is_ok());
}
