//! Two of every role at once, as separate `herald` processes on one
//! database, one queue prefix and one emulator: two web processes, two
//! prepare-workers and three send-workers. A schedule fires once, each
//! notification is prepared once, and the three send-workers together keep
//! under the tenant's limit in every second.
//!
//! In a binary of its own: it runs seven processes and measures rates, so
//! it should not share the machine with the other tests of this package.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fleet/mod.rs"]
mod fleet;

use std::time::{Duration, Instant};

use fleet::{Role, count, start_many, wait_until_sharing};
use herald_domain::{DeliveryStatus, NotificationId, NotificationStatus};
use herald_testkit::web::StaffClient;
use herald_testkit::{TestHerald, emulator_config};
use reqwest::StatusCode;

const SENDS: &str = "POST /teams/v3/conversations/{id}/activities";
const BATCH: &str = "POST /graph/v1.0/$batch";
/// Teams' limit in the emulator, and Herald's configured rate: the same.
/// Three send-workers share 38.8/s (the 3 % headroom) in whole requests a
/// second, 12 each (`pace::worker_rate`): at most 36 in any one second.
const LIMIT: u32 = 40;

fn notification(id: &str) -> NotificationId {
    NotificationId(id.parse().unwrap())
}

/// `$batch` requests a prepare makes to look up a list of `people`.
fn lookups(people: usize) -> u64 {
    people.div_ceil(20) as u64
}

