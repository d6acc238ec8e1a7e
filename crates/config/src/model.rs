//! The loaded, validated configuration. Plain data: every reference in it resolves.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;

use crate::{Diagnostic, Duration};

/// Roles and milestones every configuration knows (a `roles` or `milestones` section adds
/// more): the core's, defined once.
pub use muster_core::incident::{BUILTIN_MILESTONES, BUILTIN_ROLES};

/// A whole configuration directory, checked. Maps are keyed by id.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    pub people: BTreeMap<String, Person>,
    pub teams: BTreeMap<String, Team>,
    pub aliases: BTreeMap<String, Alias>,
    pub services: BTreeMap<String, Service>,
    pub schedules: BTreeMap<String, Schedule>,
    pub escalation_policies: BTreeMap<String, EscalationPolicy>,
    pub policies: BTreeMap<String, Policy>,
    pub playbooks: BTreeMap<String, Playbook>,
    pub integrations: BTreeMap<String, Integration>,
    /// Built-in roles plus those of `roles` sections.
    pub roles: BTreeSet<String>,
    /// Built-in milestones plus those of `milestones` sections.
    pub milestones: BTreeSet<String>,
    /// Descriptions of SEV1..SEV4 (defaults unless a `severities` section overrides them).
    pub severities: BTreeMap<Severity, String>,
    /// Message templates from `templates/`, keyed by name (file name up to its first dot).
    pub templates: BTreeMap<String, Template>,
    /// The `notifications` section: the deliverer's rate limits.
    pub notifications: crate::notifications::Notifications,
    /// The `limits` section: how much one intake request may carry.
    pub limits: crate::limits::Limits,
    /// The public status page, when a `status_page` section defines one.
    pub status_page: Option<StatusPage>,
    /// The `metrics` section: the token `/metrics` requires, if any.
    pub metrics: Metrics,
    /// The `staffing` section, if any (`muster staffing simulate`).
    pub staffing: Option<crate::staffing::Staffing>,
    /// Warnings found while loading (the configuration is usable despite them).
    pub warnings: Vec<Diagnostic>,
    /// The Slack app, when a file has a `slack` section. Its secrets come from the
    /// environment (`MUSTER_SLACK_SIGNING_SECRET`, `MUSTER_SLACK_BOT_TOKEN`), never from here.
    pub slack: Option<SlackConfig>,
    /// Drill scenarios (`drills/*.yaml`), keyed by id.
    pub drills: BTreeMap<String, muster_core::drill::Scenario>,
    /// Scripted participants for headless drills (`drills/profiles/*.yaml`), keyed by id.
    pub drill_profiles: BTreeMap<String, muster_core::drill::Profile>,
}

/// Which messages in an incident channel go onto the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineCapture {
    /// Every message.
    All,
    /// Messages somebody reacted to with the configured reaction.
    Reaction,
    /// None.
    Off,
}

/// Who may change what from Slack (`slack.writes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlackWrites {
    /// Anyone the configuration knows may work any incident.
    All,
    /// People change what their teams own, and incidents that brought them in
    /// (`muster_core::access::person_may_change`).
    OwnTeams,
}

/// The `slack` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SlackConfig {
    /// The slash command, e.g. `/muster`.
    pub command: String,
    pub timeline: TimelineCapture,
    /// The reaction (name without colons) that puts a message on the timeline.
    pub reaction: String,
    pub writes: SlackWrites,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            command: "/muster".into(),
            timeline: TimelineCapture::Reaction,
            reaction: "pushpin".into(),
            writes: SlackWrites::All,
        }
    }
}

