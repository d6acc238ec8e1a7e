//! The deliverer: turns outbox items into messages on Slack, email, SMS and webhooks.
//!
//! Two stages, both through the outbox so each is retried and fenced on its own:
//! 1. A *decision* item (`page`, `notify`, `nudge`, queued by the policies or a playbook) is
//!    resolved into recipients (people → their channels by their notification rules; aliases
//!    → people, teams, the current on-call of schedules, Slack channels, email lists), its
//!    template rendered once, and one `delivery` item queued per recipient, in one
//!    transaction with a `notification_queued` timeline event.
//! 2. A `delivery` item is one message to one address on one channel, with the rest of the
//!    recipient's channels as its fallback chain. Sent → `notification_sent` (with latency);
//!    transient → retried with exponential backoff and jitter (429: at least `Retry-After`);
//!    permanent or out of attempts → the next channel is queued (`notification_failed` with
//!    `fallback`), or, with none left, a dead letter (`GET /api/v1/outbox/dead-letters`).
//!
//! Idempotency: a delivered item is never claimed again, and each delivery's key names its
//! recipient and channel, so a retry of one recipient never re-sends to the others. The key is
//! passed where the provider takes one (webhook `Idempotency-Key`, email `Message-ID`). A crash
//! between a provider's answer and the settle re-sends once after the lease: at least once.
//!
//! Waiting is not failing: a later notification-rule step, or a message over its provider's
//! rate limit (see [`crate::rate_limit`]), gives its claim back until its time
//! (`Store::outbox_defer`) without using up a retry attempt.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use muster_config::{Channel, Config, Person};
use muster_core::{Change, IncidentNumber};
use muster_notify::{Email, Outcome, Slack, Sms, Webhook};
use muster_store::{ClaimedOutbox, Effects, OutboxItem, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::api::clock::{PolicyTimerView, timer_view};
use crate::api::incidents::IncidentView;
use crate::policy::{RuntimeOverrides, runtime_overrides};
use crate::rate_limit::{Limiter, buckets};

/// The effect of a single message to one address.
pub const DELIVERY: &str = "delivery";
/// The actor of the deliverer's timeline events.
pub const ACTOR: &str = "notifier";
/// Effects that ask for messages; the others (`assign_role`, `create_task`, …) are carried
/// out in the transaction that queued them and have nothing to send.
const MESSAGE_EFFECTS: &[&str] = &["page", "notify", "nudge"];
/// Effects whose change was made in the transaction that queued them.
const DONE_EFFECTS: &[&str] = &["assign_role", "create_task", "draft_status_update"];
/// How long a claim is ours: several provider timeouts.
const LEASE: Duration = Duration::from_secs(60);
/// Sleep at most this long without a wake-up (a lost wake-up only delays).
const MAX_SLEEP: Duration = Duration::from_secs(5);
const MIN_SLEEP: Duration = Duration::from_millis(10);
/// Messages in flight at once in `run`: enough to hide providers' latency, few enough not to
/// flood them (the rate limits still apply to each).
const IN_FLIGHT: usize = 64;
/// `run` claims again once this many of its slots are free, so a backlog is claimed in
/// batches rather than one claim per finished message.
const CLAIM_AT_FREE: usize = IN_FLIGHT / 4;

/// The configured providers. A channel whose provider is not configured is skipped when
/// planning, so its recipients fall through to the next channel at once.
#[derive(Clone, Debug, Default)]
pub struct Channels {
    pub slack: Option<Slack>,
    pub email: Option<Email>,
    pub sms: Option<Sms>,
    pub webhook: Option<Webhook>,
}

impl Channels {
    /// From the environment (`MUSTER_SLACK_*`, `MUSTER_SMTP_*`, `MUSTER_SMS_*`,
    /// `MUSTER_WEBHOOK_SECRET`).
    pub fn from_env() -> Result<Channels, String> {
        let http = muster_notify::http_client()?;
        Ok(Channels {
            slack: Slack::from_env(http.clone()),
            email: Email::from_env().transpose()?,
            sms: Sms::from_env(http.clone()),
            webhook: Some(Webhook::from_env(http)),
        })
    }

    fn has(&self, channel: Channel) -> bool {
        match channel {
            Channel::Slack => self.slack.is_some(),
            Channel::Email => self.email.is_some(),
            Channel::Sms | Channel::Phone => self.sms.is_some(),
            Channel::Webhook => self.webhook.is_some(),
        }
    }
}

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

impl Retry {
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.max);
        let jitter = 0.8 + rand::random::<f64>() * 0.4;
        capped.mul_f64(jitter)
    }
}

