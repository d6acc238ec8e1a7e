//! Schedule and escalation lints of `muster check` (issue 4): warnings with locations, and the
//! conversion of the config model into the core's schedule types.

use std::fs;

use muster_config::{Level, ShiftLength, check_at};

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

const PEOPLE: &str = "\
people:
  - { id: alice, name: Alice, time_zone: Europe/London }
  - { id: bob, name: Bob, time_zone: Europe/London }
";

/// Every diagnostic but the rotation lint's (`tests/it/lint.rs` covers those).
fn lines_at(yaml: &str, now: &str) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    fs::write(dir.path().join("people.yaml"), PEOPLE).unwrap_or_else(|e| panic!("{e}"));
    fs::write(dir.path().join("s.yaml"), yaml).unwrap_or_else(|e| panic!("{e}"));
    let report = check_at(dir.path(), ts(now));
    let prefix = format!("{}/", dir.path().display());
    let lines = report
        .diagnostics
        .iter()
        .filter(|d| d.lint.is_none())
        .map(|d| d.to_string().replace(&prefix, ""))
        .collect();
    (dir, lines)
}

const BUSINESS_HOURS: &str = "\
schedules:
  - id: biz
    time_zone: Europe/London
    layers:
      - name: weekdays
        members: [alice, bob]
        shift: 1w
        handoff: \"09:00\"
        start: 2026-01-05
        restrictions:
          - { days: [mon, tue, wed, thu, fri], from: \"09:00\", to: \"17:00\" }
escalation_policies:
  - id: ep
    steps:
      - targets: [ { schedule: biz } ]
        delay: 5m
      - targets: [ { person: alice } ]
";

#[test]
fn a_gap_in_the_next_eight_weeks_is_a_warning_at_the_schedule_and_at_escalation_steps() {
    let (_dir, lines) = lines_at(BUSINESS_HOURS, "2026-12-01T12:00:00Z");
    assert_eq!(
        lines,
        vec![
            "s.yaml:2:9: warning: schedule `biz` has nobody on call from 2026-12-01 17:00 to 2026-12-02 09:00 (Europe/London) (first gap in the next 8 weeks)",
            "s.yaml:15:20: warning: escalation policy `ep` pages schedule `biz` here, which has nobody on call from 2026-12-01 17:00 to 2026-12-02 09:00 (Europe/London): this step may page nobody",
        ]
    );
}

#[test]
fn a_rotation_that_has_not_started_is_a_gap_from_now() {
    let yaml = BUSINESS_HOURS.replace("2026-01-05", "2027-03-01");
    let (_dir, lines) = lines_at(&yaml, "2027-02-20T00:00:00Z");
    assert!(
        lines[0].contains("from 2027-02-20 00:00 to 2027-03-01 09:00 (Europe/London)"),
        "{lines:?}"
    );
}

#[test]
fn full_coverage_gives_no_gap_warning_and_gaps_beyond_eight_weeks_are_ignored() {
    let full = BUSINESS_HOURS.replace(
        "        restrictions:\n          - { days: [mon, tue, wed, thu, fri], from: \"09:00\", to: \"17:00\" }\n",
        "",
    );
    let (_dir, lines) = lines_at(&full, "2026-12-01T12:00:00Z");
    assert_eq!(lines, Vec::<String>::new());
    // starts in nine weeks: the gap before it is from now, which is inside the horizon...
    let (_dir, lines) = lines_at(
        &full.replace("2026-01-05", "2027-02-01"),
        "2026-12-01T12:00:00Z",
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
}

#[test]
fn one_member_layers_and_single_step_policies_without_repeat_are_warnings() {
    let yaml = "\
schedules:
  - id: solo
    time_zone: Asia/Kolkata
    layers:
      - { name: only, members: [alice], shift: 12h, handoff: \"08:00\", start: 2026-01-05 }
escalation_policies:
  - id: ep
    steps:
      - targets: [ { schedule: solo } ]
  - id: repeated
    repeat: 2
    steps:
      - targets: [ { schedule: solo } ]
        delay: 10m
";
    let (_dir, lines) = lines_at(yaml, "2026-12-01T12:00:00Z");
    assert_eq!(
        lines,
        vec![
            "s.yaml:5:32: warning: layer `only` has one member: they are on call whenever it covers, with nobody to hand off to",
            "s.yaml:9:7: warning: escalation policy `ep` has one step and no repeat: if nobody acknowledges, nobody else is paged",
        ]
    );
}

#[test]
fn shift_lengths_keep_their_unit_and_convert_to_the_core() {
    let yaml = "\
schedules:
  - id: s
    time_zone: America/New_York
    layers:
      - { name: hours, members: [alice, bob], shift: 12h, handoff: \"08:00\", start: 2026-01-05 }
      - { name: days, members: [alice, bob], shift: 2d, handoff: \"08:00\", start: 2026-01-05 }
      - { name: weeks, members: [alice, bob], shift: 1w, handoff: \"08:00\", start: 2026-01-05,
          restrictions: [ { days: [sat], from: \"22:00\", to: \"06:00\" } ] }
    overrides:
      - { person: bob, replaces: alice, from: 2026-12-24T00:00:00Z, to: 2026-12-26T00:00:00Z, reason: swap }
";
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    fs::write(dir.path().join("people.yaml"), PEOPLE).unwrap_or_else(|e| panic!("{e}"));
    fs::write(dir.path().join("s.yaml"), yaml).unwrap_or_else(|e| panic!("{e}"));
    let report = check_at(dir.path(), ts("2026-12-01T12:00:00Z"));
    assert!(report.errors().next().is_none(), "{:?}", report.diagnostics);
    assert!(report.diagnostics.iter().all(|d| d.level == Level::Warning));
    let config = report.config.unwrap_or_else(|| panic!("no config"));
    let shifts: Vec<ShiftLength> = config.schedules["s"]
        .layers
        .iter()
        .map(|l| l.shift)
        .collect();
    assert_eq!(
        shifts,
        vec![
            ShiftLength::Hours(12),
            ShiftLength::Days(2),
            ShiftLength::Weeks(1)
        ]
    );
    let core = config
        .core_schedule("s")
        .unwrap_or_else(|| panic!("no core schedule"));
    assert_eq!(core.time_zone.iana_name(), Some("America/New_York"));
    assert_eq!(
        core.layers[2].restrictions[0].days,
        vec![jiff::civil::Weekday::Saturday]
    );
    assert_eq!(core.overrides[0].replaces.as_deref(), Some("alice"));
    let json = serde_json::to_value(&config.schedules["s"]).unwrap_or_default();
    assert_eq!(json["layers"][0]["shift"], "12h");
}
