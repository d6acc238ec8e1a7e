//! Deadlines expecting a role or an acknowledgement by an audience.

use jiff::SignedDuration;

use super::tests::{declared, min, t0};
use super::*;
use crate::incident::Severity;

fn legal() -> Audience {
    Audience::Alias("legal".into())
}

/// SEV1: legal is told at declaration.
fn tell_legal() -> Policy {
    Policy {
        id: "sev1-tell-legal".into(),
        when: Conditions {
            severity: vec![Severity::Sev1],
            ..Conditions::default()
        },
        trigger: Trigger::OnEvent(EventTrigger::Milestone("declared".into())),
        on_warn: vec![],
        on_missed: vec![],
        actions: vec![Action::Notify {
            alias: "legal".into(),
            template: "legal-briefing".into(),
        }],
    }
}

/// Legal acknowledges within 1 h of being first notified, else legal's on-call is paged.
fn legal_ack() -> Policy {
    Policy {
        id: "legal-ack-1h".into(),
        when: Conditions::default(),
        trigger: Trigger::Deadline {
            within: min(60),
            of: NOTIFIED.into(),
            expect: Expect::AcknowledgedBy(legal()),
            warn_before: None,
        },
        on_warn: vec![],
        on_missed: vec![Action::Page {
            target: PageTarget::Schedule("legal-oncall".into()),
        }],
        actions: vec![],
    }
}

fn comms_lead_10m() -> Policy {
    Policy {
        id: "comms-lead-10m".into(),
        when: Conditions::default(),
        trigger: Trigger::Deadline {
            within: min(10),
            of: "declared".into(),
            expect: Expect::Role("comms_lead".into()),
            warn_before: None,
        },
        on_warn: vec![],
        on_missed: vec![Action::Nudge {
            role: "incident_commander".into(),
            template: None,
        }],
        actions: vec![],
    }
}

fn ack(by: &str) -> Event {
    Event::AudienceAcknowledged {
        key: "sev1-tell-legal:event:1:0".into(),
        audience: legal(),
        by: by.into(),
    }
}

fn assign(role: &str, person: &str) -> Event {
    Event::RoleAssigned {
        role: role.into(),
        person: person.into(),
    }
}

fn run(policies: &[Policy], events: Vec<(SignedDuration, Event)>) -> Simulation {
    simulate(policies, t0(), &events, min(180))
}

fn outcome(policy: &str, met: bool, at: i64, due: i64, margin: i64, by: Option<&str>) -> Outcome {
    Outcome {
        policy: policy.into(),
        instance: 1,
        met,
        at: t0() + min(at),
        due_at: t0() + min(due),
        margin: min(margin),
        by: by.map(String::from),
    }
}

#[test]
fn expectations_read_as_keys() {
    assert_eq!(Expect::from("mitigated").key(), "mitigated");
    assert_eq!(Expect::Role("comms_lead".into()).key(), "role:comms_lead");
    assert_eq!(
        Expect::AcknowledgedBy(legal()).key(),
        "acknowledged_by:alias:legal"
    );
    assert_eq!(
        Expect::AcknowledgedBy(Audience::Schedule("legal-oncall".into())).key(),
        "acknowledged_by:schedule:legal-oncall"
    );
    assert_eq!(
        Audience::parse("person:alice"),
        Some(Audience::Person("alice".into()))
    );
    assert_eq!(Audience::parse("team:legal"), None);
    let typed = Expect::AcknowledgedBy(legal());
    let json = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"acknowledged_by": {"alias": "legal"}})
    );
    assert_eq!(serde_json::from_value::<Expect>(json).unwrap(), typed);
    let plain = serde_json::to_value(Expect::from("mitigated")).unwrap();
    assert_eq!(plain, serde_json::json!("mitigated"));
}

#[test]
fn a_notify_follows_up_as_its_audience_notified() {
    let pa = PlannedAction {
        policy: "sev1-tell-legal".into(),
        action: tell_legal().actions[0].clone(),
        idempotency_key: "sev1-tell-legal:event:1:0".into(),
        reason: String::new(),
        depth: 0,
    };
    assert_eq!(
        follow_up(&pa),
        Some(Event::AudienceNotified {
            key: "sev1-tell-legal:event:1:0".into(),
            audience: legal()
        })
    );
}

