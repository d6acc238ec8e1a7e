//! Engine tests: one per trigger behaviour, the issue's acceptance case, and properties.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::incident::{Severity, Status};

pub(super) fn t0() -> Timestamp {
    "2026-03-02T03:12:00Z".parse().unwrap()
}

pub(super) fn min(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

fn sev(list: &[Severity]) -> Conditions {
    Conditions {
        severity: list.to_vec(),
        ..Conditions::default()
    }
}

/// The demo's `blast-radius-20m`.
pub(super) fn blast_radius() -> Policy {
    Policy {
        id: "blast-radius-20m".into(),
        when: sev(&[Severity::Sev1, Severity::Sev2]),
        trigger: Trigger::Deadline {
            within: min(20),
            of: "declared".into(),
            expect: "blast_radius_validated".into(),
            warn_before: Some(min(5)),
        },
        on_warn: vec![Action::Nudge {
            role: "ops_lead".into(),
            template: Some("blast-radius-reminder".into()),
        }],
        on_missed: vec![
            Action::Page {
                target: PageTarget::Schedule("platform-secondary".into()),
            },
            Action::Notify {
                alias: "comms-leads".into(),
                template: "sev-escalated".into(),
            },
        ],
        actions: vec![],
    }
}

pub(super) fn status_cadence() -> Policy {
    Policy {
        id: "sev1-status-updates".into(),
        when: sev(&[Severity::Sev1]),
        trigger: Trigger::Cadence {
            every: min(30),
            reset_on: Some("status_update_posted".into()),
            while_: Conditions {
                status: vec![Status::Investigating, Status::Identified],
                ..Conditions::default()
            },
            escalate_after: Some(min(10)),
            escalate_to: Some(Recipient::Role("incident_commander".into())),
        },
        on_warn: vec![],
        on_missed: vec![],
        actions: vec![
            Action::DraftStatusUpdate {
                template: Some("status-update".into()),
            },
            Action::Nudge {
                role: "comms_lead".into(),
                template: None,
            },
        ],
    }
}

fn solo() -> Policy {
    Policy {
        id: "no-solo-heroics".into(),
        when: sev(&[Severity::Sev1, Severity::Sev2]),
        trigger: Trigger::SoloResponder { for_: min(15) },
        on_warn: vec![],
        on_missed: vec![],
        actions: vec![Action::Page {
            target: PageTarget::EscalationPolicy("platform-escalation".into()),
        }],
    }
}

fn on_event(id: &str, when: Conditions, t: EventTrigger, actions: Vec<Action>) -> Policy {
    Policy {
        id: id.into(),
        when,
        trigger: Trigger::OnEvent(t),
        on_warn: vec![],
        on_missed: vec![],
        actions,
    }
}

fn staff() -> Policy {
    on_event(
        "staff-major-incidents",
        sev(&[Severity::Sev1, Severity::Sev2]),
        EventTrigger::Milestone("declared".into()),
        vec![
            Action::AssignRole {
                role: "incident_commander".into(),
                to: Assignee::Person("alice".into()),
            },
            Action::CreateTask {
                title: "Open a channel".into(),
            },
        ],
    )
}

fn exec_briefing() -> Policy {
    on_event(
        "exec-briefing-on-sev1",
        sev(&[Severity::Sev1]),
        EventTrigger::SeverityChanged,
        vec![Action::Notify {
            alias: "exec-staff".into(),
            template: "sev-escalated".into(),
        }],
    )
}

fn postmortem() -> Policy {
    on_event(
        "schedule-postmortem",
        sev(&[Severity::Sev1, Severity::Sev2]),
        EventTrigger::Status(Status::Resolved),
        vec![Action::CreateTask {
            title: "Schedule the review".into(),
        }],
    )
}

fn all_policies() -> Vec<Policy> {
    vec![
        blast_radius(),
        status_cadence(),
        solo(),
        staff(),
        exec_briefing(),
        postmortem(),
    ]
}

pub(super) fn declared(s: Severity) -> Event {
    Event::Declared {
        severity: s,
        services: vec!["checkout".into()],
        incident_type: None,
        labels: Default::default(),
    }
}

fn milestone(m: &str, actor: &str) -> Event {
    Event::MilestoneReached {
        milestone: m.into(),
        actor: actor.into(),
    }
}

/// `(minutes after t0, policy, action kind)` of every action.
fn fired(sim: &Simulation) -> Vec<(i64, String, &'static str)> {
    sim.actions
        .iter()
        .map(|(at, a)| {
            (
                at.duration_since(t0()).as_mins(),
                a.policy.clone(),
                a.action.kind(),
            )
        })
        .collect()
}

fn fired_by(sim: &Simulation, policy: &str) -> Vec<(i64, &'static str)> {
    fired(sim)
        .into_iter()
        .filter(|(_, p, _)| p == policy)
        .map(|(m, _, k)| (m, k))
        .collect()
}

// ---------------------------------------------------------------- acceptance (issue 5)

#[test]
fn acceptance_missed_blast_radius_pages_and_notifies_at_20_minutes_explained() {
    let sim = simulate(
        &[blast_radius()],
        t0(),
        &[(min(0), declared(Severity::Sev1))],
        min(60),
    );
    assert_eq!(
        fired(&sim),
        vec![
            (15, "blast-radius-20m".into(), "nudge"),
            (20, "blast-radius-20m".into(), "page"),
            (20, "blast-radius-20m".into(), "notify"),
        ]
    );
    let (at, page) = &sim.actions[1];
    assert_eq!(*at, t0() + min(20));
    assert_eq!(
        page.reason,
        "20 min since declared at 03:12 UTC; blast radius not validated"
    );
    assert_eq!(page.idempotency_key, "blast-radius-20m:deadline:1:missed:0");
    assert_eq!(
        sim.actions[2].1.idempotency_key,
        "blast-radius-20m:deadline:1:missed:1"
    );
    // the timeline says it once, with both actions
    let fired_records: Vec<_> = sim
        .records
        .iter()
        .filter_map(|(at, r)| match r {
            Record::Fired {
                reason, actions, ..
            } => Some((*at, reason.clone(), actions.len())),
            _ => None,
        })
        .collect();
    assert_eq!(fired_records.len(), 2);
    assert_eq!(fired_records[1].0, t0() + min(20));
    assert_eq!(fired_records[1].2, 2);
    assert_eq!(
        fired_records[0].1,
        "deadline in 5 min (20 min after declared at 03:12 UTC); blast radius not validated yet"
    );
    assert_eq!(sim.outcomes.len(), 1);
    assert!(!sim.outcomes[0].met);
    assert_eq!(sim.outcomes[0].margin, SignedDuration::ZERO);
    assert!(sim.state.pending_timers().next().is_none());
}

#[test]
fn acceptance_validated_at_19_minutes_is_met_with_one_minute_to_spare() {
    let sim = simulate(
        &[blast_radius()],
        t0(),
        &[
            (min(0), declared(Severity::Sev1)),
            (min(19), milestone("blast_radius_validated", "bob")),
        ],
        min(60),
    );
    assert_eq!(fired(&sim), vec![(15, "blast-radius-20m".into(), "nudge")]);
    assert_eq!(
        sim.outcomes,
        vec![Outcome {
            policy: "blast-radius-20m".into(),
            instance: 1,
            met: true,
            at: t0() + min(19),
            due_at: t0() + min(20),
            margin: min(1),
            by: Some("bob".into()),
        }]
    );
    assert!(sim.state.pending_timers().next().is_none());
}

#[test]
fn a_milestone_after_the_deadline_but_before_its_timer_fired_is_late_not_met() {
    let mut state = IncidentPolicyState::new();
    let p = [blast_radius()];
    let _ = handle(&p, &mut state, &declared(Severity::Sev1), t0());
    // The scheduler lagged: neither the warning nor the deadline timer has fired at 21 min.
    let out = handle(
        &p,
        &mut state,
        &milestone("blast_radius_validated", "bob"),
        t0() + min(21),
    );
    assert!(out.actions.is_empty(), "the deadline's actions do not run");
    let outcomes: Vec<&Outcome> = out
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Outcome(o) => Some(o),
            _ => None,
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![&Outcome {
            policy: "blast-radius-20m".into(),
            instance: 1,
            met: false,
            at: t0() + min(21),
            due_at: t0() + min(20),
            margin: -min(1),
            by: Some("bob".into()),
        }]
    );
    assert!(
        state.pending_timers().next().is_none(),
        "its timers are cancelled"
    );
    // When the late timer is delivered anyway, nothing more happens.
    let timer = Event::TimerFired {
        key: "deadline:blast-radius-20m:1:due".into(),
    };
    let late = handle(&p, &mut state, &timer, t0() + min(22));
    assert!(late.actions.is_empty() && late.records.is_empty());
}

