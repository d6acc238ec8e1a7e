//! `POST /hooks/sms`: a reply to a paging SMS. `1`/`ack` acknowledges, `2`/`esc` escalates,
//! optionally naming the page's code (`ack 4821`); without a code the reply answers the
//! sender's latest texted page. The sender is known by their phone number in the
//! configuration. Whatever the outcome, the answer is a short SMS (TwiML `<Message>`):
//! strangers, unknown codes and expired pages are told so, and nothing changes; a stranger's
//! reply is recorded in the audit log.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use muster_notify::twilio;
use muster_store::StoreError;
use serde_json::json;

use super::{Account, told, twiml, verify};
use crate::AppState;
use crate::reactions::page::{self, PageAction};

const HOW: &str = "Reply 1 or ACK to acknowledge, 2 or ESC to escalate, and the page's code \
                   if you have several (ACK 4821).";

pub(super) async fn reply(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signed = match verify(&state.answers, Account::Sms, &uri, &headers, &body) {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    let from = signed.get("From").unwrap_or_default();
    let text = signed.get("Body").unwrap_or_default();
    let said = match respond(&state, from, text).await {
        Ok(said) => said,
        Err(e) => {
            tracing::warn!(error = %e, "an SMS reply could not be answered");
            format!("Nothing was changed: {e}. Try again, or use the link.")
        }
    };
    twiml(twilio::message(&said))
}

async fn respond(state: &AppState, from: &str, text: &str) -> Result<String, StoreError> {
    let cfg = state.config();
    let now = state.clock.now();
    let sender = cfg
        .config
        .people
        .values()
        .find(|p| p.contact.phone.as_deref() == Some(from));
    let Some(person) = sender else {
        let data = json!({ "from": from, "body": clip(text) });
        let actor = format!("phone:{from}");
        state
            .store
            .record_audit(now, &actor, "page.reply_refused", "sms", &data)
            .await?;
        return Ok("This number is not a Muster responder's. Nothing was changed.".into());
    };
    let Some((action, code)) = parse(text) else {
        return Ok(HOW.into());
    };
    let link = match code {
        Some(code) => state.store.ack_link_by_code(&person.id, code).await?,
        None => state.store.latest_sms_link(&person.id, now).await?,
    };
    let Some(link) = link else {
        return Ok(match code {
            Some(code) => format!("You have no page {code}. Nothing was changed."),
            None => "You have no page to answer. Nothing was changed.".into(),
        });
    };
    let answer = page::answer(state, &link, action, "sms").await?;
    Ok(told(&link, &answer, true))
}

/// `1`, `ack`, `2`, `esc` (any case), then an optional code of digits.
fn parse(text: &str) -> Option<(PageAction, Option<&str>)> {
    let mut words = text.split_whitespace();
    let action = match words.next()?.to_ascii_lowercase().as_str() {
        "1" | "ack" | "acknowledge" => PageAction::Acknowledge,
        "2" | "esc" | "escalate" => PageAction::Escalate,
        _ => return None,
    };
    let code = words.next();
    if words.next().is_some() || code.is_some_and(|c| !c.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    Some((action, code))
}

/// A stranger's text, cut to what an audit entry needs.
fn clip(text: &str) -> String {
    text.chars().take(160).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_name_an_action_and_maybe_a_code() {
        assert_eq!(parse("1"), Some((PageAction::Acknowledge, None)));
        assert_eq!(
            parse(" ACK 4821 "),
            Some((PageAction::Acknowledge, Some("4821")))
        );
        assert_eq!(parse("esc"), Some((PageAction::Escalate, None)));
        assert_eq!(parse("2 0042"), Some((PageAction::Escalate, Some("0042"))));
        assert_eq!(parse("ack later"), None, "a code is digits");
        assert_eq!(parse("ack 4821 now"), None);
        assert_eq!(parse("yes"), None);
        assert_eq!(parse(""), None);
    }
}
