//! The on-call timeline: every schedule, its layers, and an admin's "cover" override from a
//! shift — stored through the API's checks and audited, in force for on-call at once.

use axum::http::StatusCode;
use jiff::SignedDuration;
use muster_core::Clock;
use muster_server::oncall;

use crate::both;

both!(
    the_timeline_shows_every_schedule_its_layers_and_my_shifts,
    |web| async move {
        let browser = web.sign_in(&web.responder).await;
        let page = web.get("/oncall", Some(&browser)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let cfg = web.state.config();
        assert_eq!(
            page.body
                .matches("class=\"schedule\" data-schedule=\"")
                .count(),
            cfg.config.schedules.len()
        );
        for s in cfg.config.schedules.values() {
            assert!(
                page.body.contains(&format!("data-schedule=\"{}\"", s.id)),
                "{}",
                s.id
            );
        }
        assert!(page.body.contains(">Final</text>"));
        assert!(
            page.body.contains(">Layer "),
            "layers under the final schedule"
        );
        // A week: seven day lines per schedule.
        let per_schedule =
            page.body.matches("<line class=\"tick\"").count() / cfg.config.schedules.len();
        assert_eq!(per_schedule, 7);
        let month = web
            .get("/oncall?span=month&from=2026-03-30", Some(&browser))
            .await;
        assert_eq!(month.status, StatusCode::OK);
        assert_eq!(
            month.body.matches("<line class=\"tick\"").count() / cfg.config.schedules.len(),
            28
        );
        assert!(
            month
                .body
                .contains("href=\"/oncall?span=month&#38;from=2026-03-02\""),
            "{}",
            month.body
        );
        // alice is in the payments rotations: her own shifts are listed.
        assert!(month.body.contains("<h2 id=\"mine-h\">My shifts</h2>"));
        assert!(
            !month.body.contains("alice has no shift in this window"),
            "{}",
            month.body
        );
        // Not an admin: no cover links.
        assert!(!month.body.contains("/oncall/cover?"));
        let bad = web.get("/oncall?span=year", Some(&browser)).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("span `year`: one of week, 2weeks, month"));
    }
);

both!(
    an_admin_covers_a_shift_and_on_call_and_the_audit_change,
    |web| async move {
        let admin = web.sign_in(&web.admin).await;
        let page = web.get("/oncall", Some(&admin)).await;
        assert!(
            page.body.contains("/oncall/cover?schedule="),
            "cover links for an admin"
        );
        let now = web.clock.now();
        let cfg = web.state.config();
        let before = oncall::on_call(&cfg.config, &Default::default(), "payments-primary", now);
        assert_eq!(before.len(), 1);
        let covered = before[0].clone();
        let cover = if covered == "erin" { "alice" } else { "erin" };
        let from = (now - SignedDuration::from_hours(1)).to_string();
        let to = (now + SignedDuration::from_hours(2)).to_string();
        let form_page = web
            .get(
                &format!(
                    "/oncall/cover?schedule=payments-primary&replaces={covered}&from={from}&to={to}"
                ),
                Some(&admin),
            )
            .await;
        assert_eq!(form_page.status, StatusCode::OK, "{}", form_page.body);
        assert!(form_page.body.contains("action=\"/oncall/cover\""));
        let pairs = [
            ("schedule", "payments-primary"),
            ("person", cover),
            ("replaces", covered.as_str()),
            ("from", from.as_str()),
            ("to", to.as_str()),
            ("reason", "dentist"),
        ];
        // A responder may not, and an unknown person is refused: nothing stored.
        let responder = web.sign_in(&web.responder).await;
        let a = web
            .post(
                "/oncall/cover",
                Some(&responder),
                Some(&responder.csrf),
                &pairs,
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        let mut unknown = pairs;
        unknown[1] = ("person", "nobody");
        let a = web
            .post("/oncall/cover", Some(&admin), Some(&admin.csrf), &unknown)
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            a.body.contains("person: unknown person `nobody`"),
            "{}",
            a.body
        );
        let a = web.post("/oncall/cover", Some(&admin), None, &pairs).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(web.store.all_overrides().await.unwrap().is_empty());

        let a = web
            .post("/oncall/cover", Some(&admin), Some(&admin.csrf), &pairs)
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let overrides = oncall::runtime_overrides(&web.store).await.unwrap();
        assert_eq!(
            oncall::on_call(&cfg.config, &overrides, "payments-primary", now),
            vec![cover.to_string()]
        );
        let audit = web
            .store
            .audit(Some("schedule:payments-primary"), 10)
            .await
            .unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].actor, "root");
        assert_eq!(audit[0].action, "override.created");
        let page = web.get("/oncall", Some(&admin)).await;
        assert!(page.body.contains("(override ovr-"), "{}", page.body);
    }
);