// ---------------------------------------------------------------- deadline

#[test]
fn deadline_timers_are_set_with_deterministic_keys_and_cancelled_when_met() {
    let mut state = IncidentPolicyState::new();
    let p = [blast_radius()];
    let out = handle(&p, &mut state, &declared(Severity::Sev2), t0());
    assert_eq!(
        out.timers,
        vec![
            TimerOp::Set {
                key: "deadline:blast-radius-20m:1:due".into(),
                due_at: t0() + min(20)
            },
            TimerOp::Set {
                key: "deadline:blast-radius-20m:1:warn".into(),
                due_at: t0() + min(15)
            },
        ]
    );
    assert!(out.actions.is_empty());
    let out = handle(
        &p,
        &mut state,
        &milestone("blast_radius_validated", "carol"),
        t0() + min(12),
    );
    assert_eq!(
        out.timers,
        vec![
            TimerOp::Cancel {
                key: "deadline:blast-radius-20m:1:due".into()
            },
            TimerOp::Cancel {
                key: "deadline:blast-radius-20m:1:warn".into()
            },
        ]
    );
    assert!(matches!(&out.records[..], [Record::Outcome(o)] if o.met && o.margin == min(8)));
}

#[test]
fn milestone_exactly_at_the_deadline_counts_as_met() {
    let sim = simulate(
        &[blast_radius()],
        t0(),
        &[
            (min(0), declared(Severity::Sev1)),
            (min(20), milestone("blast_radius_validated", "bob")),
        ],
        min(60),
    );
    assert_eq!(fired(&sim), vec![(15, "blast-radius-20m".into(), "nudge")]);
    assert!(sim.outcomes[0].met);
    assert_eq!(sim.outcomes[0].margin, SignedDuration::ZERO);
}

