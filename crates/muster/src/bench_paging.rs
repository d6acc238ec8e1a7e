//! `muster bench paging`: a page from the moment it is decided to the provider's request, and
//! an answer from the provider's webhook to the escalation stopped, per channel (SMS, a call,
//! a push), on SQLite and (`--pg`) PostgreSQL.
//!
//! Each channel runs on an empty database (a fresh SQLite file; a database of its own on the
//! `--pg` server, dropped after) with a configuration of its own: service `checkout` whose
//! escalation pages `pat` at once (step 2, `sam`, after 10 minutes), and one notification
//! rule, that channel now. The server, the deliverer and a recording fake of the providers
//! (Twilio's Messages and Calls, ntfy) run in this process on loopback, on the real clock.
//!
//! - `page_to_provider_{sms,voice,push}_p50`/`_p99`: Alertmanager webhooks at
//!   [`PAGE_RATE`]/s for `--seconds`, open loop, each a new alert group, so each opens an
//!   incident whose escalation pages pat at once. From the `escalation_step` event's time
//!   (when the page was decided, in the intake's commit) to the fake's receipt of the
//!   provider request (wall clock). Target: p99 < 50 ms at 100 pages/s.
//! - `page_to_claim_*` / `claim_to_provider_*`: the same interval split at the deliverer's
//!   fan-out of the page (the time on its `notification_queued` event): waiting for the
//!   deliverer, then fan-out, link, commit, the delivery's claim and the provider call.
//! - `ack_webhook_to_escalation_stopped_p50`/`_p99`: every page answered where it landed, at
//!   [`ANSWER_RATE`]/s open loop — the call's keypress `Digits=1` (signed), the SMS reply
//!   `ack {code}` (signed), the push action's POST — timed from each request's scheduled
//!   start to the end of its answer. The answer is sent after the acknowledgement is
//!   committed, so this is the webhook until the escalation is stopped. Target: p99 < 20 ms.
//!   Every answer must say it acknowledged, and every incident's timeline must then hold
//!   exactly one `escalation_stopped`.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use muster_core::{Change, Clock, IncidentNumber, Secret};
use muster_notify::{Push, Sms, Voice};
use muster_server::deliver::{Channels, Deliverer};
use muster_server::hooks::AnswerHooks;
use muster_server::{AppState, SystemClock};
use muster_store::Store;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::bench::{BenchArgs, emit_p50_p99};
use crate::bench_ingest::{client, run_id};

/// Alerts (each a page) per second in the paging phase: the issue's load.
const PAGE_RATE: u64 = 100;
/// Answers per second in the answer phase.
const ANSWER_RATE: u64 = 50;
/// A page not at the provider this long after the last alert fails the bench.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(30);
const CHANNELS: [&str; 3] = ["sms", "voice", "push"];
const KEY: &str = "bench-paging-alertmanager-key";
const PAT_PHONE: &str = "+442079460101";
const SMS_FROM: &str = "+15005550006";
const SMS_TOKEN: &str = "bench-sms-auth-token";
const VOICE_TOKEN: &str = "bench-voice-auth-token";

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("muster-bench-paging-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = backends(args, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn backends(args: &BenchArgs, dir: &Path) -> anyhow::Result<()> {
    if !(args.skip_sqlite && args.pg.is_some()) {
        for channel in CHANNELS {
            let db = format!("sqlite://{}/{channel}.db", dir.display());
            on(args, dir, "sqlite", &db, channel).await?;
        }
    }
    if let Some(pg) = &args.pg {
        for channel in CHANNELS {
            let fresh = FreshPg::create(pg, channel).await?;
            let result = on(args, dir, "postgres", &fresh.url, channel).await;
            fresh.drop_database().await;
            result?;
        }
    }
    Ok(())
}

/// The configuration of a run: `{channel}` is pat's one notification rule.
const CONFIG: &str = r#"services:
  - { id: checkout, name: Checkout, escalation_policy: pager-escalation }

escalation_policies:
  - id: pager-escalation
    name: Pager escalation
    steps:
      - targets: [ { person: pat } ]
        delay: 10m
      - targets: [ { person: sam } ]

