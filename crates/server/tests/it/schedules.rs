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
            &format!("/ical/schedules/payments-primary.ics?token={}", app.feed),
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
            .post_as(
                &app.admin,
                "/api/v1/schedules/payments-primary/overrides",
                body,
            )
            .await;
        assert_eq!(s, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["origin"], "runtime");
        assert_eq!(created["created_by"], "root", "the token's owner");

        assert_eq!(oncall(&app, "payments-primary", at).await, json!(["erin"]));
        assert_eq!(
            oncall(&app, "payments-primary", "2026-03-30T09:00:00Z").await,
            json!(["alice"])
        );

        let (_, ics) = feed(
            &app,
            &format!("/ical/schedules/payments-primary.ics?token={}", app.feed),
        )
        .await;
        assert!(ics.contains("SEQUENCE:1\r\n"), "revision bumped");
        assert!(
            ics.contains("DTSTART:20260330T100000Z\r\nDTEND:20260330T180000Z"),
            "{ics}"
        );
        assert!(ics.contains("X-MUSTER-PERSON:erin"));
        let (_, erin) = feed(&app, &format!("/ical/people/erin.ics?token={}", app.feed)).await;
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
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(oncall(&app, "payments-primary", at).await, json!(["alice"]));
        let (_, ics) = feed(
            &app,
            &format!("/ical/schedules/payments-primary.ics?token={}", app.feed),
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
            [("override.deleted", "root"), ("override.created", "root")]
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
            let (s, v) = app.post_as(&app.admin, path, body.clone()).await;
            assert_eq!(s, status, "{body} -> {v}");
            assert!(
                v["error"]["message"].as_str().unwrap().contains(needle),
                "{v}"
            );
        }
        let (s, _) = app
            .post_as(&app.admin, "/api/v1/schedules/nope/overrides", good.clone())
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
                Some(&app.admin),
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
        &format!("/ical/schedules/nope.ics?token={}", app.feed),
    )
    .await;
    assert_eq!(s, 404, "{body}");
    let (s, body) = feed(&app, &format!("/ical/people/alice.ics?token={}", app.feed)).await;
    assert_eq!(s, 200);
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n"));
}

/// The event of `uid` in a calendar, unfolded: its lines from BEGIN to END.
fn event<'a>(ics: &'a str, uid: &str) -> Option<&'a str> {
    ics.split("BEGIN:VEVENT")
        .skip(1)
        .find(|e| e.contains(&format!("\r\nUID:{uid}\r\n")))
}

