//! [`Secret`]: the one type for credentials and keys, shared by the configuration (integration
//! keys) and the outgoing channels (tokens, webhook secrets).

use std::fmt;

/// A secret string. `Debug` never shows it (there is no `Display`); read it with
/// [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value_and_expose_reads_it() {
        let s = Secret::new("xoxb-123");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(Secret(***))");
        assert_eq!(s.expose(), "xoxb-123");
        assert_eq!(Secret::default().expose(), "");
    }
}
