//! The `limits` section: how much one alert intake request may carry, how long a silence may
//! last, and how much of the server one client or one kind of request may hold.
//!
//! ```yaml
//! limits:
//!   alerts_per_request: 10000   # alerts in one intake request (default 10000)
//!   intake_body: 16MiB          # body of one intake request (default 16MiB)
//!   max_silence: 30d            # the longest silence (default 30d, 1h to 366d)
//!   retention: 30d              # settled bookkeeping kept this long (default 30d, 1h to 3650d)
//!   body_read_timeout: 10s      # a request's whole body must arrive within this (1s to 5m)
//!   connections_per_address: 256  # open connections one client address may hold
//!   in_flight:                  # requests being served at once, per kind (1 to 100000 each)
//!     intake: 1024
//!     api: 512
//!     public: 256
//!     slack: 128
//! ```
//!
//! An intake request past a limit is answered 503 with Retry-After (never a 4xx, on which
//! Alertmanager drops the group), so raising the limit lets the sender's retries in. A silence
//! longer than `max_silence`, or ending later than that from now, is refused with 422.
//! `body_read_timeout`, `connections_per_address` and `in_flight` are read when the server
//! starts (a reload does not resize open listeners and budgets).

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::diagnostic::S;
use crate::diagnostic::{Diags, Loc};
use crate::duration::Duration;

/// Alerts one intake request may carry by default.
pub const DEFAULT_ALERTS_PER_REQUEST: usize = 10_000;
/// Bytes one intake request's body may have by default (16 MiB).
pub const DEFAULT_INTAKE_BODY: usize = 16 * 1024 * 1024;
/// The largest `alerts_per_request` accepted.
const MAX_ALERTS_PER_REQUEST: usize = 1_000_000;
/// The largest `intake_body` accepted (1 GiB).
const MAX_INTAKE_BODY: usize = 1024 * 1024 * 1024;
/// How long a silence may last by default: 30 days.
pub const DEFAULT_MAX_SILENCE: Duration = Duration::from_secs(30 * 86_400);
/// The range `max_silence` may be set in: an hour to 366 days.
const MAX_SILENCE_RANGE: (Duration, Duration) = (
    Duration::from_secs(3_600),
    Duration::from_secs(366 * 86_400),
);
/// How long settled bookkeeping (delivered outbox items, fired and cancelled timers, resolved
/// alerts' payloads, Slack's seen requests) is kept by default: 30 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// The range `retention` may be set in: an hour to ten years.
const RETENTION_RANGE: (Duration, Duration) = (
    Duration::from_secs(3_600),
    Duration::from_secs(3650 * 86_400),
);

/// How long a request's whole body may take to arrive by default.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_READ_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(300));
/// Open connections one client address may hold by default (a NAT or a proxy holds many
/// clients' connections, so this is generous; it stops one sender taking them all).
pub const DEFAULT_CONNECTIONS_PER_ADDRESS: usize = 256;
/// The largest connection cap and in-flight budget accepted.
const MAX_COUNT: usize = 100_000;

/// Requests served at once per kind of route; beyond a budget the answer is 503 + Retry-After.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InFlightBudgets {
    /// Alert intake (the most senders, the largest bodies).
    pub intake: usize,
    pub api: usize,
    /// The status page, calendar feeds and acknowledgement links.
    pub public: usize,
    pub slack: usize,
}

impl Default for InFlightBudgets {
    fn default() -> Self {
        InFlightBudgets {
            intake: 1024,
            api: 512,
            public: 256,
            slack: 128,
        }
    }
}

/// The `limits` section, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Alerts in one intake request at most.
    pub alerts_per_request: usize,
    /// Bytes of one intake request's body at most.
    pub intake_body: usize,
    /// The longest silence; one ending later than this from now is refused too.
    pub max_silence: Duration,
    /// How long settled bookkeeping is kept before the server prunes it.
    pub retention: Duration,
    /// How long a request's whole body may take to arrive.
    pub body_read_timeout: Duration,
    pub connections_per_address: usize,
    pub in_flight: InFlightBudgets,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            alerts_per_request: DEFAULT_ALERTS_PER_REQUEST,
            intake_body: DEFAULT_INTAKE_BODY,
            max_silence: DEFAULT_MAX_SILENCE,
            retention: DEFAULT_RETENTION,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            connections_per_address: DEFAULT_CONNECTIONS_PER_ADDRESS,
            in_flight: InFlightBudgets::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub alerts_per_request: Option<S>,
    pub intake_body: Option<S>,
    pub max_silence: Option<S>,
    pub retention: Option<S>,
    pub body_read_timeout: Option<S>,
    pub connections_per_address: Option<S>,
    pub in_flight: Option<RawInFlight>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInFlight {
    pub intake: Option<S>,
    pub api: Option<S>,
    pub public: Option<S>,
    pub slack: Option<S>,
}

fn loc(file: usize, s: &S) -> Loc {
    Loc {
        file,
        line: s.referenced.line() as usize,
        col: s.referenced.column() as usize,
    }
}

