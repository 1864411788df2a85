use core::fmt;

/// A per-boot identifier: 16 random bytes written as 32 lowercase hex
/// characters, e.g. `3f2a9c4e8b7d4e1fa0c5d2b6e9f81734`.
///
/// Make a new one at every boot from a hardware random number generator and
/// keep it until the next reset; a change of `boot_id` tells the server the
/// device lost power (or rebooted).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BootId {
    hex: [u8; 32],
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

impl BootId {
    /// Formats 16 (random) bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        let mut hex = [0u8; 32];
        let mut i = 0;
        while i < 16 {
            hex[2 * i] = HEX_DIGITS[(bytes[i] >> 4) as usize];
            hex[2 * i + 1] = HEX_DIGITS[(bytes[i] & 0x0f) as usize];
            i += 1;
        }
        BootId { hex }
    }

    /// Formats four random 32-bit words (what a hardware RNG usually gives),
    /// big-endian.
    pub fn from_words(words: [u32; 4]) -> Self {
        let mut bytes = [0u8; 16];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        Self::from_bytes(bytes)
    }

    /// The 32 hex characters.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored, so this cannot fail.
        core::str::from_utf8(&self.hex).unwrap_or_default()
    }
}

impl fmt::Display for BootId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for BootId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BootId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn formats_lowercase_hex() {
        let id = BootId::from_bytes([
            0x3f, 0x2a, 0x9c, 0x4e, 0x8b, 0x7d, 0x4e, 0x1f, 0xa0, 0xc5, 0xd2, 0xb6, 0xe9, 0xf8,
            0x17, 0x34,
        ]);
        assert_eq!(id.as_str(), "3f2a9c4e8b7d4e1fa0c5d2b6e9f81734");
        assert_eq!(format!("{id}"), "3f2a9c4e8b7d4e1fa0c5d2b6e9f81734");
        assert_eq!(
            format!("{id:?}"),
            "BootId(3f2a9c4e8b7d4e1fa0c5d2b6e9f81734)"
        );
    }

    #[test]
    fn edge_bytes() {
        assert_eq!(BootId::from_bytes([0; 16]).as_str(), "0".repeat(32));
        assert_eq!(BootId::from_bytes([0xff; 16]).as_str(), "f".repeat(32));
        let mut b = [0u8; 16];
        b[0] = 0x01;
        b[15] = 0xa0;
        let s = BootId::from_bytes(b);
        assert!(s.as_str().starts_with("01"));
        assert!(s.as_str().ends_with("a0"));
    }

    #[test]
    fn from_words_is_big_endian() {
        let id = BootId::from_words([0x0123_4567, 0x89ab_cdef, 0xdead_beef, 0x0000_0001]);
        assert_eq!(id.as_str(), "0123456789abcdefdeadbeef00000001");
    }

    #[test]
    fn const_construction() {
        const ID: BootId = BootId::from_bytes([0x5a; 16]);
        assert_eq!(ID.as_str().len(), 32);
        assert!(
            ID.as_str()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
}
