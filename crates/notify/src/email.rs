//! Email over SMTP with lettre. `MUSTER_SMTP_URL` is `smtp://[user:password@]host:port`: a
//! loopback host speaks plain SMTP (local relays and test servers have no certificate); any
//! other host must offer STARTTLS (`smtps://host:port` for implicit TLS). A user and password
//! (percent-encoded) authenticate (AUTH PLAIN or LOGIN); the URL is only ever printed with
//! its password redacted.
//!
//! The `Message-ID` is derived from the outbox key, so a receiver (or a human) can recognise a
//! repeat of the same notification.

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::{Outcome, clip};

#[derive(Clone)]
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email").field("from", &self.from).finish()
    }
}

/// The default sender when `MUSTER_SMTP_FROM` is unset.
pub const DEFAULT_FROM: &str = "Muster <muster@localhost>";

impl Email {
    /// A transport for `url` (`smtp://[user:password@]host:port` or `smtps://…`), sending as
    /// `from`. Errors never show the password.
    pub fn new(url: &str, from: &str) -> Result<Email, String> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("invalid sender `{from}`: {e}"))?;
        let shown = muster_core::secret::redact_url(url);
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("invalid SMTP URL `{shown}`: expected smtp://host:port"))?;
        let rest = rest.trim_end_matches('/');
        let (credentials, rest) = match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let credentials =
                    Credentials::new(percent_decoded(user), percent_decoded(password));
                (Some(credentials), host)
            }
            None => (None, rest),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h,
                Some(
                    p.parse::<u16>()
                        .map_err(|_| format!("invalid port in `{shown}`"))?,
                ),
            ),
            None => (rest, None),
        };
        let builder = match scheme {
            "smtp" if is_loopback(host) => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            }
            "smtp" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| format!("SMTP {host}: {e}"))?,
            "smtps" => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| format!("SMTP {host}: {e}"))?,
            other => return Err(format!("unsupported SMTP scheme `{other}`")),
        };
        let builder = match port {
            Some(p) => builder.port(p),
            None => builder,
        };
        let builder = match credentials {
            Some(c) => builder.credentials(c),
            None => builder,
        };
        let transport = builder.timeout(Some(crate::REQUEST_TIMEOUT)).build();
        Ok(Email { transport, from })
    }

    /// From `MUSTER_SMTP_URL` and `MUSTER_SMTP_FROM`; `None` when no URL is set.
    pub fn from_env() -> Option<Result<Email, String>> {
        let url = std::env::var("MUSTER_SMTP_URL").ok()?;
        let from = std::env::var("MUSTER_SMTP_FROM").unwrap_or_else(|_| DEFAULT_FROM.into());
        Some(Email::new(&url, &from))
    }

    /// Sends a plain-text email. `key` becomes the `Message-ID` (`<key@muster>`).
    pub async fn send(&self, to: &str, subject: &str, body: &str, key: &str) -> Outcome {
        let to: Mailbox = match to.parse() {
            Ok(m) => m,
            Err(e) => return Outcome::Permanent(format!("invalid address `{to}`: {e}")),
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id(key)))
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string());
        let message = match message {
            Ok(m) => m,
            Err(e) => return Outcome::Permanent(format!("cannot build the email: {e}")),
        };
        match self.transport.send(message).await {
            Ok(_) => Outcome::Sent { id: None },
            Err(e) => classify(&e),
        }
    }
}

/// `<key@muster>` with the characters a Message-ID may not hold replaced.
fn message_id(key: &str) -> String {
    let clean: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._".contains(c) {
                c
            } else {
                '.'
            }
        })
        .collect();
    format!("<{clean}@muster>")
}

/// `%XX` escapes decoded (a user or password in a URL); anything malformed is kept as is.
fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]")
}

/// 5xx SMTP replies are permanent (mailbox unknown, relay denied); everything else, including
/// an unreachable server, is worth retrying.
fn classify(e: &SmtpError) -> Outcome {
    let text = clip(&e.to_string());
    if e.is_permanent() {
        Outcome::Permanent(format!("SMTP: {text}"))
    } else {
        Outcome::Transient(format!("SMTP: {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The pooled transport needs a runtime (it spawns its pool's janitor).
    #[tokio::test]
    async fn urls() {
        assert!(Email::new("smtp://127.0.0.1:2525", DEFAULT_FROM).is_ok());
        assert!(Email::new("smtp://mail.example.com:587", DEFAULT_FROM).is_ok());
        assert!(Email::new("ftp://x", DEFAULT_FROM).is_err());
        assert!(Email::new("smtp://x:notaport", DEFAULT_FROM).is_err());
        assert!(Email::new("smtp://ops:hunter2@mail.example.com:587", DEFAULT_FROM).is_ok());
        let err = Email::new("smtp://ops:hunter2@mail.example.com:x", DEFAULT_FROM)
            .expect_err("bad port");
        assert_eq!(err, "invalid port in `smtp://ops:***@mail.example.com:x`");
        let err = Email::new("ops:hunter2@mail.example.com", DEFAULT_FROM).expect_err("no scheme");
        assert!(!err.contains("hunter2"), "{err}");
        assert_eq!(percent_decoded("p%40ss%3Aw0rd%"), "p@ss:w0rd%");
        assert_eq!(message_id("INC-7/notify:a b"), "<INC-7.notify.a.b@muster>");
    }
}
