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

#[tokio::test]
async fn a_stored_conversation_that_is_gone_is_resolved_again() {
    let herald = TestHerald::start(emulator_config(30), |_| {}).await;
    let users = herald.directory_users().await;
    let person = &users[5];
    let people = vec![person["userPrincipalName"].as_str().unwrap().to_owned()];
    let recipient: herald_domain::RecipientId = person["id"].as_str().unwrap().parse().unwrap();
    // Herald learned a conversation once that no longer exists in Teams.
    herald
        .store()
        .upsert_people(&[herald_store::Person {
            id: recipient,
            user_principal_name: people[0].clone(),
            display_name: "Stale".into(),
            user_type: "Member".into(),
            account_enabled: true,
            tenant_id: herald.emulator.urls.tenant_id.clone(),
            conversation_id: Some("19:long-gone@unq.gbl.spaces".into()),
            service_url: Some(herald.emulator.urls.service_url.clone()),
        }])
        .await
        .unwrap();

    let first = herald.send_to(&content("Stale"), &people).await.unwrap();
    let progress = herald
        .wait_until_ended(first, Duration::from_secs(30))
        .await;
    assert_eq!(progress.count(DeliveryStatus::Gone), 1, "{progress:?}");

    let second = herald.send_to(&content("Fresh"), &people).await.unwrap();
    let progress = herald
        .wait_until_ended(second, Duration::from_secs(30))
        .await;
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        1,
        "resolved again, not reused: {progress:?}"
    );
    assert_eq!(
        herald.messages(person["id"].as_str().unwrap()).await.len(),
        1
    );
    herald.stop().await;
}

#[tokio::test]
async fn refused_graph_credentials_fail_the_notification_clearly() {
    let herald = TestHerald::start(emulator_config(20), |s| {
        s.microsoft.app_secret = Some("expired-secret".to_owned().into())
    })
    .await;
    let people: Vec<String> = herald
        .directory_users()
        .await
        .iter()
        .take(3)
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    let id = herald
        .send_to(&content("No credentials"), &people)
        .await
        .unwrap();
    let progress = herald.wait_until_ended(id, Duration::from_secs(30)).await;
    assert_eq!(
        progress.notification.status,
        herald_domain::NotificationStatus::Failed
    );
    let error = progress.notification.error.clone().unwrap();
    assert!(
        error.contains("invalid_client") && error.contains("app_secret"),
        "{error}"
    );
    assert_eq!(progress.total(), 0);
    herald.stop().await;
}
