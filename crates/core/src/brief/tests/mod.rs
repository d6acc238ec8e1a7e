//! Snapshot tests: fixture incidents built through the core API at fixed times, every summary
//! kind rendered and compared with the Markdown checked in under `tests/snapshots/brief/`.
//! `MUSTER_BLESS=1 cargo test -p muster-core brief` rewrites the files after a deliberate change.

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::engine::{Action, PageTarget};
use crate::incident::{Command, IncidentNumber, Vocabulary, decide, declare};
use crate::timeline::Change;

mod digest;

const T0: &str = "2026-03-29T03:12:00Z";

fn t(min: i64) -> Timestamp {
    T0.parse::<Timestamp>().unwrap() + SignedDuration::from_mins(min)
}

fn vocab() -> Vocabulary {
    Vocabulary::builtin(
        ["checkout", "payments-api"].map(String::from),
        ["alice", "bob", "carol", "dave", "erin"].map(String::from),
    )
}

/// An incident and its timeline, built event by event as the server would.
struct Fx {
    incident: Incident,
    events: Vec<TimelineEvent>,
}

impl Fx {
    fn declare(title: &str, severity: Severity, services: &[&str]) -> Fx {
        let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
        let changes = declare(title, severity, &services, &vocab()).unwrap();
        let mut events = Vec::new();
        for (n, change) in changes.into_iter().enumerate() {
            events.push(TimelineEvent {
                seq: n as i64 + 1,
                at: t(0),
                actor: "alice".into(),
                change,
            });
        }
        let incident = Incident::replay(IncidentNumber(7), &events).unwrap();
        Fx { incident, events }
    }

    fn push(&mut self, min: i64, actor: &str, changes: Vec<Change>) {
        for change in changes {
            let e = TimelineEvent {
                seq: self.incident.last_seq + 1,
                at: t(min),
                actor: actor.into(),
                change,
            };
            self.incident.apply(&e);
            self.events.push(e);
        }
    }

    fn cmd(&mut self, min: i64, actor: &str, command: Command) {
        let changes = decide(&self.incident, &command, &vocab()).unwrap();
        self.push(min, actor, changes);
    }

    fn facts<'a>(&'a self, pending: &'a [PendingDeadline], now: i64) -> Facts<'a> {
        Facts {
            incident: &self.incident,
            events: &self.events,
            pending,
            alerts: &[],
            similar: &[],
            now: t(now),
        }
    }
}

fn policy(
    min: i64,
    policy: &str,
    reason: &str,
    actions: Vec<Action>,
    who: &[&str],
) -> (i64, Change) {
    (
        min,
        Change::PolicyFired {
            policy: policy.into(),
            reason: reason.into(),
            actions,
            recipients: who.iter().map(|s| s.to_string()).collect(),
            late_by_ms: None,
        },
    )
}

