//! Wake-ups: how a scheduler learns that timers or outbox items may have become due without
//! polling on a fixed tick.
//!
//! Every commit that sets a timer or queues an outbox item bumps an in-process counter and
//! wakes the waiters of this store. On PostgreSQL statement triggers on `timers` and `outbox`
//! inserts run `pg_notify('muster_wakeup', '')` (delivered on commit, to every process; see
//! migration 0011), and a listener
//! task started by the first [`Store::wakeups`](crate::Store::wakeups) call forwards those
//! notifications to the same counter. A lost notification (listener reconnecting) only
//! delays work until the caller's capped sleep ends; the listener also wakes everyone after
//! each reconnection, in case it missed something.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::{Notify, watch};

use crate::{Backend, Store};

/// The PostgreSQL channel the store's triggers notify on.
pub(crate) const CHANNEL: &str = "muster_wakeup";
/// How long `wakeups()` waits for the PostgreSQL listener to be subscribed.
const LISTEN_READY_TIMEOUT: Duration = Duration::from_secs(5);
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// Shared by every clone of one [`Store`](crate::Store).
#[derive(Debug)]
pub(crate) struct WakeShared {
    notify: Notify,
    epoch: AtomicU64,
    /// `Some` once the PostgreSQL listener task is started: whether it is subscribed.
    listening: Mutex<Option<watch::Receiver<bool>>>,
    /// Dropped with the store: the listener task stops then.
    stop: watch::Sender<()>,
}

impl WakeShared {
    pub(crate) fn new() -> Arc<WakeShared> {
        Arc::new(WakeShared {
            notify: Notify::new(),
            epoch: AtomicU64::new(0),
            listening: Mutex::new(None),
            stop: watch::Sender::new(()),
        })
    }

    /// Changes never; ends (an error) when the store's last clone is dropped.
    pub(crate) fn stopped(&self) -> watch::Receiver<()> {
        self.stop.subscribe()
    }

    /// Wakes every [`Wakeups`] of this store (now, or at its next `notified` call).
    pub(crate) fn wake(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    fn subscribe(self: &Arc<Self>) -> Wakeups {
        Wakeups {
            seen: AtomicU64::new(self.epoch.load(Ordering::SeqCst)),
            shared: self.clone(),
        }
    }

    /// Subscribes, starting the PostgreSQL listener first if `pool` is given, and waits (a
    /// bounded time) until it listens, so a commit made after this returns is seen.
    pub(crate) async fn wakeups(self: &Arc<Self>, pool: Option<&PgPool>) -> Wakeups {
        let Some(pool) = pool else {
            return self.subscribe();
        };
        let mut ready = {
            let mut listening = self.listening.lock().unwrap_or_else(|e| e.into_inner());
            match &*listening {
                Some(ready) => ready.clone(),
                None => {
                    let (ready_tx, ready_rx) = watch::channel(false);
                    tokio::spawn(listen(
                        pool.clone(),
                        Arc::downgrade(self),
                        self.stop.subscribe(),
                        ready_tx,
                    ));
                    *listening = Some(ready_rx.clone());
                    ready_rx
                }
            }
        };
        let subscribed =
            tokio::time::timeout(LISTEN_READY_TIMEOUT, ready.wait_for(|ready| *ready)).await;
        if !matches!(subscribed, Ok(Ok(_))) {
            tracing::warn!(
                "the PostgreSQL wake-up listener is not subscribed yet; timers may wait for \
                 the scheduler's capped sleep"
            );
        }
        self.subscribe()
    }
}

/// Tells a waiter that timers or outbox items may have become due. Each `Wakeups` sees every
/// wake-up that happens after it was made, once, even when it was not waiting at the time.
#[derive(Debug)]
pub struct Wakeups {
    shared: Arc<WakeShared>,
    seen: AtomicU64,
}

impl Wakeups {
    /// Returns when something was written that may be due, since this `Wakeups` was made or
    /// `notified` last returned. Spurious returns are possible; callers re-check.
    pub async fn notified(&self) {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            // Registered before reading the counter: a wake-up in between is not lost.
            notified.as_mut().enable();
            let epoch = self.shared.epoch.load(Ordering::SeqCst);
            if self.seen.swap(epoch, Ordering::SeqCst) != epoch {
                return;
            }
            notified.await;
        }
    }
}

/// The PostgreSQL listener: forwards `muster_wakeup` notifications until the store is closed
/// or dropped, reconnecting with a capped back-off.
async fn listen(
    pool: PgPool,
    shared: Weak<WakeShared>,
    mut stop: watch::Receiver<()>,
    ready: watch::Sender<bool>,
) {
    let mut delay = RECONNECT_MIN;
    loop {
        if pool.is_closed() {
            return;
        }
        let subscribed = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let outcome = tokio::select! {
            outcome = subscribed => outcome,
            _ = stop.changed() => return,
        };
        match outcome {
            Ok(mut listener) => {
                delay = RECONNECT_MIN;
                // Something may have been committed while we were not listening. Before
                // `ready`, so that a first subscriber does not take this for a commit.
                match shared.upgrade() {
                    Some(shared) => shared.wake(),
                    None => return,
                }
                ready.send_replace(true);
                loop {
                    let received = tokio::select! {
                        received = listener.try_recv() => received,
                        _ = stop.changed() => return,
                    };
                    match received {
                        // `None`: the connection was lost and has been re-established
                        // (notifications in between are lost): wake in case.
                        Ok(_) => match shared.upgrade() {
                            Some(shared) => shared.wake(),
                            None => return,
                        },
                        Err(sqlx::Error::PoolClosed) => return,
                        Err(e) => {
                            tracing::debug!(error = %e, "wake-up listener lost its connection");
                            break;
                        }
                    }
                }
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::debug!(error = %e, "wake-up listener cannot subscribe; retrying");
            }
        }
        ready.send_replace(false);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
        delay = (delay * 2).min(RECONNECT_MAX);
    }
}

impl Store {
    /// Wake-ups for a scheduler: see [`Wakeups`]. On PostgreSQL the first call starts the
    /// listener (one pooled connection, held until the store is closed) and waits, at most
    /// 5 s, until it is subscribed.
    pub async fn wakeups(&self) -> Wakeups {
        match &self.backend {
            Backend::Sqlite { .. } => self.wake.wakeups(None).await,
            Backend::Postgres(pool) => self.wake.wakeups(Some(pool)).await,
        }
    }
}
