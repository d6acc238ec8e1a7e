//! Phone calls through a Twilio-compatible Voice API:
//! `POST {base}/2010-04-01/Accounts/{sid}/Calls.json` with a form body and HTTP basic auth
//! `sid:token`.
//!
//! Once the call is answered Twilio fetches its TwiML from the answer URL (see
//! [`crate::twilio`]); when it has ended, whatever the reason, Twilio posts it to the status
//! URL. Answering machine detection is on, so the answer webhook says whether a person picked
//! up (`AnsweredBy`). Twilio answers 201 with the call (`sid`), 400 with `{"code": 21217, …}`
//! for a number it cannot call (permanent), 429 with `Retry-After`, 5xx when it is in trouble.

use serde_json::Value;

use crate::sms::{is_e164, twilio_message};
use crate::{Outcome, Secret, http_failure, send_error};

/// How long the phone rings before Twilio gives up, in seconds.
const RING_TIMEOUT: &str = "30";

#[derive(Clone, Debug)]
pub struct Voice {
    http: reqwest::Client,
    base: String,
    account_sid: String,
    auth_token: Secret,
    from: String,
}

impl Voice {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        account_sid: &str,
        auth_token: Secret,
        from: &str,
    ) -> Voice {
        Voice {
            http,
            base: base.trim_end_matches('/').to_string(),
            account_sid: account_sid.into(),
            auth_token,
            from: from.into(),
        }
    }

    /// From `MUSTER_VOICE_API_URL` (required), `MUSTER_VOICE_ACCOUNT_SID`,
    /// `MUSTER_VOICE_AUTH_TOKEN` and `MUSTER_VOICE_FROM`.
    pub fn from_env(http: reqwest::Client) -> Option<Voice> {
        let base = std::env::var("MUSTER_VOICE_API_URL").ok()?;
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        Some(Voice::new(
            http,
            &base,
            &var("MUSTER_VOICE_ACCOUNT_SID"),
            Secret::new(var("MUSTER_VOICE_AUTH_TOKEN")),
            &var("MUSTER_VOICE_FROM"),
        ))
    }

    /// The token Twilio signs the answer and status webhooks with.
    pub fn auth_token(&self) -> &Secret {
        &self.auth_token
    }

    /// Calls the E.164 number `to`; Twilio fetches the call's TwiML from `answer_url` and
    /// reports the end of the call to `status_url`, both with `POST`.
    pub async fn call(&self, to: &str, answer_url: &str, status_url: &str) -> Outcome {
        if !is_e164(to) {
            return Outcome::Permanent(format!("invalid phone number `{to}` (E.164 expected)"));
        }
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Calls.json",
            self.base, self.account_sid
        );
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("To", to)
            .append_pair("From", &self.from)
            .append_pair("Url", answer_url)
            .append_pair("Method", "POST")
            .append_pair("StatusCallback", status_url)
            .append_pair("StatusCallbackMethod", "POST")
            .append_pair("StatusCallbackEvent", "completed")
            .append_pair("MachineDetection", "Enable")
            .append_pair("Timeout", RING_TIMEOUT)
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
