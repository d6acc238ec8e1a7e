//! The `notifications` section: settings of the deliverer — what the built-in inbox keeps, and
//! per-provider rate limits.
//!
//! ```yaml
//! notifications:
//!   inbox: fallback        # default: what no provider could carry; `all`: a copy of everything
//!   rate_limits:
//!     slack_channel:   { rate: 1/s }              # per Slack channel or user
//!     slack_workspace: { rate: 50/m, burst: 10 }  # every Slack message together
//!     sms:             { rate: 10/s }
//!     voice:           { rate: 1/s }              # every call together
//!     push:            { rate: 10/s }             # every push message together
//!     email:           { rate: 5/s }
//!     webhook_host:    { rate: 20/s }             # per host of the webhook URL
//!   link_expiry: 1h        # a page's one-tap link (email, SMS, push, call) works this long
//! ```

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::diagnostic::S;
use crate::diagnostic::{Diags, Loc};
use crate::duration::Duration;

/// The `notifications` section, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notifications {
    pub inbox: InboxMode,
    pub rate_limits: RateLimits,
    /// How long a page's one-tap link answers (it also ends with its incident, and once used).
    pub link_expiry: Duration,
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications {
            inbox: InboxMode::default(),
            rate_limits: RateLimits::default(),
            link_expiry: DEFAULT_LINK_EXPIRY,
        }
    }
}

/// Long enough to wake up and answer; short enough that a forwarded or leaked message cannot
/// acknowledge a page hours later.
pub const DEFAULT_LINK_EXPIRY: Duration = Duration::from_secs(3_600);
const LINK_EXPIRY_RANGE: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(86_400));

/// What lands in the built-in inbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxMode {
    /// Notifications that no configured provider could carry.
    #[default]
    Fallback,
    /// Those, and a copy of every notification.
    All,
}

/// Token buckets per provider; `None` is no limit of Muster's own (a provider's 429 is still
/// honoured).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RateLimits {
    /// Per Slack channel or user: Slack allows about one message a second to each.
    pub slack_channel: Option<Rate>,
    /// Every Slack message of the workspace together.
    pub slack_workspace: Option<Rate>,
    pub sms: Option<Rate>,
    /// Every voice call together (`voice` steps, and `phone` steps placed as calls).
    pub voice: Option<Rate>,
    /// Every push message together.
    pub push: Option<Rate>,
    pub email: Option<Rate>,
    /// Per host of the webhook URL.
    pub webhook_host: Option<Rate>,
}

/// `count` messages per `per`, with up to `burst` at once after a quiet spell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
    pub burst: u32,
}

impl Rate {
    /// The spacing of messages at the steady rate, in milliseconds (at least 1).
    pub fn interval_ms(&self) -> i64 {
        let per_ms = self.per.to_std().as_millis();
        i64::try_from(per_ms / u128::from(self.count.max(1)))
            .unwrap_or(i64::MAX)
            .max(1)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotifications {
    pub inbox: Option<S>,
    #[serde(default)]
    pub rate_limits: RawRateLimits,
    pub link_expiry: Option<S>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimits {
    pub slack_channel: Option<RawRate>,
    pub slack_workspace: Option<RawRate>,
    pub sms: Option<RawRate>,
    pub voice: Option<RawRate>,
    pub push: Option<RawRate>,
    pub email: Option<RawRate>,
    pub webhook_host: Option<RawRate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRate {
    pub rate: S,
    pub burst: Option<S>,
}

fn loc(file: usize, s: &S) -> Loc {
    Loc {
        file,
        line: s.referenced.line() as usize,
        col: s.referenced.column() as usize,
    }
}

/// Checks the sections of every file: at most one, each rate well formed.
pub(crate) fn check(
    d: &mut Diags,
    sections: Vec<(usize, Spanned<RawNotifications>)>,
) -> Notifications {
    let mut out = Notifications::default();
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
                format!("`notifications` is defined once (first defined at {first})"),
            );
            continue;
        }
        first = Some(here);
        if let Some(mode) = &section.value.inbox {
            out.inbox = match mode.value.as_str() {
                "fallback" => InboxMode::Fallback,
                "all" => InboxMode::All,
                other => {
                    let message = format!("inbox must be `fallback` or `all` (found `{other}`)");
                    d.error(loc(f, mode), message);
                    InboxMode::Fallback
                }
            };
        }
        if let Some(s) = &section.value.link_expiry {
            let range = LINK_EXPIRY_RANGE;
            out.link_expiry = crate::limits::span(d, f, s, "link_expiry", range, "1m to 24h")
                .unwrap_or(DEFAULT_LINK_EXPIRY);
        }
        let r = section.value.rate_limits;
        let mut rate = |x: Option<RawRate>| x.and_then(|x| parse_rate(d, f, &x));
        out.rate_limits = RateLimits {
            slack_channel: rate(r.slack_channel),
            slack_workspace: rate(r.slack_workspace),
            sms: rate(r.sms),
            voice: rate(r.voice),
            push: rate(r.push),
            email: rate(r.email),
            webhook_host: rate(r.webhook_host),
        };
    }
    out
}

fn parse_rate(d: &mut Diags, f: usize, x: &RawRate) -> Option<Rate> {
    let rate = match rate_text(&x.rate.value) {
        Ok(r) => Some(r),
        Err(msg) => {
            d.error(loc(f, &x.rate), msg);
            None
        }
    };
    let burst = match &x.burst {
        None => Some(1),
        Some(b) => match b.value.parse::<u32>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                d.error(
                    loc(f, b),
                    format!("burst must be a whole number above 0 (found `{}`)", b.value),
                );
                None
            }
        },
    };
    let (count, per) = rate?;
    Some(Rate {
        count,
        per,
        burst: burst?,
    })
}

/// `N/s`, `N/m`, `N/h`, or `N/` a duration (`30/10s`).
fn rate_text(text: &str) -> Result<(u32, Duration), String> {
    let bad =
        || format!("rate must be messages per period, e.g. 1/s, 50/m or 30/10s (found `{text}`)");
    let (count, per) = text.split_once('/').ok_or_else(bad)?;
    let count = count
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(bad)?;
    let per = per.trim();
    let per = match per {
        "s" | "m" | "h" | "d" => format!("1{per}"),
        _ => per.to_string(),
    };
    let per = per
        .parse::<Duration>()
        .map_err(|e| format!("{e} (found `{text}`)"))?;
    if per.is_zero() {
        return Err(bad());
    }
    Ok((count, per))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        let (n, per) = rate_text("1/s").unwrap();
        assert_eq!((n, per.to_std().as_secs()), (1, 1));
        let (n, per) = rate_text("50/m").unwrap();
        assert_eq!((n, per.to_std().as_secs()), (50, 60));
        let (n, per) = rate_text("30/10s").unwrap();
        assert_eq!((n, per.to_std().as_secs()), (30, 10));
        for bad in ["1", "0/s", "-1/s", "x/s", "1/", "1/0s", "1/q", "1.5/s"] {
            assert!(rate_text(bad).is_err(), "{bad}");
        }
        let r = Rate {
            count: 50,
            per: "1m".parse().unwrap(),
            burst: 1,
        };
        assert_eq!(r.interval_ms(), 1200);
    }
}
