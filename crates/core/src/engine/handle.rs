//! [`handle`]: one event in, the state updated and everything to do out.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use super::state::{IncidentPolicyState, Phase, PolicyRun, SinceWhat};
use super::{
    Action, Audience, Conditions, Event, EventTrigger, Expect, MAX_CASCADE_DEPTH, Notification,
    Outcome, Output, PlannedAction, Policy, Record, TimerOp, Trigger, notified_key,
};
use crate::incident::{Severity, Status};

/// Handle one event from outside (a person, an integration, a timer) at `now`.
pub fn handle(
    policies: &[Policy],
    state: &mut IncidentPolicyState,
    event: &Event,
    now: Timestamp,
) -> Output {
    handle_caused(policies, state, event, now, 0)
}

/// Handle an event caused by a policy action: `depth` is one more than the `depth` of the
/// [`PlannedAction`] that caused it (0 for outside events and timers). Firings carry `depth`;
/// above [`MAX_CASCADE_DEPTH`] nothing fires and a [`Record::Error`] is written instead.
pub fn handle_caused(
    policies: &[Policy],
    state: &mut IncidentPolicyState,
    event: &Event,
    now: Timestamp,
    depth: u8,
) -> Output {
    let mut out = Output::default();
    if let Event::TimerFired { key } = event {
        timer_fired(policies, state, key, now, &mut out);
        return out;
    }
    let change = apply(state, event, now);
    if !state.declared || change.is_noop() {
        return out;
    }
    let cx = Cx { now, depth };
    for policy in policies {
        ensure_run(&mut state.runs, &policy.id);
        on_event(policy, state, &change, cx, &mut out);
    }
    out
}

/// The event an action causes inside the incident, when the engine can know it without IO:
/// assigning a role to a named person (a schedule is resolved by the shell, which then sends
/// the real [`Event::RoleAssigned`]); notifying or paging an audience.
pub fn follow_up(action: &PlannedAction) -> Option<Event> {
    if let Some(audience) = action.action.audience() {
        return Some(Event::AudienceNotified {
            key: action.idempotency_key.clone(),
            audience,
        });
    }
    match &action.action {
        Action::AssignRole {
            role,
            to: super::Assignee::Person(person),
        } => Some(Event::RoleAssigned {
            role: role.clone(),
            person: person.clone(),
        }),
        _ => None,
    }
}

#[derive(Clone, Copy)]
struct Cx {
    now: Timestamp,
    depth: u8,
}

/// What an event changed, for the triggers.
#[derive(Default)]
struct Change<'a> {
    /// Nothing any trigger or condition looks at changed.
    changed: bool,
    /// A milestone reached by this event (first time or again).
    milestone: Option<&'a str>,
    actor: &'a str,
    status_to: Option<Status>,
    severity: Option<(Option<Severity>, Severity)>,
    responders_changed: bool,
    nudge_ack: Option<&'a str>,
    /// A fact other than a milestone reached for the first time (`role:R`, …).
    reached: Option<String>,
}