integrations:
  - id: alertmanager
    type: alertmanager
    key: {key}
    service: checkout
    severity_map: { critical: SEV1, error: SEV2, warning: SEV3, info: SEV4 }
    group_by: [alertname]
    group_window: 5m

people:
  - id: pat
    name: Pat Page
    time_zone: Europe/London
    contact: { phone: "{phone}", push_topic: muster-bench-pat-7f3k2p }
    notification_rules: [ { channel: {channel}, after: 0m } ]
  - id: sam
    name: Sam Second
    time_zone: Europe/London
    contact: { phone: "+442079460102" }
    notification_rules: [ { channel: sms, after: 0m } ]
"#;

/// The configuration of a `channel` run, written under `dir` and loaded.
fn config(dir: &Path, channel: &str) -> anyhow::Result<muster_config::Config> {
    let dir = dir.join(format!("config-{channel}"));
    std::fs::create_dir_all(&dir)?;
    let yaml = CONFIG
        .replace("{key}", KEY)
        .replace("{phone}", PAT_PHONE)
        .replace("{channel}", channel);
    std::fs::write(dir.join("muster.yaml"), yaml)?;
    muster_config::load(&dir).map_err(|d| {
        anyhow::anyhow!(
            "invalid bench config: {}",
            d.first().map(ToString::to_string).unwrap_or_default()
        )
    })
}

/// One channel on one backend: the paging phase, then the answer phase.
async fn on(
    args: &BenchArgs,
    dir: &Path,
    backend: &str,
    db: &str,
    channel: &'static str,
) -> anyhow::Result<()> {
    let config = config(dir, channel)?;
    let store = Store::connect(db).await.context("bench database")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let fake = Fake::start().await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    // The server is its own public URL: the links point at it and the signatures cover it.
    let hooks = AnswerHooks::new(
        &base,
        Some(Secret::new(SMS_TOKEN)),
        Some(Secret::new(VOICE_TOKEN)),
    );
    let state = AppState::new(store.clone(), clock, config, None).with_answer_hooks(hooks);
    let http = muster_notify::http_client().map_err(anyhow::Error::msg)?;
    let channels = Channels {
        sms: Some(Sms::new(
            http.clone(),
            &fake.url,
            "ACbench",
            Secret::new(SMS_TOKEN),
            SMS_FROM,
        )),
        voice: Some(Voice::new(
            http.clone(),
            &fake.url,
            "ACbench",
            Secret::new(VOICE_TOKEN),
            "+15005550007",
        )),
        push: Some(Push::new(http, &fake.url, None)),
        ..Channels::default()
    };
    let (stop, stopped) = watch::channel(());
    let deliverer = tokio::spawn(
        Deliverer::new(state.clone(), channels)
            .with_base_url(base.as_str())
            .run(until(stopped.clone())),
    );
    let server = tokio::spawn(muster_server::serve(listener, state, until(stopped)));

    let result = phases(args, &store, &fake, &base, backend, channel).await;
    let _ = stop.send(());
    let _ = deliverer.await;
    let _ = server.await;
    fake.task.abort();
    store.close().await;
    result
}

/// Resolves once `stop` is sent (or dropped).
async fn until(mut stop: watch::Receiver<()>) {
    let _ = stop.changed().await;
}