#[test]
fn milestone_after_expiry_records_lateness_and_fires_nothing_new() {
    let sim = simulate(
        &[blast_radius()],
        t0(),
        &[
            (min(0), declared(Severity::Sev1)),
            (min(23), milestone("blast_radius_validated", "bob")),
        ],
        min(60),
    );
    assert_eq!(fired_by(&sim, "blast-radius-20m").len(), 3);
    assert!(sim.actions.iter().all(|(at, _)| *at <= t0() + min(20)));
    let outcome_records = sim
        .records
        .iter()
        .filter(|(_, r)| matches!(r, Record::Outcome(_)))
        .count();
    assert_eq!(
        outcome_records, 1,
        "one outcome per deadline instance, at expiry"
    );
    assert_eq!(sim.outcomes.len(), 1, "one deadline instance");
    let o = &sim.outcomes[0];
    assert!(!o.met);
    assert_eq!(o.margin, -min(3));
    assert_eq!(o.by.as_deref(), Some("bob"));
}

#[test]
fn sev3_is_not_covered_and_a_downgrade_cancels_the_deadline() {
    let sim = simulate(
        &[blast_radius()],
        t0(),
        &[(min(0), declared(Severity::Sev3))],
        min(60),
    );
    assert!(sim.actions.is_empty() && sim.timer_log.is_empty());

    let sim = simulate(
        &[blast_radius()],
        t0(),
        &[
            (min(0), declared(Severity::Sev1)),
            (min(10), Event::SeverityChanged { to: Severity::Sev3 }),
        ],
        min(60),
    );
    assert!(sim.actions.is_empty());
    assert!(sim.outcomes.is_empty());
    assert!(sim.records.iter().any(|(at, r)| *at == t0() + min(10)
        && matches!(r, Record::Cancelled { reason, .. } if reason.contains("SEV3"))));
}

