//! `GET /ack/{token}` and `POST /ack/{token}`: the one-tap link of a page or notification —
//! in its email or SMS, and the push notification's Acknowledge action (which posts
//! `?via=push`). The GET only shows what would be acknowledged, with a button: mail scanners
//! that fetch links ahead of the reader acknowledge nothing. The POST answers through
//! `reactions::page`, the path of every channel. A link answers once (a second use: 403,
//! saying it is done), until it expires (410) and while its incident is open (410); an
//! unknown token is 404.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use muster_store::{AckLink, LinkState};

use muster_core::control::escape_markup as esc;

use crate::AppState;
use crate::reactions::Acknowledgement;
use crate::reactions::page::{self, PageAction, PageAnswer};

pub fn router() -> Router<AppState> {
    Router::new().route("/ack/{token}", axum::routing::get(show).post(acknowledge))
}

#[derive(serde::Deserialize)]
struct Via {
    via: Option<String>,
}

async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let link = match state.store.ack_link(&token).await {
        Ok(Some(link)) => link,
        Ok(None) => return not_found(),
        Err(e) => return trouble(&e.to_string()),
    };
    if let Some(refused) = refused(&link, state.clock.now()) {
        return refused;
    }
    let what = format!(
        "Acknowledge notification <code>{}</code> of {} as {}?",
        esc(&link.notification),
        esc(&link.incident.to_string()),
        esc(&link.person)
    );
    let form = format!(
        "<form method=\"post\" action=\"/ack/{}\"><button type=\"submit\">Acknowledge</button></form>",
        esc(&token)
    );
    page(StatusCode::OK, &format!("<p>{what}</p>{form}"))
}

async fn acknowledge(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(via): Query<Via>,
) -> Response {
    let link = match state.store.ack_link(&token).await {
        Ok(Some(link)) => link,
        Ok(None) => return not_found(),
        Err(e) => return trouble(&e.to_string()),
    };
    // The push action says so; a link opened from a message is its delivery's channel.
    let channel = match via.via.as_deref() {
        Some("push") => "push",
        _ => link.channel.as_deref().unwrap_or("link"),
    };
    match page::answer(&state, &link, PageAction::Acknowledge, channel).await {
        Ok(PageAnswer::Acknowledged(a)) => page(StatusCode::OK, &said(&a, "")),
        Ok(PageAnswer::Already(a)) => page(StatusCode::OK, &said(&a, "Already acknowledged: ")),
        Ok(PageAnswer::Refused(state)) => refused_as(&link, state),
        Ok(PageAnswer::UnknownNotification) => not_found(),
        // Not reachable for an acknowledgement; said plainly should that change.
        Ok(PageAnswer::Escalated(_) | PageAnswer::NothingToEscalate) => {
            trouble("the link does not escalate")
        }
        Err(e) => trouble(&e.to_string()),
    }
}

/// The answer for a link that cannot be used any more, if it cannot.
fn refused(link: &AckLink, now: jiff::Timestamp) -> Option<Response> {
    match link.state(now) {
        LinkState::Usable => None,
        state => Some(refused_as(link, state)),
    }
}

fn refused_as(link: &AckLink, state: LinkState) -> Response {
    match state {
        LinkState::Used => {
            let when = link
                .used
                .as_ref()
                .map(|(at, what)| format!(" ({what}, {})", at.strftime("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default();
            page(
                StatusCode::FORBIDDEN,
                &format!(
                    "<p>This link was already used{}: it is done.</p>",
                    esc(&when)
                ),
            )
        }
        LinkState::Expired => page(
            StatusCode::GONE,
            "<p>This link has expired. Acknowledge from Slack, the web UI or the CLI.</p>",
        ),
        LinkState::Closed => expired(),
        LinkState::Usable => not_found(),
    }
}

/// `ken acknowledged notification … of INC-1 (to alias:legal) after 10 min.`
fn said(a: &Acknowledgement, prefix: &str) -> String {
    format!(
        "<p>{prefix}{} acknowledged notification <code>{}</code> (to {}) after {}.</p>",
        esc(&a.by),
        esc(&a.key),
        esc(&a.audience),
        muster_core::words::duration_secs(a.delay_secs)
    )
}

fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "<p>This acknowledgement link is not known.</p>",
    )
}

fn expired() -> Response {
    page(
        StatusCode::GONE,
        "<p>This link has expired: the incident is resolved.</p>",
    )
}

fn trouble(message: &str) -> Response {
    let body = format!("<p>Nothing was acknowledged: {}</p>", esc(message));
    page(StatusCode::CONFLICT, &body)
}

fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Muster: acknowledge</title>\
         </head><body>{body}</body></html>"
    );
    (status, Html(html)).into_response()
}
