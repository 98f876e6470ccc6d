//! Secrets, in one place: the [`Secret`] value that is never printed, which names hold one
//! ([`is_secret_name`], `names`), salted [`fingerprint`]s that compare secrets without
//! revealing them, [`scrub`] for text from outside (a database driver's message) that may
//! echo one, and the `KnownSecret` the redactor replaces wherever it appears.
//!
//! A leaf: facts read and fingerprint secrets, the redactor and the bundle hide them, the
//! daemon keeps its token in one; none of them imports another for it.

pub(crate) mod names;

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};

pub use names::is_secret_name;

/// A secret value (a password, a token): kept in memory, never printed (`Debug` shows
/// `<redacted>`, and there is no `Display`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from a file, a variable or a URL.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for the driver, the HTTP client and redaction only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a token (or a credential treated like one): the file's content without
    /// surrounding whitespace; an empty file is an error. `what` names it in messages.
    ///
    /// # Errors
    ///
    /// The error of [`crate::input::read_text`] (missing, not a regular file, too large, not
    /// UTF-8), or `WHAT PATH is empty`.
    pub fn from_token_file(path: &Path, what: &str) -> Result<Secret, String> {
        let text = crate::input::read_text(path, what, crate::input::SECRET_LIMIT)
            .map_err(|e| e.to_string())?;
        let t = text.trim();
        if t.is_empty() {
            return Err(format!("{what} {} is empty", path.display()));
        }
        Ok(Secret::new(t))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `text` with every occurrence of `secret` replaced by `<redacted>`: for messages that may
/// have come from outside (a database driver's error echoing the connection string). A
/// secret shorter than 3 bytes is left alone (it would blank ordinary words).
pub fn scrub(text: &str, secret: Option<&Secret>) -> String {
    match secret.map(Secret::expose).filter(|p| p.len() >= 3) {
        Some(p) => text.replace(p, "<redacted>"),
        None => text.to_string(),
    }
}

/// A salted fingerprint; the salt lives only in this process.
pub fn fingerprint(salt: &[u8], value: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(value.as_bytes());
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A secret value the redactor replaces wherever it appears (as it is or encoded), with the
/// kind that names its placeholder (`<redacted:KIND:N>`): a value the run knows (the
/// database password, a container's secret-named variable) or one a pattern revealed.
pub(crate) struct KnownSecret {
    pub kind: String,
    pub value: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_compare_without_revealing() {
        let salt = [7u8; 16];
        let a = fingerprint(&salt, "s3cret");
        assert_eq!(a, fingerprint(&salt, "s3cret"));
        assert_ne!(a, fingerprint(&salt, "s3cret2"));
        assert_ne!(
            a,
            fingerprint(&[8u8; 16], "s3cret"),
            "another run cannot match it"
        );
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn secret_names() {
        for name in [
            "WA_DB_PASSWORD",
            "WA_SECRET",
            "MYSQL_ROOT_PASSWORD",
            "api_key",
            "APIKEY",
            "WA_WEB_JWT_CRYPTO_KEY",
            "Auth_Header",
            "dbPassword",
            "DB_PASS",
            "X-Api-Key",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "WA_DB_HOSTNAME",
            "WA_DB_USERNAME",
            "WA_APP_MULTICONNECT",
            "PATH",
            "passenger",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn scrub_removes_the_secret_from_outside_text() {
        let pw = Secret::new("s3cr3t-pw");
        assert_eq!(
            scrub("access denied for wa:s3cr3t-pw@db (s3cr3t-pw)", Some(&pw)),
            "access denied for wa:<redacted>@db (<redacted>)"
        );
        assert_eq!(scrub("no secret here", None), "no secret here");
        // Too short to hide without blanking ordinary words.
        assert_eq!(scrub("a b ab", Some(&Secret::new("ab"))), "a b ab");
        assert_eq!(format!("{pw:?}"), "<redacted>");
    }
}