/// Checks the sections of every file: at most one, each value in range.
pub(crate) fn check(d: &mut Diags, sections: Vec<(usize, Spanned<RawLimits>)>) -> Limits {
    let mut out = Limits::default();
    let mut first: Option<Loc> = None;
    for (f, section) in sections {
        let here = Loc {
            file: f,
            line: section.referenced.line() as usize,
            col: section.referenced.column() as usize,
        };
        if let Some(first) = first {
            let first = d.short(first);
            d.error(
                here,
                format!("`limits` is defined once (first defined at {first})"),
            );
            continue;
        }
        first = Some(here);
        let raw = section.value;
        if let Some(s) = &raw.alerts_per_request {
            match s.value.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_ALERTS_PER_REQUEST).contains(&n) => out.alerts_per_request = n,
                _ => d.error(
                    loc(f, s),
                    format!(
                        "alerts_per_request must be a whole number from 1 to \
                         {MAX_ALERTS_PER_REQUEST} (found `{}`)",
                        s.value
                    ),
                ),
            }
        }
        if let Some(s) = &raw.intake_body {
            match size(&s.value) {
                Some(n) if (1024..=MAX_INTAKE_BODY).contains(&n) => out.intake_body = n,
                _ => d.error(
                    loc(f, s),
                    format!(
                        "intake_body must be a size from 1KiB to 1GiB, e.g. 16MiB, 512KiB or a \
                         number of bytes (found `{}`)",
                        s.value
                    ),
                ),
            }
        }
        if let Some(s) = &raw.max_silence {
            out.max_silence = span(d, f, s, "max_silence", MAX_SILENCE_RANGE, "1h to 366d")
                .unwrap_or(out.max_silence);
        }
        if let Some(s) = &raw.retention {
            out.retention =
                span(d, f, s, "retention", RETENTION_RANGE, "1h to 3650d").unwrap_or(out.retention);
        }
        if let Some(s) = &raw.body_read_timeout {
            out.body_read_timeout = span(
                d,
                f,
                s,
                "body_read_timeout",
                BODY_READ_TIMEOUT_RANGE,
                "1s to 5m",
            )
            .unwrap_or(out.body_read_timeout);
        }
        if let Some(s) = &raw.connections_per_address {
            out.connections_per_address =
                count(d, f, s, "connections_per_address").unwrap_or(out.connections_per_address);
        }
        if let Some(raw) = &raw.in_flight {
            let budgets = &mut out.in_flight;
            for (key, value, slot) in [
                ("in_flight.intake", &raw.intake, &mut budgets.intake),
                ("in_flight.api", &raw.api, &mut budgets.api),
                ("in_flight.public", &raw.public, &mut budgets.public),
                ("in_flight.slack", &raw.slack, &mut budgets.slack),
            ] {
                if let Some(n) = value.as_ref().and_then(|s| count(d, f, s, key)) {
                    *slot = n;
                }
            }
        }
    }
    out
}

/// A whole number from 1 to [`MAX_COUNT`], or an error at `s` naming the key.
fn count(d: &mut Diags, f: usize, s: &S, key: &str) -> Option<usize> {
    match s.value.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_COUNT).contains(&n) => Some(n),
        _ => {
            d.error(
                loc(f, s),
                format!(
                    "{key} must be a whole number from 1 to {MAX_COUNT} (found `{}`)",
                    s.value
                ),
            );
            None
        }
    }
}

/// A duration within `range`, or an error at `s` naming the key.
pub(crate) fn span(
    d: &mut Diags,
    f: usize,
    s: &S,
    key: &str,
    (lo, hi): (Duration, Duration),
    words: &str,
) -> Option<Duration> {
    match s.value.parse::<Duration>() {
        Ok(v) if (lo..=hi).contains(&v) => Some(v),
        Ok(_) => {
            d.error(
                loc(f, s),
                format!("{key} must be from {words} (found `{}`)", s.value),
            );
            None
        }
        Err(e) => {
            d.error(loc(f, s), format!("{key}: {e}"));
            None
        }
    }
}

/// `N`, `NB`, `NKiB`, `NMiB` or `NGiB` (a space before the unit allowed), in bytes.
pub(crate) fn size(text: &str) -> Option<usize> {
    let text = text.trim();
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let (num, unit) = text.split_at(digits);
    let n: usize = num.parse().ok()?;
    let factor: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        "GiB" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (text, bytes) in [
            ("16MiB", Some(16 << 20)),
            ("16 MiB", Some(16 << 20)),
            ("512KiB", Some(512 << 10)),
            ("1GiB", Some(1 << 30)),
            ("2048", Some(2048)),
            ("2048B", Some(2048)),
            ("16MB", None),
            ("MiB", None),
            ("-1MiB", None),
            ("1.5MiB", None),
            ("", None),
        ] {
            assert_eq!(size(text), bytes, "{text}");
        }
    }
}
