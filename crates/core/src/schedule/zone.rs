//! Fast local-time ↔ instant conversion for one time zone over a window of time.
//!
//! Resolving a schedule converts thousands of local wall-clock times ("09:00 on day D") into
//! instants. Asking jiff for each one is correct but slow-ish; instead [`Zone`] asks jiff once for
//! the UTC offset in force at the start of the window and for every transition inside it, and then
//! converts with integer arithmetic. Outside the window it falls back to jiff (same rules), so the
//! window only matters for speed, never for correctness.
//!
//! All times are `i64` nanoseconds: instants since the Unix epoch, and local times as "the
//! instant this wall-clock time would be if the zone were UTC".

use jiff::Timestamp;
use jiff::tz::{AmbiguousOffset, TimeZone};

pub(crate) const SEC: i64 = 1_000_000_000;
pub(crate) const HOUR: i64 = 3_600 * SEC;
pub(crate) const DAY: i64 = 86_400 * SEC;

/// Margin around the window where the slow path is taken (offsets are far below two days).
const EDGE: i64 = 2 * DAY;

pub(crate) fn ts_to_ns(ts: Timestamp) -> i64 {
    let n = ts.as_nanosecond();
    n.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

pub(crate) fn ns_to_ts(ns: i64) -> Timestamp {
    // every i64 nanosecond count is within jiff's range (years 1677..2262)
    Timestamp::new(ns.div_euclid(SEC), ns.rem_euclid(SEC) as i32).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub(crate) struct Zone {
    tz: TimeZone,
    /// Instants at which each segment starts (`starts[0]` is `i64::MIN`), sorted.
    starts: Vec<i64>,
    /// UTC offset (ns) of each segment.
    offsets: Vec<i64>,
    /// Window covered exactly by the segments.
    lo: i64,
    hi: i64,
}

impl Zone {
    /// Prepare conversions for instants in `[lo, hi]`.
    pub(crate) fn new(tz: &TimeZone, lo: i64, hi: i64) -> Zone {
        let mut zone = Zone {
            tz: tz.clone(),
            starts: Vec::new(),
            offsets: Vec::new(),
            lo,
            hi,
        };
        zone.reset(tz, lo, hi);
        zone
    }

    /// Reuse this table (and its buffers) for another zone or window.
    pub(crate) fn reset(&mut self, tz: &TimeZone, lo: i64, hi: i64) {
        self.tz = tz.clone();
        self.lo = lo;
        self.hi = hi;
        self.starts.clear();
        self.offsets.clear();
        let first = tz.to_offset(ns_to_ts(lo));
        self.starts.push(i64::MIN);
        self.offsets.push(i64::from(first.seconds()) * SEC);
        let hi_ts = ns_to_ts(hi);
        for t in tz.following(ns_to_ts(lo)) {
            if t.timestamp() > hi_ts {
                break;
            }
            self.starts.push(ts_to_ns(t.timestamp()));
            self.offsets.push(i64::from(t.offset().seconds()) * SEC);
        }
    }

    fn fast(&self, t: i64) -> bool {
        t > self.lo.saturating_add(EDGE) && t < self.hi.saturating_sub(EDGE)
    }

    /// The UTC offset in force at instant `t`.
    pub(crate) fn offset_at(&self, t: i64) -> i64 {
        if !(self.lo..=self.hi).contains(&t) {
            return i64::from(self.tz.to_offset(ns_to_ts(t)).seconds()) * SEC;
        }
        let i = self.starts.partition_point(|&s| s <= t);
        self.offsets[i.saturating_sub(1)]
    }

    /// The local wall-clock time at instant `t`.
    pub(crate) fn local(&self, t: i64) -> i64 {
        t.saturating_add(self.offset_at(t))
    }

    /// The instant of local time `local`: in a gap, the first instant after the gap (the
    /// transition); in a fold, the first occurrence.
    pub(crate) fn resolve(&self, local: i64) -> i64 {
        if !self.fast(local) {
            return resolve_slow(&self.tz, local);
        }
        let n = self.starts.len();
        // the first segment whose local range ends after `local`
        let local_end = |i: usize| -> i64 {
            if i + 1 < n {
                self.starts[i + 1].saturating_add(self.offsets[i])
            } else {
                i64::MAX
            }
        };
        let mut i = 0;
        while i + 1 < n && local_end(i) <= local {
            i += 1;
        }
        let local_start = if i == 0 {
            i64::MIN
        } else {
            self.starts[i].saturating_add(self.offsets[i])
        };
        if local >= local_start {
            local.saturating_sub(self.offsets[i])
        } else {
            self.starts[i]
        }
    }
}

/// [`Zone::resolve`] straight from jiff (same rules).
pub(crate) fn resolve_slow(tz: &TimeZone, local: i64) -> i64 {
    let dt = jiff::tz::Offset::UTC.to_datetime(ns_to_ts(local));
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => {
            local.saturating_sub(i64::from(offset.seconds()) * SEC)
        }
        AmbiguousOffset::Fold { before, .. } => {
            local.saturating_sub(i64::from(before.seconds()) * SEC)
        }
        AmbiguousOffset::Gap { before, after } => {
            // the transition T satisfies local - after < T <= local - before
            let lower = local.saturating_sub(i64::from(after.seconds()) * SEC);
            tz.following(ns_to_ts(lower))
                .next()
                .map(|t| ts_to_ns(t.timestamp()))
                .unwrap_or_else(|| local.saturating_sub(i64::from(before.seconds()) * SEC))
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn epoch_day(date: jiff::civil::Date) -> i64 {
    let (y, m, d) = (
        i64::from(date.year()),
        i64::from(date.month()),
        i64::from(date.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Monday = 0 .. Sunday = 6 for a day since the epoch (1970-01-01 was a Thursday).
pub(crate) fn weekday_index(day: i64) -> u32 {
    (day + 3).rem_euclid(7) as u32
}

/// Nanoseconds since midnight.
pub(crate) fn time_ns(t: jiff::civil::Time) -> i64 {
    i64::from(t.hour()) * HOUR
        + i64::from(t.minute()) * 60 * SEC
        + i64::from(t.second()) * SEC
        + i64::from(t.subsec_nanosecond())
}