fn apply<'a>(s: &mut IncidentPolicyState, event: &'a Event, now: Timestamp) -> Change<'a> {
    let mut c = Change::default();
    match event {
        Event::Declared {
            severity,
            services,
            incident_type,
            labels,
        } => {
            if s.declared {
                return c;
            }
            s.declared = true;
            s.severity = Some(*severity);
            s.status = Some(Status::Triage);
            s.services.clone_from(services);
            s.incident_type.clone_from(incident_type);
            s.labels.clone_from(labels);
            c.milestone = Some("declared");
        }
        Event::SeverityChanged { to } => {
            if s.severity != Some(*to) {
                c.severity = Some((s.severity, *to));
                s.severity = Some(*to);
            }
        }
        Event::StatusChanged { to } => {
            if s.status != Some(*to) {
                c.status_to = Some(*to);
                s.status = Some(*to);
            }
        }
        Event::RoleAssigned { role, person } => {
            s.roles.insert(role.clone(), person.clone());
            c.reached = first(s, format!("role:{role}"), now, person);
            c.actor = person;
        }
        Event::RoleReleased { role } => {
            s.roles.remove(role);
        }
        Event::MilestoneReached { milestone, actor } => {
            c.milestone = Some(milestone);
            c.actor = actor;
        }
        Event::StatusUpdatePosted { actor } => {
            c.milestone = Some("status_update_posted");
            c.actor = actor;
        }
        Event::ResponderJoined { person } => {
            c.responders_changed = s.responders.insert(person.clone());
        }
        Event::ResponderLeft { person } => {
            c.responders_changed = s.responders.remove(person);
        }
        Event::NudgeAcknowledged { key } => c.nudge_ack = Some(key),
        Event::AudienceNotified { key, audience } => {
            if !s.notifications.contains_key(key) {
                let n = Notification {
                    audience: audience.clone(),
                    at: now,
                    acknowledged: None,
                };
                s.notifications.insert(key.clone(), n);
            }
            c.reached = first(s, notified_key(audience), now, key);
            c.actor = key;
        }
        Event::AudienceAcknowledged { key, audience, by } => {
            if let Some(n) = s.notifications.get_mut(key)
                && n.acknowledged.is_none()
            {
                n.acknowledged = Some((by.clone(), now));
            }
            let key = format!("acknowledged_by:{}", audience.key());
            c.reached = first(s, key, now, by);
            c.actor = by;
        }
        Event::AlertAttached {} | Event::MessagePosted { .. } | Event::TimerFired { .. } => {}
    }
    if let Some(m) = c.milestone
        && !s.milestones.contains_key(m)
    {
        s.milestones
            .insert(m.to_string(), (now, c.actor.to_string()));
    }
    c.changed = c.milestone.is_some()
        || c.status_to.is_some()
        || c.severity.is_some()
        || c.responders_changed
        || c.nudge_ack.is_some()
        || c.reached.is_some();
    c
}

/// Remembers `key` as reached at `now` by `by`, the first time: then returns it.
fn first(s: &mut IncidentPolicyState, key: String, now: Timestamp, by: &str) -> Option<String> {
    if s.reached.contains_key(&key) {
        return None;
    }
    s.reached.insert(key.clone(), (now, by.to_string()));
    Some(key)
}

impl Change<'_> {
    fn is_noop(&self) -> bool {
        !self.changed
    }

    /// This event reached `key` (a milestone, or another fact for the first time).
    fn hits(&self, key: &str) -> bool {
        self.milestone == Some(key) || self.reached.as_deref() == Some(key)
    }
}

pub(super) fn holds(c: &Conditions, s: &IncidentPolicyState) -> bool {
    (c.severity.is_empty() || s.severity.is_some_and(|x| c.severity.contains(&x)))
        && (c.services.is_empty() || s.services.iter().any(|x| c.services.contains(x)))
        && (c.status.is_empty() || s.status.is_some_and(|x| c.status.contains(&x)))
        && (c.incident_type.is_empty()
            || s.incident_type
                .as_ref()
                .is_some_and(|t| c.incident_type.contains(t)))
        && c.labels.iter().all(|(k, v)| s.labels.get(k) == Some(v))
}

/// Time-based triggers run only while these hold.
fn live(policy: &Policy, s: &IncidentPolicyState) -> bool {
    s.declared && s.status != Some(Status::Resolved) && holds(&policy.when, s)
}

fn ensure_run(runs: &mut BTreeMap<String, PolicyRun>, id: &str) {
    if !runs.contains_key(id) {
        runs.insert(id.to_string(), PolicyRun::default());
    }
}

