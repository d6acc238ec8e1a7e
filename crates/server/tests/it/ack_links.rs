//! The acknowledgement link of a notification's email: the GET shows what it would
//! acknowledge and acknowledges nothing (mail scanners fetch links), the page's POST
//! acknowledges, an unknown token is 404.

use std::time::Duration;

use muster_testkit::fakes;
use serde_json::Value;

use crate::notify::{of_kind, rig_with};
use crate::support::Backend;

const KEY: &str = "sev1-tell-legal:event:1:0";

/// The link in `to`'s email about legal's SEV1 notification.
fn link_in(mail: &[String], to: &str) -> Option<String> {
    let to_ken = mail
        .iter()
        .filter(|m| fakes::email_header(m, "To").as_deref() == Some(to))
        // Quoted-printable: long lines end in a soft break (`=` and a newline).
        .map(|m| fakes::email_body(m).replace("=\n", ""))
        .find(|b| b.contains("Acknowledge: "))?;
    let at = to_ken.find("https://muster.example.com/ack/")?;
    let link: String = to_ken[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    Some(
        link.trim_start_matches("https://muster.example.com")
            .to_string(),
    )
}

async fn page(app: &crate::support::TestApp, method: reqwest::Method, path: &str) -> (u16, String) {
    let resp = app
        .http
        .request(method, format!("{}{path}", app.base))
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

async fn legal_acknowledges_by_the_link_in_its_email(backend: Backend) {
    let Some(rig) = rig_with(backend, |_| {}).await else {
        return;
    };
    let id = rig.app.declare("Card data in logs").await;
    rig.drain_without_advancing().await;
    let mut path = None;
    let mut franks = None;
    for _ in 0..20 {
        path = link_in(&rig.smtpd.messages(), "ken@example.com");
        franks = link_in(&rig.smtpd.messages(), "frank@example.com");
        if path.is_some() && franks.is_some() {
            break;
        }
        rig.smtpd
            .wait_for(usize::MAX, Duration::from_millis(250))
            .await;
    }
    let path = path.expect("an acknowledgement link in ken's email");
    assert_eq!(path.len(), "/ack/".len() + 64, "{path}");

    let (s, shown) = page(&rig.app, reqwest::Method::GET, &path).await;
    assert_eq!(s, 200, "{shown}");
    assert!(
        shown.contains(&format!(
            "Acknowledge notification <code>{KEY}</code> of {id} as ken?"
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("<form method=\"post\" action=\"{path}\">")),
        "{shown}"
    );
    // Showing the page acknowledged nothing.
    assert!(of_kind(&rig.timeline(&id).await, "notification_acknowledged").is_empty());

    rig.app.clock.advance(jiff::SignedDuration::from_mins(10));
    let (s, done) = page(&rig.app, reqwest::Method::POST, &path).await;
    assert_eq!(s, 200, "{done}");
    assert!(
        done.contains(&format!(
            "ken acknowledged notification <code>{KEY}</code> (to alias:legal) after 10 min."
        )),
        "{done}"
    );
    let timeline = rig.timeline(&id).await;
    let acks: Vec<&Value> = of_kind(&timeline, "notification_acknowledged");
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0]["actor"], "ken");
    assert_eq!(acks[0]["data"]["delay_secs"], 600);
    let met: Vec<&Value> = of_kind(&timeline, "deadline_outcome")
        .into_iter()
        .filter(|o| o["data"]["policy"] == "legal-ack-1h")
        .collect();
    assert_eq!(met.len(), 1);
    assert_eq!(met[0]["data"]["met"], true);

    // The link answered once: opening it again says it is done, and changes nothing.
    let (s, body) = page(&rig.app, reqwest::Method::POST, &path).await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body.contains("This link was already used (acknowledge, "),
        "{body}"
    );
    let (s, body) = page(&rig.app, reqwest::Method::GET, &path).await;
    assert_eq!(s, 403, "{body}");

    let wrong = format!("/ack/{}", "0".repeat(64));
    let (s, body) = page(&rig.app, reqwest::Method::GET, &wrong).await;
    assert_eq!(s, 404, "{body}");
    let (s, body) = page(&rig.app, reqwest::Method::POST, &wrong).await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(
        of_kind(&rig.timeline(&id).await, "notification_acknowledged").len(),
        1
    );

    // Frank's link, unused, expires with the incident.
    let path = franks.expect("frank's link");
    let (s, v) = rig
        .app
        .patch(
            &format!("/api/v1/incidents/{id}"),
            serde_json::json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, body) = page(&rig.app, reqwest::Method::GET, &path).await;
    assert_eq!(s, 410, "{body}");
    assert!(
        body.contains("This link has expired: the incident is resolved."),
        "{body}"
    );
}

mod legal_acknowledges_by_the_link_in_its_email {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::legal_acknowledges_by_the_link_in_its_email(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::legal_acknowledges_by_the_link_in_its_email(Backend::Postgres).await
    }
}
