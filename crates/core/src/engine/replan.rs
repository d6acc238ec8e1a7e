//! [`replan`]: an incident's armed timers under a new set of policies (a configuration
//! reload). Timers are computed when they are armed; without this, a reload would leave a
//! removed policy's timers to fire and a changed deadline due at its old time.
//!
//! Semantics (tests pin them):
//! - A pending timer whose policy is gone, or whose policy's trigger is now of another kind,
//!   is cancelled; the policy's run goes idle (it re-arms if it comes back and its conditions
//!   hold again); one [`Record::Cancelled`] per policy says why.
//! - A deadline's `due` timer moves to `armed + within`, its `warn` timer to that minus
//!   `warn_before` (cancelled when the new policy has none); a cadence round moves to
//!   `round start + every`. Each moved timer is a [`Record::Replanned`]. A new time already
//!   past is due now: it fires at once, late by nothing.
//! - Everything else (unchanged times, cadence escalations, solo-responder timers) is left.

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::handle::add;
use super::state::{IncidentPolicyState, Phase};
use super::{Output, Policy, Record, TimerOp, Trigger};

/// Re-plans `state`'s pending timers under `policies` at `now`; see the module docs.
pub fn replan(policies: &[Policy], state: &mut IncidentPolicyState, now: Timestamp) -> Output {
    let mut out = Output::default();
    let mut cancelled: BTreeSet<String> = BTreeSet::new();
    let pending: Vec<(String, Timestamp)> =
        state.timers.iter().map(|(k, d)| (k.clone(), *d)).collect();
    for (key, due) in pending {
        let Some(timer) = TimerKey::parse(&key) else {
            continue;
        };
        let policy = policies.iter().find(|p| p.id == timer.policy);
        let wanted = match policy {
            Some(p) if timer.fits(&p.trigger) => new_due(p, state, &timer),
            _ => {
                state.timers.remove(&key);
                out.timers.push(TimerOp::Cancel { key: key.clone() });
                if let Some(run) = state.runs.get_mut(timer.policy) {
                    run.phase = Phase::Idle;
                }
                if cancelled.insert(timer.policy.to_string()) {
                    let reason = match policy {
                        None => "policy removed from the configuration",
                        Some(_) => "policy's trigger changed in the configuration",
                    };
                    out.records.push(Record::Cancelled {
                        policy: timer.policy.to_string(),
                        reason: reason.into(),
                    });
                }
                continue;
            }
        };
        match wanted {
            Wanted::Keep => {}
            Wanted::Drop => {
                state.timers.remove(&key);
                out.timers.push(TimerOp::Cancel { key });
            }
            Wanted::At(at) if at == due => {}
            Wanted::At(at) => {
                let due_at = at.max(now);
                if timer.kind == "deadline"
                    && timer.suffix == Some("due")
                    && let Some(run) = state.runs.get_mut(timer.policy)
                {
                    run.due = Some(at);
                }
                state.timers.insert(key.clone(), due_at);
                out.timers.push(TimerOp::Set {
                    key: key.clone(),
                    due_at,
                });
                out.records.push(Record::Replanned {
                    policy: timer.policy.to_string(),
                    key,
                    from: due,
                    to: due_at,
                });
            }
        }
    }
    out
}

/// `<kind>:<policy>:<n>[:<suffix>]`, as the engine builds its timer keys.
struct TimerKey<'a> {
    kind: &'a str,
    policy: &'a str,
    suffix: Option<&'a str>,
}

impl<'a> TimerKey<'a> {
    fn parse(key: &'a str) -> Option<TimerKey<'a>> {
        let mut parts = key.split(':');
        let (kind, policy, _n) = (parts.next()?, parts.next()?, parts.next()?);
        Some(TimerKey {
            kind,
            policy,
            suffix: parts.next(),
        })
    }

    /// Whether a timer of this kind belongs to a policy with `trigger`.
    fn fits(&self, trigger: &Trigger) -> bool {
        matches!(
            (self.kind, trigger),
            ("deadline", Trigger::Deadline { .. })
                | ("cadence", Trigger::Cadence { .. })
                | ("solo", Trigger::SoloResponder { .. })
        )
    }
}

enum Wanted {
    Keep,
    Drop,
    At(Timestamp),
}

/// When `timer` should be due under `policy`, from when its instance started.
fn new_due(policy: &Policy, state: &IncidentPolicyState, timer: &TimerKey<'_>) -> Wanted {
    let Some(since) = state.runs.get(&policy.id).and_then(|r| r.since) else {
        return Wanted::Keep;
    };
    match (&policy.trigger, timer.suffix) {
        (Trigger::Deadline { within, .. }, Some("due")) => Wanted::At(add(since, *within)),
        (
            Trigger::Deadline {
                within,
                warn_before,
                ..
            },
            Some("warn"),
        ) => match warn_before {
            Some(w) => Wanted::At(add(add(since, *within), -*w)),
            None => Wanted::Drop,
        },
        (Trigger::Cadence { every, .. }, None) => Wanted::At(add(since, *every)),
        _ => Wanted::Keep,
    }
}
