//! A private PostgreSQL cluster for the tests that restart the database server, so the shared
//! server the other tests use is never touched: its own data directory in a temporary
//! directory, a free port, its socket in that directory, trust authentication. Stopped and
//! removed when dropped, the test failing or not.
//!
//! The server binaries come from `MUSTER_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`,
//! else `pg_config --bindir`. PostgreSQL refuses to run as root: as root, the cluster belongs
//! to the `postgres` OS user and its commands run through `runuser`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::procs::free_port;

pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// Run the server's commands as the `postgres` OS user (the tests run as root).
    as_postgres: bool,
    running: bool,
}

fn has_server(dir: &Path) -> bool {
    dir.join("pg_ctl").is_file() && dir.join("initdb").is_file()
}

/// The directory of `initdb` and `pg_ctl`, if installed.
fn find_bin() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("MUSTER_PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|d| has_server(d));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| has_server(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Some(dir).filter(|d| has_server(d))
}

/// `id -u|-g postgres`.
fn postgres_id(flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .expect("run id");
    assert!(
        out.status.success(),
        "running as root, and there is no `postgres` OS user to run a PostgreSQL cluster as"
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("numeric id")
}

impl Cluster {
    /// Initialises and starts a cluster. `None` when the PostgreSQL server binaries are not
    /// installed; under `CI=true` that is a failure, never a skip.
    pub fn start() -> Option<Cluster> {
        let Some(bin) = find_bin() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true and the PostgreSQL server binaries (initdb, pg_ctl) are not installed: \
                 install postgresql or set MUSTER_PG_BIN to their directory"
            );
            eprintln!("PostgreSQL server binaries not found: skipping the private-cluster test");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let as_postgres = std::fs::metadata(dir.path()).expect("stat").uid() == 0;
        if as_postgres {
            std::os::unix::fs::chown(dir.path(), Some(postgres_id("-u")), Some(postgres_id("-g")))
                .expect("chown the cluster directory to postgres");
        }
        let mut cluster = Cluster {
            dir,
            bin,
            port: free_port(),
            as_postgres,
            running: false,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let settings = format!(
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             max_connections = 200\nfsync = on\n",
            cluster.port,
            cluster.dir.path().display()
        );
        let conf = Path::new(&cluster.data()).join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("read postgresql.conf");
        text.push_str(&settings);
        std::fs::write(&conf, text).expect("write postgresql.conf");
        cluster.pg_ctl(&["start"]);
        cluster.running = true;
        Some(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl restart -m MODE` (`fast`: clients disconnected, a clean shutdown; `immediate`:
    /// no shutdown, crash recovery on start); returns once the server accepts connections.
    pub fn restart(&self, mode: &str) {
        self.pg_ctl(&["restart", "-m", mode]);
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn pg_ctl(&self, args: &[&str]) {
        let log = self.dir.path().join("server.log").display().to_string();
        let mut all = vec!["-D", &self.data(), "-l", &log, "-w", "-t", "120"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.run("pg_ctl", &all);
    }

    /// One of the server's programs, as the `postgres` OS user when the tests run as root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// Runs one of the server's programs; its output goes to `commands.log` (never a pipe: the
    /// server `pg_ctl` starts would inherit it).
    fn run(&self, program: &str, args: &[&str]) {
        let mut cmd = self.command(program);
        let log_path = self.dir.path().join("commands.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open commands.log");
        let status = cmd
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .status()
            .expect("run a PostgreSQL program");
        if !status.success() {
            let commands = std::fs::read_to_string(&log_path).unwrap_or_default();
            let server =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            panic!("{program} {args:?}: {status}\n{commands}\n--- server.log ---\n{server}");
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = self
                .command("pg_ctl")
                .args(["-D", &data, "-m", "immediate", "-w", "stop"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