async fn phases(
    args: &BenchArgs,
    store: &Store,
    fake: &Fake,
    base: &str,
    backend: &str,
    channel: &'static str,
) -> anyhow::Result<()> {
    let http = client()?;
    let opened = alerts(&http, base, args.seconds).await?;
    let (pages, duplicates) = arrived(store, fake, &opened, channel).await?;
    let ctx = json!({"backend": backend, "channel": channel, "pages": pages.len(),
        "rate": PAGE_RATE, "seconds": args.seconds, "duplicates": duplicates});
    let (mut total, mut to_claim, mut from_claim) = (Vec::new(), Vec::new(), Vec::new());
    for page in pages.values() {
        let (decided, claimed) = decided_and_claimed(store, page.incident).await?;
        total.push(ms(page.arrived_ms - decided));
        to_claim.push(ms(claimed - decided));
        from_claim.push(ms(page.arrived_ms - claimed));
    }
    for (metric, mut times, target) in [
        ("page_to_provider", total, Some(50)),
        ("page_to_claim", to_claim, None),
        ("claim_to_provider", from_claim, None),
    ] {
        times.sort();
        let mut ctx = ctx.clone();
        if let Some(ms) = target {
            ctx["target_p99_ms"] = json!(ms);
        }
        emit_p50_p99("paging", &format!("{metric}_{channel}"), &times, ctx);
    }

    let mut times = answers(&http, base, channel, &pages).await?;
    times.sort();
    for incident in pages.keys() {
        let stopped = store
            .timeline_since(*incident, None)
            .await?
            .iter()
            .filter(|e| matches!(e.change, Change::EscalationStopped { .. }))
            .count();
        ensure!(
            stopped == 1,
            "{incident}: {stopped} escalation_stopped events after its acknowledgement, not 1"
        );
    }
    let ctx = json!({"backend": backend, "channel": channel, "answers": times.len(),
        "rate": ANSWER_RATE, "target_p99_ms": 20});
    emit_p50_p99("paging", "ack_webhook_to_escalation_stopped", &times, ctx);
    Ok(())
}

/// An interval in ms as a duration (none is negative: each later reading is taken after the
/// earlier one, which is stored truncated to the millisecond).
fn ms(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.0) / 1000.0)
}

/// Wall-clock milliseconds now (the clock `SystemClock` reads, at microsecond resolution).
fn now_ms() -> f64 {
    jiff::Timestamp::now().as_microsecond() as f64 / 1000.0
}

/// A new alert group of its own: one firing alert, critical.
fn webhook(run: u128, n: u64) -> Value {
    let name = format!("PagingBench{run}x{n}");
    json!({
        "version": "4", "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"), "truncatedAlerts": 0,
        "status": "firing", "receiver": "muster", "groupLabels": {"alertname": name},
        "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": name, "severity": "critical", "instance": "web-1"},
            "annotations": {"summary": "Checkout is down"},
            "startsAt": "2026-12-04T03:10:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph", "fingerprint": format!("{run}-{n}"),
        }],
    })
}

/// Posts [`PAGE_RATE`] new alert groups a second for `seconds`, open loop; the incidents
/// they opened.
async fn alerts(
    http: &reqwest::Client,
    base: &str,
    seconds: u64,
) -> anyhow::Result<Vec<IncidentNumber>> {
    let url = format!("{base}/api/v1/integrations/{KEY}/alertmanager");
    let run = run_id()?;
    let total = PAGE_RATE * seconds;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        tokio::time::sleep_until(start + Duration::from_micros(n * 1_000_000 / PAGE_RATE)).await;
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let resp = http.post(&url).json(&webhook(run, n)).send().await?;
            let status = resp.status();
            let body: Value = resp.json().await?;
            let alert = &body["alerts"][0];
            ensure!(
                status.is_success() && alert["outcome"] == "opened",
                "alert {n} did not open an incident: {status} {body}"
            );
            let id = alert["incident"].as_str().unwrap_or_default();
            IncidentNumber::from_str(id).map_err(|e| anyhow::anyhow!("incident `{id}`: {e}"))
        }));
    }
    let mut opened = Vec::with_capacity(tasks.len());
    for t in tasks {
        opened.push(t.await??);
    }
    Ok(opened)
}

/// A page as the provider received it.
struct Page {
    incident: IncidentNumber,
    arrived_ms: f64,
    /// The page's link token (the call's and the push action's URL carry it).
    token: String,
    /// The SMS reply code.
    code: Option<String>,
}