#[test]
fn raised_again_rearms_with_a_fresh_clock_and_new_keys() {
    let sim = simulate(
        &[blast_radius()],
        t0(),
        &[
            (min(0), declared(Severity::Sev1)),
            (min(10), Event::SeverityChanged { to: Severity::Sev3 }),
            (min(30), Event::SeverityChanged { to: Severity::Sev2 }),
        ],
        min(90),
    );
    assert_eq!(
        fired(&sim),
        vec![
            (45, "blast-radius-20m".into(), "nudge"),
            (50, "blast-radius-20m".into(), "page"),
            (50, "blast-radius-20m".into(), "notify"),
        ]
    );
    assert_eq!(
        sim.actions[1].1.idempotency_key,
        "blast-radius-20m:deadline:2:missed:0"
    );
    assert!(
        sim.actions[1]
            .1
            .reason
            .contains("the policy began to apply at 03:42 UTC (declared at 03:12 UTC)")
    );
}

#[test]
fn resolving_cancels_pending_deadlines() {
    let sim = simulate(
        &[blast_radius()],
        t0(),
        &[
            (min(0), declared(Severity::Sev1)),
            (
                min(5),
                Event::StatusChanged {
                    to: Status::Resolved,
                },
            ),
        ],
        min(60),
    );
    assert!(sim.actions.is_empty());
    assert!(sim.state.pending_timers().next().is_none());
}

#[test]
fn already_reached_expectation_never_arms() {
    let mut p = blast_radius();
    p.trigger = Trigger::Deadline {
        within: min(20),
        of: "acknowledged".into(),
        expect: "blast_radius_validated".into(),
        warn_before: None,
    };
    let sim = simulate(
        &[p],
        t0(),
        &[
            (min(0), declared(Severity::Sev1)),
            (min(1), milestone("blast_radius_validated", "a")),
            (min(2), milestone("acknowledged", "a")),
        ],
        min(60),
    );
    assert!(sim.timer_log.is_empty() && sim.actions.is_empty());
}

// ---------------------------------------------------------------- late and stale timers

#[test]
fn a_late_timer_fires_and_records_its_lateness() {
    let p = [blast_radius()];
    let mut state = IncidentPolicyState::new();
    handle(&p, &mut state, &declared(Severity::Sev1), t0());
    let warn = Event::TimerFired {
        key: "deadline:blast-radius-20m:1:warn".into(),
    };
    let due = Event::TimerFired {
        key: "deadline:blast-radius-20m:1:due".into(),
    };
    // after a crash, both overdue: the deadline fires late and drops the stale warning
    let out = handle(&p, &mut state, &due, t0() + min(22));
    assert_eq!(out.actions.len(), 2);
    assert!(out.actions[0].reason.ends_with("; timer fired 2 min late"));
    assert!(
        out.records
            .iter()
            .any(|r| matches!(r, Record::Fired { late_by: Some(l), .. } if *l == min(2)))
    );
    assert!(
        out.records
            .iter()
            .any(|r| matches!(r, Record::Outcome(o) if !o.met && o.margin == -min(2)))
    );
    assert!(out.timers.contains(&TimerOp::Cancel {
        key: "deadline:blast-radius-20m:1:warn".into()
    }));
    // neither fires again
    assert!(handle(&p, &mut state, &due, t0() + min(23)).is_empty());
    assert!(handle(&p, &mut state, &warn, t0() + min(23)).is_empty());
}

