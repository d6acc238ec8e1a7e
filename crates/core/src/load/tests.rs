use jiff::tz::TimeZone;

use super::*;
use crate::engine::{Action, PageTarget};
use crate::incident::Status;
use crate::timeline::Change;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn ev(seq: i64, at: &str, actor: &str, change: Change) -> TimelineEvent {
    TimelineEvent {
        seq,
        at: t(at),
        actor: actor.into(),
        change,
    }
}

fn declared(at: &str) -> TimelineEvent {
    ev(
        1,
        at,
        "alice",
        Change::Declared {
            title: "x".into(),
            severity: Severity::Sev1,
            status: Status::Triage,
            services: vec!["checkout".into()],
            incident_type: None,
            exercise: false,
        },
    )
}

fn step(seq: i64, at: &str, paged: &[&str]) -> TimelineEvent {
    ev(
        seq,
        at,
        "escalation:ep",
        Change::EscalationStep {
            escalation_policy: "ep".into(),
            pass: 0,
            step: 0,
            paged: paged.iter().map(|p| p.to_string()).collect(),
            reason: "r".into(),
            late_by_ms: None,
        },
    )
}

fn fired(seq: i64, at: &str, actions: Vec<Action>, recipients: &[&str]) -> TimelineEvent {
    ev(
        seq,
        at,
        "policy:p",
        Change::PolicyFired {
            policy: "p".into(),
            reason: "r".into(),
            actions,
            recipients: recipients.iter().map(|p| p.to_string()).collect(),
            late_by_ms: None,
        },
    )
}

fn milestone(seq: i64, at: &str, m: &str) -> TimelineEvent {
    ev(
        seq,
        at,
        "bob",
        Change::MilestoneReached {
            milestone: m.into(),
        },
    )
}

fn zones(p: &str) -> Option<TimeZone> {
    let name = match p {
        "priya" => "Asia/Kolkata",
        "alice" | "bob" => "Europe/London",
        "grace" => "America/New_York",
        _ => return None,
    };
    Some(TimeZone::get(name).unwrap())
}

fn teams(s: &str) -> Option<String> {
    match s {
        "checkout" | "payments-api" => Some("payments".into()),
        _ => None,
    }
}

fn facts<'a>(timeline: &'a [TimelineEvent], services: &'a [String]) -> IncidentFacts<'a> {
    IncidentFacts {
        severity: Severity::Sev1,
        services,
        exercise: false,
        declared_at: timeline[0].at,
        timeline,
    }
}

fn local(zone: &str, at: &str) -> jiff::civil::DateTime {
    TimeZone::get(zone).unwrap().to_datetime(t(at))
}

#[test]
fn buckets_are_read_in_the_persons_own_zone() {
    // 21:30 UTC on a Tuesday is 03:00 on Wednesday in Kolkata: sleep, not off-hours.
    assert_eq!(
        bucket(local("Asia/Kolkata", "2026-12-01T21:30:00Z")),
        Bucket::Sleep
    );
    assert_eq!(
        bucket(local("UTC", "2026-12-01T21:30:00Z")),
        Bucket::OffHours
    );
    // Saturday noon is off-hours, a Tuesday noon business.
    assert_eq!(
        bucket(local("Europe/London", "2026-12-05T12:00:00Z")),
        Bucket::OffHours
    );
    assert_eq!(
        bucket(local("Europe/London", "2026-12-01T12:00:00Z")),
        Bucket::Business
    );
    // The edges: 08:00 starts business, 18:00 off-hours, 22:00 sleep.
    assert_eq!(
        bucket(local("UTC", "2026-12-01T08:00:00Z")),
        Bucket::Business
    );
    assert_eq!(bucket(local("UTC", "2026-12-01T07:59:59Z")), Bucket::Sleep);
    assert_eq!(
        bucket(local("UTC", "2026-12-01T18:00:00Z")),
        Bucket::OffHours
    );
    assert_eq!(bucket(local("UTC", "2026-12-01T22:00:00Z")), Bucket::Sleep);
}

#[test]
fn buckets_follow_the_wall_clock_across_a_dst_change() {
    // London springs forward on Sunday 2026-03-29 at 01:00 UTC. 07:30 UTC is 08:30 BST:
    // awake on a weekend (it would be 07:30, sleep, at the winter offset).
    assert_eq!(
        bucket(local("Europe/London", "2026-03-29T07:30:00Z")),
        Bucket::OffHours
    );
    // The Monday after, 07:30 UTC is 08:30: business. A week before it was 07:30: sleep.
    assert_eq!(
        bucket(local("Europe/London", "2026-03-30T07:30:00Z")),
        Bucket::Business
    );
    assert_eq!(
        bucket(local("Europe/London", "2026-03-23T07:30:00Z")),
        Bucket::Sleep
    );
}