/// A SEV2 raised to SEV1, with a missed and a met deadline, a page, an escalation, a role
/// hand-off, tasks, Slack markup in a note and HTML in the title. Ends mitigated at 03:50.
fn sev1() -> Fx {
    let mut fx = Fx::declare(
        "Checkout <b>500s</b> for *EU* users | p95 > 2s",
        Severity::Sev2,
        &["checkout", "payments-api"],
    );
    let staff = "policy:staff-major-incidents";
    fx.cmd(
        0,
        staff,
        Command::AssignRole {
            role: "incident_commander".into(),
            person: "carol".into(),
        },
    );
    fx.cmd(
        0,
        staff,
        Command::AssignRole {
            role: "comms_lead".into(),
            person: "dave".into(),
        },
    );
    fx.cmd(
        0,
        staff,
        Command::AddTask {
            title: "Open an incident channel and post the first update".into(),
            assignee: None,
        },
    );
    fx.cmd(
        1,
        "alice",
        Command::Join {
            person: "alice".into(),
        },
    );
    fx.cmd(2, "alice", Command::Acknowledge);
    fx.cmd(6, "alice", Command::AddNote {
        text: "errors spike after deploy <https://deploy.example/42|#42>\ncc <@U123|bob> :fire: 日本語 *bold*".into(),
    });
    fx.cmd(
        8,
        "carol",
        Command::Update {
            title: None,
            severity: Some(Severity::Sev1),
            status: None,
            services: None,
        },
    );
    let (m, c) = policy(
        15,
        "blast-radius-20m",
        "deadline in 5 min: blast radius not validated",
        vec![Action::Nudge {
            role: "ops_lead".into(),
            template: None,
        }],
        &[],
    );
    fx.push(m, "policy:blast-radius-20m", vec![c]);
    let (m, c) = policy(
        20,
        "blast-radius-20m",
        "20 min since declared at 03:12 UTC; blast radius not validated",
        vec![
            Action::Page {
                target: PageTarget::Schedule("platform-secondary".into()),
            },
            Action::Notify {
                alias: "comms-leads".into(),
                template: "sev-escalated".into(),
            },
        ],
        &["erin", "dave"],
    );
    fx.push(
        m,
        "policy:blast-radius-20m",
        vec![
            c,
            Change::DeadlineOutcome {
                policy: "blast-radius-20m".into(),
                instance: 1,
                met: false,
                expect: "blast_radius_validated".into(),
                at: t(20),
                due_at: t(20),
                margin_secs: 0,
                by: None,
            },
        ],
    );
    fx.push(
        20,
        "policy:esc",
        vec![Change::EscalationStep {
            escalation_policy: "platform-escalation".into(),
            pass: 0,
            step: 0,
            paged: vec!["erin".into()],
            reason: "no acknowledgement".into(),
            late_by_ms: None,
        }],
    );
    fx.push(
        21,
        "deliver",
        vec![
            Change::NotificationQueued {
                key: "k1".into(),
                to: vec!["person:erin via slack".into()],
            },
            Change::NotificationSent {
                key: "k1".into(),
                channel: "slack".into(),
                to: "erin".into(),
                latency_ms: 800,
            },
            Change::NotificationFailed {
                key: "k2".into(),
                channel: "sms".into(),
                to: "dave".into(),
                error: "503".into(),
                retry_in_ms: None,
                fallback: Some("email".into()),
            },
        ],
    );
    fx.cmd(
        23,
        "bob",
        Command::Join {
            person: "bob".into(),
        },
    );
    fx.cmd(
        23,
        "bob",
        Command::ReachMilestone {
            milestone: "blast_radius_validated".into(),
        },
    );
    // One outcome per deadline instance: the late milestone adds none; how late it came is
    // read from the milestone.
    fx.cmd(
        24,
        "carol",
        Command::AssignRole {
            role: "incident_commander".into(),
            person: "bob".into(),
        },
    );
    fx.cmd(
        26,
        "bob",
        Command::AddTask {
            title: "Roll back deploy #42".into(),
            assignee: Some("bob".into()),
        },
    );
    fx.cmd(
        27,
        "dave",
        Command::SetTaskDone {
            task_id: 1,
            done: true,
        },
    );
    fx.cmd(
        28,
        "bob",
        Command::Update {
            title: None,
            severity: None,
            status: Some(Status::Identified),
            services: None,
        },
    );
    fx.cmd(
        29,
        "dave",
        Command::ReachMilestone {
            milestone: "status_update_posted".into(),
        },
    );
    fx.cmd(
        29,
        "dave",
        Command::ReachMilestone {
            milestone: "customers_notified".into(),
        },
    );
    fx.push(
        29,
        "policy:sev1-customers-notified-30m",
        vec![Change::DeadlineOutcome {
            policy: "sev1-customers-notified-30m".into(),
            instance: 1,
            met: true,
            expect: "customers_notified".into(),
            at: t(29),
            due_at: t(30),
            margin_secs: 60,
            by: Some("dave".into()),
        }],
    );
    fx.cmd(
        31,
        "carol",
        Command::Leave {
            person: "alice".into(),
        },
    );
    fx.cmd(
        38,
        "bob",
        Command::ReachMilestone {
            milestone: "mitigated".into(),
        },
    );
    fx
}

