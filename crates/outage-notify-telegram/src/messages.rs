//! The texts of the messages, in English and Ukrainian, in Telegram's HTML parse mode.
//!
//! Location names come from users and are escaped ([`escape_html`]); everything else is ours.
//! Times are shown in `monitor.timezone`: `14:02` on the day of the message, with the date
//! (`23 Nov 14:02`, `23.11 14:02`) when it was another day.

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use outage_core::notify::{Alert, DiagramImage};
use outage_core::render::Language;
use outage_core::text::{en, uk};

use crate::config::Style;

/// Escapes text for Telegram's HTML parse mode: `&`, `<`, `>` and `"`.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

pub use outage_core::text::human_duration;

/// "1 місце", "2 місця", "5 місць", "21 місце".
fn uk_places(n: usize) -> String {
    let word = match (n % 10, n % 100) {
        (1, r) if r != 11 => "місце",
        (2..=4, r) if !(12..=14).contains(&r) => "місця",
        _ => "місць",
    };
    format!("{n} {word}")
}

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Renders alerts as message texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Templates {
    /// Language of the texts.
    pub language: Language,
    /// Time zone of the times shown.
    pub tz: Tz,
    /// Compact or detailed.
    pub style: Style,
}

impl Templates {
    /// Texts in `language`, times in `tz`.
    pub fn new(language: Language, tz: Tz, style: Style) -> Self {
        Self {
            language,
            tz,
            style,
        }
    }

    fn uk(&self) -> bool {
        self.language == Language::Uk
    }

    /// `14:02`, or with the date when `t` is on another local day than `reference`.
    pub fn time(&self, t: DateTime<Utc>, reference: DateTime<Utc>) -> String {
        let l = t.with_timezone(&self.tz);
        let r = reference.with_timezone(&self.tz);
        let hm = l.format("%H:%M").to_string();
        if l.date_naive() == r.date_naive() {
            return hm;
        }
        match self.language {
            Language::En => format!("{} {} {hm}", l.day(), MONTHS_EN[l.month0() as usize]),
            Language::Uk => format!("{:02}.{:02} {hm}", l.day(), l.month()),
        }
    }

