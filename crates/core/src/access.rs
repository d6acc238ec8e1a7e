//! Who may do what through the API: the access level carried by an API token, and the teams
//! it may be limited to.
//!
//! | Operation | Role needed |
//! |---|---|
//! | Calendar feeds (`/ical/…?token=`), and only those | feed (no other role) |
//! | Read incidents, timelines, schedules, on-call, overrides, alerts, silences, audit, inbox | viewer |
//! | Declare and work incidents; read dead letters; acknowledge and resolve alerts; create and end silences; create, draft and publish public updates, approve them as the incident's `comms_lead` | responder |
//! | Taking the pager now for oneself, on a schedule one rotates in ([`may_take_pager`]) | responder |
//! | Run-time schedule overrides (create, remove) | admin |
//! | Configuration reloads; approving any public update (never one's own draft); assigning `comms_lead` without being the incident commander | admin |
//!
//! A token may also be limited to teams ([`Scope`]). Such a token reads everything its role
//! reads, but writes only what its teams own:
//!
//! | What is written | Owned by |
//! |---|---|
//! | An incident (every change, its notifications, its public updates) | the owner teams of its services |
//! | A declaration | the owner teams of the services it names |
//! | A silence | the owner team of its service |
//! | An alert (acknowledge, resolve) | the owner team of its service |
//! | A schedule's overrides | the schedule's team |
//! | A drill (start, inject, pause, end) | nobody: drills are exercises and change no team's incidents, schedules or alerts, so any scope may run one |
//! | Configuration reloads, and every write not listed here | every team: never a limited token |
//!
//! A thing no team owns (an incident with no owned service yet, a schedule without a team) is
//! shared: every scope covers it, because an untriaged incident must be workable by whoever
//! was paged for it.
//!
//! In Slack, where people act rather than tokens, `slack.writes: own_teams` limits each person
//! to their teams (the teams listing them as members), and also lets them change an incident
//! that brought them in: one where they hold a role or respond ([`person_may_change`]).
//!
//! Overrides change who is paged for every team that escalates to the schedule, so they stay
//! admin-only (403 for viewers and responders); a limited admin overrides its teams'
//! schedules only.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Access levels, each including the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Reads calendar feeds (`/ical/…?token=`) and nothing else: a token that sits in a URL
    /// (calendar apps store and share it) must not open the API. The API refuses it (401),
    /// and the feeds refuse every other token (403).
    Feed,
    /// Reads everything, changes nothing.
    Viewer,
    /// Declares and works incidents.
    Responder,
    /// Also manages tokens, run-time schedule overrides and configuration reloads.
    Admin,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Feed => "feed",
            Access::Viewer => "viewer",
            Access::Responder => "responder",
            Access::Admin => "admin",
        }
    }

    /// Whether a holder of `self` may do what needs `needed`.
    pub fn allows(self, needed: Access) -> bool {
        self >= needed
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Access {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Access::Viewer),
            "feed" => Ok(Access::Feed),
            "responder" => Ok(Access::Responder),
            "admin" => Ok(Access::Admin),
            other => Err(format!(
                "unknown role `{other}`; expected admin, responder, viewer or feed"
            )),
        }
    }
}

/// The teams a token or person may write for: all of them, or a named few.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    #[default]
    All,
    /// A token's is never empty ([`Scope::teams`] makes `All` of none). A person in no team
    /// has an empty one: they may write only what no team owns.
    Teams(BTreeSet<String>),
}

impl Scope {
    /// A scope of these teams; `All` when there are none.
    pub fn teams<I: IntoIterator<Item = S>, S: Into<String>>(teams: I) -> Scope {
        let set: BTreeSet<String> = teams.into_iter().map(Into::into).collect();
        if set.is_empty() {
            Scope::All
        } else {
            Scope::Teams(set)
        }
    }

    /// Whether a holder of this scope may write a thing owned by `owners`: any shared team
    /// suffices, and a thing with no owner is shared by everyone.
    pub fn covers(&self, owners: &BTreeSet<String>) -> bool {
        match self {
            Scope::All => true,
            Scope::Teams(mine) => owners.is_empty() || !mine.is_disjoint(owners),
        }
    }

    /// Whether this scope is every team (what global operations need).
    pub fn is_all(&self) -> bool {
        matches!(self, Scope::All)
    }

    /// The teams, `None` for all.
    pub fn team_list(&self) -> Option<Vec<&str>> {
        match self {
            Scope::All => None,
            Scope::Teams(t) => Some(t.iter().map(String::as_str).collect()),
        }
    }
}

/// Whether a person limited to `scope` may change `incident`, which `owners` own: their teams
/// own it, or the incident brought them in (they hold a role on it or respond to it). A
/// person paged from another team's rotation must be able to work what they were paged for.
pub fn person_may_change(
    scope: &Scope,
    owners: &BTreeSet<String>,
    incident: &crate::Incident,
    person: &str,
) -> bool {
    scope.covers(owners)
        || incident.responders.iter().any(|p| p == person)
        || incident.roles.values().any(|h| h.person == person)
}

/// Whether a holder of `access` may take the pager of a schedule for themselves: admins on
/// any schedule; responders on one they rotate in, because the pager then only moves between
/// people who already carry it (other overrides stay admin-only).
pub fn may_take_pager(access: Access, rotates_in: bool) -> bool {
    access.allows(Access::Admin) || (access.allows(Access::Responder) && rotates_in)
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("all teams"),
            Scope::Teams(t) if t.is_empty() => f.write_str("no team"),
            Scope::Teams(t) => {
                let list: Vec<&str> = t.iter().map(String::as_str).collect();
                write!(
                    f,
                    "team{} {}",
                    if t.len() == 1 { "" } else { "s" },
                    list.join(", ")
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_levels_nest() {
        assert!(Access::Admin.allows(Access::Responder));
        assert!(Access::Responder.allows(Access::Viewer));
        assert!(!Access::Viewer.allows(Access::Responder));
        assert!(
            !Access::Feed.allows(Access::Viewer),
            "a feed token reads no API"
        );
        assert_eq!("feed".parse::<Access>().unwrap(), Access::Feed);
        assert!(!Access::Responder.allows(Access::Admin));
        assert_eq!("responder".parse::<Access>().unwrap(), Access::Responder);
        assert!("root".parse::<Access>().is_err());
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_limited_scope_covers_its_teams_and_what_nobody_owns() {
        let payments = Scope::teams(["payments"]);
        assert!(payments.covers(&set(&["payments"])));
        assert!(
            payments.covers(&set(&["identity", "payments"])),
            "any shared team"
        );
        assert!(!payments.covers(&set(&["identity"])));
        assert!(payments.covers(&set(&[])), "unowned things are shared");
        assert!(Scope::All.covers(&set(&["identity"])));
        assert!(Scope::All.is_all() && !payments.is_all());
        assert_eq!(Scope::teams(Vec::<String>::new()), Scope::All);
        assert_eq!(payments.to_string(), "team payments");
        assert_eq!(Scope::teams(["b", "a"]).to_string(), "teams a, b");
    }

    #[test]
    fn the_pager_is_taken_by_its_rotation_or_an_admin() {
        assert!(may_take_pager(Access::Responder, true));
        assert!(!may_take_pager(Access::Responder, false));
        assert!(may_take_pager(Access::Admin, false));
        assert!(!may_take_pager(Access::Viewer, true));
        assert!(!may_take_pager(Access::Feed, true));
    }
}