/// Editing a schedule in the configuration bumps `SEQUENCE` (so calendar clients re-read the
/// events), keeps the UIDs, and a person's feed carries each schedule's own sequence.
async fn edited_schedule_bumps_the_feed_sequence(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_dir(&crate::support::demo_dir(), dir.path());
    let Some(app) = crate::support::spawn_app_with_config(backend, dir.path()).await else {
        return;
    };
    let path = format!("/ical/schedules/payments-primary.ics?token={}", app.feed);
    // Alice's week from Monday 09:00 London (08:00Z, after the clocks went forward).
    let uid = "20260330T080000Z.alice.payments-primary@muster";
    let (s, before) = feed(&app, &path).await;
    assert_eq!(s, 200, "{before}");
    let alice = event(&before, uid).unwrap_or_else(|| panic!("{before}"));
    assert!(alice.contains("\r\nSEQUENCE:0\r\n"), "{alice}");
    assert!(alice.contains("\r\nDTEND:20260406T080000Z\r\n"), "{alice}");
    assert_eq!(feed(&app, &path).await.1, before, "unchanged: same bytes");

    // Bob covers Tuesday: Alice's event keeps its UID and ends earlier.
    let file = dir.path().join("schedules.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    let edited = yaml.replacen(
        "    overrides:\n",
        "    overrides:\n      - { person: bob, replaces: alice, from: 2026-03-31T00:00:00Z, to: 2026-04-01T00:00:00Z }\n",
        1,
    );
    assert_ne!(edited, yaml);
    std::fs::write(&file, edited).unwrap();
    let (s, v, _) = app
        .send(
            Method::POST,
            "/api/v1/config/reload",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");

    let (_, after) = feed(&app, &path).await;
    let alice = event(&after, uid).unwrap_or_else(|| panic!("same UID: {after}"));
    assert!(alice.contains("\r\nSEQUENCE:1\r\n"), "{alice}");
    assert!(alice.contains("\r\nDTEND:20260331T000000Z\r\n"), "{alice}");
    assert!(
        !after.contains("SEQUENCE:0\r\n"),
        "every event of the schedule: {after}"
    );
    assert_eq!(
        feed(&app, &path).await.1,
        after,
        "stays at 1 until the next change"
    );

    // Alice's own feed: payments-primary's events at 1, payments-secondary's still at 0.
    let (_, mine) = feed(&app, &format!("/ical/people/alice.ics?token={}", app.feed)).await;
    let primary = event(&mine, uid).unwrap_or_else(|| panic!("{mine}"));
    assert!(primary.contains("\r\nSEQUENCE:1\r\n"), "{primary}");
    let secondary: Vec<&str> = mine
        .split("BEGIN:VEVENT")
        .skip(1)
        .filter(|e| e.contains(".payments-secondary@muster\r\n"))
        .collect();
    assert!(!secondary.is_empty(), "{mine}");
    for e in secondary {
        assert!(e.contains("\r\nSEQUENCE:0\r\n"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_schedule_bumps_the_feed_sequence_sqlite() {
    edited_schedule_bumps_the_feed_sequence(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_schedule_bumps_the_feed_sequence_postgres() {
    edited_schedule_bumps_the_feed_sequence(Backend::Postgres).await;
}

// Overrides are admin-only (`muster_core::access`): one exact status per role.
both!(overrides_need_an_admin, |app| async move {
    let path = "/api/v1/schedules/payments-primary/overrides";
    let body = json!({"person": "erin", "from": "2026-03-30T10:00:00Z", "to": "2026-03-30T18:00:00Z", "reason": "swap"});
    for (token, name, role) in [
        (&app.viewer, "watcher", "viewer"),
        (&app.responder, "alice", "responder"),
    ] {
        let (s, v) = app.post_as(token, path, body.clone()).await;
        assert_eq!(s, 403, "{role}: {v}");
        assert_eq!(v["error"]["code"], "forbidden");
        assert_eq!(
            v["error"]["message"],
            format!("token `{name}` has role {role}; this needs admin")
        );
    }
    let (s, created) = app.post_as(&app.admin, path, body).await;
    assert_eq!(s, 201, "{created}");
    let one = format!("{path}/{}", created["id"].as_str().unwrap());
    for (token, role) in [(&app.viewer, "viewer"), (&app.responder, "responder")] {
        let (s, v, _) = app.send(Method::DELETE, &one, Some(token), None).await;
        assert_eq!(s, 403, "{role}: {v}");
        assert_eq!(v["error"]["code"], "forbidden");
    }
    let (s, v, _) = app.send(Method::DELETE, &one, Some(&app.admin), None).await;
    assert_eq!(s, 200, "{v}");
    let (_, trail) = app
        .get("/api/v1/audit?subject=schedule:payments-primary")
        .await;
    assert_eq!(
        trail.as_array().unwrap().len(),
        2,
        "only the admin's two changes: {trail}"
    );
});

both!(
    a_responder_takes_the_pager_of_a_rotation_they_are_in,
    |app| async move {
        let at = "2026-03-30T12:00:00Z";
        app.clock.set(at.parse().expect("instant"));
        // alice carries payments-primary then: nothing to take.
        assert_eq!(oncall(&app, "payments-primary", at).await, json!(["alice"]));
        let (s, v) = app
            .post("/api/v1/schedules/payments-primary/take-pager", json!({}))
            .await;
        assert_eq!(s, 409, "{v}");
        assert_eq!(
            v["error"]["message"],
            "alice is on call for Payments primary already"
        );
        // Not her rotation: an override, which needs admin.
        let (s, v) = app
            .post(
                "/api/v1/schedules/platform-primary/take-pager",
                json!({"minutes": 60}),
            )
            .await;
        assert_eq!(s, 403, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("alice does not rotate in"),
            "{v}"
        );
        let before = oncall(&app, "payments-secondary", at).await;
        assert_ne!(
            before,
            json!(["alice"]),
            "the demo's secondary is someone else"
        );
        let (s, v) = app
            .post(
                "/api/v1/schedules/payments-secondary/take-pager",
                json!({"minutes": 90}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["person"], "alice");
        assert_eq!(v["replaces"], before[0]);
        assert_eq!(v["from"], at);
        assert_eq!(v["to"], "2026-03-30T13:30:00Z");
        assert_eq!(v["reason"], "took the pager now");
        assert_eq!(v["created_by"], "alice");
        assert_eq!(
            oncall(&app, "payments-secondary", at).await,
            json!(["alice"])
        );
        let (s, v) = app
            .post(
                "/api/v1/schedules/payments-secondary/take-pager",
                json!({"minutes": 90, "color": "red"}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
    }
);