#[test]
fn cancelled_and_unknown_timers_do_nothing() {
    let p = all_policies();
    let mut state = IncidentPolicyState::new();
    handle(&p, &mut state, &declared(Severity::Sev1), t0());
    handle(
        &p,
        &mut state,
        &milestone("blast_radius_validated", "x"),
        t0() + min(3),
    );
    for key in [
        "deadline:blast-radius-20m:1:due",
        "deadline:blast-radius-20m:1:warn",
        "nonsense",
        "",
        "cadence:sev1-status-updates:7",
    ] {
        let out = handle(
            &p,
            &mut state,
            &Event::TimerFired { key: key.into() },
            t0() + min(30),
        );
        assert!(out.is_empty(), "{key}");
    }
}

// ---------------------------------------------------------------- on event

#[test]
fn on_event_milestone_fires_once_per_event_when_conditions_hold() {
    let sim = simulate(
        &[staff()],
        t0(),
        &[(min(0), declared(Severity::Sev1))],
        min(5),
    );
    assert_eq!(fired(&sim).len(), 2);
    assert_eq!(
        sim.actions[0].1.reason,
        "milestone declared reached at 03:12 UTC"
    );
    assert_eq!(
        sim.actions[0].1.idempotency_key,
        "staff-major-incidents:event:1:0"
    );
    // follow-up: the role assignment reached the state
    assert_eq!(sim.state.role_holder("incident_commander"), Some("alice"));
    let sim = simulate(
        &[staff()],
        t0(),
        &[(min(0), declared(Severity::Sev4))],
        min(5),
    );
    assert!(sim.actions.is_empty());
}

#[test]
fn on_event_severity_change_checks_conditions_after_the_change() {
    let sim = simulate(
        &[exec_briefing()],
        t0(),
        &[
            (min(0), declared(Severity::Sev2)),
            (min(5), Event::SeverityChanged { to: Severity::Sev1 }),
            (min(6), Event::SeverityChanged { to: Severity::Sev1 }), // no change
            (min(7), Event::SeverityChanged { to: Severity::Sev2 }), // conditions fail
        ],
        min(10),
    );
    assert_eq!(
        fired(&sim),
        vec![(5, "exec-briefing-on-sev1".into(), "notify")]
    );
    assert_eq!(
        sim.actions[0].1.reason,
        "severity changed from SEV2 to SEV1 at 03:17 UTC"
    );
}

#[test]
fn on_event_status() {
    let sim = simulate(
        &[postmortem()],
        t0(),
        &[
            (min(0), declared(Severity::Sev2)),
            (
                min(5),
                Event::StatusChanged {
                    to: Status::Mitigated,
                },
            ),
            (
                min(9),
                Event::StatusChanged {
                    to: Status::Resolved,
                },
            ),
        ],
        min(10),
    );
    assert_eq!(
        fired(&sim),
        vec![(9, "schedule-postmortem".into(), "create_task")]
    );
}

// ---------------------------------------------------------------- cadence

fn investigating_sev1() -> Vec<(SignedDuration, Event)> {
    vec![
        (min(0), declared(Severity::Sev1)),
        (
            min(0),
            Event::StatusChanged {
                to: Status::Investigating,
            },
        ),
    ]
}

#[test]
fn cadence_fires_every_period_and_escalates_an_ignored_reminder() {
    let sim = simulate(&[status_cadence()], t0(), &investigating_sev1(), min(65));
    assert_eq!(
        fired(&sim),
        vec![
            (30, "sev1-status-updates".into(), "draft_status_update"),
            (30, "sev1-status-updates".into(), "nudge"),
            (40, "sev1-status-updates".into(), "nudge"),
            (60, "sev1-status-updates".into(), "draft_status_update"),
            (60, "sev1-status-updates".into(), "nudge"),
        ]
    );
    let esc = &sim.actions[2].1;
    assert_eq!(
        esc.action,
        Action::Nudge {
            role: "incident_commander".into(),
            template: None
        }
    );
    assert_eq!(
        esc.idempotency_key,
        "sev1-status-updates:cadence:1:escalate:0"
    );
    assert_eq!(
        sim.actions[0].1.reason,
        "30 min since the cadence started at 03:12 UTC; no status update posted since"
    );
}