fn on_event(policy: &Policy, s: &mut IncidentPolicyState, c: &Change, cx: Cx, out: &mut Output) {
    match &policy.trigger {
        Trigger::OnEvent(t) => {
            let (matched, what) = match t {
                EventTrigger::Milestone(m) => (
                    c.milestone == Some(m.as_str()),
                    format!("milestone {} reached", words(m)),
                ),
                EventTrigger::Status(st) => {
                    (c.status_to == Some(*st), format!("status changed to {st}"))
                }
                EventTrigger::SeverityChanged => match c.severity {
                    Some((from, to)) => (
                        true,
                        match from {
                            Some(f) => format!("severity changed from {f} to {to}"),
                            None => format!("severity set to {to}"),
                        },
                    ),
                    None => (false, String::new()),
                },
            };
            if matched && holds(&policy.when, s) {
                let Some(run) = s.runs.get_mut(&policy.id) else {
                    return;
                };
                run.seq += 1;
                let tag = format!("event:{}", run.seq);
                let reason = format!("{what} at {}", hm(cx.now));
                fire(out, policy, &policy.actions, &tag, reason, cx.depth, None);
            }
        }
        Trigger::Deadline {
            within,
            of,
            expect,
            warn_before,
        } => deadline(policy, s, c, cx, out, (*within, of, expect, *warn_before)),
        Trigger::Cadence {
            every,
            reset_on,
            while_,
            ..
        } => {
            let is_live = live(policy, s) && holds(while_, s);
            let Some(run) = s.runs.get_mut(&policy.id) else {
                return;
            };
            let prefix = || format!("cadence:{}:", policy.id);
            if run.phase == Phase::Active {
                if !is_live {
                    cancel_prefix(&mut s.timers, out, &prefix());
                    run.phase = Phase::Idle;
                } else if reset_on.is_some() && c.milestone == reset_on.as_deref() {
                    cancel_prefix(&mut s.timers, out, &prefix());
                    start_round(
                        policy,
                        run,
                        &mut s.timers,
                        out,
                        cx.now,
                        *every,
                        SinceWhat::Reset,
                    );
                } else if let Some(key) = c.nudge_ack
                    && let Some(n) = key
                        .strip_prefix(policy.id.as_str())
                        .and_then(|k| k.strip_prefix(":cadence:"))
                        .and_then(|k| k.split(':').next())
                {
                    let esc = format!("{}{n}:escalate", prefix());
                    if s.timers.remove(&esc).is_some() {
                        out.timers.push(TimerOp::Cancel { key: esc });
                    }
                }
            } else if is_live {
                start_round(
                    policy,
                    run,
                    &mut s.timers,
                    out,
                    cx.now,
                    *every,
                    SinceWhat::Start,
                );
            }
        }
        Trigger::SoloResponder { for_ } => {
            let is_live = live(policy, s) && s.responders.len() == 1;
            let solo_count = s.responders.len();
            let Some(run) = s.runs.get_mut(&policy.id) else {
                return;
            };
            let prefix = || format!("solo:{}:", policy.id);
            if run.phase == Phase::Active
                && (!is_live || c.responders_changed || c.milestone == Some("status_update_posted"))
            {
                cancel_prefix(&mut s.timers, out, &prefix());
                run.phase = Phase::Idle;
            }
            if solo_count != 1 {
                run.fired = false;
            }
            if run.phase == Phase::Idle && is_live && !run.fired {
                run.seq += 1;
                run.phase = Phase::Active;
                run.since = Some(cx.now);
                let due = add(cx.now, *for_);
                set_timer(&mut s.timers, out, format!("{}{}", prefix(), run.seq), due);
            }
        }
    }
}

fn start_round(
    policy: &Policy,
    run: &mut PolicyRun,
    timers: &mut BTreeMap<String, Timestamp>,
    out: &mut Output,
    now: Timestamp,
    every: SignedDuration,
    why: SinceWhat,
) {
    run.seq += 1;
    run.phase = Phase::Active;
    run.since = Some(now);
    run.since_what = why;
    let key = format!("cadence:{}:{}", policy.id, run.seq);
    set_timer(timers, out, key, add(now, every));
}

