//! Schedules over HTTP: on-call across DST, shifts with gaps, audited run-time overrides that
//! change `on_call` and the iCalendar feeds.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, TestApp};

async fn oncall(app: &TestApp, schedule: &str, at: &str) -> Value {
    let (s, v) = app
        .get(&format!("/api/v1/schedules/{schedule}/oncall?at={at}"))
        .await;
    assert_eq!(s, 200, "{v}");
    v["on_call"].clone()
}

async fn feed(app: &TestApp, path: &str) -> (u16, String) {
    let r = app
        .http
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oncall_follows_the_nine_oclock_london_handoff_across_dst() {
    let app = crate::support::spawn_app(Backend::Sqlite).await.unwrap();
    // Spring forward on 2026-03-29: 09:00 London is 09:00Z before, 08:00Z after.
    assert_eq!(
        oncall(&app, "payments-primary", "2026-03-23T08:59:59Z").await,
        json!(["priya"])
    );
    assert_eq!(
        oncall(&app, "payments-primary", "2026-03-23T09:00:00Z").await,
        json!(["jack"])
    );
    assert_eq!(
        oncall(&app, "payments-primary", "2026-03-30T07:59:59Z").await,
        json!(["jack"])
    );
    assert_eq!(
        oncall(&app, "payments-primary", "2026-03-30T08:00:00Z").await,
        json!(["alice"])
    );
    // Fall back on 2026-10-25: 09:00 London is 09:00Z again.
    assert_eq!(
        oncall(&app, "payments-primary", "2026-10-26T08:30:00Z").await,
        json!(["jack"])
    );
    assert_eq!(
        oncall(&app, "payments-primary", "2026-10-26T09:00:00Z").await,
        json!(["alice"])
    );

    let (s, v) = app
        .get("/api/v1/schedules/payments-primary/oncall?at=yesterday")
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("`at`"));
    let (s, _) = app.get("/api/v1/schedules/nope/oncall").await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shifts_cover_the_window_and_refuse_bad_windows() {
    let app = crate::support::spawn_app(Backend::Sqlite).await.unwrap();
    let (s, v) = app
        .get("/api/v1/schedules/payments-primary/shifts?from=2026-03-23T00:00:00Z&to=2026-04-06T00:00:00Z")
        .await;
    assert_eq!(s, 200, "{v}");
    let shifts = v["shifts"].as_array().unwrap();
    let people: Vec<&str> = shifts
        .iter()
        .map(|s| s["person"].as_str().unwrap())
        .collect();
    assert_eq!(people, ["priya", "jack", "alice"]);
    assert_eq!(shifts[1]["start"], "2026-03-23T09:00:00Z");
    assert_eq!(
        shifts[1]["end"], "2026-03-30T08:00:00Z",
        "a week across spring-forward is 167 h"
    );
    assert_eq!(shifts[1]["source"], "layer");
    assert_eq!(v["time_zone"], "Europe/London");
    assert_eq!(v["gaps"], json!([]));

    let (s, _) = app
        .get("/api/v1/schedules/payments-primary/shifts?from=2026-04-06T00:00:00Z&to=2026-03-23T00:00:00Z")
        .await;
    assert_eq!(s, 422);
    let (s, _) = app
        .get("/api/v1/schedules/payments-primary/shifts?from=2026-01-01T00:00:00Z&to=2027-06-01T00:00:00Z")
        .await;
    assert_eq!(s, 422, "more than 366 days");
}

both!(
    runtime_overrides_change_oncall_and_the_feeds_and_are_audited,
    |app| async move {
        let at = "2026-03-30T12:00:00Z";
        assert_eq!(oncall(&app, "payments-primary", at).await, json!(["alice"]));
        let (s, ics_before) = feed(
            &app,
            &format!("/ical/schedules/payments-primary.ics?token={}", app.viewer),
        )
        .await;
        assert_eq!(s, 200);
        assert!(ics_before.contains("SEQUENCE:0\r\n"));

        let body = json!({
            "person": "erin", "replaces": "alice",
            "from": "2026-03-30T10:00:00Z", "to": "2026-03-30T18:00:00Z",
            "reason": "alice at the dentist"
        });
        let (s, created) = app
            .post("/api/v1/schedules/payments-primary/overrides", body)
            .await;
        assert_eq!(s, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["origin"], "runtime");
        assert_eq!(created["created_by"], "alice", "the token's owner");

        assert_eq!(oncall(&app, "payments-primary", at).await, json!(["erin"]));
        assert_eq!(
            oncall(&app, "payments-primary", "2026-03-30T09:00:00Z").await,
            json!(["alice"])
        );

        let (_, ics) = feed(
            &app,
            &format!("/ical/schedules/payments-primary.ics?token={}", app.viewer),
        )
        .await;
        assert!(ics.contains("SEQUENCE:1\r\n"), "revision bumped");
        assert!(
            ics.contains("DTSTART:20260330T100000Z\r\nDTEND:20260330T180000Z"),
            "{ics}"
        );
        assert!(ics.contains("X-MUSTER-PERSON:erin"));
        let (_, erin) = feed(&app, &format!("/ical/people/erin.ics?token={}", app.viewer)).await;
        assert!(erin.contains("DTSTART:20260330T100000Z"), "{erin}");
        assert!(
            !erin.contains("X-MUSTER-PERSON:alice"),
            "a person's feed holds only their shifts"
        );

        let (_, list) = app
            .get("/api/v1/schedules/payments-primary/overrides")
            .await;
        let origins: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["origin"].as_str().unwrap())
            .collect();
        assert_eq!(origins, ["config", "runtime"]);

        let (s, v, _) = app
            .send(
                Method::DELETE,
                &format!("/api/v1/schedules/payments-primary/overrides/{id}"),
                Some(&app.responder),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(oncall(&app, "payments-primary", at).await, json!(["alice"]));
        let (_, ics) = feed(
            &app,
            &format!("/ical/schedules/payments-primary.ics?token={}", app.viewer),
        )
        .await;
        assert!(ics.contains("SEQUENCE:2\r\n"));

        let (s, trail) = app
            .get("/api/v1/audit?subject=schedule:payments-primary")
            .await;
        assert_eq!(s, 200);
        let entries: Vec<(&str, &str)> = trail
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
            .collect();
        assert_eq!(
            entries,
            [("override.deleted", "alice"), ("override.created", "alice")]
        );
        assert_eq!(trail[1]["data"]["reason"], "alice at the dentist");
    }
);

both!(
    bad_overrides_are_refused_and_store_nothing,
    |app| async move {
        let good = json!({"person": "erin", "from": "2026-03-30T10:00:00Z", "to": "2026-03-30T18:00:00Z", "reason": "swap"});
        let path = "/api/v1/schedules/payments-primary/overrides";
        let cases = [
            (
                json!({"person": "zed", "from": "2026-03-30T10:00:00Z", "to": "2026-03-30T18:00:00Z", "reason": "x"}),
                422,
                "person",
            ),
            (
                json!({"person": "erin", "replaces": "zed", "from": "2026-03-30T10:00:00Z", "to": "2026-03-30T18:00:00Z", "reason": "x"}),
                422,
                "replaces",
            ),
            (
                json!({"person": "erin", "from": "2026-03-30T18:00:00Z", "to": "2026-03-30T10:00:00Z", "reason": "x"}),
                422,
                "end after",
            ),
            (
                json!({"person": "erin", "from": "2026-03-30T10:00:00Z", "to": "2026-03-30T18:00:00Z", "reason": " "}),
                422,
                "reason",
            ),
            (
                json!({"person": "erin", "from": "tomorrow", "to": "2026-03-30T18:00:00Z", "reason": "x"}),
                422,
                "from",
            ),
        ];
        for (body, status, needle) in cases {
            let (s, v) = app.post(path, body.clone()).await;
            assert_eq!(s, status, "{body} -> {v}");
            assert!(
                v["error"]["message"].as_str().unwrap().contains(needle),
                "{v}"
            );
        }
        let (s, _) = app
            .post("/api/v1/schedules/nope/overrides", good.clone())
            .await;
        assert_eq!(s, 404);
        let (s, _, _) = app
            .send(Method::POST, path, Some(&app.viewer), Some(good))
            .await;
        assert_eq!(s, 403, "viewers may not override");
        let (s, _, _) = app
            .send(
                Method::DELETE,
                "/api/v1/schedules/payments-primary/overrides/ovr-99",
                Some(&app.responder),
                None,
            )
            .await;
        assert_eq!(s, 404);
        let (_, trail) = app.get("/api/v1/audit").await;
        assert_eq!(trail, json!([]), "nothing was stored");
        assert_eq!(
            app.get(path).await.1.as_array().unwrap().len(),
            1,
            "only the configured override"
        );
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_need_a_valid_token() {
    let app = crate::support::spawn_app(Backend::Sqlite).await.unwrap();
    assert_eq!(
        feed(&app, "/ical/schedules/payments-primary.ics").await.0,
        401
    );
    assert_eq!(
        feed(&app, "/ical/schedules/payments-primary.ics?token=mus_nope")
            .await
            .0,
        401
    );
    let (s, body) = feed(
        &app,
        &format!("/ical/schedules/nope.ics?token={}", app.viewer),
    )
    .await;
    assert_eq!(s, 404, "{body}");
    let (s, body) = feed(
        &app,
        &format!("/ical/people/alice.ics?token={}", app.viewer),
    )
    .await;
    assert_eq!(s, 200);
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n"));
}
