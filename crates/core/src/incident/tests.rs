use proptest::prelude::*;

use super::*;

fn vocab() -> Vocabulary {
    Vocabulary::builtin(
        ["checkout".to_string(), "payments-api".to_string()],
        ["alice".to_string(), "bob".to_string()],
    )
}

fn t0() -> Timestamp {
    "2026-03-29T03:12:00Z".parse().unwrap()
}

/// Declares an incident and returns it with its timeline, as the store would.
fn declared() -> (Incident, Vec<TimelineEvent>) {
    let changes = declare(
        "Checkout 500s",
        Severity::Sev1,
        &["checkout".into()],
        &vocab(),
    )
    .unwrap();
    let events = stamp(0, changes);
    let mut inc = Incident::from_declared(IncidentNumber(7), &events[0]).unwrap();
    for e in &events[1..] {
        inc.apply(e);
    }
    (inc, events)
}

fn stamp(after: i64, changes: Vec<Change>) -> Vec<TimelineEvent> {
    changes
        .into_iter()
        .enumerate()
        .map(|(i, change)| TimelineEvent {
            seq: after + i as i64 + 1,
            at: t0() + jiff::SignedDuration::from_secs(after + i as i64),
            actor: "alice".into(),
            change,
        })
        .collect()
}

fn run(
    inc: &mut Incident,
    log: &mut Vec<TimelineEvent>,
    cmd: Command,
) -> Result<usize, DomainError> {
    let changes = decide(inc, &cmd, &vocab())?;
    let n = changes.len();
    for e in stamp(inc.last_seq, changes) {
        inc.apply(&e);
        log.push(e);
    }
    Ok(n)
}

#[test]
fn declaring_reaches_the_declared_milestone_in_triage() {
    let (inc, events) = declared();
    assert_eq!(inc.status, Status::Triage);
    assert_eq!(inc.id.to_string(), "INC-7");
    assert!(inc.milestone("declared").is_some());
    assert_eq!(events.len(), 2);
    assert_eq!(inc.last_seq, 2);
}

#[test]
fn declare_rejects_empty_title_and_unknown_service() {
    let e = declare("  ", Severity::Sev2, &[], &vocab()).unwrap_err();
    assert_eq!(e.field(), Some("title"));
    let e = declare("x", Severity::Sev2, &["nope".into()], &vocab()).unwrap_err();
    assert!(
        matches!(e, DomainError::Unknown { ref field, ref value, .. } if field == "service" && value == "nope")
    );
}

#[test]
fn acknowledging_twice_is_a_conflict() {
    let (mut inc, mut log) = declared();
    run(&mut inc, &mut log, Command::Acknowledge).unwrap();
    assert_eq!(
        inc.status,
        Status::Investigating,
        "ack moves triage to investigating"
    );
    let e = run(&mut inc, &mut log, Command::Acknowledge).unwrap_err();
    assert!(
        matches!(e, DomainError::Conflict(ref m) if m.contains("already reached acknowledged"))
    );
}

#[test]
fn every_status_update_is_recorded_not_only_the_first() {
    let (mut inc, mut log) = declared();
    let post = || Command::ReachMilestone {
        milestone: "status_update_posted".into(),
    };
    assert_eq!(run(&mut inc, &mut log, post()), Ok(1));
    assert_eq!(
        run(&mut inc, &mut log, post()),
        Ok(1),
        "a cadence expects many"
    );
    let posted = inc
        .milestones
        .iter()
        .filter(|m| m.milestone == "status_update_posted")
        .count();
    assert_eq!(posted, 2);
}

#[test]
fn milestone_on_resolved_incident_needs_a_reopen() {
    let (mut inc, mut log) = declared();
    run(&mut inc, &mut log, Command::Resolve).unwrap();
    assert!(inc.is_resolved());
    assert!(inc.resolved_at.is_some());
    let cmd = Command::ReachMilestone {
        milestone: "blast_radius_validated".into(),
    };
    let e = run(&mut inc, &mut log, cmd.clone()).unwrap_err();
    assert!(matches!(e, DomainError::Conflict(ref m) if m.contains("reopen")));
    assert!(run(&mut inc, &mut log, Command::Resolve).is_err());

    run(
        &mut inc,
        &mut log,
        Command::Reopen {
            status: Status::Investigating,
        },
    )
    .unwrap();
    assert_eq!(inc.status, Status::Investigating);
    assert!(inc.resolved_at.is_none());
    assert!(
        inc.milestone("resolved").is_none(),
        "reopen clears resolved"
    );
    run(&mut inc, &mut log, cmd).unwrap();
    run(&mut inc, &mut log, Command::Resolve).unwrap();
    assert_eq!(
        inc.milestones
            .iter()
            .filter(|m| m.milestone == "resolved")
            .count(),
        2,
        "history keeps both resolutions"
    );
}

