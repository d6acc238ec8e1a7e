//! The `/api/v1` routes. Each handler is annotated for the OpenAPI document, so the
//! document is generated from the code and cannot drift from it.

pub mod alerts;
pub mod audit;
pub mod briefs;
pub mod catalog;
pub mod clock;
pub mod common_responses;
pub mod drills;
pub mod extract;
pub mod inbox;
pub mod incidents;
pub mod notifications;
pub mod outbox;
pub mod pager;
pub mod reports;
pub mod schedules;
pub mod silences;
pub mod similar;
pub mod status_page;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Muster API",
        description = "Incident response autopilot: incidents, timelines, roles, milestones and the configuration in force.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "incidents", description = "Declare and work incidents"),
        (name = "catalog", description = "The configuration in force"),
        (name = "schedules", description = "On-call schedules, overrides and feeds"),
        (name = "alerts", description = "Alerts from monitoring and their intake endpoints"),
        (name = "briefings", description = "Briefs, status-update drafts, hand-offs, executive summaries and review drafts"),
        (name = "status-page", description = "Public incidents and their updates: draft, approve, publish"),
        (name = "drills", description = "Exercises on the real policies, on their own clock, scored"),
        (name = "reports", description = "Reports from what happened: the load people carry")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(incidents::list, incidents::declare))
        .routes(routes!(incidents::show, incidents::patch))
        .routes(routes!(incidents::timeline))
        .routes(routes!(incidents::milestones, incidents::reach_milestone))
        .routes(routes!(incidents::roles, incidents::assign_role))
        .routes(routes!(incidents::release_role))
        .routes(routes!(incidents::tasks, incidents::add_task))
        .routes(routes!(incidents::update_task))
        .routes(routes!(incidents::add_note))
        .routes(routes!(incidents::join))
        .routes(routes!(incidents::leave))
        .routes(routes!(incidents::ack_nudge))
        .routes(routes!(notifications::ack_notification))
        .routes(routes!(clock::clock))
        .routes(routes!(briefs::brief_me))
        .routes(routes!(briefs::status_update_draft))
        .routes(routes!(briefs::handoff))
        .routes(routes!(briefs::exec_summary))
        .routes(routes!(briefs::review_draft))
        .routes(routes!(catalog::services))
        .routes(routes!(catalog::people))
        .routes(routes!(catalog::policies))
        .routes(routes!(catalog::schedules))
        .routes(routes!(catalog::reload))
        .routes(routes!(schedules::oncall))
        .routes(routes!(schedules::shifts))
        .routes(routes!(
            schedules::list_overrides,
            schedules::create_override
        ))
        .routes(routes!(schedules::delete_override))
        .routes(routes!(pager::take_pager))
        .routes(routes!(audit::list_audit))
        .routes(routes!(outbox::dead_letters))
        .routes(routes!(inbox::list_inbox))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::show_alert))
        .routes(routes!(alerts::ack_alert))
        .routes(routes!(alerts::resolve_alert))
        .routes(routes!(alerts::alertmanager_webhook))
        .routes(routes!(alerts::generic_event))
        .routes(routes!(alerts::heartbeat))
        .routes(routes!(silences::list_silences, silences::create_silence))
        .routes(routes!(silences::delete_silence))
        .routes(routes!(similar::similar))
        .routes(routes!(status_page::list, status_page::create))
        .routes(routes!(status_page::show))
        .routes(routes!(status_page::draft))
        .routes(routes!(status_page::approve))
        .routes(routes!(status_page::publish))
        .routes(routes!(drills::list, drills::start))
        .routes(routes!(drills::show))
        .routes(routes!(drills::inject))
        .routes(routes!(drills::skip))
        .routes(routes!(drills::pause))
        .routes(routes!(drills::resume))
        .routes(routes!(drills::step))
        .routes(routes!(drills::end))
        .routes(routes!(drills::report))
        .routes(routes!(reports::policies))
        .routes(routes!(reports::load_json))
        .routes(routes!(reports::load_heatmap))
        .routes(routes!(reports::load_people))
}
