//! Spawning the app on port 0 against a fresh database of either backend.

use std::path::Path;
use std::sync::Arc;

use muster_core::{Access, Clock, SimulatedClock, Timestamp};
use muster_server::AppState;
use muster_store::Store;
use serde_json::Value;

pub const T0: &str = "2026-03-29T03:12:00Z";

pub use muster_testkit::{Backend, TestDb, copy_dir, demo_dir};

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<SimulatedClock>,
    pub admin: String,
    pub responder: String,
    pub viewer: String,
    /// A calendar-feed token (`Access::Feed`), for `/ical/…?token=`.
    pub feed: String,
    /// The app's store (another connection to the same database).
    pub store: Store,
    pub config_dir: std::path::PathBuf,
    pub db: TestDb,
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with_config(backend, &demo_dir()).await
}

pub async fn spawn_app_with_config(backend: Backend, config_dir: &Path) -> Option<TestApp> {
    spawn_app_with(backend, config_dir, |s| s).await
}

pub async fn spawn_app_with(
    backend: Backend,
    config_dir: &Path,
    tweak: impl FnOnce(AppState) -> AppState,
) -> Option<TestApp> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = TestDb::fresh(backend).await?;
    let store = Store::connect(&db.url()).await.expect("connect store");
    let clock = Arc::new(SimulatedClock::new(T0.parse::<Timestamp>().expect("t0")));
    let config = muster_config::load(config_dir).expect("config loads");
    let state = AppState::new(
        store.clone(),
        clock.clone() as Arc<dyn Clock>,
        config,
        Some(config_dir.to_path_buf()),
    );
    let now = clock.now();
    let admin = store
        .create_token("root", Access::Admin, now)
        .await
        .expect("token");
    let responder = store
        .create_token("alice", Access::Responder, now)
        .await
        .expect("token");
    let viewer = store
        .create_token("watcher", Access::Viewer, now)
        .await
        .expect("token");
    let feed = store
        .create_token("calendar", Access::Feed, now)
        .await
        .expect("token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let serve_state = tweak(state);
    tokio::spawn(async move {
        let _ = muster_server::serve(listener, serve_state, std::future::pending()).await;
    });
    Some(TestApp {
        base,
        http: reqwest::Client::new(),
        clock,
        admin,
        responder,
        viewer,
        feed,
        store,
        config_dir: config_dir.to_path_buf(),
        db,
    })
}

impl TestApp {
    /// Another node on the same database, clock and configuration: its base URL.
    pub async fn second_node(&self) -> String {
        let store = Store::connect(&self.db.url()).await.expect("connect store");
        let config = muster_config::load(&self.config_dir).expect("config loads");
        let state = AppState::new(
            store,
            self.clock.clone() as Arc<dyn Clock>,
            config,
            Some(self.config_dir.clone()),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = muster_server::serve(listener, state, std::future::pending()).await;
        });
        base
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value, headers)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (s, v, _) = self
            .send(reqwest::Method::GET, path, Some(&self.responder), None)
            .await;
        (s, v)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, v, _) = self
            .send(
                reqwest::Method::POST,
                path,
                Some(&self.responder),
                Some(body),
            )
            .await;
        (s, v)
    }

    /// POST with `token` instead of the responder's.
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let (s, v, _) = self
            .send(reqwest::Method::POST, path, Some(token), Some(body))
            .await;
        (s, v)
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, v, _) = self
            .send(
                reqwest::Method::PATCH,
                path,
                Some(&self.responder),
                Some(body),
            )
            .await;
        (s, v)
    }

    /// Declares a SEV1 on checkout and returns its id.
    pub async fn declare(&self, title: &str) -> String {
        let (s, v) = self
            .post(
                "/api/v1/incidents",
                serde_json::json!({"title": title, "severity": "SEV1", "services": ["checkout"]}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().expect("id").to_string()
    }
}

/// Each `async fn name(backend: Backend)` named as a test on SQLite and one on PostgreSQL:
/// `on_both_backends!(scenario_a, scenario_b);` in the module that defines them.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    )*};
}

/// Generates one test per backend from one body: `both!(name, |app| async move { … });`
#[macro_export]
macro_rules! both {
    ($name:ident, |$app:ident| $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let Some($app) = $crate::support::spawn_app($crate::support::Backend::Sqlite).await
                else {
                    return;
                };
                $body.await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let Some($app) =
                    $crate::support::spawn_app($crate::support::Backend::Postgres).await
                else {
                    return;
                };
                $body.await
            }
        }
    };
}
