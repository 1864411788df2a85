//! Checks for the settings a device is built or configured with.
//!
//! The ESP32-C3 firmware's `build.rs` runs these on the build machine, so a
//! typo in `OUTAGE_SERVER_URL` or a too-short WiFi password is a build error
//! instead of a device that silently never reports.

use crate::{Error, MAX_INTERVAL_S, MIN_INTERVAL_S};

/// Parses a heartbeat interval in whole seconds (surrounding whitespace
/// allowed), which must lie in
/// [`MIN_INTERVAL_S`]..=[`MAX_INTERVAL_S`].
pub fn parse_interval_s(text: &str) -> Result<u32, Error> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::NotANumber);
    }
    match t.parse::<u64>() {
        Ok(n) if (u64::from(MIN_INTERVAL_S)..=u64::from(MAX_INTERVAL_S)).contains(&n) => {
            Ok(n as u32)
        }
        // Too many digits for u64 is still "a number", just far too big.
        _ => Err(Error::IntervalOutOfRange),
    }
}

/// A WiFi network name must be 1 to 32 bytes (802.11 limit).
pub fn validate_ssid(ssid: &str) -> Result<(), Error> {
    if ssid.is_empty() || ssid.len() > 32 {
        Err(Error::SsidLength)
    } else {
        Ok(())
    }
}

/// A WiFi password is empty (open network), a WPA2 passphrase of 8 to 63
/// printable ASCII characters, or a raw 64-hex-digit key.
pub fn validate_wifi_password(password: &str) -> Result<(), Error> {
    let len = password.len();
    let printable = password.bytes().all(|b| (0x20..=0x7e).contains(&b));
    let ok = len == 0
        || ((8..=63).contains(&len) && printable)
        || (len == 64 && password.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(Error::PasswordInvalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval_s("30"), Ok(30));
        assert_eq!(parse_interval_s(" 5 \n"), Ok(5));
        assert_eq!(parse_interval_s("3600"), Ok(3600));
        assert_eq!(parse_interval_s("4"), Err(Error::IntervalOutOfRange));
        assert_eq!(parse_interval_s("0"), Err(Error::IntervalOutOfRange));
        assert_eq!(parse_interval_s("3601"), Err(Error::IntervalOutOfRange));
        assert_eq!(
            parse_interval_s("99999999999999999999999"),
            Err(Error::IntervalOutOfRange)
        );
        for bad in ["", " ", "30s", "-5", "+30", "3 0", "1e2", "thirty", "30.0"] {
            assert_eq!(parse_interval_s(bad), Err(Error::NotANumber), "{bad:?}");
        }
    }

    #[test]
    fn ssids() {
        assert!(validate_ssid("Home WiFi").is_ok());
        assert!(validate_ssid(&"x".repeat(32)).is_ok());
        assert_eq!(validate_ssid(""), Err(Error::SsidLength));
        assert_eq!(validate_ssid(&"x".repeat(33)), Err(Error::SsidLength));
        // 11 Cyrillic letters = 22 bytes: fine
        assert!(validate_ssid("Дім_мережа1").is_ok());
    }

    #[test]
    fn passwords() {
        assert!(validate_wifi_password("").is_ok());
        assert!(validate_wifi_password("12345678").is_ok());
        assert!(validate_wifi_password("with spaces and ~!").is_ok());
        assert!(validate_wifi_password(&"p".repeat(63)).is_ok());
        let hex: String = "0123456789abcdefABCDEF".chars().cycle().take(64).collect();
        assert!(validate_wifi_password(&hex).is_ok());
        assert_eq!(validate_wifi_password("short"), Err(Error::PasswordInvalid));
        assert_eq!(
            validate_wifi_password(&"g".repeat(64)),
            Err(Error::PasswordInvalid)
        );
        assert_eq!(
            validate_wifi_password(&"p".repeat(65)),
            Err(Error::PasswordInvalid)
        );
        assert_eq!(
            validate_wifi_password("пароль12"),
            Err(Error::PasswordInvalid)
        );
        assert_eq!(
            validate_wifi_password("tab\there1"),
            Err(Error::PasswordInvalid)
        );
    }
}
