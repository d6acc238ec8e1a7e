//! Policies as the engine sees them: plain data, converted from the config by
//! `muster_config` (`Config::engine_policies`). Durations are `SignedDuration`s (never negative).

use std::collections::BTreeMap;

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use crate::incident::severity::{Severity, Status};

/// One rule: conditions, one trigger, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// `[a-z0-9][a-z0-9_-]*`: never contains `:` (timer and idempotency keys rely on it).
    pub id: String,
    pub when: Conditions,
    pub trigger: Trigger,
    /// Deadline only: run `warn_before` the deadline.
    pub on_warn: Vec<Action>,
    /// Deadline only: run when the deadline passes without the expected milestone.
    pub on_missed: Vec<Action>,
    /// The other triggers: run when the trigger fires.
    pub actions: Vec<Action>,
}

/// Conditions on the incident; every non-empty one must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conditions {
    pub severity: Vec<Severity>,
    /// At least one of the incident's services is listed.
    pub services: Vec<String>,
    pub status: Vec<Status>,
    pub incident_type: Vec<String>,
    /// Every label must be present with this exact value.
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `expect` must be reached within `within` of milestone `of` (for
    /// [`Expect::AcknowledgedBy`], `of` is [`NOTIFIED`]: the audience's first notification).
    Deadline {
        within: SignedDuration,
        of: String,
        expect: Expect,
        warn_before: Option<SignedDuration>,
    },
    OnEvent(EventTrigger),
    /// Fires every `every` while `while_` (and the policy's `when`) holds; `reset_on` restarts
    /// the count; a reminder not followed by `reset_on` within `escalate_after` goes to
    /// `escalate_to`.
    Cadence {
        every: SignedDuration,
        reset_on: Option<String>,
        while_: Conditions,
        escalate_after: Option<SignedDuration>,
        escalate_to: Option<Recipient>,
    },
    /// One person has been the only responder for this long, nobody joined, no status update.
    SoloResponder {
        for_: SignedDuration,
    },
}

/// The `of` of a deadline counted from when its audience was first notified.
pub const NOTIFIED: &str = "notified";

/// What a deadline waits for. Serialized as configs write it: a milestone as its id,
/// `{"role": "comms_lead"}`, `{"acknowledged_by": {"alias": "legal"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "ExpectRepr", from = "ExpectRepr")]
pub enum Expect {
    /// A milestone is reached.
    Milestone(String),
    /// Someone holds the role (first time it is held).
    Role(String),
    /// A notification addressed to the audience is acknowledged by one of its recipients.
    AcknowledgedBy(Audience),
}

impl Expect {
    /// How the expectation reads in keys, outcomes and the timeline: `mitigated`,
    /// `role:comms_lead`, `acknowledged_by:alias:legal`.
    pub fn key(&self) -> String {
        match self {
            Expect::Milestone(m) => m.clone(),
            Expect::Role(r) => format!("role:{r}"),
            Expect::AcknowledgedBy(a) => format!("acknowledged_by:{}", a.key()),
        }
    }

    /// The milestone expected, if that is what is expected.
    pub fn milestone(&self) -> Option<&str> {
        match self {
            Expect::Milestone(m) => Some(m),
            _ => None,
        }
    }

