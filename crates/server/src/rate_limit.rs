//! Per-provider rate limits of the deliverer (`notifications.rate_limits` in the config).
//!
//! Each limit is a token bucket kept as a GCRA (generic cell rate algorithm): per bucket only
//! the *theoretical arrival time* of the next message. A message that would exceed a limit is
//! not failed: it is given a *slot*, the earliest time every bucket it draws on has a token,
//! the slot is reserved (so messages queued together are spread out, not retried in a herd),
//! and its outbox claim is deferred to the slot without using up a retry attempt. Claimed
//! again at its slot, the message finds its reservation and is sent.
//!
//! A provider's 429 pauses the message's most specific bucket (the Slack channel, the webhook
//! host, the provider) until its Retry-After, so the messages behind it wait too.
//!
//! The buckets live in the memory of one deliverer: with several nodes each keeps its own, so
//! the provider may see up to the limit times the number of nodes. Time is the injected
//! clock's, so the limits are tested on the simulated clock.

use std::collections::HashMap;
use std::sync::Mutex;

use muster_config::{Channel, Rate, RateLimits};

/// Reservations older than this are forgotten (their item went to another node or away).
const RESERVATION_TTL_MS: i64 = 10 * 60 * 1000;
/// Above this many buckets, those equivalent to fresh ones are dropped.
const MAX_BUCKETS: usize = 4096;

/// A bucket a message draws on: its name and its rate (`None`: only pauses hold it back).
pub type Bucket = (String, Option<Rate>);

/// The buckets a message to `address` on `channel` draws on, least specific first.
pub fn buckets(limits: &RateLimits, channel: Channel, address: &str) -> Vec<Bucket> {
    match channel {
        Channel::Slack => vec![
            ("slack".into(), limits.slack_workspace),
            (format!("slack:{address}"), limits.slack_channel),
        ],
        Channel::Email => vec![("email".into(), limits.email)],
        Channel::Sms | Channel::Phone => vec![("sms".into(), limits.sms)],
        Channel::Voice => vec![("voice".into(), limits.voice)],
        Channel::Push => vec![("push".into(), limits.push)],
        Channel::Webhook => vec![(format!("webhook:{}", host(address)), limits.webhook_host)],
    }
}

/// `host[:port]` of a URL, lower-cased (the text after the scheme up to the path).
fn host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host.to_ascii_lowercase()
}

#[derive(Debug, Default)]
struct State {
    /// Bucket → theoretical arrival time of its next message (ms).
    tat: HashMap<String, i64>,
    /// Item key → its reserved slot (ms).
    reserved: HashMap<String, i64>,
}

/// The buckets of one deliverer.
#[derive(Debug, Default)]
pub struct Limiter {
    state: Mutex<State>,
}

fn interval(rate: Option<Rate>) -> (i64, i64) {
    match rate {
        Some(r) => {
            let t = r.interval_ms();
            (t, t.saturating_mul(i64::from(r.burst.max(1) - 1)))
        }
        None => (0, 0),
    }
}

impl Limiter {
    pub fn new() -> Limiter {
        Limiter::default()
    }

    /// `None`: send `item` now (a token of each bucket is taken). `Some(slot)`: wait until
    /// `slot` (ms), reserved for `item`.
    pub fn admit(&self, item: &str, buckets: &[Bucket], now: i64) -> Option<i64> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&slot) = st.reserved.get(item) {
            if slot <= now {
                st.reserved.remove(item);
                return None;
            }
            return Some(slot);
        }
        let slot = buckets
            .iter()
            .map(|(name, rate)| {
                let tat = st.tat.get(name).copied().unwrap_or(now);
                tat.saturating_sub(interval(*rate).1).max(now)
            })
            .max()
            .unwrap_or(now);
        // Only limited buckets take a token; an unlimited one is held back by pauses alone.
        for (name, rate) in buckets.iter().filter(|(_, r)| r.is_some()) {
            let tat = st.tat.entry(name.clone()).or_insert(slot);
            *tat = (*tat).max(slot).saturating_add(interval(*rate).0);
        }
        st.prune(now);
        if slot <= now {
            return None;
        }
        st.reserved.insert(item.to_string(), slot);
        Some(slot)
    }

    /// Holds `bucket` back until `until` (ms): the provider said so (429 Retry-After).
    pub fn pause(&self, bucket: &str, until: i64) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let tat = st.tat.entry(bucket.to_string()).or_insert(until);
        *tat = (*tat).max(until);
    }
}