#[test]
fn unknown_milestone_and_role_are_rejected_by_name() {
    let (mut inc, mut log) = declared();
    let e = run(
        &mut inc,
        &mut log,
        Command::ReachMilestone {
            milestone: "lunch".into(),
        },
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("milestone"));
    let e = run(
        &mut inc,
        &mut log,
        Command::AssignRole {
            role: "janitor".into(),
            person: "alice".into(),
        },
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("role"));
    let e = run(
        &mut inc,
        &mut log,
        Command::AssignRole {
            role: "ops_lead".into(),
            person: "zed".into(),
        },
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("person"));
}

#[test]
fn roles_record_the_previous_holder() {
    let (mut inc, mut log) = declared();
    let assign = |p: &str| Command::AssignRole {
        role: "incident_commander".into(),
        person: p.into(),
    };
    run(&mut inc, &mut log, assign("alice")).unwrap();
    assert_eq!(
        run(&mut inc, &mut log, assign("alice")).unwrap(),
        0,
        "same holder is a no-op"
    );
    run(&mut inc, &mut log, assign("bob")).unwrap();
    assert_eq!(
        log.last().unwrap().change,
        Change::RoleAssigned {
            role: "incident_commander".into(),
            person: "bob".into(),
            previous: Some("alice".into())
        }
    );
    run(
        &mut inc,
        &mut log,
        Command::ReleaseRole {
            role: "incident_commander".into(),
        },
    )
    .unwrap();
    assert!(inc.roles.is_empty());
    assert!(
        run(
            &mut inc,
            &mut log,
            Command::ReleaseRole {
                role: "incident_commander".into()
            }
        )
        .is_err()
    );
}

#[test]
fn setting_status_mitigated_reaches_the_milestone_once() {
    let (mut inc, mut log) = declared();
    let upd = |s| Command::Update {
        title: None,
        severity: None,
        status: Some(s),
        services: None,
    };
    run(&mut inc, &mut log, upd(Status::Mitigated)).unwrap();
    assert!(inc.milestone("mitigated").is_some());
    run(&mut inc, &mut log, upd(Status::Identified)).unwrap();
    run(&mut inc, &mut log, upd(Status::Mitigated)).unwrap();
    assert_eq!(
        inc.milestones
            .iter()
            .filter(|m| m.milestone == "mitigated")
            .count(),
        1
    );
}

#[test]
fn tasks_get_sequential_ids_and_toggle() {
    let (mut inc, mut log) = declared();
    run(
        &mut inc,
        &mut log,
        Command::AddTask {
            title: "Roll back".into(),
            assignee: Some("bob".into()),
        },
    )
    .unwrap();
    run(
        &mut inc,
        &mut log,
        Command::AddTask {
            title: "Tell PR".into(),
            assignee: None,
        },
    )
    .unwrap();
    assert_eq!(
        inc.tasks.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![1, 2]
    );
    run(
        &mut inc,
        &mut log,
        Command::SetTaskDone {
            task_id: 2,
            done: true,
        },
    )
    .unwrap();
    assert!(inc.tasks[1].done && inc.tasks[1].done_at.is_some());
    assert_eq!(
        run(
            &mut inc,
            &mut log,
            Command::SetTaskDone {
                task_id: 2,
                done: true
            }
        )
        .unwrap(),
        0
    );
    assert!(
        run(
            &mut inc,
            &mut log,
            Command::SetTaskDone {
                task_id: 9,
                done: true
            }
        )
        .is_err()
    );
}

#[test]
fn services_change_as_a_diff() {
    let (mut inc, mut log) = declared();
    let cmd = Command::Update {
        title: Some("Checkout and payments 500s".into()),
        severity: Some(Severity::Sev2),
        status: None,
        services: Some(vec!["payments-api".into()]),
    };
    assert_eq!(run(&mut inc, &mut log, cmd).unwrap(), 3);
    assert_eq!(inc.services, vec!["payments-api".to_string()]);
    assert_eq!(inc.severity, Severity::Sev2);
    assert_eq!(inc.title, "Checkout and payments 500s");
}