fn deadline(
    policy: &Policy,
    s: &mut IncidentPolicyState,
    c: &Change,
    cx: Cx,
    out: &mut Output,
    (within, of, expect, warn_before): (SignedDuration, &str, &Expect, Option<SignedDuration>),
) {
    let is_live = live(policy, s);
    let of_reached = s.reached(&expect.start_key(of)).is_some();
    let expect_key = expect.key();
    let expect_reached = s.reached(&expect_key).is_some();
    let severity = s.severity;
    let status = s.status;
    let Some(run) = s.runs.get_mut(&policy.id) else {
        return;
    };
    let prefix = || format!("deadline:{}:", policy.id);
    let due = run.due.unwrap_or(cx.now);
    if c.hits(&expect_key) {
        match run.phase {
            Phase::Active => {
                cancel_prefix(&mut s.timers, out, &prefix());
                // Past the deadline before its timer fired (a lagging scheduler, a node that
                // was down): late, not met. Its actions do not run: what they were to bring
                // about has happened.
                let met = cx.now <= due;
                run.phase = if met { Phase::Met } else { Phase::Closed };
                out.records.push(Record::Outcome(Outcome {
                    policy: policy.id.clone(),
                    instance: run.seq,
                    met,
                    at: cx.now,
                    due_at: due,
                    margin: due.duration_since(cx.now),
                    by: Some(c.actor.to_string()),
                }));
                return;
            }
            Phase::Missed => {
                // The instance has its one outcome (missed, at expiry); how late the milestone
                // came is read from the milestone itself (`late_arrival`), not recorded again.
                run.phase = Phase::Closed;
                return;
            }
            _ => {}
        }
    }
    match run.phase {
        Phase::Active if !is_live => {
            cancel_prefix(&mut s.timers, out, &prefix());
            run.phase = Phase::Idle;
            let sev = severity.map(|x| x.to_string()).unwrap_or_default();
            let st = status.map(|x| x.to_string()).unwrap_or_default();
            out.records.push(Record::Cancelled {
                policy: policy.id.clone(),
                reason: format!(
                    "deadline for {} no longer applies: the incident is now {sev}, {st}",
                    expect_words(expect)
                ),
            });
        }
        Phase::Idle if is_live && of_reached && !expect_reached => {
            run.seq += 1;
            run.phase = Phase::Active;
            run.since = Some(cx.now);
            let due = add(cx.now, within);
            run.due = Some(due);
            set_timer(
                &mut s.timers,
                out,
                format!("{}{}:due", prefix(), run.seq),
                due,
            );
            if let Some(w) = warn_before {
                let warn_at = add(due, -w);
                if warn_at > cx.now {
                    set_timer(
                        &mut s.timers,
                        out,
                        format!("{}{}:warn", prefix(), run.seq),
                        warn_at,
                    );
                }
            }
        }
        _ => {}
    }
}

