//! iCalendar (RFC 5545) export of resolved shifts: one `VEVENT` per shift, no recurrence rules.
//!
//! - Times are UTC (`…Z`), whole seconds (sub-second parts are dropped), so every client shows
//!   them in its own zone without needing `VTIMEZONE` data.
//! - `UID` is derived from the schedule id, the person and the shift's start, so re-fetching the
//!   feed updates events instead of duplicating them; `SEQUENCE` is the caller's revision number
//!   of the event's schedule (bump it whenever the schedule or its overrides change: clients
//!   only update an event whose sequence increased). A calendar mixing schedules carries each
//!   event's own schedule's sequence.
//! - `DTSTAMP` is deterministic: the stamp passed to [`schedule_calendar_stamped`], or else the
//!   shift's own start, so the same shifts always render to the same bytes (cacheable, ETag-able).
//! - Lines end in CRLF and are folded at 75 octets without splitting UTF-8 characters; text is
//!   escaped (`\\`, `;`, `,`, newlines).
//!
//! For a per-person feed, pass only that person's shifts.

use std::fmt::Write as _;

use jiff::Timestamp;

use crate::schedule::{Shift, ShiftSource};

/// The calendar of `shifts` of schedule `schedule_id` (display name `name`).
pub fn schedule_calendar(schedule_id: &str, name: &str, shifts: &[Shift], sequence: u32) -> String {
    let entries: Vec<CalendarShift<'_>> = shifts
        .iter()
        .map(|shift| CalendarShift {
            schedule_id,
            schedule_name: name,
            shift,
            sequence,
        })
        .collect();
    render(name, &entries, None)
}

/// One shift of some schedule, for calendars that mix schedules (a person's feed).
#[derive(Clone, Copy, Debug)]
pub struct CalendarShift<'a> {
    pub schedule_id: &'a str,
    pub schedule_name: &'a str,
    pub shift: &'a Shift,
    /// The `SEQUENCE` of this event: its schedule's revision.
    pub sequence: u32,
}