/// One step of a recipient's channel chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub channel: Channel,
    pub address: String,
}

/// The payload of a `delivery` item.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// The decision item this came from.
    pub parent: String,
    /// `person:alice`, `#payments`, `legal@example.com`: who, for the timeline.
    pub to: String,
    /// The channels to try, in order; `step` is the one this item tries.
    pub chain: Vec<Hop>,
    pub step: usize,
    pub subject: String,
    pub text: String,
    /// When the decision was queued (ms): latency is measured from here.
    pub queued_at: i64,
    /// Not before this time (ms): a later notification-rule step.
    #[serde(default)]
    pub not_before: Option<i64>,
    /// Slack Block Kit blocks (buttons) sent with the text on Slack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Value>,
}

impl Delivery {
    fn hop(&self) -> Option<&Hop> {
        self.chain.get(self.step)
    }

    /// `<parent>/<to>/<first channel>`, plus `/fallback:<channel>` past the first step: the
    /// fallback of one rule step never collides with another step naming that channel.
    fn key(&self) -> String {
        let name = |h: Option<&Hop>| h.map(|h| channel_name(h.channel)).unwrap_or("none");
        let base = format!("{}/{}/{}", self.parent, self.to, name(self.chain.first()));
        match self.step {
            0 => base,
            _ => format!("{base}/fallback:{}", name(self.hop())),
        }
    }
}

pub fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Slack => "slack",
        Channel::Email => "email",
        Channel::Sms => "sms",
        Channel::Webhook => "webhook",
        Channel::Phone => "phone",
    }
}

/// The outbox items a playbook asks for when `incident` is declared: one `notify` per alias
/// of each matching playbook, keyed so a repeat never queues twice. Called inside the
/// declaration's transaction.
pub fn playbook_items(config: &Config, incident: &muster_core::Incident) -> Vec<OutboxItem> {
    let mut items = Vec::new();
    for pb in config.playbooks_for(
        incident.severity,
        incident.incident_type.as_deref(),
        &incident.services,
    ) {
        for n in &pb.notify {
            items.push(OutboxItem {
                idempotency_key: format!("{}/playbook:{}:{}", incident.id, pb.id, n.alias),
                incident: Some(incident.id),
                effect: "notify".into(),
                payload: json!({
                    "incident": incident.id.to_string(),
                    "policy": format!("playbook:{}", pb.id),
                    "reason": format!("playbook {} on declaration", pb.id),
                    "action": { "notify": { "alias": n.alias, "template": n.template } },
                    "to": [format!("alias:{}", n.alias)],
                    "playbook": pb.id,
                }),
            });
        }
    }
    items
}

/// Claims and delivers outbox items; see the module documentation.
#[derive(Clone)]
pub struct Deliverer {
    state: AppState,
    channels: Arc<Channels>,
    owner: String,
    retry: Retry,
    /// The per-provider rate limits' buckets, shared by this deliverer's clones.
    limiter: Arc<Limiter>,
    /// Settles of delivered items, committed in groups.
    settles: Arc<GroupSettle>,
    batch: u32,
    /// Where `incident.url` points.
    base_url: String,
}

