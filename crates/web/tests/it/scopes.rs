//! A token limited to teams signs in and writes, from the pages too, only what its teams own
//! (`muster_server::scope`, the API's rule): other teams' incidents, declarations, alerts'
//! silences and schedules answer a 403 page and nothing is written.

use axum::http::StatusCode;
use muster_core::{Access, Clock, Scope};

use crate::both;

both!(
    a_limited_session_writes_only_its_teams_things,
    |web| async move {
        let token = web
            .store
            .create_scoped_token(
                "identity-lead",
                Access::Admin,
                web.clock.now(),
                None,
                &Scope::teams(["identity"]),
            )
            .await
            .expect("token");
        let browser = web.sign_in(&token).await;
        let csrf = Some(browser.csrf.as_str());
        // checkout belongs to payments.
        let inc = web.declare("Checkout errors", "SEV2").await;
        let before = web.last_seq(inc.id).await;
        let a = web
            .post(
                &format!("/incidents/{}/notes", inc.id),
                Some(&browser),
                csrf,
                &[("text", "not mine")],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
        assert!(
            a.body.contains(&format!(
                "limited to team identity; incident {} belongs to payments",
                inc.id
            )),
            "{}",
            a.body
        );
        assert_eq!(web.last_seq(inc.id).await, before, "nothing written");

        let a = web
            .post(
                "/incidents",
                Some(&browser),
                csrf,
                &[
                    ("title", "Checkout slow"),
                    ("severity", "SEV3"),
                    ("service", "checkout"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
        let a = web
            .post(
                "/silences",
                Some(&browser),
                csrf,
                &[
                    ("service", "checkout"),
                    ("until", "2026-03-29T05:00:00Z"),
                    ("reason", "deploy"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
        assert!(
            web.store
                .silences(web.clock.now())
                .await
                .expect("silences")
                .is_empty()
        );
        let a = web
            .post(
                "/oncall/cover",
                Some(&browser),
                csrf,
                &[
                    ("schedule", "payments-primary"),
                    ("person", "bob"),
                    ("replaces", "alice"),
                    ("from", "2026-03-29T04:00:00Z"),
                    ("to", "2026-03-29T06:00:00Z"),
                    ("reason", "cover"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);

        // Its own team's service: declared, and worked.
        let a = web
            .post(
                "/incidents",
                Some(&browser),
                csrf,
                &[
                    ("title", "Logins fail"),
                    ("severity", "SEV2"),
                    ("service", "login"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let mine = a.location().to_string();
        let a = web
            .post(
                &format!("{mine}/notes"),
                Some(&browser),
                csrf,
                &[("text", "on it")],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    }
);
