//! On-call schedules: layers of rotations in a time zone, plus overrides, resolved into who is on
//! call when.
//!
//! # Rules (also in `crates/config/README.md`)
//!
//! - **Rotation.** A layer's member `k` (counting from 0) covers the `k`-th shift counted from
//!   `start` at `handoff`, cycling through the members. Before the first hand-off the layer
//!   covers nothing. A layer without members or with a zero-length shift covers nothing.
//! - **Wall-clock hand-offs.** The hand-off time is local time in the schedule's zone: a hand-off
//!   at 09:00 Europe/London is 09:00 local before and after a daylight-saving change.
//! - **Gaps and folds.** A local time that does not exist (02:30 on a spring-forward day) happens
//!   at the first valid instant after the gap (the transition itself, e.g. 03:00 BST). A local
//!   time that happens twice (01:30 on a fall-back day) means its first occurrence.
//! - **Shift lengths.** [`ShiftLength::Days`] and [`ShiftLength::Weeks`] are calendar days in the
//!   schedule's zone (a one-day shift across spring-forward lasts 23 hours, across fall-back 25);
//!   [`ShiftLength::Hours`] are absolute hours counted from the first hand-off, so a 12-hour
//!   rotation drifts against the wall clock by an hour across a change.
//! - **Restrictions.** With restrictions, a layer covers only inside its windows. A window runs
//!   from `from` on one of its `days` (the day the window *starts*) to `to` the same day, or the
//!   next day when `to <= from` (so `from == to` is 24 hours). Both ends follow the gap/fold rule.
//!   A restriction cuts the rotation's shifts; it does not change whose turn it is.
//! - **Precedence.** Later (higher) layers win wherever they have someone on call; lower layers
//!   show through elsewhere.
//! - **Overrides** win over all layers within `[from, to)`, also over uncovered time. An override
//!   with `replaces` applies only while the layers put that person on call. When overrides
//!   overlap, the later one in the list wins (the most recent decision).
//! - **Gaps.** Time nobody covers is reported as a [`Gap`], never dropped.
//!
//! Times are resolved with nanosecond precision between the years 1677 and 2262; bounds outside
//! that range are clamped to it. Time-zone data is jiff's: on Unix the system tzdb
//! (`/usr/share/zoneinfo`), the same data Python's `zoneinfo` reads.

mod resolve;
mod take;
mod zone;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

pub use resolve::{Cover, Resolver, Segment, first_gap, layer_shifts, on_call, shifts};
pub use take::{LOOKAHEAD, TakeRefused, TakeUntil, Takeover, rotates_in, take_pager};

/// The instant of local date-time `dt` in `tz` by the schedule rules: in a gap, the first valid
/// instant after it; in a fold, the first occurrence. (For interfaces that accept local times.)
pub fn local_to_timestamp(tz: &TimeZone, dt: jiff::civil::DateTime) -> Timestamp {
    let local = zone::epoch_day(dt.date())
        .saturating_mul(zone::DAY)
        .saturating_add(zone::time_ns(dt.time()));
    zone::ns_to_ts(zone::resolve_slow(tz, local))
}

/// A time zone and layers of rotations, plus overrides.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub id: String,
    pub time_zone: TimeZone,
    /// Later layers take precedence over earlier ones where they have someone on call.
    pub layers: Vec<Layer>,
    /// Later overrides take precedence over earlier ones where they overlap.
    pub overrides: Vec<Override>,
}

impl Schedule {
    /// A stable digest of the definition (zone, layers, overrides; not the id): SHA-256 of a
    /// canonical JSON form, lower-case hex. Calendar feeds bump their `SEQUENCE` when it
    /// changes, so clients re-read edited events.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.canonical().to_string().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Every field that decides who is on call, each under a fixed key in a fixed order.
    fn canonical(&self) -> serde_json::Value {
        let zone = match self.time_zone.iana_name() {
            Some(name) => name.to_string(),
            None => format!("{:?}", self.time_zone),
        };
        let layers: Vec<serde_json::Value> = self
            .layers
            .iter()
            .map(|l| {
                let restrictions: Vec<serde_json::Value> = l
                    .restrictions
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "days": r.days.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>(),
                            "from": r.from.to_string(),
                            "to": r.to.to_string(),
                        })
                    })
                    .collect();
                serde_json::json!({
                    "name": l.name,
                    "members": l.members,
                    "shift": String::from(l.shift),
                    "handoff": l.handoff.to_string(),
                    "start": l.start.to_string(),
                    "restrictions": restrictions,
                })
            })
            .collect();
        let overrides: Vec<serde_json::Value> = self
            .overrides
            .iter()
            .map(|o| {
                serde_json::json!({
                    "id": o.id,
                    "person": o.person,
                    "replaces": o.replaces,
                    "from": o.from.to_string(),
                    "to": o.to.to_string(),
                    "reason": o.reason,
                })
            })
            .collect();
        serde_json::json!({"zone": zone, "layers": layers, "overrides": overrides})
    }
}

/// One rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    /// In rotation order.
    pub members: Vec<String>,
    pub shift: ShiftLength,
    /// Local time of day at which shifts change.
    pub handoff: Time,
    /// Day of the first hand-off (local).
    pub start: Date,
    /// When non-empty, the layer covers only inside these windows.
    pub restrictions: Vec<Restriction>,
}

/// How long one shift lasts: calendar days/weeks in the schedule's zone, or absolute hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum ShiftLength {
    Hours(u32),
    Days(u32),
    Weeks(u32),
}

/// The longest shift [`ShiftLength::from_str`] accepts, in days.
pub const MAX_SHIFT_DAYS: u32 = 366;

