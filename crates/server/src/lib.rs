//! Muster's HTTP server: the `/api/v1` REST API, health, metrics and the OpenAPI document.
//!
//! `app(state)` builds the router without a socket, so tests drive it directly; `serve`
//! binds it to a listener with graceful shutdown. Time comes from the injected clock.

pub mod ack_page;
pub mod api;
pub mod auth;
pub mod body_deadline;
pub mod clock;
pub mod conn_cap;
pub mod deliver;
pub mod drills;
pub mod effect;
pub mod error;
pub mod hooks;
pub mod in_flight;
pub mod intake;
pub mod language_model;
pub mod live;
pub mod oncall;
pub mod ops;
pub mod policy_state;
pub mod rate_limit;
pub mod reactions;
pub mod retention;
pub mod scheduler;
pub mod scope;
pub mod slack;
pub mod staffing;
pub mod status;
pub mod timers;
pub mod views;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use muster_config::Config;
use muster_core::{Clock, Vocabulary};
use muster_store::Store;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

pub use clock::SystemClock;

/// Largest request body accepted, except on the alert intake routes, which read theirs up to
/// `limits.intake_body` (16 MiB by default) after checking the integration key.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A loaded, validated configuration and the names derived from it.
#[derive(Debug)]
pub struct LoadedConfig {
    pub config: Config,
    pub vocab: Vocabulary,
    /// The config's policies converted for the engine once per load, not per event.
    pub policies: Vec<muster_core::engine::Policy>,
    /// Each integration's key digest, for intake's constant-time lookup by key.
    pub integration_key_digests: Vec<[u8; 32]>,
}

impl LoadedConfig {
    pub fn new(config: Config) -> Self {
        let vocab = config.vocabulary();
        let policies = config.engine_policies();
        let integration_key_digests = intake::key_digests(&config);
        LoadedConfig {
            config,
            vocab,
            policies,
            integration_key_digests,
        }
    }

    /// The milestone a deadline policy waits for (`None` for other triggers or an unknown
    /// policy): what its nudge's button reaches and what its clock entry names.
    pub fn expected_milestone(&self, policy: &str) -> Option<&str> {
        muster_core::engine::expected_milestone(&self.policies, policy)
    }

    /// What a deadline policy waits for, as outcomes and the clock name it: a milestone id,
    /// `role:comms_lead`, `acknowledged_by:alias:legal`.
    pub fn expectation_key(&self, policy: &str) -> Option<String> {
        muster_core::engine::expectation(&self.policies, policy).map(|e| e.key())
    }
}

/// Everything a request handler may need: one shared [`Shared`], so a clone is one reference
/// count. Axum clones the state for each extractor and middleware of every request; cloning
/// each field instead (a dozen reference counts and a path) showed in intake's profile.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares; read through it.
#[derive(Clone)]
pub struct Shared {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    config: Arc<RwLock<Arc<LoadedConfig>>>,
    /// Where the configuration is reloaded from.
    pub config_dir: Option<PathBuf>,
    /// Requests allowed in flight at once, per route class; beyond it, 503 + Retry-After.
    pub in_flight: in_flight::InFlight,
    /// Open connections one client address may hold (`conn_cap.rs`).
    pub connections_per_address: usize,
    /// How long a request's whole body may take to arrive (`body_deadline.rs`).
    pub body_read_timeout: std::time::Duration,
    /// Alert intake's bounded queue and group-commit worker, started on first use.
    intake: Arc<std::sync::OnceLock<intake::batch::Batcher>>,
    /// The Slack app's secrets and replay guard.
    pub slack: Arc<slack::SlackRuntime>,
    /// The optional language model that rewrites briefings into prose (`None`: deterministic).
    pub language_model: Option<Arc<language_model::LanguageModel>>,
    /// Committed incident changes, announced for live pages (`live.rs`).
    pub changes: live::Changes,
    /// Similar past incidents, per incident, for briefs (`views/similar_cache.rs`).
    pub similar: Arc<views::similar_cache::SimilarCache>,
    /// What SMS replies and call keypresses are verified with (`hooks/`).
    pub answers: Arc<hooks::AnswerHooks>,
}