#[tokio::test]
async fn two_of_every_role_at_once() {
    let began = Instant::now();
    let mut config = emulator_config(700);
    config.behaviour.global_rps = LIMIT;
    let no_roles = herald_app::Roles {
        prepare: false,
        send: false,
        web: false,
    };
    let herald = TestHerald::start_roles(config, no_roles, |s| {
        s.send.rate_per_second = f64::from(LIMIT);
    })
    .await;
    // Everyone's chat is known already, so preparing takes a moment and the
    // tenant's rate is what paces the sends.
    let ids = herald_testkit::seed_known_conversations(herald.store(), &herald.emulator.urls, 700)
        .await
        .unwrap();
    let people = &ids[3..]; // not the staff
    let (on_schedule, rest) = people.split_at(20);
    let (first, second) = rest[..580].split_at(290);

    let (webs, prepares, sends) = tokio::join!(
        start_many(&herald, Role::Web, &["web 1", "web 2"]),
        start_many(&herald, Role::Prepare, &["prepare 1", "prepare 2"]),
        start_many(&herald, Role::Send, &["send 1", "send 2", "send 3"]),
    );
    wait_until_sharing(&herald, "send", 3).await;
    let started = began.elapsed();

    // Two authors, each signed in at a different web process.
    let staff = herald.staff().await;
    let at_web1 = StaffClient::sign_in(webs[0].web(), &staff[1].0).await;
    let at_web2 = StaffClient::sign_in(webs[1].web(), &staff[2].0).await;
    let scheduled = at_web2
        .create_draft(&[
            ("title", "Scheduled once"),
            ("csv", &on_schedule.join("\n")),
        ])
        .await;
    let from_web1 = at_web1
        .create_draft(&[("title", "Sent from web 1"), ("csv", &first.join("\n"))])
        .await;
    let from_web2 = at_web2
        .create_draft(&[("title", "Sent from web 2"), ("csv", &second.join("\n"))])
        .await;
    // Saving a draft checks its list through Graph too; count from here.
    let reset = herald
        .http
        .post(format!("{}/stats/reset", herald.emulator.urls.control))
        .send()
        .await
        .unwrap();
    assert!(reset.status().is_success());

    // (a) A schedule, due in two seconds, under both prepare-workers'
    // schedulers.
    let due = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    assert!(
        herald
            .store()
            .schedule(notification(&scheduled), due, "UTC")
            .await
            .unwrap()
    );
    let progress = herald
        .wait_until_ended(notification(&scheduled), Duration::from_secs(60))
        .await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        20,
        "{progress:?}"
    );
    assert!(progress.notification.send_started_at.unwrap() >= due);
    for person in on_schedule {
        let got = herald.messages(person).await;
        assert_eq!(got.len(), 1, "{person} got {got:?}");
    }
    let fired: usize = prepares
        .iter()
        .map(|p| p.logged_about("scheduled notification is due: preparing", &scheduled))
        .sum();
    assert_eq!(fired, 1, "one prepare-worker fired the schedule");

    // (b) Two announcements sent at the same moment through the two web
    // processes.
    let (send1, send2) = (
        format!("/drafts/{from_web1}/send"),
        format!("/drafts/{from_web2}/send"),
    );
    let (sent1, sent2) = tokio::join!(at_web1.post(&send1, &[]), at_web2.post(&send2, &[]));
    assert_eq!(sent1.status(), StatusCode::SEE_OTHER);
    assert_eq!(sent2.status(), StatusCode::SEE_OTHER);
    let sending = Instant::now();
    for (id, people) in [(&from_web1, first), (&from_web2, second)] {
        let progress = herald
            .wait_until_ended(notification(id), Duration::from_secs(90))
            .await;
        assert_eq!(progress.notification.status, NotificationStatus::Sent);
        assert_eq!(
            progress.count(DeliveryStatus::Delivered),
            people.len() as i64,
            "{progress:?}"
        );
    }
    let send_seconds = sending.elapsed().as_secs_f64();
    assert_eq!(webs[0].logged_about("sent", &from_web1), 1);
    assert_eq!(webs[1].logged_about("sent", &from_web2), 1);

    // Each notification prepared once: one "prepared" among both workers,
    // one list lookup's worth of Graph requests, every delivery posted once.
    let mut prepared_by = Vec::new();
    for id in [&scheduled, &from_web1, &from_web2] {
        let by: Vec<&str> = prepares
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.name.as_str(), p.logged_about("prepared", id)))
            .collect();
        assert_eq!(by.len(), 1, "{id} prepared by {by:?}");
        prepared_by.push(by[0]);
        for delivery in herald.store().deliveries(notification(id)).await.unwrap() {
            assert_eq!(delivery.status, DeliveryStatus::Delivered);
            assert_eq!(delivery.attempts, 1, "{delivery:?}");
        }
    }
    let stats = herald.emulator_stats().await;
    assert_eq!(
        count(&stats, "requests", BATCH),
        lookups(20) + lookups(290) * 2,
        "each list looked up once: {}",
        stats["requests"]
    );
    let mut skipped = 0.0;
    let mut delivered_by = Vec::new();
    for worker in &sends {
        skipped += worker.metric("herald_skipped_messages_total", "").await;
        delivered_by.push(
            worker
                .metric("herald_sends_total", r#"outcome="delivered""#)
                .await,
        );
    }
    assert_eq!(skipped, 0.0, "no send message was published twice");

    // (c) The tenant's limit held across the three send-workers.
    let throttled = stats["throttled"].as_u64().unwrap();
    let peak = stats["connector_peak_per_second"].as_u64().unwrap();
    assert_eq!(stats["activities_received"], 600, "{stats}");
    assert_eq!(stats["duplicate_activities"], 0, "{stats}");
    assert_eq!(count(&stats, "requests", SENDS), 600, "{stats}");
    assert_eq!(throttled, 0, "{}", stats["throttled_by_endpoint"]);
    assert!(peak <= u64::from(LIMIT), "peak {peak}/s");
    assert!(
        delivered_by.iter().all(|n| *n > 0.0) && delivered_by.iter().sum::<f64>() == 600.0,
        "every send-worker took part: {delivered_by:?}"
    );

    eprintln!(
        "every role twice: 7 processes ready in {:.1} s; 580 sent in {send_seconds:.1} s \
         ({:.1}/s against {LIMIT}/s); peak {peak} requests in one second; {throttled} 429s; \
         delivered per send-worker {delivered_by:?}; prepared by {prepared_by:?}; \
         whole test {:.1} s",
        started.as_secs_f64(),
        580.0 / send_seconds,
        began.elapsed().as_secs_f64()
    );

    // Every process stops cleanly.
    for mut process in webs.into_iter().chain(prepares).chain(sends) {
        let status = process.stop(Duration::from_secs(60)).await;
        assert!(status.success(), "{} exited with {status}", process.name);
        for warning in process.lines_at(&["WARN"]) {
            eprintln!("{} warned: {warning}", process.name);
        }
        let errors = process.lines_at(&["ERROR"]);
        assert!(
            errors.is_empty(),
            "{} logged errors:\n{}",
            process.name,
            errors.join("\n")
        );
    }
    herald.stop().await;
}
