//! Outgoing webhooks, signed so the receiver can tell they come from us and are fresh.
//!
//! `POST` of a JSON body with the headers:
//! - `X-Muster-Timestamp`: Unix seconds when signed;
//! - `X-Muster-Signature`: `v1=` + hex HMAC-SHA256 of `"{timestamp}.{body}"` with the shared
//!   secret (`MUSTER_WEBHOOK_SECRET`); receivers should reject timestamps older than 5 min;
//! - `Idempotency-Key`: the outbox key, the same on every retry, so a receiver can drop repeats.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::{Outcome, Secret, http_failure, send_error};

pub const TIMESTAMP_HEADER: &str = "X-Muster-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Muster-Signature";
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

#[derive(Clone, Debug)]
pub struct Webhook {
    http: reqwest::Client,
    secret: Secret,
}

/// `v1=<hex hmac-sha256(secret, "{timestamp}.{body}")>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    pub fn new(http: reqwest::Client, secret: Secret) -> Webhook {
        Webhook { http, secret }
    }

    /// With the secret from `MUSTER_WEBHOOK_SECRET` (empty when unset: still signed, so the
    /// receiver's check fails loudly rather than the sender silently skipping it).
    pub fn from_env(http: reqwest::Client) -> Webhook {
        let secret = std::env::var("MUSTER_WEBHOOK_SECRET").unwrap_or_default();
        Webhook::new(http, Secret::new(secret))
    }

    /// Posts `body` to `url`, signed at `timestamp` (Unix seconds).
    pub async fn send(&self, url: &str, key: &str, body: &[u8], timestamp: i64) -> Outcome {
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(
                SIGNATURE_HEADER,
                signature(self.secret.expose(), timestamp, body),
            )
            .header(IDEMPOTENCY_HEADER, key)
            .body(body.to_vec())
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => Outcome::Sent { id: None },
            Ok(r) => {
                let (status, headers) = (r.status(), r.headers().clone());
                let text = r.text().await.unwrap_or_default();
                http_failure(status, &headers, &text)
            }
            Err(e) => send_error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret
        assert_eq!(
            signature("s3cret", 1_700_000_000, br#"{"a":1}"#),
            "v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940".to_string()
        );
    }
}
