//! SMS through a Twilio-compatible HTTP API: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`
//! with a form body (`To`, `From`, `Body`) and HTTP basic auth `sid:token`.
//!
//! Twilio answers 201 with the message (`sid`), 400 with `{"code": 21211, …}` for an invalid
//! `To` number (permanent), 429 with `Retry-After`, 5xx when it is in trouble.

use serde_json::Value;

use crate::{Outcome, Secret, clip, http_failure, send_error};

#[derive(Clone, Debug)]
pub struct Sms {
    http: reqwest::Client,
    base: String,
    account_sid: String,
    auth_token: Secret,
    from: String,
}

impl Sms {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        account_sid: &str,
        auth_token: Secret,
        from: &str,
    ) -> Sms {
        Sms {
            http,
            base: base.trim_end_matches('/').to_string(),
            account_sid: account_sid.into(),
            auth_token,
            from: from.into(),
        }
    }

    /// From `MUSTER_SMS_API_URL` (required), `MUSTER_SMS_ACCOUNT_SID`, `MUSTER_SMS_AUTH_TOKEN`
    /// and `MUSTER_SMS_FROM`.
    pub fn from_env(http: reqwest::Client) -> Option<Sms> {
        let base = std::env::var("MUSTER_SMS_API_URL").ok()?;
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        Some(Sms::new(
            http,
            &base,
            &var("MUSTER_SMS_ACCOUNT_SID"),
            Secret::new(var("MUSTER_SMS_AUTH_TOKEN")),
            &var("MUSTER_SMS_FROM"),
        ))
    }

    /// The token Twilio signs the incoming SMS webhooks with.
    pub fn auth_token(&self) -> &Secret {
        &self.auth_token
    }

    /// Sends `body` to the E.164 number `to`.
    pub async fn send(&self, to: &str, body: &str) -> Outcome {
        if !is_e164(to) {
            return Outcome::Permanent(format!("invalid phone number `{to}` (E.164 expected)"));
        }
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base, self.account_sid
        );
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("To", to)
            .append_pair("From", &self.from)
            .append_pair("Body", body)
            .finish();
        let response = self
            .http
            .post(url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return send_error(e),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            let sid = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("sid").and_then(Value::as_str).map(String::from));
            return Outcome::Sent { id: sid };
        }
        http_failure(status, &headers, &twilio_message(&text))
    }
}

/// `+` and 8 to 15 digits: what every provider accepts; anything else fails before the call.
pub fn is_e164(n: &str) -> bool {
    n.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

/// Twilio's error body `{"code": 21211, "message": "…"}` as `21211: …`.
pub(crate) fn twilio_message(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => format!(
            "{}: {}",
            v.get("code").map(ToString::to_string).unwrap_or_default(),
            v.get("message").and_then(Value::as_str).unwrap_or("")
        ),
        Err(_) => clip(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers() {
        assert!(is_e164("+442071838750"));
        assert!(!is_e164("442071838750"));
        assert!(!is_e164("+44 20 7183"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("+1234"));
    }
}