#[test]
fn cadence_resets_on_status_update_and_stops_when_condition_ends() {
    let mut events = investigating_sev1();
    events.push((
        min(35),
        Event::StatusUpdatePosted {
            actor: "dan".into(),
        },
    ));
    events.push((
        min(70),
        Event::StatusChanged {
            to: Status::Mitigated,
        },
    ));
    let sim = simulate(&[status_cadence()], t0(), &events, min(200));
    // 30: reminder; 35: posted (escalation at 40 cancelled); 65: reminder; 70: mitigated
    assert_eq!(
        fired(&sim)
            .into_iter()
            .map(|(m, _, k)| (m, k))
            .collect::<Vec<_>>(),
        vec![
            (30, "draft_status_update"),
            (30, "nudge"),
            (65, "draft_status_update"),
            (65, "nudge")
        ]
    );
    assert!(sim.state.pending_timers().next().is_none());
}

#[test]
fn acknowledging_the_nudge_cancels_its_escalation() {
    let mut events = investigating_sev1();
    events.push((
        min(32),
        Event::NudgeAcknowledged {
            key: "sev1-status-updates:cadence:1:1".into(),
        },
    ));
    let sim = simulate(&[status_cadence()], t0(), &events, min(45));
    assert_eq!(fired(&sim).len(), 2);
}

// ---------------------------------------------------------------- solo responder

#[test]
fn solo_responder_fires_after_the_period_once_per_spell() {
    let sim = simulate(
        &[solo()],
        t0(),
        &[
            (min(0), declared(Severity::Sev1)),
            (
                min(1),
                Event::ResponderJoined {
                    person: "alice".into(),
                },
            ),
        ],
        min(120),
    );
    assert_eq!(fired(&sim), vec![(16, "no-solo-heroics".into(), "page")]);
    assert_eq!(
        sim.actions[0].1.reason,
        "alice has been the only responder for 15 min (since 03:13 UTC); nobody else joined and no status update was posted"
    );
}

#[test]
fn solo_responder_is_stopped_by_a_second_responder_and_restarted_by_a_status_update() {
    let sim = simulate(
        &[solo()],
        t0(),
        &[
            (min(0), declared(Severity::Sev1)),
            (
                min(1),
                Event::ResponderJoined {
                    person: "alice".into(),
                },
            ),
            (
                min(10),
                Event::ResponderJoined {
                    person: "bob".into(),
                },
            ),
        ],
        min(120),
    );
    assert!(sim.actions.is_empty());
    let sim = simulate(
        &[solo()],
        t0(),
        &[
            (min(0), declared(Severity::Sev1)),
            (
                min(1),
                Event::ResponderJoined {
                    person: "alice".into(),
                },
            ),
            (
                min(10),
                Event::StatusUpdatePosted {
                    actor: "alice".into(),
                },
            ),
            // bob comes and goes: a new solo spell for alice
            (
                min(40),
                Event::ResponderJoined {
                    person: "bob".into(),
                },
            ),
            (
                min(41),
                Event::ResponderLeft {
                    person: "bob".into(),
                },
            ),
        ],
        min(120),
    );
    assert_eq!(
        fired(&sim),
        vec![
            (25, "no-solo-heroics".into(), "page"),
            (56, "no-solo-heroics".into(), "page")
        ]
    );
}

// ---------------------------------------------------------------- fan-out