/// Waits for a provider request per opened incident, and matches each to its incident by
/// the link it carries: the first request of each incident, and how many more there were.
async fn arrived(
    store: &Store,
    fake: &Fake,
    opened: &[IncidentNumber],
    channel: &str,
) -> anyhow::Result<(HashMap<IncidentNumber, Page>, usize)> {
    let deadline = tokio::time::Instant::now() + ARRIVAL_TIMEOUT;
    while fake.len() < opened.len() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let requests = fake.take();
    let received = requests.len();
    let mut pages: HashMap<IncidentNumber, Page> = HashMap::with_capacity(opened.len());
    for r in requests {
        let (token, code) = r.link(channel)?;
        let link = store
            .ack_link(&token)
            .await?
            .with_context(|| format!("no page link has the token a {channel} request carried"))?;
        ensure!(
            link.person == "pat",
            "a page to {} instead of pat",
            link.person
        );
        pages.entry(link.incident).or_insert(Page {
            incident: link.incident,
            arrived_ms: r.at_ms,
            token,
            code,
        });
    }
    let missing = opened.iter().filter(|i| !pages.contains_key(i)).count();
    if missing > 0 {
        bail!(
            "{missing} of {} pages by {channel} did not reach the provider within {} s",
            opened.len(),
            ARRIVAL_TIMEOUT.as_secs()
        );
    }
    let duplicates = received - pages.len();
    Ok((pages, duplicates))
}

/// When the incident's page was decided (its `escalation_step`) and when the deliverer fanned
/// it out (its `notification_queued`), in wall-clock ms.
async fn decided_and_claimed(store: &Store, id: IncidentNumber) -> anyhow::Result<(f64, f64)> {
    let events = store.timeline_since(id, None).await?;
    let at = |f: fn(&Change) -> bool| {
        events
            .iter()
            .find(|e| f(&e.change))
            .map(|e| e.at.as_millisecond() as f64)
    };
    let decided = at(|c| matches!(c, Change::EscalationStep { .. }))
        .with_context(|| format!("{id} has no escalation_step"))?;
    let claimed = at(|c| matches!(c, Change::NotificationQueued { .. }))
        .with_context(|| format!("{id} has no notification_queued"))?;
    Ok((decided, claimed))
}

/// Answers every page where it landed at [`ANSWER_RATE`]/s, open loop; each answer's time
/// from its scheduled start to the end of the server's answer.
async fn answers(
    http: &reqwest::Client,
    base: &str,
    channel: &'static str,
    pages: &HashMap<IncidentNumber, Page>,
) -> anyhow::Result<Vec<Duration>> {
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(pages.len());
    for (n, page) in pages.values().enumerate() {
        let due = start + Duration::from_micros(n as u64 * 1_000_000 / ANSWER_RATE);
        tokio::time::sleep_until(due).await;
        let request = answer(http, base, channel, page)?;
        let incident = page.incident;
        tasks.push(tokio::spawn(async move {
            let resp = request.send().await?;
            let status = resp.status();
            let text = resp.text().await?;
            let took = due.elapsed();
            let acknowledged = match channel {
                "push" => text.contains(" acknowledged notification") && !text.contains("Already"),
                _ => text.contains("Acknowledged") && text.contains("Escalation stopped."),
            };
            ensure!(
                status == StatusCode::OK && acknowledged,
                "{incident}: the {channel} answer did not acknowledge: {status} {text}"
            );
            Ok::<_, anyhow::Error>(took)
        }));
    }
    let mut times = Vec::with_capacity(tasks.len());
    for t in tasks {
        times.push(t.await??);
    }
    Ok(times)
}

