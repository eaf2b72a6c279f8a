//! Secrets the registry hands out (session and API tokens, enrolment
//! tokens) and how they are kept: only a SHA-256 of each is stored, so a copy
//! of the database opens no session and enrols no device.

use std::fmt::Write as _;

use pult_protocol::pki::Fingerprint;
use pult_protocol::registry_api::{ENROLMENT_SECRET_DIGITS, EnrolmentTokenText};
use ring::rand::{SecureRandom, SystemRandom};

/// A new random secret of `bytes` bytes, as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    // The operating system's generator; it failing leaves the machine unusable
    // for any cryptography, and an all-zero secret must never be handed out.
    if SystemRandom::new().fill(&mut buffer).is_err() {
        panic!("the operating system's random number generator failed");
    }
    hex(&buffer)
}

/// What the database keeps of a secret.
pub fn hash(secret: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref())
}

/// Compares two texts in time independent of where they differ (CSRF tokens).
pub fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// A new enrolment token for the school whose CA has `ca` as fingerprint.
pub fn enrolment_token(ca: Fingerprint) -> EnrolmentTokenText {
    EnrolmentTokenText {
        secret: random_hex(ENROLMENT_SECRET_DIGITS / 2),
        ca,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_and_only_their_hash_is_kept() {
        let a = random_hex(32);
        let b = random_hex(32);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), a);
        assert!(equal(&a, &a.clone()));
        assert!(!equal(&a, &b));
        assert!(!equal(&a, &a[..63]));
    }

    #[test]
    fn an_enrolment_token_round_trips_and_a_mangled_one_says_what_it_should_be() {
        let ca = Fingerprint::of_der(b"a CA");
        let token = enrolment_token(ca);
        let text = token.to_string();
        assert_eq!(text.parse::<EnrolmentTokenText>().unwrap(), token);
        assert_eq!(
            format!("  {}\n", text.to_uppercase())
                .parse::<EnrolmentTokenText>()
                .unwrap(),
            token
        );
        for bad in [
            "",
            &text[..40],
            &text.replace('.', ""),
            &format!("x{}", &text[1..]),
        ] {
            let error = bad.parse::<EnrolmentTokenText>().unwrap_err();
            assert!(error.contains("hexadecimal"), "{error}");
        }
    }
}
