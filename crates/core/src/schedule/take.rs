//! "Take the pager now": the override that puts someone on call at once, in one click, while
//! an incident needs them.
//!
//! # Rules
//!
//! - The override starts `now` and never reaches past the **current cover**: the shift of
//!   whoever the final schedule has on call then, or the gap if nobody is. So it moves the
//!   pager from that person only, and the next shift starts as planned. A cover that does not
//!   end within [`LOOKAHEAD`] (a one-person rotation) counts as ending then.
//! - **Until the end of the shift** (the default) ends it where the current cover ends; **for
//!   a duration** (more than zero, at most [`LOOKAHEAD`]) after that long, or at the cover's
//!   end if that comes first.
//! - It names the person it replaces when a layer has them on call (the audit trail says whose
//!   pager was taken). An override on call, or a gap, is replaced outright: an override with
//!   `replaces` applies only while the *layers* put that person on call.
//! - Someone already on call cannot take the pager from themselves.
//!
//! Who may take it (a responder who rotates in the schedule, or an admin) is
//! `crate::access::may_take_pager`'s rule.

use jiff::{SignedDuration, Timestamp};

use super::{Schedule, ShiftSource, shifts};

/// How far ahead the current cover's end is looked for, and the longest take.
pub const LOOKAHEAD: SignedDuration = SignedDuration::from_hours(14 * 24);

/// How long the pager is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakeUntil {
    /// Until the current shift (or gap) ends.
    EndOfShift,
    /// For this long.
    For(SignedDuration),
}

/// The override taking the pager: `person` on call from `from` to `to`, in place of `replaces`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Takeover {
    pub replaces: Option<String>,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// Why the pager cannot be taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TakeRefused {
    /// The person is on call already.
    AlreadyOnCall,
    /// A duration of zero, negative or longer than [`LOOKAHEAD`].
    BadDuration,
}

/// The override that puts `person` on call for `schedule` from `now` (rules above).
pub fn take_pager(
    schedule: &Schedule,
    person: &str,
    now: Timestamp,
    until: TakeUntil,
) -> Result<Takeover, TakeRefused> {
    let horizon = now.saturating_add(LOOKAHEAD).unwrap_or(now);
    let ahead = shifts(schedule, now, horizon);
    // The resolution covers the window exactly, so whatever starts at `now` covers `now`.
    let current = ahead.shifts.iter().find(|s| s.start <= now && now < s.end);
    if current.is_some_and(|s| s.person == person) {
        return Err(TakeRefused::AlreadyOnCall);
    }
    let cover_end = match current {
        Some(s) => s.end,
        None => ahead
            .gaps
            .iter()
            .find(|g| g.start <= now && now < g.end)
            .map_or(horizon, |g| g.end),
    };
    let to = match until {
        TakeUntil::EndOfShift => cover_end,
        TakeUntil::For(d) if d.is_positive() && d <= LOOKAHEAD => now
            .saturating_add(d)
            .map_err(|_| TakeRefused::BadDuration)?
            .min(cover_end),
        TakeUntil::For(_) => return Err(TakeRefused::BadDuration),
    };
    let replaces = current
        .filter(|s| matches!(s.source, ShiftSource::Layer { .. }))
        .map(|s| s.person.clone());
    Ok(Takeover {
        replaces,
        from: now,
        to,
    })
}

