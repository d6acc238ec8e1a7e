//! Forms without the session's form token, a viewer's forged POST, unknown incidents and
//! HTML typed into titles and notes.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use muster_store::IncidentFilter;

use crate::both;
use crate::support::form;

both!(
    forms_without_the_right_token_are_refused_and_write_nothing,
    |web| async move {
        let browser = web.sign_in(&web.responder).await;
        let inc = web.declare("Checkout errors", "SEV2").await;
        let before = web.last_seq(inc.id).await;
        let notes = format!("/incidents/{}/notes", inc.id);
        let wrong = "0".repeat(64);
        for csrf in [None, Some(""), Some(wrong.as_str())] {
            let a = web
                .post(&notes, Some(&browser), csrf, &[("text", "forged")])
                .await;
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{csrf:?}: {}", a.body);
            assert!(a.body.contains("form token"), "{}", a.body);
            assert!(a.body.contains("Nothing was changed"), "{}", a.body);
        }
        // A wrong token in the header (htmx's way) is refused too.
        let req = Request::post(&notes)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &browser.cookie)
            .header("x-csrf-token", &wrong)
            .body(Body::from(form(&[("text", "forged")])))
            .unwrap();
        assert_eq!(web.send(req).await.status, StatusCode::FORBIDDEN);
        // Another session's token is wrong for this one.
        let other = web.sign_in(&web.admin).await;
        assert_ne!(other.csrf, browser.csrf);
        let a = web
            .post(
                &notes,
                Some(&browser),
                Some(&other.csrf),
                &[("text", "forged")],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert_eq!(web.last_seq(inc.id).await, before, "nothing written");
        // Nor is an incident declared.
        let a = web
            .post(
                "/incidents",
                Some(&browser),
                None,
                &[("title", "forged"), ("severity", "SEV1")],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        let all = web
            .store
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap();
        assert_eq!(all.len(), 1, "only the one declared above");

        // The right token, in the form or the header, goes through.
        let a = web
            .post(
                &notes,
                Some(&browser),
                Some(&browser.csrf),
                &[("text", "real")],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(a.location(), format!("/incidents/{}", inc.id));
        let req = Request::post(&notes)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &browser.cookie)
            .header("x-csrf-token", &browser.csrf)
            .body(Body::from(form(&[("text", "by header")])))
            .unwrap();
        assert_eq!(web.send(req).await.status, StatusCode::SEE_OTHER);
        assert_eq!(web.last_seq(inc.id).await, before + 2);
    }
);

both!(
    a_viewer_sees_no_actions_and_a_forged_post_is_refused,
    |web| async move {
        let viewer = web.sign_in(&web.viewer).await;
        let inc = web.declare("Checkout errors", "SEV2").await;
        let page = web
            .get(&format!("/incidents/{}", inc.id), Some(&viewer))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Checkout errors"));
        assert!(
            !page
                .body
                .contains(&format!("action=\"/incidents/{}/", inc.id)),
            "no action form for a viewer: {}",
            page.body
        );
        assert!(
            !page.body.contains("href=\"/incidents/new\""),
            "no declare link"
        );
        let a = web.get("/incidents/new", Some(&viewer)).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        let before = web.last_seq(inc.id).await;
        // Forged with the viewer's own, valid form token: the role refuses it.
        for (path, pairs) in [
            (
                format!("/incidents/{}/notes", inc.id),
                vec![("text", "forged")],
            ),
            (
                format!("/incidents/{}/milestone", inc.id),
                vec![("milestone", "blast_radius_validated")],
            ),
            (format!("/incidents/{}/acknowledge", inc.id), vec![]),
            (
                format!("/incidents/{}/status", inc.id),
                vec![("status", "resolved")],
            ),
        ] {
            let a = web
                .post(&path, Some(&viewer), Some(&viewer.csrf), &pairs)
                .await;
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}: {}", a.body);
            assert!(a.body.contains("with the viewer role"), "{}", a.body);
        }
        let a = web
            .post(
                "/incidents",
                Some(&viewer),
                Some(&viewer.csrf),
                &[("title", "forged"), ("severity", "SEV1")],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert_eq!(web.last_seq(inc.id).await, before, "nothing written");
        let all = web
            .store
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap();
        assert_eq!(all.len(), 1);

        // A responder sees the forms.
        let responder = web.sign_in(&web.responder).await;
        let page = web
            .get(&format!("/incidents/{}", inc.id), Some(&responder))
            .await;
        assert!(
            page.body
                .contains(&format!("action=\"/incidents/{}/notes\"", inc.id))
        );
    }
);

both!(an_unknown_incident_is_a_404_page, |web| async move {
    let browser = web.sign_in(&web.responder).await;
    for (path, says) in [
        ("/incidents/INC-999", "There is no incident INC-999."),
        ("/incidents/nonsense", "There is no incident nonsense."),
        ("/incidents/INC-999/brief", "There is no incident INC-999."),
        ("/incidents/INC-999/live", "There is no incident INC-999."),
    ] {
        let a = web.get(path, Some(&browser)).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            a.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(a.body.contains("<h1>Not found</h1>"), "{}", a.body);
        assert!(a.body.contains(says), "{path}: {}", a.body);
    }
    // A POST to an unknown incident writes nothing and says so.
    let a = web
        .post(
            "/incidents/INC-999/notes",
            Some(&browser),
            Some(&browser.csrf),
            &[("text", "x")],
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
});

both!(html_in_titles_and_notes_is_escaped, |web| async move {
    let browser = web.sign_in(&web.responder).await;
    let a = web
        .post(
            "/incidents",
            Some(&browser),
            Some(&browser.csrf),
            &[
                ("title", "<script>alert('title')</script>"),
                ("severity", "SEV3"),
                ("service", "checkout"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page_path = a.location().to_string();
    let notes = format!("{page_path}/notes");
    let a = web
        .post(
            &notes,
            Some(&browser),
            Some(&browser.csrf),
            &[("text", "<script>alert('note')</script> & <b>bold</b>")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    for path in [
        page_path.as_str(),
        "/",
        "/incidents",
        &format!("{page_path}/live"),
    ] {
        let page = web.get(path, Some(&browser)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            !page.body.contains("<script>alert"),
            "{path}: {}",
            page.body
        );
        assert!(
            page.body.contains("&#60;script&#62;alert(&#39;title&#39;)")
                || page.body.contains("&lt;script&gt;alert("),
            "{path}: {}",
            page.body
        );
    }
    let page = web.get(&page_path, Some(&browser)).await;
    assert!(!page.body.contains("<b>bold</b>"));
});
