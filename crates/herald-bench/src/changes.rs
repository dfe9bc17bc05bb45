//! `herald-bench pipeline edit`: an edit of a sent announcement at the
//! ceiling beside a new send to other people, both through the same
//! send-worker and the tenant's one limit. Prints the send alone first,
//! then both together: their rate against the limit, when each finished,
//! the emulator's busiest second and its 429s.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herald_domain::audience::Target;
use herald_domain::{ChangeKind, Content, DeliveryStatus, NotificationId, Title};
use herald_store::{NewChange, Store};
use serde_json::Value;

use crate::pipeline::{
    Scenario, Seeded, delivery_rate, start_seeded, stop_worker, submit, tear_down,
};

const LIMIT: u32 = 50;

pub async fn run(herald: &std::path::Path, each: usize) -> anyhow::Result<()> {
    println!(
        "== edit : an edit of {each} cards beside a send to {each} others, Teams allowing {LIMIT}/s"
    );
    println!(
        "   target: the busiest second <= {LIMIT}; both done at >= 0.95 of the limit together"
    );
    let scenario = Scenario {
        name: "edit",
        recipients: each * 2,
        global_rps: LIMIT,
        ..Scenario::unlimited("edit", each * 2)
    };
    let Seeded {
        emulator,
        mut settings,
        running,
        people,
        worker,
    } = start_seeded(herald, &scenario, |_| {}).await?;
    let infrastructure = running.infrastructure.clone();
    let store = infrastructure.store.clone();
    let (first, others) = people.split_at(each);
    let control = emulator.urls.control.clone();
    let http = reqwest::Client::new();

    let started = Instant::now();
    let sent = submit(
        &running,
        "Benchmark: the first version",
        list("first.csv", first)?,
    )
    .await?;
    while !ended(&store, sent).await? {
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("the first send did not end within 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let alone = started.elapsed().as_secs_f64();
    let stats: Value = http
        .get(format!("{control}/stats"))
        .send()
        .await?
        .json()
        .await?;
    let record = store
        .notification(sent)
        .await?
        .context("the first send vanished")?;
    let rate = match (record.first_delivery_at, record.last_delivery_at) {
        (Some(first), Some(last)) => delivery_rate(each as i64, first, last),
        _ => 0.0,
    };
    println!(
        "   send alone      : {each} cards in {alone:.1} s from submit, {rate:.1}/s from the first card to the last ({:.2} of the limit); busiest second {}, 429s {}",
        rate / f64::from(LIMIT),
        stats["connector_peak_per_second"],
        stats["throttled"]
    );
    http.post(format!("{control}/stats/reset")).send().await?;

    let together = Instant::now();
    let corrected = Content::new(Title::parse("Benchmark: the corrected version")?);
    let change = NewChange {
        kind: ChangeKind::Edit,
        content: Some(&corrected),
        mark_edited: true,
        notify: false,
        by: "bench",
    };
    let second = submit(
        &running,
        "Benchmark: another send",
        list("others.csv", others)?,
    )
    .await?;
    herald_prepare::change(&store, &infrastructure.broker, sent, &change).await?;
    let mut send_done = None;
    let mut edit_done = None;
    while send_done.is_none() || edit_done.is_none() {
        if send_done.is_none() && ended(&store, second).await? {
            send_done = Some(together.elapsed().as_secs_f64());
        }
        if edit_done.is_none() && changed(&store, sent).await? {
            edit_done = Some(together.elapsed().as_secs_f64());
        }
        if together.elapsed() > Duration::from_secs(3600) {
            bail!("no end after an hour");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (send_done, edit_done) = (send_done.unwrap_or(0.0), edit_done.unwrap_or(0.0));
    let both = send_done.max(edit_done);
    let stats: Value = http
        .get(format!("{control}/stats"))
        .send()
        .await?
        .json()
        .await?;
    let updated = count(&store, sent, "updated").await?;
    let delivered = store
        .progress(second)
        .await?
        .map_or(0, |p| p.count(DeliveryStatus::Delivered));
    println!(
        "   edit beside send: {updated} updated + {delivered} delivered in {both:.1} s = {:.1}/s ({:.2} of the limit)",
        (updated + delivered) as f64 / both,
        (updated + delivered) as f64 / both / f64::from(LIMIT),
    );
    println!(
        "                     the send done at {send_done:.1} s, the edit at {edit_done:.1} s; busiest second {} (limit {LIMIT}); 429s {}",
        stats["connector_peak_per_second"], stats["throttled"]
    );
    stop_worker(worker).await;
    tear_down(running, &mut settings, emulator).await;
    Ok(())
}

fn list(name: &str, people: &[String]) -> anyhow::Result<Target> {
    Ok(Target::users_from_csv(name, &people.join("\n"))?)
}

async fn ended(store: &Store, id: NotificationId) -> anyhow::Result<bool> {
    Ok(store
        .progress(id)
        .await?
        .is_some_and(|p| p.notification.status.is_final()))
}

async fn changed(store: &Store, id: NotificationId) -> anyhow::Result<bool> {
    Ok(store
        .changes(id)
        .await?
        .last()
        .is_some_and(|c| c.completed_at.is_some()))
}

async fn count(store: &Store, id: NotificationId, status: &str) -> anyhow::Result<i64> {
    Ok(store
        .change_counts(id)
        .await?
        .iter()
        .find(|(s, _)| s.as_str() == status)
        .map_or(0, |(_, n)| *n))
}
