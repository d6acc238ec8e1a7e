//! Wire-faithful local stand-ins for the outside services Muster notifies through, each
//! recording every request: a Slack Web API, Twilio-compatible SMS and Voice APIs, an ntfy
//! server, a webhook sink, and a real SMTP server (Python `aiosmtpd`, writing a Maildir).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request a fake received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    }
    /// A form body's field.
    pub fn form(&self, name: &str) -> Option<String> {
        self.body.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| decode_form(v))
        })
    }
}

fn decode_form(v: &str) -> String {
    let v = v.replace('+', " ");
    let mut out = Vec::new();
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(x) = u8::from_str_radix(&v[i + 1..i + 3], 16)
        {
            out.push(x);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How a fake answers the next request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The provider's success answer.
    Ok,
    /// Slack: HTTP 200 `{"ok": false, "error": …}`.
    SlackError(String),
    /// HTTP 429 with `Retry-After: n`.
    RateLimited(u64),
    /// Any HTTP status with a short body.
    Status(u16),
}

#[derive(Default)]
struct Shared {
    requests: Vec<Recorded>,
    script: VecDeque<Reply>,
    /// Scripted answers for one path only (e.g. `/conversations.create`), taken first.
    by_path: std::collections::HashMap<String, VecDeque<Reply>>,
    default: Option<Reply>,
}

/// A running fake: its base URL, what it received, and what it answers next.
#[derive(Clone)]
pub struct Fake {
    pub url: String,
    shared: Arc<Mutex<Shared>>,
}

impl Fake {
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }
    /// Answers `reply` to the next `n` requests, then resumes the default.
    pub fn script(&self, reply: Reply, n: usize) {
        let mut s = self.lock();
        for _ in 0..n {
            s.script.push_back(reply.clone());
        }
    }
    /// Answers `reply` to the next `n` requests to `path` (e.g. `/conversations.create`),
    /// whatever else arrives in between.
    pub fn script_path(&self, path: &str, reply: Reply, n: usize) {
        let mut s = self.lock();
        let queue = s.by_path.entry(path.to_string()).or_default();
        for _ in 0..n {
            queue.push_back(reply.clone());
        }
    }
    /// Answers `reply` to every request not scripted.
    pub fn always(&self, reply: Reply) {
        self.lock().default = Some(reply);
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn next(&self, r: Recorded) -> Reply {
        let mut s = self.lock();
        let scripted = s.by_path.get_mut(&r.path).and_then(VecDeque::pop_front);
        s.requests.push(r);
        if let Some(reply) = scripted {
            return reply;
        }
        s.script
            .pop_front()
            .or_else(|| s.default.clone())
            .unwrap_or(Reply::Ok)
    }
    /// Waits until at least `n` requests arrived (at most `timeout`); returns them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.requests();
            if got.len() >= n || tokio::time::Instant::now() >= end {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn start(router: Router<Fake>) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a fake");
    let fake = Fake {
        url: format!("http://{}", listener.local_addr().expect("addr")),
        shared: Arc::default(),
    };
    let app = router.with_state(fake.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    fake
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn rate_limited(secs: u64) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [("retry-after", secs.to_string())],
        axum::Json(json!({"ok": false, "error": "ratelimited"})),
    )
        .into_response()
}

/// A Slack Web API: `POST /{method}` with a bearer token, answering in Slack's JSON.
pub async fn slack() -> Fake {
    start(Router::new().route("/{method}", axum::routing::post(slack_method))).await
}

async fn slack_method(
    State(fake): State<Fake>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    let req: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let authed = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer xoxb-"));
    let reply = fake.next(Recorded {
        path: format!("/{method}"),
        headers,
        body,
    });
    if !authed {
        return axum::Json(json!({"ok": false, "error": "not_authed"})).into_response();
    }
    match reply {
        Reply::Ok => axum::Json(slack_ok(&method, &req)).into_response(),
        Reply::SlackError(e) => axum::Json(json!({"ok": false, "error": e})).into_response(),
        Reply::RateLimited(s) => rate_limited(s),
        Reply::Status(c) => (status(c), "upstream error").into_response(),
    }
}

fn slack_ok(method: &str, req: &Value) -> Value {
    match method {
        "chat.postMessage" | "chat.update" => json!({
            "ok": true,
            "channel": req["channel"],
            "ts": "1774753920.000100",
            "message": {"text": req["text"], "type": "message"},
        }),
        "conversations.create" => json!({
            "ok": true,
            "channel": {"id": "C0NEWCHAN", "name": req["name"], "is_channel": true},
        }),
        "conversations.invite" => json!({"ok": true, "channel": {"id": req["channel"]}}),
        "users.lookupByEmail" => {
            json!({"ok": true, "user": {"id": "U0LOOKED", "profile": {"email": req["email"]}}})
        }
        // Users the fake knows by email: `U0…` ids of the demo people, lower-cased.
        "users.info" => match req["user"].as_str() {
            Some(u) if u.starts_with("U0") => json!({"ok": true, "user": {"id": u,
                "profile": {"email": format!("{}@example.com", u[2..].to_lowercase())}}}),
            _ => json!({"ok": false, "error": "user_not_found"}),
        },
        "views.open" => json!({"ok": true, "view": {"id": "V0VIEW"}}),
        "conversations.history" => json!({"ok": true, "messages": [
            {"type": "message", "user": "U0ALICE", "text": "pinned message", "ts": req["latest"]}
        ]}),
        _ => json!({"ok": false, "error": "unknown_method"}),
    }
}

/// A Twilio-compatible SMS API: `POST /2010-04-01/Accounts/{sid}/Messages.json` with a form
/// body, answering 201 with the message (`sid` `SM…`, status `queued`).
pub async fn sms() -> Fake {
    start(Router::new().route(
        "/2010-04-01/Accounts/{sid}/Messages.json",
        axum::routing::post(
            |fake: State<Fake>, sid: Path<String>, headers: HeaderMap, body: Bytes| {
                twilio_post(fake, sid, "Messages.json", "SM", headers, body)
            },
        ),
    ))
    .await
}

/// A Twilio-compatible Voice API: `POST /2010-04-01/Accounts/{sid}/Calls.json` with a form
/// body, answering 201 with the call (`sid` `CA…`, status `queued`).
pub async fn voice() -> Fake {
    start(Router::new().route(
        "/2010-04-01/Accounts/{sid}/Calls.json",
        axum::routing::post(
            |fake: State<Fake>, sid: Path<String>, headers: HeaderMap, body: Bytes| {
                twilio_post(fake, sid, "Calls.json", "CA", headers, body)
            },
        ),
    ))
    .await
}

/// Twilio's answer to a message or call: the resource with its sid, or for the magic invalid
/// number `+15005550001` its 400 error (code 21211), as Twilio's test credentials do.
async fn twilio_post(
    State(fake): State<Fake>,
    Path(sid): Path<String>,
    resource: &str,
    sid_prefix: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rec = Recorded {
        path: format!("/2010-04-01/Accounts/{sid}/{resource}"),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let to = rec.form("To").unwrap_or_default();
    let n = fake.requests().len();
    match fake.next(rec) {
        Reply::Ok if to == "+15005550001" => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"code": 21211, "message": format!("The 'To' number {to} is not a valid phone number."), "status": 400})),
        )
            .into_response(),
        Reply::Ok => (
            StatusCode::CREATED,
            axum::Json(json!({"sid": format!("{sid_prefix}{n:032}"), "to": to, "status": "queued"})),
        )
            .into_response(),
        Reply::RateLimited(s) => rate_limited(s),
        Reply::SlackError(_) | Reply::Status(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "error").into_response()
        }
    }
}