impl Default for Config {
    /// An empty configuration with the built-in roles, milestones and severities.
    fn default() -> Self {
        Config {
            people: BTreeMap::new(),
            teams: BTreeMap::new(),
            aliases: BTreeMap::new(),
            services: BTreeMap::new(),
            schedules: BTreeMap::new(),
            escalation_policies: BTreeMap::new(),
            policies: BTreeMap::new(),
            playbooks: BTreeMap::new(),
            integrations: BTreeMap::new(),
            roles: BUILTIN_ROLES.iter().map(|r| r.to_string()).collect(),
            milestones: BUILTIN_MILESTONES.iter().map(|m| m.to_string()).collect(),
            severities: Severity::ALL
                .iter()
                .map(|s| (*s, default_severity_description(*s).to_string()))
                .collect(),
            templates: BTreeMap::new(),
            notifications: Default::default(),
            limits: Default::default(),
            status_page: None,
            metrics: Metrics::default(),
            staffing: None,
            warnings: Vec::new(),
            slack: None,
            drills: BTreeMap::new(),
            drill_profiles: BTreeMap::new(),
        }
    }
}

impl Config {
    /// The integration whose secret key (or PagerDuty routing key) is `key`.
    pub fn integration_by_key(&self, key: &str) -> Option<&Integration> {
        self.integrations.values().find(|i| i.key.expose() == key)
    }

    /// The teams that own these services: who may write an incident, alert or silence of
    /// them when a token is limited to teams (`muster_core::access`). Unknown services and
    /// services without an owner add no team.
    pub fn owners_of_services<'a>(
        &self,
        services: impl IntoIterator<Item = &'a String>,
    ) -> BTreeSet<String> {
        services
            .into_iter()
            .filter_map(|s| self.services.get(s)?.owner_team.clone())
            .collect()
    }

    /// What person `id` may write from Slack: every team, or (with `slack.writes: own_teams`)
    /// the teams listing them as members, none if no team does.
    pub fn slack_scope(&self, id: &str) -> muster_core::Scope {
        let limited = self
            .slack
            .as_ref()
            .is_some_and(|s| s.writes == SlackWrites::OwnTeams);
        if !limited {
            return muster_core::Scope::All;
        }
        muster_core::Scope::Teams(
            self.teams
                .values()
                .filter(|t| t.members.iter().any(|m| m == id))
                .map(|t| t.id.clone())
                .collect(),
        )
    }

    /// The team that owns schedule `id`, as a set (empty: a shared schedule, or no such one).
    pub fn owners_of_schedule(&self, id: &str) -> BTreeSet<String> {
        self.schedules
            .get(id)
            .and_then(|s| s.team.clone())
            .into_iter()
            .collect()
    }

    /// Services that `service` depends on, directly or not (not including itself).
    pub fn dependencies_of(&self, service: &str) -> BTreeSet<String> {
        self.closure(service, |s| {
            self.services
                .get(s)
                .map(|svc| svc.depends_on.clone())
                .unwrap_or_default()
        })
    }

    /// Services that depend on `service`, directly or not: its blast radius (not including itself).
    pub fn dependents_of(&self, service: &str) -> BTreeSet<String> {
        self.closure(service, |s| {
            self.services
                .values()
                .filter(|svc| svc.depends_on.iter().any(|d| d == s))
                .map(|svc| svc.id.clone())
                .collect()
        })
    }

    fn closure(&self, start: &str, next: impl Fn(&str) -> Vec<String>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = next(start);
        while let Some(s) = stack.pop() {
            if s != start && seen.insert(s.clone()) {
                stack.extend(next(&s));
            }
        }
        seen
    }

    /// Playbooks whose `match` accepts an incident of this severity, type and services.
    pub fn playbooks_for<'a>(
        &'a self,
        severity: Severity,
        incident_type: Option<&'a str>,
        services: &'a [String],
    ) -> impl Iterator<Item = &'a Playbook> + 'a {
        self.playbooks.values().filter(move |p| {
            let m = &p.matches;
            (m.severity.is_empty() || m.severity.contains(&severity))
                && (m.incident_type.is_empty()
                    || incident_type.is_some_and(|t| m.incident_type.iter().any(|x| x == t)))
                && (m.services.is_empty() || services.iter().any(|s| m.services.contains(s)))
        })
    }
}