fn sev1_pending() -> Vec<PendingDeadline> {
    vec![
        PendingDeadline {
            policy: "sev1-status-updates".into(),
            kind: "cadence".into(),
            expect: None,
            due_at: t(59),
        },
        PendingDeadline {
            policy: "sev1-status-updates".into(),
            kind: "deadline_warning".into(),
            expect: None,
            due_at: t(49),
        },
        PendingDeadline {
            policy: "platform-escalation".into(),
            kind: "escalation".into(),
            expect: None,
            due_at: t(50),
        },
    ]
}

fn alerts() -> Vec<LinkedAlert> {
    vec![LinkedAlert {
        id: 12,
        service: "checkout".into(),
        severity: Severity::Sev1,
        summary: "High 5xx rate | EU <script>alert(1)</script>".into(),
        status: "firing".into(),
        first_seen: t(-1),
        last_seen: t(30),
        count: 17,
    }]
}

fn resolved() -> Fx {
    let mut fx = sev1();
    fx.cmd(60, "bob", Command::Resolve);
    fx.cmd(
        60,
        "policy:schedule-postmortem",
        Command::AddTask {
            title: "Book the post-incident review".into(),
            assignee: Some("carol".into()),
        },
    );
    fx
}

/// Compares with the checked-in snapshot (or writes it under `MUSTER_BLESS=1`).
fn snapshot(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots/brief")
        .join(format!("{name}.md"));
    if std::env::var_os("MUSTER_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {}; run with MUSTER_BLESS=1",
            path.display()
        )
    });
    assert_eq!(actual, expected, "snapshot {name} differs");
}

#[test]
fn brief_since_a_time() {
    let fx = sev1();
    let pending = sev1_pending();
    let similar = vec![SimilarIncident {
        id: "INC-3".into(),
        title: "Checkout errors after deploy".into(),
        experts: vec!["bob".into(), "erin".into()],
    }];
    let facts = Facts {
        similar: &similar,
        ..fx.facts(&pending, 43)
    };
    let b = brief(&facts, t(18));
    assert!(b.lines.len() <= MAX_BRIEF_LINES);
    assert_eq!(b.severity_changes.len(), 0, "the raise was before 03:30");
    assert_eq!(b.deadlines.len(), 2);
    assert_eq!(
        b.paged.len(),
        2,
        "the missed deadline's page+notify and the escalation step"
    );
    snapshot("brief_since", &b.markdown());
}

#[test]
fn brief_of_everything() {
    let fx = sev1();
    let pending = sev1_pending();
    let b = brief(&fx.facts(&pending, 43), t(-600));
    assert_eq!(b.since, t(0));
    assert_eq!(b.events_since, fx.events.len());
    assert_eq!(b.severity_changes[0].to, Severity::Sev1);
    snapshot("brief_all", &b.markdown());
}

#[test]
fn fresh_incident_without_timeline() {
    let fx = Fx::declare("Ledger heartbeat missed", Severity::Sev3, &[]);
    let facts = Facts {
        events: &[],
        ..fx.facts(&[], 5)
    };
    let b = brief(&facts, t(0));
    assert_eq!(b.events_since, 0);
    let mut all = b.markdown();
    all.push_str(&status_update_draft(&facts, Audience::Internal).markdown());
    all.push_str(&status_update_draft(&facts, Audience::Customer).markdown());
    all.push_str(&handoff(&facts, None).markdown());
    all.push_str(&exec_summary(&facts).markdown());
    all.push_str(&review_draft(&facts).markdown());
    snapshot("fresh", &all);
}

#[test]
fn internal_status_update_in_can_form() {
    let fx = sev1();
    let pending = sev1_pending();
    let d = status_update_draft(&fx.facts(&pending, 43), Audience::Internal);
    assert_eq!(d.next_update_at, Some(t(59)), "the cadence timer says when");
    assert!(d.needs.iter().any(|n| n.contains("ops lead")));
    snapshot("status_internal", &d.markdown());
}

