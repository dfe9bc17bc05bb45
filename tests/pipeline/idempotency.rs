use std::time::Duration;

use herald_domain::DeliveryStatus;
use herald_queue::{Route, SendMessage};
use herald_testkit::{TestHerald, content, emulator_config};

#[tokio::test]
async fn a_redelivered_message_for_a_final_recipient_is_skipped() {
    let herald = TestHerald::start(emulator_config(30), |_| {}).await;
    let users = herald.directory_users().await;
    let people: Vec<String> = users
        .iter()
        .take(5)
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    let id = herald.send_to(&content("Once"), &people).await.unwrap();
    let progress = herald.wait_until_ended(id, Duration::from_secs(30)).await;
    assert_eq!(progress.count(DeliveryStatus::Delivered), 5);

    let recipient = users[0]["id"].as_str().unwrap().parse().unwrap();
    let duplicate = SendMessage {
        notification: id.0,
        recipient,
        attempt: 0,
    };
    herald
        .broker()
        .publish(Route::Send, &[duplicate, duplicate])
        .await
        .unwrap();
    let metrics = &herald.running().metrics;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while metrics.counter(herald_send::metric::SKIPPED_MESSAGES, &[]) < 2.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the duplicates were not consumed: {} depth {:?}",
            metrics.render(),
            herald
                .broker()
                .depth(&herald.broker().topology().send_queue())
                .await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        herald
            .messages(users[0]["id"].as_str().unwrap())
            .await
            .len(),
        1
    );
    assert_eq!(herald.emulator_stats().await["duplicate_activities"], 0);
    herald.stop().await;
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let herald = TestHerald::start(emulator_config(10), |_| {}).await;
    let base = format!("http://{}", herald.running().ops.address);
    assert_eq!(
        herald
            .http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        herald
            .http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let people: Vec<String> = herald
        .directory_users()
        .await
        .iter()
        .take(3)
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    let id = herald.send_to(&content("Metrics"), &people).await.unwrap();
    herald.wait_until_ended(id, Duration::from_secs(30)).await;
    // The rate gauge appears with the first heartbeat after the first send.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = herald
            .http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("herald_rate_per_second{limit=\"send:") {
            assert!(
                text.contains("herald_sends_total{outcome=\"delivered\"} 3"),
                "{text}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    herald.stop().await;
}
