//! Muster's web UI: server-rendered pages (askama templates, auto-escaped) over the same
//! reactions as the API, mounted beside it by `muster_server::app_with`.
//!
//! - `session.rs` — sign-in with an API token, the session cookie, CSRF on every form.
//! - `page.rs` — the layout every page shares, times in the viewer's zone, error pages.
//! - `home.rs`, `incidents.rs` (list, declare), `incident.rs` (the incident page and its
//!   live part), `actions.rs` (its forms, each calling the reactions the API calls),
//!   `prefs.rs` (the time-zone switcher), `oncall.rs` (every schedule on one timeline;
//!   an admin covers a shift with an audited override), `schedule.rs` (one schedule: layers,
//!   overrides, audit trail, "take the pager now").
//! - `policies.rs` (each policy's source, tests' results and adherence, hardest first),
//!   `catalog.rs` (services, people, escalation policies), `alerts.rs` (alerts with
//!   acknowledge and resolve; silences), `inbox.rs`; `util.rs` — their shared helpers.
//! - `status_admin.rs` — public incidents: draft, approve, publish, as the API does them.
//! - `drills.rs` (start a drill, the facilitator's view with its live score, what each
//!   participant receives).
//! - `staffing.rs` (SLO verdicts, on-call cost, the sweep, the rotation lint, load charts),
//!   `staffing_runs.rs` (its simulation, kept per configuration, off the async threads).
//! - `live.rs` — server-sent events announcing committed changes; `assets.rs` — htmx, the
//!   stylesheet and the page script, served from the binary.
//!
//! Every page reads without JavaScript; the script only adds the ticking countdowns and the
//! live refresh.

mod actions;
mod alerts;
mod assets;
mod catalog;
mod drills;
mod home;
mod inbox;
mod incident;
mod incidents;
mod live;
mod oncall;
mod page;
mod policies;
mod prefs;
mod schedule;
mod session;
mod staffing;
mod staffing_runs;
mod status_admin;
mod util;

use axum::Router;
use axum::routing::{get, post};
use muster_server::AppState;
use tokio::sync::watch;

pub use live::spawn_wake_relay;
pub use session::{CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, ZONE_COOKIE};

/// The pages, for `muster_server::app_with`. Live streams end when `stop` turns true (the
/// server's graceful shutdown waits for open connections).
pub fn router_until(stop: watch::Receiver<bool>) -> Router<AppState> {
    Router::new()
        .route("/", get(home::home))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/prefs/zone", post(prefs::set_zone))
        .route("/incidents", get(incidents::list).post(incidents::declare))
        .route("/incidents/new", get(incidents::declare_form))
        .route("/incidents/{id}", get(incident::page))
        .route("/incidents/{id}/live", get(incident::live_part))
        .route("/incidents/{id}/brief", get(incident::brief_page))
        .route("/incidents/{id}/events", get(live::incident_events))
        .route("/events", get(live::list_events))
        .route("/incidents/{id}/acknowledge", post(actions::acknowledge))
        .route("/incidents/{id}/milestone", post(actions::milestone))
        .route("/incidents/{id}/role", post(actions::role))
        .route("/incidents/{id}/status", post(actions::status))
        .route("/incidents/{id}/severity", post(actions::severity))
        .route(
            "/incidents/{id}/status-update",
            post(actions::status_update),
        )
        .route(
            "/incidents/{id}/tasks/{task}/done",
            post(actions::task_done),
        )
        .route("/incidents/{id}/notes", post(actions::note))
        .route("/oncall", get(oncall::timeline))
        .route("/oncall/cover", get(oncall::cover_form).post(oncall::cover))
        .route("/oncall/schedules/{id}", get(schedule::page))
        .route("/oncall/schedules/{id}/take", post(schedule::take))
        .route(
            "/oncall/schedules/{id}/overrides/{override_id}/end",
            post(schedule::end_override),
        )
        .route("/assets/{file}", get(assets::asset))
        .route("/policies", get(policies::list))
        .route("/policies/{id}", get(policies::show))
        .route("/services", get(catalog::services))
        .route("/people", get(catalog::people))
        .route("/escalation", get(catalog::escalation))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/alerts/{id}/resolve", post(alerts::resolve))
        .route(
            "/silences",
            get(alerts::silences).post(alerts::create_silence),
        )
        .route("/silences/{id}/end", post(alerts::end_silence))
        .route("/inbox", get(inbox::inbox))
        .route(
            "/status-admin",
            get(status_admin::list).post(status_admin::open),
        )
        .route("/status-admin/{id}", get(status_admin::show))
        .route("/status-admin/{id}/updates", post(status_admin::draft))
        .route(
            "/status-admin/{id}/updates/{update}/approve",
            post(status_admin::approve),
        )
        .route(
            "/status-admin/{id}/updates/{update}/publish",
            post(status_admin::publish),
        )
        .route("/drills", get(drills::list).post(drills::start))
        .route("/drills/{id}", get(drills::page))
        .route("/drills/{id}/live", get(drills::live_part))
        .route("/drills/{id}/chart.svg", get(drills::chart))
        .route("/drills/{id}/as/{part}", get(drills::participant))
        .route("/drills/{id}/{command}", post(drills::command))
        .route("/staffing", get(staffing::show))
        .route("/staffing/run", post(staffing::run_again))
        .route("/staffing/load/heatmap.svg", get(staffing::heatmap))
        .route("/staffing/load/people.svg", get(staffing::people_chart))
        .layer(axum::Extension(staffing_runs::Simulations::default()))
        .layer(axum::Extension(live::Stop(stop)))
        .layer(axum::middleware::from_fn(page::security_headers))
}

/// The pages with streams that never stop early (tests).
pub fn router() -> Router<AppState> {
    // The sender dropped: a stream then waits for its connection to close.
    router_until(watch::channel(false).1)
}
