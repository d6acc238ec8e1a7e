//! The public page's data in the shapes of Atlassian Statuspage's public API v2 (`page`,
//! `status`, `components`, `incidents` with `incident_updates`), built from the configuration
//! and the published updates only. The HTML page and the Atom feed render the same model.

use muster_config::StatusPage;
use muster_core::Timestamp;
use muster_core::status_page::{self as rules, ComponentStatus, Impact, PublicStatus, Published};
use muster_store::{PublicIncident, PublicUpdate};
use serde::Serialize;

/// Statuspage ids are opaque strings; a Muster server has one page.
pub const PAGE_ID: &str = "muster";

#[derive(Debug, Clone, Serialize)]
pub struct PageJson {
    pub id: String,
    pub name: String,
    pub url: String,
    pub time_zone: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusJson {
    pub indicator: &'static str,
    pub description: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentJson {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub created_at: String,
    pub updated_at: String,
    pub position: u32,
    pub description: Option<String>,
    pub showcase: bool,
    pub start_date: Option<String>,
    pub group_id: Option<String>,
    pub page_id: String,
    pub group: bool,
    pub only_show_if_degraded: bool,
    /// Group components only: the ids of their members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncidentJson {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub created_at: String,
    pub updated_at: String,
    pub monitoring_at: Option<String>,
    pub resolved_at: Option<String>,
    pub impact: &'static str,
    pub shortlink: String,
    pub started_at: String,
    pub page_id: String,
    /// Newest first, as Statuspage lists them.
    pub incident_updates: Vec<UpdateJson>,
    pub components: Vec<ComponentJson>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpdateJson {
    pub id: String,
    pub status: &'static str,
    pub body: String,
    pub incident_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub display_at: String,
    pub affected_components: Option<Vec<AffectedJson>>,
    pub deliver_notifications: bool,
    pub custom_tweet: Option<String>,
    pub tweet_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AffectedJson {
    pub code: String,
    pub name: String,
    pub old_status: &'static str,
    pub new_status: &'static str,
}

/// Everything the public endpoints show.
#[derive(Debug, Clone)]
pub struct Model {
    pub page: PageJson,
    pub status: StatusJson,
    pub indicator: Impact,
    /// Groups and components in page order (a group, then its members; then the rest).
    pub components: Vec<ComponentJson>,
    /// Newest first.
    pub incidents: Vec<IncidentJson>,
    /// Same order as `incidents`: when each was last updated.
    pub updated: Vec<Timestamp>,
    pub updated_at: Timestamp,
}

impl Model {
    pub fn unresolved(&self) -> Vec<IncidentJson> {
        self.incidents
            .iter()
            .filter(|i| i.status != PublicStatus::Resolved.as_str())
            .cloned()
            .collect()
    }
}

/// Statuspage's time format: UTC with milliseconds.
pub fn iso(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The page's own address (the configured `url`, else the path it is served on).
pub fn page_url(page: &StatusPage) -> String {
    page.url.clone().unwrap_or_else(|| "/status".to_string())
}

fn published(updates: &[PublicUpdate]) -> Vec<Published<'_>> {
    updates
        .iter()
        .filter_map(|u| {
            u.published_at.map(|at| Published {
                status: u.status,
                components: &u.components,
                at,
            })
        })
        .collect()
}

/// Builds the model. `incidents` must hold published updates only (what
/// `Store::published_incidents` returns); `now` dates an empty page.
pub fn build(page: &StatusPage, incidents: &[PublicIncident], now: Timestamp) -> Model {
    let histories: Vec<Vec<Published<'_>>> =
        incidents.iter().map(|p| published(&p.updates)).collect();
    let updated_at = histories
        .iter()
        .filter_map(|h| h.last().map(|u| u.at))
        .max()
        .unwrap_or(now);
    let status_of = |id: &str| rules::component_status(id, histories.iter().map(Vec::as_slice));
    let components = components(page, &histories, &status_of, updated_at);
    let mut built: Vec<(Timestamp, IncidentJson, Impact, bool)> = incidents
        .iter()
        .zip(&histories)
        .filter_map(|(p, h)| incident(page, p, h, &components))
        .collect();
    built.sort_by_key(|b| std::cmp::Reverse(b.0));
    let indicator = rules::page_indicator(
        page.components.iter().map(|c| status_of(&c.id)),
        built.iter().filter(|b| !b.3).map(|b| b.2),
    );
    Model {
        page: PageJson {
            id: PAGE_ID.into(),
            name: page.title.clone(),
            url: page_url(page),
            time_zone: page.time_zone.clone(),
            updated_at: iso(updated_at),
        },
        status: StatusJson {
            indicator: indicator.as_str(),
            description: indicator.page_description(),
        },
        indicator,
        components,
        updated: built.iter().map(|b| b.0).collect(),
        incidents: built.into_iter().map(|b| b.1).collect(),
        updated_at,
    }
}

fn components(
    page: &StatusPage,
    histories: &[Vec<Published<'_>>],
    status_of: &dyn Fn(&str) -> ComponentStatus,
    page_updated: Timestamp,
) -> Vec<ComponentJson> {
    // A component's times: when an update first and last named it.
    let named = |id: &str| -> (Timestamp, Timestamp) {
        let times: Vec<Timestamp> = histories
            .iter()
            .flatten()
            .filter(|u| u.components.iter().any(|c| c.component == id))
            .map(|u| u.at)
            .collect();
        (
            times.iter().min().copied().unwrap_or(page_updated),
            times.iter().max().copied().unwrap_or(page_updated),
        )
    };
    let member = |c: &muster_config::Component, group_id: Option<String>| {
        let (created, updated) = named(&c.id);
        ComponentJson {
            id: c.id.clone(),
            name: c.name.clone(),
            status: status_of(&c.id).as_str(),
            created_at: iso(created),
            updated_at: iso(updated),
            position: 0,
            description: c.description.clone(),
            showcase: false,
            start_date: None,
            group_id,
            page_id: PAGE_ID.into(),
            group: false,
            only_show_if_degraded: false,
            components: None,
        }
    };
    let mut out = Vec::new();
    for g in &page.groups {
        let members: Vec<&muster_config::Component> = page
            .components
            .iter()
            .filter(|c| c.group.as_deref() == Some(g.id.as_str()))
            .collect();
        let worst = members
            .iter()
            .map(|c| status_of(&c.id))
            .max()
            .unwrap_or(ComponentStatus::Operational);
        let updated = members
            .iter()
            .map(|c| named(&c.id).1)
            .max()
            .unwrap_or(page_updated);
        out.push(ComponentJson {
            id: g.id.clone(),
            name: g.name.clone(),
            status: worst.as_str(),
            created_at: iso(updated),
            updated_at: iso(updated),
            position: 0,
            description: g.description.clone(),
            showcase: false,
            start_date: None,
            group_id: None,
            page_id: PAGE_ID.into(),
            group: true,
            only_show_if_degraded: false,
            components: Some(members.iter().map(|c| c.id.clone()).collect()),
        });
        out.extend(members.into_iter().map(|c| member(c, Some(g.id.clone()))));
    }
    for c in page.components.iter().filter(|c| c.group.is_none()) {
        out.push(member(c, None));
    }
    for (i, c) in out.iter_mut().enumerate() {
        c.position = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }
    out
}

/// One incident: `(last updated, JSON, impact, resolved?)`; `None` when nothing is published.
fn incident(
    page: &StatusPage,
    p: &PublicIncident,
    history: &[Published<'_>],
    components: &[ComponentJson],
) -> Option<(Timestamp, IncidentJson, Impact, bool)> {
    let summary = rules::summarize(history)?;
    let mut named: Vec<&str> = Vec::new();
    for u in history {
        for c in u.components {
            if !named.contains(&c.component.as_str()) {
                named.push(&c.component);
            }
        }
    }
    let previous: Vec<(&str, Vec<ComponentStatus>)> = named
        .iter()
        .map(|id| (*id, rules::previous_statuses(history, id)))
        .collect();
    let published_updates = p.updates.iter().filter(|u| u.published_at.is_some());
    let mut updates: Vec<UpdateJson> = published_updates
        .zip(history)
        .enumerate()
        .map(|(i, (u, h))| update(page, &p.id, u, h, i, &previous))
        .collect();
    updates.reverse();
    let json = IncidentJson {
        id: p.id.clone(),
        name: p.name.clone(),
        status: summary.status.as_str(),
        created_at: iso(summary.started_at),
        updated_at: iso(summary.updated_at),
        monitoring_at: summary.monitoring_at.map(iso),
        resolved_at: summary.resolved_at.map(iso),
        impact: summary.impact.as_str(),
        shortlink: format!("{}#{}", page_url(page), p.id),
        started_at: iso(summary.started_at),
        page_id: PAGE_ID.into(),
        incident_updates: updates,
        components: components
            .iter()
            .filter(|c| named.contains(&c.id.as_str()))
            .cloned()
            .collect(),
    };
    let resolved = summary.status == PublicStatus::Resolved;
    Some((summary.updated_at, json, summary.impact, resolved))
}

fn update(
    page: &StatusPage,
    incident_id: &str,
    u: &PublicUpdate,
    h: &Published<'_>,
    index: usize,
    previous: &[(&str, Vec<ComponentStatus>)],
) -> UpdateJson {
    let affected: Vec<AffectedJson> = u
        .components
        .iter()
        .map(|c| AffectedJson {
            code: c.component.clone(),
            name: page
                .component(&c.component)
                .map_or_else(|| c.component.clone(), |x| x.name.clone()),
            old_status: previous
                .iter()
                .find(|(id, _)| *id == c.component)
                .and_then(|(_, list)| list.get(index))
                .copied()
                .unwrap_or(ComponentStatus::Operational)
                .as_str(),
            new_status: c.status.as_str(),
        })
        .collect();
    let at = iso(h.at);
    UpdateJson {
        id: u.id.clone(),
        status: u.status.as_str(),
        body: u.body.clone(),
        incident_id: incident_id.to_string(),
        created_at: at.clone(),
        updated_at: at.clone(),
        display_at: at,
        affected_components: (!affected.is_empty()).then_some(affected),
        deliver_notifications: true,
        custom_tweet: None,
        tweet_id: None,
    }
}
