//! Fuzz target for the public page: whatever text an incident's name and its published
//! updates carry, the HTML page and the Atom feed render, and text from an update never
//! reaches either unescaped.

use jiff::Timestamp;
use muster_config::{Component, StatusPage};
use muster_core::IncidentNumber;
use muster_core::status_page::{ComponentImpact, ComponentStatus, PublicStatus};
use muster_store::{PublicIncident, PublicUpdate, UpdateState};
use muster_testkit::fuzz;

/// Prefixed to every fuzzed text: a tag that must come out escaped.
const MARK: &str = "<zq";

fn page() -> StatusPage {
    StatusPage {
        title: "Example Shop status".into(),
        url: Some("https://status.example.com".into()),
        time_zone: "Europe/London".into(),
        require_approval: true,
        groups: Vec::new(),
        components: vec![Component {
            id: "payments".into(),
            name: "Payments".into(),
            description: None,
            group: None,
            services: vec!["checkout".into()],
        }],
    }
}

fn incident(name: String, body: String) -> PublicIncident {
    let at: Timestamp = "2026-12-03T10:00:00Z".parse().expect("instant");
    PublicIncident {
        id: "pi-1".into(),
        incident: IncidentNumber(1),
        name,
        created_by: "carol".into(),
        created_at: at,
        updates: vec![PublicUpdate {
            id: "pu-1".into(),
            public_incident: "pi-1".into(),
            status: PublicStatus::Investigating,
            body,
            components: vec![ComponentImpact {
                component: "payments".into(),
                status: ComponentStatus::MajorOutage,
            }],
            state: UpdateState::Published,
            drafted_by: "carol".into(),
            drafted_at: at,
            approved_by: Some("dave".into()),
            approved_at: Some(at),
            published_by: Some("carol".into()),
            published_at: Some(at),
        }],
    }
}

#[test]
fn fuzz_status_page_rendering() {
    let corpus: &[&[u8]] = &[
        b"Payments are failing for some customers. We are investigating.",
        b"Fixed & monitoring <b>now</b> \"quoted\" 'single' \xe2\x80\x94 dash",
        b"\n\n* list\n* items\n\n[link](https://example.com)",
    ];
    let page = page();
    let now: Timestamp = "2026-12-03T11:00:00Z".parse().expect("instant");
    fuzz::run("status-page", corpus, |input| {
        let text = String::from_utf8_lossy(input);
        let public = incident(format!("{MARK}{text}"), format!("{MARK}{text}"));
        let model = super::model::build(&page, std::slice::from_ref(&public), now);
        let html = super::render::html(&page, &model).expect("html");
        let atom = super::render::atom(&page, &model).expect("atom");
        assert!(!html.contains(MARK), "unescaped in the page: {html}");
        assert!(!atom.contains(MARK), "unescaped in the feed: {atom}");
    });
}
