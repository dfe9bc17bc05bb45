use std::time::Duration;

use herald_domain::DeliveryStatus;
use herald_testkit::{TestHerald, content, emulator_config};

#[tokio::test]
async fn people_without_the_app_get_it_installed_once() {
    let mut config = emulator_config(60);
    config.directory.installed_fraction = 0.0;
    let herald = TestHerald::start(config, |_| {}).await;
    let users = herald.directory_users().await;
    let people: Vec<String> = users
        .iter()
        .take(25)
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();

    let first = herald
        .send_to(&content("Installed for you"), &people)
        .await
        .unwrap();
    let progress = herald
        .wait_until_ended(first, Duration::from_secs(60))
        .await;
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        25,
        "{progress:?}"
    );
    let stats = herald.emulator_stats().await;
    assert_eq!(stats["installs"], 25);
    let installed_reads = |stats: &serde_json::Value| {
        stats["requests"]["GET /graph/v1.0/users/{id}/teamwork/installedApps"]
            .as_u64()
            .unwrap_or(0)
    };
    let reads_after_first = installed_reads(&stats);
    for user in users.iter().take(25) {
        assert_eq!(herald.messages(user["id"].as_str().unwrap()).await.len(), 1);
    }

    // The conversations are stored now: a second broadcast installs nothing
    // and asks Graph for no chat.
    let second = herald
        .send_to(&content("Second broadcast"), &people)
        .await
        .unwrap();
    let progress = herald
        .wait_until_ended(second, Duration::from_secs(60))
        .await;
    assert_eq!(progress.count(DeliveryStatus::Delivered), 25);
    let stats = herald.emulator_stats().await;
    assert_eq!(stats["installs"], 25);
    assert_eq!(installed_reads(&stats), reads_after_first);
    assert_eq!(stats["duplicate_activities"], 0);
    herald.stop().await;
}