impl ShiftLength {
    /// Calendar days of a day or week shift; `None` for hours.
    pub fn days(self) -> Option<u32> {
        match self {
            ShiftLength::Hours(_) => None,
            ShiftLength::Days(d) => Some(d),
            ShiftLength::Weeks(w) => Some(w.saturating_mul(7)),
        }
    }

    pub fn is_zero(self) -> bool {
        matches!(
            self,
            ShiftLength::Hours(0) | ShiftLength::Days(0) | ShiftLength::Weeks(0)
        )
    }
}

/// Why a shift length was rejected; `Display` is the message `muster check` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShiftLengthError {
    /// Not numbers with units.
    Invalid(String),
    /// A unit other than `h`, `d`, `w`.
    Unit(String),
    /// Hours together with days or weeks.
    Mixed(String),
    Zero,
    TooLong(String),
}

impl fmt::Display for ShiftLengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShiftLengthError::Invalid(s) => write!(
                f,
                "invalid shift length `{s}` (expected hours, days or weeks, e.g. 12h, 1d, 1w)"
            ),
            ShiftLengthError::Unit(s) => write!(
                f,
                "shift length `{s}`: shifts are whole hours (h), days (d) or weeks (w)"
            ),
            ShiftLengthError::Mixed(s) => write!(
                f,
                "shift length `{s}` mixes hours with days: days follow the local calendar (23 or 25 hours across a DST change) while hours are absolute; write it in hours only or in days only"
            ),
            ShiftLengthError::Zero => f.write_str("shift must be longer than 0"),
            ShiftLengthError::TooLong(s) => write!(
                f,
                "shift length `{s}` is too long (at most {MAX_SHIFT_DAYS} days)"
            ),
        }
    }
}

impl std::error::Error for ShiftLengthError {}

impl FromStr for ShiftLength {
    type Err = ShiftLengthError;

    /// `12h` → hours; `1d`, `2w`, `1w3d` (weeks and days together) → calendar days/weeks.
    /// Hours together with days (`1d12h`) are rejected: the two mean different things across DST.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let invalid = || ShiftLengthError::Invalid(text.to_string());
        if text.is_empty() {
            return Err(invalid());
        }
        let (mut w, mut d, mut h): (Option<u64>, Option<u64>, Option<u64>) = (None, None, None);
        let mut rest = text;
        let mut last = 0u8; // 1 = w, 2 = d, 3 = h: units must go from largest to smallest
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(invalid());
            }
            let n: u64 = rest[..digits]
                .parse()
                .map_err(|_| ShiftLengthError::TooLong(text.to_string()))?;
            let tail = &rest[digits..];
            let unit_len = tail
                .chars()
                .take_while(|c| c.is_alphabetic())
                .map(char::len_utf8)
                .sum::<usize>();
            let (unit, after) = tail.split_at(unit_len);
            let rank = match unit {
                "w" => 1,
                "d" => 2,
                "h" => 3,
                "" => return Err(invalid()),
                _ => return Err(ShiftLengthError::Unit(text.to_string())),
            };
            if rank <= last {
                return Err(invalid());
            }
            last = rank;
            match rank {
                1 => w = Some(n),
                2 => d = Some(n),
                _ => h = Some(n),
            }
            rest = after;
        }
        let too_long = || ShiftLengthError::TooLong(text.to_string());
        let max = u64::from(MAX_SHIFT_DAYS);
        let length = match (w, d, h) {
            (None, None, Some(h)) => {
                if h > max * 24 {
                    return Err(too_long());
                }
                ShiftLength::Hours(h as u32)
            }
            (_, _, Some(_)) => return Err(ShiftLengthError::Mixed(text.to_string())),
            (Some(w), None, None) => {
                if w.saturating_mul(7) > max {
                    return Err(too_long());
                }
                ShiftLength::Weeks(w as u32)
            }
            (w, d, None) => {
                let days = w
                    .unwrap_or(0)
                    .saturating_mul(7)
                    .saturating_add(d.unwrap_or(0));
                if days > max {
                    return Err(too_long());
                }
                ShiftLength::Days(days as u32)
            }
        };
        if length.is_zero() {
            return Err(ShiftLengthError::Zero);
        }
        Ok(length)
    }
}

impl fmt::Display for ShiftLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShiftLength::Hours(n) => write!(f, "{n}h"),
            ShiftLength::Days(n) => write!(f, "{n}d"),
            ShiftLength::Weeks(n) => write!(f, "{n}w"),
        }
    }
}

impl From<ShiftLength> for String {
    fn from(s: ShiftLength) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for ShiftLength {
    type Error = ShiftLengthError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A window of local time on some weekdays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restriction {
    /// The days a window *starts* on.
    pub days: Vec<Weekday>,
    pub from: Time,
    /// `to <= from`: the window ends on the next day (`from == to`: 24 hours).
    pub to: Time,
}

/// Someone else on call from `from` to `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// Set for overrides stored at run time; `None` for those in config.
    pub id: Option<String>,
    pub person: String,
    /// Only while this person would be on call; `None`: whoever is (or nobody).
    pub replaces: Option<String>,
    pub from: Timestamp,
    pub to: Timestamp,
    pub reason: Option<String>,
}

/// A person on call from `start` to `end` (exclusive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    pub person: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub source: ShiftSource,
}

/// Where a shift comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ShiftSource {
    Layer { index: usize, name: String },
    Override { id: Option<String> },
}

/// Time nobody is on call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// The final schedule over a window: shifts and gaps, together covering it exactly, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub shifts: Vec<Shift>,
    pub gaps: Vec<Gap>,
}