#[test]
fn pages_and_nudges_reach_people_once_per_instant() {
    let page_ep = Action::Page {
        target: PageTarget::EscalationPolicy("ep".into()),
    };
    let nudge = Action::Nudge {
        role: "incident_commander".into(),
        template: None,
    };
    let assign = Action::AssignRole {
        role: "incident_commander".into(),
        to: crate::engine::Assignee::Person("bob".into()),
    };
    let tl = vec![
        declared("2026-12-01T21:00:00Z"),
        // A policy assigns bob: an assignment, not an interruption.
        ev(
            2,
            "2026-12-01T21:00:00Z",
            "policy:p",
            Change::RoleAssigned {
                role: "incident_commander".into(),
                person: "bob".into(),
                previous: None,
            },
        ),
        fired(3, "2026-12-01T21:00:00Z", vec![assign], &["bob"]),
        // A policy pages an escalation policy: its firing and the first step both name
        // priya at one instant; the alias and the channel are not people.
        step(
            4,
            "2026-12-01T21:30:00Z",
            &["priya", "alias:leads", "#incidents"],
        ),
        fired(5, "2026-12-01T21:30:00Z", vec![page_ep.clone()], &["priya"]),
        // A nudge to the commander and a page in one firing.
        fired(
            6,
            "2026-12-01T21:40:00Z",
            vec![page_ep, nudge],
            &["grace", "bob"],
        ),
    ];
    let got: Vec<(String, Kind)> = interruptions(&tl, |p| zones(p).is_some())
        .into_iter()
        .map(|i| (i.person, i.kind))
        .collect();
    assert_eq!(
        got,
        vec![
            ("bob".to_string(), Kind::Nudge),
            ("grace".to_string(), Kind::Page),
            ("priya".to_string(), Kind::Page),
        ]
    );
}

#[test]
fn load_per_person_by_bucket_trailing_window_and_heatmap() {
    let services = vec!["checkout".to_string()];
    let a = vec![
        declared("2026-12-01T21:00:00Z"),
        // 03:00 Wednesday in Kolkata: sleep.
        step(2, "2026-12-01T21:30:00Z", &["priya"]),
    ];
    let b = vec![
        declared("2026-12-05T11:55:00Z"),
        // Saturday 12:00 in London: off-hours; 17:30 in Kolkata: off-hours (a weekend).
        // Walter has left (no zone any more): counted in UTC; the channel is nobody.
        step(
            2,
            "2026-12-05T12:00:00Z",
            &["alice", "priya", "walter", "#incidents", "schedule:x"],
        ),
    ];
    let c = vec![
        declared("2026-11-02T10:00:00Z"),
        // Monday 2 November, 15:30 in Kolkata: business, but older than 21 days.
        step(2, "2026-11-02T10:00:00Z", &["priya"]),
    ];
    let mut drill = vec![
        declared("2026-12-02T10:00:00Z"),
        step(2, "2026-12-02T10:00:00Z", &["priya"]),
    ];
    drill[0].change = Change::Declared {
        title: "drill".into(),
        severity: Severity::Sev1,
        status: Status::Triage,
        services: vec![],
        incident_type: None,
        exercise: true,
    };
    let mut d = facts(&drill, &services);
    d.exercise = true;
    let report = load_report(
        &[
            facts(&a, &services),
            facts(&b, &services),
            facts(&c, &services),
            d,
        ],
        zones,
        teams,
        t("2026-12-06T00:00:00Z"),
    );
    assert_eq!((report.real_incidents, report.drills), (3, 1));
    let people: Vec<&str> = report.people.iter().map(|p| p.person.as_str()).collect();
    assert_eq!(
        people,
        vec!["priya", "alice", "walter"],
        "sleep first, then by id"
    );
    let priya = &report.people[0];
    assert_eq!(priya.time_zone, "Asia/Kolkata");
    let b3 = |b: &Buckets| (b.business, b.off_hours, b.sleep, b.total);
    assert_eq!(b3(&priya.pages), (1, 1, 1, 3));
    assert_eq!(b3(&priya.nudges), (0, 0, 0, 0));
    assert_eq!(b3(&priya.interruptions), (1, 1, 1, 3));
    assert_eq!(b3(&priya.trailing_21d), (0, 1, 1, 2));
    assert_eq!(
        (priya.incidents, priya.shifts, priya.shifts_over_2_incidents),
        (3, 3, 0)
    );
    assert_eq!(b3(&report.people[1].pages), (0, 1, 0, 1));
    assert_eq!(report.people[2].time_zone, "UTC");
    assert_eq!(b3(&report.people[2].pages), (0, 1, 0, 1));
    // Heatmap: Wednesday 03 and Monday 15 in Kolkata, Saturday 17 in Kolkata, 12 in London
    // and in UTC.
    let h = &report.pages_by_hour_of_week;
    assert_eq!((h.len(), h[0].len()), (7, 24));
    assert_eq!((h[2][3], h[0][15], h[5][17], h[5][12]), (1, 1, 1, 2));
    assert_eq!(h.iter().flatten().sum::<u32>(), 5, "the drill pages nobody");
    let svg = chart::heatmap_svg(&report);
    assert_eq!(svg.matches("<rect class=\"cell\"").count(), 168);
    let bars = chart::people_svg(&report);
    assert_eq!(bars.matches("<g class=\"bar\">").count(), 3);
}

