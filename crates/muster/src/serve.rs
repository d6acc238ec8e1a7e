//! `muster serve`: the HTTP server, the timer scheduler and the deliverer, with one shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use muster_core::Clock;
use muster_server::deliver::{Channels, Deliverer};
use muster_server::scheduler::Scheduler;
use muster_server::timers::Timers;
use muster_server::{AppState, SystemClock};
use muster_store::{Store, StoreError};
use tokio::net::TcpListener;

use crate::DEFAULT_DB;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Configuration directory.
    #[arg(long, env = "MUSTER_CONFIG", default_value = "config")]
    pub config: PathBuf,
    /// Database URL: sqlite://PATH or postgres://…
    #[arg(long, env = "MUSTER_DB", default_value = DEFAULT_DB)]
    pub db: String,
    /// Address to listen on.
    #[arg(long, env = "MUSTER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MUSTER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Connects, waiting for a database that is still starting rather than giving up at once.
async fn connect_patiently(url: &str) -> anyhow::Result<Store> {
    let mut delay = Duration::from_millis(500);
    loop {
        match Store::connect(url).await {
            Ok(store) => return Ok(store),
            Err(StoreError::Unavailable(e)) => {
                tracing::warn!(error = %e, retry_in = ?delay, "database unavailable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e).context("cannot open the database"),
        }
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logs();
    let config = match muster_config::load(&args.config) {
        Ok(c) => c,
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            bail!(
                "configuration {} is invalid ({} errors); not starting",
                args.config.display(),
                diags.len()
            );
        }
    };
    let store = connect_patiently(&args.db).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut state = AppState::new(
        store.clone(),
        clock.clone(),
        config,
        Some(args.config.clone()),
    );
    if let Some(cfg) = muster_server::language_model::LanguageModelConfig::from_env() {
        let url = muster_core::secret::redact_url(&cfg.url);
        tracing::info!(%url, model = %cfg.model, "briefings may be rewritten by a language model");
        let model = muster_server::language_model::LanguageModel::new(cfg, clock)?;
        state = state.with_language_model(model);
    }
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        db = store.backend(),
        config = %args.config.display(),
        "muster serving"
    );
    if state.config().config.slack.is_some() && !state.slack.verifies() {
        tracing::warn!(
            "the configuration has a slack section but MUSTER_SLACK_SIGNING_SECRET is not set: requests from Slack are refused"
        );
    }
    spawn_reload_on_sighup(state.clone());
    // One shutdown for both: the HTTP server and the timer scheduler stop together.
    let stop = Arc::new(tokio::sync::watch::channel(false).0);
    let scheduler = spawn_scheduler(&state, &stop);
    let deliverer = spawn_deliverer(&state, &stop)?;
    let pruner = spawn_pruner(&state, &stop);
    let on_signal = stop.clone();
    // The web UI's live streams end with the server (graceful shutdown waits for them), and
    // commits of other nodes reach them through the store's wake-ups.
    let relay = muster_web::spawn_wake_relay(&state, stop.subscribe());
    let pages = muster_web::router_until(stop.subscribe());
    release_start_up_pages();
    let served = muster_server::serve_with(listener, state, pages, async move {
        shutdown_signal().await;
        on_signal.send_replace(true);
    })
    .await;
    stop.send_replace(true);
    // An unfinished firing rolls back and is claimed again after its lease: safe to cut.
    if tokio::time::timeout(Duration::from_secs(10), scheduler)
        .await
        .is_err()
    {
        tracing::warn!("timer scheduler did not stop within 10 s");
    }
    // An unfinished delivery is claimed again after its lease (at least once).
    if tokio::time::timeout(Duration::from_secs(10), deliverer)
        .await
        .is_err()
    {
        tracing::warn!("deliverer did not stop within 10 s");
    }
    // A batch cut short rolls back; the next run prunes it.
    pruner.abort();
    relay.abort();
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Hands start-up's code back to the kernel once start-up is over: the router built, the
/// listener answering, and the first passes of the scheduler, the deliverer and retention
/// run (each maps in code of its own the first time). What runs again is paged back in.
fn release_start_up_pages() {
    tokio::spawn(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        match tokio::task::spawn_blocking(crate::start_up_pages::release).await {
            Ok(Ok(bytes)) => tracing::debug!(mib = bytes >> 20, "start-up pages released"),
            Ok(Err(e)) => tracing::debug!(error = %e, "start-up pages kept"),
            Err(e) => tracing::debug!(error = %e, "start-up pages kept"),
        }
    });
}

/// Runs the timer scheduler next to the HTTP server, on the same store, clock and
/// configuration (read at each firing, so a reload applies to both).
fn spawn_scheduler(
    state: &AppState,
    stop: &Arc<tokio::sync::watch::Sender<bool>>,
) -> tokio::task::JoinHandle<()> {
    let scheduler = Scheduler::new(state.store.clone(), state.clock.clone());
    let handler = Arc::new(Timers::new(state.clone()));
    let mut stopped = stop.subscribe();
    tokio::spawn(scheduler.run(handler, async move {
        let _ = stopped.wait_for(|s| *s).await;
    }))
}

/// Runs the notification deliverer with the providers configured in the environment.
fn spawn_deliverer(
    state: &AppState,
    stop: &Arc<tokio::sync::watch::Sender<bool>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let channels = Channels::from_env().map_err(anyhow::Error::msg)?;
    let deliverer = Deliverer::new(state.clone(), channels);
    let mut stopped = stop.subscribe();
    Ok(tokio::spawn(deliverer.run(async move {
        let _ = stopped.wait_for(|s| *s).await;
    })))
}

/// Runs retention (`limits.retention`) next to the scheduler, on the same clock.
fn spawn_pruner(
    state: &AppState,
    stop: &Arc<tokio::sync::watch::Sender<bool>>,
) -> tokio::task::JoinHandle<()> {
    let pruner = muster_server::retention::Pruner::new(state.clone());
    let mut stopped = stop.subscribe();
    tokio::spawn(pruner.run(async move {
        let _ = stopped.wait_for(|s| *s).await;
    }))
}

#[cfg(unix)]
fn spawn_reload_on_sighup(state: AppState) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload only through the API");
            return;
        };
        while hup.recv().await.is_some() {
            if let Err(errors) = muster_server::reactions::reloaded(&state).await {
                for e in errors {
                    tracing::error!("{e}");
                }
                tracing::error!("configuration not reloaded; the old one stays in force");
            }
        }
    });
}

#[cfg(not(unix))]
fn spawn_reload_on_sighup(_state: AppState) {}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
