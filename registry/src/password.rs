//! Local passwords (R9): Argon2id hashes in PHC strings, salt and cost inside.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// The shortest local password the registry accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Why a password was not set.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too short to withstand guessing.
    #[error("a password must have at least {MIN_PASSWORD_CHARS} characters, this one has {0}")]
    TooShort(usize),
    /// The hash could not be made.
    #[error("the password could not be hashed: {0}")]
    Hash(String),
}

/// The PHC string to store for `password`.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort(chars));
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored `hash`; a malformed hash matches nothing.
pub fn matches(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A hash to check against when the user does not exist, so that a wrong
/// user name costs as much time as a wrong password and timing does not tell
/// which user names exist.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("no such user, no such password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_matches_its_password_only() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(matches("correct horse battery", &stored));
        assert!(!matches("correct horse batterY", &stored));
        assert!(!matches("correct horse battery", "not a hash"));
        assert_ne!(hash("correct horse battery").unwrap(), stored, "salted");
        assert!(matches!(hash("short"), Err(PasswordError::TooShort(5))));
        assert!(!decoy().is_empty());
    }
}
