//! Calls against a fake Twilio Voice API speaking Twilio's wire format: form body, basic
//! auth, the call resource as JSON, `{"code", "message", "more_info", "status"}` errors.

use std::time::Duration;

use muster_notify::{Outcome, Secret, Voice, http_client};
use serde_json::json;

use crate::peer::{Peer, Reply, Seen};

/// Twilio's magic test number that cannot be called (error 21217).
const INVALID_TO: &str = "+15005550001";

fn twilio_error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(
        status,
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

/// `POST /2010-04-01/Accounts/{sid}/Calls.json` as Twilio answers it.
fn calls_api(req: &Seen, n: usize) -> Reply {
    let sid = req
        .path
        .strip_prefix("/2010-04-01/Accounts/")
        .and_then(|rest| rest.strip_suffix("/Calls.json"));
    let Some(sid) = sid.filter(|_| req.method == "POST") else {
        return twilio_error(404, 20404, "The requested resource was not found");
    };
    if !req
        .header("authorization")
        .is_some_and(|a| a.starts_with("Basic "))
    {
        return twilio_error(401, 20003, "Authenticate");
    }
    let to = req.form_field("To").unwrap_or_default();
    if to == INVALID_TO {
        return twilio_error(
            400,
            21217,
            &format!("Phone number {to} does not appear to be valid"),
        );
    }
    Reply::json(
        201,
        json!({
            "sid": format!("CA{n:032}"),
            "account_sid": sid,
            "to": to,
            "from": req.form_field("From"),
            "status": "queued",
            "api_version": "2010-04-01",
            "uri": format!("/2010-04-01/Accounts/{sid}/Calls/CA{n:032}.json"),
        }),
    )
}

fn voice(peer: &Peer) -> Voice {
    Voice::new(
        http_client().unwrap(),
        &peer.url,
        "AC123",
        Secret::new("tok"),
        "+15005550006",
    )
}

#[tokio::test]
async fn voice_call_posts_the_twilio_form_with_basic_auth_and_returns_the_sid() {
    let peer = Peer::start(calls_api).await;
    let outcome = voice(&peer)
        .call(
            "+442079460001",
            "https://muster.example/twilio/voice/answer?page=p1&t=a+b",
            "https://muster.example/twilio/voice/status?page=p1",
        )
        .await;
    assert_eq!(
        outcome,
        Outcome::Sent {
            id: Some(format!("CA{:032}", 0))
        }
    );
    let seen = peer.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/2010-04-01/Accounts/AC123/Calls.json");
    assert_eq!(
        req.header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    // basic auth AC123:tok
    assert_eq!(
        req.header("authorization").as_deref(),
        Some("Basic QUMxMjM6dG9r")
    );
    let expected: Vec<(String, String)> = [
        ("To", "+442079460001"),
        ("From", "+15005550006"),
        (
            "Url",
            "https://muster.example/twilio/voice/answer?page=p1&t=a+b",
        ),
        ("Method", "POST"),
        (
            "StatusCallback",
            "https://muster.example/twilio/voice/status?page=p1",
        ),
        ("StatusCallbackMethod", "POST"),
        ("StatusCallbackEvent", "completed"),
        ("MachineDetection", "Enable"),
        ("Timeout", "30"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(req.form(), expected);
}

#[tokio::test]
async fn voice_refuses_a_number_that_is_not_e164_without_a_request() {
    let peer = Peer::start(calls_api).await;
    for to in ["020 7946 0001", "442079460001", "+44 20 7946 0001", ""] {
        assert!(
            matches!(
                voice(&peer).call(to, "https://a", "https://s").await,
                Outcome::Permanent(_)
            ),
            "{to:?}"
        );
    }
    assert!(peer.seen().is_empty());
}

#[tokio::test]
async fn voice_classifies_twilio_failures() {
    let peer = Peer::start(calls_api).await;
    let voice = voice(&peer);
    let call = |to: &'static str| voice.call(to, "https://a", "https://s");

    match call(INVALID_TO).await {
        Outcome::Permanent(e) => {
            assert!(e.contains("21217"), "{e}");
            assert!(e.contains("does not appear to be valid"), "{e}");
            assert!(!e.contains("tok"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    peer.script(Reply::text(503, "Service Unavailable"));
    assert!(matches!(call("+442079460001").await, Outcome::Transient(_)));
    peer.script(twilio_error(429, 20429, "Too Many Requests").header("retry-after", "4"));
    assert_eq!(
        call("+442079460001").await,
        Outcome::RetryAfter(Duration::from_secs(4))
    );
    // Rejected credentials cannot succeed on a retry.
    peer.script(twilio_error(401, 20003, "Authenticate"));
    assert!(matches!(call("+442079460001").await, Outcome::Permanent(e) if e.contains("20003")));
    assert_eq!(peer.seen().len(), 4);
}

#[tokio::test]
async fn voice_unreachable_api_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let voice = Voice::new(
        http_client().unwrap(),
        &format!("http://127.0.0.1:{port}"),
        "AC123",
        Secret::new("tok"),
        "+15005550006",
    );
    let outcome = voice.call("+442079460001", "https://a", "https://s").await;
    assert!(matches!(outcome, Outcome::Transient(_)), "{outcome:?}");
}
