//! Paging answered where it lands, on both backends: an alert's escalation pages alice, whose
//! rules say SMS now, a call after 2 minutes and a push after 5. Fakes speak each provider's
//! wire format (Twilio's form posts, TwiML answers and request signatures; ntfy's JSON
//! publish). Pressing 1 on the call, replying `ack` to the SMS, or the push notification's
//! Acknowledge action acknowledges the incident and stops the escalation, each recorded with
//! its channel; forged and replayed webhooks change nothing.

use std::time::Duration;

use jiff::SignedDuration;
use muster_notify::twilio;
use muster_testkit::fakes::{Recorded, Reply};
use serde_json::{Value, json};

use crate::notify::{PUBLIC_URL, Rig, SMS_TOKEN, VOICE_TOKEN, of_kind, rig_with};
use crate::support::Backend;

const ALICE: &str = "+442079460001";
const AM: &str = "/api/v1/integrations/demo-alertmanager/alertmanager";

/// The demo with checkout's escalation paging alice first, and alice's rules SMS → call →
/// push (her ntfy topic added).
async fn rig(backend: Backend) -> Option<Rig> {
    rig_and(backend, |_| {}).await
}

/// [`rig`] with `more` changed in the configuration directory too.
async fn rig_and(backend: Backend, more: impl FnOnce(&std::path::Path)) -> Option<Rig> {
    rig_with(backend, |dir| {
        more(dir);
        // A response-time policy on acknowledgement, to see an answer reach the policies.
        std::fs::write(
            dir.join("policies/acknowledge-5m.yaml"),
            "policies:\n  - id: acknowledge-5m\n    description: SEV1 - acknowledged within 5 minutes.\n    \
             when: { severity: [SEV1] }\n    deadline: { within: 5m, of: declared, expect: acknowledged }\n    \
             on_missed: [ nudge: { role: incident_commander } ]\n",
        )
        .expect("write policy");
        edit(dir, "escalation.yaml", |t| {
            t.replacen(
                "      - targets: [ { schedule: payments-primary } ]",
                "      - targets: [ { person: alice } ]",
                1,
            )
        });
        edit(dir, "people.yaml", |t| {
            t.replacen(
                "contact: { email: alice@example.com, slack_user: U0ALICE, phone: \"+442079460001\" }\n    notification_rules: [ { channel: slack, after: 0m }, { channel: sms, after: 5m }, { channel: phone, after: 10m } ]",
                "contact: { phone: \"+442079460001\", push_topic: muster-alice-7f3k2p }\n    notification_rules: [ { channel: sms, after: 0m }, { channel: voice, after: 2m }, { channel: push, after: 5m } ]",
                1,
            )
        });
    })
    .await
}

fn edit(dir: &std::path::Path, file: &str, change: impl FnOnce(&str) -> String) {
    let path = dir.join(file);
    let before = std::fs::read_to_string(&path).expect("read");
    let after = change(&before);
    assert_ne!(before, after, "{file} was not changed");
    std::fs::write(&path, after).expect("write");
}

/// A SEV1 alert on checkout: the incident's id, once its first page is out.
async fn alert(rig: &Rig) -> String {
    let body = json!({
        "version": "4", "groupKey": "{}:{alertname=\"CheckoutDown\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "muster", "groupLabels": {"alertname": "CheckoutDown"},
        "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "CheckoutDown", "severity": "critical", "instance": "web-1"},
            "annotations": {"summary": "Checkout is down"},
            "startsAt": "2026-03-29T03:10:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph", "fingerprint": "f1",
        }],
    });
    let (s, v) = rig.app.post(AM, body).await;
    assert_eq!(s, 200, "{v}");
    let id = eventually_incident(rig).await;
    rig.drain_without_advancing().await;
    id
}

