//! The diagram's words in English and Ukrainian: day and month names, durations, legend.

use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};
use outage_core::availability::round_minutes;
use outage_core::render::Language;

/// Fixed labels of one language.
pub(crate) struct Labels {
    pub up: &'static str,
    pub down: &'static str,
    pub network: &'static str,
    pub unknown: &'static str,
    pub paused: &'static str,
    pub no_data: &'static str,
    pub skipped: &'static str,
    pub without_power: &'static str,
    pub week_total: &'static str,
}

const EN: Labels = Labels {
    up: "Power on",
    down: "No power",
    network: "No network (power on)",
    unknown: "Unknown",
    paused: "Paused",
    no_data: "No data / not yet",
    skipped: "Hour skipped (clock change)",
    without_power: "Without power",
    week_total: "Week total",
};

const UK: Labels = Labels {
    up: "Світло є",
    down: "Світла немає",
    network: "Немає зв’язку (світло є)",
    unknown: "Невідомо",
    paused: "Пауза",
    no_data: "Немає даних / ще не настало",
    skipped: "Години не було (переведення годинника)",
    without_power: "Без світла",
    week_total: "За тиждень",
};

/// The fixed labels of `lang`.
pub(crate) fn labels(lang: Language) -> &'static Labels {
    match lang {
        Language::En => &EN,
        Language::Uk => &UK,
    }
}

fn weekday_short(lang: Language, wd: Weekday) -> &'static str {
    const EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const UK: [&str; 7] = ["Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Нд"];
    let i = wd.num_days_from_monday() as usize;
    match lang {
        Language::En => EN[i],
        Language::Uk => UK[i],
    }
}

fn month_short(lang: Language, month: u32) -> &'static str {
    const EN: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const UK: [&str; 12] = [
        "січ", "лют", "бер", "кві", "тра", "чер", "лип", "сер", "вер", "жов", "лис", "гру",
    ];
    let i = (month.clamp(1, 12) - 1) as usize;
    match lang {
        Language::En => EN[i],
        Language::Uk => UK[i],
    }
}

/// Month name as used after a day number ("23 Nov", "23 листопада").
fn month_in_date(lang: Language, month: u32) -> &'static str {
    const UK: [&str; 12] = [
        "січня",
        "лютого",
        "березня",
        "квітня",
        "травня",
        "червня",
        "липня",
        "серпня",
        "вересня",
        "жовтня",
        "листопада",
        "грудня",
    ];
    match lang {
        Language::En => month_short(lang, month),
        Language::Uk => UK[(month.clamp(1, 12) - 1) as usize],
    }
}

/// Row label: "Mon 23 Nov" / "Пн 23 лис".
pub(crate) fn day_label(lang: Language, d: NaiveDate) -> String {
    format!(
        "{} {} {}",
        weekday_short(lang, d.weekday()),
        d.day(),
        month_short(lang, d.month())
    )
}

/// Dates of the title: "23–29 Nov 2026", "30 Nov – 6 Dec 2026", "29 Dec 2025 – 4 Jan 2026".
pub(crate) fn date_range(lang: Language, first: NaiveDate, last: NaiveDate) -> String {
    let m = |d: NaiveDate| month_in_date(lang, d.month());
    if first.year() != last.year() {
        format!(
            "{} {} {} – {} {} {}",
            first.day(),
            m(first),
            first.year(),
            last.day(),
            m(last),
            last.year()
        )
    } else if first.month() != last.month() {
        format!(
            "{} {} – {} {} {}",
            first.day(),
            m(first),
            last.day(),
            m(last),
            last.year()
        )
    } else {
        format!("{}–{} {} {}", first.day(), last.day(), m(last), last.year())
    }
}

/// A duration in hours and minutes: "3 h 20 min" / "3 год 20 хв"; "<1 min" for a non-zero
/// duration under half a minute.
pub(crate) fn duration(lang: Language, d: TimeDelta) -> String {
    let (h_unit, m_unit) = match lang {
        Language::En => ("h", "min"),
        Language::Uk => ("год", "хв"),
    };
    let total = round_minutes(d);
    if total == 0 && d > TimeDelta::zero() {
        return format!("<1 {m_unit}");
    }
    let (h, m) = (total / 60, total % 60);
    match (h, m) {
        (0, m) => format!("{m} {m_unit}"),
        (h, 0) => format!("{h} {h_unit}"),
        (h, m) => format!("{h} {h_unit} {m} {m_unit}"),
    }
}

/// "5 outages, longest 4 h 10 min" / "5 відключень, найдовше 4 год 10 хв" / "No outages".
pub(crate) fn outages_summary(lang: Language, count: u32, longest: Option<TimeDelta>) -> String {
    let longest = longest.map(|l| duration(lang, l));
    match lang {
        Language::En => match (count, longest) {
            (0, None) => "No outages".to_string(),
            (0, Some(l)) => format!("No new outages (one of {l} went on into this week)"),
            (1, Some(l)) => format!("1 outage, {l}"),
            (n, Some(l)) => format!("{n} outages, longest {l}"),
            (n, None) => format!("{n} outages"),
        },
        Language::Uk => {
            let noun = match (count % 10, count % 100) {
                (_, 11..=14) => "відключень",
                (1..=4, _) => "відключення",
                _ => "відключень",
            };
            match (count, longest) {
                (0, None) => "Відключень не було".to_string(),
                (0, Some(l)) => format!("Нових відключень не було (тривало відключення {l})"),
                (1, Some(l)) => format!("1 відключення, {l}"),
                (n, Some(l)) => format!("{n} {noun}, найдовше {l}"),
                (n, None) => format!("{n} {noun}"),
            }
        }
    }
}

