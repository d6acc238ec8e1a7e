//! Each channel against a wire-faithful local peer: fake Slack, SMS, Twilio Voice and ntfy
//! APIs, a webhook sink and a real SMTP server (aiosmtpd).

mod peer;
mod push;
mod voice;

use std::time::Duration;

use muster_notify::webhook::{IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use muster_notify::{Email, Outcome, Secret, Slack, Sms, Webhook, http_client};
use muster_testkit::fakes::{self, Reply};

fn slack_client(url: &str) -> Slack {
    Slack::new(http_client().unwrap(), url, Secret::new("xoxb-test-token"))
}

#[tokio::test]
async fn slack_posts_and_classifies_slack_errors() {
    let fake = fakes::slack().await;
    let slack = slack_client(&fake.url);
    let sent = slack.post_message("U0ALICE", "SEV1 checkout down").await;
    assert_eq!(
        sent,
        Outcome::Sent {
            id: Some("1774753920.000100".into())
        }
    );
    let req = &fake.requests()[0];
    assert_eq!(req.path, "/chat.postMessage");
    assert_eq!(
        req.header("authorization").as_deref(),
        Some("Bearer xoxb-test-token")
    );
    assert_eq!(req.json()["channel"], "U0ALICE");
    assert_eq!(req.json()["text"], "SEV1 checkout down");

    fake.script(Reply::SlackError("channel_not_found".into()), 1);
    assert_eq!(
        slack.post_message("#nope", "x").await,
        Outcome::Permanent("chat.postMessage: channel_not_found".into())
    );
    fake.script(Reply::RateLimited(7), 1);
    assert_eq!(
        slack.post_message("#c", "x").await,
        Outcome::RetryAfter(Duration::from_secs(7))
    );
    fake.script(Reply::Status(500), 1);
    assert!(matches!(
        slack.post_message("#c", "x").await,
        Outcome::Transient(_)
    ));
    fake.script(Reply::SlackError("internal_error".into()), 1);
    assert!(matches!(
        slack.post_message("#c", "x").await,
        Outcome::Transient(_)
    ));
}

#[tokio::test]
async fn slack_channels_invites_lookups_and_updates() {
    let fake = fakes::slack().await;
    let slack = slack_client(&fake.url);
    assert_eq!(
        slack.create_channel("inc-7-checkout").await.unwrap(),
        "C0NEWCHAN"
    );
    assert!(
        slack
            .invite("C0NEWCHAN", &["U1".into(), "U2".into()])
            .await
            .is_sent()
    );
    assert_eq!(
        slack.lookup_by_email("alice@example.com").await.unwrap(),
        "U0LOOKED"
    );
    assert!(slack.update("C0NEWCHAN", "1.2", "edited").await.is_sent());
    let paths: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/conversations.create",
            "/conversations.invite",
            "/users.lookupByEmail",
            "/chat.update"
        ]
    );
    assert_eq!(fake.requests()[1].json()["users"], "U1,U2");
    // A wrong token is Slack's `not_authed`: permanent, and the token is not in the error.
    let bad = Slack::new(http_client().unwrap(), &fake.url, Secret::new("secret-123"));
    match bad.post_message("#c", "x").await {
        Outcome::Permanent(e) => assert!(!e.contains("secret-123") && e.contains("not_authed")),
        other => panic!("{other:?}"),
    }
    assert!(!format!("{bad:?}").contains("secret-123"));
}

#[tokio::test]
async fn sms_sends_twilio_form_and_rejects_invalid_numbers() {
    let fake = fakes::sms().await;
    let sms = Sms::new(
        http_client().unwrap(),
        &fake.url,
        "AC123",
        Secret::new("tok"),
        "+15005550006",
    );
    let sent = sms.send("+442079460001", "SEV1 checkout down").await;
    assert!(matches!(sent, Outcome::Sent { id: Some(_) }), "{sent:?}");
    let req = &fake.requests()[0];
    assert_eq!(req.path, "/2010-04-01/Accounts/AC123/Messages.json");
    assert_eq!(req.form("To").as_deref(), Some("+442079460001"));
    assert_eq!(req.form("From").as_deref(), Some("+15005550006"));
    assert_eq!(req.form("Body").as_deref(), Some("SEV1 checkout down"));
    // basic auth AC123:tok
    assert_eq!(
        req.header("authorization").as_deref(),
        Some("Basic QUMxMjM6dG9r")
    );
    match sms.send("+15005550001", "x").await {
        Outcome::Permanent(e) => assert!(e.contains("21211"), "{e}"),
        other => panic!("{other:?}"),
    }
    // Not E.164: refused before any request.
    assert!(matches!(
        sms.send("020 7946 0001", "x").await,
        Outcome::Permanent(_)
    ));
    assert_eq!(fake.requests().len(), 2);
    fake.script(Reply::RateLimited(3), 1);
    assert_eq!(
        sms.send("+442079460001", "x").await,
        Outcome::RetryAfter(Duration::from_secs(3))
    );
}

