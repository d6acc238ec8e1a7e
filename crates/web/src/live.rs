//! Server-sent events: a page subscribes, and hears `changed` after each commit that may
//! concern it (its incident's, or any for lists); the page script then asks htmx to fetch
//! its live part again. The countdowns tick in the browser from absolute deadlines, so a
//! stream carries no clock ticks, only announcements.
//!
//! This node's commits are announced by the reactions (`muster_server::live`). Another
//! node's commits reach a PostgreSQL deployment's streams through the store's wake-ups
//! ([`spawn_wake_relay`]), as "something changed", at most once a second.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Extension, Path, State};
use axum::response::IntoResponse;
use axum::response::Response;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use muster_core::IncidentNumber;
use muster_server::AppState;
use muster_server::live::Changed;
use tokio::sync::{broadcast, watch};

use crate::incident::parse_id;
use crate::page::PageError;
use crate::session::Session;

/// Turns true when the server shuts down: every stream ends then.
#[derive(Clone)]
pub struct Stop(pub watch::Receiver<bool>);

/// Keep-alive comments on an idle stream, so proxies do not cut it.
const KEEP_ALIVE: Duration = Duration::from_secs(20);
/// The wake-up relay announces at most this often.
const RELAY_EVERY: Duration = Duration::from_secs(1);

/// What a stream passes on: one incident's announcements, or all of them.
#[derive(Clone, Copy)]
enum Interest {
    Incident(IncidentNumber),
    Any,
}

impl Interest {
    fn wants(self, changed: Changed) -> bool {
        match (self, changed) {
            (Interest::Any, _) | (Interest::Incident(_), None) => true,
            (Interest::Incident(mine), Some(n)) => mine == n,
        }
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // A dropped sender means nobody will stop us: wait for the connection to close.
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// `changed` with the incident's id, or `any`. (An event with empty data is never
/// dispatched by a browser's `EventSource`.)
fn changed_event(changed: Changed) -> Event {
    Event::default()
        .event("changed")
        .data(changed.map_or_else(|| "any".to_string(), |n| n.to_string()))
}

fn stream(
    rx: broadcast::Receiver<Changed>,
    interest: Interest,
    stop: watch::Receiver<bool>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    // The first event says the subscription is in place: whatever commits after it is heard.
    let ready = futures_util::stream::iter([Ok(Event::default().event("ready").data("ready"))]);
    let changes = futures_util::stream::unfold((rx, stop), move |(mut rx, mut stop)| async move {
        loop {
            tokio::select! {
                _ = stopped(&mut stop) => return None,
                got = rx.recv() => match got {
                    Ok(changed) if interest.wants(changed) => {
                        return Some((Ok(changed_event(changed)), (rx, stop)));
                    }
                    Ok(_) => continue,
                    // Missed some: the page reloads its live part anyway.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        return Some((Ok(changed_event(None)), (rx, stop)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    futures_util::StreamExt::chain(ready, changes)
}

fn sse(state: &AppState, interest: Interest, stop: &Stop) -> Response {
    let rx = state.changes.subscribe();
    Sse::new(stream(rx, interest, stop.0.clone()))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// `GET /incidents/{id}/events`: announcements of one incident's commits.
pub async fn incident_events(
    State(state): State<AppState>,
    Extension(stop): Extension<Stop>,
    _session: Session,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&raw)?;
    if state.store.incident(id).await?.is_none() {
        return Err(PageError::not_found(format!("There is no incident {id}.")));
    }
    Ok(sse(&state, Interest::Incident(id), &stop))
}

/// `GET /events`: announcements of every commit (the home page and the list).
pub async fn list_events(
    State(state): State<AppState>,
    Extension(stop): Extension<Stop>,
    _session: Session,
) -> Response {
    sse(&state, Interest::Any, &stop)
}

/// On PostgreSQL, relays the store's wake-ups (commits of any node that set timers or queue
/// outbox items) to this node's streams, at most once a second, until `stop` turns true.
/// SQLite has one node, whose commits the reactions announce themselves.
pub fn spawn_wake_relay(
    state: &AppState,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        if state.store.backend() != "postgres" {
            return;
        }
        let wakeups = tokio::select! {
            w = state.store.wakeups() => w,
            _ = stopped(&mut stop) => return,
        };
        loop {
            tokio::select! {
                _ = wakeups.notified() => {}
                _ = stopped(&mut stop) => return,
            }
            state.changes.publish(None);
            tokio::select! {
                _ = tokio::time::sleep(RELAY_EVERY) => {}
                _ = stopped(&mut stop) => return,
            }
        }
    })
}