#[test]
fn customer_update_names_no_people_roles_or_policies() {
    let fx = sev1();
    let pending = sev1_pending();
    let d = status_update_draft(&fx.facts(&pending, 43), Audience::Customer);
    let text = serde_json::to_string(&d.body).unwrap() + &d.headline + &d.markdown();
    for internal in [
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
        "SEV",
        "commander",
        "policy",
        "blast",
        "<b>",
    ] {
        assert!(!text.contains(internal), "{internal} in {text}");
    }
    snapshot("status_customer", &d.markdown());
    let done = resolved();
    let d = status_update_draft(&done.facts(&[], 70), Audience::Customer);
    assert_eq!(d.next_update_at, None);
    snapshot("status_customer_resolved", &d.markdown());
}

#[test]
fn handoff_of_the_commander() {
    let fx = sev1();
    let pending = sev1_pending();
    let h = handoff(&fx.facts(&pending, 43), Some("incident_commander"));
    assert_eq!(h.from.as_deref(), Some("carol"));
    assert_eq!(h.to.as_deref(), Some("bob"));
    assert_eq!(h.at, Some(t(24)));
    snapshot("handoff", &h.markdown());
    let latest = handoff(&fx.facts(&pending, 43), None);
    assert_eq!(
        latest.role, "incident_commander",
        "the last role to change hands"
    );
}

#[test]
fn executive_summary() {
    let fx = sev1();
    let pending = sev1_pending();
    let e = exec_summary(&fx.facts(&pending, 43));
    assert_eq!(e.missed_deadlines, 1);
    assert_eq!(e.incident.duration_secs, 43 * 60);
    snapshot("exec", &e.markdown());
}

#[test]
fn review_draft_of_a_resolved_sev1() {
    let fx = resolved();
    let alerts = alerts();
    let facts = Facts {
        alerts: &alerts,
        ..fx.facts(&[], 70)
    };
    let r = review_draft(&facts);
    assert_eq!(
        r.adherence.len(),
        2,
        "one row per deadline; the late milestone makes the missed one late"
    );
    assert_eq!(r.adherence[0].margin_secs, -180);
    assert_eq!(r.adherence.iter().filter(|d| d.met).count(), 1);
    assert_eq!(r.deliveries.sent, 1);
    assert!(!r.follow_ups[0].done, "open tasks come first");
    let md = r.markdown();
    assert!(
        md.contains("\\<script>") && !md.replace("\\<", "").contains("<script>"),
        "alert summaries are escaped: {md}"
    );
    snapshot("review", &md);
}

#[test]
fn ten_thousand_events_still_brief_in_twelve_lines() {
    let mut fx = sev1();
    for n in 0..10_000 {
        let change = match n % 4 {
            0 => Change::NoteAdded {
                text: format!("note {n} with <@U{n}> and **markup**"),
            },
            1 => Change::ResponderJoined {
                person: format!("p{}", n % 50),
            },
            2 => Change::StatusChanged {
                from: Status::Identified,
                to: Status::Identified,
            },
            _ => Change::NotificationSent {
                key: format!("k{n}"),
                channel: "slack".into(),
                to: "x".into(),
                latency_ms: 1,
            },
        };
        fx.push(40 + n / 100, "bob", vec![change]);
    }
    let pending = sev1_pending();
    let facts = fx.facts(&pending, 200);
    let b = brief(&facts, t(39));
    assert_eq!(b.events_since, 10_000);
    assert!(b.lines.len() <= MAX_BRIEF_LINES, "{}", b.markdown());
    assert!(b.markdown().contains("+2497 more"), "{}", b.markdown());
    let r = review_draft(&facts);
    assert!(r.timeline.len() <= review::REVIEW_TIMELINE_ROWS);
    assert!(r.timeline_omitted > 7000);
}

#[test]
fn no_summary_ever_emits_raw_html_from_a_title() {
    let fx = sev1();
    let pending = sev1_pending();
    let facts = fx.facts(&pending, 43);
    for md in [
        brief(&facts, t(0)).markdown(),
        status_update_draft(&facts, Audience::Internal).markdown(),
        status_update_draft(&facts, Audience::Customer).markdown(),
        handoff(&facts, None).markdown(),
        exec_summary(&facts).markdown(),
        review_draft(&facts).markdown(),
    ] {
        // Every `<` that could open a tag is escaped, so no renderer sees a tag.
        let unescaped = md.replace("\\<", "");
        assert!(
            !unescaped.contains("<b>") && !unescaped.contains("</b"),
            "{md}"
        );
        assert!(md.contains("\\<b>") || !md.contains("500s"), "{md}");
    }
}

