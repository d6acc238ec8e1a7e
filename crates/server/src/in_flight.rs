//! Load shedding by route class. Each class has its own in-flight budget, so a flood of slow
//! uploads to the intake routes cannot take the API, the public pages or Slack down with it,
//! and health checks (`/healthz`, `/readyz`, `/metrics`) draw from none: an orchestrator must
//! always hear how the server is. Beyond a budget the answer is 503 + Retry-After at once,
//! never a queue that grows until clients time out.

use std::sync::Arc;

use muster_config::InFlightBudgets;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Which budget a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// Alert intake: webhooks, events, heartbeats (the largest bodies, the most senders).
    Intake,
    /// The authenticated API.
    Api,
    /// The public status page and calendar feeds.
    Public,
    /// Slack's callbacks (Slack retries after 3 s, so they must not wait behind others).
    Slack,
}

impl RouteClass {
    /// The class of a request path; `None` for the health checks, which are never shed.
    pub fn of(path: &str) -> Option<RouteClass> {
        match path {
            "/healthz" | "/readyz" | "/metrics" => None,
            p if p.starts_with("/api/v1/integrations/")
                || p.starts_with("/api/v1/heartbeats/")
                || p == "/v2/enqueue" =>
            {
                Some(RouteClass::Intake)
            }
            p if p.starts_with("/slack/") => Some(RouteClass::Slack),
            p if p.starts_with("/status")
                || p.starts_with("/ical/")
                || p.starts_with("/ack/")
                || p.starts_with("/hooks/") =>
            {
                Some(RouteClass::Public)
            }
            _ => Some(RouteClass::Api),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RouteClass::Intake => "intake",
            RouteClass::Api => "api",
            RouteClass::Public => "public",
            RouteClass::Slack => "slack",
        }
    }
}

/// One semaphore per class.
#[derive(Debug, Clone)]
pub struct InFlight {
    budgets: [(RouteClass, Arc<Semaphore>); 4],
}

impl InFlight {
    /// The budgets of `limits.in_flight` (defaults: intake gets the most, since alert storms
    /// are bursts of small, quick requests; the sum bounds the memory for bodies being read).
    pub fn new(budgets: &InFlightBudgets) -> Self {
        InFlight::of([
            (RouteClass::Intake, budgets.intake),
            (RouteClass::Api, budgets.api),
            (RouteClass::Public, budgets.public),
            (RouteClass::Slack, budgets.slack),
        ])
    }

    fn of(budgets: [(RouteClass, usize); 4]) -> Self {
        InFlight {
            budgets: budgets.map(|(c, n)| (c, Arc::new(Semaphore::new(n)))),
        }
    }

    /// Every class capped at `n` (tests).
    pub fn uniform(n: usize) -> Self {
        InFlight::of(
            [
                RouteClass::Intake,
                RouteClass::Api,
                RouteClass::Public,
                RouteClass::Slack,
            ]
            .map(|c| (c, n)),
        )
    }

    /// Slots of `class`'s budget free now.
    pub fn available(&self, class: RouteClass) -> usize {
        self.budgets
            .iter()
            .find(|(c, _)| *c == class)
            .map_or(0, |(_, sem)| sem.available_permits())
    }

    /// A slot of `class`'s budget, held until the response is sent; `None` when it is spent.
    pub fn try_acquire(&self, class: RouteClass) -> Option<OwnedSemaphorePermit> {
        let (_, sem) = self.budgets.iter().find(|(c, _)| *c == class)?;
        sem.clone().try_acquire_owned().ok()
    }
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight::new(&InFlightBudgets::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_into_their_classes_and_health_checks_into_none() {
        for (path, class) in [
            ("/healthz", None),
            ("/readyz", None),
            ("/metrics", None),
            (
                "/api/v1/integrations/k/alertmanager",
                Some(RouteClass::Intake),
            ),
            ("/api/v1/heartbeats/k", Some(RouteClass::Intake)),
            ("/v2/enqueue", Some(RouteClass::Intake)),
            ("/slack/commands", Some(RouteClass::Slack)),
            ("/status", Some(RouteClass::Public)),
            ("/status/history.atom", Some(RouteClass::Public)),
            ("/ical/schedules/x.ics", Some(RouteClass::Public)),
            ("/api/v1/incidents", Some(RouteClass::Api)),
            ("/openapi.json", Some(RouteClass::Api)),
        ] {
            assert_eq!(RouteClass::of(path), class, "{path}");
        }
    }

    #[test]
    fn one_class_spent_leaves_the_others_free() {
        let f = InFlight::uniform(1);
        let held = f
            .try_acquire(RouteClass::Intake)
            .expect("first intake slot");
        assert!(f.try_acquire(RouteClass::Intake).is_none());
        for other in [RouteClass::Api, RouteClass::Public, RouteClass::Slack] {
            assert!(f.try_acquire(other).is_some(), "{other:?}");
        }
        drop(held);
        assert!(f.try_acquire(RouteClass::Intake).is_some());
    }
}
