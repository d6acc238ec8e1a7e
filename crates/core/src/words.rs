//! Durations as people say them, one wording everywhere: timeline reasons, briefings,
//! message templates, the Slack header and the CLI.

use jiff::SignedDuration;

/// `45 s`, `12 min`, `1 h 05 min`, `2 d 3 h`. A negative span is written as its magnitude
/// (the caller says "late", "ago" or "overdue").
pub fn duration(d: SignedDuration) -> String {
    duration_secs(d.as_secs())
}

/// [`duration`] of whole seconds.
pub fn duration_secs(secs: i64) -> String {
    let s = secs.unsigned_abs();
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{} min", s / 60),
        3_600..86_400 => format!("{} h {:02} min", s / 3_600, (s % 3_600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3_600),
    }
}

/// What is left of a deadline: [`duration_secs`], or `overdue` once it passed.
pub fn remaining_secs(secs: i64) -> String {
    if secs < 0 {
        "overdue".into()
    } else {
        duration_secs(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_wording_for_every_span() {
        assert_eq!(duration_secs(0), "0 s");
        assert_eq!(duration_secs(45), "45 s");
        assert_eq!(duration_secs(245), "4 min");
        assert_eq!(duration_secs(-180), "3 min");
        assert_eq!(duration(SignedDuration::from_mins(20)), "20 min");
        assert_eq!(duration_secs(3_900), "1 h 05 min");
        assert_eq!(duration_secs(2 * 86_400 + 3 * 3_600), "2 d 3 h");
        assert_eq!(remaining_secs(-1), "overdue");
        assert_eq!(remaining_secs(600), "10 min");
    }
}
