use std::collections::HashMap;
use std::time::Duration;

use herald_domain::audience::Target;
use herald_domain::{
    Audience, DeliveryStatus, NotificationId, NotificationStatus, RecipientId, UserRef,
};
use herald_store::{Origin, Outcome};
use herald_testkit::{TestHerald, content, emulator_config};
use serde_json::Value;

fn upn(user: &Value) -> String {
    user["userPrincipalName"].as_str().unwrap().to_owned()
}

/// What the emulator's directory says should become of a user.
fn expected(user: &Value) -> DeliveryStatus {
    if user["userType"] == "Guest" || user["accountEnabled"] == false {
        DeliveryStatus::Skipped
    } else if user["departing"] == true {
        DeliveryStatus::Gone
    } else if user["blockedBot"] == true {
        DeliveryStatus::Blocked
    } else {
        DeliveryStatus::Delivered
    }
}

#[tokio::test]
async fn every_recipient_gets_exactly_one_message_and_a_true_status() {
    let mut config = emulator_config(400);
    config.directory.blocked_fraction = 0.06;
    config.directory.departing_fraction = 0.06;
    config.directory.guest_fraction = 0.04;
    config.directory.disabled_fraction = 0.03;
    config.behaviour.fault_rate = 0.15;
    config.behaviour.global_rps = 0;
    let herald = TestHerald::start(config, |_| {}).await;

    let users: Vec<Value> = herald
        .directory_users()
        .await
        .into_iter()
        .filter(|u| u["removed"] == false)
        .take(200)
        .collect();
    let id = herald
        .send_to(
            &content("Exactly once"),
            &users.iter().map(upn).collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    let progress = herald.wait_until_ended(id, Duration::from_secs(120)).await;

    assert_eq!(
        progress.notification.status,
        NotificationStatus::Sent,
        "{progress:?}"
    );
    assert_eq!(progress.total(), 200);
    assert_eq!(progress.unfinished(), 0);
    assert!(
        progress.notification.first_delivery_at.is_some()
            && progress.notification.completed_at.is_some()
    );

    let deliveries = herald.store().deliveries(id).await.unwrap();
    let by_recipient: HashMap<String, _> = deliveries
        .iter()
        .map(|d| (d.recipient.to_string(), d))
        .collect();
    let mut retried_and_delivered = 0;
    for user in &users {
        let delivery = by_recipient[user["id"].as_str().unwrap()];
        assert_eq!(delivery.status, expected(user), "{user} -> {delivery:?}");
        if delivery.status == DeliveryStatus::Delivered {
            assert!(delivery.activity_id.is_some());
            if delivery.attempts > 1 {
                retried_and_delivered += 1;
            }
        }
    }
    for status in DeliveryStatus::FINAL {
        let counted = deliveries.iter().filter(|d| d.status == *status).count() as i64;
        assert_eq!(
            progress.count(*status),
            counted,
            "count of {status} kept incrementally"
        );
    }
    assert!(
        retried_and_delivered > 0,
        "transient faults were retried and delivered"
    );

    let stats = herald.emulator_stats().await;
    assert_eq!(stats["duplicate_activities"], 0);
    assert!(stats["faults_injected"].as_u64().unwrap() > 0);
    for user in users
        .iter()
        .filter(|u| expected(u) == DeliveryStatus::Delivered)
    {
        assert_eq!(
            herald.messages(user["id"].as_str().unwrap()).await.len(),
            1,
            "{user}"
        );
    }
    let card = &herald
        .messages(
            users
                .iter()
                .find(|u| expected(u) == DeliveryStatus::Delivered)
                .unwrap()["id"]
                .as_str()
                .unwrap(),
        )
        .await[0]["activity"];
    assert_eq!(card["summary"], "Exactly once");
    assert_eq!(card["attachments"][0]["content"]["version"], "1.5");
    herald.stop().await;
}

#[tokio::test]
async fn the_send_rate_stays_under_the_tenant_limit() {
    let mut config = emulator_config(200);
    config.behaviour.global_rps = 40;
    let herald = TestHerald::start(config, |s| s.send.rate_per_second = 40.0).await;
    let users: Vec<String> = herald
        .directory_users()
        .await
        .iter()
        .map(upn)
        .take(120)
        .collect();
    let id = herald.send_to(&content("Paced"), &users).await.unwrap();
    let progress = herald.wait_until_ended(id, Duration::from_secs(60)).await;
    assert_eq!(progress.count(DeliveryStatus::Delivered), 120);
    let stats = herald.emulator_stats().await;
    let sends = "POST /teams/v3/conversations/{id}/activities";
    assert!(
        stats["throttled_by_endpoint"][sends].is_null(),
        "never over the limit: {stats}"
    );
    herald.stop().await;
}

#[tokio::test]
async fn throttled_sends_wait_and_are_delivered() {
    // Herald believes it may send at 100/s, the tenant allows 20/s: 429s
    // come back, Herald slows down, honours Retry-After and still delivers.
    let mut config = emulator_config(200);
    config.behaviour.global_rps = 20;
    let herald = TestHerald::start(config, |s| s.send.rate_per_second = 100.0).await;
    // Chats known already, so that all hundred are queued at once (found
    // through Graph, they would trickle in under Graph's own limits).
    let users =
        herald_testkit::seed_known_conversations(herald.store(), &herald.emulator.urls, 100)
            .await
            .unwrap();
    let id = herald.send_to(&content("Throttled"), &users).await.unwrap();
    let progress = herald.wait_until_ended(id, Duration::from_secs(90)).await;
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        100,
        "{progress:?}"
    );
    let stats = herald.emulator_stats().await;
    assert!(stats["throttled"].as_u64().unwrap() > 0);
    assert_eq!(stats["duplicate_activities"], 0);
    let throttles: i32 = herald
        .store()
        .deliveries(id)
        .await
        .unwrap()
        .iter()
        .map(|d| d.throttles)
        .sum();
    assert!(throttles > 0, "throttles are recorded per delivery");
    herald.stop().await;
}

