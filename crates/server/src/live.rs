//! Live updates: every commit of an incident change made through the reactions on this node
//! is announced here after it committed, for the web UI's server-sent events. Commits made
//! by other nodes reach this node's subscribers through the store's wake-ups (`pg_notify`
//! on timer and outbox writes) as an announcement without an incident.

use muster_core::IncidentNumber;
use tokio::sync::broadcast;

/// Announcements kept for a slow subscriber before it skips ahead (it then reloads).
const CAPACITY: usize = 1024;

/// What changed: one incident, or possibly any (`None`).
pub type Changed = Option<IncidentNumber>;

/// The node's announcement channel; cheap to clone.
#[derive(Debug, Clone)]
pub struct Changes {
    tx: broadcast::Sender<Changed>,
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Changes {
    /// Announces a committed change (nobody listening is fine).
    pub fn publish(&self, changed: Changed) {
        let _ = self.tx.send(changed);
    }

    /// Announcements from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Changed> {
        self.tx.subscribe()
    }

    /// Subscribers now (tests and metrics).
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}