/// The request the provider (or ntfy's action) sends when `page` is answered: signed as
/// Twilio signs, over the server's public URL.
fn answer(
    http: &reqwest::Client,
    base: &str,
    channel: &str,
    page: &Page,
) -> anyhow::Result<reqwest::RequestBuilder> {
    let signed = |path: String, token: &str, params: Vec<(String, String)>| {
        let signature = muster_notify::twilio::signature(token, &format!("{base}{path}"), &params);
        http.post(format!("{base}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(muster_notify::twilio::SIGNATURE_HEADER, signature)
            .body(form_encode(&params))
    };
    let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    Ok(match channel {
        "voice" => signed(
            format!("/hooks/voice/{}/key", page.token),
            VOICE_TOKEN,
            pairs(&[("CallSid", "CAbench"), ("Digits", "1")]),
        ),
        "sms" => {
            let code = page
                .code
                .as_deref()
                .with_context(|| format!("{}: the SMS had no reply code", page.incident))?;
            signed(
                "/hooks/sms".into(),
                SMS_TOKEN,
                pairs(&[
                    ("MessageSid", "SMbench"),
                    ("AccountSid", "ACbench"),
                    ("From", PAT_PHONE),
                    ("To", SMS_FROM),
                    ("Body", &format!("ack {code}")),
                ]),
            )
        }
        _ => http.post(format!("{base}/ack/{}?via=push", page.token)),
    })
}

/// One provider request the fake received, read later: recording stays cheap.
struct Recorded {
    at_ms: f64,
    body: Bytes,
}

impl Recorded {
    /// The page link's token and, for an SMS, its reply code.
    fn link(&self, channel: &str) -> anyhow::Result<(String, Option<String>)> {
        let after = |text: &str, marker: &str, stop: fn(char) -> bool| -> Option<String> {
            let at = text.find(marker)? + marker.len();
            Some(text[at..].chars().take_while(|c| !stop(*c)).collect())
        };
        let found = match channel {
            "sms" => {
                let text = form_get(&self.body, "Body").unwrap_or_default();
                after(&text, "/ack/", char::is_whitespace).map(|token| {
                    let code = after(&text, "Reply 1 or ACK ", |c| !c.is_ascii_digit());
                    (token, code)
                })
            }
            "voice" => form_get(&self.body, "Url")
                .and_then(|url| url.rsplit('/').next().map(|t| (t.to_string(), None))),
            _ => serde_json::from_slice::<Value>(&self.body)
                .ok()
                .and_then(|v| v["actions"][0]["url"].as_str().map(String::from))
                .and_then(|url| after(&url, "/ack/", |c| c == '?'))
                .map(|token| (token, None)),
        };
        found.with_context(|| {
            format!(
                "a {channel} request without a page link: {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Twilio's Messages and Calls resources and ntfy's publish, answered as they answer, each
/// request's arrival time recorded.
struct Fake {
    url: String,
    received: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Fake {
    async fn start() -> anyhow::Result<Fake> {
        let received: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let rec = received.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, body: Bytes| {
            let rec = rec.clone();
            async move {
                let at_ms = now_ms();
                let n = {
                    let mut rec = rec.lock().unwrap_or_else(|e| e.into_inner());
                    rec.push(Recorded { at_ms, body });
                    rec.len()
                };
                let path = uri.path();
                if path.ends_with("/Messages.json") {
                    let sid = format!("SM{n:032x}");
                    (StatusCode::CREATED, axum::Json(json!({ "sid": sid })))
                } else if path.ends_with("/Calls.json") {
                    let sid = format!("CA{n:032x}");
                    (StatusCode::CREATED, axum::Json(json!({ "sid": sid })))
                } else {
                    let id = format!("bench{n}");
                    (StatusCode::OK, axum::Json(json!({ "id": id })))
                }
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Fake {
            url,
            received,
            task,
        })
    }

    fn len(&self) -> usize {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.received.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// `name`'s value in an `application/x-www-form-urlencoded` body.
fn form_get(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn form_encode(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A database of its own on the `--pg` server, dropped after: each run starts empty, as
/// the SQLite runs do, whatever earlier runs left in the given database.
struct FreshPg {
    admin: String,
    name: String,
    url: String,
}

impl FreshPg {
    async fn create(pg: &str, label: &str) -> anyhow::Result<FreshPg> {
        use sqlx::Connection;
        let name = format!("muster_bench_paging_{}_{label}", std::process::id());
        let mut url = reqwest::Url::parse(pg).context("--pg is not a URL")?;
        url.set_path(&format!("/{name}"));
        let mut admin = sqlx::PgConnection::connect(pg)
            .await
            .context("--pg database")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .context("creating the bench's database (the --pg role needs CREATEDB)")?;
        let _ = admin.close().await;
        Ok(FreshPg {
            admin: pg.to_string(),
            name,
            url: url.to_string(),
        })
    }

    async fn drop_database(self) {
        use sqlx::Connection;
        let dropped = async {
            let mut admin = sqlx::PgConnection::connect(&self.admin).await?;
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await?;
            admin.close().await
        };
        if let Err(e) = dropped.await {
            eprintln!("could not drop the bench database {}: {e}", self.name);
        }
    }
}
