use core::fmt::Write as _;

use crate::Error;

/// Name of the header that carries the location key.
pub const AUTHORIZATION_HEADER: &str = "Authorization";

/// Longest location key accepted here.
pub const MAX_KEY_LEN: usize = 256;

/// Checks a location key: 1 to [`MAX_KEY_LEN`] printable ASCII characters,
/// no spaces (anything else could not travel in an HTTP header unchanged).
pub fn validate_key(key: &str) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::KeyEmpty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::KeyTooLong);
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::KeyCharacters);
    }
    Ok(())
}

/// The value of the `Authorization` header: `Bearer <key>`.
///
/// The key is checked with [`validate_key`] first; `N` is the capacity of
/// the result (`MAX_KEY_LEN + 7` always suffices).
pub fn bearer_header<const N: usize>(key: &str) -> Result<heapless::String<N>, Error> {
    validate_key(key)?;
    let mut out = heapless::String::new();
    write!(out, "Bearer {key}").map_err(|_| Error::BufferTooSmall)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn builds_bearer_value() {
        let h = bearer_header::<64>("k_9f8e7d6c5b4a").unwrap();
        assert_eq!(h, "Bearer k_9f8e7d6c5b4a");
    }

    #[test]
    fn longest_key_fits_documented_capacity() {
        let key: String = "a".repeat(MAX_KEY_LEN);
        let h = bearer_header::<{ MAX_KEY_LEN + 7 }>(&key).unwrap();
        assert_eq!(h.len(), MAX_KEY_LEN + 7);
        let too_long: String = "a".repeat(MAX_KEY_LEN + 1);
        assert_eq!(validate_key(&too_long), Err(Error::KeyTooLong));
    }

    #[test]
    fn refuses_bad_keys() {
        assert_eq!(validate_key(""), Err(Error::KeyEmpty));
        for bad in [
            "a b",
            " a",
            "a\n",
            "a\r\nX-Evil: 1",
            "ключ",
            "a\t",
            "a\u{7f}",
        ] {
            assert_eq!(validate_key(bad), Err(Error::KeyCharacters), "{bad:?}");
        }
        assert_eq!(bearer_header::<64>(""), Err(Error::KeyEmpty));
    }

    #[test]
    fn accepts_printable_punctuation() {
        assert!(validate_key("abc-DEF_123.~+/=!").is_ok());
    }

    #[test]
    fn capacity_is_checked() {
        assert_eq!(bearer_header::<8>("abcd"), Err(Error::BufferTooSmall));
        assert!(bearer_header::<11>("abcd").is_ok());
    }
}