#[test]
fn responders_join_once_and_leave() {
    let (mut inc, mut log) = declared();
    let join = |p: &str| Command::Join { person: p.into() };
    run(&mut inc, &mut log, join("alice")).unwrap();
    assert_eq!(
        run(&mut inc, &mut log, join("alice")).unwrap(),
        0,
        "joining twice is a no-op"
    );
    run(&mut inc, &mut log, join("bob")).unwrap();
    assert_eq!(inc.responders, ["alice", "bob"]);
    assert!(
        run(&mut inc, &mut log, join("zed")).is_err(),
        "unknown person"
    );
    run(
        &mut inc,
        &mut log,
        Command::Leave {
            person: "alice".into(),
        },
    )
    .unwrap();
    assert_eq!(inc.responders, ["bob"]);
    let e = run(
        &mut inc,
        &mut log,
        Command::Leave {
            person: "alice".into(),
        },
    )
    .unwrap_err();
    assert!(matches!(e, DomainError::Conflict(_)));
    assert!(
        run(
            &mut inc,
            &mut log,
            Command::AcknowledgeNudge { key: " ".into() }
        )
        .is_err()
    );
    run(
        &mut inc,
        &mut log,
        Command::AcknowledgeNudge {
            key: "p:cadence:1:1".into(),
        },
    )
    .unwrap();
    assert_eq!(Incident::replay(inc.id, &log).unwrap(), inc);
}

#[test]
fn incident_types_are_checked_and_kept() {
    let changes =
        declare_typed("Leak", Severity::Sev2, &[], Some("data-exposure"), &vocab()).unwrap();
    let events = stamp(0, changes);
    let inc = Incident::replay(IncidentNumber(1), &events).unwrap();
    assert_eq!(inc.incident_type.as_deref(), Some("data-exposure"));
    let e =
        declare_typed("Leak", Severity::Sev2, &[], Some("Data Exposure"), &vocab()).unwrap_err();
    assert_eq!(e.field(), Some("incident_type"));
}

#[test]
fn parsing_names() {
    assert_eq!("sev1".parse::<Severity>().unwrap(), Severity::Sev1);
    assert!("SEV5".parse::<Severity>().is_err());
    assert_eq!(
        "INC-42".parse::<IncidentNumber>().unwrap(),
        IncidentNumber(42)
    );
    assert_eq!("42".parse::<IncidentNumber>().unwrap(), IncidentNumber(42));
    assert!("INC-0".parse::<IncidentNumber>().is_err());
    assert!("resolvedx".parse::<Status>().is_err());
}

fn arb_command() -> impl Strategy<Value = Command> {
    let status = prop::sample::select(Status::ALL.to_vec());
    let milestone = prop::sample::select(vec![
        "acknowledged",
        "blast_radius_validated",
        "mitigated",
        "resolved",
        "bogus",
    ]);
    let role = prop::sample::select(vec!["incident_commander", "ops_lead", "bogus"]);
    let person = prop::sample::select(vec!["alice", "bob"]);
    prop_oneof![
        Just(Command::Acknowledge),
        Just(Command::Resolve),
        status.clone().prop_map(|s| Command::Reopen { status: s }),
        status.prop_map(|s| Command::Update {
            title: None,
            severity: None,
            status: Some(s),
            services: None
        }),
        milestone.prop_map(|m| Command::ReachMilestone {
            milestone: m.into()
        }),
        (role.clone(), person).prop_map(|(r, p)| Command::AssignRole {
            role: r.into(),
            person: p.into()
        }),
        role.prop_map(|r| Command::ReleaseRole { role: r.into() }),
        (1u32..4, any::<bool>()).prop_map(|(id, done)| Command::SetTaskDone { task_id: id, done }),
        Just(Command::AddTask {
            title: "t".into(),
            assignee: None
        }),
        prop::sample::select(vec!["alice", "bob"]).prop_map(|p| Command::Join { person: p.into() }),
        prop::sample::select(vec!["alice", "bob"])
            .prop_map(|p| Command::Leave { person: p.into() }),
    ]
}

proptest! {
    /// Whatever is asked, the state stays consistent and equals the fold of its timeline.
    #[test]
    fn invariants_hold_for_any_command_sequence(cmds in prop::collection::vec(arb_command(), 0..40)) {
        let (mut inc, mut log) = declared();
        for cmd in cmds {
            let before = inc.clone();
            match run(&mut inc, &mut log, cmd) {
                Ok(_) => {}
                Err(_) => prop_assert_eq!(&inc, &before, "a refused command changes nothing"),
            }
            prop_assert_eq!(inc.is_resolved(), inc.resolved_at.is_some());
            prop_assert_eq!(inc.is_resolved(), inc.milestone("resolved").is_some());
            for m in ["acknowledged", "blast_radius_validated"] {
                prop_assert!(inc.milestones.iter().filter(|r| r.milestone == m).count() <= 1);
            }
        }
        let seqs: Vec<i64> = log.iter().map(|e| e.seq).collect();
        prop_assert_eq!(seqs, (1..=log.len() as i64).collect::<Vec<_>>(), "gap-free sequence");
        prop_assert_eq!(Incident::replay(inc.id, &log).unwrap(), inc);
    }

    /// Same inputs, same outputs.
    #[test]
    fn decide_is_deterministic(cmd in arb_command()) {
        let (inc, _) = declared();
        prop_assert_eq!(decide(&inc, &cmd, &vocab()), decide(&inc, &cmd, &vocab()));
    }
}
