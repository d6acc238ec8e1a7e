//! The `limits` section: how much one alert intake request may carry, and how long a silence
//! may last.
//!
//! ```yaml
//! limits:
//!   alerts_per_request: 10000   # alerts in one intake request (default 10000)
//!   intake_body: 16MiB          # body of one intake request (default 16MiB)
//!   max_silence: 30d            # the longest silence (default 30d, 1h to 366d)
//!   retention: 30d              # settled bookkeeping kept this long (default 30d, 1h to 3650d)
//! ```
//!
//! An intake request past a limit is answered 503 with Retry-After (never a 4xx, on which
//! Alertmanager drops the group), so raising the limit lets the sender's retries in. A silence
//! longer than `max_silence`, or ending later than that from now, is refused with 422.

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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            alerts_per_request: DEFAULT_ALERTS_PER_REQUEST,
            intake_body: DEFAULT_INTAKE_BODY,
            max_silence: DEFAULT_MAX_SILENCE,
            retention: DEFAULT_RETENTION,
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
    }
    out
}

/// A duration within `range`, or an error at `s` naming the key.
fn span(
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
