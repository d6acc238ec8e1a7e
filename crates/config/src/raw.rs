//! What the YAML files deserialize into: close to the text, with locations (`Spanned`) on every
//! value a semantic check may need to point at. Converted into `model` types by `validate`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

pub(crate) use crate::diagnostic::S;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    #[serde(default)]
    pub people: Vec<Person>,
    #[serde(default)]
    pub teams: Vec<Team>,
    #[serde(default)]
    pub aliases: Vec<Alias>,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    #[serde(default)]
    pub escalation_policies: Vec<EscalationPolicy>,
    #[serde(default)]
    pub policies: Vec<Policy>,
    #[serde(default)]
    pub playbooks: Vec<Playbook>,
    #[serde(default)]
    pub integrations: Vec<Integration>,
    #[serde(default)]
    pub roles: Vec<Vocabulary>,
    #[serde(default)]
    pub milestones: Vec<Vocabulary>,
    #[serde(default)]
    pub severities: Vec<Vocabulary>,
    /// The Slack app's settings (at most one file has them).
    pub slack: Option<Spanned<Slack>>,
    pub notifications: Option<Spanned<crate::notifications::RawNotifications>>,
    pub limits: Option<Spanned<crate::limits::RawLimits>>,
    pub status_page: Option<Spanned<StatusPage>>,
    pub metrics: Option<Spanned<Metrics>>,
    /// Inputs and SLOs of `muster staffing simulate` (see `validate/staffing.rs`).
    pub staffing: Option<Spanned<crate::staffing_raw::Staffing>>,
}

/// The `metrics` section (see `validate/metrics.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Metrics {
    pub token: Option<S>,
}