    /// What the deadline counts from, given its `of`: the audience's first notification for an
    /// acknowledgement, else the milestone `of`.
    pub fn start_key(&self, of: &str) -> String {
        match self {
            Expect::AcknowledgedBy(a) => notified_key(a),
            _ => of.to_string(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ExpectRepr {
    Milestone(String),
    Typed(TypedExpect),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TypedExpect {
    Milestone(String),
    Role(String),
    AcknowledgedBy(Audience),
}

impl From<Expect> for ExpectRepr {
    fn from(e: Expect) -> Self {
        match e {
            Expect::Milestone(m) => ExpectRepr::Milestone(m),
            Expect::Role(r) => ExpectRepr::Typed(TypedExpect::Role(r)),
            Expect::AcknowledgedBy(a) => ExpectRepr::Typed(TypedExpect::AcknowledgedBy(a)),
        }
    }
}

impl From<ExpectRepr> for Expect {
    fn from(e: ExpectRepr) -> Self {
        match e {
            ExpectRepr::Milestone(m) | ExpectRepr::Typed(TypedExpect::Milestone(m)) => {
                Expect::Milestone(m)
            }
            ExpectRepr::Typed(TypedExpect::Role(r)) => Expect::Role(r),
            ExpectRepr::Typed(TypedExpect::AcknowledgedBy(a)) => Expect::AcknowledgedBy(a),
        }
    }
}

impl From<&str> for Expect {
    fn from(milestone: &str) -> Self {
        Expect::Milestone(milestone.to_string())
    }
}

/// Who a notification is addressed to, as a policy or playbook names them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    Alias(String),
    Schedule(String),
    Person(String),
}

impl Audience {
    /// `alias:legal`, `schedule:legal-oncall`, `person:alice`.
    pub fn key(&self) -> String {
        match self {
            Audience::Alias(x) => format!("alias:{x}"),
            Audience::Schedule(x) => format!("schedule:{x}"),
            Audience::Person(x) => format!("person:{x}"),
        }
    }

    /// The inverse of [`Audience::key`].
    pub fn parse(key: &str) -> Option<Audience> {
        let (kind, id) = key.split_once(':')?;
        Some(match kind {
            "alias" => Audience::Alias(id.into()),
            "schedule" => Audience::Schedule(id.into()),
            "person" => Audience::Person(id.into()),
            _ => return None,
        })
    }
}

/// The key of "`audience` was first notified" among an incident's reached facts.
pub fn notified_key(audience: &Audience) -> String {
    format!("notified:{}", audience.key())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventTrigger {
    Milestone(String),
    Status(Status),
    SeverityChanged,
}

/// Who an ignored cadence reminder escalates to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    Role(String),
    Schedule(String),
    Person(String),
    Alias(String),
    EscalationPolicy(String),
}

impl Recipient {
    /// The action an escalation to this recipient takes: a role holder is nudged, anybody
    /// else is paged.
    pub fn escalation_action(&self) -> Action {
        match self {
            Recipient::Role(role) => Action::Nudge {
                role: role.clone(),
                template: None,
            },
            Recipient::Schedule(s) => Action::Page {
                target: PageTarget::Schedule(s.clone()),
            },
            Recipient::Person(p) => Action::Page {
                target: PageTarget::Person(p.clone()),
            },
            Recipient::Alias(a) => Action::Page {
                target: PageTarget::Alias(a.clone()),
            },
            Recipient::EscalationPolicy(e) => Action::Page {
                target: PageTarget::EscalationPolicy(e.clone()),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageTarget {
    Schedule(String),
    EscalationPolicy(String),
    Person(String),
    Alias(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assignee {
    Schedule(String),
    Person(String),
}

/// What a policy does. The shell turns each into an outbox record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Page {
        target: PageTarget,
    },
    Notify {
        alias: String,
        template: String,
    },
    Nudge {
        role: String,
        template: Option<String>,
    },
    AssignRole {
        role: String,
        to: Assignee,
    },
    CreateTask {
        title: String,
    },
    DraftStatusUpdate {
        template: Option<String>,
    },
}

impl Action {
    /// The audience this action notifies: a notify's alias, a page's schedule, person or alias
    /// (a page to an escalation policy reaches its steps' targets over time, none of them here).
    pub fn audience(&self) -> Option<Audience> {
        match self {
            Action::Notify { alias, .. } => Some(Audience::Alias(alias.clone())),
            Action::Page { target } => match target {
                PageTarget::Alias(a) => Some(Audience::Alias(a.clone())),
                PageTarget::Schedule(s) => Some(Audience::Schedule(s.clone())),
                PageTarget::Person(p) => Some(Audience::Person(p.clone())),
                PageTarget::EscalationPolicy(_) => None,
            },
            _ => None,
        }
    }

    /// `page`, `notify`, … as written in config and test files.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Page { .. } => "page",
            Action::Notify { .. } => "notify",
            Action::Nudge { .. } => "nudge",
            Action::AssignRole { .. } => "assign_role",
            Action::CreateTask { .. } => "create_task",
            Action::DraftStatusUpdate { .. } => "draft_status_update",
        }
    }

    /// The action's fields as `(name, value)` pairs, in the names config files use.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        match self {
            Action::Page { target } => vec![match target {
                PageTarget::Schedule(s) => ("schedule", s.as_str()),
                PageTarget::EscalationPolicy(s) => ("escalation_policy", s.as_str()),
                PageTarget::Person(s) => ("person", s.as_str()),
                PageTarget::Alias(s) => ("alias", s.as_str()),
            }],
            Action::Notify { alias, template } => {
                vec![("alias", alias.as_str()), ("template", template.as_str())]
            }
            Action::Nudge { role, template } => {
                let mut v = vec![("role", role.as_str())];
                if let Some(t) = template {
                    v.push(("template", t.as_str()));
                }
                v
            }
            Action::AssignRole { role, to } => vec![
                ("role", role.as_str()),
                match to {
                    Assignee::Schedule(s) => ("schedule", s.as_str()),
                    Assignee::Person(p) => ("person", p.as_str()),
                },
            ],
            Action::CreateTask { title } => vec![("title", title.as_str())],
            Action::DraftStatusUpdate { template } => match template {
                Some(t) => vec![("template", t.as_str())],
                None => vec![],
            },
        }
    }
}

impl std::fmt::Display for Action {
    /// `page {schedule: platform-secondary}`: the shape of a test file's `expect` entry.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {{", self.kind())?;
        for (i, (k, v)) in self.fields().into_iter().enumerate() {
            write!(f, "{}{k}: {v}", if i == 0 { "" } else { ", " })?;
        }
        f.write_str("}")
    }
}