#[test]
fn a_shift_over_two_incidents_counts_once() {
    let services = vec!["checkout".to_string()];
    let at = [
        "2026-12-01T00:00:00Z",
        "2026-12-01T03:00:00Z",
        "2026-12-01T06:00:00Z",
        "2026-12-01T10:00:00Z",
        // 13 hours after the first: a new shift, with one incident.
        "2026-12-01T13:00:00Z",
    ];
    let timelines: Vec<Vec<TimelineEvent>> = at
        .iter()
        .map(|a| vec![declared(a), step(2, a, &["grace"])])
        .collect();
    let all: Vec<IncidentFacts<'_>> = timelines.iter().map(|tl| facts(tl, &services)).collect();
    let report = load_report(&all, zones, teams, t("2026-12-02T00:00:00Z"));
    let g = &report.people[0];
    assert_eq!(
        (g.incidents, g.shifts, g.shifts_over_2_incidents),
        (5, 2, 1)
    );
}

#[test]
fn percentiles_and_means_on_known_values() {
    let s = Stats::of(vec![600, 60, 6000, 120, 300]);
    assert_eq!(
        (s.count, s.median_s, s.p90_s, s.mean_s),
        (5, Some(300), Some(6000), Some(1416))
    );
    let s = Stats::of((1..=10).collect());
    assert_eq!((s.median_s, s.p90_s, s.mean_s), (Some(5), Some(9), Some(6)));
    let s = Stats::of(vec![]);
    assert_eq!(
        (s.count, s.median_s, s.p90_s, s.mean_s),
        (0, None, None, None)
    );
    assert_eq!(percentile(&[7], 90), Some(7));
}

#[test]
fn response_times_by_severity_service_and_team() {
    let two = vec!["checkout".to_string(), "payments-api".to_string()];
    let cdn = vec!["cdn".to_string()];
    let a = vec![
        declared("2026-12-01T00:00:00Z"),
        milestone(2, "2026-12-01T00:02:00Z", "acknowledged"),
        milestone(3, "2026-12-01T00:30:00Z", "mitigated"),
        milestone(4, "2026-12-01T01:00:00Z", "resolved"),
        // Reopened and resolved again: MTTR counts to the last resolution.
        ev(
            5,
            "2026-12-01T02:00:00Z",
            "bob",
            Change::Reopened {
                to: Status::Investigating,
            },
        ),
        milestone(6, "2026-12-01T03:00:00Z", "resolved"),
    ];
    let b = vec![
        declared("2026-12-02T00:00:00Z"),
        milestone(2, "2026-12-02T00:10:00Z", "acknowledged"),
        // Reopened, still open: not resolved.
        milestone(3, "2026-12-02T00:20:00Z", "resolved"),
        ev(
            4,
            "2026-12-02T00:40:00Z",
            "bob",
            Change::Reopened {
                to: Status::Investigating,
            },
        ),
    ];
    let mut fb = facts(&b, &cdn);
    fb.severity = Severity::Sev2;
    let report = load_report(
        &[facts(&a, &two), fb],
        zones,
        teams,
        t("2026-12-03T00:00:00Z"),
    );
    let r = &report.response;
    let s = |s: &Stats| (s.count, s.median_s, s.p90_s, s.mean_s);
    assert_eq!(r.all.incidents, 2);
    assert_eq!(s(&r.all.acknowledged), (2, Some(120), Some(600), Some(360)));
    assert_eq!(s(&r.all.mitigated), (1, Some(1800), Some(1800), Some(1800)));
    assert_eq!(
        s(&r.all.resolved),
        (1, Some(10_800), Some(10_800), Some(10_800))
    );
    assert_eq!(
        s(&r.by_severity["SEV2"].acknowledged),
        (1, Some(600), Some(600), Some(600))
    );
    assert_eq!(r.by_severity["SEV2"].resolved.count, 0);
    assert_eq!(
        r.by_service.keys().collect::<Vec<_>>(),
        vec!["cdn", "checkout", "payments-api"]
    );
    // One incident on two payments services counts once for payments.
    assert_eq!(r.by_team["payments"].incidents, 1);
    assert_eq!(r.by_team[NO_TEAM].incidents, 1);
}
