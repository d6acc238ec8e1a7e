//! The Slack Web API: `chat.postMessage`, `chat.update`, `conversations.create`,
//! `conversations.invite`, `users.lookupByEmail`.
//!
//! Slack answers HTTP 200 with `{"ok": false, "error": "channel_not_found"}` for most errors,
//! so the body decides: a short list of errors is transient (Slack's own trouble), the rest
//! are permanent (retrying the same request cannot succeed). HTTP 429 carries `Retry-After`.

use serde_json::{Value, json};

use crate::{Outcome, Secret, clip, http_failure, send_error};

/// Slack's v0 request signature: `v0=<hex of HMAC-SHA256(signing secret,
/// "v0:{timestamp}:{raw body}")>`, as sent in `X-Slack-Signature`.
pub fn request_signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Slack's real API base.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// `ok:false` errors worth retrying; every other one is permanent.
const TRANSIENT_ERRORS: &[&str] = &[
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

#[derive(Clone, Debug)]
pub struct Slack {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

/// A successful call's body, or how it failed.
pub type Answer = Result<Value, Outcome>;

impl Slack {
    /// `base` without the trailing slash, e.g. `https://slack.com/api`.
    pub fn new(http: reqwest::Client, base: &str, token: Secret) -> Slack {
        Slack {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
        }
    }

    /// From `MUSTER_SLACK_BOT_TOKEN` and `MUSTER_SLACK_API_URL`; `None` without a token.
    pub fn from_env(http: reqwest::Client) -> Option<Slack> {
        let token = std::env::var("MUSTER_SLACK_BOT_TOKEN").ok()?;
        let base = std::env::var("MUSTER_SLACK_API_URL").unwrap_or_else(|_| DEFAULT_API_URL.into());
        Some(Slack::new(http, &base, Secret::new(token)))
    }

    /// Posts `text` to a channel id, channel name or user id (a user id opens a DM).
    pub async fn post_message(&self, channel: &str, text: &str) -> Outcome {
        let body = json!({ "channel": channel, "text": text, "unfurl_links": false });
        match self.call("chat.postMessage", &body).await {
            Ok(v) => Outcome::Sent {
                id: v.get("ts").and_then(Value::as_str).map(String::from),
            },
            Err(o) => o,
        }
    }

    /// Replaces the text of the message `ts` in `channel`.
    pub async fn update(&self, channel: &str, ts: &str, text: &str) -> Outcome {
        let body = json!({ "channel": channel, "ts": ts, "text": text });
        match self.call("chat.update", &body).await {
            Ok(_) => Outcome::Sent {
                id: Some(ts.to_string()),
            },
            Err(o) => o,
        }
    }

    /// Creates a public channel; answers its id.
    pub async fn create_channel(&self, name: &str) -> Result<String, Outcome> {
        let v = self
            .call("conversations.create", &json!({ "name": name }))
            .await?;
        v.pointer("/channel/id")
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| Outcome::Permanent("conversations.create: no channel id".into()))
    }

    /// Invites users (ids) into a channel.
    pub async fn invite(&self, channel: &str, users: &[String]) -> Outcome {
        let body = json!({ "channel": channel, "users": users.join(",") });
        match self.call("conversations.invite", &body).await {
            Ok(_) => Outcome::Sent { id: None },
            Err(o) => o,
        }
    }

    /// The Slack user id of an email address.
    pub async fn lookup_by_email(&self, email: &str) -> Result<String, Outcome> {
        let v = self
            .call("users.lookupByEmail", &json!({ "email": email }))
            .await?;
        v.pointer("/user/id")
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| Outcome::Permanent("users.lookupByEmail: no user id".into()))
    }

    /// Posts a message with Block Kit `blocks` (and `text` as the notification fallback);
    /// answers its `ts`.
    pub async fn post_blocks(
        &self,
        channel: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<String, Outcome> {
        let body =
            json!({ "channel": channel, "text": text, "blocks": blocks, "unfurl_links": false });
        let v = self.call("chat.postMessage", &body).await?;
        Ok(v.get("ts")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    /// Replaces the text and blocks of the message `ts` in `channel`.
    pub async fn update_blocks(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &Value,
    ) -> Outcome {
        let body = json!({ "channel": channel, "ts": ts, "text": text, "blocks": blocks });
        match self.call("chat.update", &body).await {
            Ok(_) => Outcome::Sent {
                id: Some(ts.to_string()),
            },
            Err(o) => o,
        }
    }

    /// The email address of a Slack user (`users.info`; needs `users:read.email`).
    pub async fn user_email(&self, user: &str) -> Result<String, Outcome> {
        let v = self.call("users.info", &json!({ "user": user })).await?;
        v.pointer("/user/profile/email")
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| Outcome::Permanent("users.info: no email".into()))
    }

    /// Answers an interaction through its `response_url` (no token: the URL is the grant).
    pub async fn respond(&self, url: &str, body: &Value) -> Outcome {
        let response = match self.http.post(url).json(body).send().await {
            Ok(r) => r,
            Err(e) => return send_error(e),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            Outcome::Sent { id: None }
        } else {
            http_failure(status, &headers, &text)
        }
    }

    /// One Web API call with a JSON body and the bot token as bearer.
    pub async fn call(&self, method: &str, body: &Value) -> Answer {
        let url = format!("{}/{method}", self.base);
        let response = self
            .http
            .post(url)
            .bearer_auth(self.token.expose())
            .json(body)
            .send()
            .await
            .map_err(send_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(send_error)?;
        if !status.is_success() {
            return Err(http_failure(status, &headers, &text));
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|_| Outcome::Transient(format!("{method}: not JSON: {}", clip(&text))))?;
        if v.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(v);
        }
        let error = v.get("error").and_then(Value::as_str).unwrap_or("unknown");
        let message = format!("{method}: {error}");
        Err(if TRANSIENT_ERRORS.contains(&error) {
            Outcome::Transient(message)
        } else {
            Outcome::Permanent(message)
        })
    }
}
