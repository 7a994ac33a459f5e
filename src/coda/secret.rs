//! A string that never prints itself.

use std::fmt;

/// A secret value (Coda token, connection key). `Debug` and `Display` show only a hint such as
/// `…a1b2`, so a secret that slips into a log line or an error stays unreadable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for the one place that must send it (an `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret's SHA-256: what is kept to recognise it again (caches, session owners)
    /// without keeping the secret itself.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(self.0.as_bytes()).into()
    }

    /// Whether `presented` is this secret, compared without an early exit so that timing
    /// reveals nothing but the length (every check of a key a caller sends goes through here).
    pub fn matches(&self, presented: &str) -> bool {
        self.0.len() == presented.len()
            && self
                .0
                .bytes()
                .zip(presented.bytes())
                .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                == 0
    }

    /// A short hint that identifies the secret without revealing it: `…` and its last 4 characters.
    pub fn hint(&self) -> String {
        let tail: String = {
            let chars: Vec<char> = self.0.chars().collect();
            let start = chars.len().saturating_sub(4);
            chars[start..].iter().collect()
        };
        if self.0.chars().count() < 12 {
            "…".to_owned()
        } else {
            format!("…{tail}")
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.hint())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_the_value() {
        let s = Secret::new("pat_0123456789abcdef");
        assert_eq!(format!("{s}"), "…cdef");
        assert!(!format!("{s:?}").contains("0123456789"));
        assert_eq!(Secret::new("short").hint(), "…");
    }
}