    fn seconds(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz).format("%H:%M:%S").to_string()
    }

    /// Ukrainian "з 14:02", but "із 7:00" before the sibilants of сьомої, четвертої, шостої,
    /// чотирнадцятої.
    fn uk_from(&self, t: DateTime<Utc>) -> &'static str {
        uk::from(self.hour(t))
    }

    fn hour(&self, t: DateTime<Utc>) -> u32 {
        t.with_timezone(&self.tz).hour()
    }

    fn uk_since(&self, t: DateTime<Utc>, reference: DateTime<Utc>) -> String {
        format!("{} {}", self.uk_from(t), self.time(t, reference))
    }

    fn dur(&self, d: TimeDelta) -> String {
        human_duration(d, self.language)
    }

    fn name(a: &Alert) -> String {
        format!("<b>{}</b>", escape_html(&a.location_name))
    }

    /// The first line of the outage message: "🔴 <b>Home</b> — power is off since 14:02".
    fn outage_head(&self, a: &Alert) -> String {
        let n = Self::name(a);
        match (a.started_at, self.uk()) {
            (Some(s), false) => format!("🔴 {n} — {}", en::power_off_since(&self.time(s, a.at))),
            (Some(s), true) => format!(
                "🔴 {n} — {}",
                uk::power_off_since(&self.time(s, a.at), self.hour(s))
            ),
            (None, false) => format!("🔴 {n} — {}", en::POWER_OFF_START_UNKNOWN),
            (None, true) => format!("🔴 {n} — {}", uk::POWER_OFF_START_UNKNOWN),
        }
    }

    fn detail_line(&self, a: &Alert, updated: bool) -> String {
        if self.style != Style::Detailed {
            return String::new();
        }
        let mut parts = Vec::new();
        if let Some(s) = a.started_at {
            parts.push(match self.uk() {
                false => format!("last heartbeat {}", self.seconds(s)),
                true => format!("останній сигнал {}", self.seconds(s)),
            });
        }
        if let Some(d) = a.detected_at {
            parts.push(match self.uk() {
                false => format!("noticed {}", self.seconds(d)),
                true => format!("помічено {}", self.seconds(d)),
            });
        }
        if updated {
            parts.push(match self.uk() {
                false => format!("updated {}", self.seconds(a.at)),
                true => format!("оновлено {}", self.seconds(a.at)),
            });
        }
        if parts.is_empty() {
            return String::new();
        }
        format!("\n<i>{}</i>", parts.join(" · "))
    }

    /// The outage alert (the live message, first version).
    pub fn outage(&self, a: &Alert) -> String {
        format!("{}{}", self.outage_head(a), self.detail_line(a, false))
    }

    /// The live message while the outage lasts, with the running duration as of `a.at`.
    pub fn outage_update(&self, a: &Alert) -> String {
        let running = match (a.started_at, a.detected_at) {
            (Some(s), _) => Some((false, a.at - s)),
            (None, Some(d)) => Some((true, a.at - d)),
            (None, None) => None,
        };
        let line = match (running, self.uk()) {
            (Some((false, d)), false) => format!("\n⏱ {}", en::without_power(&self.dur(d))),
            (Some((false, d)), true) => format!("\n⏱ без світла вже {}", self.dur(d)),
            (Some((true, d)), false) => format!("\n⏱ at least {} without power", self.dur(d)),
            (Some((true, d)), true) => format!("\n⏱ без світла щонайменше {}", self.dur(d)),
            (None, _) => String::new(),
        };
        format!("{}{line}{}", self.outage_head(a), self.detail_line(a, true))
    }

    fn ended(a: &Alert) -> DateTime<Utc> {
        a.ended_at.unwrap_or(a.at)
    }

    /// The outage message's final version once power is back.
    pub fn outage_summary(&self, a: &Alert) -> String {
        let n = Self::name(a);
        let end = Self::ended(a);
        let until = self.time(end, a.at);
        match (a.started_at, self.uk()) {
            (Some(s), false) => format!(
                "🔌 {n} — power was off from {} to {until} ({})",
                self.time(s, end),
                self.dur(end - s)
            ),
            (Some(s), true) => format!(
                "🔌 {n} — світла не було {} до {until} ({})",
                self.uk_since(s, end),
                self.dur(end - s)
            ),
            (None, false) => format!(
                "🔌 {n} — power was off until {until} (it went out while the monitor was offline)"
            ),
            (None, true) => format!(
                "🔌 {n} — світла не було до {until} (воно зникло, поки монітор не працював)"
            ),
        }
    }

    /// The restore message (sent as a reply to the outage message).
    pub fn restored(&self, a: &Alert) -> String {
        let n = Self::name(a);
        let end = Self::ended(a);
        let text = match (a.started_at, self.uk()) {
            (Some(s), false) => format!(
                "🟢 {n}: {}",
                en::power_back(&self.time(end, a.at), &self.dur(end - s))
            ),
            (Some(s), true) => format!(
                "🟢 {n}: {}",
                uk::power_back(&self.time(end, a.at), self.hour(end), &self.dur(end - s))
            ),
            (None, false) => format!(
                "🟢 {n}: {}",
                en::power_back_start_unknown(&self.time(end, a.at))
            ),
            (None, true) => format!(
                "🟢 {n}: {}",
                uk::power_back_start_unknown(&self.time(end, a.at), self.hour(end))
            ),
        };
        match (self.style, a.started_at) {
            (Style::Detailed, Some(s)) => {
                let line = match self.uk() {
                    false => format!("off from {} to {}", self.seconds(s), self.seconds(end)),
                    true => format!(
                        "без світла {} {} до {}",
                        self.uk_from(s),
                        self.seconds(s),
                        self.seconds(end)
                    ),
                };
                format!("{text}\n<i>{line}</i>")
            }
            _ => text,
        }
    }

    /// The outage message's final version when only the network was down.
    pub fn network_only(&self, a: &Alert) -> String {
        let n = Self::name(a);
        let end = Self::ended(a);
        let from = a.started_at.or(a.detected_at);
        let span = from.map(|s| (self.dur(end - s), self.time(s, end), self.time(end, a.at)));
        match (span, self.uk()) {
            (Some((d, s, e)), false) => {
                format!("🟡 {n} — {} ({s}–{e})", en::network_only_for(&d))
            }
            (Some((d, s, e)), true) => {
                format!("🟡 {n} — {} ({s}–{e})", uk::network_only_for(&d))
            }
            (None, false) => format!("🟡 {n} — {}", en::NETWORK_ONLY),
            (None, true) => format!("🟡 {n} — {}", uk::NETWORK_ONLY),
        }
    }

    /// A maintenance pause began.
    pub fn paused(&self, a: &Alert) -> String {
        let n = Self::name(a);
        match self.uk() {
            false => format!("⏸ {n} — {}", en::PAUSED),
            true => format!("⏸ {n} — {}", uk::PAUSED),
        }
    }

    /// The answer to "send test alert".
    pub fn test(&self, a: &Alert) -> String {
        let n = Self::name(a);
        match self.uk() {
            false => format!("✅ {n} — {}", en::test_message("Telegram")),
            true => format!("✅ {n} — {}", uk::test_message("Telegram")),
        }
    }

    /// One message for a burst of outage and restore alerts in one chat: a header and one
    /// compact line per alert, in the order they happened.
    ///
    /// An outage that ended within the same burst is shown by its restore line alone (which
    /// says how long the power was off).
    pub fn burst(&self, alerts: &[&Alert]) -> String {
        let line = Templates {
            style: Style::Compact,
            ..*self
        };
        let ended_here = |a: &Alert| {
            a.kind == outage_core::AlertKind::Outage
                && a.event_id.is_some()
                && alerts
                    .iter()
                    .any(|b| b.kind == outage_core::AlertKind::Restored && b.event_id == a.event_id)
        };
        let shown: Vec<&Alert> = alerts.iter().copied().filter(|a| !ended_here(a)).collect();
        let mut places: Vec<_> = shown.iter().map(|a| a.location_id).collect();
        places.sort();
        places.dedup();
        let header = match self.uk() {
            false => format!("⚡ <b>Power changes at {} places</b>", places.len()),
            true => format!("⚡ <b>Зміни зі світлом: {}</b>", uk_places(places.len())),
        };
        let mut out = header;
        for a in shown {
            out.push('\n');
            out.push_str(&match a.kind {
                outage_core::AlertKind::Restored => line.restored(a),
                _ => line.outage(a),
            });
        }
        out
    }

    /// Caption of a weekly diagram: the location, the dates, the time without power so far
    /// and when it was drawn.
    pub fn diagram_caption(&self, d: &DiagramImage) -> String {
        let n = format!("<b>{}</b>", escape_html(&d.location_name));
        let (mon, sun) = d.days;
        let drawn = d.drawn_at.with_timezone(&self.tz).format("%H:%M");
        let down = self.dur(d.down);
        match self.language {
            Language::En => {
                let dates = format!(
                    "{} {} – {} {}",
                    mon.day(),
                    MONTHS_EN[mon.month0() as usize],
                    sun.day(),
                    MONTHS_EN[sun.month0() as usize]
                );
                let off = match d.outages {
                    0 => "no outages".to_string(),
                    1 => format!("1 outage, {}", en::without_power(&down)),
                    k => format!("{k} outages, {}", en::without_power(&down)),
                };
                format!(
                    "📊 {n} — week {} ({dates})\n{off} · updated {drawn}{}",
                    d.week.week(),
                    self.yesterday_line(d)
                )
            }
            Language::Uk => {
                let dates = format!(
                    "{:02}.{:02}–{:02}.{:02}",
                    mon.day(),
                    mon.month(),
                    sun.day(),
                    sun.month()
                );
                let off = match d.outages {
                    0 => "без відключень".to_string(),
                    k => format!("відключень: {k}, без світла {down}"),
                };
                format!(
                    "📊 {n} — тиждень {} ({dates})\n{off} · оновлено {drawn}{}",
                    d.week.week(),
                    self.yesterday_line(d)
                )
            }
        }
    }

    /// "\nYesterday: 3 h 20 min without power in 2 outages" / "\nYesterday: always on", or
    /// nothing when the image carries no summary of the day before.
    fn yesterday_line(&self, d: &DiagramImage) -> String {
        let Some(y) = d.yesterday else {
            return String::new();
        };
        let down = self.dur(y.down);
        let text = match (self.language, y.outages, y.down.is_zero()) {
            (Language::En, _, true) => "Yesterday: always on".to_string(),
            (Language::En, 0 | 1, false) => format!("Yesterday: {down} without power"),
            (Language::En, k, false) => format!("Yesterday: {down} without power in {k} outages"),
            (Language::Uk, _, true) => "Учора: світло було весь день".to_string(),
            (Language::Uk, 0 | 1, false) => format!("Учора: {down} без світла"),
            (Language::Uk, k, false) => format!("Учора: {down} без світла, відключень: {k}"),
        };
        format!("\n{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outage_core::{AlertKind, Cause, EventId, LocationId};

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        // 2026-11-23 in Kyiv is UTC+2.
        DateTime::parse_from_rfc3339(&format!("2026-11-23T{:02}:{m:02}:13+02:00", h))
            .unwrap()
            .with_timezone(&Utc)
    }

    fn alert(kind: AlertKind, name: &str) -> Alert {
        Alert {
            kind,
            location_id: LocationId(1),
            location_name: name.into(),
            event_id: Some(EventId(1)),
            started_at: Some(at(14, 2)),
            detected_at: Some(at(14, 2) + TimeDelta::seconds(30)),
            ended_at: None,
            cause: Cause::Unknown,
            at: at(14, 3),
        }
    }

    fn en() -> Templates {
        Templates::new(Language::En, chrono_tz::Europe::Kyiv, Style::Compact)
    }

    fn uk() -> Templates {
        Templates::new(Language::Uk, chrono_tz::Europe::Kyiv, Style::Compact)
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(
            escape_html(r#"<b>Tom & "Jerry"</b> 🏠 Дім"#),
            "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt; 🏠 Дім"
        );
        let t = en().outage(&alert(AlertKind::Outage, "A<b>&"));
        assert!(t.contains("<b>A&lt;b&gt;&amp;</b>"), "{t}");
    }

    #[test]
    fn durations_match_core_in_english_and_read_naturally_in_ukrainian() {
        let d = TimeDelta::seconds;
        for s in [0, 40, 300, 3600, 2 * 3600 + 14 * 60 + 5, 86_400 + 7200] {
            assert_eq!(
                human_duration(d(s), Language::En),
                outage_core::notify::human_duration(d(s))
            );
        }
        assert_eq!(
            human_duration(d(2 * 3600 + 14 * 60), Language::Uk),
            "2 год 14 хв"
        );
        assert_eq!(human_duration(d(40), Language::Uk), "40 с");
        assert_eq!(human_duration(d(86_400 + 7200), Language::Uk), "1 д 2 год");
        assert_eq!(human_duration(d(86_400), Language::En), "1 d");
    }

    #[test]
    fn english_messages() {
        let a = alert(AlertKind::Outage, "Home");
        assert_eq!(en().outage(&a), "🔴 <b>Home</b> — power is off since 14:02");
        let mut u = a.clone();
        u.at = at(16, 15);
        assert_eq!(
            en().outage_update(&u),
            "🔴 <b>Home</b> — power is off since 14:02\n⏱ 2 h 13 min without power"
        );
        let mut r = a.clone();
        r.ended_at = Some(at(16, 16));
        r.at = at(16, 16) + TimeDelta::seconds(20);
        assert_eq!(
            en().restored(&r),
            "🟢 <b>Home</b>: power is back at 16:16 — it was off 2 h 14 min"
        );
        assert_eq!(
            en().outage_summary(&r),
            "🔌 <b>Home</b> — power was off from 14:02 to 16:16 (2 h 14 min)"
        );
        let mut n = a.clone();
        n.ended_at = Some(at(14, 14));
        assert_eq!(
            en().network_only(&n),
            "🟡 <b>Home</b> — the power stayed on; only the network was down for 12 min (14:02–14:14)"
        );
        let mut blind = a.clone();
        blind.started_at = None;
        assert_eq!(
            en().outage(&blind),
            "🔴 <b>Home</b> — power is off; it went out while the monitor was offline"
        );
        blind.ended_at = Some(at(16, 16));
        assert!(
            en().restored(&blind)
                .contains("it went out while the monitor was offline")
        );
    }

    #[test]
    fn ukrainian_messages() {
        let a = alert(AlertKind::Outage, "Дім");
        assert_eq!(uk().outage(&a), "🔴 <b>Дім</b> — світла немає із 14:02");
        let mut u = a.clone();
        u.at = at(16, 15);
        assert_eq!(
            uk().outage_update(&u),
            "🔴 <b>Дім</b> — світла немає із 14:02\n⏱ без світла вже 2 год 13 хв"
        );
        let mut r = a.clone();
        r.ended_at = Some(at(16, 16));
        r.at = at(16, 17);
        assert_eq!(
            uk().restored(&r),
            "🟢 <b>Дім</b>: світло повернулося о 16:16 — його не було 2 год 14 хв"
        );
        assert_eq!(
            uk().outage_summary(&r),
            "🔌 <b>Дім</b> — світла не було із 14:02 до 16:16 (2 год 14 хв)"
        );
        r.ended_at = Some(at(11, 5) + TimeDelta::days(1));
        r.at = r.ended_at.unwrap();
        assert!(
            uk().restored(&r).contains("повернулося об 11:05"),
            "{}",
            uk().restored(&r)
        );
        let mut s = a.clone();
        s.started_at = Some(at(9, 30));
        assert!(uk().outage(&s).contains("світла немає з 09:30"));
    }

    #[test]
    fn other_days_show_the_date() {
        let mut r = alert(AlertKind::Restored, "Home");
        r.ended_at = Some(at(8, 0) + TimeDelta::days(1));
        r.at = r.ended_at.unwrap();
        assert_eq!(
            en().outage_summary(&r),
            "🔌 <b>Home</b> — power was off from 23 Nov 14:02 to 08:00 (17 h 58 min)"
        );
        assert!(uk().outage_summary(&r).contains("із 23.11 14:02 до 08:00"));
    }

    #[test]
    fn the_detailed_style_adds_exact_times() {
        let t = Templates::new(Language::En, chrono_tz::Europe::Kyiv, Style::Detailed);
        let a = alert(AlertKind::Outage, "Home");
        assert_eq!(
            t.outage(&a),
            "🔴 <b>Home</b> — power is off since 14:02\n<i>last heartbeat 14:02:13 · noticed 14:02:43</i>"
        );
    }

    #[test]
    fn times_follow_the_configured_zone() {
        let t = Templates::new(Language::En, chrono_tz::UTC, Style::Compact);
        let a = alert(AlertKind::Outage, "Home");
        assert_eq!(t.outage(&a), "🔴 <b>Home</b> — power is off since 12:02");
    }

    #[test]
    fn diagram_captions_in_both_languages() {
        let img = DiagramImage {
            location_id: LocationId(1),
            location_name: "Дім <b>&".into(),
            week: "2026-W48".parse().unwrap(),
            days: (
                chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
                chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap(),
            ),
            down: TimeDelta::minutes(134),
            outages: 2,
            drawn_at: at(15, 0),
            yesterday: None,
            png: vec![],
        };
        assert_eq!(
            en().diagram_caption(&img),
            "📊 <b>Дім &lt;b&gt;&amp;</b> — week 48 (23 Nov – 29 Nov)\n2 outages, 2 h 14 min without power · updated 15:00"
        );
        assert_eq!(
            uk().diagram_caption(&img),
            "📊 <b>Дім &lt;b&gt;&amp;</b> — тиждень 48 (23.11–29.11)\nвідключень: 2, без світла 2 год 14 хв · оновлено 15:00"
        );
        let quiet = DiagramImage {
            outages: 0,
            down: TimeDelta::zero(),
            ..img
        };
        assert!(en().diagram_caption(&quiet).contains("no outages"));
        assert!(uk().diagram_caption(&quiet).contains("без відключень"));
        let summary = |minutes, outages| DiagramImage {
            yesterday: Some(outage_core::notify::DaySummary {
                down: TimeDelta::minutes(minutes),
                outages,
            }),
            ..quiet.clone()
        };
        assert!(
            en().diagram_caption(&summary(200, 2))
                .ends_with("· updated 15:00\nYesterday: 3 h 20 min without power in 2 outages")
        );
        assert!(
            en().diagram_caption(&summary(0, 0))
                .ends_with("\nYesterday: always on")
        );
        assert!(
            en().diagram_caption(&summary(30, 1))
                .ends_with("\nYesterday: 30 min without power")
        );
        assert!(
            uk().diagram_caption(&summary(200, 2))
                .ends_with("\nУчора: 3 год 20 хв без світла, відключень: 2")
        );
        assert!(
            uk().diagram_caption(&summary(0, 0))
                .ends_with("\nУчора: світло було весь день")
        );
    }

    #[test]
    fn a_burst_lists_every_alert_in_one_message() {
        let mut back = alert(AlertKind::Restored, "Dacha");
        back.location_id = LocationId(2);
        back.event_id = Some(EventId(2));
        back.ended_at = Some(at(16, 16));
        back.at = at(16, 16);
        let a = alert(AlertKind::Outage, "Home & <Co>");
        assert_eq!(
            en().burst(&[&a, &back]),
            "⚡ <b>Power changes at 2 places</b>\n\
             🔴 <b>Home &amp; &lt;Co&gt;</b> — power is off since 14:02\n\
             🟢 <b>Dacha</b>: power is back at 16:16 — it was off 2 h 14 min"
        );
        let text = uk().burst(&[&a, &back]);
        assert!(
            text.starts_with("⚡ <b>Зміни зі світлом: 2 місця</b>\n🔴"),
            "{text}"
        );
        assert!(text.contains("світло повернулося о 16:16"), "{text}");
    }

    #[test]
    fn ukrainian_counts_agree_with_their_noun() {
        let words: Vec<String> = [1, 2, 4, 5, 11, 12, 21, 22, 25].map(uk_places).to_vec();
        assert_eq!(
            words,
            [
                "1 місце",
                "2 місця",
                "4 місця",
                "5 місць",
                "11 місць",
                "12 місць",
                "21 місце",
                "22 місця",
                "25 місць"
            ]
        );
    }
}
