//! A recording local HTTP peer for the providers the test kit has no fake of: it keeps every
//! request and answers with the next scripted reply, else with the provider's own answer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, Uri};
use serde_json::Value;

/// One request the peer received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    /// A form body's fields, in the order sent.
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
    pub fn form_field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// An HTTP answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
        }
    }
    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "text/plain".into())],
            body: body.into(),
        }
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

type Answer = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

#[derive(Default)]
struct Shared {
    seen: Vec<Seen>,
    script: VecDeque<Reply>,
}

/// A running peer: its base URL, what it received, what it answers next.
#[derive(Clone)]
pub struct Peer {
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    answer: Arc<Answer>,
}

impl Peer {
    /// Serves on a free local port; `answer` is the provider's reply to a request (with how
    /// many came before it) when nothing is scripted.
    pub async fn start(answer: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Peer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a peer");
        let peer = Peer {
            url: format!("http://{}", listener.local_addr().expect("addr")),
            shared: Arc::default(),
            answer: Arc::new(answer),
        };
        let app = Router::new().fallback(receive).with_state(peer.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        peer
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// Answers `reply` to the next request instead of the provider's answer.
    pub fn script(&self, reply: Reply) {
        self.lock().script.push_back(reply);
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn receive(
    State(peer): State<Peer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let seen = Seen {
        method,
        path: uri.path().to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let reply = {
        let mut shared = peer.lock();
        let before = shared.seen.len();
        shared.seen.push(seen.clone());
        shared
            .script
            .pop_front()
            .unwrap_or_else(|| (peer.answer)(&seen, before))
    };
    let mut response = Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response
        .body(Body::from(reply.body))
        .expect("a valid reply")
}
