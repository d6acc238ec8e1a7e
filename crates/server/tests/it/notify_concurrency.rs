//! The running deliverer sends concurrently, bounded, and never twice: 150 webhook
//! notifications to a sink that answers slowly are in flight many at a time but never more
//! than 64 at once, and each arrives exactly once. On both backends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use muster_core::Clock;
use muster_notify::{Secret, Webhook, http_client};
use muster_server::deliver::{Channels, Deliverer, Delivery, Hop, Via};
use muster_store::{Effects, OutboxState};

use crate::support::{Backend, demo_dir, spawn_app_with};

const MESSAGES: usize = 150;

#[derive(Default)]
struct Sink {
    in_flight: AtomicUsize,
    most: AtomicUsize,
    keys: Mutex<BTreeMap<String, usize>>,
}

/// A webhook receiver that takes 50 ms to answer and records its peak concurrency.
async fn slow_sink() -> (String, Arc<Sink>) {
    let sink = Arc::new(Sink::default());
    let s = sink.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let s = s.clone();
        async move {
            let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            s.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            *s.keys
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(key)
                .or_default() += 1;
            s.in_flight.fetch_sub(1, Ordering::SeqCst);
            axum::http::StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, sink)
}

async fn sends_concurrently_bounded_and_once(backend: Backend) {
    let mut state = None;
    let Some(app) = spawn_app_with(backend, &demo_dir(), |s| {
        state = Some(s.clone());
        s
    })
    .await
    else {
        return;
    };
    let state = state.expect("state");
    let (url, sink) = slow_sink().await;
    let channels = Channels {
        webhook: Some(Webhook::new(http_client().expect("http"), Secret::new("s"))),
        ..Channels::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let deliverer = tokio::spawn(Deliverer::new(state.clone(), channels).run(async {
        let _ = stopped.await;
    }));
    let mut effects = Effects::default();
    let mut keys = Vec::new();
    for i in 0..MESSAGES {
        let d = Delivery {
            parent: format!("concurrency/{i}"),
            to: "sink".into(),
            chain: vec![Hop {
                channel: Via::Webhook,
                address: url.clone(),
            }],
            step: 0,
            subject: "s".into(),
            text: format!("message {i}"),
            queued_at: app.clock.now().as_millisecond(),
            not_before: None,
            blocks: None,
            copy: false,
            last_error: None,
            link: None,
        };
        let item = d.item(None);
        keys.push(item.idempotency_key.clone());
        effects.outbox.push(item);
    }
    state
        .store
        .apply_effects(app.clock.now(), &effects)
        .await
        .expect("queue");
    let mut delivered = 0;
    for _ in 0..600 {
        delivered = 0;
        for k in &keys {
            let r = state
                .store
                .outbox_by_key(k)
                .await
                .expect("row")
                .expect("queued");
            delivered += usize::from(r.state == OutboxState::Delivered);
        }
        if delivered == MESSAGES {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    let _ = deliverer.await;
    assert_eq!(delivered, MESSAGES);
    let received = sink.keys.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(received.len(), MESSAGES);
    assert!(received.values().all(|n| *n == 1), "sent twice");
    let most = sink.most.load(Ordering::SeqCst);
    assert!((8..=64).contains(&most), "peak concurrency {most}");
}

mod sends_concurrently_bounded_and_once {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::sends_concurrently_bounded_and_once(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::sends_concurrently_bounded_and_once(Backend::Postgres).await
    }
}