#[tokio::test]
async fn webhooks_are_signed_over_timestamp_and_body() {
    let fake = fakes::webhook_sink().await;
    let hook = Webhook::new(http_client().unwrap(), Secret::new("s3cret"));
    let body = br#"{"text":"hi"}"#;
    let url = format!("{}/hooks/alice", fake.url);
    assert!(
        hook.send(&url, "INC-1/k", body, 1_774_753_920)
            .await
            .is_sent()
    );
    let req = &fake.requests()[0];
    assert_eq!(req.path, "/hooks/alice");
    assert_eq!(req.header(TIMESTAMP_HEADER).as_deref(), Some("1774753920"));
    assert_eq!(req.header(IDEMPOTENCY_HEADER).as_deref(), Some("INC-1/k"));
    assert_eq!(
        req.header(SIGNATURE_HEADER),
        Some(signature("s3cret", 1_774_753_920, req.body.as_bytes()))
    );
    fake.script(Reply::Status(503), 1);
    assert!(matches!(
        hook.send(&url, "k", body, 1).await,
        Outcome::Transient(_)
    ));
    fake.script(Reply::Status(410), 1);
    assert!(matches!(
        hook.send(&url, "k", body, 1).await,
        Outcome::Permanent(_)
    ));
}

#[tokio::test]
async fn email_reaches_a_real_smtp_server_with_headers_and_body() {
    let smtpd = fakes::Smtpd::start().expect("python3 -m aiosmtpd (pip install aiosmtpd)");
    let email = Email::new(&smtpd.url, "Muster <muster@example.com>").unwrap();
    let sent = email
        .send(
            "alice@example.com",
            "[INC-1] SEV1 Checkout down",
            "Checkout is down.\nFollow along.",
            "INC-1/notify/x",
        )
        .await;
    assert!(sent.is_sent(), "{sent:?}");
    let mail = smtpd.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mail.len(), 1);
    let raw = &mail[0];
    assert_eq!(
        fakes::email_header(raw, "To").as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(
        fakes::email_header(raw, "Subject").as_deref(),
        Some("[INC-1] SEV1 Checkout down")
    );
    assert_eq!(
        fakes::email_header(raw, "Message-ID").as_deref(),
        Some("<INC-1.notify.x@muster>")
    );
    assert!(
        fakes::email_header(raw, "From")
            .unwrap()
            .contains("muster@example.com")
    );
    assert!(
        fakes::email_body(raw).contains("Checkout is down."),
        "{raw}"
    );
}

#[tokio::test]
async fn email_authenticates_with_the_url_credentials() {
    let smtpd = fakes::Smtpd::start_with_auth("ops", "hunter2:p@ss")
        .expect("python3 with aiosmtpd (pip install aiosmtpd)");
    let port = smtpd.url.rsplit(':').next().expect("port");
    // The password is percent-encoded in the URL.
    let url = format!("smtp://ops:hunter2%3Ap%40ss@127.0.0.1:{port}");
    let email = Email::new(&url, "Muster <muster@example.com>").unwrap();
    let sent = email
        .send(
            "alice@example.com",
            "[INC-1] SEV1",
            "Authenticated.",
            "INC-1/a",
        )
        .await;
    assert!(sent.is_sent(), "{sent:?}");
    // Without credentials, and with a wrong password: refused for good, never delivered.
    let anonymous = Email::new(&smtpd.url, "muster@example.com").unwrap();
    let outcome = anonymous
        .send("alice@example.com", "s", "anonymous", "k1")
        .await;
    assert!(
        matches!(&outcome, Outcome::Permanent(m) if m.contains("530")),
        "{outcome:?}"
    );
    let wrong = format!("smtp://ops:wrong@127.0.0.1:{port}");
    let outcome = Email::new(&wrong, "muster@example.com")
        .unwrap()
        .send("alice@example.com", "s", "wrong password", "k2")
        .await;
    match &outcome {
        Outcome::Permanent(m) => {
            assert!(m.contains("535"), "{m}");
            assert!(!m.contains("wrong"), "the password is never echoed: {m}");
        }
        other => panic!("{other:?}"),
    }
    let mail = smtpd.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mail.len(), 1);
    assert!(fakes::email_body(&mail[0]).contains("Authenticated."));
}

#[tokio::test]
async fn unreachable_smtp_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let email = Email::new(&format!("smtp://127.0.0.1:{port}"), "muster@localhost").unwrap();
    let outcome = email.send("a@example.com", "s", "b", "k").await;
    assert!(matches!(outcome, Outcome::Transient(_)), "{outcome:?}");
    assert!(matches!(
        email.send("not an address", "s", "b", "k").await,
        Outcome::Permanent(_)
    ));
}