fn timer_fired(
    policies: &[Policy],
    s: &mut IncidentPolicyState,
    key: &str,
    now: Timestamp,
    out: &mut Output,
) {
    let Some(due_at) = s.timers.remove(key) else {
        return; // cancelled, already fired or unknown: never fires
    };
    let late = now.duration_since(due_at);
    let late_by = (late > SignedDuration::ZERO).then_some(late);
    let mut parts = key.split(':');
    let (kind, id, n, suffix) = (parts.next(), parts.next(), parts.next(), parts.next());
    let (Some(kind), Some(id), Some(n)) = (kind, id, n) else {
        return;
    };
    let Some(policy) = policies.iter().find(|p| p.id == id) else {
        out.records.push(Record::Error {
            policy: id.to_string(),
            message: format!("timer `{key}` fired for a policy that is no longer configured"),
        });
        return;
    };
    let lateness = late_by
        .map(|l| format!("; timer fired {} late", dur(l)))
        .unwrap_or_default();
    match (&policy.trigger, kind, suffix) {
        (
            Trigger::Deadline {
                within,
                of,
                expect,
                warn_before,
            },
            "deadline",
            Some(which),
        ) => {
            let of_at = s.reached(&expect.start_key(of)).map(|m| m.0);
            let of = start_words(expect, of);
            let Some(run) = s.runs.get_mut(&policy.id) else {
                return;
            };
            let since = run.since.unwrap_or(due_at);
            let start = match of_at {
                Some(t) if t == since => format!("{of} at {}", hm(t)),
                Some(t) => format!(
                    "the policy began to apply at {} ({of} at {})",
                    hm(since),
                    hm(t)
                ),
                None => hm(since),
            };
            if which == "warn" {
                let w = warn_before.unwrap_or_default();
                let reason = format!(
                    "deadline in {} ({} after {start}); {} yet{lateness}",
                    dur(w),
                    dur(*within),
                    expect_not_reached(expect)
                );
                let tag = format!("deadline:{n}:warn");
                fire(out, policy, &policy.on_warn, &tag, reason, 0, late_by);
            } else {
                let warn = format!("deadline:{}:{n}:warn", policy.id);
                if s.timers.remove(&warn).is_some() {
                    out.timers.push(TimerOp::Cancel { key: warn });
                }
                run.phase = Phase::Missed;
                let due = run.due.unwrap_or(due_at);
                let reason = format!(
                    "{} since {start}; {}{lateness}",
                    dur(*within),
                    expect_not_reached(expect)
                );
                let tag = format!("deadline:{n}:missed");
                fire(out, policy, &policy.on_missed, &tag, reason, 0, late_by);
                out.records.push(Record::Outcome(Outcome {
                    policy: policy.id.clone(),
                    instance: run.seq,
                    met: false,
                    at: now,
                    due_at: due,
                    margin: due.duration_since(now),
                    by: None,
                }));
            }
        }
        (
            Trigger::Cadence {
                every,
                reset_on,
                escalate_after,
                escalate_to,
                ..
            },
            "cadence",
            suffix,
        ) => {
            let Some(run) = s.runs.get_mut(&policy.id) else {
                return;
            };
            let since = run.since.map(hm).unwrap_or_default();
            let no_reset = reset_on
                .as_ref()
                .map(|m| format!("; no {} since", words(m)))
                .unwrap_or_default();
            if suffix == Some("escalate") {
                let Some(to) = escalate_to else { return };
                let reason = format!(
                    "reminder {n} was not followed by {} within {}{lateness}",
                    reset_on.as_deref().map(words).unwrap_or("a reset".into()),
                    dur(escalate_after.unwrap_or_default())
                );
                let tag = format!("cadence:{n}:escalate");
                fire(
                    out,
                    policy,
                    &[to.escalation_action()],
                    &tag,
                    reason,
                    0,
                    late_by,
                );
                return;
            }
            let what = match run.since_what {
                SinceWhat::Start => "the cadence started".to_string(),
                SinceWhat::Reset => reset_on.as_deref().map(words).unwrap_or_default(),
                SinceWhat::Fired => "the last reminder".to_string(),
            };
            let reason = format!(
                "{} since {what} at {since}{no_reset}{lateness}",
                dur(*every)
            );
            let tag = format!("cadence:{n}");
            fire(out, policy, &policy.actions, &tag, reason, 0, late_by);
            if let Some(after) = escalate_after {
                let key = format!("cadence:{}:{n}:escalate", policy.id);
                set_timer(&mut s.timers, out, key, add(now, *after));
            }
            start_round(
                policy,
                run,
                &mut s.timers,
                out,
                now,
                *every,
                SinceWhat::Fired,
            );
        }
        (Trigger::SoloResponder { for_ }, "solo", None) => {
            let person = s.responders.iter().next().cloned().unwrap_or_default();
            let Some(run) = s.runs.get_mut(&policy.id) else {
                return;
            };
            run.phase = Phase::Idle;
            run.fired = true;
            let since = run.since.map(hm).unwrap_or_default();
            let reason = format!(
                "{person} has been the only responder for {} (since {since}); nobody else joined \
                 and no status update was posted{lateness}",
                dur(*for_)
            );
            let tag = format!("solo:{n}");
            fire(out, policy, &policy.actions, &tag, reason, 0, late_by);
        }
        _ => out.records.push(Record::Error {
            policy: policy.id.clone(),
            message: format!("timer `{key}` does not match the policy's trigger; dropped"),
        }),
    }
}

