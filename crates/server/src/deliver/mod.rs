//! The deliverer: turns outbox items into messages on Slack, email, SMS, webhooks and the
//! built-in inbox. Items are typed ([`Effect`]) and matched exhaustively; one that cannot be
//! decoded is a dead letter with its reason.
//!
//! Split by concern: [`plan`] (pure: recipients → channel chains, the inbox last),
//! [`message`] (pure: template rendering), [`send`] (one delivery: providers, the inbox, and
//! the settle — retry, fallback, dead letter — through [`Retry::settle`], which the Slack
//! calls of `slack::channel` share).
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
//!    `fallback`). Every chain ends in the recipient's inbox, which always takes the message
//!    (`notification_sent` via `inbox`); with `notifications.inbox: all` every notification
//!    is also copied there.
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

pub mod message;
pub mod plan;
pub mod retry;
mod send;

use jiff::{SignedDuration, Timestamp};
use muster_config::{Channel, InboxMode};
use muster_core::{Change, IncidentNumber};
use muster_notify::{Email, Push, Slack, Sms, Voice, Webhook};
use muster_store::{ClaimedOutbox, Effects, OutboxItem, StoreError};

use crate::AppState;
pub use crate::effect::{Delivery, Hop, PageLink, Via};
use crate::effect::{Effect, Message};
use crate::oncall;
use crate::rate_limit::Limiter;
use crate::views::clock::{ClockView, PolicyTimerView, clock_view};
use plan::Planner;
pub use retry::{Retry, Settled};

/// The actor of the deliverer's timeline events.
pub const ACTOR: &str = "notifier";
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
    pub voice: Option<Voice>,
    pub push: Option<Push>,
}

impl Channels {
    /// From the environment (`MUSTER_SLACK_*`, `MUSTER_SMTP_*`, `MUSTER_SMS_*`,
    /// `MUSTER_WEBHOOK_SECRET`, `MUSTER_VOICE_*`, `MUSTER_NTFY_*`).
    pub fn from_env() -> Result<Channels, String> {
        let http = muster_notify::http_client()?;
        Ok(Channels {
            slack: Slack::from_env(http.clone()),
            email: Email::from_env().transpose()?,
            sms: Sms::from_env(http.clone()),
            voice: Voice::from_env(http.clone()),
            push: Push::from_env(http.clone()),
            webhook: Some(Webhook::from_env(http)),
        })
    }

    fn has(&self, channel: Channel) -> bool {
        match channel {
            Channel::Slack => self.slack.is_some(),
            Channel::Email => self.email.is_some(),
            Channel::Sms => self.sms.is_some(),
            // A `phone` step needs a call or, without a voice provider, an SMS.
            Channel::Phone => self.voice.is_some() || self.sms.is_some(),
            Channel::Voice => self.voice.is_some(),
            Channel::Push => self.push.is_some(),
            Channel::Webhook => self.webhook.is_some(),
        }
    }
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

    /// Decodes the item and hands it to the stage that handles its effect. An item that
    /// cannot be decoded is a dead letter with the reason, never dropped.
    async fn handle(&self, item: &ClaimedOutbox) -> Result<(), StoreError> {
        let effect = match Effect::decode(item) {
            Ok(effect) => effect,
            Err(reason) => {
                let now = self.state.clock.now();
                tracing::error!(key = %item.idempotency_key, %reason, "outbox item dead-lettered");
                self.state
                    .store
                    .outbox_failed(item.id, &self.owner, now, &reason, None)
                    .await?;
                return Ok(());
            }
        };
        match effect {
            Effect::Delivery(d) => self.deliver(item, d).await,
            Effect::Page(m) => self.fan_out(item, "page", m).await,
            Effect::Notify(m) => self.fan_out(item, "notify", m).await,
            Effect::Nudge(m) => self.fan_out(item, "nudge", m).await,
            // Nothing to send: the change it stands for was made when it was queued.
            Effect::AssignRole(_) | Effect::CreateTask(_) | Effect::DraftStatusUpdate(_) => {
                self.delivered(item.id, self.state.clock.now()).await?;
                Ok(())
            }
            Effect::SlackChannel(_)
            | Effect::SlackHeader(_)
            | Effect::SlackPost(_)
            | Effect::SlackResponse(_)
            | Effect::SlackInvite(_)
            | Effect::SlackView(_)
            | Effect::SlackCapture(_) => {
                let slack = crate::slack::channel::Delivery {
                    state: &self.state,
                    slack: self.channels.slack.as_ref(),
                    owner: &self.owner,
                    retry: self.retry,
                };
                slack.deliver(item, effect).await
            }
        }
    }

    // ------------------------------------------------------------ stage 1: fan out

