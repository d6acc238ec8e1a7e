//! A page's call, driven by the provider's webhooks under `/hooks/voice/{token}` (the token
//! is the page's link; the provider's signature is checked first):
//! - `POST …/{token}`: the call was answered; the TwiML reads the incident in a few words and
//!   gathers one key — 1 acknowledges, 2 escalates now, 3 repeats. A voicemail (answering
//!   machine detection) is hung up on: it is no acknowledgement.
//! - `POST …/{token}/key`: the key pressed. The answer goes through `reactions::page`; a
//!   keypress for a link already used is a replay, refused with 403.
//! - `POST …/{token}/status`: the call ended. Unanswered (no answer, busy, failed, a machine)
//!   goes on the timeline as a failed notification; the person's next rule step follows on
//!   its own time, as after any page nobody acknowledged.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use muster_core::Change;
use muster_notify::twilio;
use muster_store::{AckLink, Effects, LinkState, StoreError};

use super::{Account, Signed, refuse, told, twiml, verify};
use crate::AppState;
use crate::error::ApiError;
use crate::reactions::page::{self, PageAction};

/// A call's webhook, signature checked, with its page's link and token.
pub(super) struct Call {
    signed: Signed,
    link: AckLink,
    token: String,
}

impl FromRequest<AppState> for Call {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Call, ApiError> {
        let (mut parts, body) = req.into_parts();
        let Path(token) = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(|_| refuse(StatusCode::NOT_FOUND, "no page has this link"))?;
        let body = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|e| ApiError::new(e.status(), "bad_request", e.body_text()))?;
        let signed = verify(
            &state.answers,
            Account::Voice,
            &parts.uri,
            &parts.headers,
            &body,
        )?;
        match state.store.ack_link(&token).await? {
            Some(link) => Ok(Call {
                signed,
                link,
                token,
            }),
            None => Err(refuse(StatusCode::NOT_FOUND, "no page has this link")),
        }
    }
}

pub(super) async fn answer(
    State(state): State<AppState>,
    Call {
        signed,
        link,
        token,
    }: Call,
) -> Response {
    if signed
        .get("AnsweredBy")
        .is_some_and(|a| a.starts_with("machine") || a == "fax")
    {
        return twiml(twilio::say_and_hang_up(""));
    }
    match link.state(state.clock.now()) {
        LinkState::Usable => twiml(prompt(&state, &link, &token, "").await),
        refused => twiml(twilio::say_and_hang_up(&told(
            &link,
            &page::PageAnswer::Refused(refused),
            false,
        ))),
    }
}

pub(super) async fn key(
    State(state): State<AppState>,
    Call {
        signed,
        link,
        token,
    }: Call,
) -> Response {
    let action = match signed.get("Digits").unwrap_or_default() {
        "1" => PageAction::Acknowledge,
        "2" => PageAction::Escalate,
        "3" => return twiml(prompt(&state, &link, &token, "").await),
        other => {
            let sorry = format!("{other} is not one of the choices. ");
            return twiml(prompt(&state, &link, &token, &sorry).await);
        }
    };
    if link.used.is_some() {
        // The call hangs up after an answer: another keypress for it is a replay.
        return refuse(StatusCode::FORBIDDEN, "this page was already answered").into_response();
    }
    match page::answer(&state, &link, action, "voice").await {
        Ok(answer) => twiml(twilio::say_and_hang_up(&told(&link, &answer, false))),
        Err(e) => {
            tracing::warn!(error = %e, incident = %link.incident, "a keypress could not be answered");
            twiml(twilio::say_and_hang_up(
                "Muster could not record that. Nothing was changed. Use the link or reply to the text.",
            ))
        }
    }
}

pub(super) async fn status(
    State(state): State<AppState>,
    Call {
        signed,
        link,
        token: _,
    }: Call,
) -> Response {
    let call = signed.get("CallStatus").unwrap_or_default();
    let machine = signed
        .get("AnsweredBy")
        .is_some_and(|a| a.starts_with("machine"));
    let unanswered = matches!(call, "busy" | "no-answer" | "failed" | "canceled") || machine;
    if unanswered && link.used.is_none() {
        let why = if machine { "voicemail" } else { call };
        if let Err(e) = record_unanswered(&state, &link, why).await {
            tracing::warn!(error = %e, incident = %link.incident, "an unanswered call was not recorded");
        }
    }
    twiml(twilio::empty())
}

/// The call went unanswered: on the timeline as the delivery's failure, nothing else — the
/// person's next rule step is already queued for its time.
async fn record_unanswered(state: &AppState, link: &AckLink, why: &str) -> Result<(), StoreError> {
    let who = format!("person:{}", link.person);
    let change = Change::NotificationFailed {
        key: format!("{}/{}/{who}/voice", link.incident, link.notification),
        channel: "voice".into(),
        to: who,
        error: format!("the call was not answered ({why})"),
        retry_in_ms: None,
        fallback: None,
    };
    state
        .store
        .update_with_effects(
            link.incident,
            crate::deliver::ACTOR,
            state.clock.now(),
            |_| Ok((vec![change], Effects::default())),
        )
        .await?;
    state.changes.publish(Some(link.incident));
    Ok(())
}

/// The incident in a few words and the choices, gathering one key; `before` is said first.
async fn prompt(state: &AppState, link: &AckLink, token: &str, before: &str) -> String {
    let incident = state.store.incident(link.incident).await.ok().flatten();
    let about = match &incident {
        Some(i) => {
            let services = match i.services.is_empty() {
                true => String::new(),
                false => format!(" Service {}.", i.services.join(", ")),
            };
            format!("{} {}: {}.{services}", i.id, i.severity, i.title)
        }
        None => link.incident.to_string(),
    };
    let say = format!(
        "{before}This is Muster, paging {}. {about} You are paged {}. \
         Press 1 to acknowledge, 2 to escalate now, 3 to hear this again.",
        link.person,
        why_paged(&link.notification)
    );
    let action = format!("{}/hooks/voice/{token}/key", state.answers.public_url);
    twilio::gather(&say, &action)
}

/// `by escalation policy payments-escalation`, `by policy sev1-tell-legal`.
fn why_paged(notification: &str) -> String {
    match notification.split_once("/esc:") {
        Some((run, _)) => format!(
            "by escalation policy {}",
            run.strip_prefix("alert:").unwrap_or(run)
        ),
        None => format!(
            "by policy {}",
            notification.split(':').next().unwrap_or(notification)
        ),
    }
}