impl Deliverer {
    pub fn new(state: AppState, channels: Channels) -> Deliverer {
        let base_url =
            std::env::var("MUSTER_PUBLIC_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
        Deliverer {
            state,
            channels: Arc::new(channels),
            owner: format!("deliver-{}", crate::scheduler::default_owner()),
            retry: Retry::default(),
            limiter: Arc::new(Limiter::new()),
            settles: Arc::new(GroupSettle::default()),
            batch: 64,
            base_url,
        }
    }

    pub fn with_retry(mut self, retry: Retry) -> Deliverer {
        self.retry = retry;
        self
    }

    pub fn with_owner(mut self, owner: impl Into<String>) -> Deliverer {
        self.owner = owner.into();
        self
    }

    pub fn with_base_url(mut self, url: impl Into<String>) -> Deliverer {
        self.base_url = url.into();
        self
    }

    /// Claims every item due by the clock and handles them concurrently; returns how many
    /// were handled. Item errors are logged (the item is claimed again after its lease).
    pub async fn tick(&self) -> Result<usize, StoreError> {
        let mut handled = 0;
        loop {
            let now = self.state.clock.now();
            let claimed = self
                .state
                .store
                .claim_outbox(&self.owner, now, LEASE, self.batch)
                .await?;
            let full = claimed.len() >= self.batch as usize;
            let mut tasks = tokio::task::JoinSet::new();
            for item in claimed {
                tasks.spawn(self.clone().handle_logged(item));
                handled += 1;
            }
            while tasks.join_next().await.is_some() {}
            if !full {
                return Ok(handled);
            }
        }
    }

    /// Delivers until `shutdown`: up to [`IN_FLIGHT`] items at once, claiming more as slots
    /// free up (no batch waits for its slowest message), sleeping until the next item is due
    /// or a commit wakes it. Every item is claimed under a lease and settled fenced by this
    /// owner, so concurrency never sends an item twice.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let wakeups = tokio::select! {
            biased;
            _ = &mut shutdown => return,
            w = self.state.store.wakeups() => w,
        };
        tracing::info!(owner = %self.owner, "deliverer started");
        let mut in_flight = tokio::task::JoinSet::new();
        loop {
            while in_flight.try_join_next().is_some() {}
            let free = IN_FLIGHT - in_flight.len();
            let mut backlog = false;
            let mut failed = false;
            if free >= CLAIM_AT_FREE || in_flight.is_empty() {
                match self.claim(free).await {
                    Ok(items) => {
                        backlog = items.len() == free;
                        for item in items {
                            in_flight.spawn(self.clone().handle_logged(item));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming outbox items failed");
                        failed = true;
                    }
                }
            } else {
                backlog = true;
            }
            // With a backlog, the next claim waits only for free slots.
            // Without one, finished messages are reaped at the next wake-up: new work arrives
            // by commits (wake-ups) or falls due (the sleep), not by a slot freeing up.
            let wait = match (backlog, failed) {
                (true, _) => Duration::ZERO,
                (false, true) => MAX_SLEEP,
                (false, false) => self.wait().await,
            };
            let slot_wait = backlog && !in_flight.is_empty();
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(_) = in_flight.join_next(), if slot_wait => {}
                _ = wakeups.notified(), if !backlog => {}
                _ = tokio::time::sleep(wait), if !slot_wait => {}
            }
        }
        // Messages already handed to a provider finish and settle; the rest of the claims
        // return after their lease.
        while in_flight.join_next().await.is_some() {}
        tracing::info!(owner = %self.owner, "deliverer stopped");
    }

    async fn claim(&self, limit: usize) -> Result<Vec<ClaimedOutbox>, StoreError> {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let now = self.state.clock.now();
        self.state
            .store
            .claim_outbox(&self.owner, now, LEASE, limit)
            .await
    }

    async fn handle_logged(self, item: ClaimedOutbox) {
        if let Err(e) = self.handle(&item).await {
            tracing::warn!(key = %item.idempotency_key, error = %e, "delivery step failed; retried after the lease");
        }
    }

    /// Settles a delivered item (fenced by this owner), committed with the other settles
    /// waiting at the time; whether the claim was still ours.
    async fn delivered(&self, id: i64, now: Timestamp) -> Result<bool, StoreError> {
        self.settles
            .delivered(&self.state.store, &self.owner, id, now)
            .await
    }

    async fn wait(&self) -> Duration {
        let Ok(Some(next)) = self.state.store.next_outbox_due().await else {
            return MAX_SLEEP;
        };
        let ms = next.as_millisecond() - self.state.clock.now().as_millisecond();
        Duration::from_millis(u64::try_from(ms).unwrap_or(0)).clamp(MIN_SLEEP, MAX_SLEEP)
    }

    async fn handle(&self, item: &ClaimedOutbox) -> Result<(), StoreError> {
        if item.effect == DELIVERY {
            return self.deliver(item).await;
        }
        if MESSAGE_EFFECTS.contains(&item.effect.as_str()) {
            return self.fan_out(item).await;
        }
        if crate::slack::channel::EFFECTS.contains(&item.effect.as_str()) {
            let slack = crate::slack::channel::Delivery {
                state: &self.state,
                slack: self.channels.slack.as_ref(),
                owner: &self.owner,
                retry: self.retry,
            };
            return slack.deliver(item).await;
        }
        let now = self.state.clock.now();
        let store = &self.state.store;
        if DONE_EFFECTS.contains(&item.effect.as_str()) {
            // Nothing to send: the change it stands for was made when it was queued.
            self.delivered(item.id, now).await?;
        } else {
            // An effect nobody delivers is a dead letter, visible, rather than dropped.
            let error = format!("no deliverer for effect `{}`", item.effect);
            store
                .outbox_failed(item.id, &self.owner, now, &error, None)
                .await?;
        }
        Ok(())
    }

    // ------------------------------------------------------------ stage 1: fan out

    async fn fan_out(&self, item: &ClaimedOutbox) -> Result<(), StoreError> {
        let cfg = self.state.config();
        let now = self.state.clock.now();
        let overrides = runtime_overrides(&self.state.store).await?;
        let incident = match item.incident {
            Some(id) => self.state.store.incident(id).await?,
            None => None,
        };
        let mut changes = Vec::new();
        let deadlines = match item.incident {
            Some(id) => self.deadlines(&cfg.policies, id, now).await?,
            None => Vec::new(),
        };
        let (subject, text) = self.message(
            &cfg.config,
            item,
            incident.as_ref(),
            &deadlines,
            now,
            &mut changes,
        );
        let targets = targets(&item.payload);
        let plan = Planner {
            config: &cfg.config,
            overrides: &overrides,
            channels: &self.channels,
            now,
            paging: item.effect == "page",
        }
        .plan(&targets);
        let queued_at = item.created_at.as_millisecond();
        let mut outbox = Vec::new();
        // Nudges also go to the incident's Slack channel, and carry buttons to act or snooze.
        let blocks = match item.effect.as_str() {
            "nudge" if cfg.config.slack.is_some() => {
                outbox.extend(crate::slack::channel::nudge_item(&cfg, item, &text));
                crate::slack::channel::nudge_blocks(&cfg, item, &text)
            }
            _ => None,
        };
        let mut to = Vec::new();
        for (who, chain, delay) in plan {
            if chain.is_empty() {
                changes.push(failed(
                    &item.idempotency_key,
                    "none",
                    &who,
                    "no configured channel reaches them",
                    None,
                    None,
                ));
                continue;
            }
            to.push(format!("{who} via {}", channel_name(chain[0].channel)));
            let d = Delivery {
                parent: item.idempotency_key.clone(),
                to: who,
                chain,
                step: 0,
                subject: subject.clone(),
                text: text.clone(),
                queued_at,
                not_before: (delay > SignedDuration::ZERO).then(|| (now + delay).as_millisecond()),
                blocks: blocks.clone(),
            };
            outbox.push(delivery_item(item.incident, &d));
        }
        if to.is_empty() && changes.is_empty() {
            changes.push(failed(
                &item.idempotency_key,
                "none",
                &targets.join(", "),
                "the recipients resolve to nobody",
                None,
                None,
            ));
        }
        changes.insert(
            0,
            Change::NotificationQueued {
                key: item.idempotency_key.clone(),
                to,
            },
        );
        self.commit(item.incident, now, changes, outbox).await?;
        self.delivered(item.id, now).await?;
        Ok(())
    }

    /// Subject and text; a template that fails to render is a timeline error and the
    /// built-in text is sent instead (never a silent loss).
    fn message(
        &self,
        config: &Config,
        item: &ClaimedOutbox,
        incident: Option<&muster_core::Incident>,
        deadlines: &[PolicyTimerView],
        now: Timestamp,
        changes: &mut Vec<Change>,
    ) -> (String, String) {
        let view = incident
            .map(|i| serde_json::to_value(IncidentView::from(i.clone())).unwrap_or(Value::Null))
            .unwrap_or(Value::Null);
        let mut ctx = muster_config::templates::context(&view, now, &self.base_url);
        ctx["policy"] = policy_vars(config, &item.payload);
        let policy = item.payload.get("policy").and_then(Value::as_str);
        if let Some(d) = deadlines.iter().find(|d| Some(d.policy.as_str()) == policy) {
            ctx["policy"]["deadline_in"] = json!(remaining(d.seconds_remaining));
        }
        ctx["deadlines"] = json!(
            deadlines
                .iter()
                .map(|d| json!({
                    "policy": d.policy,
                    "expect": d.expect,
                    "due_at": d.due_at.to_string(),
                    "remaining": remaining(d.seconds_remaining),
                }))
                .collect::<Vec<_>>()
        );
        if let Some(pb) = item.payload.get("playbook").and_then(Value::as_str)
            && let Some(pb) = config.playbooks.get(pb)
        {
            ctx["links"] = json!(
                pb.links
                    .iter()
                    .map(|l| json!({"title": l.title, "url": l.url}))
                    .collect::<Vec<_>>()
            );
        }
        let inc = &ctx["incident"];
        let subject = format!(
            "[{}] {} {}",
            inc["id"].as_str().unwrap_or("muster"),
            inc["severity"].as_str().unwrap_or(""),
            inc["title"].as_str().unwrap_or(&item.effect)
        );
        let fallback = default_text(&item.effect, &ctx, &item.payload);
        let Some(template) = template_of(&item.payload) else {
            return (subject, fallback);
        };
        match muster_config::templates::render(&config.templates, &template, &ctx) {
            Ok(text) => (subject, text),
            Err(e) => {
                changes.push(failed(
                    &item.idempotency_key,
                    "template",
                    &template,
                    &e,
                    None,
                    Some("built-in text"),
                ));
                (subject, fallback)
            }
        }
    }

    /// The incident's open deadlines (not warnings or cadences), earliest first.
    async fn deadlines(
        &self,
        policies: &[muster_core::engine::Policy],
        id: IncidentNumber,
        now: Timestamp,
    ) -> Result<Vec<PolicyTimerView>, StoreError> {
        let stored = self.state.store.policy_state(id).await?;
        // Unreadable state: no deadlines in the message; the timeline carries the error.
        let st = crate::policy::PolicyState::decode(&stored).unwrap_or_default();
        let mut list: Vec<PolicyTimerView> = st
            .engine
            .pending_timers()
            .map(|t| timer_view(policies, t.key, t.due_at, now))
            .filter(|v| v.kind == "deadline")
            .collect();
        list.sort_by_key(|v| v.due_at);
        Ok(list)
    }

    /// Writes `changes` on the incident's timeline and queues `outbox`, in one transaction.
    async fn commit(
        &self,
        incident: Option<IncidentNumber>,
        now: Timestamp,
        changes: Vec<Change>,
        outbox: Vec<OutboxItem>,
    ) -> Result<(), StoreError> {
        let effects = Effects {
            timers: Vec::new(),
            outbox,
        };
        match incident {
            Some(id) => {
                self.state
                    .store
                    .update_with_effects(id, ACTOR, now, move |_| Ok((changes, effects)))
                    .await?;
            }
            // Without an incident there is no timeline to write to.
            None if effects.outbox.is_empty() => {}
            None => self.state.store.apply_effects(now, &effects).await?,
        }
        Ok(())
    }

    // ------------------------------------------------------------ stage 2: deliver one

    async fn deliver(&self, item: &ClaimedOutbox) -> Result<(), StoreError> {
        let now = self.state.clock.now();
        let store = &self.state.store;
        let d: Delivery = match serde_json::from_value(item.payload.clone()) {
            Ok(d) => d,
            Err(e) => {
                store
                    .outbox_failed(
                        item.id,
                        &self.owner,
                        now,
                        &format!("unreadable delivery: {e}"),
                        None,
                    )
                    .await?;
                return Ok(());
            }
        };
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
        let limits = buckets(
            &self.state.config().config.notifications.rate_limits,
            hop.channel,
            &hop.address,
        );
        if let Some(slot) = self
            .limiter
            .admit(&item.idempotency_key, &limits, now.as_millisecond())
        {
            // Over a rate limit: not an attempt, not a failure; sent at its reserved slot.
            metrics::counter!("muster_notifications_deferred_total", "channel" => channel_name(hop.channel))
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

    async fn acknowledged(&self, id: Option<IncidentNumber>) -> Result<bool, StoreError> {
        let Some(id) = id else { return Ok(false) };
        Ok(self
            .state
            .store
            .incident(id)
            .await?
            .is_some_and(|i| i.milestones.iter().any(|m| m.milestone == "acknowledged")))
    }

    async fn send(&self, hop: &Hop, d: &Delivery, key: &str) -> Outcome {
        let c = &self.channels;
        let missing =
            || Outcome::Permanent(format!("{} is not configured", channel_name(hop.channel)));
        match hop.channel {
            Channel::Slack => match &c.slack {
                Some(s) => match &d.blocks {
                    Some(blocks) => match s.post_blocks(&hop.address, &d.text, blocks).await {
                        Ok(ts) => Outcome::Sent { id: Some(ts) },
                        Err(o) => o,
                    },
                    None => s.post_message(&hop.address, &d.text).await,
                },
                None => missing(),
            },
            Channel::Email => match &c.email {
                Some(e) => e.send(&hop.address, &d.subject, &d.text, key).await,
                None => missing(),
            },
            Channel::Sms | Channel::Phone => match &c.sms {
                Some(s) => s.send(&hop.address, &d.text).await,
                None => missing(),
            },
            Channel::Webhook => match &c.webhook {
                Some(w) => {
                    let body =
                        json!({"key": key, "to": d.to, "subject": d.subject, "text": d.text});
                    let ts = self.state.clock.now().as_second();
                    w.send(&hop.address, key, body.to_string().as_bytes(), ts)
                        .await
                }
                None => missing(),
            },
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
        let channel = channel_name(hop.channel);
        let key = &item.idempotency_key;
        let (error, wait) = match outcome {
            Outcome::Sent { .. } => {
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
            Outcome::RetryAfter(w) => (
                format!("rate limited; retry after {} s", w.as_secs()),
                Some(w),
            ),
            Outcome::Transient(e) => (e, Some(Duration::ZERO)),
            Outcome::Permanent(e) => (e, None),
        };
        metrics::counter!("muster_notifications_failed_total", "channel" => channel).increment(1);
        if let Some(floor) = wait
            && item.attempts < self.retry.attempts
        {
            let delay = self.retry.delay(item.attempts).max(floor);
            let at = now + SignedDuration::try_from(delay).unwrap_or(SignedDuration::ZERO);
            store
                .outbox_failed(item.id, &self.owner, now, &error, Some(at))
                .await?;
            let ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
            let change = failed(key, channel, &d.to, &error, Some(ms), None);
            return self
                .commit(item.incident, now, vec![change], Vec::new())
                .await;
        }
        self.fall_back(item, d, channel, &error, now).await
    }

    /// Queues the next channel of the chain (or dead-letters the item when none is left).
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
        let Some(hop) = next.hop() else {
            store
                .outbox_failed(item.id, &self.owner, now, error, None)
                .await?;
            let change = failed(key, channel, &d.to, error, None, None);
            return self
                .commit(item.incident, now, vec![change], Vec::new())
                .await;
        };
        let fallback = channel_name(hop.channel).to_string();
        let change = failed(key, channel, &d.to, error, None, Some(&fallback));
        self.commit(
            item.incident,
            now,
            vec![change],
            vec![delivery_item(item.incident, &next)],
        )
        .await?;
        // Handed over to the fallback item: this one is settled (its failure is on the timeline).
        self.delivered(item.id, now).await?;
        Ok(())
    }
}

/// An item waiting for its settle, and where to say whether it was still ours.
type QueuedSettle = (i64, tokio::sync::oneshot::Sender<Result<bool, String>>);

/// Group commit of settles: whoever finds no flush running writes every settle queued so far
/// in one transaction; those queued meanwhile go in the next. One transaction per message
/// was the bound on throughput (SQLite has a single writer).
#[derive(Default)]
struct GroupSettle {
    queued: std::sync::Mutex<Vec<QueuedSettle>>,
    flushing: tokio::sync::Mutex<()>,
}

impl GroupSettle {
    async fn delivered(
        &self,
        store: &muster_store::Store,
        owner: &str,
        id: i64,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.lock().push((id, tx));
        {
            let _flush = self.flushing.lock().await;
            let batch = std::mem::take(&mut *self.lock());
            if !batch.is_empty() {
                let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
                let result = store.outbox_delivered_many(&ids, owner, now).await;
                for (id, tx) in batch {
                    let _ = tx.send(match &result {
                        Ok(settled) => Ok(settled.contains(&id)),
                        Err(e) => Err(e.to_string()),
                    });
                }
            }
        }
        match rx.await {
            Ok(Ok(settled)) => Ok(settled),
            Ok(Err(e)) => Err(StoreError::Internal(e)),
            Err(_) => Err(StoreError::Internal("settle dropped".into())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<QueuedSettle>> {
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `5 min`, or `overdue` once the deadline passed.
fn remaining(seconds: i64) -> String {
    if seconds < 0 {
        return "overdue".into();
    }
    muster_config::templates::minutes(SignedDuration::from_secs(seconds))
}

fn failed(
    key: &str,
    channel: &str,
    to: &str,
    error: &str,
    retry_in_ms: Option<i64>,
    fallback: Option<&str>,
) -> Change {
    Change::NotificationFailed {
        key: key.into(),
        channel: channel.into(),
        to: to.into(),
        error: error.into(),
        retry_in_ms,
        fallback: fallback.map(String::from),
    }
}

/// The outbox item that delivers `d`.
pub fn delivery_item(incident: Option<IncidentNumber>, d: &Delivery) -> OutboxItem {
    OutboxItem {
        idempotency_key: d.key(),
        incident,
        effect: DELIVERY.into(),
        payload: serde_json::to_value(d).unwrap_or(Value::Null),
    }
}

/// The `to` list of a decision item.
fn targets(payload: &Value) -> Vec<String> {
    payload
        .get("to")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The template a decision names (`notify` always, `nudge` optionally).
fn template_of(payload: &Value) -> Option<String> {
    let action = payload.get("action")?;
    ["notify", "nudge"]
        .iter()
        .find_map(|k| action.get(k)?.get("template")?.as_str())
        .map(String::from)
}

fn policy_vars(config: &Config, payload: &Value) -> Value {
    let id = payload.get("policy").and_then(Value::as_str).unwrap_or("");
    let description = config
        .policies
        .get(id)
        .and_then(|p| p.description.clone())
        .unwrap_or_else(|| id.to_string());
    json!({
        "id": id,
        "description": description,
        "reason": payload.get("reason").cloned().unwrap_or(Value::Null),
        "deadline_in": "",
    })
}

/// The text when no template is named (or it failed): what, which incident, why, where.
fn default_text(effect: &str, ctx: &Value, payload: &Value) -> String {
    let inc = &ctx["incident"];
    let what = match effect {
        "page" => "You are paged",
        "nudge" => "Reminder",
        _ => "For your information",
    };
    format!(
        "{what}: {} {} ({}).\nWhy: {}\n{}",
        inc["severity"].as_str().unwrap_or(""),
        inc["title"].as_str().unwrap_or(""),
        inc["id"].as_str().unwrap_or(""),
        payload
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("policy"),
        inc["url"].as_str().unwrap_or("")
    )
}

/// Resolves targets into (who, channel chain, delay) deliveries.
struct Planner<'a> {
    config: &'a Config,
    overrides: &'a RuntimeOverrides,
    channels: &'a Channels,
    now: Timestamp,
    /// Pages follow every step of the people's notification rules; other messages use the
    /// immediate steps only.
    paging: bool,
}

type Planned = (String, Vec<Hop>, SignedDuration);

impl Planner<'_> {
    fn plan(&self, targets: &[String]) -> Vec<Planned> {
        let mut people: Vec<String> = Vec::new();
        let mut out: Vec<Planned> = Vec::new();
        for t in targets {
            if let Some(alias) = t.strip_prefix("alias:") {
                self.alias(alias, &mut people, &mut out);
            } else if self.config.people.contains_key(t) {
                people.push(t.clone());
            } else if t.starts_with('#') {
                self.direct(t, Channel::Slack, &mut out);
            } else if !t.starts_with("escalation:") {
                out.push((t.clone(), Vec::new(), SignedDuration::ZERO));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in people {
            if seen.insert(p.clone())
                && let Some(person) = self.config.people.get(&p)
            {
                out.extend(self.person(person));
            }
        }
        dedup(out)
    }

    fn alias(&self, id: &str, people: &mut Vec<String>, out: &mut Vec<Planned>) {
        let Some(a) = self.config.aliases.get(id) else {
            out.push((format!("alias:{id}"), Vec::new(), SignedDuration::ZERO));
            return;
        };
        people.extend(a.people.iter().cloned());
        for team in &a.teams {
            if let Some(t) = self.config.teams.get(team) {
                people.extend(t.members.iter().cloned());
            }
        }
        for s in &a.schedules {
            people.extend(self.on_call(s));
        }
        for c in &a.slack_channels {
            self.direct(c, Channel::Slack, out);
        }
        for e in &a.emails {
            self.direct(e, Channel::Email, out);
        }
    }

    fn direct(&self, address: &str, channel: Channel, out: &mut Vec<Planned>) {
        let chain = if self.channels.has(channel) {
            vec![Hop {
                channel,
                address: address.into(),
            }]
        } else {
            Vec::new()
        };
        out.push((address.to_string(), chain, SignedDuration::ZERO));
    }

    fn on_call(&self, schedule: &str) -> Vec<String> {
        let Some(mut resolved) = self.config.core_schedule(schedule) else {
            return Vec::new();
        };
        if let Some(extra) = self.overrides.get(schedule) {
            resolved.overrides.extend(extra.iter().cloned());
        }
        muster_core::schedule::on_call(&resolved, self.now)
    }

    /// One delivery per notification-rule step (only the immediate ones unless paging), each
    /// with the person's other channels as its fallback.
    fn person(&self, p: &Person) -> Vec<Planned> {
        let mut rules: Vec<(Channel, SignedDuration)> = p
            .notification_rules
            .iter()
            .map(|r| (r.channel, r.after.to_signed()))
            .filter(|(_, after)| self.paging || after.is_zero())
            .collect();
        if rules.is_empty() {
            rules.push((Channel::Slack, SignedDuration::ZERO));
        }
        let who = format!("person:{}", p.id);
        rules
            .iter()
            .map(|&(first, after)| {
                // Channels another step already uses at the same time are no fallback.
                let busy: Vec<Channel> = rules
                    .iter()
                    .filter(|(c, a)| *a == after && *c != first)
                    .map(|(c, _)| sms_for_phone(*c))
                    .collect();
                (who.clone(), self.chain(p, first, &busy), after)
            })
            .collect()
    }

    /// `first`, then the person's other channels in the order slack, email, sms, webhook,
    /// keeping those the person has an address for and Muster a provider for.
    fn chain(&self, p: &Person, first: Channel, busy: &[Channel]) -> Vec<Hop> {
        let order = [
            first,
            Channel::Slack,
            Channel::Email,
            Channel::Sms,
            Channel::Webhook,
        ];
        let mut chain: Vec<Hop> = Vec::new();
        for (i, c) in order.into_iter().enumerate() {
            let c = sms_for_phone(c);
            if i > 0 && busy.contains(&c) {
                continue;
            }
            let address = match c {
                Channel::Slack => p.contact.slack_user.clone(),
                Channel::Email => p.contact.email.clone(),
                Channel::Sms | Channel::Phone => p.contact.phone.clone(),
                Channel::Webhook => p.contact.webhook.clone(),
            };
            if let Some(address) = address
                && self.channels.has(c)
                && !chain.iter().any(|h| h.channel == c)
            {
                chain.push(Hop {
                    channel: c,
                    address,
                });
            }
        }
        chain
    }
}

/// Muster has no voice provider: a `phone` step sends an SMS.
fn sms_for_phone(c: Channel) -> Channel {
    if c == Channel::Phone { Channel::Sms } else { c }
}

/// Drops repeated (who, first channel, delay) deliveries: one person in two aliases, or
/// two rules naming the same channel at the same time, gets one message.
fn dedup(list: Vec<Planned>) -> Vec<Planned> {
    let mut seen = std::collections::BTreeSet::new();
    list.into_iter()
        .filter(|(who, chain, delay)| {
            let first = chain
                .first()
                .map(|h| channel_name(h.channel))
                .unwrap_or("none");
            seen.insert((who.clone(), first, delay.as_millis()))
        })
        .collect()
}
