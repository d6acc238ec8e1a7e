//! Who may do what through the API: the access level carried by an API token.
//!
//! | Operation | Role needed |
//! |---|---|
//! | Calendar feeds (`/ical/…?token=`), and only those | feed (no other role) |
//! | Read incidents, timelines, schedules, on-call, overrides, alerts, silences, audit, inbox | viewer |
//! | Declare and work incidents; read dead letters; acknowledge and resolve alerts; create and end silences; create, draft and publish public updates, approve them as the incident's `comms_lead` | responder |
//! | Run-time schedule overrides (create, remove) | admin |
//! | Configuration reloads; approving any public update (never one's own draft); assigning `comms_lead` without being the incident commander | admin |
//!
//! Overrides change who is paged for every team that escalates to the schedule, and tokens
//! carry no team, so a responder cannot be limited to their own team's schedules: overrides
//! are admin-only (403 for viewers and responders).

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
}