/// The public status page: one per configuration (see `validate/status_page.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusPage {
    pub title: S,
    pub url: Option<S>,
    pub time_zone: Option<S>,
    pub require_approval: Option<Spanned<bool>>,
    #[serde(default)]
    pub groups: Vec<ComponentGroup>,
    #[serde(default)]
    pub components: Vec<Component>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComponentGroup {
    pub id: S,
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Component {
    pub id: S,
    pub name: Option<String>,
    pub description: Option<String>,
    pub group: Option<S>,
    #[serde(default)]
    pub services: Vec<S>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Slack {
    pub command: Option<S>,
    pub timeline: Option<S>,
    pub reaction: Option<S>,
    pub writes: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Vocabulary {
    pub id: S,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Person {
    pub id: S,
    pub name: String,
    pub time_zone: S,
    #[serde(default)]
    pub contact: Contact,
    #[serde(default)]
    pub notification_rules: Vec<NotificationRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Contact {
    pub email: Option<S>,
    pub slack_user: Option<S>,
    pub phone: Option<S>,
    pub webhook: Option<S>,
    pub push_topic: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotificationRule {
    pub channel: S,
    pub after: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Team {
    pub id: S,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub members: Vec<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Alias {
    pub id: S,
    pub description: Option<String>,
    #[serde(default)]
    pub people: Vec<S>,
    #[serde(default)]
    pub teams: Vec<S>,
    #[serde(default)]
    pub schedules: Vec<S>,
    #[serde(default)]
    pub slack_channels: Vec<S>,
    #[serde(default)]
    pub emails: Vec<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Service {
    pub id: S,
    pub name: Option<String>,
    pub description: Option<String>,
    pub owner_team: Option<S>,
    pub escalation_policy: Option<S>,
    #[serde(default)]
    pub depends_on: Vec<S>,
    #[serde(default)]
    pub experts: Vec<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Schedule {
    pub id: S,
    pub name: Option<String>,
    pub time_zone: S,
    pub team: Option<S>,
    pub layers: Spanned<Vec<Layer>>,
    #[serde(default)]
    pub overrides: Vec<Override>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Layer {
    pub name: S,
    pub members: Spanned<Vec<S>>,
    pub shift: S,
    pub handoff: S,
    pub start: S,
    #[serde(default)]
    pub restrictions: Vec<Restriction>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Restriction {
    pub days: Spanned<Vec<S>>,
    pub from: S,
    pub to: S,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Override {
    pub person: S,
    pub replaces: Option<S>,
    pub from: S,
    pub to: S,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EscalationPolicy {
    pub id: S,
    pub name: Option<String>,
    pub description: Option<String>,
    pub repeat: Option<Spanned<u32>>,
    pub steps: Spanned<Vec<EscalationStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EscalationStep {
    pub targets: Spanned<Vec<Spanned<Target>>>,
    pub delay: Option<S>,
}

/// Exactly one field must be set (checked in `validate`, for a precise message).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Target {
    pub schedule: Option<S>,
    pub person: Option<S>,
    pub alias: Option<S>,
    pub slack_channel: Option<S>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Conditions {
    pub severity: Option<Vec<S>>,
    pub services: Option<Vec<S>>,
    pub status: Option<Vec<S>>,
    #[serde(default)]
    pub incident_type: OneOrMany<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Policy {
    pub id: S,
    pub description: Option<String>,
    #[serde(default)]
    pub when: Conditions,
    pub deadline: Option<Spanned<Deadline>>,
    pub on_event: Option<Spanned<OnEvent>>,
    pub cadence: Option<Spanned<Cadence>>,
    pub solo_responder: Option<Spanned<SoloResponder>>,
    pub on_warn: Option<Spanned<Vec<Spanned<Action>>>>,
    pub on_missed: Option<Spanned<Vec<Spanned<Action>>>>,
    pub actions: Option<Spanned<Vec<Spanned<Action>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Deadline {
    pub within: S,
    /// Required unless `expect` is an acknowledgement (then absent or `notified`).
    pub of: Option<S>,
    pub expect: Spanned<Expect>,
    pub warn_before: Option<S>,
}

/// A deadline's `expect`: a milestone id, or a map with exactly one of `milestone`, `role`,
/// `acknowledged_by` (checked in `validate`). The location of a plain id is its `Spanned`'s.
#[derive(Debug)]
pub(crate) enum Expect {
    Milestone(String),
    Typed(Box<ExpectMap>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectMap {
    pub milestone: Option<S>,
    pub role: Option<S>,
    pub acknowledged_by: Option<Spanned<Audience>>,
}

/// Exactly one field must be set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Audience {
    pub alias: Option<S>,
    pub schedule: Option<S>,
    pub person: Option<S>,
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Expect;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a milestone id, or one of `milestone`, `role`, `acknowledged_by`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Expect, E> {
                Ok(Expect::Milestone(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Expect, A::Error> {
                let d = serde::de::value::MapAccessDeserializer::new(map);
                ExpectMap::deserialize(d).map(|m| Expect::Typed(Box::new(m)))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OnEvent {
    pub milestone: Option<S>,
    pub status: Option<S>,
    pub severity_changed: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Cadence {
    pub every: S,
    pub reset_on: Option<S>,
    #[serde(rename = "while", default)]
    pub while_: Conditions,
    pub escalate_after: Option<S>,
    pub escalate_to: Option<Spanned<Recipient>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SoloResponder {
    #[serde(rename = "for")]
    pub for_: S,
}

/// Exactly one field must be set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Recipient {
    pub role: Option<S>,
    pub schedule: Option<S>,
    pub person: Option<S>,
    pub alias: Option<S>,
    pub escalation_policy: Option<S>,
}

/// Exactly one field must be set: `- page: {...}`, `- notify: {...}`, ...
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Action {
    pub page: Option<Spanned<PageTarget>>,
    pub notify: Option<Spanned<Notify>>,
    pub nudge: Option<Spanned<Nudge>>,
    pub assign_role: Option<Spanned<AssignRole>>,
    pub create_task: Option<Spanned<CreateTask>>,
    pub draft_status_update: Option<Spanned<DraftStatusUpdate>>,
}

/// Exactly one field must be set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageTarget {
    pub schedule: Option<S>,
    pub escalation_policy: Option<S>,
    pub person: Option<S>,
    pub alias: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Notify {
    pub alias: S,
    pub template: S,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Nudge {
    pub role: S,
    pub template: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignRole {
    pub role: S,
    pub schedule: Option<S>,
    pub person: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTask {
    pub title: S,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DraftStatusUpdate {
    pub template: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Playbook {
    pub id: S,
    pub description: Option<String>,
    #[serde(rename = "match", default)]
    pub matches: Conditions,
    #[serde(default)]
    pub notify: Vec<Notify>,
    #[serde(default)]
    pub tasks: Vec<S>,
    #[serde(default)]
    pub links: Vec<Link>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Link {
    pub title: String,
    pub url: S,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Integration {
    pub id: S,
    #[serde(rename = "type")]
    pub kind: S,
    pub key: S,
    pub service: Option<S>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub severity_map: BTreeMap<String, S>,
    #[serde(default)]
    pub group_by: Vec<String>,
    pub group_window: Option<S>,
    pub auto_resolve: Option<bool>,
    pub heartbeat: Option<Spanned<Heartbeat>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Route {
    #[serde(rename = "match")]
    pub matches: Spanned<BTreeMap<String, String>>,
    pub service: S,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Heartbeat {
    pub interval: S,
    pub grace: Option<S>,
}

/// A single value or a list of values (`incident_type: outage` or `[outage, security]`);
/// `null` is an empty list. (Not for `Spanned` values: untagged enums lose their locations.)
#[derive(Debug)]
pub(crate) struct OneOrMany<T>(pub Vec<T>);

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr<T> {
            Many(Vec<T>),
            One(T),
        }
        Ok(match Option::<Repr<T>>::deserialize(d)? {
            None => OneOrMany(Vec::new()),
            Some(Repr::Many(v)) => OneOrMany(v),
            Some(Repr::One(x)) => OneOrMany(vec![x]),
        })
    }
}
