//! `GET /ack/{token}` and `POST /ack/{token}`: the acknowledgement link of a notification's
//! email or SMS. The GET only shows what would be acknowledged, with a button: mail scanners
//! that fetch links ahead of the reader acknowledge nothing. The button's POST acknowledges,
//! through the same path as the API. An unknown token is 404; a resolved incident's link has
//! expired (410).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::AppState;
use crate::reactions::{self, AckOutcome, Acknowledgement};

pub fn router() -> Router<AppState> {
    Router::new().route("/ack/{token}", axum::routing::get(show).post(acknowledge))
}

async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let link = match state.store.ack_link(&token).await {
        Ok(Some(link)) if link.open => link,
        Ok(Some(_)) => return expired(),
        Ok(None) => return not_found(),
        Err(e) => return trouble(&e.to_string()),
    };
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

async fn acknowledge(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let link = match state.store.ack_link(&token).await {
        Ok(Some(link)) if link.open => link,
        Ok(Some(_)) => return expired(),
        Ok(None) => return not_found(),
        Err(e) => return trouble(&e.to_string()),
    };
    let outcome = reactions::acknowledge_notification(
        &state,
        &link.person,
        link.incident,
        &link.notification,
    )
    .await;
    match outcome {
        Ok(AckOutcome::Acknowledged(a)) => page(StatusCode::OK, &said(&a, "")),
        Ok(AckOutcome::Already(a)) => page(StatusCode::OK, &said(&a, "Already acknowledged: ")),
        Ok(AckOutcome::UnknownNotification) => not_found(),
        Err(e) => trouble(&e.to_string()),
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

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
