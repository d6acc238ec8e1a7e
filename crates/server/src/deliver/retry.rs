//! Retry timing and what a provider's answer means for an outbox item: the one settle rule
//! of every delivery, Slack's calls included.

use std::time::Duration;

use muster_notify::Outcome;

/// Retry timing: attempt n waits `base * 2^(n-1)`, capped, ± 20 % jitter so a burst of
/// failures does not retry in lock-step.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    pub base: Duration,
    pub max: Duration,
    /// Attempts per channel before falling back.
    pub attempts: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            base: Duration::from_secs(2),
            max: Duration::from_secs(300),
            attempts: 6,
        }
    }
}

/// What a provider's answer means for an item.
#[derive(Debug, PartialEq)]
pub enum Settled {
    Sent,
    /// Failed: try again after `retry_in` (`None`: no attempt left on this channel, or a
    /// permanent failure).
    Failed {
        error: String,
        retry_in: Option<Duration>,
    },
}

impl Retry {
    /// How an item on its `attempts`-th attempt settles after `outcome`: a transient
    /// failure waits with backoff (a 429 at least its `Retry-After`), while attempts last.
    pub fn settle(&self, outcome: Outcome, attempts: u32) -> Settled {
        let (error, floor) = match outcome {
            Outcome::Sent { .. } => return Settled::Sent,
            Outcome::RetryAfter(w) => (
                format!("rate limited; retry after {} s", w.as_secs()),
                Some(w),
            ),
            Outcome::Transient(e) => (e, Some(Duration::ZERO)),
            Outcome::Permanent(e) => (e, None),
        };
        let retry_in = floor
            .filter(|_| attempts < self.attempts)
            .map(|floor| self.delay(attempts).max(floor));
        Settled::Failed { error, retry_in }
    }

    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.max);
        let jitter = 0.8 + rand::random::<f64>() * 0.4;
        capped.mul_f64(jitter)
    }
}