/// A calendar named `name` of shifts from any schedules, e.g. everything one person covers.
/// UIDs and sequences are the same as in each schedule's own feed.
pub fn calendar(name: &str, entries: &[CalendarShift<'_>]) -> String {
    render(name, entries, None)
}

/// [`schedule_calendar`] with an explicit `DTSTAMP` for every event.
pub fn schedule_calendar_stamped(
    schedule_id: &str,
    name: &str,
    shifts: &[Shift],
    sequence: u32,
    dtstamp: Timestamp,
) -> String {
    let entries: Vec<CalendarShift<'_>> = shifts
        .iter()
        .map(|shift| CalendarShift {
            schedule_id,
            schedule_name: name,
            shift,
            sequence,
        })
        .collect();
    render(name, &entries, Some(dtstamp))
}

/// The stable `UID` of a shift of `schedule_id`.
pub fn shift_uid(schedule_id: &str, shift: &Shift) -> String {
    format!(
        "{}.{}.{}@muster",
        utc(shift.start),
        uid_part(&shift.person),
        uid_part(schedule_id)
    )
}

fn render(name: &str, entries: &[CalendarShift<'_>], dtstamp: Option<Timestamp>) -> String {
    let mut out = String::with_capacity(256 + entries.len() * 300);
    let mut line = |s: &str| fold_into(&mut out, s);
    line("BEGIN:VCALENDAR");
    line("VERSION:2.0");
    line("PRODID:-//Muster//Muster on-call schedules//EN");
    line("CALSCALE:GREGORIAN");
    line("METHOD:PUBLISH");
    line(&format!("X-WR-CALNAME:{}", escape(name)));
    for entry in entries {
        let (schedule_id, shift) = (entry.schedule_id, entry.shift);
        let name = entry.schedule_name;
        line("BEGIN:VEVENT");
        line(&format!("UID:{}", shift_uid(schedule_id, shift)));
        line(&format!("DTSTAMP:{}", utc(dtstamp.unwrap_or(shift.start))));
        line(&format!("DTSTART:{}", utc(shift.start)));
        line(&format!("DTEND:{}", utc(shift.end)));
        line(&format!("SEQUENCE:{}", entry.sequence));
        line(&format!(
            "SUMMARY:{}",
            escape(&format!("On call: {} ({name})", shift.person))
        ));
        let source = match &shift.source {
            ShiftSource::Layer { name, .. } => format!("layer {name}"),
            ShiftSource::Override { id: Some(id) } => format!("override {id}"),
            ShiftSource::Override { id: None } => "override".to_string(),
        };
        line(&format!(
            "DESCRIPTION:{}",
            escape(&format!(
                "{} is on call for {name} (schedule {schedule_id}, from {source}).",
                shift.person
            ))
        ));
        line(&format!("X-MUSTER-PERSON:{}", escape(&shift.person)));
        line("TRANSP:TRANSPARENT");
        line("END:VEVENT");
    }
    line("END:VCALENDAR");
    out
}

/// `20260329T010000Z` (whole seconds, rounded down).
fn utc(ts: Timestamp) -> String {
    let secs = ts.as_second() - i64::from(ts.subsec_nanosecond() < 0);
    let ts = Timestamp::from_second(secs).unwrap_or(ts);
    ts.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// Characters safe in a UID part (`.` separates the parts); others are percent-encoded.
fn uid_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// RFC 5545 TEXT escaping.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Append `line` folded at 75 octets (continuations start with a space), CRLF-terminated.
fn fold_into(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(person: &str, start: &str, end: &str) -> Shift {
        Shift {
            person: person.into(),
            start: start.parse().unwrap_or_else(|e| panic!("{e}")),
            end: end.parse().unwrap_or_else(|e| panic!("{e}")),
            source: ShiftSource::Layer {
                index: 0,
                name: "weekly".into(),
            },
        }
    }

    #[test]
    fn renders_events_with_crlf_utc_times_and_stable_uids() {
        let s = [shift(
            "alice",
            "2026-03-29T01:00:00Z",
            "2026-03-30T08:00:00.5Z",
        )];
        let cal = schedule_calendar("payments-primary", "Payments, primary", &s, 3);
        assert!(cal.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(cal.ends_with("END:VCALENDAR\r\n"));
        assert!(!cal.replace("\r\n", "").contains('\n'));
        assert!(cal.contains("\r\nDTSTART:20260329T010000Z\r\n"));
        assert!(cal.contains("\r\nDTEND:20260330T080000Z\r\n"));
        assert!(cal.contains("\r\nSEQUENCE:3\r\n"));
        assert!(cal.contains("\r\nUID:20260329T010000Z.alice.payments-primary@muster\r\n"));
        assert!(cal.contains("X-WR-CALNAME:Payments\\, primary\r\n"));
        // same input, same bytes
        assert_eq!(
            cal,
            schedule_calendar("payments-primary", "Payments, primary", &s, 3)
        );
    }

    #[test]
    fn long_lines_are_folded_at_75_octets_without_splitting_characters() {
        let name = "Équipe de garde — paiements ".repeat(6);
        let cal = schedule_calendar(
            "x",
            &name,
            &[shift("bob", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")],
            0,
        );
        for l in cal.split("\r\n") {
            assert!(l.len() <= 75, "{l:?} is {} octets", l.len());
        }
        let unfolded = cal.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("X-WR-CALNAME:{name}")));
    }

    #[test]
    fn uid_parts_are_percent_encoded() {
        let s = shift("a b;c", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
        assert_eq!(
            shift_uid("s.x", &s),
            "20260101T000000Z.a%20b%3Bc.s%2Ex@muster"
        );
    }

    #[test]
    fn each_event_carries_its_own_schedules_sequence() {
        let a = shift("alice", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
        let b = shift("alice", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z");
        let cal = calendar(
            "On call: Alice",
            &[
                CalendarShift {
                    schedule_id: "primary",
                    schedule_name: "Primary",
                    shift: &a,
                    sequence: 4,
                },
                CalendarShift {
                    schedule_id: "secondary",
                    schedule_name: "Secondary",
                    shift: &b,
                    sequence: 0,
                },
            ],
        );
        let events: Vec<&str> = cal.split("BEGIN:VEVENT").skip(1).collect();
        assert_eq!(events.len(), 2);
        assert!(events[0].contains("\r\nUID:20260101T000000Z.alice.primary@muster\r\n"));
        assert!(events[0].contains("\r\nSEQUENCE:4\r\n"), "{}", events[0]);
        assert!(events[1].contains("\r\nUID:20260103T000000Z.alice.secondary@muster\r\n"));
        assert!(events[1].contains("\r\nSEQUENCE:0\r\n"), "{}", events[1]);
        // The schedule feed writes its one sequence on every event, the UID unchanged.
        let feed = schedule_calendar("primary", "Primary", std::slice::from_ref(&a), 1);
        assert!(feed.contains("\r\nUID:20260101T000000Z.alice.primary@muster\r\n"));
        assert!(feed.contains("\r\nSEQUENCE:1\r\n"));
        assert!(!feed.contains("SEQUENCE:0"));
    }

    #[test]
    fn a_stamp_can_be_given() {
        let s = [shift("bob", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")];
        let stamp: Timestamp = "2026-11-27T10:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let cal = schedule_calendar_stamped("x", "X", &s, 0, stamp);
        assert!(cal.contains("\r\nDTSTAMP:20261127T100000Z\r\n"));
    }
}
