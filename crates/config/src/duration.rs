//! `Duration`: a non-negative span of whole seconds written with units (`20m`, `1h30m`, `1w`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration in whole seconds, written in config as numbers with units:
/// `45s`, `20m`, `1h30m`, `2d`, `1w` (units from largest to smallest, each at most once).
///
/// A bare number is rejected (`5` could mean seconds or minutes; the config never guesses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

/// Why a duration string was rejected. `Display` gives the message `muster check` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationError {
    Empty,
    Negative,
    MissingUnit,
    UnknownUnit(String),
    Fraction,
    UnitOrder,
    TooLarge,
    Invalid,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => {
                f.write_str("duration is empty: expected numbers with units, e.g. 20m or 1h30m")
            }
            DurationError::Negative => f.write_str("duration cannot be negative"),
            DurationError::MissingUnit => f.write_str("duration needs a unit: s, m, h, d or w"),
            DurationError::UnknownUnit(u) => {
                write!(f, "unknown duration unit `{u}` (expected s, m, h, d or w)")
            }
            DurationError::Fraction => {
                f.write_str("duration must use whole numbers, e.g. 1h30m rather than 1.5h")
            }
            DurationError::UnitOrder => f.write_str(
                "duration units must go from largest to smallest, each at most once, e.g. 1h30m",
            ),
            DurationError::TooLarge => f.write_str("duration is too large"),
            DurationError::Invalid => {
                f.write_str("invalid duration: expected numbers with units, e.g. 20m or 1h30m")
            }
        }
    }
}

impl std::error::Error for DurationError {}

