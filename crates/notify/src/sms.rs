//! SMS through a Twilio-compatible HTTP API: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`
//! with a form body (`To`, `From`, `Body`) and HTTP basic auth `sid:token`.
//!
//! Twilio answers 201 with the message (`sid`), 400 with `{"code": 21211, …}` for an invalid
//! `To` number (permanent), 429 with `Retry-After`, 5xx when it is in trouble.

use crate::Outcome;
use crate::twilio::Account;

#[derive(Clone, Debug)]
pub struct Sms {
    account: Account,
    from: String,
}

impl Sms {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        account_sid: &str,
        auth_token: crate::Secret,
        from: &str,
    ) -> Sms {
        Sms {
            account: Account::new(http, base, account_sid, auth_token),
            from: from.into(),
        }
    }

    /// From `MUSTER_SMS_API_URL` (required), `MUSTER_SMS_ACCOUNT_SID`, `MUSTER_SMS_AUTH_TOKEN`
    /// and `MUSTER_SMS_FROM`.
    pub fn from_env(http: reqwest::Client) -> Option<Sms> {
        let (account, from) = Account::from_env(http, "MUSTER_SMS")?;
        Some(Sms { account, from })
    }

    /// The token Twilio signs the incoming SMS webhooks with.
    pub fn auth_token(&self) -> &crate::Secret {
        self.account.token()
    }

    /// Sends `body` to the E.164 number `to`.
    pub async fn send(&self, to: &str, body: &str) -> Outcome {
        if !is_e164(to) {
            return Outcome::Permanent(format!("invalid phone number `{to}` (E.164 expected)"));
        }
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("To", to)
            .append_pair("From", &self.from)
            .append_pair("Body", body)
            .finish();
        self.account.post("Messages.json", form).await
    }
}

/// `+` and 8 to 15 digits: what every provider accepts; anything else fails before the call.
pub fn is_e164(n: &str) -> bool {
    n.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
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
