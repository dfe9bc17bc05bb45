//! Herald's roles as separate `herald` processes on one test's database,
//! queue prefix and emulator, as production runs them. Each process's
//! standard output says where it listens; its standard error (JSON log
//! lines) is kept for the checks. A process is killed when it is dropped,
//! so a failing test leaves none behind.
//!
//! Shared by two test binaries, each of which uses part of it.
#![allow(dead_code)]

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_testkit::TestHerald;
use secrecy::ExposeSecret;
use serde_json::Value;
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Web,
    Prepare,
    Send,
}

impl Role {
    fn subcommand(self) -> &'static str {
        match self {
            Role::Web => "web",
            Role::Prepare => "prepare-worker",
            Role::Send => "send-worker",
        }
    }
}

pub struct Process {
    pub name: String,
    pub role: Role,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    /// `http://host:port` of `/healthz`, `/readyz` and `/metrics`.
    pub ops: String,
    /// `http://host:port` of the web UI (the web role only).
    pub web: Option<String>,
}

/// The `http://...` address in a line the binary prints, without its
/// trailing slash.
fn url_in(line: &str) -> Option<String> {
    let start = line.find("http://")?;
    let url = line[start..].split_whitespace().next()?;
    Some(url.trim_end_matches('/').to_owned())
}

impl Process {
    /// Starts `herald <role>` with the test's settings (and `extra`
    /// variables), and waits until it says it is running.
    pub async fn start(
        herald: &TestHerald,
        role: Role,
        name: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
        for (variable, _) in std::env::vars().filter(|(n, _)| n.starts_with("HERALD_")) {
            command.env_remove(variable);
        }
        command
            .args([role.subcommand(), "--ops-listen", "127.0.0.1:0"])
            .envs(herald_app::worker_environment(&herald.settings))
            .env("HERALD_WEB__LISTEN", "127.0.0.1:0")
            // Seven processes and other tests share one PostgreSQL.
            .env("HERALD_DATABASE__MAX_CONNECTIONS", "5")
            .env("HERALD_LOG__FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
        let collected = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                collected.lock().unwrap().push(line);
            }
        });
        let mut output = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut web = None;
        let ops = loop {
            let line = tokio::time::timeout_at(deadline, output.next_line()).await;
            match line {
                Ok(Ok(Some(line))) if line.starts_with("Web UI and bot endpoint on ") => {
                    web = url_in(&line);
                }
                Ok(Ok(Some(line))) if line.starts_with("Worker running;") => {
                    break url_in(&line).unwrap();
                }
                Ok(Ok(Some(_))) => {}
                outcome => panic!(
                    "{name} did not start ({}); its log:\n{}",
                    if outcome.is_err() {
                        "not running within 60 s"
                    } else {
                        "it exited"
                    },
                    log.lock().unwrap().join("\n")
                ),
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = output.next_line().await {} });
        if role == Role::Web {
            assert!(web.is_some(), "{name} printed no web address");
        }
        Self {
            name: name.to_owned(),
            role,
            child,
            log,
            ops,
            web,
        }
    }

    /// The web UI's address; panics for other roles.
    pub fn web(&self) -> &str {
        self.web.as_deref().expect("a web process")
    }

    /// Sends SIGTERM, as systemd, Kubernetes and `docker stop` do.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// SIGTERM, then the exit status, which must come `within`.
    pub async fn stop(&mut self, within: Duration) -> ExitStatus {
        self.terminate();
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "{} did not stop within {within:?} of SIGTERM; its log:\n{}",
                self.name,
                self.log.lock().unwrap().join("\n")
            ),
        }
    }

    /// Log lines at any of `levels`, and lines that are not JSON log
    /// entries at all (a panic's message, say).
    pub fn lines_at(&self, levels: &[&str]) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|line| match serde_json::from_str::<Value>(line) {
                Ok(entry) => entry["level"]
                    .as_str()
                    .is_some_and(|level| levels.contains(&level)),
                Err(_) => true,
            })
            .cloned()
            .collect()
    }

    /// The fields of the log entries whose message is `message`.
    pub fn logged(&self, message: &str) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .map(|entry| entry["fields"].clone())
            .filter(|fields| fields["message"] == message)
            .collect()
    }

    /// How many entries say `message` about `notification`.
    pub fn logged_about(&self, message: &str, notification: &str) -> usize {
        self.logged(message)
            .iter()
            .filter(|fields| fields["notification"] == notification)
            .count()
    }

    /// The sum of a metric's series whose labels contain `labels` (e.g.
    /// `outcome="delivered"`; empty for all of them).
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.ops))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.rsplit_once(' '))
            .filter(|(series, _)| {
                let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
                metric == name && rest.contains(labels)
            })
            .map(|(_, value)| value.parse::<f64>().unwrap())
            .sum()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Already gone after `stop`; otherwise a failing test's leftovers.
        let _ = self.child.start_kill();
    }
}

/// Starts the same role in several processes at once.
pub async fn start_many(herald: &TestHerald, role: Role, names: &[&str]) -> Vec<Process> {
    start_many_with(herald, role, names, &[]).await
}

pub async fn start_many_with(
    herald: &TestHerald,
    role: Role,
    names: &[&str],
    extra: &[(&str, &str)],
) -> Vec<Process> {
    let starts = names
        .iter()
        .map(|name| Process::start(herald, role, name, extra));
    futures_util::future::join_all(starts).await
}

/// Waits until `live` processes of a role (`send`, `prepare`) share its
/// rates, each having taken its share of them: every one of them has
/// announced itself again since the last of them joined.
pub async fn wait_until_sharing(herald: &TestHerald, role: &str, live: i64) {
    let url = herald.settings.database.url.expose_secret();
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    let since: time::OffsetDateTime = sqlx::query_scalar("select now()")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (present, fresh): (i64, i64) = sqlx::query_as(
            "select count(*), count(*) filter (where last_seen > $2) from workers \
             where role = $1 and last_seen > now() - interval '3 seconds'",
        )
        .bind(role)
        .bind(since)
        .fetch_one(&mut db)
        .await
        .unwrap();
        if present == live && fresh == live {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{present} {role} workers live, {fresh} of them fresh; expected {live}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The emulator's count for an endpoint in one of its stats maps.
pub fn count(stats: &Value, map: &str, endpoint: &str) -> u64 {
    stats[map][endpoint].as_u64().unwrap_or(0)
}
