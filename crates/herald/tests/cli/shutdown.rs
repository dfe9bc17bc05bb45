//! A send-worker stopped with SIGTERM mid-broadcast, as a rolling restart
//! does: it closes its RabbitMQ connections cleanly (nothing in its own log
//! or in RabbitMQ's), and another worker finishes the broadcast with
//! nothing lost and nothing sent twice.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_domain::{DeliveryStatus, NotificationStatus};
use herald_testkit::{TestHerald, content, emulator_config};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A send-worker whose stderr (JSON log lines) is collected.
fn send_worker(herald: &TestHerald, log: &Arc<Mutex<Vec<String>>>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .args(["send-worker", "--ops-listen", "127.0.0.1:0"])
        .envs(herald_app::worker_environment(&herald.settings))
        .env("HERALD_LOG__FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            log.lock().unwrap().push(line);
        }
    });
    child
}

/// RabbitMQ's log from the moment the test began.
struct BrokerLog {
    path: PathBuf,
    start: u64,
}

impl BrokerLog {
    fn open() -> Self {
        let path = std::fs::read_dir("/var/log/rabbitmq")
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|path| {
                let name = path.file_name().unwrap().to_string_lossy();
                name.starts_with("rabbit@") && name.ends_with(".log") && !name.contains("upgrade")
            })
            .expect("RabbitMQ's log in /var/log/rabbitmq");
        let start = std::fs::metadata(&path).unwrap().len();
        Self { path, start }
    }

    /// Entries written since the start; an entry's continuation lines
    /// (the reason a connection closed, for one) stay with it.
    fn entries(&self) -> Vec<String> {
        let mut file = std::fs::File::open(&self.path).unwrap();
        file.seek(SeekFrom::Start(self.start)).unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        let mut entries: Vec<String> = Vec::new();
        for line in String::from_utf8_lossy(&bytes).lines() {
            let starts_entry = line.get(..4).is_some_and(|y| y.parse::<u16>().is_ok());
            match entries.last_mut() {
                Some(last) if !starts_entry => {
                    last.push('\n');
                    last.push_str(line);
                }
                _ => entries.push(line.to_owned()),
            }
        }
        entries
    }

    /// The entries about the connections named `name`, once RabbitMQ has
    /// logged how each of them ended.
    async fn connection_entries(&self, name: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let entries = self.entries();
            let connections: Vec<String> = entries
                .iter()
                .filter(|e| e.contains(name) && e.contains("authenticated"))
                .filter_map(|e| e.split_whitespace().nth(3).map(str::to_owned))
                .collect();
            let about = |connection: &String| -> Vec<String> {
                entries
                    .iter()
                    .filter(|e| e.contains(connection.as_str()))
                    .cloned()
                    .collect()
            };
            let ended = |connection: &String| {
                about(connection).iter().any(|e| {
                    e.contains("closing AMQP connection") || e.contains("Error on AMQP connection")
                })
            };
            if !connections.is_empty() && connections.iter().all(ended) {
                return connections.iter().flat_map(about).collect();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "RabbitMQ never logged the end of {name}'s connections {connections:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn terminate(child: &Child) {
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Warnings and errors in a worker's JSON log.
fn warnings(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            matches!(entry["level"].as_str(), Some("WARN" | "ERROR"))
                || !line.trim_start().starts_with('{')
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_terminated_send_worker_closes_its_connections_cleanly() {
    let broker_log = BrokerLog::open();
    let mut config = emulator_config(400);
    config.behaviour.global_rps = 50;
    let roles = herald_app::Roles {
        prepare: true,
        send: false,
        web: false,
    };
    let herald = TestHerald::start_roles(config, roles, |s| s.send.rate_per_second = 50.0).await;
    let people: Vec<String> = herald
        .directory_users()
        .await
        .iter()
        .take(300)
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut worker = send_worker(&herald, &log);
    let name = format!(
        "herald {} pid {}",
        herald.settings.broker.prefix,
        worker.id().unwrap()
    );
    let id = herald
        .send_to(&content("Survives a restart"), &people)
        .await
        .unwrap();
    herald
        .wait_for(id, Duration::from_secs(60), |p| {
            p.count(DeliveryStatus::Delivered) >= 80
        })
        .await;

    terminate(&worker);
    let status = tokio::time::timeout(Duration::from_secs(40), worker.wait())
        .await
        .expect("the worker stops within 40 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    let at_stop = herald.progress(id).await;
    assert!(
        at_stop.unfinished() > 0,
        "stopped mid-broadcast: {at_stop:?}"
    );
    let warned = warnings(&log);
    assert!(
        warned.is_empty(),
        "the worker's log has warnings or errors:\n{}",
        warned.join("\n")
    );
    let entries = broker_log.connection_entries(&name).await;
    let bad: Vec<&String> = entries
        .iter()
        .filter(|e| {
            [
                "[error]",
                "[warning]",
                "UNEXPECTED",
                "unexpected",
                "abruptly",
            ]
            .iter()
            .any(|sign| e.contains(sign))
        })
        .collect();
    assert!(bad.is_empty(), "RabbitMQ logged: {bad:#?}");

    let replacement_log = Arc::new(Mutex::new(Vec::new()));
    let replacement = send_worker(&herald, &replacement_log);
    let progress = herald.wait_until_ended(id, Duration::from_secs(120)).await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        300,
        "{progress:?}"
    );
    let stats = herald.emulator_stats().await;
    assert_eq!(
        stats["duplicate_activities"], 0,
        "a clean stop sends nothing twice: {stats}"
    );
    terminate(&replacement);
    herald.stop().await;
}