impl State {
    fn prune(&mut self, now: i64) {
        if self.reserved.len() > MAX_BUCKETS {
            self.reserved
                .retain(|_, slot| *slot > now.saturating_sub(RESERVATION_TTL_MS));
        }
        if self.tat.len() > MAX_BUCKETS {
            // A bucket whose next arrival is not in the future behaves as a fresh one.
            self.tat.retain(|_, tat| *tat > now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(count: u32, secs: &str, burst: u32) -> Option<Rate> {
        Some(Rate {
            count,
            per: secs.parse().unwrap(),
            burst,
        })
    }

    fn send(l: &Limiter, n: usize, buckets: &[Bucket], now: i64) -> Vec<Option<i64>> {
        (0..n)
            .map(|i| l.admit(&format!("k{i}"), buckets, now))
            .collect()
    }

    #[test]
    fn one_per_second_spreads_a_burst_into_slots() {
        let l = Limiter::new();
        let b = vec![("slack:#a".to_string(), rate(1, "1s", 1))];
        assert_eq!(
            send(&l, 4, &b, 0),
            [None, Some(1000), Some(2000), Some(3000)]
        );
        // A reservation holds until its slot, then lets its item through (once).
        assert_eq!(l.admit("k2", &b, 1500), Some(2000));
        assert_eq!(l.admit("k2", &b, 2000), None);
        // A newcomer queues behind the reserved slots.
        assert_eq!(l.admit("late", &b, 2000), Some(4000));
    }

    #[test]
    fn burst_then_steady_rate() {
        let l = Limiter::new();
        let b = vec![("email".to_string(), rate(5, "1s", 3))];
        assert_eq!(send(&l, 5, &b, 0), [None, None, None, Some(200), Some(400)]);
        // After a quiet spell the burst is back.
        assert_eq!(send(&l, 3, &b, 10_000), [None, None, None]);
    }

    #[test]
    fn the_slowest_bucket_decides_and_channels_are_independent() {
        let l = Limiter::new();
        let limits = RateLimits {
            slack_channel: rate(1, "1s", 1),
            slack_workspace: rate(2, "1s", 1),
            ..RateLimits::default()
        };
        let a = buckets(&limits, Channel::Slack, "#a");
        let c = buckets(&limits, Channel::Slack, "#c");
        assert_eq!(l.admit("a1", &a, 0), None);
        // Another channel: its own bucket is free, the workspace's next token is at 500 ms.
        assert_eq!(l.admit("c1", &c, 0), Some(500));
        // The same channel: 1 s after the first.
        assert_eq!(l.admit("a2", &a, 0), Some(1000));
    }

    #[test]
    fn unlimited_buckets_pass_until_paused() {
        let l = Limiter::new();
        let b = buckets(&RateLimits::default(), Channel::Webhook, "http://h:8080/x");
        assert_eq!(b[0].0, "webhook:h:8080");
        assert_eq!(
            host("https://user@Hooks.Example.com/a?b"),
            "hooks.example.com"
        );
        assert_eq!(send(&l, 3, &b, 0), [None, None, None]);
        l.pause("webhook:h:8080", 30_000);
        assert_eq!(l.admit("after", &b, 1000), Some(30_000));
        // A pause holds an unlimited bucket; a slot given to one message does not.
        let slack = RateLimits {
            slack_channel: rate(1, "1s", 1),
            ..RateLimits::default()
        };
        let a = buckets(&slack, Channel::Slack, "#a");
        assert_eq!(send(&l, 3, &a, 0)[2], Some(2000));
        assert_eq!(
            l.admit("b", &buckets(&slack, Channel::Slack, "#b"), 0),
            None
        );
        let other = buckets(&RateLimits::default(), Channel::Webhook, "http://other/x");
        assert_eq!(l.admit("other", &other, 1000), None);
    }
}
