//! Push notifications through ntfy (<https://docs.ntfy.sh/publish/>): the message as JSON,
//! `POST`ed to the server's root URL, with an optional access token as `Authorization:
//! Bearer …`.
//!
//! ntfy answers 200 with the stored message (`id`); errors are
//! `{"code": 40301, "http": 403, "error": "forbidden"}`, with 429 when a limit is reached and
//! 5xx when it is in trouble. The Acknowledge button is an ntfy `http` action: the phone posts
//! to the acknowledgement URL itself, so the page can be answered from the lock screen.

use serde_json::{Value, json};

use crate::{Outcome, Secret, clip};

/// One notification.
#[derive(Clone, Copy, Debug)]
pub struct PushMessage<'a> {
    /// 1 to 64 of `A-Z a-z 0-9 - _`. ntfy topics work as passwords: never logged.
    pub topic: &'a str,
    pub title: &'a str,
    pub message: &'a str,
    /// ntfy's 1 (min) to 5 (max, the urgent sound); other values are taken as the nearest.
    pub priority: u8,
    /// Opened when the notification is tapped.
    pub click: Option<&'a str>,
    /// Posted to by the notification's Acknowledge button.
    pub ack_url: Option<&'a str>,
}

#[derive(Clone, Debug)]
pub struct Push {
    http: reqwest::Client,
    base: String,
    token: Option<Secret>,
}

impl Push {
    /// `base` is the server's root, e.g. `https://ntfy.sh`.
    pub fn new(http: reqwest::Client, base: &str, token: Option<Secret>) -> Push {
        Push {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
        }
    }

    /// From `MUSTER_NTFY_URL` (required) and `MUSTER_NTFY_TOKEN` (optional: public servers
    /// take anonymous messages).
    pub fn from_env(http: reqwest::Client) -> Option<Push> {
        let base = std::env::var("MUSTER_NTFY_URL").ok()?;
        let token = std::env::var("MUSTER_NTFY_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .map(Secret::new);
        Some(Push::new(http, &base, token))
    }

    /// Publishes `m`; the outcome's id is ntfy's message id.
    pub async fn publish(&self, m: &PushMessage<'_>) -> Outcome {
        if !is_topic(m.topic) {
            // Not echoed: a topic is as good as a password to anyone who reads the timeline.
            return Outcome::Permanent(
                "invalid ntfy topic (1 to 64 of A-Z, a-z, 0-9, `-`, `_` expected)".into(),
            );
        }
        // ntfy refuses a priority outside 1..=5; a page must not fail over its number.
        let priority = m.priority.clamp(1, 5);
        let mut body = json!({
            "topic": m.topic,
            "title": m.title,
            "message": m.message,
            "priority": priority,
        });
        if priority >= 5 {
            body["tags"] = json!(["rotating_light"]);
        }
        if let Some(click) = m.click {
            body["click"] = json!(click);
        }
        if let Some(url) = m.ack_url {
            body["actions"] = json!([{
                "action": "http",
                "label": "Acknowledge",
                "url": url,
                "method": "POST",
                "clear": true,
            }]);
        }
        let mut request = self.http.post(format!("{}/", self.base)).json(&body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        crate::answered(request.send().await, "id", ntfy_message).await
    }
}

/// What ntfy accepts as a topic name.
fn is_topic(t: &str) -> bool {
    (1..=64).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// ntfy's error body `{"code": 40301, "http": 403, "error": "forbidden"}` as `40301: forbidden`.
fn ntfy_message(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) if v.get("error").is_some() => format!(
            "{}: {}",
            v.get("code").map(ToString::to_string).unwrap_or_default(),
            v.get("error").and_then(Value::as_str).unwrap_or("")
        ),
        _ => clip(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        assert!(is_topic("muster-oncall_alice"));
        assert!(is_topic(&"a".repeat(64)));
        assert!(!is_topic(""));
        assert!(!is_topic(&"a".repeat(65)));
        assert!(!is_topic("a/b"));
        assert!(!is_topic("on call"));
        assert!(!is_topic("über"));
    }

    #[test]
    fn ntfy_errors() {
        assert_eq!(
            ntfy_message(r#"{"code":40301,"http":403,"error":"forbidden","link":"x"}"#),
            "40301: forbidden"
        );
        assert_eq!(
            ntfy_message("<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
        assert_eq!(ntfy_message(r#"{"other":1}"#), r#"{"other":1}"#);
    }
}
