//! Muster's outgoing channels: the Slack Web API, email over SMTP, SMS and phone calls through
//! a Twilio-compatible HTTP API, push notifications through ntfy, and signed outgoing
//! webhooks; with the checks and TwiML answers for Twilio's own webhooks ([`twilio`]).
//!
//! Every send answers with a classified [`Outcome`], so the deliverer decides what to do next
//! without knowing the provider: sent; retry after a delay the provider asked for (429
//! `Retry-After`); a transient failure (5xx, connection refused: retry with backoff); or a
//! permanent one (`channel_not_found`, an invalid number: fall back to the next channel).
//!
//! Secrets (bot token, SMS and voice auth tokens, ntfy token, webhook secret) live in
//! [`Secret`], whose `Debug` hides them, and are never put into an error message.

pub mod email;
pub mod push;
pub mod slack;
pub mod sms;
pub mod twilio;
pub mod voice;
pub mod webhook;

use std::time::Duration;

pub use email::Email;
/// The core's secret type, so a configured credential is handed over without copying it into
/// another type.
pub use muster_core::Secret;
pub use push::{Push, PushMessage};
pub use slack::Slack;
pub use sms::Sms;
pub use voice::Voice;
pub use webhook::Webhook;

/// The longest a provider call may take before it counts as a transient failure.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A `Retry-After` longer than this is capped: a page must not wait an hour on one provider.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// How one send attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the provider; `id` is its message id when it gives one (Slack `ts`, SMS or
    /// call sid, ntfy message id).
    Sent { id: Option<String> },
    /// The provider asked us to wait (HTTP 429 with `Retry-After`).
    RetryAfter(Duration),
    /// Worth retrying later (5xx, timeouts, connection errors).
    Transient(String),
    /// Retrying cannot help (unknown channel, invalid address, rejected credentials).
    Permanent(String),
}

impl Outcome {
    pub fn is_sent(&self) -> bool {
        matches!(self, Outcome::Sent { .. })
    }
}

/// An HTTP client for the providers: ring TLS (never aws-lc-rs), bounded time per request.
pub fn http_client() -> Result<reqwest::Client, String> {
    // Installing twice is harmless; the first provider wins.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("muster/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// `Retry-After` in seconds (the form Slack and Twilio send), capped; 1 s when absent or
/// unreadable, so a 429 never turns into a tight loop.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1))
        .min(MAX_RETRY_AFTER)
}

/// The classification of an HTTP failure shared by the JSON providers: 429 waits, 5xx and
/// 408 are transient, any other 4xx permanent.
pub(crate) fn http_failure(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    detail: &str,
) -> Outcome {
    let detail = clip(detail);
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        Outcome::RetryAfter(retry_after(headers))
    } else if status.is_server_error() || status == reqwest::StatusCode::REQUEST_TIMEOUT {
        Outcome::Transient(format!("HTTP {status}: {detail}"))
    } else {
        Outcome::Permanent(format!("HTTP {status}: {detail}"))
    }
}

/// A JSON provider's answer as an outcome: 2xx is sent, with the answer's `id_field` as the
/// message id; anything else is classified by [`http_failure`] with the provider's error text,
/// as `describe` reads it from the body.
pub(crate) async fn answered(
    response: Result<reqwest::Response, reqwest::Error>,
    id_field: &str,
    describe: fn(&str) -> String,
) -> Outcome {
    let response = match response {
        Ok(r) => r,
        Err(e) => return send_error(e),
    };
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    if status.is_success() {
        let id = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get(id_field)?.as_str().map(String::from));
        return Outcome::Sent { id };
    }
    http_failure(status, &headers, &describe(&text))
}

/// A connection-level error as a transient failure, without the URL (it may carry a secret).
pub(crate) fn send_error(e: reqwest::Error) -> Outcome {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    Outcome::Transient(format!("{what}: {}", e.without_url()))
}

/// Provider error text, cut so a huge HTML error page does not land on the timeline.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 300;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    /// The channels take the core's `Secret`, the type the configuration's keys have too.
    #[test]
    fn secret_is_the_cores_and_debug_hides_it() {
        let secret: crate::Secret = muster_core::Secret::new("xoxb-123");
        let hook = crate::Webhook::new(crate::http_client().expect("client"), secret);
        let debug = format!("{hook:?}");
        assert!(!debug.contains("xoxb-123"), "{debug}");
        assert!(debug.contains("Secret(***)"), "{debug}");
    }
}
