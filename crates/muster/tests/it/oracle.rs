//! Issue 4: schedule resolution checked against an independent Python oracle
//! (`tests/oracle/schedule_oracle.py`: zoneinfo + dateutil, brute force), and the iCalendar feed
//! parsed back with Python's `icalendar`. Needs `python3` with `python-dateutil` and `icalendar`
//! (scripts/test.sh installs them).

use std::io::Write;
use std::process::{Command, Stdio};

use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use muster_core::schedule::{
    Layer, Override, Resolution, Restriction, Schedule, ShiftLength, ShiftSource, shifts,
};
use serde_json::{Value, json};

fn script() -> String {
    format!(
        "{}/tests/oracle/schedule_oracle.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn python(mode: &str, input: &[u8]) -> Value {
    let mut child = Command::new("python3")
        .arg(script())
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .unwrap_or_else(|e| panic!("writing to the oracle: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("oracle: {e}"));
    assert!(
        out.status.success(),
        "oracle failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("oracle output: {e}"))
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn hm(s: &str) -> Time {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

struct Case {
    name: String,
    from: Timestamp,
    to: Timestamp,
    schedule: Schedule,
}

fn layer(
    members: &[&str],
    shift: ShiftLength,
    handoff: &str,
    start: &str,
    restrictions: Vec<Restriction>,
) -> Layer {
    Layer {
        name: format!("l-{handoff}-{start}"),
        members: members.iter().map(|m| m.to_string()).collect(),
        shift,
        handoff: hm(handoff),
        start: start.parse().unwrap_or_else(|e| panic!("{start}: {e}")),
        restrictions,
    }
}

fn window(days: &[Weekday], from: &str, to: &str) -> Restriction {
    Restriction {
        days: days.to_vec(),
        from: hm(from),
        to: hm(to),
    }
}

fn ov(id: &str, person: &str, replaces: Option<&str>, from: &str, to: &str) -> Override {
    Override {
        id: Some(id.into()),
        person: person.into(),
        replaces: replaces.map(Into::into),
        from: ts(from),
        to: ts(to),
        reason: None,
    }
}

fn case(
    name: &str,
    zone: &str,
    from: &str,
    to: &str,
    layers: Vec<Layer>,
    overrides: Vec<Override>,
) -> Case {
    Case {
        name: name.into(),
        from: ts(from),
        to: ts(to),
        schedule: Schedule {
            id: name.into(),
            time_zone: jiff::tz::TimeZone::get(zone).unwrap_or_else(|e| panic!("{zone}: {e}")),
            layers,
            overrides,
        },
    }
}

use Weekday::{Friday as Fri, Monday as Mon, Saturday as Sat, Sunday as Sun};
const WEEKDAYS: [Weekday; 5] = [
    Mon,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Fri,
];

/// The hand-written battery: each case names the rule it exercises.
fn battery() -> Vec<Case> {
    let abc = ["alice", "bob", "carol"];
    vec![
        case(
            "london-weekly-0900-spring-forward",
            "Europe/London",
            "2026-03-01T00:00:00Z",
            "2026-04-20T00:00:00Z",
            vec![layer(
                &abc,
                ShiftLength::Weeks(1),
                "09:00",
                "2026-03-02",
                vec![],
            )],
            vec![],
        ),
        case(
            "london-daily-0900-fall-back",
            "Europe/London",
            "2026-10-20T00:00:00Z",
            "2026-10-30T00:00:00Z",
            vec![layer(
                &abc,
                ShiftLength::Days(1),
                "09:00",
                "2026-10-01",
                vec![],
            )],
            vec![],
        ),
        case(
            "london-daily-0130-gap-and-fold",
            "Europe/London",
            "2026-03-26T00:00:00Z",
            "2026-10-28T00:00:00Z",
            vec![layer(
                &abc,
                ShiftLength::Days(1),
                "01:30",
                "2026-03-20",
                vec![],
            )],
            vec![],
        ),
        case(
            "new-york-daily-0230-in-the-gap",
            "America/New_York",
            "2026-03-05T00:00:00Z",
            "2026-03-12T00:00:00Z",
            vec![layer(
                &abc,
                ShiftLength::Days(1),
                "02:30",
                "2026-03-01",
                vec![],
            )],
            vec![],
        ),
        case(
            "new-york-daily-0130-in-the-fold",
            "America/New_York",
            "2026-10-29T00:00:00Z",
            "2026-11-05T00:00:00Z",
            vec![layer(
                &abc,
                ShiftLength::Days(1),
                "01:30",
                "2026-10-01",
                vec![],
            )],
            vec![],
        ),
        case(
            "new-york-12h-both-transitions",
            "America/New_York",
            "2026-03-01T00:00:00Z",
            "2026-11-10T00:00:00Z",
            vec![layer(
                &abc,
                ShiftLength::Hours(12),
                "08:00",
                "2026-02-27",
                vec![],
            )],
            vec![],
        ),
        case(
            "new-york-weekly-both-transitions",
            "America/New_York",
            "2026-02-20T00:00:00Z",
            "2026-11-20T00:00:00Z",
            vec![layer(
                &["a", "b", "c", "d"],
                ShiftLength::Weeks(1),
                "02:30",
                "2026-01-04",
                vec![],
            )],
            vec![],
        ),
        case(
            "sydney-weekly-sunday-0230",
            "Australia/Sydney",
            "2026-03-20T00:00:00Z",
            "2026-10-20T00:00:00Z",
            vec![layer(
                &abc,
                ShiftLength::Weeks(1),
                "02:30",
                "2026-03-01",
                vec![],
            )],
            vec![],
        ),
        case(
            "sydney-2d-0900",
            "Australia/Sydney",
            "2026-03-25T00:00:00Z",
            "2026-10-15T00:00:00Z",
            vec![layer(
                &abc,
                ShiftLength::Days(2),
                "09:00",
                "2026-01-01",
                vec![],
            )],
            vec![],
        ),
        case(
            "auckland-daily-0230",
            "Pacific/Auckland",
            "2026-03-30T00:00:00Z",
            "2026-10-05T00:00:00Z",
            vec![layer(
                &abc,
                ShiftLength::Days(1),
                "02:30",
                "2026-03-01",
                vec![],
            )],
            vec![],
        ),
        case(
            "lord-howe-half-hour",
            "Australia/Lord_Howe",
            "2026-03-28T00:00:00Z",
            "2026-10-10T00:00:00Z",
            vec![
                layer(&abc, ShiftLength::Days(1), "01:45", "2026-03-01", vec![]),
                layer(
                    &["x", "y"],
                    ShiftLength::Weeks(1),
                    "02:15",
                    "2026-03-01",
                    vec![window(&[Sat, Sun], "02:00", "02:45")],
                ),
            ],
            vec![],
        ),
        case(
            "kolkata-8h-and-business-hours",
            "Asia/Kolkata",
            "2026-03-01T00:00:00Z",
            "2026-05-01T00:00:00Z",
            vec![
                layer(&abc, ShiftLength::Hours(8), "06:00", "2026-02-15", vec![]),
                layer(
                    &["dev", "eve"],
                    ShiftLength::Days(1),
                    "09:30",
                    "2026-02-15",
                    vec![window(&WEEKDAYS, "09:30", "18:00")],
                ),
            ],
            vec![],
        ),
        case(
            "restrictions-crossing-midnight",
            "America/New_York",
            "2026-02-25T00:00:00Z",
            "2026-11-15T00:00:00Z",
            vec![
                layer(
                    &["base1", "base2"],
                    ShiftLength::Weeks(1),
                    "09:00",
                    "2026-01-05",
                    vec![],
                ),
                layer(
                    &["night1", "night2", "night3"],
                    ShiftLength::Weeks(1),
                    "09:00",
                    "2026-01-05",
                    vec![
                        window(&[Fri, Sat], "22:00", "06:00"),
                        window(&[Sun], "23:30", "01:30"),
                    ],
                ),
            ],
            vec![],
        ),
        case(
            "full-day-window-from-equals-to",
            "Europe/London",
            "2026-03-20T00:00:00Z",
            "2026-04-10T00:00:00Z",
            vec![layer(
                &abc,
                ShiftLength::Days(3),
                "12:00",
                "2026-03-01",
                vec![window(&[Sat], "09:00", "09:00")],
            )],
            vec![],
        ),
        case(
            "overrides-split-shifts",
            "Europe/London",
            "2026-10-19T00:00:00Z",
            "2026-11-09T00:00:00Z",
            vec![layer(
                &abc,
                ShiftLength::Weeks(1),
                "09:00",
                "2026-10-05",
                vec![],
            )],
            vec![
                ov(
                    "o1",
                    "zed",
                    None,
                    "2026-10-21T12:00:00Z",
                    "2026-10-22T12:00:00Z",
                ),
                ov(
                    "o2",
                    "yan",
                    Some("bob"),
                    "2026-10-25T00:00:00Z",
                    "2026-10-28T00:00:00Z",
                ),
                ov(
                    "o3",
                    "xia",
                    Some("carol"),
                    "2026-10-20T00:00:00Z",
                    "2026-10-30T00:00:00Z",
                ),
                ov(
                    "o4",
                    "wes",
                    None,
                    "2026-10-21T18:00:00Z",
                    "2026-10-21T20:00:00Z",
                ),
                ov(
                    "o5",
                    "vic",
                    None,
                    "2026-11-08T12:00:00Z",
                    "2026-11-20T00:00:00Z",
                ),
            ],
        ),
        case(
            "higher-layers-win",
            "Europe/London",
            "2026-03-01T00:00:00Z",
            "2026-11-15T00:00:00Z",
            vec![
                layer(&abc, ShiftLength::Weeks(1), "09:00", "2026-01-05", vec![]),
                layer(
                    &["d1", "d2"],
                    ShiftLength::Days(1),
                    "09:00",
                    "2026-01-05",
                    vec![window(&WEEKDAYS, "09:00", "17:00")],
                ),
                layer(
                    &["w1", "w2", "w3"],
                    ShiftLength::Hours(12),
                    "08:00",
                    "2026-01-03",
                    vec![window(&[Sat, Sun], "08:00", "20:00")],
                ),
            ],
            vec![
                ov(
                    "holiday",
                    "bob",
                    Some("alice"),
                    "2026-03-27T00:00:00Z",
                    "2026-04-03T00:00:00Z",
                ),
                ov(
                    "cover",
                    "carol",
                    None,
                    "2026-10-24T20:00:00Z",
                    "2026-10-25T11:00:00Z",
                ),
            ],
        ),
        case(
            "before-the-start-is-a-gap",
            "America/New_York",
            "2026-02-25T00:00:00Z",
            "2026-03-15T00:00:00Z",
            vec![layer(
                &abc,
                ShiftLength::Days(1),
                "09:00",
                "2026-03-10",
                vec![window(&WEEKDAYS, "08:00", "20:00")],
            )],
            vec![ov(
                "gapfill",
                "dan",
                None,
                "2026-03-01T00:00:00Z",
                "2026-03-02T00:00:00Z",
            )],
        ),
        case(
            "single-member-merges",
            "Australia/Sydney",
            "2026-03-01T00:00:00Z",
            "2026-05-01T00:00:00Z",
            vec![layer(
                &["solo"],
                ShiftLength::Days(1),
                "09:00",
                "2026-03-10",
                vec![],
            )],
            vec![],
        ),
    ]
}

/// Deterministic pseudo-random cases around the transitions of many zones.
fn generated() -> Vec<Case> {
    let zones = [
        "Europe/London",
        "America/New_York",
        "Australia/Sydney",
        "Pacific/Auckland",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "America/St_Johns",
        "Europe/Berlin",
        "America/Santiago",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let people = ["p0", "p1", "p2", "p3", "p4"];
    let mut cases = Vec::new();
    for i in 0..40 {
        let zone = zones[next(zones.len() as u64) as usize];
        let mut layers = Vec::new();
        for _ in 0..=next(3) {
            let members: Vec<&str> = (0..=next(3)).map(|_| people[next(5) as usize]).collect();
            let shift = match next(3) {
                0 => ShiftLength::Hours(1 + next(36) as u32),
                1 => ShiftLength::Days(1 + next(6) as u32),
                _ => ShiftLength::Weeks(1 + next(2) as u32),
            };
            let handoff = format!("{:02}:{:02}", next(24), [0, 15, 30, 45][next(4) as usize]);
            let start = format!("2026-{:02}-{:02}", 1 + next(11), 1 + next(28));
            let mut restrictions = Vec::new();
            for _ in 0..next(3) {
                let days: Vec<Weekday> = (0..7)
                    .filter(|_| next(2) == 0)
                    .filter_map(|d| Weekday::from_monday_zero_offset(d).ok())
                    .collect();
                let from = format!("{:02}:{:02}", next(24), [0, 30][next(2) as usize]);
                let to = format!("{:02}:{:02}", next(24), [0, 30][next(2) as usize]);
                restrictions.push(window(&days, &from, &to));
            }
            layers.push(layer(&members, shift, &handoff, &start, restrictions));
        }
        let month = 1 + next(11);
        let from = format!("2026-{month:02}-{:02}T{:02}:00:00Z", 1 + next(28), next(24));
        let from_ts = ts(&from);
        let to_ts = from_ts + jiff::SignedDuration::from_hours(24 * (10 + next(50) as i64));
        let mut overrides = Vec::new();
        for k in 0..next(4) {
            let start = from_ts + jiff::SignedDuration::from_hours(next(24 * 50) as i64);
            let end = start + jiff::SignedDuration::from_mins(30 + next(60 * 72) as i64);
            let replaces = (next(2) == 0).then(|| people[next(5) as usize]);
            overrides.push(Override {
                id: Some(format!("g{k}")),
                person: format!("o{}", next(3)),
                replaces: replaces.map(Into::into),
                from: start,
                to: end,
                reason: None,
            });
        }
        cases.push(Case {
            name: format!("generated-{i}-{zone}"),
            from: from_ts,
            to: to_ts,
            schedule: Schedule {
                id: format!("g{i}"),
                time_zone: jiff::tz::TimeZone::get(zone).unwrap_or_else(|e| panic!("{e}")),
                layers,
                overrides,
            },
        });
    }
    cases
}

fn case_json(c: &Case) -> Value {
    let s = &c.schedule;
    json!({
        "name": c.name,
        "zone": s.time_zone.iana_name(),
        "from": c.from.as_second(),
        "to": c.to.as_second(),
        "layers": s.layers.iter().map(|l| {
            let (unit, n) = match l.shift {
                ShiftLength::Hours(n) => ("hours", n),
                ShiftLength::Days(n) => ("days", n),
                ShiftLength::Weeks(n) => ("weeks", n),
            };
            json!({
                "members": l.members,
                "unit": unit,
                "n": n,
                "handoff": l.handoff.strftime("%H:%M").to_string(),
                "start": l.start.to_string(),
                "restrictions": l.restrictions.iter().map(|r| json!({
                    "days": r.days.iter().map(|d| d.to_monday_zero_offset()).collect::<Vec<_>>(),
                    "from": r.from.strftime("%H:%M").to_string(),
                    "to": r.to.strftime("%H:%M").to_string(),
                })).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
        "overrides": s.overrides.iter().map(|o| json!({
            "id": o.id, "person": o.person, "replaces": o.replaces,
            "from": o.from.as_second(), "to": o.to.as_second(),
        })).collect::<Vec<_>>(),
    })
}

fn muster_json(r: &Resolution) -> Value {
    json!({
        "shifts": r.shifts.iter().map(|s| json!({
            "person": s.person,
            "start": s.start.as_second(),
            "end": s.end.as_second(),
            "source": match &s.source {
                ShiftSource::Layer { index, .. } => format!("layer:{index}"),
                ShiftSource::Override { id } => format!("override:{}", id.clone().unwrap_or_default()),
            },
        })).collect::<Vec<_>>(),
        "gaps": r.gaps.iter().map(|g| json!({"start": g.start.as_second(), "end": g.end.as_second()})).collect::<Vec<_>>(),
    })
}

fn compare(cases: &[Case]) {
    let input = Value::Array(cases.iter().map(case_json).collect());
    let expected = python("shifts", input.to_string().as_bytes());
    let mut failures = Vec::new();
    for c in cases {
        let got = muster_json(&shifts(&c.schedule, c.from, c.to));
        let want = &expected[&c.name];
        if &got != want {
            let first_diff = got["shifts"]
                .as_array()
                .into_iter()
                .flatten()
                .zip(want["shifts"].as_array().into_iter().flatten())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("muster {a}\noracle {b}"))
                .unwrap_or_else(|| format!("muster {got}\noracle {want}"));
            failures.push(format!("{}:\n{first_diff}", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn shifts_match_the_python_oracle_on_the_dst_battery() {
    let cases = battery();
    // the battery is not trivially empty: every case has shifts, most cross a DST change
    for c in &cases {
        assert!(
            !shifts(&c.schedule, c.from, c.to).shifts.is_empty(),
            "{}",
            c.name
        );
    }
    compare(&cases);
}

#[test]
fn shifts_match_the_python_oracle_on_generated_schedules() {
    compare(&generated());
}

#[test]
fn ical_feed_parses_back_into_the_same_shifts() {
    let cases = battery();
    for c in cases
        .iter()
        .filter(|c| c.name == "higher-layers-win" || c.name == "overrides-split-shifts")
    {
        let res = shifts(&c.schedule, c.from, c.to);
        let name = format!("On call, {}; \"{}\"", c.name, "équipe");
        let cal = muster_core::ical::schedule_calendar(&c.schedule.id, &name, &res.shifts, 7);
        let parsed = python("ical", cal.as_bytes());
        assert!(
            parsed["name"]
                .as_str()
                .is_some_and(|n| n.contains("équipe"))
        );
        let events = parsed["events"].as_array().cloned().unwrap_or_default();
        assert_eq!(events.len(), res.shifts.len(), "{}", c.name);
        for (e, s) in events.iter().zip(&res.shifts) {
            assert_eq!(e["start"], s.start.as_second());
            assert_eq!(e["end"], s.end.as_second());
            assert_eq!(e["sequence"], 7);
            assert_eq!(e["tz_is_utc"], true);
            assert_eq!(
                e["uid"],
                muster_core::ical::shift_uid(&c.schedule.id, s).as_str()
            );
            // TEXT escaping round-trips (the name has a comma, a semicolon, quotes, non-ASCII)
            assert_eq!(
                e["summary"],
                format!("On call: {} ({name})", s.person).as_str()
            );
        }
        let uids: std::collections::BTreeSet<&str> =
            events.iter().filter_map(|e| e["uid"].as_str()).collect();
        assert_eq!(uids.len(), events.len(), "UIDs are unique");
    }
}

#[test]
fn ical_uids_survive_an_unrelated_change() {
    let c = battery()
        .into_iter()
        .find(|c| c.name == "overrides-split-shifts")
        .unwrap_or_else(|| panic!("case"));
    let before = shifts(&c.schedule, c.from, c.to).shifts;
    let mut changed = c.schedule.clone();
    changed.overrides.pop(); // drop o5, at the very end of the window
    let after = shifts(&changed, c.from, c.to).shifts;
    let uid = |s: &muster_core::schedule::Shift| muster_core::ical::shift_uid(&c.schedule.id, s);
    // every remaining event keeps its UID (the shift o5 cut short is the same event, now longer),
    // so subscribed calendars update it; only o5's own event disappears
    assert!(
        after
            .iter()
            .all(|s| before.iter().any(|b| uid(b) == uid(s)))
    );
    assert_eq!(before.len(), after.len() + 1);
    let last = after.last().unwrap_or_else(|| panic!("shifts"));
    let was = before
        .iter()
        .find(|b| uid(b) == uid(last))
        .unwrap_or_else(|| panic!("uid"));
    assert!(last.end > was.end, "the same event, extended");
}