#[test]
fn an_unacknowledged_notification_misses_and_escalates_once() {
    let p = [tell_legal(), legal_ack()];
    let sim = run(&p, vec![(min(0), declared(Severity::Sev1))]);
    assert_eq!(
        sim.outcomes,
        vec![outcome("legal-ack-1h", false, 60, 60, 0, None)]
    );
    let pages: Vec<_> = sim
        .actions
        .iter()
        .filter(|(_, a)| a.policy == "legal-ack-1h")
        .map(|(at, a)| (*at, a.idempotency_key.as_str(), a.reason.as_str()))
        .collect();
    assert_eq!(
        pages,
        vec![(
            t0() + min(60),
            "legal-ack-1h:deadline:1:missed:0",
            "1 h 00 min since legal notified at 03:12 UTC; not acknowledged by legal"
        )]
    );
    assert_eq!(
        sim.state.notification("sev1-tell-legal:event:1:0"),
        Some(&Notification {
            audience: legal(),
            at: t0(),
            acknowledged: None
        })
    );
}

#[test]
fn an_acknowledgement_in_time_is_met_with_its_margin() {
    let p = [tell_legal(), legal_ack()];
    let sim = run(
        &p,
        vec![(min(0), declared(Severity::Sev1)), (min(10), ack("lena"))],
    );
    assert_eq!(
        sim.outcomes,
        vec![outcome("legal-ack-1h", true, 10, 60, 50, Some("lena"))]
    );
    assert!(sim.actions.iter().all(|(_, a)| a.policy != "legal-ack-1h"));
    let told = sim.state.notification("sev1-tell-legal:event:1:0");
    assert_eq!(
        told.and_then(|n| n.acknowledged.clone()),
        Some(("lena".to_string(), t0() + min(10)))
    );
}

#[test]
fn a_late_acknowledgement_reads_as_late_and_fires_nothing_more() {
    let p = [tell_legal(), legal_ack()];
    let sim = run(
        &p,
        vec![(min(0), declared(Severity::Sev1)), (min(75), ack("lena"))],
    );
    assert_eq!(
        sim.outcomes,
        vec![outcome("legal-ack-1h", false, 75, 60, -15, Some("lena"))]
    );
    assert_eq!(
        sim.actions
            .iter()
            .filter(|(_, a)| a.policy == "legal-ack-1h")
            .count(),
        1
    );
}

#[test]
fn the_clock_starts_at_the_first_notification_not_at_declaration() {
    // SEV2: nobody tells legal at declaration; a page to legal at 30 min starts the clock.
    let p = [tell_legal(), legal_ack()];
    let page = Event::AudienceNotified {
        key: "playbook:legal:legal".into(),
        audience: legal(),
    };
    let again = Event::AudienceNotified {
        key: "other:event:1:0".into(),
        audience: legal(),
    };
    let sim = run(
        &p,
        vec![
            (min(0), declared(Severity::Sev2)),
            (min(30), page),
            (min(40), again),
        ],
    );
    assert_eq!(
        sim.outcomes,
        vec![outcome("legal-ack-1h", false, 90, 90, 0, None)]
    );
}

#[test]
fn acknowledgements_by_another_audience_do_not_count() {
    let p = [tell_legal(), legal_ack()];
    let other = Event::AudienceAcknowledged {
        key: "exec:event:1:0".into(),
        audience: Audience::Alias("exec-staff".into()),
        by: "erin".into(),
    };
    let sim = run(
        &p,
        vec![(min(0), declared(Severity::Sev1)), (min(5), other)],
    );
    assert_eq!(
        sim.outcomes,
        vec![outcome("legal-ack-1h", false, 60, 60, 0, None)]
    );
}

#[test]
fn never_notified_never_armed() {
    let sim = run(&[legal_ack()], vec![(min(0), declared(Severity::Sev1))]);
    assert!(sim.outcomes.is_empty());
    assert!(sim.timer_log.is_empty());
}

#[test]
fn a_role_taken_in_time_is_met_by_its_holder() {
    let sim = run(
        &[comms_lead_10m()],
        vec![
            (min(0), declared(Severity::Sev2)),
            (min(4), assign("scribe", "sam")),
            (min(6), assign("comms_lead", "carol")),
        ],
    );
    assert_eq!(
        sim.outcomes,
        vec![outcome("comms-lead-10m", true, 6, 10, 4, Some("carol"))]
    );
}

#[test]
fn a_role_nobody_takes_is_missed_and_reads_as_such() {
    let sim = run(
        &[comms_lead_10m()],
        vec![(min(0), declared(Severity::Sev2))],
    );
    assert_eq!(
        sim.outcomes,
        vec![outcome("comms-lead-10m", false, 10, 10, 0, None)]
    );
    assert_eq!(
        sim.actions[0].1.reason,
        "10 min since declared at 03:12 UTC; nobody holds comms lead"
    );
}

#[test]
fn a_role_already_held_when_the_deadline_would_arm_is_not_armed() {
    let sim = run(
        &[comms_lead_10m()],
        vec![
            (min(0), assign("comms_lead", "carol")),
            (min(0), declared(Severity::Sev2)),
        ],
    );
    assert!(sim.outcomes.is_empty());
    assert!(sim.timer_log.is_empty());
}
