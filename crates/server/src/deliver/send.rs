//! Stage 2: one delivery to one recipient over its chain — a provider, or the inbox, which
//! always takes it — and its settle: sent, retried with backoff, or handed to the next
//! channel of the chain.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use muster_core::{Change, IncidentNumber};
use muster_notify::Outcome;
use muster_store::{ClaimedOutbox, NewInboxEntry, StoreError};

use super::{Deliverer, Settled};
use crate::effect::{Delivery, Hop, Via};
use crate::rate_limit::buckets;

impl Deliverer {
    pub(super) async fn deliver(
        &self,
        item: &ClaimedOutbox,
        d: Delivery,
    ) -> Result<(), StoreError> {
        let now = self.state.clock.now();
        let store = &self.state.store;
        if let Some(at) = d.not_before
            && at > now.as_millisecond()
        {
            // Waiting for its rule step is not a failed attempt: the claim is given back.
            let at = Timestamp::from_millisecond(at).unwrap_or(now);
            store.outbox_defer(item.id, &self.owner, now, at).await?;
            return Ok(());
        }
        if d.not_before.is_some() && self.acknowledged(item.incident).await? {
            // A later rule step is stopped by acknowledgement: nothing to send.
            self.delivered(item.id, now).await?;
            return Ok(());
        }
        let Some(hop) = d.hop().cloned() else {
            store
                .outbox_failed(item.id, &self.owner, now, "no channel left", None)
                .await?;
            return Ok(());
        };
        let Some(provider) = hop.channel.provider() else {
            return self.to_inbox(item, &d, &hop, now).await;
        };
        let limits = buckets(
            &self.state.config().config.notifications.rate_limits,
            provider,
            &hop.address,
        );
        if let Some(slot) = self
            .limiter
            .admit(&item.idempotency_key, &limits, now.as_millisecond())
        {
            // Over a rate limit: not an attempt, not a failure; sent at its reserved slot.
            metrics::counter!("muster_notifications_deferred_total", "channel" => hop.channel.name())
                .increment(1);
            let at = Timestamp::from_millisecond(slot).unwrap_or(now);
            store.outbox_defer(item.id, &self.owner, now, at).await?;
            return Ok(());
        }
        let outcome = self.send(&hop, &d, &item.idempotency_key).await;
        let now = self.state.clock.now();
        if let Outcome::RetryAfter(wait) = &outcome
            && let Some((bucket, _)) = limits.last()
        {
            let ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
            self.limiter
                .pause(bucket, now.as_millisecond().saturating_add(ms));
        }
        self.settle(item, &d, &hop, outcome, now).await
    }

    fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    async fn acknowledged(&self, id: Option<IncidentNumber>) -> Result<bool, StoreError> {
        let Some(id) = id else { return Ok(false) };
        Ok(self
            .state
            .store
            .incident(id)
            .await?
            .is_some_and(|i| i.milestones.iter().any(|m| m.milestone == "acknowledged")))
    }

    /// The inbox takes every message: stored once by its key (a retry after a crash stores
    /// nothing twice), then settled and on the timeline like any other channel.
    async fn to_inbox(
        &self,
        item: &ClaimedOutbox,
        d: &Delivery,
        hop: &Hop,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let entry = NewInboxEntry {
            key: item.idempotency_key.clone(),
            incident: item.incident,
            person: hop.address.strip_prefix("person:").map(String::from),
            recipient: hop.address.clone(),
            subject: d.subject.clone(),
            text: d.text.clone(),
            reason: d.inbox_reason(),
        };
        self.state.store.inbox_put(&entry, now).await?;
        self.settle(item, d, hop, Outcome::Sent { id: None }, now)
            .await
    }