async fn eventually_incident(rig: &Rig) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, v) = rig.app.get("/api/v1/incidents").await;
        assert_eq!(s, 200, "{v}");
        let list = v
            .as_array()
            .cloned()
            .or_else(|| v["incidents"].as_array().cloned());
        if let Some(id) = list
            .unwrap_or_default()
            .first()
            .and_then(|i| i["id"].as_str().map(String::from))
        {
            return id;
        }
        assert!(tokio::time::Instant::now() < deadline, "no incident opened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Moves the clock and delivers what fell due.
async fn after(rig: &Rig, mins: i64) {
    rig.app.clock.advance(SignedDuration::from_mins(mins));
    rig.drain_without_advancing().await;
}

/// The paging SMS texts sent to alice (not the SEV1 playbook's notification she also gets).
fn texts_to_alice(rig: &Rig) -> Vec<String> {
    rig.sms
        .requests()
        .iter()
        .filter(|r| r.form("To").as_deref() == Some(ALICE))
        .filter_map(|r| r.form("Body"))
        .filter(|b| b.starts_with("You are paged"))
        .collect()
}

/// The reply code in a paging SMS (`… Reply 1 or ACK 4821 to acknowledge …`).
fn code_in(text: &str) -> String {
    let at = text.find("Reply 1 or ACK ").expect("reply instructions") + "Reply 1 or ACK ".len();
    text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

fn calls_to_alice(rig: &Rig) -> Vec<Recorded> {
    rig.voice
        .requests()
        .into_iter()
        .filter(|r| r.form("To").as_deref() == Some(ALICE))
        .collect()
}

/// Posts `params` to `path` as the provider does, signed with `token` (`None`: unsigned).
async fn provider_post(
    rig: &Rig,
    path: &str,
    params: &[(&str, &str)],
    token: Option<&str>,
) -> (u16, String) {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(owned.iter())
        .finish();
    let mut req = rig
        .app
        .http
        .post(format!("{}{path}", rig.app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(token) = token {
        let signature = twilio::signature(token, &format!("{PUBLIC_URL}{path}"), &owned);
        req = req.header("X-Twilio-Signature", signature);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

async fn sms_reply(rig: &Rig, from: &str, body: &str) -> String {
    let params = [
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("AccountSid", "AC1"),
        ("From", from),
        ("To", "+15005550006"),
        ("Body", body),
    ];
    let (s, xml) = provider_post(rig, "/hooks/sms", &params, Some(SMS_TOKEN)).await;
    assert_eq!(s, 200, "{xml}");
    let start = xml.find("<Message>").expect("a TwiML message") + "<Message>".len();
    let end = xml.find("</Message>").expect("closed");
    xml[start..end].to_string()
}

/// The call's answer webhook path (`/hooks/voice/{token}`) from the call's `Url`.
fn answer_path(call: &Recorded) -> String {
    let url = call.form("Url").expect("the call's Url");
    url.strip_prefix(PUBLIC_URL)
        .expect("on the public URL")
        .to_string()
}

/// Posts a page link's path (`/ack/{token}[?via=push]`) as ntfy's action or a browser does.
async fn tap(rig: &Rig, path: &str) -> reqwest::Response {
    let url = format!("{}{path}", rig.app.base);
    rig.app.http.post(url).send().await.expect("post the link")
}

fn acks(timeline: &[Value]) -> Vec<&Value> {
    of_kind(timeline, "notification_acknowledged")
}

fn acknowledged_by(timeline: &[Value]) -> Vec<String> {
    of_kind(timeline, "milestone_reached")
        .into_iter()
        .filter(|e| e["data"]["milestone"] == "acknowledged")
        .map(|e| e["actor"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn a_page_goes_sms_then_voice_then_push_and_the_push_action_acknowledges(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    let id = alert(&rig).await;
    let texts = texts_to_alice(&rig);
    assert_eq!(texts.len(), 1, "the SMS step at once: {texts:?}");
    assert_eq!(code_in(&texts[0]).len(), 4, "{}", texts[0]);
    assert!(
        texts[0].contains("Why: step 1 of escalation policy payments-escalation"),
        "{}",
        texts[0]
    );
    assert!(calls_to_alice(&rig).is_empty(), "no call before 2 minutes");

    after(&rig, 2).await;
    let calls = calls_to_alice(&rig);
    assert_eq!(calls.len(), 1, "the call step after 2 minutes");
    let call = &calls[0];
    assert_eq!(call.form("From").as_deref(), Some("+15005550007"));
    assert_eq!(call.form("Method").as_deref(), Some("POST"));
    let answer = answer_path(call);
    assert_eq!(
        call.form("StatusCallback"),
        Some(format!("{PUBLIC_URL}{answer}/status"))
    );
    // Nobody picks up: the call ends unanswered, on the timeline; the escalation goes on.
    let ended = [
        ("CallSid", "CA1"),
        ("CallStatus", "no-answer"),
        ("To", ALICE),
    ];
    let (s, body) =
        provider_post(&rig, &format!("{answer}/status"), &ended, Some(VOICE_TOKEN)).await;
    assert_eq!(s, 200, "{body}");
    let timeline = rig.timeline(&id).await;
    let unanswered: Vec<&Value> = of_kind(&timeline, "notification_failed")
        .into_iter()
        .filter(|e| e["data"]["channel"] == "voice")
        .collect();
    assert_eq!(unanswered.len(), 1, "{timeline:?}");
    assert_eq!(
        unanswered[0]["data"]["error"],
        "the call was not answered (no-answer)"
    );
    assert!(rig.ntfy.requests().is_empty(), "no push before 5 minutes");

    after(&rig, 3).await;
    let pushes = rig.ntfy.requests();
    assert_eq!(pushes.len(), 1, "the push step after 5 minutes");
    let push = pushes[0].json();
    assert_eq!(push["topic"], "muster-alice-7f3k2p");
    assert_eq!(push["priority"], 5);
    assert_eq!(
        pushes[0].header("authorization").as_deref(),
        Some("Bearer tk_ntfy")
    );
    let action = &push["actions"][0];
    assert_eq!(
        (action["action"].as_str(), action["method"].as_str()),
        (Some("http"), Some("POST"))
    );
    let url = action["url"].as_str().expect("the action's URL");
    let path = url.strip_prefix(PUBLIC_URL).expect("on the public URL");
    assert!(
        path.starts_with("/ack/") && path.ends_with("?via=push"),
        "{path}"
    );

    // ntfy posts the action's URL when alice taps Acknowledge.
    let resp = tap(&rig, path).await;
    assert_eq!(resp.status().as_u16(), 200);
    let timeline = rig.timeline(&id).await;
    let ack = acks(&timeline);
    assert_eq!(ack.len(), 1, "{timeline:?}");
    assert_eq!(ack[0]["data"]["channel"], "push");
    assert_eq!(ack[0]["data"]["by"], "alice");
    assert_eq!(
        ack[0]["data"]["delay_secs"], 300,
        "5 minutes after the page"
    );
    assert_eq!(acknowledged_by(&timeline), ["alice"]);
    assert_eq!(of_kind(&timeline, "escalation_stopped").len(), 1);

    // The link answered once: a second tap is refused and changes nothing.
    let again = tap(&rig, path).await;
    assert_eq!(again.status().as_u16(), 403);
    let text = again.text().await.expect("body");
    assert!(text.contains("already used"), "{text}");
    assert_eq!(acks(&rig.timeline(&id).await).len(), 1);
}

async fn pressing_1_on_the_call_acknowledges_and_stops_escalation(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    let id = alert(&rig).await;
    after(&rig, 2).await;
    let calls = calls_to_alice(&rig);
    assert_eq!(calls.len(), 1);
    let answer = answer_path(&calls[0]);
    let picked_up = [
        ("CallSid", "CA1"),
        ("CallStatus", "in-progress"),
        ("AnsweredBy", "human"),
    ];
    let (s, xml) = provider_post(&rig, &answer, &picked_up, Some(VOICE_TOKEN)).await;
    assert_eq!(s, 200, "{xml}");
    assert!(
        xml.contains(&format!("{id} SEV1")),
        "the incident in a few words: {xml}"
    );
    assert!(xml.contains("Service checkout."), "{xml}");
    assert!(
        xml.contains("paged by escalation policy payments-escalation"),
        "{xml}"
    );
    assert!(
        xml.contains("Press 1 to acknowledge, 2 to escalate now, 3 to hear this again."),
        "{xml}"
    );
    let key = format!("{answer}/key");
    assert!(
        xml.contains(&format!("action=\"{PUBLIC_URL}{key}\"")),
        "{xml}"
    );

    // Forged keypresses: unsigned (401), signed with another token (403), or signed for
    // another URL (403). Nothing changes.
    let one = [("CallSid", "CA1"), ("Digits", "1")];
    let (s, body) = provider_post(&rig, &key, &one, None).await;
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("X-Twilio-Signature"), "{body}");
    let (s, body) = provider_post(&rig, &key, &one, Some("not-the-token")).await;
    assert_eq!(s, 403, "{body}");
    let forged = twilio::signature(
        VOICE_TOKEN,
        &format!("{PUBLIC_URL}/hooks/voice/other/key"),
        &[
            ("CallSid".into(), "CA1".into()),
            ("Digits".into(), "1".into()),
        ],
    );
    let resp = rig
        .app
        .http
        .post(format!("{}{key}", rig.app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", forged)
        .body("CallSid=CA1&Digits=1")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 403);
    assert!(acks(&rig.timeline(&id).await).is_empty());

    // 3 repeats; 1 acknowledges.
    let (s, xml) = provider_post(
        &rig,
        &key,
        &[("CallSid", "CA1"), ("Digits", "3")],
        Some(VOICE_TOKEN),
    )
    .await;
    assert_eq!(s, 200, "{xml}");
    assert!(xml.contains("<Gather"), "{xml}");
    rig.app.clock.advance(SignedDuration::from_secs(30));
    let (s, xml) = provider_post(&rig, &key, &one, Some(VOICE_TOKEN)).await;
    assert_eq!(s, 200, "{xml}");
    assert!(
        xml.contains(&format!("Acknowledged the page of {id} after 2 min.")),
        "{xml}"
    );
    assert!(xml.contains("Escalation stopped."), "{xml}");
    let timeline = rig.timeline(&id).await;
    let ack = acks(&timeline);
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0]["data"]["channel"], "voice");
    assert_eq!(
        ack[0]["data"]["delay_secs"], 150,
        "2 min 30 s after the page"
    );
    assert_eq!(acknowledged_by(&timeline), ["alice"]);
    assert_eq!(of_kind(&timeline, "escalation_stopped").len(), 1);
    let met: Vec<&Value> = of_kind(&timeline, "deadline_outcome")
        .into_iter()
        .filter(|o| o["data"]["policy"] == "acknowledge-5m")
        .collect();
    assert_eq!(
        met.len(),
        1,
        "the response-time policy saw the keypress: {timeline:?}"
    );
    assert_eq!(met[0]["data"]["met"], true);

    // A replayed keypress is refused; the push step never goes out, nor step 2 of the policy.
    let (s, body) = provider_post(&rig, &key, &one, Some(VOICE_TOKEN)).await;
    assert_eq!(s, 403, "{body}");
    after(&rig, 20).await;
    assert!(rig.ntfy.requests().is_empty(), "acknowledged: no push");
    let timeline = rig.timeline(&id).await;
    assert_eq!(acks(&timeline).len(), 1);
    assert_eq!(
        of_kind(&timeline, "escalation_step").len(),
        1,
        "only step 1 paged"
    );
}

async fn replying_ack_to_the_sms_acknowledges(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    let id = alert(&rig).await;
    let texts = texts_to_alice(&rig);
    assert_eq!(texts.len(), 1);
    let code = code_in(&texts[0]);

    // A stranger: refused, audited, nothing changed.
    let said = sms_reply(&rig, "+15550009999", &format!("ack {code}")).await;
    assert_eq!(
        said,
        "This number is not a Muster responder&#39;s. Nothing was changed."
    );
    let (s, audit) = rig.app.get("/api/v1/audit?subject=sms").await;
    assert_eq!(s, 200, "{audit}");
    let entries = audit
        .as_array()
        .cloned()
        .or_else(|| audit["entries"].as_array().cloned())
        .unwrap_or_default();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["action"], "page.reply_refused");
    assert_eq!(entries[0]["actor"], "phone:+15550009999");
    // A code that is not hers; words that are no answer.
    let other = if code == "1000" { "1001" } else { "1000" };
    let said = sms_reply(&rig, ALICE, &format!("ack {other}")).await;
    assert_eq!(
        said,
        format!("You have no page {other}. Nothing was changed.")
    );
    let said = sms_reply(&rig, ALICE, "on my way").await;
    assert!(said.starts_with("Reply 1 or ACK to acknowledge"), "{said}");
    assert!(acks(&rig.timeline(&id).await).is_empty());

    rig.app.clock.advance(SignedDuration::from_secs(45));
    let said = sms_reply(&rig, ALICE, &format!("ACK {code}")).await;
    assert_eq!(
        said,
        format!("Acknowledged page {code} of {id} after 45 s. Escalation stopped.")
    );
    let timeline = rig.timeline(&id).await;
    let ack = acks(&timeline);
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0]["data"]["channel"], "sms");
    assert_eq!(ack[0]["data"]["delay_secs"], 45);
    assert_eq!(acknowledged_by(&timeline), ["alice"]);

    // The call step is not placed; a second reply says it is done.
    after(&rig, 3).await;
    assert!(calls_to_alice(&rig).is_empty(), "acknowledged: no call");
    let said = sms_reply(&rig, ALICE, &format!("1 {code}")).await;
    assert_eq!(
        said,
        format!("Page {code} of {id} was already answered. Nothing was changed.")
    );
    assert_eq!(acks(&rig.timeline(&id).await).len(), 1);

    // A forged reply (unsigned or wrongly signed) is refused before it is read.
    let (s, _) = provider_post(&rig, "/hooks/sms", &[("From", ALICE), ("Body", "2")], None).await;
    assert_eq!(s, 401);
    let (s, _) = provider_post(
        &rig,
        "/hooks/sms",
        &[("From", ALICE), ("Body", "2")],
        Some(VOICE_TOKEN),
    )
    .await;
    assert_eq!(s, 403);
}

async fn replying_esc_pages_the_next_step_now(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    let id = alert(&rig).await;
    rig.app.clock.advance(SignedDuration::from_mins(1));
    let said = sms_reply(&rig, ALICE, "esc").await;
    assert!(
        said.starts_with(&format!("Escalated {id}: paged ")),
        "{said}"
    );
    let timeline = rig.timeline(&id).await;
    let steps = of_kind(&timeline, "escalation_step");
    assert_eq!(
        steps.len(),
        2,
        "step 2 at once, not after 10 minutes: {timeline:?}"
    );
    let reason = steps[1]["data"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with(
            "alice (by sms) escalated now, 1 min after escalation payments-escalation started"
        ),
        "{reason}"
    );
    assert!(
        acks(&timeline).is_empty(),
        "escalating acknowledges nothing"
    );
    assert!(acknowledged_by(&timeline).is_empty());
    // Step 2's timer was replaced by step 3's: 10 minutes later nothing more is paged.
    after(&rig, 10).await;
    assert_eq!(
        of_kind(&rig.timeline(&id).await, "escalation_step").len(),
        2
    );
}

async fn a_failing_voice_provider_falls_back_with_a_timeline_entry(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    rig.voice.always(Reply::Status(503));
    let id = alert(&rig).await;
    // The call step, then its retries (1 s, then 2 s apart on this rig): each a 503.
    after(&rig, 2).await;
    for _ in 0..3 {
        rig.app.clock.advance(SignedDuration::from_secs(10));
        rig.drain_without_advancing().await;
    }
    assert_eq!(calls_to_alice(&rig).len(), 3, "three attempts");
    let timeline = rig.timeline(&id).await;
    let failed: Vec<&Value> = of_kind(&timeline, "notification_failed")
        .into_iter()
        .filter(|e| e["data"]["channel"] == "voice")
        .collect();
    assert_eq!(failed.len(), 3, "{timeline:?}");
    assert!(
        failed[0]["data"]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("HTTP 500")),
        "{failed:?}"
    );
    let last = failed.last().expect("the last failure");
    assert_eq!(
        last["data"]["fallback"], "push",
        "the next channel of alice's chain"
    );
    // The fallback push carries the page's link, which still answers.
    let pushes = rig.ntfy.requests();
    assert_eq!(pushes.len(), 1);
    let url = pushes[0].json()["actions"][0]["url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = url
        .strip_prefix(PUBLIC_URL)
        .expect("on the public URL")
        .to_string();
    let resp = tap(&rig, &path).await;
    assert_eq!(resp.status().as_u16(), 200);
    let ack = acks(&rig.timeline(&id).await)
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0]["data"]["channel"], "push");
}

async fn a_link_past_its_expiry_changes_nothing(backend: Backend) {
    let Some(rig) = rig_and(backend, |dir| {
        std::fs::write(
            dir.join("notifications.yaml"),
            "notifications:\n  link_expiry: 5m\n",
        )
        .expect("write");
    })
    .await
    else {
        return;
    };
    let id = alert(&rig).await;
    let text = texts_to_alice(&rig).pop().expect("alice's paging SMS");
    let code = code_in(&text);
    let at = text.find("/ack/").expect("a link");
    let path: String = text[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();

    rig.app.clock.advance(SignedDuration::from_mins(5));
    let said = sms_reply(&rig, ALICE, &format!("ack {code}")).await;
    assert_eq!(
        said,
        format!("Page {code} of {id} has expired. Nothing was changed.")
    );
    let resp = tap(&rig, &path).await;
    assert_eq!(resp.status().as_u16(), 410);
    let timeline = rig.timeline(&id).await;
    assert!(acks(&timeline).is_empty());
    assert!(acknowledged_by(&timeline).is_empty());
}

crate::on_both_backends!(
    a_page_goes_sms_then_voice_then_push_and_the_push_action_acknowledges,
    pressing_1_on_the_call_acknowledges_and_stops_escalation,
    replying_ack_to_the_sms_acknowledges,
    replying_esc_pages_the_next_step_now,
    a_link_past_its_expiry_changes_nothing,
    a_failing_voice_provider_falls_back_with_a_timeline_entry,
);
