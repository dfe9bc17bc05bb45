//! RabbitMQ restarted mid-broadcast: workers reconnect and finish, nothing
//! is lost. This binary holds one test because it restarts the shared
//! broker; cargo runs test binaries one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use herald_domain::{DeliveryStatus, NotificationStatus};
use herald_testkit::{TestHerald, content, emulator_config};

async fn rabbitmqctl(args: &[&str]) {
    let status = tokio::process::Command::new("rabbitmqctl")
        .args(args)
        .status()
        .await
        .expect("rabbitmqctl runs");
    assert!(status.success(), "rabbitmqctl {args:?} failed");
}

#[tokio::test]
async fn a_broker_restart_mid_broadcast_loses_nothing() {
    let mut config = emulator_config(400);
    config.behaviour.global_rps = 50;
    let herald = TestHerald::start(config, |s| s.send.rate_per_second = 50.0).await;
    let people: Vec<String> = herald
        .directory_users()
        .await
        .iter()
        .take(300)
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    let id = herald
        .send_to(&content("Survives a broker restart"), &people)
        .await
        .unwrap();
    herald
        .wait_for(id, Duration::from_secs(60), |p| {
            p.count(DeliveryStatus::Delivered) >= 50
        })
        .await;

    rabbitmqctl(&["stop_app"]).await;
    rabbitmqctl(&["start_app"]).await;
    rabbitmqctl(&["await_startup"]).await;

    let progress = herald.wait_until_ended(id, Duration::from_secs(180)).await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        300,
        "{progress:?}"
    );
    let stats = herald.emulator_stats().await;
    assert!(
        stats["duplicate_activities"].as_u64().unwrap() <= 1,
        "{stats}"
    );
    herald.stop().await;
}