/// An ntfy server: `POST /` with a JSON message, answering 200 with the message as ntfy
/// does (`id`, `time`, `event: message`, the topic).
pub async fn ntfy() -> Fake {
    start(Router::new().route("/", axum::routing::post(ntfy_publish))).await
}

async fn ntfy_publish(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    let rec = Recorded {
        path: "/".into(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let topic = rec.json()["topic"].as_str().unwrap_or_default().to_string();
    let n = fake.requests().len();
    match fake.next(rec) {
        Reply::Ok => axum::Json(json!({
            "id": format!("ntfy{n:08}"), "time": 1_700_000_000 + n, "event": "message", "topic": topic
        }))
        .into_response(),
        Reply::RateLimited(s) => rate_limited(s),
        Reply::SlackError(_) | Reply::Status(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"code": 50001, "http": 500, "error": "internal server error"})),
        )
            .into_response(),
    }
}

/// A webhook receiver: any `POST` path, answers 200 (or as scripted).
pub async fn webhook_sink() -> Fake {
    start(Router::new().fallback(sink)).await
}

async fn sink(
    State(fake): State<Fake>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = fake.next(Recorded {
        path: uri.path().to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    match reply {
        Reply::Ok | Reply::SlackError(_) => StatusCode::OK.into_response(),
        Reply::RateLimited(s) => rate_limited(s),
        Reply::Status(c) => status(c).into_response(),
    }
}

/// aiosmtpd with an authenticator: `HOST PORT MAILDIR USER PASSWORD`.
const SMTPD_WITH_AUTH: &str = r#"
import sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword
host, port, maildir, user, password = sys.argv[1:6]
def authenticate(server, session, envelope, mechanism, data):
    ok = (isinstance(data, LoginPassword) and data.login == user.encode()
          and data.password == password.encode())
    return AuthResult(success=ok, handled=False)
c = Controller(Mailbox(maildir), hostname=host, port=int(port), authenticator=authenticate,
               auth_required=True, auth_require_tls=False)
c.start()
while True:
    time.sleep(3600)
"#;

/// A real SMTP server: `python3 -m aiosmtpd` with its Maildir handler, on a free port.
/// Stopped (killed) on drop.
pub struct Smtpd {
    pub url: String,
    pub maildir: PathBuf,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Smtpd {
    /// `None` when Python or aiosmtpd is not installed (the test command installs it).
    pub fn start() -> Option<Smtpd> {
        Self::spawn(None)
    }

    /// A server that requires authentication (AUTH PLAIN or LOGIN over plain text) as `user`
    /// with `password`; it refuses mail without it (530) and a wrong password (535).
    pub fn start_with_auth(user: &str, password: &str) -> Option<Smtpd> {
        Self::spawn(Some((user, password)))
    }

    fn spawn(auth: Option<(&str, &str)>) -> Option<Smtpd> {
        let dir = tempfile::tempdir().ok()?;
        let maildir = dir.path().join("mail");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut command = std::process::Command::new("python3");
        match auth {
            None => {
                command
                    .args(["-m", "aiosmtpd", "-n", "-l"])
                    .arg(format!("127.0.0.1:{port}"))
                    .args(["-c", "aiosmtpd.handlers.Mailbox"])
                    .arg(&maildir);
            }
            Some((user, password)) => {
                command
                    .args(["-c", SMTPD_WITH_AUTH, "127.0.0.1", &port.to_string()])
                    .arg(&maildir)
                    .args([user, password]);
            }
        }
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let mut smtpd = Smtpd {
            url: format!("smtp://127.0.0.1:{port}"),
            maildir,
            child,
            _dir: dir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(smtpd);
            }
            if let Ok(Some(_)) = smtpd.child.try_wait() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = smtpd.child.kill();
        None
    }

    /// The raw messages received so far (RFC 5322 text), oldest first by file name.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.maildir.join("new"))
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect()
    }

    /// Waits until at least `n` messages arrived (at most `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<String> {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n || tokio::time::Instant::now() >= end {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A header of a raw email (first occurrence, unfolded).
pub fn email_header(raw: &str, name: &str) -> Option<String> {
    let head = raw
        .split("\n\n")
        .next()
        .unwrap_or(raw)
        .replace("\r\n", "\n");
    let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The body of a raw email (after the blank line).
pub fn email_body(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    raw.split_once("\n\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}
