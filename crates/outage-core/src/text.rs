//! Words shared by every notifier: durations the way people say them, and the alert sentences
//! in English ([`en`]) and Ukrainian ([`uk`]) that the console, Telegram, webhook and ntfy write.
//!
//! Notifiers add their own frame around these sentences (emoji, the location name, markup) and
//! their own time formats; what a sentence *says* lives here once, so two notifiers cannot drift
//! apart.

use chrono::TimeDelta;

use crate::render::Language;

/// A duration the way people say it: `2 h 14 min` / `2 год 14 хв`, `5 min`, `40 s`,
/// `1 d 2 h`, `1 d`. Seconds only under a minute; days drop the hours when there are none.
/// Negative durations read as `0 s`.
///
/// ```
/// use chrono::TimeDelta;
/// use outage_core::render::Language;
/// use outage_core::text::human_duration;
///
/// assert_eq!(human_duration(TimeDelta::minutes(134), Language::En), "2 h 14 min");
/// assert_eq!(human_duration(TimeDelta::minutes(134), Language::Uk), "2 год 14 хв");
/// assert_eq!(human_duration(TimeDelta::days(1), Language::En), "1 d");
/// ```
pub fn human_duration(d: TimeDelta, lang: Language) -> String {
    let (d_, h_, m_, s_) = match lang {
        Language::En => ("d", "h", "min", "s"),
        Language::Uk => ("д", "год", "хв", "с"),
    };
    let secs = d.num_seconds().max(0);
    let (days, hours, mins) = (secs / 86_400, (secs % 86_400) / 3600, (secs % 3600) / 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{secs} {s_}"),
        (0, 0, m) => format!("{m} {m_}"),
        (0, h, 0) => format!("{h} {h_}"),
        (0, h, m) => format!("{h} {h_} {m} {m_}"),
        (d, 0, _) => format!("{d} {d_}"),
        (d, h, _) => format!("{d} {d_} {h} {h_}"),
    }
}

/// English alert sentences, without the location name or any markup. Times and durations come
/// in already formatted (each notifier shows times its own way).
pub mod en {
    /// "power is off since 14:02".
    pub fn power_off_since(since: &str) -> String {
        format!("power is off since {since}")
    }

    /// The outage started while the monitor itself was offline, so its start is unknown.
    pub const POWER_OFF_START_UNKNOWN: &str =
        "power is off; it went out while the monitor was offline";

    /// "2 h 13 min without power" (a running outage, or a week's total).
    pub fn without_power(duration: &str) -> String {
        format!("{duration} without power")
    }

    /// "power is back at 16:16 — it was off 2 h 14 min".
    pub fn power_back(at: &str, off_for: &str) -> String {
        format!("power is back at {at} — it was off {off_for}")
    }

    /// Power is back after an outage that started while the monitor was offline.
    pub fn power_back_start_unknown(at: &str) -> String {
        format!(
            "power is back at {at}; it went out while the monitor was offline, so how long it was off is unknown"
        )
    }

    /// "the power stayed on; only the network was down for 12 min".
    pub fn network_only_for(duration: &str) -> String {
        format!("{NETWORK_ONLY} for {duration}")
    }

    /// Heartbeats resumed from the same boot: no power cut, only the network was down.
    pub const NETWORK_ONLY: &str = "the power stayed on; only the network was down";

    /// A maintenance pause began.
    pub const PAUSED: &str = "monitoring paused; no alerts until it resumes";

    /// "test message: Telegram alerts work", for the notifier named `channel`.
    pub fn test_message(channel: &str) -> String {
        format!("test message: {channel} alerts work")
    }
}

/// Ukrainian alert sentences, the twins of [`en`]. Ukrainian prepositions change with the hour
/// that follows them ("з 14:02" but "із 7:00", "о 16:16" but "об 11:05"): [`uk::from`] and
/// [`uk::at`] pick them.
pub mod uk {
    /// "з" or, before the sibilants of сьомої, четвертої, шостої, чотирнадцятої, "із".
    pub fn from(hour: u32) -> &'static str {
        match hour {
            4 | 6 | 7 | 14 => "із",
            _ => "з",
        }
    }

    /// "о" or, before одинадцятій, "об".
    pub fn at(hour: u32) -> &'static str {
        if hour == 11 { "об" } else { "о" }
    }

    /// "світла немає з 14:02"; `hour` is the local hour of `since`.
    pub fn power_off_since(since: &str, hour: u32) -> String {
        format!("світла немає {} {since}", from(hour))
    }

    /// The outage started while the monitor itself was offline, so its start is unknown.
    pub const POWER_OFF_START_UNKNOWN: &str = "світла немає; воно зникло, поки монітор не працював";

    /// "2 год 13 хв без світла".
    pub fn without_power(duration: &str) -> String {
        format!("{duration} без світла")
    }

    /// "світло повернулося о 16:16 — його не було 2 год 14 хв"; `hour` is the local hour of `at`.
    pub fn power_back(at_time: &str, hour: u32, off_for: &str) -> String {
        format!(
            "світло повернулося {} {at_time} — його не було {off_for}",
            at(hour)
        )
    }

    /// Power is back after an outage that started while the monitor was offline.
    pub fn power_back_start_unknown(at_time: &str, hour: u32) -> String {
        format!(
            "світло повернулося {} {at_time}; воно зникло, поки монітор не працював, тож скільки його не було — невідомо",
            at(hour)
        )
    }

    /// "світло не зникало; не було лише зв’язку, 12 хв".
    pub fn network_only_for(duration: &str) -> String {
        format!("{NETWORK_ONLY}, {duration}")
    }

    /// Heartbeats resumed from the same boot: no power cut, only the network was down.
    pub const NETWORK_ONLY: &str = "світло не зникало; не було лише зв’язку";

    /// A maintenance pause began.
    pub const PAUSED: &str = "моніторинг призупинено; сповіщень не буде, доки його не відновлять";

    /// "тестове повідомлення: сповіщення в Telegram працюють".
    pub fn test_message(channel: &str) -> String {
        format!("тестове повідомлення: сповіщення в {channel} працюють")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_talk_in_both_languages() {
        let d = TimeDelta::seconds;
        let en = |s| human_duration(d(s), Language::En);
        let uk = |s| human_duration(d(s), Language::Uk);
        assert_eq!(en(-5), "0 s");
        assert_eq!(en(40), "40 s");
        assert_eq!(en(300), "5 min");
        assert_eq!(en(2 * 3600 + 14 * 60 + 5), "2 h 14 min");
        assert_eq!(en(3600), "1 h");
        assert_eq!(en(86_400 + 7200), "1 d 2 h");
        assert_eq!(
            en(86_400 + 59 * 60),
            "1 d",
            "minutes are dropped once it is days"
        );
        assert_eq!(en(86_400), "1 d");
        assert_eq!(uk(40), "40 с");
        assert_eq!(uk(2 * 3600 + 14 * 60), "2 год 14 хв");
        assert_eq!(uk(86_400 + 7200), "1 д 2 год");
        assert_eq!(uk(2 * 86_400), "2 д");
    }

    #[test]
    fn sentences() {
        assert_eq!(en::power_off_since("14:02"), "power is off since 14:02");
        assert_eq!(
            en::power_back("16:16", "2 h 14 min"),
            "power is back at 16:16 — it was off 2 h 14 min"
        );
        assert_eq!(
            en::network_only_for("12 min"),
            "the power stayed on; only the network was down for 12 min"
        );
    }
}