#[test]
fn follow_up_events_are_depth_bounded() {
    let p = [staff()];
    let mut state = IncidentPolicyState::new();
    let out = handle_caused(
        &p,
        &mut state,
        &declared(Severity::Sev1),
        t0(),
        MAX_CASCADE_DEPTH,
    );
    assert_eq!(out.actions.len(), 2);
    assert!(out.actions.iter().all(|a| a.depth == MAX_CASCADE_DEPTH));

    let mut state = IncidentPolicyState::new();
    let out = handle_caused(
        &p,
        &mut state,
        &declared(Severity::Sev1),
        t0(),
        MAX_CASCADE_DEPTH + 1,
    );
    assert!(out.actions.is_empty());
    assert!(
        matches!(&out.records[..], [Record::Error { policy, message }]
        if policy == "staff-major-incidents" && message.contains("levels deep"))
    );
    // the event itself still counted
    assert_eq!(state.milestone("declared").map(|m| m.0), Some(t0()));
}

#[test]
fn follow_up_maps_assign_role_to_a_person_only() {
    let planned = |action| PlannedAction {
        policy: "p".into(),
        action,
        idempotency_key: "p:event:1:0".into(),
        reason: String::new(),
        depth: 0,
    };
    assert_eq!(
        follow_up(&planned(Action::AssignRole {
            role: "scribe".into(),
            to: Assignee::Person("erin".into())
        })),
        Some(Event::RoleAssigned {
            role: "scribe".into(),
            person: "erin".into()
        })
    );
    assert_eq!(
        follow_up(&planned(Action::AssignRole {
            role: "scribe".into(),
            to: Assignee::Schedule("s".into())
        })),
        None
    );
}

#[test]
fn events_before_declaration_are_remembered_but_fire_nothing() {
    let sim = simulate(
        &all_policies(),
        t0(),
        &[(
            min(0),
            Event::StatusChanged {
                to: Status::Resolved,
            },
        )],
        min(60),
    );
    assert!(sim.actions.is_empty() && sim.timer_log.is_empty());
}

#[test]
fn event_serde_shape() {
    let e: Event =
        serde_json::from_str(r#"{"declared":{"severity":"SEV1","services":["checkout"]}}"#)
            .unwrap();
    assert_eq!(e, declared(Severity::Sev1));
    let e: Event = serde_json::from_str(r#"{"status_update_posted":{}}"#).unwrap();
    assert_eq!(
        e,
        Event::StatusUpdatePosted {
            actor: String::new()
        }
    );
}

// ---------------------------------------------------------------- properties

fn arb_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        prop::sample::select(Severity::ALL.to_vec()).prop_map(|to| Event::SeverityChanged { to }),
        prop::sample::select(Status::ALL.to_vec()).prop_map(|to| Event::StatusChanged { to }),
        prop::sample::select(vec!["blast_radius_validated", "mitigated", "acknowledged"])
            .prop_map(|m| milestone(m, "p")),
        prop::sample::select(vec!["alice", "bob"])
            .prop_map(|p| Event::ResponderJoined { person: p.into() }),
        prop::sample::select(vec!["alice", "bob"])
            .prop_map(|p| Event::ResponderLeft { person: p.into() }),
        Just(Event::StatusUpdatePosted { actor: "c".into() }),
        (1u32..4).prop_map(|n| Event::NudgeAcknowledged {
            key: format!("sev1-status-updates:cadence:{n}:1")
        }),
        Just(Event::AlertAttached {}),
    ]
}

fn arb_incident() -> impl Strategy<Value = Vec<(SignedDuration, Event)>> {
    (
        prop::sample::select(Severity::ALL.to_vec()),
        prop::collection::vec((0i64..180, arb_event()), 0..30),
    )
        .prop_map(|(s, rest)| {
            let mut v = vec![(SignedDuration::ZERO, declared(s))];
            v.extend(rest.into_iter().map(|(m, e)| (min(m), e)));
            v
        })
}

