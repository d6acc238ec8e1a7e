//! The status page's admin: a public incident opened from an internal one, an update drafted
//! (prefilled from the customer draft), approved by another person, published, and then on
//! the public page; the API's refusals shown as they are, and nothing written by a viewer or
//! a forged form. The hand-off draft on the brief page.

use axum::http::StatusCode;
use muster_core::{Access, Clock, Command, IncidentNumber};
use muster_store::UpdateState;

use crate::both;
use crate::support::{Browser, Web};

const SCRIPT: &str = "<script>alert('body')</script> Payments are slow";
const SCRIPT_ESCAPED: &str =
    "&#60;script&#62;alert(&#39;body&#39;)&#60;/script&#62; Payments are slow";

/// A SEV3 on checkout (no policy staffs it), its commander `alice`, its comms lead `bob`.
async fn incident(web: &Web, title: &str) -> IncidentNumber {
    let inc = web.declare(title, "SEV3").await;
    for (role, person) in [("incident_commander", "alice"), ("comms_lead", "bob")] {
        muster_server::reactions::apply(
            &web.state,
            "alice",
            inc.id,
            Command::AssignRole {
                role: role.into(),
                person: person.into(),
            },
        )
        .await
        .expect("role assigned");
    }
    inc.id
}

async fn sign_in_as(web: &Web, name: &'static str, access: Access) -> Browser {
    let token = web
        .store
        .create_token(name, access, web.clock.now())
        .await
        .expect("token");
    web.sign_in(&token).await
}

