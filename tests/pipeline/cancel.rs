use std::time::{Duration, Instant};

use herald_domain::{DeliveryStatus, NotificationStatus};
use herald_testkit::{TestHerald, content, emulator_config};

#[tokio::test]
async fn cancel_stops_sending_within_a_second() {
    let mut config = emulator_config(300);
    config.behaviour.global_rps = 20;
    let herald = TestHerald::start(config, |s| s.send.rate_per_second = 20.0).await;
    let users: Vec<String> = herald
        .directory_users()
        .await
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .take(250)
        .collect();
    let id = herald
        .send_to(&content("Canceled midway"), &users)
        .await
        .unwrap();
    herald
        .wait_for(id, Duration::from_secs(60), |p| {
            p.count(DeliveryStatus::Delivered) >= 20
        })
        .await;

    assert!(
        herald
            .store()
            .cancel_notification(id, "tests")
            .await
            .unwrap()
    );
    let canceled_at = Instant::now();
    // Sampled until a second has passed, then again two seconds later: the
    // count must not move after the first second.
    let mut after_a_second = None;
    while canceled_at.elapsed() < Duration::from_secs(3) {
        let received = herald.emulator_stats().await["activities_received"]
            .as_u64()
            .unwrap();
        if canceled_at.elapsed() >= Duration::from_secs(1) && after_a_second.is_none() {
            after_a_second = Some(received);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let finally = herald.emulator_stats().await["activities_received"]
        .as_u64()
        .unwrap();
    assert_eq!(
        Some(finally),
        after_a_second,
        "no sends more than a second after the cancel"
    );

    let progress = herald.progress(id).await;
    assert_eq!(progress.notification.status, NotificationStatus::Canceled);
    assert_eq!(progress.notification.canceled_by.as_deref(), Some("tests"));
    let text = herald_app::report::progress_text(&progress);
    assert!(text.contains("canceled by tests"), "{text}");
    assert!(
        progress.count(DeliveryStatus::Canceled) > 100,
        "{progress:?}"
    );
    assert_eq!(
        progress.count(DeliveryStatus::Delivered) as u64,
        finally,
        "delivered means Teams got it"
    );
    assert_eq!(progress.total(), 250);
    assert_eq!(progress.unfinished(), 0);
    assert!(
        !herald
            .store()
            .cancel_notification(id, "tests")
            .await
            .unwrap(),
        "a second cancel changes nothing"
    );
    herald.stop().await;
}
