//! HTML and Atom renderings of the page model, with minijinja templates compiled into the
//! binary. Both templates auto-escape (by their `.html`/`.xml` names), so a `<script>` in an
//! incident's name or an update's body is shown as text, never run.

use std::sync::OnceLock;

use axum::http::StatusCode;
use minijinja::{AutoEscape, Environment, Value, context};
use muster_config::StatusPage;
use muster_core::Timestamp;
use muster_core::status_page::{ComponentStatus, PublicStatus};
use serde::Serialize;

use super::model::{IncidentJson, Model, page_url};
use crate::error::ApiError;

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // minijinja's HTML escaping also writes `/` as `&#x2f;`: valid, but it makes every
        // URL and zone name unreadable in the source. Escape only what HTML and XML need.
        env.set_formatter(|out, state, value| {
            let text = value.as_str().filter(|_| !value.is_safe());
            match text {
                Some(text) if *state.auto_escape() != AutoEscape::None => out
                    .write_str(&muster_core::control::escape_markup(text))
                    .map_err(|_| minijinja::Error::from(minijinja::ErrorKind::WriteFailure)),
                _ => minijinja::escape_formatter(out, state, value),
            }
        });
        // Compiled in: a syntax error here fails the tests, never a request.
        let templates = [
            ("status.html", include_str!("../../templates/status.html")),
            (
                "history.atom.xml",
                include_str!("../../templates/history.atom.xml"),
            ),
        ];
        for (name, source) in templates {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "status page template does not compile");
            }
        }
        env
    })
}

fn render(name: &str, ctx: minijinja::Value) -> Result<String, ApiError> {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| {
            tracing::error!(template = name, error = %e, "status page rendering failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the status page could not be rendered",
            )
        })
}

fn ser<T: Serialize>(value: T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

fn status_label(s: &str) -> &'static str {
    s.parse::<ComponentStatus>()
        .map_or("Unknown", ComponentStatus::label)
}

fn incident_label(s: &str) -> &'static str {
    s.parse::<PublicStatus>()
        .map_or("Unknown", PublicStatus::label)
}

/// A time as people on the page read it, in the page's zone.
fn local(t: &str, zone: &str) -> String {
    let Ok(ts) = t.parse::<Timestamp>() else {
        return t.to_string();
    };
    match jiff::tz::TimeZone::get(zone) {
        Ok(tz) => ts
            .to_zoned_datetime(tz)
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string(),
        Err(_) => ts.strftime("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

#[derive(Serialize)]
struct ComponentView {
    name: String,
    description: Option<String>,
    status: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
struct GroupView {
    name: Option<String>,
    description: Option<String>,
    status_label: Option<&'static str>,
    components: Vec<ComponentView>,
}

#[derive(Serialize)]
struct AffectedView {
    name: String,
    label: &'static str,
}

#[derive(Serialize)]
struct UpdateView {
    status_label: &'static str,
    body: String,
    at: String,
    at_iso: String,
    affected: Vec<AffectedView>,
}

#[derive(Serialize)]
struct IncidentView {
    id: String,
    name: String,
    impact: &'static str,
    status_label: &'static str,
    updates: Vec<UpdateView>,
}

fn incident_view(i: &IncidentJson, zone: &str) -> IncidentView {
    IncidentView {
        id: i.id.clone(),
        name: i.name.clone(),
        impact: i.impact,
        status_label: incident_label(i.status),
        updates: i
            .incident_updates
            .iter()
            .map(|u| UpdateView {
                status_label: incident_label(u.status),
                body: u.body.clone(),
                at: local(&u.display_at, zone),
                at_iso: u.display_at.clone(),
                affected: u
                    .affected_components
                    .iter()
                    .flatten()
                    .map(|a| AffectedView {
                        name: a.name.clone(),
                        label: status_label(a.new_status),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn groups(m: &Model) -> Vec<GroupView> {
    let view = |c: &super::model::ComponentJson| ComponentView {
        name: c.name.clone(),
        description: c.description.clone(),
        status: c.status,
        label: status_label(c.status),
    };
    let mut out: Vec<GroupView> = m
        .components
        .iter()
        .filter(|c| c.group)
        .map(|g| GroupView {
            name: Some(g.name.clone()),
            description: g.description.clone(),
            status_label: Some(status_label(g.status)),
            components: m
                .components
                .iter()
                .filter(|c| c.group_id.as_deref() == Some(g.id.as_str()))
                .map(view)
                .collect(),
        })
        .collect();
    let loose: Vec<ComponentView> = m
        .components
        .iter()
        .filter(|c| !c.group && c.group_id.is_none())
        .map(view)
        .collect();
    if !loose.is_empty() {
        out.push(GroupView {
            name: (!out.is_empty()).then(|| "Other".to_string()),
            description: None,
            status_label: None,
            components: loose,
        });
    }
    out
}

pub fn html(page: &StatusPage, m: &Model) -> Result<String, ApiError> {
    let zone = page.time_zone.as_str();
    let (active, past): (Vec<&IncidentJson>, Vec<&IncidentJson>) = m
        .incidents
        .iter()
        .partition(|i| i.status != PublicStatus::Resolved.as_str());
    let base = page_url(page);
    render(
        "status.html",
        context! {
            title => page.title.as_str(),
            indicator => m.indicator.as_str(),
            description => m.status.description,
            groups => ser(groups(m)),
            active => ser(active.iter().map(|i| incident_view(i, zone)).collect::<Vec<_>>()),
            past => ser(past.iter().map(|i| incident_view(i, zone)).collect::<Vec<_>>()),
            updated => local(&m.page.updated_at, zone),
            updated_iso => m.page.updated_at.as_str(),
            time_zone => zone,
            feed_href => format!("{base}/history.atom"),
            json_href => format!("{base}/api/v2/summary.json"),
        },
    )
}

fn entry_content(i: &IncidentJson) -> String {
    i.incident_updates
        .iter()
        .map(|u| {
            format!(
                "<p><small>{}</small><br><strong>{}</strong> - {}</p>",
                muster_core::control::escape_markup(&u.display_at),
                incident_label(u.status),
                muster_core::control::escape_markup(&u.body)
            )
        })
        .collect()
}

#[derive(Serialize)]
struct EntryView {
    id: String,
    title: String,
    published: String,
    updated: String,
    href: String,
    content: String,
}

pub fn atom(page: &StatusPage, m: &Model) -> Result<String, ApiError> {
    let base = page_url(page);
    // atom:id must be an absolute IRI: the page's URL when configured, a URN otherwise.
    let id_base = match &page.url {
        Some(url) => format!("{url}/history.atom"),
        None => "urn:muster:status-page".to_string(),
    };
    let entries: Vec<EntryView> = m
        .incidents
        .iter()
        .map(|i| EntryView {
            id: if page.url.is_some() {
                format!("{base}#{}", i.id)
            } else {
                format!("{id_base}:{}", i.id)
            },
            title: i.name.clone(),
            published: i.created_at.clone(),
            updated: i.updated_at.clone(),
            href: format!("{base}#{}", i.id),
            content: entry_content(i),
        })
        .collect();
    render(
        "history.atom.xml",
        context! {
            feed_id => id_base,
            title => page.title.as_str(),
            updated => m.page.updated_at.as_str(),
            self_href => format!("{base}/history.atom"),
            page_href => base,
            entries => ser(entries),
        },
    )
}