/// The first message out makes a notification `sending`, while its
/// audience may still be resolving (`prepared` not yet set): the status
/// page's badge must not read "Preparing" while cards arrive.
#[tokio::test]
async fn the_first_message_out_makes_a_notification_sending() {
    let herald = TestHerald::start(emulator_config(5), |_| {}).await;
    let store = herald.store();
    let people = herald_testkit::seed_known_conversations(store, &herald.emulator.urls, 2)
        .await
        .unwrap();
    let people: Vec<RecipientId> = people
        .iter()
        .map(|p| RecipientId(p.parse().unwrap()))
        .collect();
    // Stored as `herald send` stores it, but never queued: only what this
    // test records happens to it.
    let id = NotificationId::new();
    let audience = Audience::new(vec![Target::Users {
        source: "test".to_owned(),
        users: people.iter().map(|p| UserRef::ObjectId(p.0)).collect(),
    }])
    .unwrap();
    store
        .create_notification(
            id,
            &content("Half prepared"),
            &audience,
            "tests",
            Origin::Announcement,
        )
        .await
        .unwrap();
    let rows: Vec<_> = people
        .iter()
        .map(|p| (*p, DeliveryStatus::Queued, None))
        .collect();
    store.insert_deliveries(id, &rows).await.unwrap();
    let status = |s| async move { store.notification(s).await.unwrap().unwrap() };
    assert_eq!(status(id).await.status, NotificationStatus::Preparing);

    store
        .record_outcomes(&[Outcome {
            notification: id,
            recipient: people[0],
            status: DeliveryStatus::Delivered,
            attempt: Some(1),
            throttled: false,
            http_status: Some(201),
            error_code: None,
            error_message: None,
            activity_id: Some("1".to_owned()),
            version: 1,
        }])
        .await
        .unwrap();
    let record = status(id).await;
    assert_eq!(record.status, NotificationStatus::Sending);
    assert!(!record.prepared, "the audience is not known to be complete");
    assert!(record.first_delivery_at.is_some());
    // Not complete until prepared, though nothing else is queued yet.
    assert!(store.complete_finished(&[id]).await.unwrap().is_empty());
    herald.stop().await;
}
