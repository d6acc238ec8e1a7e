//! Push notifications against a fake ntfy server speaking ntfy's wire format: JSON published
//! to the root URL, the stored message in the answer, `{"code", "http", "error"}` errors.

use std::time::Duration;

use muster_notify::{Outcome, Push, PushMessage, Secret, http_client};
use serde_json::{Value, json};

use crate::peer::{Peer, Reply, Seen};

const TOKEN: &str = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2";

fn ntfy_error(code: u32, status: u16, error: &str) -> Reply {
    Reply::json(
        status,
        json!({"code": code, "http": status, "error": error, "link": "https://ntfy.sh/docs/publish/#authentication"}),
    )
}

/// ntfy's answer to a JSON publish on a server whose topics need the access token `TOKEN`.
fn ntfy(req: &Seen, n: usize) -> Reply {
    if req.method != "POST" || req.path != "/" {
        return ntfy_error(40401, 404, "page not found");
    }
    match req.header("authorization") {
        None => return ntfy_error(40301, 403, "forbidden"),
        Some(a) if a != format!("Bearer {TOKEN}") => {
            return ntfy_error(40101, 401, "unauthorized");
        }
        Some(_) => {}
    }
    let m = req.json();
    let Some(topic) = m["topic"].as_str() else {
        return ntfy_error(40001, 400, "invalid request: unable to parse JSON");
    };
    let mut stored = json!({
        "id": format!("sPs71M8A2T{n:02}"),
        "time": 1_774_753_920,
        "expires": 1_774_797_120,
        "event": "message",
        "topic": topic,
        "title": m["title"],
        "message": m["message"],
        "priority": m["priority"],
    });
    for field in ["tags", "click", "actions"] {
        if let Some(v) = m.get(field) {
            stored[field] = v.clone();
        }
    }
    Reply::json(200, stored)
}

fn push(peer: &Peer) -> Push {
    Push::new(http_client().unwrap(), &peer.url, Some(Secret::new(TOKEN)))
}

fn page<'a>() -> PushMessage<'a> {
    PushMessage {
        topic: "muster-oncall-alice",
        title: "[INC-7] SEV1 Checkout down",
        message: "Checkout returns 500s. Tap Acknowledge to take it.",
        priority: 5,
        click: Some("https://muster.example/incidents/INC-7"),
        ack_url: Some("https://muster.example/ack/p1?t=abc"),
    }
}

#[tokio::test]
async fn ntfy_publish_sends_json_with_the_bearer_token_and_an_acknowledge_action() {
    let peer = Peer::start(ntfy).await;
    let outcome = push(&peer).publish(&page()).await;
    assert_eq!(
        outcome,
        Outcome::Sent {
            id: Some("sPs71M8A2T00".into())
        }
    );
    let seen = peer.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/");
    assert_eq!(req.header("authorization"), Some(format!("Bearer {TOKEN}")));
    assert_eq!(
        req.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        req.json(),
        json!({
            "topic": "muster-oncall-alice",
            "title": "[INC-7] SEV1 Checkout down",
            "message": "Checkout returns 500s. Tap Acknowledge to take it.",
            "priority": 5,
            "tags": ["rotating_light"],
            "click": "https://muster.example/incidents/INC-7",
            "actions": [{
                "action": "http",
                "label": "Acknowledge",
                "url": "https://muster.example/ack/p1?t=abc",
                "method": "POST",
                "clear": true,
            }],
        })
    );
}

#[tokio::test]
async fn ntfy_publish_leaves_out_what_is_not_given() {
    let peer = Peer::start(ntfy).await;
    let quiet = PushMessage {
        priority: 3,
        click: None,
        ack_url: None,
        ..page()
    };
    assert!(push(&peer).publish(&quiet).await.is_sent());
    // Out of ntfy's range: sent as the nearest priority rather than refused.
    let loud = PushMessage {
        priority: 9,
        ..quiet
    };
    assert!(push(&peer).publish(&loud).await.is_sent());
    let seen = peer.seen();
    let body = seen[0].json();
    let keys: Vec<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 4, "{body}");
    for key in ["topic", "title", "message", "priority"] {
        assert!(keys.contains(&key), "{body}");
    }
    assert_eq!(body["priority"], 3);
    assert_eq!(seen[1].json()["priority"], 5);
    assert_eq!(seen[1].json()["tags"], json!(["rotating_light"]));
}

#[tokio::test]
async fn ntfy_forbidden_is_permanent_with_ntfys_error_text() {
    let peer = Peer::start(ntfy).await;
    let anonymous = Push::new(http_client().unwrap(), &peer.url, None);
    match anonymous.publish(&page()).await {
        Outcome::Permanent(e) => {
            assert!(e.contains("403"), "{e}");
            assert!(e.contains("40301: forbidden"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(peer.seen()[0].header("authorization"), None);
    // A wrong token: refused, and the token is not in the error.
    let wrong = Push::new(
        http_client().unwrap(),
        &peer.url,
        Some(Secret::new("tk_wrong")),
    );
    match wrong.publish(&page()).await {
        Outcome::Permanent(e) => {
            assert!(e.contains("unauthorized"), "{e}");
            assert!(!e.contains("tk_wrong"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{wrong:?}").contains("tk_wrong"));
}

#[tokio::test]
async fn ntfy_rate_limits_and_server_errors_are_retried() {
    let peer = Peer::start(ntfy).await;
    let push = push(&peer);
    peer.script(
        ntfy_error(42901, 429, "limit reached: too many requests").header("retry-after", "6"),
    );
    assert_eq!(
        push.publish(&page()).await,
        Outcome::RetryAfter(Duration::from_secs(6))
    );
    // ntfy itself sends no Retry-After: a short wait, not a tight loop.
    peer.script(ntfy_error(42901, 429, "limit reached: too many requests"));
    assert_eq!(
        push.publish(&page()).await,
        Outcome::RetryAfter(Duration::from_secs(1))
    );
    peer.script(ntfy_error(50001, 500, "internal server error"));
    match push.publish(&page()).await {
        Outcome::Transient(e) => assert!(e.contains("internal server error"), "{e}"),
        other => panic!("{other:?}"),
    }
    peer.script(Reply::text(502, "Bad Gateway"));
    assert!(matches!(push.publish(&page()).await, Outcome::Transient(_)));
}

#[tokio::test]
async fn ntfy_bad_topic_is_refused_without_a_request() {
    let peer = Peer::start(ntfy).await;
    let long = "a".repeat(65);
    for topic in ["", "alerts/alice", "on call", "über", "a.b", long.as_str()] {
        let m = PushMessage { topic, ..page() };
        match push(&peer).publish(&m).await {
            Outcome::Permanent(e) => {
                assert!(e.contains("topic"), "{e}");
                // The topic works as a password: never echoed.
                assert!(topic.is_empty() || !e.contains(topic), "{e}");
            }
            other => panic!("{topic:?}: {other:?}"),
        }
    }
    assert!(peer.seen().is_empty());
    // The longest topic ntfy accepts goes through.
    let longest = "a".repeat(64);
    let m = PushMessage {
        topic: &longest,
        ..page()
    };
    assert!(push(&peer).publish(&m).await.is_sent());
    assert_eq!(peer.seen()[0].json()["topic"], Value::from(longest));
}