/// Whether `person` rotates in one of the schedule's layers.
pub fn rotates_in(schedule: &Schedule, person: &str) -> bool {
    schedule
        .layers
        .iter()
        .any(|l| l.members.iter().any(|m| m == person))
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;

    use super::*;
    use crate::schedule::{Layer, Override, Restriction, ShiftLength};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// Daily hand-offs at 09:00 UTC: alice from 2026-03-02, then bob, then alice…
    fn daily(restrictions: Vec<Restriction>) -> Schedule {
        Schedule {
            id: "primary".into(),
            time_zone: TimeZone::UTC,
            layers: vec![Layer {
                name: "day".into(),
                members: vec!["alice".into(), "bob".into()],
                shift: ShiftLength::Days(1),
                handoff: "09:00".parse().expect("time"),
                start: "2026-03-02".parse().expect("date"),
                restrictions,
            }],
            overrides: Vec::new(),
        }
    }

    #[test]
    fn until_the_end_of_the_shift_replaces_the_person_on_call_until_their_hand_off() {
        // 2026-03-03 is bob's day.
        let t = take_pager(
            &daily(vec![]),
            "carol",
            ts("2026-03-03T14:00:00Z"),
            TakeUntil::EndOfShift,
        );
        assert_eq!(
            t,
            Ok(Takeover {
                replaces: Some("bob".into()),
                from: ts("2026-03-03T14:00:00Z"),
                to: ts("2026-03-04T09:00:00Z"),
            })
        );
    }

    #[test]
    fn a_duration_ends_at_the_hand_off_when_that_comes_first() {
        let now = ts("2026-03-03T14:00:00Z");
        let short = take_pager(
            &daily(vec![]),
            "carol",
            now,
            TakeUntil::For(SignedDuration::from_hours(2)),
        );
        assert_eq!(short.map(|t| t.to), Ok(ts("2026-03-03T16:00:00Z")));
        let long = take_pager(
            &daily(vec![]),
            "carol",
            now,
            TakeUntil::For(SignedDuration::from_hours(48)),
        );
        assert_eq!(long.map(|t| t.to), Ok(ts("2026-03-04T09:00:00Z")));
    }

    #[test]
    fn the_person_on_call_cannot_take_it_and_durations_are_bounded() {
        let now = ts("2026-03-03T14:00:00Z");
        let s = daily(vec![]);
        assert_eq!(
            take_pager(&s, "bob", now, TakeUntil::EndOfShift),
            Err(TakeRefused::AlreadyOnCall)
        );
        for d in [
            SignedDuration::ZERO,
            LOOKAHEAD + SignedDuration::from_secs(1),
        ] {
            assert_eq!(
                take_pager(&s, "carol", now, TakeUntil::For(d)),
                Err(TakeRefused::BadDuration),
                "{d:?}"
            );
        }
    }

    #[test]
    fn in_a_gap_nobody_is_replaced_and_the_gap_is_covered() {
        // Covered only 09:00–17:00: at 20:00 nobody is on call until 09:00 the next day.
        let office = Restriction {
            days: vec![
                jiff::civil::Weekday::Monday,
                jiff::civil::Weekday::Tuesday,
                jiff::civil::Weekday::Wednesday,
                jiff::civil::Weekday::Thursday,
                jiff::civil::Weekday::Friday,
            ],
            from: "09:00".parse().expect("time"),
            to: "17:00".parse().expect("time"),
        };
        let t = take_pager(
            &daily(vec![office]),
            "alice",
            ts("2026-03-03T20:00:00Z"),
            TakeUntil::EndOfShift,
        );
        assert_eq!(
            t,
            Ok(Takeover {
                replaces: None,
                from: ts("2026-03-03T20:00:00Z"),
                to: ts("2026-03-04T09:00:00Z"),
            })
        );
    }

    #[test]
    fn an_override_on_call_is_replaced_outright_until_it_ends() {
        let mut s = daily(vec![]);
        s.overrides.push(Override {
            id: Some("ovr-1".into()),
            person: "dave".into(),
            replaces: None,
            from: ts("2026-03-03T12:00:00Z"),
            to: ts("2026-03-03T18:00:00Z"),
            reason: None,
        });
        let t = take_pager(
            &s,
            "carol",
            ts("2026-03-03T14:00:00Z"),
            TakeUntil::EndOfShift,
        );
        assert_eq!(
            t,
            Ok(Takeover {
                replaces: None,
                from: ts("2026-03-03T14:00:00Z"),
                to: ts("2026-03-03T18:00:00Z"),
            })
        );
        // Applied, the takeover puts carol on call now and bob back at 18:00.
        let t = t.expect("takeover");
        s.overrides.push(Override {
            id: Some("ovr-2".into()),
            person: "carol".into(),
            replaces: t.replaces,
            from: t.from,
            to: t.to,
            reason: None,
        });
        assert_eq!(
            crate::schedule::on_call(&s, ts("2026-03-03T14:00:00Z")),
            vec!["carol"]
        );
        assert_eq!(
            crate::schedule::on_call(&s, ts("2026-03-03T18:00:00Z")),
            vec!["bob"]
        );
    }

    #[test]
    fn membership_is_any_layer() {
        let s = daily(vec![]);
        assert!(rotates_in(&s, "bob"));
        assert!(!rotates_in(&s, "carol"));
    }
}