// ---------------------------------------------------------------- people, teams, aliases

#[derive(Clone, Debug, Serialize)]
pub struct Person {
    pub id: String,
    pub name: String,
    /// IANA time zone name, checked to exist.
    pub time_zone: String,
    pub contact: Contact,
    pub notification_rules: Vec<NotificationRule>,
}

impl Person {
    pub fn tz(&self) -> Result<jiff::tz::TimeZone, jiff::Error> {
        jiff::tz::TimeZone::get(&self.time_zone)
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Contact {
    pub email: Option<String>,
    pub slack_user: Option<String>,
    /// E.164, e.g. `+442071838750`; used for `sms`, `voice` and `phone`.
    pub phone: Option<String>,
    pub webhook: Option<String>,
    /// The person's ntfy topic, used for `push`: 1–64 of `[-_A-Za-z0-9]`. On a public ntfy
    /// server the topic is the only access control, so it should be hard to guess.
    pub push_topic: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NotificationRule {
    pub channel: Channel,
    /// Delay after the page, if still unacknowledged.
    pub after: Duration,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Slack,
    Email,
    Sms,
    Webhook,
    /// A voice call, kept under its older name for existing configs: the server calls through
    /// the voice provider when one is configured and falls back to SMS otherwise.
    Phone,
    /// A voice call (a Twilio-compatible Voice API) to `contact.phone`.
    Voice,
    /// A push message to `contact.push_topic` on an ntfy server.
    Push,
}

#[derive(Clone, Debug, Serialize)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub members: Vec<String>,
}

/// A named audience that resolves to people, teams, schedules and channels.
#[derive(Clone, Debug, Serialize)]
pub struct Alias {
    pub id: String,
    pub description: Option<String>,
    pub people: Vec<String>,
    pub teams: Vec<String>,
    pub schedules: Vec<String>,
    pub slack_channels: Vec<String>,
    pub emails: Vec<String>,
}

// ---------------------------------------------------------------- services

#[derive(Clone, Debug, Serialize)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub owner_team: Option<String>,
    pub escalation_policy: Option<String>,
    /// Direct dependencies (acyclic across the config).
    pub depends_on: Vec<String>,
    /// People who know this service well.
    pub experts: Vec<String>,
}

// ---------------------------------------------------------------- schedules

#[derive(Clone, Debug, Serialize)]
pub struct Schedule {
    pub id: String,
    pub name: String,
    pub time_zone: String,
    pub team: Option<String>,
    /// Later layers take precedence over earlier ones where they have someone on call.
    pub layers: Vec<Layer>,
    pub overrides: Vec<Override>,
}

impl Schedule {
    pub fn tz(&self) -> Result<jiff::tz::TimeZone, jiff::Error> {
        jiff::tz::TimeZone::get(&self.time_zone)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Layer {
    pub name: String,
    pub members: Vec<String>,
    /// Length of one shift (> 0): calendar days/weeks in the schedule's zone, or absolute hours.
    pub shift: ShiftLength,
    /// Local time of day (in the schedule's time zone) at which shifts change.
    pub handoff: TimeOfDay,
    /// First day of the rotation; the first member's first shift starts at `handoff` that day.
    pub start: jiff::civil::Date,
    /// When non-empty, the layer only covers these windows.
    pub restrictions: Vec<Restriction>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Restriction {
    pub days: Vec<Weekday>,
    pub from: TimeOfDay,
    /// `to` earlier than `from` means the window crosses midnight into the next day.
    pub to: TimeOfDay,
}

impl Restriction {
    pub fn crosses_midnight(&self) -> bool {
        self.to <= self.from
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Override {
    pub person: String,
    /// The person replaced; `None` replaces whoever is on call.
    pub replaces: Option<String>,
    pub from: jiff::Timestamp,
    pub to: jiff::Timestamp,
    pub reason: Option<String>,
}

/// A local wall-clock time `HH:MM`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    pub hour: u8,
    pub minute: u8,
}

impl TimeOfDay {
    pub fn minutes_since_midnight(self) -> u32 {
        u32::from(self.hour) * 60 + u32::from(self.minute)
    }

    pub fn to_civil(self) -> jiff::civil::Time {
        // hour < 24 and minute < 60 are guaranteed by parsing
        jiff::civil::Time::new(self.hour as i8, self.minute as i8, 0, 0).unwrap_or_default()
    }
}

impl FromStr for TimeOfDay {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid time `{s}` (expected HH:MM between 00:00 and 23:59)");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        let digits = |x: &str, max_len| {
            !x.is_empty() && x.len() <= max_len && x.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(h, 2) || m.len() != 2 || !digits(m, 2) {
            return Err(bad());
        }
        let hour: u8 = h.parse().map_err(|_| bad())?;
        let minute: u8 = m.parse().map_err(|_| bad())?;
        if hour > 23 || minute > 59 {
            return Err(bad());
        }
        Ok(TimeOfDay { hour, minute })
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// 0 for Monday .. 6 for Sunday.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn to_jiff(self) -> jiff::civil::Weekday {
        use jiff::civil::Weekday as J;
        match self {
            Weekday::Mon => J::Monday,
            Weekday::Tue => J::Tuesday,
            Weekday::Wed => J::Wednesday,
            Weekday::Thu => J::Thursday,
            Weekday::Fri => J::Friday,
            Weekday::Sat => J::Saturday,
            Weekday::Sun => J::Sunday,
        }
    }

    pub fn name(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self.index()]
    }
}

// ---------------------------------------------------------------- escalation

#[derive(Clone, Debug, Serialize)]
pub struct EscalationPolicy {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// How many times the whole list of steps is repeated after the first pass.
    pub repeat: u32,
    pub steps: Vec<EscalationStep>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EscalationStep {
    pub targets: Vec<Target>,
    /// Wait before the next step (or the next repeat) if nobody acknowledged.
    pub delay: Duration,
}

/// Who an escalation step pages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Schedule(String),
    Person(String),
    Alias(String),
    SlackChannel(String),
}

// ---------------------------------------------------------------- policies

pub use muster_core::schedule::ShiftLength;
pub use muster_core::{Severity, Status};

/// What a severity means when the configuration does not say.
pub fn default_severity_description(severity: Severity) -> &'static str {
    match severity {
        Severity::Sev1 => "Critical: customer-facing outage or data loss",
        Severity::Sev2 => "Major: significant degradation for many customers",
        Severity::Sev3 => "Minor: limited impact, a workaround exists",
        Severity::Sev4 => "Low: no customer impact yet",
    }
}

/// Conditions on an incident (all given ones must hold; an empty list means "any").
#[derive(Clone, Debug, Default, Serialize)]
pub struct Conditions {
    pub severity: Vec<Severity>,
    pub services: Vec<String>,
    pub status: Vec<Status>,
    pub incident_type: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Policy {
    pub id: String,
    pub description: Option<String>,
    pub when: Conditions,
    pub trigger: Trigger,
    /// Deadline triggers only: run `warn_before` the deadline.
    pub on_warn: Vec<Action>,
    /// Deadline triggers only: run when the deadline passes without the expected milestone.
    pub on_missed: Vec<Action>,
    /// Other triggers: run when the trigger fires.
    pub actions: Vec<Action>,
    /// Where the policy is defined (relative to the config dir), for explanations.
    pub source: SourceLocation,
}

/// A place in the config directory (`path` relative to it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SourceLocation {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `expect` must be reached within `within` of milestone `of` (`notified` for an
    /// acknowledgement: its audience's first notification).
    Deadline {
        within: Duration,
        of: String,
        expect: Expect,
        warn_before: Option<Duration>,
    },
    OnEvent(Event),
    /// Fires every `every` while `while_` holds; the count restarts on `reset_on`.
    Cadence {
        every: Duration,
        reset_on: Option<String>,
        #[serde(rename = "while")]
        while_: Conditions,
        /// If the cadence is missed by this much, `escalate_to` is told.
        escalate_after: Option<Duration>,
        escalate_to: Option<Recipient>,
    },
    /// Fires when one person has been the only responder for this long.
    SoloResponder {
        #[serde(rename = "for")]
        for_: Duration,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Milestone(String),
    Status(Status),
    SeverityChanged,
}

// A policy's recipients and actions are the engine's own types: one definition, and one
// JSON shape of an action in the config listing, the timeline and the outbox.
pub use muster_core::engine::{
    Action, Assignee, Audience, Expect, NOTIFIED, PageTarget, Recipient,
};

// ---------------------------------------------------------------- playbooks

#[derive(Clone, Debug, Serialize)]
pub struct Playbook {
    pub id: String,
    pub description: Option<String>,
    #[serde(rename = "match")]
    pub matches: Conditions,
    pub notify: Vec<Notification>,
    pub tasks: Vec<String>,
    pub links: Vec<Link>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub alias: String,
    pub template: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Link {
    pub title: String,
    pub url: String,
}

// ---------------------------------------------------------------- metrics

/// The `metrics` section.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Metrics {
    /// The bearer token `GET /metrics` requires; `None`: open. Never serialized or printed.
    #[serde(skip_serializing)]
    pub token: Option<Secret>,
}

// ---------------------------------------------------------------- integrations

#[derive(Clone, Debug, Serialize)]
pub struct Integration {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: IntegrationType,
    /// Secret; never serialized or printed.
    #[serde(skip_serializing)]
    pub key: Secret,
    /// Default service for alerts no route matches.
    pub service: Option<String>,
    pub routes: Vec<Route>,
    /// Source severity label value → incident severity.
    pub severity_map: BTreeMap<String, Severity>,
    pub group_by: Vec<String>,
    pub group_window: Option<Duration>,
    pub auto_resolve: bool,
    pub heartbeat: Option<Heartbeat>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationType {
    Alertmanager,
    PagerdutyEventsV2,
    Generic,
    Heartbeat,
}

#[derive(Clone, Debug, Serialize)]
pub struct Route {
    /// Label name → exact value; all must match.
    #[serde(rename = "match")]
    pub matches: BTreeMap<String, String>,
    pub service: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Heartbeat {
    pub interval: Duration,
    pub grace: Duration,
}

/// The integration keys' type, shared with the outgoing channels (`Debug` hides the value).
pub use muster_core::Secret;

// ---------------------------------------------------------------- templates

#[derive(Clone, Debug, Serialize)]
pub struct Template {
    pub name: String,
    /// Path relative to the config directory.
    pub path: PathBuf,
    pub text: String,
}

// ---------------------------------------------------------------- status page

/// The public status page: what customers see, in their words, not the service catalogue's.
#[derive(Clone, Debug, Serialize)]
pub struct StatusPage {
    pub title: String,
    /// Where the page is published (links in the feed and JSON); `None`: relative links.
    pub url: Option<String>,
    /// IANA zone the page shows times in (Statuspage's `page.time_zone`); default `Etc/UTC`.
    pub time_zone: String,
    /// Public updates need the approval of the incident's comms lead (or an admin) before
    /// they are published. Default `true`.
    pub require_approval: bool,
    /// In file order: the order the page shows them.
    pub groups: Vec<ComponentGroup>,
    /// In file order.
    pub components: Vec<Component>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ComponentGroup {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Component {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub group: Option<String>,
    /// Internal services whose incidents affect this component.
    pub services: Vec<String>,
}

impl StatusPage {
    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }

    /// The components an incident on these internal services affects.
    pub fn components_for_services<'a>(
        &'a self,
        services: &'a [String],
    ) -> impl Iterator<Item = &'a Component> + 'a {
        self.components
            .iter()
            .filter(move |c| c.services.iter().any(|s| services.contains(s)))
    }
}
