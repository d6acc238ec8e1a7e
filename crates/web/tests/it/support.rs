//! The app in-process (`tower::ServiceExt::oneshot`) against a fresh database of either
//! backend, with signed-in sessions read the way a browser would keep them.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use muster_core::{Access, Clock, SimulatedClock, Timestamp};
use muster_server::AppState;
use muster_store::Store;
use tower::ServiceExt;

pub use muster_testkit::{Backend, TestDb, demo_dir};

pub const T0: &str = "2026-03-29T03:12:00Z";

pub struct Web {
    pub app: Router,
    pub state: AppState,
    pub store: Store,
    pub clock: Arc<SimulatedClock>,
    /// Token of `alice` (responder; a person of the demo, in the payments team).
    pub responder: String,
    /// Token of `watcher` (viewer).
    pub viewer: String,
    pub admin: String,
    pub feed: String,
    db: TestDb,
}

/// An answer: status, headers, body text.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn set_cookie(&self) -> Option<&str> {
        self.headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
    }
}

/// A browser's session: its cookie header and the form token its pages carry.
#[derive(Clone)]
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

pub async fn web(backend: Backend) -> Option<Web> {
    web_in(backend, demo_dir()).await
}

/// A `Web` over the configuration directory `dir` (a changed copy of the demo).
pub async fn web_in(backend: Backend, dir: std::path::PathBuf) -> Option<Web> {
    let db = TestDb::fresh(backend).await?;
    let store = Store::connect(&db.url()).await.expect("connect store");
    let clock = Arc::new(SimulatedClock::new(T0.parse::<Timestamp>().expect("t0")));
    let config = muster_config::load(&dir).expect("config loads");
    let state = AppState::new(
        store.clone(),
        clock.clone() as Arc<dyn Clock>,
        config,
        Some(dir),
    );
    let now = clock.now();
    let token = |name: &'static str, access| {
        let store = store.clone();
        async move { store.create_token(name, access, now).await.expect("token") }
    };
    let responder = token("alice", Access::Responder).await;
    let viewer = token("watcher", Access::Viewer).await;
    let admin = token("root", Access::Admin).await;
    let feed = token("calendar", Access::Feed).await;
    let app = muster_server::app_with(state.clone(), muster_web::router());
    Some(Web {
        app,
        state,
        store,
        clock,
        responder,
        viewer,
        admin,
        feed,
        db,
    })
}

/// Runs `$body` with a fresh `Web` on each backend.
#[macro_export]
macro_rules! both {
    ($name:ident, |$web:ident| $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let Some($web) = $crate::support::web($crate::support::Backend::Sqlite).await
                else {
                    return;
                };
                $body.await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($web) = $crate::support::web($crate::support::Backend::Postgres).await
                else {
                    return;
                };
                $body.await
            }
        }
    };
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The value of the first `name="csrf" value="…"` in a page.
pub fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = html[at..].find('"')?;
    Some(html[at..at + end].to_string())
}

impl Web {
    /// The database's URL (another node connects to it).
    pub fn store_url(&self) -> String {
        self.db.url()
    }

    pub async fn send(&self, req: Request<Body>) -> Answer {
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str, browser: Option<&Browser>) -> Answer {
        let mut req = Request::get(path);
        if let Some(b) = browser {
            req = req.header(header::COOKIE, &b.cookie);
        }
        self.send(req.body(Body::empty()).expect("request")).await
    }

    /// POSTs a form as the browser; `csrf: None` leaves the form token out.
    pub async fn post(
        &self,
        path: &str,
        browser: Option<&Browser>,
        csrf: Option<&str>,
        pairs: &[(&str, &str)],
    ) -> Answer {
        let mut all: Vec<(&str, &str)> = pairs.to_vec();
        if let Some(c) = csrf {
            all.push(("csrf", c));
        }
        let mut req =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(b) = browser {
            req = req.header(header::COOKIE, &b.cookie);
        }
        self.send(req.body(Body::from(form(&all))).expect("request"))
            .await
    }

    /// Signs in with `token` and reads the form token off the home page.
    pub async fn sign_in(&self, token: &str) -> Browser {
        let a = self.post("/login", None, None, &[("token", token)]).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let set = a.set_cookie().expect("a session cookie");
        let cookie = set.split(';').next().expect("name=value").to_string();
        let home = self
            .get(
                "/",
                Some(&Browser {
                    cookie: cookie.clone(),
                    csrf: String::new(),
                }),
            )
            .await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.body);
        let csrf = csrf_of(&home.body).expect("a form token on the home page");
        Browser { cookie, csrf }
    }

    /// Declares through the reactions, as the API does.
    pub async fn declare(&self, title: &str, severity: &str) -> muster_core::Incident {
        let services = vec!["checkout".to_string()];
        muster_server::reactions::declare(
            &self.state,
            "alice",
            muster_server::reactions::commit::Declaration {
                title,
                severity: severity.parse().expect("severity"),
                services: &services,
                incident_type: None,
            },
        )
        .await
        .expect("declared")
    }

    pub async fn last_seq(&self, id: muster_core::IncidentNumber) -> i64 {
        self.store
            .incident(id)
            .await
            .expect("read")
            .expect("exists")
            .last_seq
    }
}
