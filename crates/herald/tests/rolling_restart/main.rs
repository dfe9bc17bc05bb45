//! A rolling restart during a send: every `herald` process (two web, two
//! prepare-workers, three send-workers) is stopped with SIGTERM one after
//! another, each replaced as it goes. The send finishes with every person
//! reached exactly once, Teams' limit holds, and every stopped process
//! exits 0 with no error in its log.
//!
//! In a binary of its own: it runs up to eight processes and measures
//! rates, so it should not share the machine with the other tests of this
//! package.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fleet/mod.rs"]
mod fleet;

use std::time::{Duration, Instant};

use fleet::{Process, Role, count, start_many, start_many_with, wait_until_sharing};
use herald_domain::{DeliveryStatus, NotificationId, NotificationStatus};
use herald_testkit::web::StaffClient;
use herald_testkit::{TestHerald, emulator_config};
use reqwest::StatusCode;

const SENDS: &str = "POST /teams/v3/conversations/{id}/activities";
/// Teams' limit in the emulator, and Herald's configured rate: 900 people
/// take about 25 s. The send-workers share 35.89/s (the 3 % headroom) in
/// whole requests a second (`pace::worker_rate`): 11 x 3, or 8 x 4 while a
/// replacement joins, so four or five under the limit in any second, for
/// requests that arrive closer together than they were sent on a machine
/// running eight processes on two cores.
const LIMIT: u32 = 37;
const PEOPLE: usize = 900;
/// A send-worker holds at most this many messages and posts up to half of
/// them at once. With the defaults (500 and 256) each worker takes a third
/// of the queue at once and a stopped one first posts all it holds at its
/// share of the rate, so its replacement would find the queue empty; with
/// these, a stop takes a few seconds and the rest stays in the queue for
/// the replacement.
const SEND_WORKER: &[(&str, &str)] = &[
    ("HERALD_SEND__PREFETCH", "20"),
    ("HERALD_SEND__CONCURRENCY", "10"),
];

#[tokio::test]
async fn a_rolling_restart_during_a_send_loses_nothing_and_repeats_nothing() {
    let began = Instant::now();
    let mut config = emulator_config(PEOPLE + 3);
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
    let ids =
        herald_testkit::seed_known_conversations(herald.store(), &herald.emulator.urls, PEOPLE + 3)
            .await
            .unwrap();
    let people = &ids[3..];

    let (webs, prepares, sends) = tokio::join!(
        start_many(&herald, Role::Web, &["web 1", "web 2"]),
        start_many(&herald, Role::Prepare, &["prepare 1", "prepare 2"]),
        start_many_with(
            &herald,
            Role::Send,
            &["send 1", "send 2", "send 3"],
            SEND_WORKER
        ),
    );
    wait_until_sharing(&herald, "send", 3).await;
    let mut fleet: Vec<Process> = webs.into_iter().chain(prepares).chain(sends).collect();

    let staff = herald.staff().await;
    let author = StaffClient::sign_in(fleet[0].web(), &staff[1].0).await;
    let draft = author
        .create_draft(&[
            ("title", "Through a rolling restart"),
            ("csv", &people.join("\n")),
        ])
        .await;
    let id = NotificationId(draft.parse().unwrap());
    let reset = herald
        .http
        .post(format!("{}/stats/reset", herald.emulator.urls.control))
        .send()
        .await
        .unwrap();
    assert!(reset.status().is_success());
    let sent = author.post(&format!("/drafts/{draft}/send"), &[]).await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    let sending = Instant::now();
    herald
        .wait_for(id, Duration::from_secs(60), |p| {
            p.count(DeliveryStatus::Delivered) >= 40
        })
        .await;

    // One by one: a replacement starts, then the old process gets SIGTERM.
    let mut stopped = Vec::new();
    let mut stop_seconds = Vec::new();
    for current in &mut fleet {
        let role = current.role;
        let name = format!("{}'", current.name);
        let extra = if role == Role::Send { SEND_WORKER } else { &[] };
        let replacement = Process::start(&herald, role, &name, extra).await;
        let mut old = std::mem::replace(current, replacement);
        let stopping = Instant::now();
        let status = old.stop(Duration::from_secs(60)).await;
        stop_seconds.push((old.name.clone(), stopping.elapsed().as_secs_f64()));
        assert!(status.success(), "{} exited with {status}", old.name);
        if role == Role::Web {
            // Sessions live in PostgreSQL: the author's cookie works on the
            // replacement.
            let session = StaffClient {
                base: current.web().to_owned(),
                cookie: author.cookie.clone(),
                csrf: author.csrf.clone(),
                http: author.http.clone(),
            };
            let answer = session.get(&format!("/api/v1/announcements/{draft}")).await;
            assert_eq!(answer.status(), StatusCode::OK, "{}", current.name);
        }
        stopped.push(old);
    }
    let after_restarts = herald.progress(id).await;
    let restarts_took = sending.elapsed().as_secs_f64();
    assert!(
        after_restarts.unfinished() > 0,
        "every restart happened during the send ({restarts_took:.1} s): {:?}; stops took {stop_seconds:?}",
        after_restarts.counts
    );

    let progress = herald.wait_until_ended(id, Duration::from_secs(120)).await;
    let send_seconds = sending.elapsed().as_secs_f64();
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        PEOPLE as i64,
        "{:?}",
        progress.counts
    );
    let stats = herald.emulator_stats().await;
    let throttled = stats["throttled"].as_u64().unwrap();
    let peak = stats["connector_peak_per_second"].as_u64().unwrap();
    assert_eq!(stats["duplicate_activities"], 0, "{stats}");
    assert_eq!(stats["activities_received"], PEOPLE, "{stats}");
    // No burst of 429s. The shares add up to at most 33 a second, but a
    // process stalled for a moment on this loaded machine sends what it was
    // granted at once: one such 429 is tolerated (CI once saw two while the
    // shares still added up to 36 of 37).
    assert!(throttled <= 1, "{}", stats["throttled_by_endpoint"]);
    assert_eq!(
        count(&stats, "requests", SENDS),
        PEOPLE as u64 + throttled,
        "{stats}"
    );
    assert!(peak <= u64::from(LIMIT) + throttled, "peak {peak}/s");

    for process in &stopped {
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
    // The replacements finished the send (the stopped workers' counts went
    // with them).
    let mut delivered_by = Vec::new();
    for worker in fleet.iter().filter(|p| p.role == Role::Send) {
        let sent = worker
            .metric("herald_sends_total", r#"outcome="delivered""#)
            .await;
        delivered_by.push((worker.name.clone(), sent));
    }
    let by_replacements: f64 = delivered_by.iter().map(|(_, n)| n).sum();
    assert!(
        by_replacements >= after_restarts.unfinished() as f64,
        "{delivered_by:?}"
    );
    eprintln!(
        "rolling restart: 7 processes replaced in {restarts_took:.1} s from the send's start; \
         {PEOPLE} sent in {send_seconds:.1} s ({:.1}/s against {LIMIT}/s); peak {peak} requests \
         in one second; {throttled} 429s; {} duplicates; stops took {stop_seconds:?}; \
         replacements delivered {delivered_by:?}; whole test {:.1} s",
        PEOPLE as f64 / send_seconds,
        stats["duplicate_activities"],
        began.elapsed().as_secs_f64()
    );

    for process in &mut fleet {
        let status = process.stop(Duration::from_secs(60)).await;
        assert!(status.success(), "{} exited with {status}", process.name);
        assert!(process.lines_at(&["ERROR"]).is_empty(), "{}", process.name);
    }
    herald.stop().await;
}