    async fn send(&self, hop: &Hop, d: &Delivery, key: &str) -> Outcome {
        let c = &self.channels;
        let missing = || Outcome::Permanent(format!("{} is not configured", hop.channel.name()));
        match hop.channel {
            Via::Slack => match &c.slack {
                // The text is built from incident and alert data: escaped for Slack (the
                // blocks, from `slack::channel::nudge_blocks`, are already).
                Some(s) => match &d.blocks {
                    Some(blocks) => {
                        let text = crate::slack::text::escape(&d.text);
                        match s.post_blocks(&hop.address, &text, blocks).await {
                            Ok(ts) => Outcome::Sent { id: Some(ts) },
                            Err(o) => o,
                        }
                    }
                    None => {
                        let text = crate::slack::text::escape(&d.text);
                        s.post_message(&hop.address, &text).await
                    }
                },
                None => missing(),
            },
            Via::Email => match &c.email {
                Some(e) => e.send(&hop.address, &d.subject, &d.text, key).await,
                None => missing(),
            },
            Via::Sms | Via::Phone => match &c.sms {
                Some(s) => s.send(&hop.address, &sms_text(d)).await,
                None => missing(),
            },
            Via::Voice => match (&c.voice, &d.link) {
                (Some(v), Some(link)) => {
                    let answer = format!("{}/hooks/voice/{}", self.base(), link.token);
                    let status = format!("{answer}/status");
                    v.call(&hop.address, &answer, &status).await
                }
                // A call is answered through its link; without one it could only ring.
                (Some(_), None) => Outcome::Permanent("a call needs a page link".into()),
                (None, _) => missing(),
            },
            Via::Push => match &c.push {
                Some(p) => {
                    let ack = d
                        .link
                        .as_ref()
                        .map(|l| format!("{}/ack/{}?via=push", self.base(), l.token));
                    let message = muster_notify::PushMessage {
                        topic: &hop.address,
                        title: &d.subject,
                        message: &d.text,
                        // What can be answered is urgent; the rest is for reading.
                        priority: if d.link.is_some() { 5 } else { 3 },
                        click: None,
                        ack_url: ack.as_deref(),
                    };
                    p.publish(&message).await
                }
                None => missing(),
            },
            Via::Webhook => match &c.webhook {
                Some(w) => {
                    let body = serde_json::json!(
                        {"key": key, "to": d.to, "subject": d.subject, "text": d.text}
                    );
                    let ts = self.state.clock.now().as_second();
                    w.send(&hop.address, key, body.to_string().as_bytes(), ts)
                        .await
                }
                None => missing(),
            },
            // Never reached: the inbox is written by `to_inbox`.
            Via::Inbox => missing(),
        }
    }

    async fn settle(
        &self,
        item: &ClaimedOutbox,
        d: &Delivery,
        hop: &Hop,
        outcome: Outcome,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let store = &self.state.store;
        let channel = hop.channel.name();
        let key = &item.idempotency_key;
        let (error, retry_in) = match self.retry.settle(outcome, item.attempts) {
            Settled::Sent => {
                // Settle first: a crash after this loses a timeline line, never re-sends.
                if !self.delivered(item.id, now).await? {
                    tracing::warn!(%key, "delivered after losing the claim");
                }
                metrics::counter!("muster_notifications_sent_total", "channel" => channel)
                    .increment(1);
                let latency_ms = now.as_millisecond() - d.queued_at;
                let change = Change::NotificationSent {
                    key: key.clone(),
                    channel: channel.into(),
                    to: d.to.clone(),
                    latency_ms,
                };
                return self
                    .commit(item.incident, now, vec![change], Vec::new())
                    .await;
            }
            Settled::Failed { error, retry_in } => (error, retry_in),
        };
        metrics::counter!("muster_notifications_failed_total", "channel" => channel).increment(1);
        if let Some(delay) = retry_in {
            let at = now + SignedDuration::try_from(delay).unwrap_or(SignedDuration::ZERO);
            store
                .outbox_failed(item.id, &self.owner, now, &error, Some(at))
                .await?;
            let change = failed(key, channel, &d.to, &error, Some(delay), None);
            return self
                .commit(item.incident, now, vec![change], Vec::new())
                .await;
        }
        self.fall_back(item, d, channel, &error, now).await
    }

    /// Queues the next channel of the chain (or dead-letters the item when none is left,
    /// which only a chain written before the inbox existed can reach).
    async fn fall_back(
        &self,
        item: &ClaimedOutbox,
        d: &Delivery,
        channel: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let store = &self.state.store;
        let key = &item.idempotency_key;
        let mut next = d.clone();
        next.step += 1;
        next.not_before = None;
        next.last_error = Some(error.to_string());
        let Some(hop) = next.hop() else {
            store
                .outbox_failed(item.id, &self.owner, now, error, None)
                .await?;
            let change = failed(key, channel, &d.to, error, None, None);
            return self
                .commit(item.incident, now, vec![change], Vec::new())
                .await;
        };
        let fallback = hop.channel.name();
        let change = failed(key, channel, &d.to, error, None, Some(fallback));
        self.commit(
            item.incident,
            now,
            vec![change],
            vec![next.item(item.incident)],
        )
        .await?;
        // Handed over to the fallback item: this one is settled (its failure is on the timeline).
        self.delivered(item.id, now).await?;
        Ok(())
    }
}

fn failed(
    key: &str,
    channel: &str,
    to: &str,
    error: &str,
    retry_in: Option<Duration>,
    fallback: Option<&str>,
) -> Change {
    Change::NotificationFailed {
        key: key.into(),
        channel: channel.into(),
        to: to.into(),
        error: error.into(),
        retry_in_ms: retry_in.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        fallback: fallback.map(String::from),
    }
}

/// An SMS page ends with how to answer it by reply (the code names this page among others).
fn sms_text(d: &Delivery) -> String {
    match d.link.as_ref().and_then(|l| l.code.as_deref()) {
        Some(code) => format!(
            "{}\nReply 1 or ACK {code} to acknowledge, 2 or ESC {code} to escalate.",
            d.text
        ),
        None => d.text.clone(),
    }
}
