//! What "brief me" shows of a run of timeline events, folded once and combinable.
//!
//! A [`Digest`] of events `a..c` equals the digest of `a..b` followed by ([`Digest::then`])
//! the digest of `b..c`, for any `b`. The timeline is append-only, so the digest of a full
//! block of [`DIGEST_BLOCK`] events never changes: the store keeps one per block, and a brief
//! of 5,000 unseen events folds at most two partial blocks and combines the rest, instead of
//! decoding every event per request.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::DeadlineResult;
use super::catchup::{LISTED, NoteLine, Transition};
use super::events::{self, PageRecord};
use super::text::{QUOTE_CHARS, plain};
use crate::incident::{Severity, Status};
use crate::timeline::{Change, TimelineEvent};

/// Events per stored digest: a brief reads at most twice this many events and one digest per
/// block in between.
pub const DIGEST_BLOCK: i64 = 256;

/// The digest's format. A stored digest of another version is folded again from its events,
/// so changing what a digest holds needs only this bumped.
pub const DIGEST_VERSION: i64 = 1;

/// How the events `start..=last` (by `seq`, which starts at 1) are read for a digest: the
/// events before the first full block, the full blocks' stored digests, the events after the
/// last full block. Block `k` holds the events `k·B+1 ..= (k+1)·B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Events to read and fold before the blocks (inclusive seq range).
    pub head: Option<(i64, i64)>,
    /// Full blocks whose digests are read (inclusive block range).
    pub blocks: Option<(i64, i64)>,
    /// Events to read and fold after the blocks.
    pub tail: Option<(i64, i64)>,
}

impl Plan {
    pub fn new(start: i64, last: i64) -> Plan {
        let start = start.max(1);
        // The first block starting at or after `start`, and the last one `last` completes.
        let first = (start - 1 + DIGEST_BLOCK - 1) / DIGEST_BLOCK;
        let end = last / DIGEST_BLOCK - 1;
        let range = |a: i64, b: i64| (a <= b).then_some((a, b));
        if first > end {
            return Plan {
                head: range(start, last),
                blocks: None,
                tail: None,
            };
        }
        Plan {
            head: range(start, first * DIGEST_BLOCK),
            blocks: Some((first, end)),
            tail: range((end + 1) * DIGEST_BLOCK + 1, last),
        }
    }

    /// The events of block `k`.
    pub fn block_seqs(k: i64) -> (i64, i64) {
        (k * DIGEST_BLOCK + 1, (k + 1) * DIGEST_BLOCK)
    }
}

/// Something reached at a time: a milestone, or a key a deadline may expect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reached {
    pub key: String,
    pub at: Timestamp,
}

/// A deadline outcome and whether it was recorded at expiry with its milestone still to come
/// (the milestone's first arrival then makes it late instead of missed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub result: DeadlineResult,
    pub awaiting: bool,
}

/// The fold of a run of events, as the brief needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// Events folded.
    pub events: usize,
    pub severity_changes: Vec<Transition<Severity>>,
    pub status_changes: Vec<Transition<Status>>,
    pub milestones: Vec<Reached>,
    /// One per deadline instance, in order of first record.
    pub outcomes: Vec<Outcome>,
    /// The first arrival in this run of each key a deadline may expect: what an earlier
    /// run's outcomes awaiting a milestone learn when the runs are combined.
    pub first_reached: Vec<Reached>,
    /// The latest [`LISTED`] pages (nudges left out), oldest first.
    pub paged: Vec<PageRecord>,
    pub paged_total: usize,
    pub joined: Vec<String>,
    pub left: Vec<String>,
    pub notes: usize,
    /// The latest note, already cut to a quotable length.
    pub latest_note: Option<NoteLine>,
}

impl Digest {
    /// The digest of `events`, in timeline order.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a TimelineEvent>) -> Digest {
        let mut d = Digest::default();
        let mut last_note = None;
        for e in events {
            if let Some(text) = d.push(e) {
                last_note = Some((e, text));
            }
        }
        // Only the latest note is quoted, so only it is cleaned up.
        d.latest_note = last_note.map(|(e, text)| NoteLine {
            at: e.at,
            actor: e.actor.clone(),
            text: plain(text, QUOTE_CHARS),
        });
        d
    }

    /// Folds one event; a note's text is handed back for the caller to keep if it is the last.
    fn push<'a>(&mut self, e: &'a TimelineEvent) -> Option<&'a str> {
        self.events += 1;
        if let Some(key) = events::reached_key(&e.change) {
            events::arrive(&mut self.outcomes, &key, e.at);
            if !self.first_reached.iter().any(|r| r.key == key) {
                self.first_reached.push(Reached { key, at: e.at });
            }
        }
        if let Some((result, awaiting)) = events::outcome_awaiting(e) {
            events::record(&mut self.outcomes, result, awaiting);
        }
        match &e.change {
            Change::SeverityChanged { from, to } => self.severity_changes.push(Transition {
                at: e.at,
                from: *from,
                to: *to,
            }),
            Change::StatusChanged { from, to } => self.status_changes.push(Transition {
                at: e.at,
                from: *from,
                to: *to,
            }),
            Change::MilestoneReached { milestone } => self.milestones.push(Reached {
                key: milestone.clone(),
                at: e.at,
            }),
            Change::ResponderJoined { person } => push_unique(&mut self.joined, person),
            Change::ResponderLeft { person } => push_unique(&mut self.left, person),
            Change::NoteAdded { text } => {
                self.notes += 1;
                return Some(text);
            }
            Change::EscalationStep { .. } | Change::PolicyFired { .. } => {
                let pages = events::pages(e).into_iter().filter(|p| p.how != "nudge");
                self.add_pages(pages);
            }
            _ => {}
        }
        None
    }

    fn add_pages(&mut self, pages: impl IntoIterator<Item = PageRecord>) {
        for p in pages {
            self.paged_total += 1;
            if self.paged.len() == LISTED {
                self.paged.remove(0);
            }
            self.paged.push(p);
        }
    }

    /// This run followed by `later`: the digest of both runs' events in order.
    pub fn then(mut self, later: &Digest) -> Digest {
        self.events += later.events;
        self.severity_changes
            .extend_from_slice(&later.severity_changes);
        self.status_changes.extend_from_slice(&later.status_changes);
        self.milestones.extend_from_slice(&later.milestones);
        // An outcome of this run still awaiting its milestone takes the first arrival in the
        // later run; the later run's own outcomes already saw their arrivals.
        for r in &later.first_reached {
            events::arrive(&mut self.outcomes, &r.key, r.at);
            if !self.first_reached.iter().any(|x| x.key == r.key) {
                self.first_reached.push(r.clone());
            }
        }
        for o in &later.outcomes {
            events::record(&mut self.outcomes, o.result.clone(), o.awaiting);
        }
        // The later run's last pages are the latest; its total counts those it dropped.
        let total = self.paged_total + later.paged_total;
        self.add_pages(later.paged.iter().cloned());
        self.paged_total = total;
        for p in &later.joined {
            push_unique(&mut self.joined, p);
        }
        for p in &later.left {
            push_unique(&mut self.left, p);
        }
        self.notes += later.notes;
        if later.latest_note.is_some() {
            self.latest_note.clone_from(&later.latest_note);
        }
        self
    }

    /// The deadline outcomes, one per deadline instance.
    pub fn deadlines(&self) -> Vec<DeadlineResult> {
        self.outcomes.iter().map(|o| o.result.clone()).collect()
    }
}

fn push_unique(list: &mut Vec<String>, person: &str) {
    if !list.iter().any(|p| p == person) {
        list.push(person.to_string());
    }
}
