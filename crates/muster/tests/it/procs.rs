//! Real `muster serve` processes for the tests that kill, restart or run several of them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
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