/// Opens a public incident for `inc` as `browser`; its id.
async fn open(web: &Web, browser: &Browser, inc: IncidentNumber, name: &str) -> String {
    let a = web
        .post(
            "/status-admin",
            Some(browser),
            Some(&browser.csrf),
            &[("incident", &inc.to_string()), ("name", name)],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let id = a
        .location()
        .strip_prefix("/status-admin/")
        .expect("to the public incident")
        .to_string();
    assert!(id.starts_with("pi-"), "{id}");
    id
}

/// Drafts an update of `public` as `browser`; its id.
async fn draft(web: &Web, browser: &Browser, public: &str, body: &str) -> String {
    let a = web
        .post(
            &format!("/status-admin/{public}/updates"),
            Some(browser),
            Some(&browser.csrf),
            &[
                ("status", "investigating"),
                ("body", body),
                ("component:payments", "partial_outage"),
                ("component:website", ""),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), format!("/status-admin/{public}"));
    let stored = web
        .store
        .public_incident(public)
        .await
        .expect("read")
        .expect("exists");
    stored.updates.last().expect("drafted").id.clone()
}

async fn state_of(web: &Web, public: &str, update: &str) -> UpdateState {
    web.store
        .public_incident(public)
        .await
        .expect("read")
        .expect("exists")
        .updates
        .into_iter()
        .find(|u| u.id == update)
        .expect("the update")
        .state
}

fn action(public: &str, update: &str, what: &str) -> String {
    format!("/status-admin/{public}/updates/{update}/{what}")
}

both!(
    an_update_drafted_approved_by_another_and_published_reaches_the_public_page,
    |web| async move {
        let inc = incident(&web, "Checkout slow").await;
        let alice = web.sign_in(&web.responder).await;

        // The open form, prefilled from the internal incident.
        let page = web
            .get(&format!("/status-admin?incident={inc}"), Some(&alice))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("href=\"/status\""), "{}", page.body);
        assert!(
            page.body
                .contains("id=\"o-name\" name=\"name\" value=\"Checkout slow\""),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("Its services map to: Payments."),
            "{}",
            page.body
        );
        let public = open(&web, &alice, inc, "Payments trouble").await;

        // The draft form starts from the customer draft and the mapped components.
        let page = web
            .get(&format!("/status-admin/{public}"), Some(&alice))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(
            page.body
                .contains("We are investigating degraded performance affecting checkout."),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains("<option value=\"partial_outage\" selected>Partial outage</option>"),
            "{}",
            page.body
        );
        let update = draft(&web, &alice, &public, SCRIPT).await;

        // The drafter sees no approve button and why it waits.
        let page = web
            .get(&format!("/status-admin/{public}"), Some(&alice))
            .await;
        assert!(!page.body.contains(&action(&public, &update, "approve")));
        assert!(
            page.body.contains(
                "Waiting for approval by the comms lead (bob) or an admin, other than alice."
            ),
            "{}",
            page.body
        );
        assert!(page.body.contains(SCRIPT_ESCAPED), "{}", page.body);
        assert!(!page.body.contains("<script>alert"), "{}", page.body);

        // The comms lead approves.
        let bob = sign_in_as(&web, "bob", Access::Responder).await;
        let page = web
            .get(&format!("/status-admin/{public}"), Some(&bob))
            .await;
        assert!(page.body.contains(&action(&public, &update, "approve")));
        let a = web
            .post(
                &action(&public, &update, "approve"),
                Some(&bob),
                Some(&bob.csrf),
                &[],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(
            state_of(&web, &public, &update).await,
            UpdateState::Approved
        );
        let json = web.get("/status/api/v2/incidents.json", None).await;
        assert!(
            !json.body.contains("Payments trouble"),
            "approved is not yet public: {}",
            json.body
        );

        // The drafter publishes.
        let a = web
            .post(
                &action(&public, &update, "publish"),
                Some(&alice),
                Some(&alice.csrf),
                &[],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(
            state_of(&web, &public, &update).await,
            UpdateState::Published
        );
        let json = web.get("/status/api/v2/incidents.json", None).await;
        assert_eq!(json.status, StatusCode::OK);
        assert!(
            json.body.contains("\"name\":\"Payments trouble\""),
            "{}",
            json.body
        );
        assert!(
            json.body.contains(&format!("\"body\":\"{SCRIPT}\"")),
            "{}",
            json.body
        );
        let html = web.get("/status", None).await;
        assert!(!html.body.contains("<script>alert"), "{}", html.body);
        assert!(html.body.contains("Payments are slow"), "{}", html.body);

        // The admin list: published, who drafted, approved and published it.
        let list = web.get("/status-admin", Some(&alice)).await;
        let row = &list.body[list
            .body
            .find(&format!("data-public=\"{public}\""))
            .expect("listed")..];
        for said in [
            "<dd>Investigating</dd>",
            "<dd>major</dd>",
            "Payments: Partial outage",
            "Drafted by alice",
            "Approved by bob",
            "Published by alice",
        ] {
            assert!(row.contains(said), "{said}: {row}");
        }
        assert!(!list.body.contains("<script>alert"), "{}", list.body);
    }
);

both!(
    the_drafter_may_not_approve_their_own_update,
    |web| async move {
        let inc = incident(&web, "Refunds slow").await;
        let root = web.sign_in(&web.admin).await;
        let public = open(&web, &root, inc, "Refunds delayed").await;
        let update = draft(&web, &root, &public, "Refunds are delayed.").await;
        let page = web
            .get(&format!("/status-admin/{public}"), Some(&root))
            .await;
        assert!(!page.body.contains(&action(&public, &update, "approve")));

        let a = web
            .post(
                &action(&public, &update, "approve"),
                Some(&root),
                Some(&root.csrf),
                &[],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(
            a.body.contains(
                "`root` drafted this update and may not approve it; another person must (the \
                 incident&#39;s comms_lead or an admin)"
            ),
            "{}",
            a.body
        );
        assert_eq!(state_of(&web, &public, &update).await, UpdateState::Draft);

        // A responder who is not the comms lead may not either.
        let alice = web.sign_in(&web.responder).await;
        let page = web
            .get(&format!("/status-admin/{public}"), Some(&alice))
            .await;
        assert!(!page.body.contains(&action(&public, &update, "approve")));
        let a = web
            .post(
                &action(&public, &update, "approve"),
                Some(&alice),
                Some(&alice.csrf),
                &[],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(
            a.body.contains(
                "only the incident&#39;s comms_lead or an admin may approve public updates; it \
                 is held by `bob`"
            ),
            "{}",
            a.body
        );
        assert_eq!(state_of(&web, &public, &update).await, UpdateState::Draft);
    }
);

both!(
    publishing_a_draft_before_its_approval_is_refused,
    |web| async move {
        let inc = incident(&web, "Search down").await;
        let alice = web.sign_in(&web.responder).await;
        let public = open(&web, &alice, inc, "Search unavailable").await;
        let update = draft(&web, &alice, &public, "Search is down.").await;
        let page = web
            .get(&format!("/status-admin/{public}"), Some(&alice))
            .await;
        assert!(!page.body.contains(&action(&public, &update, "publish")));
        let a = web
            .post(
                &action(&public, &update, "publish"),
                Some(&alice),
                Some(&alice.csrf),
                &[],
            )
            .await;
        assert_eq!(a.status, StatusCode::CONFLICT);
        assert!(
            a.body.contains(&format!(
                "update {update} is a draft: the comms lead must approve it before it is \
                 published"
            )),
            "{}",
            a.body
        );
        assert_eq!(state_of(&web, &public, &update).await, UpdateState::Draft);
        let json = web.get("/status/api/v2/incidents.json", None).await;
        assert!(!json.body.contains("Search unavailable"), "{}", json.body);
    }
);

both!(a_viewer_or_a_forged_form_writes_nothing, |web| async move {
    let inc = incident(&web, "Login slow").await;
    let alice = web.sign_in(&web.responder).await;
    let public = open(&web, &alice, inc, "Login slow").await;
    let update = draft(&web, &alice, &public, "Logins are slow.").await;
    let viewer = web.sign_in(&web.viewer).await;

    let page = web
        .get(&format!("/status-admin/{public}"), Some(&viewer))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Save draft"), "{}", page.body);
    assert!(!page.body.contains("/approve\""), "{}", page.body);
    let list = web.get("/status-admin", Some(&viewer)).await;
    assert!(!list.body.contains("Open public incident"), "{}", list.body);

    let inc_s = inc.to_string();
    let forged: [(String, Vec<(&str, &str)>); 4] = [
        ("/status-admin".into(), vec![("incident", inc_s.as_str())]),
        (
            format!("/status-admin/{public}/updates"),
            vec![("status", "investigating"), ("body", "forged")],
        ),
        (action(&public, &update, "approve"), vec![]),
        (action(&public, &update, "publish"), vec![]),
    ];
    for (path, fields) in &forged {
        let a = web
            .post(path, Some(&viewer), Some(&viewer.csrf), fields)
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            a.body.contains(
                "You are signed in as watcher with the viewer role; this needs responder."
            ),
            "{path}: {}",
            a.body
        );
    }
    // A responder's form without its token, or with another's.
    for csrf in [None, Some("not-the-token")] {
        let a = web
            .post(
                &format!("/status-admin/{public}/updates"),
                Some(&alice),
                csrf,
                &[("status", "investigating"), ("body", "forged")],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(
            a.body.contains("form token is missing or wrong"),
            "{}",
            a.body
        );
    }
    let stored = web.store.public_incidents(10).await.expect("read");
    assert_eq!(stored.len(), 1, "no second public incident");
    assert_eq!(stored[0].updates.len(), 1, "no forged update");
    assert_eq!(stored[0].updates[0].state, UpdateState::Draft);
});

both!(an_unknown_public_incident_is_not_found, |web| async move {
    let alice = web.sign_in(&web.responder).await;
    let page = web.get("/status-admin/pi-99", Some(&alice)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.body.contains("There is no public incident pi-99."),
        "{}",
        page.body
    );
    let a = web
        .post(
            "/status-admin/pi-99/updates",
            Some(&alice),
            Some(&alice.csrf),
            &[("status", "investigating"), ("body", "x")],
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.body.contains("no public incident `pi-99`"), "{}", a.body);
});

both!(the_brief_page_has_the_handoff_draft, |web| async move {
    let inc = incident(&web, "Cart <empty>").await;
    let viewer = web.sign_in(&web.viewer).await;
    let page = web
        .get(&format!("/incidents/{inc}/brief"), Some(&viewer))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(">Hand-off draft</h2>"), "{}", page.body);
    assert!(
        page.body.contains("bob takes comms lead at 03:12 UTC."),
        "the last role to change hands: {}",
        page.body
    );
    assert!(!page.body.contains("<empty>"), "{}", page.body);
    let page = web
        .get(
            &format!("/incidents/{inc}/brief?role=incident_commander"),
            Some(&viewer),
        )
        .await;
    assert!(
        page.body.contains("Hand-off: incident commander"),
        "{}",
        page.body
    );
    let page = web
        .get(
            &format!("/incidents/{inc}/brief?role=janitor"),
            Some(&viewer),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body
            .contains("unknown role `janitor`; expected one of:"),
        "{}",
        page.body
    );
});
