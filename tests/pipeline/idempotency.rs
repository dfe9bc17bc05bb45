use std::time::Duration;

use herald_domain::DeliveryStatus;
use herald_queue::{Route, SendMessage};
use herald_testkit::{TestHerald, content, emulator_config};
use secrecy::ExposeSecret;
use sqlx::Connection;

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
    let duplicate = SendMessage::post(id.0, recipient, 0);
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

/// Two copies of one message that both post make the same attempt: the
/// delivery records that attempt once, so the retry either copy published
/// carries the delivery's own number and is taken, not skipped as stale
/// (which left the delivery `retrying` for good).
#[tokio::test]
async fn two_copies_failing_at_once_record_one_attempt() {
    let herald = TestHerald::start(emulator_config(30), |s| {
        s.send.rate_per_second = 2.0;
        s.send.max_attempts = 20;
    })
    .await;
    let people: Vec<String> = herald.directory_users().await[3..8]
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    let id = herald.send_to(&content("Retried"), &people).await.unwrap();
    let store = herald.store();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // Everyone's chat known and their message queued (installs done).
    while !queued_for_all(store, id, people.len()).await {
        assert!(tokio::time::Instant::now() < deadline, "never queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // From now on every post fails (502/503/504) and is retried.
    let faults = herald
        .http
        .post(format!("{}/config", herald.emulator.urls.control))
        .json(&serde_json::json!({"fault_rate": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(faults.status(), 200);
    let row = loop {
        let rows = store.deliveries(id).await.unwrap();
        if let Some(row) = rows.iter().find(|r| r.status == DeliveryStatus::Retrying) {
            break row.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no retries: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let next = u32::try_from(row.attempts).unwrap() + 1;
    let failed = herald_store::Outcome {
        notification: id,
        recipient: row.recipient,
        status: DeliveryStatus::Retrying,
        attempt: Some(next),
        throttled: false,
        http_status: Some(503),
        error_code: Some("ServiceUnavailable".to_owned().into()),
        error_message: Some("both copies failed".to_owned()),
        activity_id: None,
        version: 1,
    };
    // Each copy's outcome commits in its own batch.
    for outcome in [failed.clone(), failed] {
        store.record_outcomes(&[outcome]).await.unwrap();
    }
    let after = store.deliveries(id).await.unwrap();
    let after = after.iter().find(|r| r.recipient == row.recipient).unwrap();
    assert!(
        after.attempts <= i32::try_from(next).unwrap(),
        "two copies of attempt {next} counted as two: {after:?}"
    );
    herald.stop().await;
}

/// A delivery left `retrying` with no message for it anywhere (two copies
/// of one message that both posted leave one, their retries both stale) is
/// found by the send-worker's sweep once it is older than the longest retry
/// tier, and delivered once.
#[tokio::test]
async fn a_stranded_retrying_delivery_is_swept_and_delivered() {
    let prepare_only = herald_app::Roles {
        prepare: true,
        send: false,
        web: false,
    };
    let herald = TestHerald::start_roles(emulator_config(10), prepare_only, |s| {
        s.send.rate_per_second = 1_000.0;
    })
    .await;
    let users = herald.directory_users().await;
    let people: Vec<String> = users[3..6]
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    let id = herald.send_to(&content("Stranded"), &people).await.unwrap();
    let send_queue = herald.broker().topology().send_queue();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // Every message published (and so every row queued) before stranding.
    while herald.broker().depth(&send_queue).await.unwrap_or(0) < 3 {
        assert!(tokio::time::Instant::now() < deadline, "never queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One row says a first attempt failed a long time ago; the only message
    // for it (attempt 0) is now stale, as a stranded row's messages are.
    let stranded = users[3]["id"].as_str().unwrap();
    let mut db = sqlx::PgConnection::connect(herald.settings.database.url.expose_secret())
        .await
        .unwrap();
    let changed = sqlx::query(
        "update deliveries set status = 'retrying', attempts = 1, error_code = 'ServiceUnavailable', \
             updated_at = now() - interval '10 minutes' \
         where notification_id = $1 and recipient_id = $2",
    )
    .bind(id.0)
    .bind(uuid::Uuid::parse_str(stranded).unwrap())
    .execute(&mut db)
    .await
    .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    let sending = herald_app::start(
        &herald.settings,
        herald_app::Roles {
            prepare: false,
            send: true,
            web: false,
        },
    )
    .await
    .unwrap();
    let progress = herald.wait_until_ended(id, Duration::from_secs(30)).await;
    assert_eq!(progress.count(DeliveryStatus::Delivered), 3, "{progress:?}");
    assert_eq!(herald.messages(stranded).await.len(), 1);
    sending.stop().await;
    herald.stop().await;
}

async fn queued_for_all(
    store: &herald_store::Store,
    id: herald_domain::NotificationId,
    n: usize,
) -> bool {
    let rows = store.deliveries(id).await.unwrap();
    rows.len() == n && rows.iter().all(|r| r.status != DeliveryStatus::Pending)
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
