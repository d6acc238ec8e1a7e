//! Webhooks through which a page is answered where it landed: SMS replies and the keypresses
//! of a call, posted by a Twilio-compatible provider. Every request is verified by the
//! provider's signature (HMAC-SHA1 of the public URL and the form parameters, keyed with the
//! account's auth token) before anything is read from it: a missing signature is 401, a
//! wrong one 403, and neither writes anything. What an answer does is
//! `reactions::page::answer`'s, the path of every channel.

mod sms;
mod voice;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use muster_core::Secret;
use muster_core::words::duration_secs;
use muster_store::{AckLink, LinkState};

use crate::AppState;
use crate::error::ApiError;
use crate::reactions::page::PageAnswer;

/// The secrets and the public address the provider signs its requests with.
#[derive(Clone, Debug, Default)]
pub struct AnswerHooks {
    /// `MUSTER_PUBLIC_URL`: the scheme, host and port the provider posts to, as it signs them
    /// (behind a proxy, Muster's own view of the URL differs).
    public_url: String,
    sms: Option<Secret>,
    voice: Option<Secret>,
}

impl AnswerHooks {
    pub fn new(public_url: &str, sms: Option<Secret>, voice: Option<Secret>) -> AnswerHooks {
        AnswerHooks {
            public_url: public_url.trim_end_matches('/').to_string(),
            sms,
            voice,
        }
    }

    /// From `MUSTER_PUBLIC_URL`, `MUSTER_SMS_AUTH_TOKEN` and `MUSTER_VOICE_AUTH_TOKEN`.
    pub fn from_env() -> AnswerHooks {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        AnswerHooks::new(
            &var("MUSTER_PUBLIC_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into()),
            var("MUSTER_SMS_AUTH_TOKEN").map(Secret::new),
            var("MUSTER_VOICE_AUTH_TOKEN").map(Secret::new),
        )
    }
}

pub fn router() -> Router<AppState> {
    use axum::routing::post;
    Router::new()
        .route("/hooks/sms", post(sms::reply))
        .route("/hooks/voice/{token}", post(voice::answer))
        .route("/hooks/voice/{token}/key", post(voice::key))
        .route("/hooks/voice/{token}/status", post(voice::status))
}

/// Which account signed the request.
#[derive(Clone, Copy, Debug)]
enum Account {
    Sms,
    Voice,
}

/// A form post the provider signed: its parameters, in the order sent.
struct Signed(Vec<(String, String)>);

impl Signed {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The request's parameters if `account`'s signature over them is right; else the refusal.
fn verify(
    hooks: &AnswerHooks,
    account: Account,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Signed, ApiError> {
    let secret = match account {
        Account::Sms => hooks.sms.as_ref(),
        Account::Voice => hooks.voice.as_ref(),
    };
    let Some(secret) = secret else {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "no auth token is configured to verify this provider's requests",
        ));
    };
    let Some(signature) = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "the X-Twilio-Signature header is missing",
        ));
    };
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!("{}{path}", hooks.public_url);
    let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    if !muster_notify::twilio::verify(secret.expose(), &url, &params, signature) {
        tracing::warn!(%path, "provider webhook refused: bad signature");
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "the request's signature does not match",
        ));
    }
    Ok(Signed(params))
}

fn refuse(status: StatusCode, message: &str) -> ApiError {
    let code = match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::GONE => "gone",
        StatusCode::NOT_FOUND => "not_found",
        _ => "forbidden",
    };
    ApiError::new(status, code, message)
}

/// A TwiML answer.
fn twiml(xml: String) -> Response {
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/xml")],
        xml,
    )
        .into_response()
}

/// What answering a page came to, in the few words an SMS or a call has room for (a reply
/// names the page by its code; a call has only the one page).
fn told(link: &AckLink, answer: &PageAnswer, by_sms: bool) -> String {
    let id = link.incident;
    let (page, upper) = match link.code.as_ref().filter(|_| by_sms) {
        Some(code) => (
            format!("page {code} of {id}"),
            format!("Page {code} of {id}"),
        ),
        None => (format!("the page of {id}"), format!("The page of {id}")),
    };
    match answer {
        PageAnswer::Acknowledged(a) => format!(
            "Acknowledged {page} after {}. Escalation stopped.",
            duration_secs(a.delay_secs)
        ),
        PageAnswer::Already(a) => format!(
            "{id} was already acknowledged by {} at {}. Nothing was changed.",
            a.by,
            a.at.strftime("%H:%M UTC")
        ),
        PageAnswer::Escalated(paged) => format!("Escalated {id}: paged {}.", paged.join(", ")),
        PageAnswer::NothingToEscalate => {
            format!("{id} has no further escalation step. Nothing was changed.")
        }
        PageAnswer::Refused(LinkState::Used) => {
            format!("{upper} was already answered. Nothing was changed.")
        }
        PageAnswer::Refused(LinkState::Expired) => {
            format!("{upper} has expired. Nothing was changed.")
        }
        PageAnswer::Refused(LinkState::Closed) => {
            format!("{id} is resolved. Nothing was changed.")
        }
        PageAnswer::Refused(LinkState::Usable) | PageAnswer::UnknownNotification => {
            format!("{upper} is not known. Nothing was changed.")
        }
    }
}
