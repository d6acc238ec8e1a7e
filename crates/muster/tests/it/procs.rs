//! Real `muster serve` processes for the tests that kill, restart or run several of them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use muster_store::{AlertFilter, Store, StoredAlert};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_muster")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `muster serve`; killed with SIGKILL when dropped or by [`Server::kill_9`].
pub struct Server {
    child: Option<Child>,
    pub url: String,
}

impl Server {
    /// Starts `muster serve` on a fresh port with `envs`; returns once it accepts connections.
    pub fn start(config: &Path, db: &str, envs: &[(&str, &str)]) -> Server {
        Server::start_with(config, db, |cmd| {
            for (k, v) in envs {
                cmd.env(k, v);
            }
        })
    }

    /// Starts `muster serve` with its command adjusted by `configure` (environment).
    pub fn start_with(config: &Path, db: &str, configure: impl FnOnce(&mut Command)) -> Server {
        let listen = format!("127.0.0.1:{}", free_port());
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--config"])
            .arg(config)
            .args(["--db", db, "--listen", &listen])
            .env_remove("MUSTER_DB")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        configure(&mut cmd);
        let child = cmd.spawn().expect("spawn serve");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&listen).is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(25));
        }
        Server {
            child: Some(child),
            url: format!("http://{listen}"),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends a signal by name (`STOP`, `CONT`) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// `Child::kill` is SIGKILL on Unix: no shutdown code runs.
    pub fn kill_9(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `muster serve` nodes on one database, each restarted in place; `urls` is what load clients
/// read. Each start logs (`MUSTER_LOG=info`) to its own file in `logs`; no outside provider
/// is configured.
pub struct Nodes {
    pub servers: Vec<Option<Server>>,
    pub urls: Arc<Mutex<Vec<String>>>,
    config: PathBuf,
    db: String,
    logs: PathBuf,
    starts: usize,
}

impl Nodes {
    pub fn new(count: usize, config: &Path, db: &str, logs: &Path) -> Nodes {
        let mut nodes = Nodes {
            servers: (0..count).map(|_| None).collect(),
            urls: Arc::new(Mutex::new(vec![String::new(); count])),
            config: config.to_path_buf(),
            db: db.to_string(),
            logs: logs.to_path_buf(),
            starts: 0,
        };
        for i in 0..count {
            nodes.start(i);
        }
        nodes
    }

    pub fn start(&mut self, i: usize) {
        self.starts += 1;
        let log = std::fs::File::create(self.logs.join(format!("node{i}-{}.log", self.starts)))
            .expect("node log");
        let err = log.try_clone().expect("log handle");
        let server = tokio::task::block_in_place(|| {
            Server::start_with(&self.config, &self.db, |cmd| {
                cmd.stdout(log)
                    .stderr(err)
                    .env("MUSTER_LOG", "info")
                    .env_remove("MUSTER_SLACK_API_URL")
                    .env_remove("MUSTER_SLACK_BOT_TOKEN")
                    .env_remove("MUSTER_SMTP_URL")
                    .env_remove("MUSTER_SMS_API_URL");
            })
        });
        self.urls.lock().expect("urls")[i] = server.url.clone();
        self.servers[i] = Some(server);
    }

    pub fn server(&self, i: usize) -> &Server {
        self.servers[i].as_ref().expect("node running")
    }

    pub fn kill_9(&mut self, i: usize) {
        if let Some(server) = self.servers[i].take() {
            server.kill_9();
        }
    }

    pub fn kill_all(&mut self) {
        for i in 0..self.servers.len() {
            self.kill_9(i);
        }
    }
}

/// `muster token create` straight into `db`; the token.
pub fn token(db: &str, name: &str, role: &str) -> String {
    let out = Command::new(bin())
        .args([
            "token", "create", "--name", name, "--role", role, "--db", db,
        ])
        .env_remove("MUSTER_DB")
        .output()
        .expect("token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    stdout.lines().last().unwrap_or("").trim().to_string()
}

/// Every stored alert of `integration`, paging through the store's alert list (newest first).
pub async fn stored_alerts(store: &Store, integration: &str) -> Vec<StoredAlert> {
    let mut alerts = Vec::new();
    let mut before = None;
    loop {
        let filter = AlertFilter {
            integration: Some(integration.into()),
            limit: Some(500),
            before,
            ..Default::default()
        };
        let page = store.alerts(&filter).await.expect("alerts");
        let Some(last) = page.last() else {
            return alerts;
        };
        before = Some(last.id);
        alerts.extend(page);
    }
}