    /// Resolves a decision into one delivery per recipient, rendered once, in one
    /// transaction with its `notification_queued` record.
    async fn fan_out(
        &self,
        item: &ClaimedOutbox,
        kind: &str,
        m: Message,
    ) -> Result<(), StoreError> {
        let cfg = self.state.config();
        let now = self.state.clock.now();
        let overrides = oncall::runtime_overrides(&self.state.store).await?;
        let (incident, clock) = match item.incident {
            Some(id) => {
                let incident = self.state.store.incident(id).await?;
                (incident, Some(clock_view(&self.state, id).await?))
            }
            None => (None, None),
        };
        let deadlines: Vec<&PolicyTimerView> =
            clock.iter().flat_map(ClockView::deadlines).collect();
        let (subject, text, template_error) = message::Draft {
            config: &cfg.config,
            kind,
            message: &m,
            key: &item.idempotency_key,
            incident: incident.as_ref(),
            deadlines: &deadlines,
            now,
            base_url: &self.base_url,
        }
        .render();
        let mut changes: Vec<Change> = template_error.into_iter().collect();
        let channels = &self.channels;
        let has = |c: Channel| channels.has(c);
        let mut plan = if m.exercise {
            // A drill's message reaches the inbox of whoever it names, and no provider.
            Planner::inbox_only(&m.to)
        } else {
            Planner {
                config: &cfg.config,
                overrides: &overrides,
                has: &has,
                now,
                paging: kind == "page",
            }
            .plan(&m.to)
        };
        let copies = match cfg.config.notifications.inbox {
            InboxMode::All if !m.exercise => Planner::copies(&plan),
            _ => Vec::new(),
        };
        let first_copy = plan.len();
        plan.extend(copies);
        let queued_at = item.created_at.as_millisecond();
        let mut outbox = Vec::new();
        // Nudges also go to the incident's Slack channel, and carry buttons to act or snooze.
        let blocks = match (kind, item.incident) {
            ("nudge", Some(id)) if cfg.config.slack.is_some() && !m.exercise => {
                let key = &item.idempotency_key;
                outbox.extend(crate::slack::channel::nudge_item(&cfg, id, key, &m, &text));
                crate::slack::channel::nudge_blocks(&cfg, id, key, &m, &text)
            }
            // A notification's Slack message carries its Acknowledge button.
            ("notify" | "page", Some(id)) if cfg.config.slack.is_some() && !m.exercise => {
                let page = (kind == "page").then_some(item.created_at);
                crate::slack::channel::ack_blocks(id, &item.idempotency_key, &m, &text, page)
            }
            _ => None,
        };
        let mut to = Vec::new();
        let links = LinkCx {
            incident: item
                .incident
                .filter(|_| kind == "page" || (kind == "notify" && m.acknowledgeable()))
                .filter(|_| !m.exercise),
            kind,
            expiry: cfg.config.notifications.link_expiry.to_signed(),
            key: &item.idempotency_key,
            text: &text,
            now,
        };
        for (n, (who, chain, delay)) in plan.into_iter().enumerate() {
            let (text, link) = self.with_ack_link(&links, &who, &chain).await?;
            let copy = n >= first_copy;
            if !copy {
                let via = chain.first().map_or("none", |h| h.channel.name());
                to.push(format!("{who} via {via}"));
            }
            let d = Delivery {
                parent: item.idempotency_key.clone(),
                to: who,
                chain,
                step: 0,
                subject: subject.clone(),
                text,
                queued_at,
                not_before: (delay > SignedDuration::ZERO).then(|| (now + delay).as_millisecond()),
                blocks: blocks.clone(),
                copy,
                last_error: None,
                link,
            };
            outbox.push(d.item(item.incident));
        }
        if to.is_empty() {
            changes.push(Change::NotificationFailed {
                key: item.idempotency_key.clone(),
                channel: "none".into(),
                to: m.to.join(", "),
                error: "the recipients resolve to nobody".into(),
                retry_in_ms: None,
                fallback: None,
            });
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

    /// `links.text`, and for a person reached by a channel a link can answer from (email,
    /// SMS, push, a call) about a page or an acknowledgeable notification, a link of their
    /// own: single-use, expiring, with an SMS reply code when the chain has SMS.
    async fn with_ack_link(
        &self,
        links: &LinkCx<'_>,
        who: &str,
        chain: &[Hop],
    ) -> Result<(String, Option<PageLink>), StoreError> {
        let first = chain.iter().map(|h| h.channel).find(|c| {
            matches!(
                c,
                Via::Email | Via::Sms | Via::Phone | Via::Push | Via::Voice
            )
        });
        let (Some(id), Some(person), Some(first)) =
            (links.incident, who.strip_prefix("person:"), first)
        else {
            return Ok((links.text.to_string(), None));
        };
        let notification = links
            .key
            .strip_prefix(&format!("{id}/"))
            .unwrap_or(links.key);
        let link = muster_store::NewAckLink {
            incident: id,
            notification,
            person,
            channel: first.name(),
            kind: if links.kind == "page" {
                "page"
            } else {
                "notify"
            },
            expires_at: links.now + links.expiry,
            code: chain
                .iter()
                .any(|h| matches!(h.channel, Via::Sms | Via::Phone)),
        };
        let made = self.state.store.create_ack_link(&link, links.now).await?;
        let base = self.base_url.trim_end_matches('/');
        let text = format!("{}\n\nAcknowledge: {base}/ack/{}", links.text, made.token);
        let link = PageLink {
            token: made.token,
            code: made.code,
        };
        Ok((text, Some(link)))
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
            ..Default::default()
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

/// What a delivery's acknowledgement link is made from.
struct LinkCx<'a> {
    /// The incident of a page or an acknowledgeable notification (`None`: no links).
    incident: Option<IncidentNumber>,
    /// `page` or `notify`.
    kind: &'a str,
    /// How long a link answers (`notifications.link_expiry`).
    expiry: SignedDuration,
    key: &'a str,
    text: &'a str,
    now: Timestamp,
}