/// "no network 1 h 5 min" / "без зв’язку 1 год 5 хв".
pub(crate) fn network_summary(lang: Language, d: TimeDelta) -> String {
    match lang {
        Language::En => format!("no network {}", duration(lang, d)),
        Language::Uk => format!("без зв’язку {}", duration(lang, d)),
    }
}

/// "times in Europe/Kyiv" / "час: Europe/Kyiv".
pub(crate) fn zone_note(lang: Language, tz: chrono_tz::Tz) -> String {
    match lang {
        Language::En => format!("times in {}", tz.name()),
        Language::Uk => format!("час: {}", tz.name()),
    }
}

/// Wall-clock time of day from a duration since midnight: "03:00".
pub(crate) fn clock(t: TimeDelta) -> String {
    let m = t.num_minutes();
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// The note under the chart for a day whose clocks changed.
pub(crate) fn clock_change_note(
    lang: Language,
    day: NaiveDate,
    skipped: &[(TimeDelta, TimeDelta)],
    repeated: &[(TimeDelta, TimeDelta)],
) -> String {
    let ranges = |r: &[(TimeDelta, TimeDelta)]| {
        r.iter()
            .map(|(a, b)| format!("{}–{}", clock(*a), clock(*b)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let label = day_label(lang, day);
    let mut parts = Vec::new();
    match lang {
        Language::En => {
            if !skipped.is_empty() {
                parts.push(format!("{} did not exist (hatched grey)", ranges(skipped)));
            }
            if !repeated.is_empty() {
                parts.push(format!(
                    "{} happened twice (upper half: first time, lower half: second)",
                    ranges(repeated)
                ));
            }
            format!("{label}: clocks changed, {}", parts.join("; "))
        }
        Language::Uk => {
            if !skipped.is_empty() {
                parts.push(format!("{} не було (сіре штрихування)", ranges(skipped)));
            }
            if !repeated.is_empty() {
                parts.push(format!(
                    "{} було двічі (верхня половина — вперше, нижня — вдруге)",
                    ranges(repeated)
                ));
            }
            format!("{label}: переведення годинника, {}", parts.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn durations() {
        let m = TimeDelta::minutes;
        assert_eq!(duration(Language::En, m(200)), "3 h 20 min");
        assert_eq!(duration(Language::Uk, m(200)), "3 год 20 хв");
        assert_eq!(duration(Language::En, m(180)), "3 h");
        assert_eq!(duration(Language::Uk, m(5)), "5 хв");
        assert_eq!(duration(Language::En, TimeDelta::zero()), "0 min");
        assert_eq!(duration(Language::En, TimeDelta::seconds(10)), "<1 min");
        assert_eq!(duration(Language::En, m(25 * 60)), "25 h");
    }

    #[test]
    fn dates_and_titles() {
        assert_eq!(day_label(Language::En, d("2026-11-23")), "Mon 23 Nov");
        assert_eq!(day_label(Language::Uk, d("2026-11-29")), "Нд 29 лис");
        assert_eq!(
            date_range(Language::En, d("2026-11-23"), d("2026-11-29")),
            "23–29 Nov 2026"
        );
        assert_eq!(
            date_range(Language::Uk, d("2026-11-23"), d("2026-11-29")),
            "23–29 листопада 2026"
        );
        assert_eq!(
            date_range(Language::Uk, d("2026-11-30"), d("2026-12-06")),
            "30 листопада – 6 грудня 2026"
        );
        assert_eq!(
            date_range(Language::En, d("2025-12-29"), d("2026-01-04")),
            "29 Dec 2025 – 4 Jan 2026"
        );
    }

    #[test]
    fn ukrainian_plurals() {
        let l = Some(TimeDelta::hours(2));
        assert_eq!(outages_summary(Language::Uk, 1, l), "1 відключення, 2 год");
        assert_eq!(
            outages_summary(Language::Uk, 3, l),
            "3 відключення, найдовше 2 год"
        );
        assert_eq!(
            outages_summary(Language::Uk, 5, l),
            "5 відключень, найдовше 2 год"
        );
        assert_eq!(
            outages_summary(Language::Uk, 12, l),
            "12 відключень, найдовше 2 год"
        );
        assert_eq!(
            outages_summary(Language::Uk, 22, l),
            "22 відключення, найдовше 2 год"
        );
        assert_eq!(outages_summary(Language::En, 0, None), "No outages");
        assert_eq!(
            outages_summary(Language::En, 2, l),
            "2 outages, longest 2 h"
        );
    }
}
