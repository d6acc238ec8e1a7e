//! Signing in and out: the cookie's flags, bad tokens, where sign-in leads back to, and a
//! session that ends with its token (revoked, expired) or its own idle lifetime.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use jiff::SignedDuration;
use muster_core::{Access, Clock};

use crate::both;
use crate::support::{Browser, form};

both!(
    sign_in_sets_a_strict_http_only_session_cookie,
    |web| async move {
        let a = web
            .post(
                "/login",
                None,
                None,
                &[("token", &web.responder), ("next", "/incidents")],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(a.location(), "/incidents");
        let cookie = a.set_cookie().expect("cookie").to_string();
        assert!(cookie.starts_with("muster_session="), "{cookie}");
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(flag), "{flag} missing: {cookie}");
        }
        assert!(
            !cookie.contains("Secure"),
            "plain http: no Secure flag: {cookie}"
        );
        // The cookie's value is not the token.
        assert!(!cookie.contains(&web.responder));
        let browser = Browser {
            cookie: cookie.split(';').next().unwrap().to_string(),
            csrf: String::new(),
        };
        let home = web.get("/", Some(&browser)).await;
        assert_eq!(home.status, StatusCode::OK);
        assert!(home.body.contains("alice"), "{}", home.body);

        // Behind a proxy that terminated https, the cookie is Secure.
        let req = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("x-forwarded-proto", "https")
            .body(Body::from(form(&[("token", &web.responder)])))
            .unwrap();
        let a = web.send(req).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER);
        assert!(
            a.set_cookie().unwrap().contains("; Secure"),
            "{:?}",
            a.set_cookie()
        );
    }
);

both!(
    a_bad_token_shows_the_sign_in_page_with_an_error,
    |web| async move {
        let feed = web.feed.clone();
        for token in ["mus_0000", "not-a-token", "", feed.as_str()] {
            let a = web.post("/login", None, None, &[("token", token)]).await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{token}: {}", a.body);
            assert!(a.set_cookie().is_none(), "{token}: no session");
            assert!(a.body.contains("<h1>Sign in</h1>"), "{}", a.body);
            assert!(
                a.body
                    .contains("unknown, revoked or expired, or is a calendar feed token"),
                "{}",
                a.body
            );
        }
        // A sign-in form posted from another site's page is refused.
        let req = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "muster.example")
            .header(header::ORIGIN, "https://evil.example")
            .body(Body::from(form(&[("token", &web.responder)])))
            .unwrap();
        let a = web.send(req).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.set_cookie().is_none());
    }
);

both!(sign_in_leads_back_only_within_the_site, |web| async move {
    let a = web.get("/incidents?status=open", None).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/login?next=%2Fincidents%3Fstatus%3Dopen");
    let page = web.get(a.location(), None).await;
    assert!(
        page.body
            .contains("name=\"next\" value=\"/incidents?status=open\""),
        "{}",
        page.body
    );
    for (next, want) in [
        ("/incidents?status=open", "/incidents?status=open"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("incidents", "/"),
    ] {
        let a = web
            .post(
                "/login",
                None,
                None,
                &[("token", &web.responder), ("next", next)],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER);
        assert_eq!(a.location(), want, "next={next}");
    }
});

both!(revoking_the_token_ends_its_sessions, |web| async move {
    let now = web.clock.now();
    let token = web
        .store
        .create_token("bob", Access::Responder, now)
        .await
        .unwrap();
    let browser = web.sign_in(&token).await;
    assert_eq!(
        web.get("/incidents", Some(&browser)).await.status,
        StatusCode::OK
    );
    assert!(web.store.revoke_token("bob", now).await.unwrap());
    let a = web.get("/incidents", Some(&browser)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/login?next=%2Fincidents");
    // Another token's session is untouched.
    let other = web.sign_in(&web.responder).await;
    assert_eq!(
        web.get("/incidents", Some(&other)).await.status,
        StatusCode::OK
    );
});

both!(
    expired_sessions_go_to_sign_in_with_the_page_asked_for,
    |web| async move {
        let now = web.clock.now();
        // A token that expires in one hour ends its session then.
        let token = web
            .store
            .create_token_expiring(
                "carol",
                Access::Responder,
                now,
                Some(now + SignedDuration::from_hours(1)),
            )
            .await
            .unwrap();
        let short = web.sign_in(&token).await;
        let long = web.sign_in(&web.responder).await;
        let inc = web.declare("Checkout errors", "SEV2").await;
        let path = format!("/incidents/{}", inc.id);
        web.clock.advance(SignedDuration::from_mins(61));
        let a = web.get(&path, Some(&short)).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER);
        assert_eq!(
            a.location(),
            format!("/login?next=%2Fincidents%2F{}", inc.id)
        );
        assert_eq!(web.get(&path, Some(&long)).await.status, StatusCode::OK);
        // Idle for longer than 8 hours: the session ends whatever its token.
        web.clock.advance(SignedDuration::from_mins(8 * 60 + 1));
        let a = web.get(&path, Some(&long)).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER);
        assert_eq!(
            a.location(),
            format!("/login?next=%2Fincidents%2F{}", inc.id)
        );
        // Signing in again leads back to the page.
        let a = web
            .post(
                "/login",
                None,
                None,
                &[("token", &web.responder), ("next", &path)],
            )
            .await;
        assert_eq!(a.location(), path);
    }
);

both!(
    a_used_session_stays_alive_past_the_idle_limit,
    |web| async move {
        let browser = web.sign_in(&web.responder).await;
        // Used every 4 hours for 12 hours: never idle for 8.
        for _ in 0..3 {
            web.clock.advance(SignedDuration::from_hours(4));
            assert_eq!(web.get("/", Some(&browser)).await.status, StatusCode::OK);
        }
    }
);

both!(signing_out_ends_the_session, |web| async move {
    let browser = web.sign_in(&web.responder).await;
    // Without the form token, signing out is refused like any form.
    let a = web.post("/logout", Some(&browser), None, &[]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(web.get("/", Some(&browser)).await.status, StatusCode::OK);
    let a = web
        .post("/logout", Some(&browser), Some(&browser.csrf), &[])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/login");
    assert!(a.set_cookie().unwrap().contains("Max-Age=0"));
    assert_eq!(
        web.get("/", Some(&browser)).await.status,
        StatusCode::SEE_OTHER
    );
});
