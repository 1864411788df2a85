//! Passwords, session and CSRF tokens, and login throttling.
//!
//! - Passwords are argon2id PHC strings ([`hash_password`], [`verify_password`]).
//! - A session cookie holds a random token; the store keeps only its SHA-256
//!   ([`KeyHash::of`]), so a copy of the database logs nobody in.
//! - The CSRF token of a logged-in page is derived from the session token (SHA-256 with a
//!   label), so it needs no storage and dies with the session. The login form, which has no
//!   session yet, uses a random token kept in its own cookie (double submit). Either way the
//!   form's `csrf_token` is compared in constant time.
//! - [`Throttle`] counts failed logins per client address and per user name.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use outage_core::keys::KeyHash;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{FIRST_LOGIN_WAIT, FREE_LOGIN_FAILURES, MAX_LOGIN_WAIT};

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

/// The argon2id PHC string of `password` (with a fresh random salt).
pub fn hash_password(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the PHC string `phc`. A malformed hash matches nothing.
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// A PHC string to verify against when the user does not exist, so that an unknown name
/// costs the same time as a wrong password (no user-name probing by timing).
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default())
}

/// A new random token (256 bits, hex) for a session or a login form.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// What the store keeps of a session token.
pub fn session_hash(token: &str) -> KeyHash {
    KeyHash::of(token)
}

/// The CSRF token of the pages of the session whose cookie holds `session_token`.
pub fn csrf_for_session(session_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"outage-web-admin csrf v1\0");
    h.update(session_token.as_bytes());
    hex::encode(h.finalize())
}

/// Constant-time comparison of a submitted token with the expected one.
pub fn tokens_match(submitted: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(submitted.as_bytes().ct_eq(expected.as_bytes()))
}

/// Failed-login counters per key (`ip:<address>`, `user:<name>`), kept in memory: a restart
/// forgets them, which costs an attacker a restart per few guesses.
#[derive(Debug, Default)]
pub struct Throttle {
    entries: Mutex<HashMap<String, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    until: Option<Instant>,
}

/// Most keys remembered; beyond it the oldest-locked half is dropped (memory stays bounded
/// under a flood of made-up names).
const MAX_THROTTLE_KEYS: usize = 100_000;

impl Throttle {
    /// How long a login with any of `keys` must still wait, if at all.
    pub fn wait(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter_map(|k| map.get(k)?.until)
            .filter(|u| *u > now)
            .map(|u| u - now)
            .max()
    }

    /// Counts a failed login for each of `keys`.
    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_THROTTLE_KEYS {
            map.retain(|_, f| f.until.is_some_and(|u| u > now));
        }
        for k in keys {
            let f = map.entry(k.clone()).or_insert(Failures {
                count: 0,
                until: None,
            });
            f.count += 1;
            if f.count >= FREE_LOGIN_FAILURES {
                let doublings = (f.count - FREE_LOGIN_FAILURES).min(16);
                let wait = FIRST_LOGIN_WAIT
                    .saturating_mul(1 << doublings)
                    .min(MAX_LOGIN_WAIT);
                f.until = Some(now + wait);
            }
        }
    }

    /// Forgets the failures of `keys` (after a successful login).
    pub fn succeeded(&self, keys: &[String]) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            map.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_another_does_not() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("wrong horse", &phc));
        assert!(!verify_password("correct horse", "not a phc string"));
    }

    #[test]
    fn five_failures_make_the_sixth_attempt_wait_and_the_wait_grows() {
        let t = Throttle::default();
        let keys = vec!["user:anna".to_string()];
        let now = Instant::now();
        for _ in 0..4 {
            t.failed(&keys, now);
            assert_eq!(t.wait(&keys, now), None);
        }
        t.failed(&keys, now);
        assert_eq!(t.wait(&keys, now), Some(FIRST_LOGIN_WAIT));
        t.failed(&keys, now);
        assert_eq!(t.wait(&keys, now), Some(FIRST_LOGIN_WAIT * 2));
        assert_eq!(t.wait(&["user:bob".to_string()], now), None);
        t.succeeded(&keys);
        assert_eq!(t.wait(&keys, now), None);
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        let a = csrf_for_session("a");
        assert_ne!(a, csrf_for_session("b"));
        assert!(tokens_match(&a, &a));
        assert!(!tokens_match("", &a));
        assert!(!tokens_match(&a[1..], &a));
        assert!(!tokens_match("", ""));
    }
}
