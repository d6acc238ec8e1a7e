//! Phone calls through a Twilio-compatible Voice API:
//! `POST {base}/2010-04-01/Accounts/{sid}/Calls.json` with a form body and HTTP basic auth
//! `sid:token`.
//!
//! Once the call is answered Twilio fetches its TwiML from the answer URL (see
//! [`crate::twilio`]); when it has ended, whatever the reason, Twilio posts it to the status
//! URL. Answering machine detection is on, so the answer webhook says whether a person picked
//! up (`AnsweredBy`). Twilio answers 201 with the call (`sid`), 400 with `{"code": 21217, …}`
//! for a number it cannot call (permanent), 429 with `Retry-After`, 5xx when it is in trouble.

use crate::sms::is_e164;
use crate::twilio::Account;
use crate::{Outcome, Secret};

/// How long the phone rings before Twilio gives up, in seconds.
const RING_TIMEOUT: &str = "30";

#[derive(Clone, Debug)]
pub struct Voice {
    account: Account,
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
            account: Account::new(http, base, account_sid, auth_token),
            from: from.into(),
        }
    }

    /// From `MUSTER_VOICE_API_URL` (required), `MUSTER_VOICE_ACCOUNT_SID`,
    /// `MUSTER_VOICE_AUTH_TOKEN` and `MUSTER_VOICE_FROM`.
    pub fn from_env(http: reqwest::Client) -> Option<Voice> {
        let (account, from) = Account::from_env(http, "MUSTER_VOICE")?;
        Some(Voice { account, from })
    }

    /// The token Twilio signs the answer and status webhooks with.
    pub fn auth_token(&self) -> &Secret {
        self.account.token()
    }

    /// Calls the E.164 number `to`; Twilio fetches the call's TwiML from `answer_url` and
    /// reports the end of the call to `status_url`, both with `POST`.
    pub async fn call(&self, to: &str, answer_url: &str, status_url: &str) -> Outcome {
        if !is_e164(to) {
            return Outcome::Permanent(format!("invalid phone number `{to}` (E.164 expected)"));
        }
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
        self.account.post("Calls.json", form).await
    }
}
