//! Pinned DST cases and property tests for schedule resolution. The independent Python oracle
//! lives in `crates/muster/tests/oracle/`.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::zone::{DAY, SEC, Zone, resolve_slow, ts_to_ns};
use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn date(s: &str) -> Date {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn time(s: &str) -> Time {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn layer(name: &str, members: &[&str], shift: ShiftLength, handoff: &str, start: &str) -> Layer {
    Layer {
        name: name.into(),
        members: members.iter().map(|m| m.to_string()).collect(),
        shift,
        handoff: time(handoff),
        start: date(start),
        restrictions: Vec::new(),
    }
}

fn schedule(zone: &str, layers: Vec<Layer>) -> Schedule {
    Schedule {
        id: "s".into(),
        time_zone: tz(zone),
        layers,
        overrides: Vec::new(),
    }
}

#[test]
fn fingerprint_is_stable_and_changes_with_every_part_of_the_definition() {
    let base = || {
        schedule(
            "Europe/London",
            vec![layer(
                "weekly",
                &["alice", "bob"],
                ShiftLength::Weeks(1),
                "09:00",
                "2026-03-02",
            )],
        )
    };
    let fp = base().fingerprint();
    assert_eq!(fp.len(), 64);
    assert!(
        fp.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{fp}"
    );
    assert_eq!(
        base().fingerprint(),
        fp,
        "same definition, same fingerprint"
    );
    let mut renamed = base();
    renamed.id = "other".into();
    assert_eq!(
        renamed.fingerprint(),
        fp,
        "the id is not part of the definition"
    );

    let mut changes: Vec<(&str, Schedule)> = Vec::new();
    let mut s = base();
    s.time_zone = tz("America/New_York");
    changes.push(("zone", s));
    let mut s = base();
    s.layers[0].members.reverse();
    changes.push(("member order", s));
    let mut s = base();
    s.layers[0].handoff = time("10:00");
    changes.push(("handoff", s));
    let mut s = base();
    s.layers[0].shift = ShiftLength::Days(7);
    changes.push(("shift length", s));
    let mut s = base();
    s.layers[0].restrictions.push(Restriction {
        days: vec![Weekday::Monday],
        from: time("09:00"),
        to: time("17:00"),
    });
    changes.push(("restriction", s));
    let mut s = base();
    s.overrides.push(Override {
        id: None,
        person: "carol".into(),
        replaces: None,
        from: ts("2026-03-10T00:00:00Z"),
        to: ts("2026-03-11T00:00:00Z"),
        reason: None,
    });
    changes.push(("override", s));
    for (what, changed) in &changes {
        assert_ne!(changed.fingerprint(), fp, "{what} changes the fingerprint");
    }
}

/// (person, start, end) of each shift, as RFC 3339 UTC strings.
fn triples(shifts: &[Shift]) -> Vec<(String, String, String)> {
    shifts
        .iter()
        .map(|s| (s.person.clone(), s.start.to_string(), s.end.to_string()))
        .collect()
}

fn tri(p: &str, a: &str, b: &str) -> (String, String, String) {
    (p.into(), a.into(), b.into())
}

// ------------------------------------------------------------------ pinned cases

#[test]
fn london_weekly_handoff_stays_at_nine_local_across_spring_forward() {
    let s = schedule(
        "Europe/London",
        vec![layer(
            "weekly",
            &["alice", "bob"],
            ShiftLength::Weeks(1),
            "09:00",
            "2026-03-16",
        )],
    );
    let r = shifts(&s, ts("2026-03-16T00:00:00Z"), ts("2026-04-07T00:00:00Z"));
    assert_eq!(
        triples(&r.shifts),
        vec![
            tri("alice", "2026-03-16T09:00:00Z", "2026-03-23T09:00:00Z"),
            // crosses 2026-03-29: 167 hours, ending 09:00 BST
            tri("bob", "2026-03-23T09:00:00Z", "2026-03-30T08:00:00Z"),
            tri("alice", "2026-03-30T08:00:00Z", "2026-04-06T08:00:00Z"),
            tri("bob", "2026-04-06T08:00:00Z", "2026-04-07T00:00:00Z"),
        ]
    );
    assert_eq!(
        r.gaps,
        vec![Gap {
            start: ts("2026-03-16T00:00:00Z"),
            end: ts("2026-03-16T09:00:00Z")
        }]
    );
    assert_eq!(on_call(&s, ts("2026-03-30T08:30:00Z")), vec!["alice"]);
    assert_eq!(on_call(&s, ts("2026-03-30T07:59:59Z")), vec!["bob"]);
    assert_eq!(
        on_call(&s, ts("2026-03-16T08:59:59Z")),
        Vec::<String>::new()
    );
}

#[test]
fn london_daily_shifts_last_23_and_25_hours_on_change_days() {
    let s = schedule(
        "Europe/London",
        vec![layer(
            "daily",
            &["a", "b", "c"],
            ShiftLength::Days(1),
            "09:00",
            "2026-01-01",
        )],
    );
    let r = shifts(&s, ts("2026-03-28T09:00:00Z"), ts("2026-03-30T08:00:00Z"));
    let lens: Vec<i64> = r
        .shifts
        .iter()
        .map(|x| x.end.duration_since(x.start).as_hours())
        .collect();
    assert_eq!(lens, vec![23, 24]);
    // 2026-01-01 is a, so 2026-03-28 (day 86) is 86 % 3 = 2 -> c
    assert_eq!(r.shifts[0].person, "c");
    let r = shifts(&s, ts("2026-10-24T08:00:00Z"), ts("2026-10-26T09:00:00Z"));
    let lens: Vec<i64> = r
        .shifts
        .iter()
        .map(|x| x.end.duration_since(x.start).as_hours())
        .collect();
    assert_eq!(lens, vec![25, 24]);
    assert!(r.gaps.is_empty());
}

#[test]
fn handoff_in_a_gap_happens_at_the_first_valid_instant_after_it() {
    // New York springs forward at 02:00 EST to 03:00 EDT on 2026-03-08: 02:30 does not exist.
    let s = schedule(
        "America/New_York",
        vec![layer(
            "daily",
            &["a", "b"],
            ShiftLength::Days(1),
            "02:30",
            "2026-03-06",
        )],
    );
    let r = shifts(&s, ts("2026-03-07T00:00:00Z"), ts("2026-03-10T00:00:00Z"));
    let starts: Vec<String> = r.shifts.iter().map(|x| x.start.to_string()).collect();
    assert_eq!(
        starts,
        vec![
            "2026-03-07T00:00:00Z", // clipped
            "2026-03-07T07:30:00Z", // 02:30 EST
            "2026-03-08T07:00:00Z", // 03:00 EDT: the end of the gap
            "2026-03-09T06:30:00Z", // 02:30 EDT
        ]
    );
}

#[test]
fn handoff_in_a_fold_happens_at_the_first_occurrence() {
    let s = schedule(
        "America/New_York",
        vec![layer(
            "daily",
            &["a", "b"],
            ShiftLength::Days(1),
            "01:30",
            "2026-10-30",
        )],
    );
    let r = shifts(&s, ts("2026-10-31T00:00:00Z"), ts("2026-11-03T00:00:00Z"));
    let starts: Vec<String> = r.shifts.iter().map(|x| x.start.to_string()).collect();
    assert_eq!(
        starts,
        vec![
            "2026-10-31T00:00:00Z",
            "2026-10-31T05:30:00Z", // 01:30 EDT
            "2026-11-01T05:30:00Z", // 01:30 EDT, the first of two
            "2026-11-02T06:30:00Z", // 01:30 EST
        ]
    );
    let london = schedule(
        "Europe/London",
        vec![layer(
            "daily",
            &["a"],
            ShiftLength::Days(1),
            "01:30",
            "2026-10-25",
        )],
    );
    let r = shifts(
        &london,
        ts("2026-10-25T00:00:00Z"),
        ts("2026-10-26T00:00:00Z"),
    );
    assert_eq!(r.shifts[0].start, ts("2026-10-25T00:30:00Z"));
}

#[test]
fn lord_howe_half_hour_changes() {
    let s = schedule(
        "Australia/Lord_Howe",
        vec![layer(
            "daily",
            &["a", "b"],
            ShiftLength::Days(1),
            "01:45",
            "2026-04-01",
        )],
    );
    // fold (02:00 LHDT -> 01:30 LHST on 2026-04-05): the first 01:45, at +11:00
    assert_eq!(
        shifts(&s, ts("2026-04-04T12:00:00Z"), ts("2026-04-05T00:00:00Z")).shifts[1].start,
        ts("2026-04-04T14:45:00Z")
    );
    let s = schedule(
        "Australia/Lord_Howe",
        vec![layer(
            "daily",
            &["a", "b"],
            ShiftLength::Days(1),
            "02:15",
            "2026-09-01",
        )],
    );
    // gap (02:00 LHST -> 02:30 LHDT on 2026-10-04): at the transition, 15:30Z
    assert_eq!(
        shifts(&s, ts("2026-10-03T12:00:00Z"), ts("2026-10-04T00:00:00Z")).shifts[1].start,
        ts("2026-10-03T15:30:00Z")
    );
}

#[test]
fn hour_shifts_are_absolute_and_drift_against_the_wall_clock() {
    let s = schedule(
        "Europe/London",
        vec![layer(
            "12h",
            &["a", "b"],
            ShiftLength::Hours(12),
            "09:00",
            "2026-03-28",
        )],
    );
    let r = shifts(&s, ts("2026-03-28T00:00:00Z"), ts("2026-03-29T12:00:00Z"));
    assert_eq!(
        triples(&r.shifts),
        vec![
            tri("a", "2026-03-28T09:00:00Z", "2026-03-28T21:00:00Z"),
            tri("b", "2026-03-28T21:00:00Z", "2026-03-29T09:00:00Z"),
            tri("a", "2026-03-29T09:00:00Z", "2026-03-29T12:00:00Z"),
        ]
    );
}

#[test]
fn kolkata_has_no_dst() {
    let s = schedule(
        "Asia/Kolkata",
        vec![layer(
            "daily",
            &["a", "b"],
            ShiftLength::Days(1),
            "09:30",
            "2026-01-01",
        )],
    );
    let r = shifts(&s, ts("2026-03-01T00:00:00Z"), ts("2026-11-30T00:00:00Z"));
    assert!(
        r.shifts
            .iter()
            .skip(1)
            .all(|x| x.start.strftime("%H:%M").to_string() == "04:00")
    );
}

#[test]
fn restrictions_crossing_midnight_and_the_dst_change() {
    let mut l = layer(
        "nights",
        &["a", "b"],
        ShiftLength::Weeks(1),
        "09:00",
        "2026-03-02",
    );
    l.restrictions = vec![Restriction {
        days: vec![Weekday::Saturday],
        from: time("22:00"),
        to: time("06:00"),
    }];
    let s = schedule("America/New_York", vec![l]);
    let r = shifts(&s, ts("2026-03-07T00:00:00Z"), ts("2026-03-09T00:00:00Z"));
    // Sat 22:00 EST (03:00Z) to Sun 06:00 EDT (10:00Z): 7 hours
    assert_eq!(
        triples(&r.shifts),
        vec![tri("a", "2026-03-08T03:00:00Z", "2026-03-08T10:00:00Z")]
    );
    assert_eq!(r.gaps.len(), 2);
}

#[test]
fn restriction_cut_by_a_handoff_splits_between_members() {
    let mut l = layer(
        "biz",
        &["a", "b"],
        ShiftLength::Days(1),
        "12:00",
        "2026-01-05",
    );
    l.restrictions = vec![Restriction {
        days: vec![Weekday::Monday],
        from: time("09:00"),
        to: time("17:00"),
    }];
    let s = schedule("Etc/UTC", vec![l]);
    let r = shifts(&s, ts("2026-01-05T00:00:00Z"), ts("2026-01-06T00:00:00Z"));
    assert_eq!(
        triples(&r.shifts),
        vec![tri("a", "2026-01-05T12:00:00Z", "2026-01-05T17:00:00Z")]
    );
    let r = shifts(&s, ts("2026-01-12T00:00:00Z"), ts("2026-01-13T00:00:00Z"));
    // 2026-01-11 12:00 .. 01-12 12:00 is shift 6 (a), then b
    assert_eq!(
        triples(&r.shifts),
        vec![
            tri("a", "2026-01-12T09:00:00Z", "2026-01-12T12:00:00Z"),
            tri("b", "2026-01-12T12:00:00Z", "2026-01-12T17:00:00Z"),
        ]
    );
}

#[test]
fn higher_layers_win_and_lower_ones_show_through() {
    let base = layer(
        "base",
        &["base"],
        ShiftLength::Weeks(1),
        "00:00",
        "2026-01-05",
    );
    let mut biz = layer(
        "biz",
        &["day"],
        ShiftLength::Weeks(1),
        "00:00",
        "2026-01-05",
    );
    biz.restrictions = vec![Restriction {
        days: vec![Weekday::Monday],
        from: time("09:00"),
        to: time("17:00"),
    }];
    let s = schedule("Etc/UTC", vec![base, biz]);
    let r = shifts(&s, ts("2026-01-05T00:00:00Z"), ts("2026-01-06T00:00:00Z"));
    assert_eq!(
        triples(&r.shifts),
        vec![
            tri("base", "2026-01-05T00:00:00Z", "2026-01-05T09:00:00Z"),
            tri("day", "2026-01-05T09:00:00Z", "2026-01-05T17:00:00Z"),
            tri("base", "2026-01-05T17:00:00Z", "2026-01-06T00:00:00Z"),
        ]
    );
    assert_eq!(
        r.shifts[1].source,
        ShiftSource::Layer {
            index: 1,
            name: "biz".into()
        }
    );
}

#[test]
fn overrides_split_shifts_and_replaces_only_applies_to_that_person() {
    let mut s = schedule(
        "Etc/UTC",
        vec![layer(
            "daily",
            &["a", "b"],
            ShiftLength::Days(1),
            "00:00",
            "2026-01-05",
        )],
    );
    s.overrides = vec![
        Override {
            id: Some("o1".into()),
            person: "x".into(),
            replaces: None,
            from: ts("2026-01-05T10:00:00Z"),
            to: ts("2026-01-05T12:00:00Z"),
            reason: None,
        },
        // replaces b, but spans a's day too: only b's part changes
        Override {
            id: Some("o2".into()),
            person: "y".into(),
            replaces: Some("b".into()),
            from: ts("2026-01-05T20:00:00Z"),
            to: ts("2026-01-06T02:00:00Z"),
            reason: Some("dentist".into()),
        },
    ];
    let r = shifts(&s, ts("2026-01-05T00:00:00Z"), ts("2026-01-06T06:00:00Z"));
    assert_eq!(
        triples(&r.shifts),
        vec![
            tri("a", "2026-01-05T00:00:00Z", "2026-01-05T10:00:00Z"),
            tri("x", "2026-01-05T10:00:00Z", "2026-01-05T12:00:00Z"),
            tri("a", "2026-01-05T12:00:00Z", "2026-01-06T00:00:00Z"),
            tri("y", "2026-01-06T00:00:00Z", "2026-01-06T02:00:00Z"),
            tri("b", "2026-01-06T02:00:00Z", "2026-01-06T06:00:00Z"),
        ]
    );
    assert_eq!(
        r.shifts[3].source,
        ShiftSource::Override {
            id: Some("o2".into())
        }
    );
    assert_eq!(on_call(&s, ts("2026-01-05T11:00:00Z")), vec!["x"]);
}

#[test]
fn an_override_fills_a_gap_and_later_overrides_win() {
    let mut s = schedule("Etc/UTC", vec![]);
    let o = |id: &str, p: &str, from: &str, to: &str| Override {
        id: Some(id.into()),
        person: p.into(),
        replaces: None,
        from: ts(from),
        to: ts(to),
        reason: None,
    };
    s.overrides = vec![
        o("1", "x", "2026-01-01T00:00:00Z", "2026-01-01T10:00:00Z"),
        o("2", "y", "2026-01-01T05:00:00Z", "2026-01-01T06:00:00Z"),
    ];
    let r = shifts(&s, ts("2026-01-01T00:00:00Z"), ts("2026-01-01T12:00:00Z"));
    assert_eq!(
        triples(&r.shifts),
        vec![
            tri("x", "2026-01-01T00:00:00Z", "2026-01-01T05:00:00Z"),
            tri("y", "2026-01-01T05:00:00Z", "2026-01-01T06:00:00Z"),
            tri("x", "2026-01-01T06:00:00Z", "2026-01-01T10:00:00Z"),
        ]
    );
    assert_eq!(
        first_gap(&s, ts("2026-01-01T00:00:00Z"), ts("2026-01-02T00:00:00Z")),
        Some(Gap {
            start: ts("2026-01-01T10:00:00Z"),
            end: ts("2026-01-02T00:00:00Z")
        })
    );
}

#[test]
fn degenerate_layers_cover_nothing() {
    let s = schedule(
        "Etc/UTC",
        vec![
            layer("empty", &[], ShiftLength::Days(1), "00:00", "2026-01-01"),
            layer("zero", &["a"], ShiftLength::Hours(0), "00:00", "2026-01-01"),
        ],
    );
    let r = shifts(&s, ts("2026-01-01T00:00:00Z"), ts("2026-01-02T00:00:00Z"));
    assert!(r.shifts.is_empty());
    assert_eq!(r.gaps.len(), 1);
    assert!(
        shifts(&s, ts("2026-01-02T00:00:00Z"), ts("2026-01-01T00:00:00Z")) == Resolution::default()
    );
}

#[test]
fn shift_lengths_parse_with_their_unit() {
    let p = |s: &str| s.parse::<ShiftLength>();
    assert_eq!(p("12h"), Ok(ShiftLength::Hours(12)));
    assert_eq!(p("1d"), Ok(ShiftLength::Days(1)));
    assert_eq!(p("2w"), Ok(ShiftLength::Weeks(2)));
    assert_eq!(p("1w2d"), Ok(ShiftLength::Days(9)));
    assert_eq!(p("0d"), Err(ShiftLengthError::Zero));
    assert!(matches!(p("1d12h"), Err(ShiftLengthError::Mixed(_))));
    assert!(matches!(p("30m"), Err(ShiftLengthError::Unit(_))));
    assert!(matches!(p("12"), Err(ShiftLengthError::Invalid(_))));
    assert!(matches!(p("2d1w"), Err(ShiftLengthError::Invalid(_))));
    assert!(matches!(p("53w"), Err(ShiftLengthError::TooLong(_))));
    assert_eq!(ShiftLength::Weeks(1).to_string(), "1w");
    assert_eq!(
        ShiftLengthError::Zero.to_string(),
        "shift must be longer than 0"
    );
}

// ------------------------------------------------------------------ properties

const ZONES: [&str; 8] = [
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Etc/UTC",
    "America/St_Johns",
];
const PEOPLE: [&str; 5] = ["a", "b", "c", "d", "e"];

fn arb_shift() -> impl Strategy<Value = ShiftLength> {
    prop_oneof![
        (1u32..49).prop_map(ShiftLength::Hours),
        (1u32..15).prop_map(ShiftLength::Days),
        (1u32..4).prop_map(ShiftLength::Weeks),
    ]
}

fn arb_time() -> impl Strategy<Value = Time> {
    (
        0i8..24,
        prop_oneof![Just(0i8), Just(15), Just(30), Just(45)],
    )
        .prop_map(|(h, m)| Time::new(h, m, 0, 0).unwrap_or_default())
}

fn arb_restriction() -> impl Strategy<Value = Restriction> {
    (0u8..128, arb_time(), arb_time()).prop_map(|(mask, from, to)| Restriction {
        days: (0..7)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| Weekday::from_monday_zero_offset(i).unwrap_or(Weekday::Monday))
            .collect(),
        from,
        to,
    })
}

fn arb_layer() -> impl Strategy<Value = Layer> {
    (
        proptest::collection::vec(0usize..5, 1..5),
        arb_shift(),
        arb_time(),
        0i64..400,
        proptest::collection::vec(arb_restriction(), 0..3),
    )
        .prop_map(|(members, shift, handoff, start, restrictions)| Layer {
            name: format!("l{start}"),
            members: members.iter().map(|i| PEOPLE[*i].to_string()).collect(),
            shift,
            handoff,
            start: date("2025-09-01")
                .checked_add(jiff::Span::new().days(start))
                .unwrap_or_default(),
            restrictions,
        })
}

/// Seconds after 2026-01-01T00:00:00Z.
fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_767_225_600 + secs).unwrap_or_default()
}