fn fire(
    out: &mut Output,
    policy: &Policy,
    actions: &[Action],
    tag: &str,
    reason: String,
    depth: u8,
    late_by: Option<SignedDuration>,
) {
    if depth > MAX_CASCADE_DEPTH {
        out.records.push(Record::Error {
            policy: policy.id.clone(),
            message: format!(
                "not fired: {reason}; the event was caused by policy actions {depth} levels deep \
                 (limit {MAX_CASCADE_DEPTH})"
            ),
        });
        return;
    }
    for (i, action) in actions.iter().enumerate() {
        out.actions.push(PlannedAction {
            policy: policy.id.clone(),
            action: action.clone(),
            idempotency_key: format!("{}:{tag}:{i}", policy.id),
            reason: reason.clone(),
            depth,
        });
    }
    out.records.push(Record::Fired {
        policy: policy.id.clone(),
        reason,
        actions: actions.to_vec(),
        late_by,
    });
}

fn set_timer(
    timers: &mut BTreeMap<String, Timestamp>,
    out: &mut Output,
    key: String,
    due_at: Timestamp,
) {
    timers.insert(key.clone(), due_at);
    out.timers.push(TimerOp::Set { key, due_at });
}

/// Cancel every pending timer whose key starts with `prefix` (`deadline:<policy>:`).
fn cancel_prefix(timers: &mut BTreeMap<String, Timestamp>, out: &mut Output, prefix: &str) {
    while let Some(key) = timers
        .range::<str, _>((
            std::ops::Bound::Included(prefix),
            std::ops::Bound::Unbounded,
        ))
        .next()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with(prefix))
        .cloned()
    {
        timers.remove(&key);
        out.timers.push(TimerOp::Cancel { key });
    }
}

pub(super) fn add(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(if d.is_negative() {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// `03:12 UTC`.
fn hm(t: Timestamp) -> String {
    t.strftime("%H:%M UTC").to_string()
}

/// `blast_radius_validated` → `blast radius validated`.
fn words(s: &str) -> String {
    s.replace('_', " ")
}

/// What a deadline waits for, in plain words: `blast radius validated`, `comms lead held`,
/// `acknowledgement by legal`.
fn expect_words(expect: &Expect) -> String {
    match expect {
        Expect::Milestone(m) => words(m),
        Expect::Role(r) => format!("{} held", words(r)),
        Expect::AcknowledgedBy(a) => format!("acknowledgement by {}", audience_words(a)),
    }
}

/// What a deadline counts from, in plain words: `declared`, `legal notified`.
fn start_words(expect: &Expect, of: &str) -> String {
    match expect {
        Expect::AcknowledgedBy(a) => format!("{} notified", audience_words(a)),
        _ => words(of),
    }
}

/// An expectation not met, in plain words: `nobody holds comms lead`, `not acknowledged by
/// legal`.
fn expect_not_reached(expect: &Expect) -> String {
    match expect {
        Expect::Milestone(m) => not_reached(m),
        Expect::Role(r) => format!("nobody holds {}", words(r)),
        Expect::AcknowledgedBy(a) => format!("not acknowledged by {}", audience_words(a)),
    }
}

/// `legal` (an alias), `schedule legal-oncall`, `alice`.
pub(crate) fn audience_words(a: &Audience) -> String {
    match a {
        Audience::Alias(x) | Audience::Person(x) => x.clone(),
        Audience::Schedule(x) => format!("schedule {x}"),
    }
}

/// A milestone not reached, in plain words: `blast_radius_validated` → `blast radius not
/// validated`, `acknowledged` → `not acknowledged`, `war_room` → `war room not reached`.
fn not_reached(milestone: &str) -> String {
    match milestone.rsplit_once('_') {
        _ if !milestone.ends_with("ed") => format!("{} not reached", words(milestone)),
        Some((rest, last)) => format!("{} not {last}", words(rest)),
        None => format!("not {milestone}"),
    }
}

/// `20 min`, `1 h 30 min`, `45 s`.
pub(super) fn dur(d: SignedDuration) -> String {
    crate::words::duration(d)
}

#[cfg(test)]
mod wording {
    #[test]
    fn milestones_not_reached_read_as_english() {
        use super::not_reached;
        assert_eq!(
            not_reached("blast_radius_validated"),
            "blast radius not validated"
        );
        assert_eq!(not_reached("customers_notified"), "customers not notified");
        assert_eq!(not_reached("acknowledged"), "not acknowledged");
        assert_eq!(not_reached("war_room"), "war room not reached");
    }
}