impl AppState {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        config: Config,
        config_dir: Option<PathBuf>,
    ) -> Self {
        // Read once: a reload does not resize the listener's caps or the budgets.
        let limits = config.limits.clone();
        AppState(Arc::new(Shared {
            store,
            clock,
            config: Arc::new(RwLock::new(Arc::new(LoadedConfig::new(config)))),
            config_dir,
            in_flight: in_flight::InFlight::new(&limits.in_flight),
            connections_per_address: limits.connections_per_address,
            body_read_timeout: limits.body_read_timeout.to_std(),
            intake: Arc::new(std::sync::OnceLock::new()),
            slack: Arc::new(slack::SlackRuntime::from_env()),
            language_model: None,
            changes: live::Changes::default(),
            similar: Arc::default(),
            answers: Arc::new(hooks::AnswerHooks::from_env()),
        }))
    }

    /// The shared state, to change while the application is being put together (a copy if
    /// it is shared already, which it is not before the first clone).
    fn building(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }

    /// Verifies SMS replies and call keypresses with these secrets instead of the
    /// environment's.
    pub fn with_answer_hooks(mut self, hooks: hooks::AnswerHooks) -> Self {
        self.building().answers = Arc::new(hooks);
        self
    }

    /// Uses these Slack secrets instead of the environment's.
    pub fn with_slack(mut self, slack: slack::SlackRuntime) -> Self {
        self.building().slack = Arc::new(slack);
        self
    }

    /// Lets a language model rewrite briefings (see [`language_model`]).
    pub fn with_language_model(mut self, model: language_model::LanguageModel) -> Self {
        self.building().language_model = Some(Arc::new(model));
        self
    }

    /// The alert intake queue (its worker starts on the current runtime at first use).
    pub fn intake(&self) -> intake::batch::Batcher {
        self.intake
            .get_or_init(|| {
                intake::batch::Batcher::start(intake::batch::Worker {
                    store: self.store.clone(),
                    clock: self.clock.clone(),
                    config: self.config.clone(),
                    changes: self.changes.clone(),
                })
            })
            .clone()
    }

    /// Lets one client address hold `n` connections at once (default:
    /// `limits.connections_per_address`).
    pub fn with_connections_per_address(mut self, n: usize) -> Self {
        self.building().connections_per_address = n;
        self
    }

    /// Caps the requests in flight of every route class at `n` (defaults:
    /// `limits.in_flight`).
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.building().in_flight = in_flight::InFlight::uniform(n);
        self
    }

    /// The configuration in force now. A reload swaps it whole, never in part.
    pub fn config(&self) -> Arc<LoadedConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Loads the configuration directory again; on any error the old one stays in force
    /// and the diagnostics are returned.
    pub fn reload(&self) -> Result<Arc<LoadedConfig>, Vec<String>> {
        let Some(dir) = &self.config_dir else {
            return Err(vec!["no configuration directory to reload from".into()]);
        };
        let config = muster_config::load(dir)
            .map_err(|diags| diags.iter().map(ToString::to_string).collect::<Vec<_>>())?;
        let loaded = Arc::new(LoadedConfig::new(config));
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = loaded.clone();
        tracing::info!(dir = %dir.display(), "configuration reloaded");
        Ok(loaded)
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// The whole HTTP application with `pages` (the web UI) mounted beside the API, under the
/// same layers: timeouts, load shedding, body limit and request metrics.
pub fn app_with(state: AppState, pages: Router<AppState>) -> Router {
    // Install the metrics recorder before the first request, or early counts are lost.
    ops::prometheus();
    let (api_router, mut openapi) = api::router().split_for_parts();
    api::common_responses::document(&mut openapi);
    let openapi = Arc::new(openapi);
    ops::router(openapi)
        .merge(api_router)
        .route(
            "/ical/schedules/{file}",
            axum::routing::get(api::schedules::schedule_feed),
        )
        .route(
            "/ical/people/{file}",
            axum::routing::get(api::schedules::person_feed),
        )
        .route("/v2/enqueue", axum::routing::post(api::alerts::enqueue))
        .merge(slack::router())
        .merge(status::router())
        .merge(ack_page::router())
        .merge(hooks::router())
        .merge(pages)
        .fallback(ops::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(ops::timed_out))
                .timeout(ops::REQUEST_TIMEOUT),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body_deadline::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::shed_load,
        ))
        .layer(axum::middleware::from_fn(ops::track_requests))
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, Router::new(), shutdown).await
}

/// Serves `app_with(state, pages)` on `listener` until `shutdown` completes.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    pages: Router<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = conn_cap::CappedListener::new(listener, state.connections_per_address);
    axum::serve(listener, app_with(state, pages))
        .with_graceful_shutdown(shutdown)
        .await
}