fn arb_override() -> impl Strategy<Value = Override> {
    (
        0usize..5,
        proptest::option::of(0usize..5),
        0i64..(80 * 86_400),
        1i64..(3 * 86_400),
    )
        .prop_map(|(p, r, from, len)| Override {
            id: None,
            person: format!("o{}", PEOPLE[p]),
            replaces: r.map(|r| PEOPLE[r].to_string()),
            from: at(from),
            to: at(from + len),
            reason: None,
        })
}

fn arb_schedule() -> impl Strategy<Value = Schedule> {
    (
        0usize..ZONES.len(),
        proptest::collection::vec(arb_layer(), 0..4),
        proptest::collection::vec(arb_override(), 0..4),
    )
        .prop_map(|(z, layers, overrides)| Schedule {
            id: "p".into(),
            time_zone: tz(ZONES[z]),
            layers,
            overrides,
        })
}

/// Shifts and gaps, merged in time order, must tile `[from, to)` with non-empty pieces.
fn assert_tiles(r: &Resolution, from: Timestamp, to: Timestamp) -> Result<(), TestCaseError> {
    let mut pieces: Vec<(Timestamp, Timestamp)> = r
        .shifts
        .iter()
        .map(|s| (s.start, s.end))
        .chain(r.gaps.iter().map(|g| (g.start, g.end)))
        .collect();
    pieces.sort();
    let mut cur = from;
    for (s, e) in pieces {
        prop_assert_eq!(s, cur, "hole or overlap");
        prop_assert!(s < e, "empty piece");
        cur = e;
    }
    prop_assert_eq!(cur, to);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn shifts_and_gaps_tile_the_window(s in arb_schedule(), a in 0i64..(60 * 86_400), len in 1i64..(40 * 86_400)) {
        let (from, to) = (at(a), at(a + len));
        let r = shifts(&s, from, to);
        assert_tiles(&r, from, to)?;
        // neighbours with the same person and source are merged
        for w in r.shifts.windows(2) {
            prop_assert!(!(w[0].end == w[1].start && w[0].person == w[1].person && w[0].source == w[1].source));
        }
        for w in r.gaps.windows(2) {
            prop_assert!(w[0].end < w[1].start);
        }
    }

    #[test]
    fn layer_shifts_never_overlap(s in arb_schedule(), a in 0i64..(60 * 86_400), len in 1i64..(40 * 86_400)) {
        let (from, to) = (at(a), at(a + len));
        for i in 0..s.layers.len() {
            let ls = layer_shifts(&s, i, from, to);
            for x in &ls {
                prop_assert!(from <= x.start && x.start < x.end && x.end <= to);
                prop_assert!(s.layers[i].members.contains(&x.person));
            }
            for w in ls.windows(2) {
                prop_assert!(w[0].end <= w[1].start);
            }
        }
    }

    #[test]
    fn on_call_agrees_with_shifts(s in arb_schedule(), a in 0i64..(60 * 86_400), offsets in proptest::collection::vec(0i64..(20 * 86_400), 1..20)) {
        let (from, to) = (at(a), at(a + 20 * 86_400));
        let r = shifts(&s, from, to);
        for o in offsets {
            let t = at(a + o);
            let expected: Vec<String> = r
                .shifts
                .iter()
                .filter(|x| x.start <= t && t < x.end)
                .map(|x| x.person.clone())
                .collect();
            prop_assert_eq!(on_call(&s, t), expected, "at {}", t);
        }
    }

    /// Jumping straight to the shift containing `from` gives what iterating from earlier gives.
    #[test]
    fn a_later_window_is_the_clipped_earlier_one(s in arb_schedule(), a in 0i64..(60 * 86_400), cut in 1i64..(20 * 86_400), len in 1i64..(20 * 86_400)) {
        let (from, mid, to) = (at(a), at(a + cut), at(a + cut + len));
        let whole = shifts(&s, from, to);
        let later = shifts(&s, mid, to);
        let clipped: Vec<(String, Timestamp, Timestamp)> = whole
            .shifts
            .iter()
            .filter(|x| x.end > mid)
            .map(|x| (x.person.clone(), x.start.max(mid), x.end))
            .collect();
        let got: Vec<(String, Timestamp, Timestamp)> =
            later.shifts.iter().map(|x| (x.person.clone(), x.start, x.end)).collect();
        prop_assert_eq!(got, clipped);
    }

    /// Day and week hand-offs happen at the hand-off time on the wall clock, or right after a gap.
    #[test]
    fn day_handoffs_are_at_local_handoff_time(l in arb_layer(), z in 0usize..ZONES.len(), a in 0i64..(300 * 86_400)) {
        prop_assume!(!matches!(l.shift, ShiftLength::Hours(_)));
        let mut l = l;
        l.restrictions.clear();
        let s = Schedule { id: "x".into(), time_zone: tz(ZONES[z]), layers: vec![l.clone()], overrides: vec![] };
        let (from, to) = (at(a), at(a + 60 * 86_400));
        for x in layer_shifts(&s, 0, from, to) {
            for edge in [x.start, x.end] {
                if edge == from || edge == to {
                    continue;
                }
                let local = edge.to_zoned_datetime(s.time_zone.clone()).time();
                let just_before = (edge - SignedDuration::from_nanos(1)).to_zoned_datetime(s.time_zone.clone());
                let in_gap = just_before.offset() != edge.to_zoned_datetime(s.time_zone.clone()).offset()
                    && local > l.handoff;
                prop_assert!(local == l.handoff || in_gap, "{} local {} handoff {}", edge, local, l.handoff);
            }
        }
    }

    /// The fast offset table converts exactly like jiff itself.
    #[test]
    fn zone_fast_path_matches_jiff(z in 0usize..ZONES.len(), a in 0i64..(2 * 365 * 86_400), probes in proptest::collection::vec(0i64..(40 * 86_400), 1..30)) {
        let tzone = tz(ZONES[z]);
        let lo = ts_to_ns(at(a));
        let zone = Zone::new(&tzone, lo, lo + 40 * DAY);
        for p in probes {
            // local times at quarter hours hit gaps and folds exactly
            let local = (lo + p * SEC).div_euclid(15 * 60 * SEC) * 15 * 60 * SEC;
            prop_assert_eq!(zone.resolve(local), resolve_slow(&tzone, local));
            let t = lo + p * SEC;
            let expected = i64::from(tzone.to_offset(super::zone::ns_to_ts(t)).seconds()) * SEC;
            prop_assert_eq!(zone.local(t), t + expected);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A reused [`Resolver`] gives exactly what [`shifts`] gives, schedule after schedule.
    #[test]
    fn a_reused_resolver_agrees_with_shifts(list in proptest::collection::vec(arb_schedule(), 1..4), a in 0i64..(60 * 86_400), len in 1i64..(30 * 86_400)) {
        let (from, to) = (at(a), at(a + len));
        let mut resolver = Resolver::new();
        for s in &list {
            let owned = shifts(s, from, to);
            let segs = resolver.resolve(s, from, to);
            let people: Vec<(Option<&str>, Timestamp, Timestamp)> =
                segs.iter().map(|g| (s.person(g.cover), g.start, g.end)).collect();
            let mut expected: Vec<(Option<&str>, Timestamp, Timestamp)> = owned
                .shifts
                .iter()
                .map(|x| (Some(x.person.as_str()), x.start, x.end))
                .chain(owned.gaps.iter().map(|g| (None, g.start, g.end)))
                .collect();
            expected.sort_by_key(|e| e.1);
            prop_assert_eq!(people, expected);
        }
    }
}
