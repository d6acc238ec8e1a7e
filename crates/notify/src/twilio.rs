//! Twilio's side of a call or SMS conversation: the account both are sent through (one REST
//! call each), the signature on the webhooks it sends us, and the TwiML documents we answer
//! them with.
//!
//! Signature (`X-Twilio-Signature`): base64 of HMAC-SHA1, keyed with the account's auth token,
//! over the full URL Twilio requested (query string included) followed by every POST
//! parameter's name and value, sorted by name. The URL must be the one Twilio was given,
//! byte for byte: behind a proxy, the public one, not the one the server sees.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha1::Sha1;

use crate::{Outcome, Secret, clip};

/// The header Twilio puts its signature in.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
/// The media type of a TwiML answer.
pub const TWIML_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// A Twilio-compatible account: where its REST API is and how to sign in (HTTP basic auth
/// `sid:token`). SMS and calls are each one form post to a resource of the account.
#[derive(Clone, Debug)]
pub(crate) struct Account {
    http: reqwest::Client,
    base: String,
    sid: String,
    token: Secret,
}

impl Account {
    pub(crate) fn new(http: reqwest::Client, base: &str, sid: &str, token: Secret) -> Account {
        Account {
            http,
            base: base.trim_end_matches('/').to_string(),
            sid: sid.into(),
            token,
        }
    }

    /// From `{prefix}_API_URL` (required), `{prefix}_ACCOUNT_SID`, `{prefix}_AUTH_TOKEN`, and
    /// the number messages come from, `{prefix}_FROM`.
    pub(crate) fn from_env(http: reqwest::Client, prefix: &str) -> Option<(Account, String)> {
        let base = std::env::var(format!("{prefix}_API_URL")).ok()?;
        let var = |k: &str| std::env::var(format!("{prefix}_{k}")).unwrap_or_default();
        let token = Secret::new(var("AUTH_TOKEN"));
        Some((
            Account::new(http, &base, &var("ACCOUNT_SID"), token),
            var("FROM"),
        ))
    }

    pub(crate) fn token(&self) -> &Secret {
        &self.token
    }

    /// Posts `form` to the account's `resource` (`Messages.json`, `Calls.json`). Twilio answers
    /// 201 with the new resource (its `sid` is the id), 4xx with `{"code", "message"}`
    /// (permanent, but 429 with `Retry-After`), 5xx when it is in trouble.
    pub(crate) async fn post(&self, resource: &str, form: String) -> Outcome {
        let url = format!("{}/2010-04-01/Accounts/{}/{resource}", self.base, self.sid);
        let response = self
            .http
            .post(url)
            .basic_auth(&self.sid, Some(self.token.expose()))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await;
        crate::answered(response, "sid", error_message).await
    }
}

/// Twilio's error body `{"code": 21211, "message": "…"}` as `21211: …`.
fn error_message(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => format!(
            "{}: {}",
            v.get("code").map(ToString::to_string).unwrap_or_default(),
            v.get("message").and_then(Value::as_str).unwrap_or("")
        ),
        Err(_) => clip(text),
    }
}

const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    // By name, a repeated name's values sorted too and exact repeats dropped: what Twilio's
    // own helper libraries (twilio-python, twilio-node) sign and check.
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The `X-Twilio-Signature` Twilio sends for a POST of `params` to `url`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `header` is Twilio's signature of `params` posted to `url`, compared in constant
/// time. An empty auth token never verifies: anyone can sign with an empty key.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    if auth_token.is_empty() {
        return false;
    }
    let Ok(claimed) = STANDARD.decode(header.trim()) else {
        return false;
    };
    mac(auth_token, url, params).verify_slice(&claimed).is_ok()
}

/// Reads `say` and waits 8 s for one key, posted to `action_url`; without one, says goodbye
/// and hangs up.
pub fn gather(say: &str, action_url: &str) -> String {
    format!(
        r#"{XML_DECLARATION}<Response><Gather input="dtmf" numDigits="1" timeout="8" action="{}" method="POST"><Say>{}</Say></Gather><Say>No key was pressed. Goodbye.</Say><Hangup/></Response>"#,
        escape(action_url),
        escape(say)
    )
}

/// Reads `text`, then hangs up.
pub fn say_and_hang_up(text: &str) -> String {
    format!(
        "{XML_DECLARATION}<Response><Say>{}</Say><Hangup/></Response>",
        escape(text)
    )
}

/// Replies `text` to an incoming SMS.
pub fn message(text: &str) -> String {
    format!(
        "{XML_DECLARATION}<Response><Message>{}</Message></Response>",
        escape(text)
    )
}

/// Acknowledges a webhook without doing anything (no reply SMS, nothing said).
pub fn empty() -> String {
    format!("{XML_DECLARATION}<Response/>")
}

