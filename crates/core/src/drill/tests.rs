//! Headless drills: ordering, conditions, who plays what, unreachable players, verdicts.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::engine::{Action, Assignee, Conditions, EventTrigger, PageTarget, Policy, Trigger};
use crate::incident::Status;

fn min(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

fn sev1() -> Conditions {
    Conditions {
        severity: vec![Severity::Sev1],
        ..Conditions::default()
    }
}

fn blast_radius() -> Policy {
    Policy {
        id: "blast-radius-20m".into(),
        when: sev1(),
        trigger: Trigger::Deadline {
            within: min(20),
            of: "declared".into(),
            expect: "blast_radius_validated".into(),
            warn_before: Some(min(5)),
        },
        on_warn: vec![Action::Nudge {
            role: "ops_lead".into(),
            template: None,
        }],
        on_missed: vec![Action::Page {
            target: PageTarget::Schedule("platform-secondary".into()),
        }],
        actions: vec![],
    }
}

fn staff() -> Policy {
    Policy {
        id: "staff".into(),
        when: sev1(),
        trigger: Trigger::OnEvent(EventTrigger::Milestone("declared".into())),
        on_warn: vec![],
        on_missed: vec![],
        actions: vec![Action::AssignRole {
            role: "comms_lead".into(),
            to: Assignee::Schedule("comms-rotation".into()),
        }],
    }
}

fn updates() -> Policy {
    Policy {
        id: "updates".into(),
        when: sev1(),
        trigger: Trigger::Cadence {
            every: min(30),
            reset_on: Some("status_update_posted".into()),
            while_: Conditions {
                status: vec![Status::Investigating, Status::Identified],
                ..Conditions::default()
            },
            escalate_after: None,
            escalate_to: None,
        },
        on_warn: vec![],
        on_missed: vec![],
        actions: vec![Action::Nudge {
            role: "comms_lead".into(),
            template: None,
        }],
    }
}

fn policies() -> Vec<Policy> {
    vec![blast_radius(), staff(), updates()]
}

fn scenario() -> Scenario {
    Scenario {
        id: "sev1-3am".into(),
        title: "SEV1 at 3 a.m.".into(),
        briefing: "Checkout is failing.".into(),
        starts_at: jiff::civil::time(3, 0, 0, 0),
        time_zone: "Europe/London".into(),
        zone: jiff::tz::TimeZone::get("Europe/London").unwrap(),
        length: min(120),
        incident: Opening {
            title: "Checkout failing".into(),
            severity: Severity::Sev1,
            services: vec!["checkout".into()],
            incident_type: None,
            alert: Some("CheckoutErrorRate > 5%".into()),
        },
        personas: vec![Persona {
            id: "vip".into(),
            name: "Dana, CTO of a large customer".into(),
            kind: PersonaKind::VipCustomer,
        }],
        play: vec![
            "incident_commander".into(),
            "ops_lead".into(),
            "comms_lead".into(),
            "executive".into(),
        ],
        players: BTreeMap::new(),
        injects: vec![Inject {
            at: min(45),
            what: InjectKind::Message {
                from: "vip".into(),
                to: "executive".into(),
                text: "Why is checkout down?".into(),
            },
            unless: Some(Condition {
                milestone: "customers_notified".into(),
                before: min(30),
            }),
        }],
        targets: vec![
            Target::Milestone {
                milestone: "blast_radius_validated".into(),
                within: min(20),
            },
            Target::Role {
                role: "comms_lead".into(),
                within: min(30),
            },
        ],
    }
}

fn step(at: i64, by: &str, act: Act) -> Step {
    Step {
        at: min(at),
        by: by.into(),
        act,
    }
}

fn profile(steps: Vec<Step>) -> Profile {
    Profile {
        id: "p".into(),
        description: String::new(),
        scenario: None,
        steps,
        expect: None,
    }
}

fn play(s: &Scenario, p: &Profile) -> (Played, Score) {
    let policies = policies();
    let vocab = crate::incident::Vocabulary::builtin(["checkout".to_string()], []);
    let played = run(s, Some(p), &policies, &vocab, &BTreeMap::new());
    let score = score(s, &policies, &played);
    (played, score)
}

#[test]
fn a_drill_at_3am_local_starts_at_3am_in_its_zone() {
    let mut s = scenario();
    let london: Timestamp = "2026-01-01T03:00:00Z".parse().unwrap();
    assert_eq!(start_of(&s), london);
    s.time_zone = "America/New_York".into();
    s.zone = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let new_york: Timestamp = "2026-01-01T08:00:00Z".parse().unwrap();
    assert_eq!(start_of(&s), new_york);
}

#[test]
fn validating_late_is_late_with_its_margin_and_the_rotation_only_reaches_the_inbox() {
    let p = profile(vec![
        step(3, "incident_commander", Act::Acknowledge),
        step(
            25,
            "ops_lead",
            Act::Milestone("blast_radius_validated".into()),
        ),
    ]);
    let (played, score) = play(&scenario(), &p);
    let row = &score.policies[0];
    assert_eq!(row.policy, "blast-radius-20m");
    assert_eq!(row.verdict, Verdict::Late);
    assert_eq!(row.due_s, Some(20 * 60));
    assert_eq!(row.at_s, Some(25 * 60));
    assert_eq!(row.margin_s, Some(-5 * 60));
    assert_eq!(row.by.as_deref(), Some("participant:ops_lead"));
    let page = played
        .messages
        .iter()
        .find(|m| m.kind == MessageKind::Page)
        .expect("the missed deadline pages");
    assert_eq!(page.to, "inbox");
    assert_eq!(page.at_s, 20 * 60);
    let nudge = played
        .messages
        .iter()
        .find(|m| m.kind == MessageKind::Nudge && m.from == "policy:blast-radius-20m")
        .expect("the warning nudges the ops lead");
    assert_eq!(
        (nudge.to.as_str(), nudge.at_s),
        ("participant:ops_lead", 15 * 60)
    );
    let target = &score.targets[0];
    assert_eq!(
        (target.verdict, target.margin_s),
        (Verdict::Late, Some(-5 * 60))
    );
}

#[test]
fn validating_in_time_is_met_and_never_is_missed() {
    let met = profile(vec![step(
        19,
        "ops_lead",
        Act::Milestone("blast_radius_validated".into()),
    )]);
    let (_, score) = play(&scenario(), &met);
    assert_eq!(score.policy_verdict("blast-radius-20m"), Some(Verdict::Met));
    assert_eq!(score.policies[0].margin_s, Some(60));
    let (_, score) = play(&scenario(), &profile(vec![]));
    assert_eq!(
        score.policy_verdict("blast-radius-20m"),
        Some(Verdict::Missed)
    );
    assert_eq!(score.policies[0].margin_s, None);
    assert_eq!(score.targets[0].verdict, Verdict::Missed);
}

#[test]
fn a_condition_skips_its_inject_only_when_the_milestone_came_in_time() {
    let early = profile(vec![step(
        20,
        "comms_lead",
        Act::Milestone("customers_notified".into()),
    )]);
    let (played, _) = play(&scenario(), &early);
    assert!(!played.injects[0].fired);
    assert_eq!(
        played.injects[0].note.as_deref(),
        Some("skipped: customers notified reached at T+20 min")
    );
    assert!(
        played
            .messages
            .iter()
            .all(|m| m.kind != MessageKind::Persona)
    );

    let late = profile(vec![step(
        40,
        "comms_lead",
        Act::Milestone("customers_notified".into()),
    )]);
    let (played, _) = play(&scenario(), &late);
    assert!(played.injects[0].fired);
    let call = played
        .messages
        .iter()
        .find(|m| m.kind == MessageKind::Persona)
        .expect("the VIP calls");
    assert_eq!(
        (call.at_s, call.to.as_str(), call.from.as_str()),
        (45 * 60, "participant:executive", "vip")
    );
}

#[test]
fn a_policy_hands_a_played_role_to_its_player_and_a_late_join_misses_the_target() {
    let mut s = scenario();
    s.injects.push(Inject {
        at: min(240),
        what: InjectKind::BringIn {
            role: "comms_lead".into(),
        },
        unless: None,
    });
    s.length = min(300);
    let (played, score) = play(&s, &profile(vec![]));
    let comms = played
        .roles
        .iter()
        .find(|r| r.role == "comms_lead")
        .expect("comms lead logged");
    assert_eq!(comms.player, "participant:comms_lead");
    assert_eq!(
        comms.assigned_s,
        Some(0),
        "handed over by the policy at declaration"
    );
    assert_eq!(comms.joined_s, Some(240 * 60));
    let target = score.targets.iter().find(|t| t.kind == "role").unwrap();
    assert_eq!(target.verdict, Verdict::Late);
    assert_eq!(target.margin_s, Some(-210 * 60));
}

#[test]
fn an_unreachable_player_takes_no_more_steps_and_leaves_messages_unanswered() {
    let mut s = scenario();
    s.injects.push(Inject {
        at: min(10),
        what: InjectKind::Unreachable {
            role: "ops_lead".into(),
        },
        unless: None,
    });
    let p = profile(vec![step(
        12,
        "ops_lead",
        Act::Milestone("blast_radius_validated".into()),
    )]);
    let (played, score) = play(&s, &p);
    assert!(!played.steps[0].3, "the step is not taken");
    assert_eq!(
        score.policy_verdict("blast-radius-20m"),
        Some(Verdict::Missed)
    );
    let nudge = played
        .messages
        .iter()
        .find(|m| m.kind == MessageKind::Nudge && m.to == "participant:ops_lead")
        .unwrap();
    assert!(!nudge.answered);
}

#[test]
fn a_cadence_is_kept_only_when_no_reminder_fires() {
    let kept = profile(vec![
        step(1, "incident_commander", Act::Acknowledge),
        step(25, "comms_lead", Act::StatusUpdate),
        step(50, "comms_lead", Act::StatusUpdate),
        step(75, "comms_lead", Act::StatusUpdate),
        step(100, "comms_lead", Act::StatusUpdate),
    ]);
    let (_, score) = play(&scenario(), &kept);
    assert_eq!(score.policy_verdict("updates"), Some(Verdict::Kept));
    let (_, score) = play(&scenario(), &profile(vec![]));
    assert_eq!(
        score.policy_verdict("updates"),
        Some(Verdict::NotApplied),
        "nobody acknowledged: the incident stayed in triage"
    );
    let silent = profile(vec![step(0, "incident_commander", Act::Acknowledge)]);
    let (_, score) = play(&scenario(), &silent);
    assert_eq!(score.policy_verdict("updates"), Some(Verdict::NotKept));
    let row = score
        .policies
        .iter()
        .find(|p| p.policy == "updates")
        .unwrap();
    assert_eq!(row.fired, 4, "a reminder at 30, 60, 90 and 120 minutes");
}

#[test]
fn the_score_counts_met_against_scored_verdicts() {
    let p = profile(vec![
        step(1, "incident_commander", Act::Acknowledge),
        step(
            10,
            "ops_lead",
            Act::Milestone("blast_radius_validated".into()),
        ),
        step(5, "comms_lead", Act::Join),
    ]);
    let (_, score) = play(&scenario(), &p);
    // deadline met, cadence not kept, two targets met: 3 of 4.
    assert_eq!((score.totals.met, score.totals.not_met), (3, 1));
    assert_eq!(score.totals.percent, 75);
    let expected = Expected {
        policies: vec![("blast-radius-20m".into(), Verdict::Late)],
        targets: vec![("comms_lead".into(), Verdict::Met)],
        score: Some(80),
    };
    assert_eq!(
        expected.differences(&score),
        vec![
            "policy blast-radius-20m: expected late, got met".to_string(),
            "score: expected 80%, got 75%".to_string(),
        ]
    );
}

#[test]
fn headless_runs_are_deterministic_to_the_byte() {
    let p = profile(vec![
        step(3, "incident_commander", Act::Acknowledge),
        step(
            25,
            "ops_lead",
            Act::Milestone("blast_radius_validated".into()),
        ),
        step(40, "comms_lead", Act::StatusUpdate),
    ]);
    let report = || {
        let (played, score) = play(&scenario(), &p);
        let r = Report::new(&scenario(), played, score);
        (markdown(&r), serde_json::to_string(&r).unwrap(), svg(&r))
    };
    let first = report();
    assert_eq!(first, report());
    assert!(
        first.0.contains(
            "| blast-radius-20m | deadline | ⚠️ late | T+20 min | T+25 min | 5 min late |"
        ),
        "{}",
        first.0
    );
    assert!(first.2.starts_with("<svg") && first.2.contains("blast-radius-20m late"));
}

#[test]
fn chart_text_from_scenarios_is_escaped() {
    let mut s = scenario();
    s.title = "<script>alert(1)</script> & co".into();
    let (played, score) = play(&s, &profile(vec![]));
    let chart = svg(&Report::new(&s, played, score));
    assert!(chart.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    assert!(!chart.contains("<script>"));
}

#[test]
fn a_live_inject_tells_its_addressee_in_the_personas_words() {
    let s = scenario();
    let (to, text) = s.message_of(&s.injects[0].what).unwrap();
    assert_eq!(to, Addressee::Part("executive"));
    assert!(to.reaches("executive") && !to.reaches("comms_lead"));
    assert_eq!(text, "Dana, CTO of a large customer: Why is checkout down?");
    let alert = InjectKind::Recovers {
        service: "checkout".into(),
    };
    let (to, text) = s.message_of(&alert).unwrap();
    assert!(to.reaches("comms_lead") && to.reaches("executive"));
    assert_eq!(text, "checkout recovers");
    let gone = InjectKind::Unreachable {
        role: "ops_lead".into(),
    };
    assert_eq!(
        s.message_of(&gone),
        Some((Addressee::Part("ops_lead"), UNREACHABLE_TEXT.to_string()))
    );
    let bring = InjectKind::BringIn {
        role: "comms_lead".into(),
    };
    assert_eq!(s.message_of(&bring), None);
}

#[test]
fn a_live_target_is_open_until_reached_or_its_time_is_up() {
    let target = |at_s| TargetScore {
        kind: "milestone",
        subject: "mitigated".into(),
        within_s: 3600,
        at_s,
        verdict: Verdict::Missed,
        margin_s: None,
    };
    assert!(target(None).open_at(3599));
    assert!(!target(None).open_at(3600));
    assert!(!target(Some(60)).open_at(120));
}

#[test]
fn a_live_score_so_far_leaves_open_targets_out() {
    let target = |at_s, verdict| TargetScore {
        kind: "milestone",
        subject: "mitigated".into(),
        within_s: 3600,
        at_s,
        verdict,
        margin_s: None,
    };
    let score = Score {
        policies: vec![],
        targets: vec![
            target(Some(60), Verdict::Met),
            target(None, Verdict::Missed),
        ],
        totals: Totals {
            met: 1,
            not_met: 1,
            percent: 50,
        },
    };
    let open = score.so_far(600);
    assert_eq!((open.met, open.not_met, open.percent), (1, 0, 100));
    let up = score.so_far(3600);
    assert_eq!((up.met, up.not_met, up.percent), (1, 1, 50));
}
