//! Random identifiers for objects Berth creates (containers, uploads, daemon ids).

use rand::RngCore;

/// A fresh random 256-bit identifier as 64 lowercase hex characters, as Docker uses for container ids.
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_hex_and_distinct() {
        let a = random_id();
        let b = random_id();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