/// `s` as XML text or attribute value; a control character XML cannot carry becomes U+FFFD,
/// since one in an incident title would make Twilio refuse the whole document and the call
/// would end in its "application error" message.
fn escape(s: &str) -> String {
    muster_core::control::escape_markup(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The example of Twilio's "Webhooks security" guide (twilio.com/docs/usage/security),
    /// given out of order: the signature sorts them.
    fn documented() -> Vec<(String, String)> {
        params(&[
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("From", "+12349013030"),
            ("Digits", "1234"),
            ("Caller", "+12349013030"),
        ])
    }

    #[test]
    fn signature_matches_twilios_documented_example() {
        assert_eq!(
            signature("12345", URL, &documented()),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    /// The vectors of Twilio's helper library tests (twilio-python
    /// `tests/unit/test_request_validator.py`, twilio-java `RequestValidatorTest`).
    #[test]
    fn signature_matches_the_helper_libraries_vectors() {
        let p = params(&[
            ("Digits", "1234"),
            ("CallSid", "CA1234567890ABCDE"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
            ("From", "+14158675309"),
        ]);
        assert_eq!(signature("12345", URL, &p), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        // A repeated name: values sorted, the exact repeat counted once.
        let repeated = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            signature("12345", URL, &repeated),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn verify_accepts_the_example_and_rejects_a_changed_param_or_url() {
        let sig = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        assert!(verify("12345", URL, &documented(), sig));
        assert!(verify("12345", URL, &documented(), &format!(" {sig}\n")));

        let mut changed = documented();
        changed[3].1 = "9999".into();
        assert!(!verify("12345", URL, &changed, sig));
        let mut extra = documented();
        extra.push(("Body".into(), "ack".into()));
        assert!(!verify("12345", URL, &extra, sig));
        assert!(!verify("12345", URL, &documented()[1..], sig));

        let other_url = "https://mycompany.com/myapp.php?foo=1&bar=3";
        assert!(!verify("12345", other_url, &documented(), sig));
        assert!(!verify("54321", URL, &documented(), sig));
    }

    #[test]
    fn verify_rejects_garbage_headers_and_an_empty_token() {
        for header in [
            "",
            "not base64 at all!",
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ",
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ==",
            "0/KCTR6DLpKmkAf8muzZqo1nDg",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ=0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
        ] {
            assert!(!verify("12345", URL, &documented(), header), "{header:?}");
        }
        let unkeyed = signature("", URL, &documented());
        assert!(!verify("", URL, &documented(), &unkeyed));
    }

    #[test]
    fn twiml_documents() {
        assert_eq!(
            gather(
                "SEV1 checkout down. Press 1.",
                "https://m.example/v/1?t=a&u=b"
            ),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Gather input=\"dtmf\" \
             numDigits=\"1\" timeout=\"8\" action=\"https://m.example/v/1?t=a&amp;u=b\" \
             method=\"POST\"><Say>SEV1 checkout down. Press 1.</Say></Gather><Say>No key was \
             pressed. Goodbye.</Say><Hangup/></Response>"
        );
        assert_eq!(
            say_and_hang_up("Acknowledged."),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>Acknowledged.</Say>\
             <Hangup/></Response>"
        );
        assert_eq!(
            message("INC-7 acknowledged"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>INC-7 acknowledged\
             </Message></Response>"
        );
        assert_eq!(
            empty(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"
        );
    }

    #[test]
    fn twiml_escapes_text_and_attributes() {
        let nasty = r#"a & b <c> "d" 'e'"#;
        let escaped = "a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39;";
        assert!(message(nasty).contains(&format!("<Message>{escaped}</Message>")));
        assert!(say_and_hang_up(nasty).contains(&format!("<Say>{escaped}</Say>")));
        let doc = gather(nasty, r#"https://x/"><Hangup/><Say a='"#);
        assert!(doc.contains(&format!("<Say>{escaped}</Say>")), "{doc}");
        assert!(
            doc.contains(r#"action="https://x/&quot;&gt;&lt;Hangup/&gt;&lt;Say a=&#39;""#),
            "{doc}"
        );
        // A closing tag in the text cannot end the element early.
        assert!(!message("</Message><Redirect>x</Redirect>").contains("<Redirect>"));
    }

    #[test]
    fn twiml_replaces_characters_xml_cannot_carry() {
        assert_eq!(
            message("a\u{0}b\u{7}c\u{1b}d\u{FFFF}e\tf\ng\u{e9}\u{1F6A8}"),
            format!(
                "{XML_DECLARATION}<Response><Message>a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e\tf\ng\u{e9}\u{1F6A8}</Message></Response>"
            )
        );
    }
}