/// Replays the timer log, checking: no key set while pending or ever reused; cancels and
/// firings only of pending keys; a firing exactly at its due time.
fn check_timer_log(sim: &Simulation) -> Result<(), String> {
    let mut pending = std::collections::BTreeMap::new();
    let mut used = BTreeSet::new();
    for (at, entry) in &sim.timer_log {
        match entry {
            TimerLog::Op(TimerOp::Set { key, due_at }) => {
                if !used.insert(key.clone()) {
                    return Err(format!("{key} set twice"));
                }
                pending.insert(key.clone(), *due_at);
            }
            TimerLog::Op(TimerOp::Cancel { key }) => {
                if pending.remove(key).is_none() {
                    return Err(format!("{key} cancelled while not pending"));
                }
            }
            TimerLog::Fired { key } => match pending.remove(key) {
                Some(due) if due == *at => {}
                Some(due) => return Err(format!("{key} due {due} fired at {at}")),
                None => {
                    return Err(format!(
                        "{key} fired while not pending (cancelled or fired)"
                    ));
                }
            },
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn simulation_is_deterministic(events in arb_incident()) {
        let p = all_policies();
        let a = simulate(&p, t0(), &events, min(240));
        let b = simulate(&p, t0(), &events, min(240));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn handle_is_deterministic(events in arb_incident()) {
        let p = all_policies();
        let mut s1 = IncidentPolicyState::new();
        for (i, (off, e)) in events.iter().enumerate() {
            let now = t0() + *off + SignedDuration::from_secs(i as i64);
            let mut s2 = s1.clone();
            let o1 = handle(&p, &mut s1, e, now);
            let o2 = handle(&p, &mut s2, e, now);
            prop_assert_eq!(&o1, &o2);
            prop_assert_eq!(&s1, &s2);
        }
    }

    #[test]
    fn timers_fire_at_most_once_and_never_after_a_cancel(events in arb_incident()) {
        let sim = simulate(&all_policies(), t0(), &events, min(240));
        prop_assert_eq!(check_timer_log(&sim), Ok(()));
        // and every action key is unique: the outbox never drops a distinct firing
        let keys: BTreeSet<_> = sim.actions.iter().map(|(_, a)| &a.idempotency_key).collect();
        prop_assert_eq!(keys.len(), sim.actions.len());
    }

    #[test]
    fn a_deadline_met_in_time_never_fires_on_missed(
        at in 0i64..20 * 60,
        noise in prop::collection::vec((0i64..120, prop_oneof![
            prop::sample::select(vec!["mitigated", "acknowledged"]).prop_map(|m| milestone(m, "p")),
            Just(Event::StatusUpdatePosted { actor: "c".into() }),
            Just(Event::ResponderJoined { person: "alice".into() }),
            Just(Event::StatusChanged { to: Status::Investigating }),
        ]), 0..20),
    ) {
        let mut events = vec![(SignedDuration::ZERO, declared(Severity::Sev1))];
        events.push((SignedDuration::from_secs(at), milestone("blast_radius_validated", "v")));
        events.extend(noise.into_iter().map(|(m, e)| (min(m), e)));
        let sim = simulate(&all_policies(), t0(), &events, min(240));
        prop_assert!(!sim.actions.iter().any(|(_, a)| a.idempotency_key.contains(":missed:")));
        prop_assert!(sim.outcomes.iter().all(|o| o.met));
        prop_assert_eq!(sim.outcomes.len(), 1);
    }

    #[test]
    fn any_met_outcome_means_no_missed_firing_for_that_instance(events in arb_incident()) {
        let sim = simulate(&all_policies(), t0(), &events, min(240));
        for o in sim.outcomes.iter().filter(|o| o.met) {
            let missed = format!("{}:deadline:{}:missed:", o.policy, o.instance);
            prop_assert!(!sim.actions.iter().any(|(_, a)| a.idempotency_key.starts_with(&missed)));
        }
    }

    #[test]
    fn arbitrary_timer_keys_never_panic(keys in prop::collection::vec("[a-z:0-9-]{0,30}", 0..10)) {
        let p = all_policies();
        let mut state = IncidentPolicyState::new();
        handle(&p, &mut state, &declared(Severity::Sev1), t0());
        for k in keys {
            let before = state.clone();
            let out = handle(&p, &mut state, &Event::TimerFired { key: k.clone() }, t0() + min(1));
            if !before.timers.contains_key(&k) {
                prop_assert!(out.is_empty());
                prop_assert_eq!(&before, &state);
            }
        }
    }
}