const UNITS: [(char, u64); 5] = [
    ('w', 7 * 86_400),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

/// Largest accepted value, so that conversions to `i64`-based durations never fail.
const MAX_SECS: u64 = i64::MAX as u64;

impl Duration {
    pub const ZERO: Duration = Duration(0);

    pub const fn from_secs(secs: u64) -> Duration {
        Duration(secs)
    }

    pub const fn from_mins(mins: u64) -> Duration {
        Duration(mins.saturating_mul(60))
    }

    pub const fn as_secs(self) -> u64 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }

    /// As a `jiff::SignedDuration` (never fails: parsing caps values at `i64::MAX` seconds).
    pub fn to_signed(self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_secs(i64::try_from(self.0).unwrap_or(i64::MAX))
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(DurationError::Empty);
        }
        if s.starts_with('-') {
            return Err(DurationError::Negative);
        }
        let mut total: u64 = 0;
        let mut rest = s;
        // index into UNITS of the last unit seen; the next must have a larger index
        let mut last_unit: Option<usize> = None;
        while !rest.is_empty() {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 {
                return Err(DurationError::Invalid);
            }
            let (num, tail) = rest.split_at(digits);
            let mut tail_chars = tail.chars();
            let unit = match tail_chars.next() {
                None => return Err(DurationError::MissingUnit),
                Some('.') | Some(',') => return Err(DurationError::Fraction),
                Some(c) => c,
            };
            let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
                let word: String = tail.chars().take_while(|c| c.is_alphabetic()).collect();
                return Err(if word.is_empty() {
                    DurationError::Invalid
                } else {
                    DurationError::UnknownUnit(word)
                });
            };
            if last_unit.is_some_and(|last| idx <= last) {
                return Err(DurationError::UnitOrder);
            }
            last_unit = Some(idx);
            let n: u64 = num.parse().map_err(|_| DurationError::TooLarge)?;
            let secs = n.checked_mul(UNITS[idx].1).ok_or(DurationError::TooLarge)?;
            total = total.checked_add(secs).ok_or(DurationError::TooLarge)?;
            rest = tail_chars.as_str();
            // a unit letter followed directly by more letters (`5min`) is an unknown unit
            if rest.starts_with(|c: char| c.is_alphabetic()) {
                let word: String = tail.chars().take_while(|c| c.is_alphabetic()).collect();
                return Err(DurationError::UnknownUnit(word));
            }
        }
        if total > MAX_SECS {
            return Err(DurationError::TooLarge);
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    /// Canonical form: largest units first, zero parts omitted (`90m` prints `1h30m`, zero `0s`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        for (unit, secs) in UNITS {
            let n = rest / secs;
            if n > 0 {
                write!(f, "{n}{unit}")?;
                rest %= secs;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Result<u64, DurationError> {
        s.parse::<Duration>().map(Duration::as_secs)
    }

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(p("45s"), Ok(45));
        assert_eq!(p("20m"), Ok(1200));
        assert_eq!(p("1h30m"), Ok(5400));
        assert_eq!(p("2d"), Ok(172_800));
        assert_eq!(p("1w"), Ok(604_800));
        assert_eq!(
            p("1w2d3h4m5s"),
            Ok(604_800 + 172_800 + 3 * 3600 + 4 * 60 + 5)
        );
        assert_eq!(p("0m"), Ok(0));
        assert_eq!(p(" 5m "), Ok(300));
    }

    #[test]
    fn rejects_bad_input_with_specific_errors() {
        assert_eq!(p("5"), Err(DurationError::MissingUnit));
        assert_eq!(p("0"), Err(DurationError::MissingUnit));
        assert_eq!(p("1h30"), Err(DurationError::MissingUnit));
        assert_eq!(p("-5m"), Err(DurationError::Negative));
        assert_eq!(p(""), Err(DurationError::Empty));
        assert_eq!(p("5x"), Err(DurationError::UnknownUnit("x".into())));
        assert_eq!(p("5min"), Err(DurationError::UnknownUnit("min".into())));
        assert_eq!(p("1.5h"), Err(DurationError::Fraction));
        assert_eq!(p("30m1h"), Err(DurationError::UnitOrder));
        assert_eq!(p("1m1m"), Err(DurationError::UnitOrder));
        assert_eq!(p("m"), Err(DurationError::Invalid));
        assert_eq!(p("1h 30m"), Err(DurationError::Invalid));
        assert_eq!(p("99999999999999999999999s"), Err(DurationError::TooLarge));
        assert_eq!(p("9223372036854775807w"), Err(DurationError::TooLarge));
        assert_eq!(
            DurationError::MissingUnit.to_string(),
            "duration needs a unit: s, m, h, d or w"
        );
    }

    #[test]
    fn displays_canonically() {
        assert_eq!(Duration::from_secs(0).to_string(), "0s");
        assert_eq!(Duration::from_secs(5400).to_string(), "1h30m");
        assert_eq!(Duration::from_secs(604_800).to_string(), "1w");
        assert_eq!(Duration::from_secs(61).to_string(), "1m1s");
        assert_eq!(
            "90m".parse::<Duration>().map(|d| d.to_string()),
            Ok("1h30m".into())
        );
    }

    #[test]
    fn serde_uses_the_string_form() {
        let d = Duration::from_mins(20);
        assert_eq!(serde_json::to_string(&d).ok(), Some("\"20m\"".to_string()));
        let back: Result<Duration, _> = serde_json::from_str("\"1h30m\"");
        assert_eq!(back.ok(), Some(Duration::from_secs(5400)));
        assert!(serde_json::from_str::<Duration>("\"5\"").is_err());
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(secs in 0u64..=MAX_SECS) {
            let d = Duration::from_secs(secs);
            prop_assert_eq!(d.to_string().parse::<Duration>(), Ok(d));
        }

        #[test]
        fn parts_sum_up(w in 0u64..100, d in 0u64..100, h in 0u64..100, m in 0u64..100, s in 0u64..100) {
            let text = format!("{w}w{d}d{h}h{m}m{s}s");
            let expected = w * 604_800 + d * 86_400 + h * 3_600 + m * 60 + s;
            prop_assert_eq!(p(&text), Ok(expected));
        }

        #[test]
        fn never_panics(s in "\\PC{0,12}") {
            let _ = s.parse::<Duration>();
        }
    }
}
