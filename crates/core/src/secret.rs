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

/// `url` safe to print: a password in its user information becomes `***`
/// (`smtp://ops:***@mail.example.com:587`), also when the scheme is missing; a URL without
/// one is returned as it is.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let user = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => "***".to_string(),
    };
    format!("{scheme}{user}@{host}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        for (url, shown) in [
            (
                "smtp://ops:hunter2@mail.example.com:587",
                "smtp://ops:***@mail.example.com:587",
            ),
            (
                "postgres://muster:p%40ss@db/muster?sslmode=require",
                "postgres://muster:***@db/muster?sslmode=require",
            ),
            (
                "https://token@hooks.example.com/x",
                "https://***@hooks.example.com/x",
            ),
            ("https://a:b:c@h/p@q", "https://a:***@h/p@q"),
            ("smtp://127.0.0.1:2525", "smtp://127.0.0.1:2525"),
            ("http://host/path?x=y@z", "http://host/path?x=y@z"),
            ("not a url", "not a url"),
            ("ops:hunter2@mail.example.com", "ops:***@mail.example.com"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn debug_hides_the_value_and_expose_reads_it() {
        let s = Secret::new("xoxb-123");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(Secret(***))");
        assert_eq!(s.expose(), "xoxb-123");
        assert_eq!(Secret::default().expose(), "");
    }
}
