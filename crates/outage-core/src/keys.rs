//! Location API keys: generated once, shown once, stored only as a SHA-256 hash.
//!
//! Keys carry 160 bits of randomness, so a fast hash is enough (no password stretching);
//! lookups go by hash and the final comparison is constant-time.

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// Prefix of every location key, so a leaked key is recognisable in logs and secret scanners.
pub const KEY_PREFIX: &str = "om_";

/// SHA-256 of an API key, as stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    /// Hashes a presented key.
    pub fn of(key: &str) -> Self {
        let digest = Sha256::digest(key.as_bytes());
        Self(digest.into())
    }

    /// Lowercase hex, as stored in databases.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the stored hex form.
    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = hex::decode(s).ok()?;
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(arr))
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A hash prefix is enough to tell keys apart in debugging without helping an attacker.
        write!(f, "KeyHash({}…)", &self.to_hex()[..8])
    }
}

/// Prefix of read-API tokens (`outage-monitor token create`), so they cannot be mistaken for
/// location keys.
pub const TOKEN_PREFIX: &str = "omt_";

/// Makes a new random location key: `om_` followed by 32 lowercase base32-like characters.
pub fn generate_key() -> Secret {
    random_secret(KEY_PREFIX)
}

/// Makes a new random API token: `omt_` followed by 32 lowercase base32-like characters.
pub fn generate_token() -> Secret {
    random_secret(TOKEN_PREFIX)
}

fn random_secret(prefix: &str) -> Secret {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let body: String = (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    Secret::new(format!("{prefix}{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_unique_and_hash_round_trips() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert!(a.expose().starts_with(KEY_PREFIX));
        assert_eq!(a.expose().len(), 35);
        let h = KeyHash::of(a.expose());
        assert_eq!(KeyHash::from_hex(&h.to_hex()), Some(h));
        assert!(h.ct_eq(&KeyHash::of(a.expose())));
        assert!(!h.ct_eq(&KeyHash::of(b.expose())));
        assert!(!format!("{h:?}").contains(&h.to_hex()));
    }
}
