//! RabbitMQ restarted mid-broadcast, then mid-edit: workers reconnect and
//! finish, nothing is lost, nobody sees two messages. This binary holds
//! one test because it restarts the shared broker; cargo runs test
//! binaries one at a time.
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
    let duplicates = stats["duplicate_activities"].as_u64().unwrap() as usize;
    edit_survives_a_restart(&herald, id, duplicates).await;
    herald.stop().await;
}

/// The same announcement edited, RabbitMQ restarted while the cards are
/// being replaced: every chat ends with its one message, in version 2.
async fn edit_survives_a_restart(
    herald: &TestHerald,
    id: herald_domain::NotificationId,
    sent_twice: usize,
) {
    let corrected = content("Survives a broker restart, corrected");
    let change = herald_store::NewChange {
        kind: herald_domain::ChangeKind::Edit,
        content: Some(&corrected),
        mark_edited: true,
        notify: false,
        by: "tests",
    };
    let started = herald_prepare::change(herald.store(), herald.broker(), id, &change)
        .await
        .unwrap();
    assert_eq!(started.recipients.len(), 300);
    let updated = || herald.change_count(id, herald_domain::ChangeStatus::Updated);
    while updated().await < 50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    rabbitmqctl(&["stop_app"]).await;
    rabbitmqctl(&["start_app"]).await;
    rabbitmqctl(&["await_startup"]).await;

    herald.wait_for_change(id, Duration::from_secs(180)).await;
    assert_eq!(updated().await, 300);
    let progress = herald.progress(id).await;
    let mut extra = 0;
    for line in herald.store().deliveries(id).await.unwrap() {
        let user = line.recipient.0.to_string();
        let messages = herald.messages(&user).await;
        let edited = messages.iter().filter(|m| m["version"] == 2).count();
        assert_eq!(edited, 1, "{user}: the edit replaced their card once");
        extra += messages.len() - 1;
    }
    // Only a copy the send's own restart posted twice (at most one) can
    // stand beside an edited card; the edit adds none.
    assert_eq!(extra, sent_twice);
    assert_eq!(progress.count(DeliveryStatus::Delivered), 300);
}
