//! Escalation policies: ordered steps of targets with delays, repeated, stopped by
//! acknowledgement. [`plan`] turns a policy, a start time and an acknowledgement into the timed
//! list of notifications; running it on durable timers is the policy engine's job.
//!
//! Timing: step `s` of pass `p` fires at `start + (sum of the delays of every step before it,
//! across passes)`. The first pass is pass 0; `repeat: N` adds passes 1..=N. Step 0 of pass 0
//! fires at `start`. The delay of the very last step only matters as "then stop". Notifications
//! at or after the acknowledgement are not sent; negative delays count as zero.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EscalationPolicy {
    pub id: String,
    /// Extra passes over all steps after the first.
    pub repeat: u32,
    pub steps: Vec<EscalationStep>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EscalationStep {
    pub targets: Vec<EscalationTarget>,
    /// Wait before the next step (or the next pass) if nobody acknowledged.
    pub delay: SignedDuration,
}

/// Who a step notifies. A schedule means whoever is on call at the moment of the notification
/// (resolve it with [`crate::schedule::on_call`] at [`PlannedNotification::at`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationTarget {
    Schedule(String),
    Person(String),
    Alias(String),
    SlackChannel(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedNotification {
    pub at: Timestamp,
    /// 0 for the first pass, up to `repeat`.
    pub pass: u32,
    /// Index into the policy's steps.
    pub step: usize,
    pub target: EscalationTarget,
}

/// The timed notifications of a policy started at `start`, stopped by the first acknowledgement at
/// or before each notification's time.
pub fn plan(
    policy: &EscalationPolicy,
    start: Timestamp,
    acknowledged_at: Option<Timestamp>,
) -> Vec<PlannedNotification> {
    let mut out = Vec::new();
    if policy.steps.is_empty() {
        return out;
    }
    let mut at = start;
    for pass in 0..=policy.repeat {
        for (step, s) in policy.steps.iter().enumerate() {
            if acknowledged_at.is_some_and(|ack| ack <= at) {
                return out;
            }
            out.extend(s.targets.iter().map(|target| PlannedNotification {
                at,
                pass,
                step,
                target: target.clone(),
            }));
            let delay = s.delay.max(SignedDuration::ZERO);
            match at.checked_add(delay) {
                Ok(next) => at = next,
                Err(_) => return out,
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn policy(repeat: u32, delays: &[i64]) -> EscalationPolicy {
        EscalationPolicy {
            id: "p".into(),
            repeat,
            steps: delays
                .iter()
                .enumerate()
                .map(|(i, d)| EscalationStep {
                    targets: vec![EscalationTarget::Person(format!("p{i}"))],
                    delay: SignedDuration::from_secs(*d),
                })
                .collect(),
        }
    }

    #[test]
    fn steps_fire_after_the_previous_delays_and_repeat() {
        let start = t("2026-03-29T00:00:00Z");
        let got: Vec<(String, u32, usize)> = plan(&policy(1, &[600, 900]), start, None)
            .into_iter()
            .map(|n| (n.at.to_string(), n.pass, n.step))
            .collect();
        assert_eq!(
            got,
            vec![
                ("2026-03-29T00:00:00Z".into(), 0, 0),
                ("2026-03-29T00:10:00Z".into(), 0, 1),
                ("2026-03-29T00:25:00Z".into(), 1, 0),
                ("2026-03-29T00:35:00Z".into(), 1, 1),
            ]
        );
    }

    #[test]
    fn acknowledgement_stops_at_and_after_its_time() {
        let start = t("2026-03-29T00:00:00Z");
        let p = policy(2, &[600, 900]);
        assert_eq!(plan(&p, start, Some(start)).len(), 0);
        let at_second = plan(&p, start, Some(t("2026-03-29T00:10:00Z")));
        assert_eq!(at_second.len(), 1);
        let just_after = plan(&p, start, Some(t("2026-03-29T00:10:00.001Z")));
        assert_eq!(just_after.len(), 2);
        assert_eq!(plan(&p, start, Some(t("2026-03-28T00:00:00Z"))).len(), 0);
    }

    #[test]
    fn all_targets_of_a_step_are_notified_together_and_empty_policies_do_nothing() {
        let mut p = policy(0, &[60]);
        p.steps[0]
            .targets
            .push(EscalationTarget::Schedule("s".into()));
        p.steps[0]
            .targets
            .push(EscalationTarget::SlackChannel("#incidents".into()));
        let n = plan(&p, Timestamp::UNIX_EPOCH, None);
        assert_eq!(n.len(), 3);
        assert!(
            n.iter()
                .all(|x| x.at == Timestamp::UNIX_EPOCH && x.step == 0)
        );
        assert!(plan(&policy(3, &[]), Timestamp::UNIX_EPOCH, None).is_empty());
    }

    proptest! {
        #[test]
        fn plan_respects_ack_delays_and_repeat(
            delays in proptest::collection::vec(-100i64..5_000, 1..5),
            repeat in 0u32..4,
            ack in proptest::option::of(0i64..40_000),
        ) {
            let start = Timestamp::UNIX_EPOCH;
            let p = policy(repeat, &delays);
            let ack_ts = ack.map(|s| start + SignedDuration::from_secs(s));
            let n = plan(&p, start, ack_ts);
            // nothing at or after the acknowledgement
            if let Some(a) = ack_ts {
                prop_assert!(n.iter().all(|x| x.at < a));
            }
            // the expected times, independently: cumulative sums of clamped delays
            let mut expected = Vec::new();
            let mut at = 0i64;
            for pass in 0..=repeat {
                for (step, d) in delays.iter().enumerate() {
                    if ack.is_none_or(|a| at < a) {
                        expected.push((at, pass, step));
                    }
                    at += (*d).max(0);
                }
            }
            let got: Vec<(i64, u32, usize)> =
                n.iter().map(|x| (x.at.as_second(), x.pass, x.step)).collect();
            prop_assert_eq!(got.clone(), expected);
            // never more than (repeat + 1) passes; consecutive steps are `delay` apart
            prop_assert!(got.iter().all(|(_, pass, _)| *pass <= repeat));
            for w in got.windows(2) {
                let (a, b) = (w[0], w[1]);
                let d = delays[a.2].max(0);
                prop_assert_eq!(b.0 - a.0, d);
            }
            // no acknowledgement: every step of every pass
            if ack.is_none() {
                prop_assert_eq!(got.len(), delays.len() * (repeat as usize + 1));
            }
        }
    }
}
