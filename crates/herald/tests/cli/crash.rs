//! A send-worker killed with SIGKILL mid-broadcast: a new one finishes the
//! job, nothing is lost, and at most one message is sent twice.

use std::process::Stdio;
use std::time::Duration;

use herald_domain::{ChangeStatus, DeliveryStatus, NotificationStatus};
use herald_testkit::{TestHerald, content, emulator_config};
use tokio::process::{Child, Command};

fn send_worker(herald: &TestHerald) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .args(["send-worker", "--ops-listen", "127.0.0.1:0"])
        .envs(herald_app::worker_environment(&herald.settings))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command.spawn().unwrap()
}

/// Herald at 50/s with its prepare role only: the send-workers are
/// processes the test starts and kills.
async fn without_a_send_worker() -> TestHerald {
    let mut config = emulator_config(400);
    config.behaviour.global_rps = 50;
    let roles = herald_app::Roles {
        prepare: true,
        send: false,
        web: false,
    };
    TestHerald::start_roles(config, roles, |s| s.send.rate_per_second = 50.0).await
}

#[tokio::test]
async fn a_killed_send_worker_loses_nothing() {
    let herald = without_a_send_worker().await;
    let people: Vec<String> = herald
        .directory_users()
        .await
        .iter()
        .take(300)
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    let mut worker = send_worker(&herald);
    let id = herald
        .send_to(&content("Survives a crash"), &people)
        .await
        .unwrap();
    herald
        .wait_for(id, Duration::from_secs(60), |p| {
            p.count(DeliveryStatus::Delivered) >= 80
        })
        .await;

    worker.start_kill().unwrap(); // SIGKILL: no chance to flush anything
    worker.wait().await.unwrap();
    let at_crash = herald.progress(id).await;
    assert!(
        at_crash.unfinished() > 0,
        "killed mid-broadcast: {at_crash:?}"
    );

    let mut replacement = send_worker(&herald);
    let progress = herald.wait_until_ended(id, Duration::from_secs(120)).await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        300,
        "{progress:?}"
    );
    let stats = herald.emulator_stats().await;
    assert!(
        stats["duplicate_activities"].as_u64().unwrap() <= 1,
        "at most one duplicate per crash: {stats}"
    );
    assert_eq!(
        stats["activities_received"].as_u64().unwrap(),
        300 + stats["duplicate_activities"].as_u64().unwrap()
    );
    replacement.start_kill().unwrap();
    herald.stop().await;
}

/// What each of these people's chats holds now.
async fn chats(herald: &TestHerald, users: &[String]) -> Vec<Vec<serde_json::Value>> {
    let mut seen = Vec::with_capacity(users.len());
    for user in users {
        seen.push(herald.messages(user).await);
    }
    seen
}

#[tokio::test]
async fn a_send_worker_killed_during_a_recall_misses_nobody() {
    let herald = without_a_send_worker().await;
    let users: Vec<String> = herald
        .directory_users()
        .await
        .iter()
        .take(300)
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    let mut worker = send_worker(&herald);
    let id = herald
        .send_to(&content("Recalled through a crash"), &users)
        .await
        .unwrap();
    herald.wait_until_ended(id, Duration::from_secs(60)).await;

    // `herald recall`, as an operator would type it.
    let recall = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["recall", &id.to_string(), "--by", "Ops on call"])
        .envs(herald_app::worker_environment(&herald.settings))
        .output()
        .await
        .unwrap();
    assert!(
        recall.status.success(),
        "{}",
        String::from_utf8_lossy(&recall.stderr)
    );
    assert!(String::from_utf8_lossy(&recall.stderr).contains("300 cards are being deleted"));
    let recalled = || herald.change_count(id, ChangeStatus::Recalled);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while recalled().await < 60 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the recall did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.start_kill().unwrap(); // SIGKILL mid-recall
    worker.wait().await.unwrap();
    assert!(recalled().await < 300, "killed mid-recall");

    let mut replacement = send_worker(&herald);
    herald.wait_for_change(id, Duration::from_secs(120)).await;
    assert_eq!(recalled().await, 300);
    for (user, messages) in users.iter().zip(chats(&herald, &users).await) {
        assert_eq!(messages.len(), 1, "{user}");
        assert_eq!(messages[0]["deleted"], true, "{user} still sees it");
    }
    // `herald status` lists the recall and how it went.
    let status = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["status", &id.to_string()])
        .envs(herald_app::worker_environment(&herald.settings))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("version 2: recall by Ops on call"), "{text}");
    assert!(text.contains("recalled 300"), "{text}");
    replacement.start_kill().unwrap();
    herald.stop().await;
}