/// Timelines written before one outcome per instance hold a second record for the late
/// milestone: it still reads as one late deadline.
#[test]
fn an_older_second_outcome_record_still_reads_as_one_late_deadline() {
    let mut fx = sev1();
    let late = Change::DeadlineOutcome {
        policy: "blast-radius-20m".into(),
        instance: 1,
        met: false,
        expect: "blast_radius_validated".into(),
        at: t(23),
        due_at: t(20),
        margin_secs: -180,
        by: Some("bob".into()),
    };
    fx.push(23, "bob", vec![late]);
    let r = review_draft(&fx.facts(&[], 70));
    let row = r
        .adherence
        .iter()
        .filter(|d| d.policy == "blast-radius-20m")
        .collect::<Vec<_>>();
    assert_eq!(row.len(), 1);
    assert_eq!(
        (row[0].met, row[0].margin_secs, row[0].at),
        (false, -180, t(23))
    );
}

#[test]
fn same_inputs_same_text() {
    let fx = sev1();
    let pending = sev1_pending();
    let a = review_draft(&fx.facts(&pending, 43));
    let b = review_draft(&fx.facts(&pending, 43));
    assert_eq!(a, b);
    assert_eq!(a.markdown(), b.markdown());
}

#[test]
fn expectations_and_acknowledgements_read_in_plain_words() {
    assert_eq!(
        text::expectation("blast_radius_validated"),
        "blast radius validated"
    );
    assert_eq!(text::expectation("role:comms_lead"), "comms lead held");
    assert_eq!(
        text::expectation("acknowledged_by:alias:legal"),
        "acknowledged by legal"
    );
    assert_eq!(
        text::expectation("acknowledged_by:schedule:legal-oncall"),
        "acknowledged by schedule legal-oncall"
    );
    let ack = Change::NotificationAcknowledged {
        key: "sev1-tell-legal:event:1:0".into(),
        by: "ken".into(),
        audience: "alias:legal".into(),
        delay_secs: 600,
        channel: None,
    };
    assert_eq!(
        events::describe(&ack).as_deref(),
        Some("ken acknowledged the notification to legal after 10 min")
    );
    let by_sms = Change::NotificationAcknowledged {
        key: "INC-1/alert:payments/esc:0:0:0".into(),
        by: "alice".into(),
        audience: "person:alice".into(),
        delay_secs: 90,
        channel: Some("sms".into()),
    };
    assert_eq!(
        events::describe(&by_sms).as_deref(),
        Some("alice acknowledged the notification to alice after 1 min by SMS reply")
    );
}

#[test]
fn a_late_acknowledgement_reads_as_late_in_the_adherence() {
    let at = |m: i64| -> Timestamp {
        "2026-03-02T03:12:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(m)
    };
    let event = |seq: i64, m: i64, change: Change| crate::timeline::TimelineEvent {
        seq,
        at: at(m),
        actor: "x".into(),
        change,
    };
    let timeline = [
        event(
            1,
            60,
            Change::DeadlineOutcome {
                policy: "legal-ack-1h".into(),
                instance: 1,
                met: false,
                expect: "acknowledged_by:alias:legal".into(),
                at: at(60),
                due_at: at(60),
                margin_secs: 0,
                by: None,
            },
        ),
        event(
            2,
            75,
            Change::NotificationAcknowledged {
                key: "sev1-tell-legal:event:1:0".into(),
                by: "ken".into(),
                audience: "alias:legal".into(),
                delay_secs: 4500,
                channel: None,
            },
        ),
    ];
    let read = events::outcomes_with_arrival(&timeline);
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].0.margin_secs, -900);
    assert_eq!(read[0].0.at, at(75));
    assert!(!read[0].1, "it came, late");
}
