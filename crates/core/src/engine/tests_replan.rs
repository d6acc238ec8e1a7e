//! [`replan`]: armed timers under a reloaded configuration.

use jiff::SignedDuration;

use super::tests::{blast_radius, declared, min, status_cadence, t0};
use super::*;
use crate::incident::Severity;

/// A SEV1 declared at t0 under `policies`, handled up to its declaration.
fn armed(policies: &[Policy]) -> IncidentPolicyState {
    let mut state = IncidentPolicyState::new();
    handle(policies, &mut state, &declared(Severity::Sev1), t0());
    state
}

fn due(state: &IncidentPolicyState, key: &str) -> Option<Timestamp> {
    state
        .pending_timers()
        .find(|t| t.key == key)
        .map(|t| t.due_at)
}

#[test]
fn unchanged_policies_change_nothing() {
    let policies = [blast_radius(), status_cadence()];
    let mut state = armed(&policies);
    let before = state.clone();
    let out = replan(&policies, &mut state, t0() + min(3));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(state, before);
}

#[test]
fn a_removed_policy_has_its_timers_cancelled_once() {
    let mut state = armed(&[blast_radius()]);
    assert!(due(&state, "deadline:blast-radius-20m:1:due").is_some());
    let out = replan(&[], &mut state, t0() + min(3));
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
    assert_eq!(
        out.records,
        vec![Record::Cancelled {
            policy: "blast-radius-20m".into(),
            reason: "policy removed from the configuration".into(),
        }]
    );
    assert_eq!(state.pending_timers().count(), 0);
    // Nothing fires from it any more.
    let fired = handle(
        &[],
        &mut state,
        &Event::TimerFired {
            key: "deadline:blast-radius-20m:1:due".into(),
        },
        t0() + min(20),
    );
    assert!(fired.is_empty());
}

fn with_within(within: SignedDuration, warn: Option<SignedDuration>) -> Policy {
    let mut p = blast_radius();
    if let Trigger::Deadline {
        within: w,
        warn_before,
        ..
    } = &mut p.trigger
    {
        *w = within;
        *warn_before = warn;
    }
    p
}

#[test]
fn a_changed_deadline_moves_from_when_it_was_armed() {
    let mut state = armed(&[blast_radius()]);
    let out = replan(
        &[with_within(min(30), Some(min(5)))],
        &mut state,
        t0() + min(3),
    );
    assert_eq!(
        due(&state, "deadline:blast-radius-20m:1:due"),
        Some(t0() + min(30))
    );
    assert_eq!(
        due(&state, "deadline:blast-radius-20m:1:warn"),
        Some(t0() + min(25))
    );
    assert_eq!(
        out.records,
        vec![
            Record::Replanned {
                policy: "blast-radius-20m".into(),
                key: "deadline:blast-radius-20m:1:due".into(),
                from: t0() + min(20),
                to: t0() + min(30),
            },
            Record::Replanned {
                policy: "blast-radius-20m".into(),
                key: "deadline:blast-radius-20m:1:warn".into(),
                from: t0() + min(15),
                to: t0() + min(25),
            },
        ]
    );
    // The shell moves the stored timer by the same key.
    assert!(out.timers.contains(&TimerOp::Set {
        key: "deadline:blast-radius-20m:1:due".into(),
        due_at: t0() + min(30),
    }));
}

#[test]
fn a_deadline_shortened_into_the_past_is_due_now_and_a_dropped_warning_goes() {
    let mut state = armed(&[blast_radius()]);
    let now = t0() + min(12);
    let out = replan(&[with_within(min(10), None)], &mut state, now);
    assert_eq!(due(&state, "deadline:blast-radius-20m:1:due"), Some(now));
    assert_eq!(due(&state, "deadline:blast-radius-20m:1:warn"), None);
    assert!(out.timers.contains(&TimerOp::Cancel {
        key: "deadline:blast-radius-20m:1:warn".into()
    }));
    assert!(out.records.contains(&Record::Replanned {
        policy: "blast-radius-20m".into(),
        key: "deadline:blast-radius-20m:1:due".into(),
        from: t0() + min(20),
        to: now,
    }));
}

#[test]
fn a_policy_whose_trigger_changed_kind_is_cancelled() {
    let mut state = armed(&[blast_radius()]);
    let mut cadence = status_cadence();
    cadence.id = "blast-radius-20m".into();
    let out = replan(&[cadence], &mut state, t0() + min(3));
    assert_eq!(state.pending_timers().count(), 0);
    assert_eq!(
        out.records,
        vec![Record::Cancelled {
            policy: "blast-radius-20m".into(),
            reason: "policy's trigger changed in the configuration".into(),
        }]
    );
}

#[test]
fn a_cadence_round_moves_with_its_period() {
    let cadence = status_cadence();
    let mut state = armed(std::slice::from_ref(&cadence));
    // The cadence runs while investigating.
    handle(
        std::slice::from_ref(&cadence),
        &mut state,
        &Event::StatusChanged {
            to: crate::incident::Status::Investigating,
        },
        t0() + min(2),
    );
    let key = "cadence:sev1-status-updates:1";
    assert_eq!(due(&state, key), Some(t0() + min(32)));
    let mut faster = cadence;
    if let Trigger::Cadence { every, .. } = &mut faster.trigger {
        *every = min(15);
    }
    replan(&[faster], &mut state, t0() + min(5));
    assert_eq!(due(&state, key), Some(t0() + min(17)));
}

#[test]
fn state_stored_before_replanning_existed_still_decodes() {
    let state = armed(&[blast_radius()]);
    let json = serde_json::to_value(&state).expect("encode");
    let back: IncidentPolicyState = serde_json::from_value(json).expect("decode");
    assert_eq!(back, state);
}
