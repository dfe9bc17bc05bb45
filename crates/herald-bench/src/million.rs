//! `herald-bench pipeline million`: a broadcast to everyone in a tenant
//! of a million people with every Teams limit off, beside the same at a
//! tenth of the size, in one run. Each of Herald's roles is a process of
//! its own (prepare-worker, send-worker, web), so that its peak memory is
//! its alone; this process holds the emulator and the benchmark.
//!
//! Printed per size: how long preparing the audience took, deliveries per
//! second, each role's peak RSS, the database's size per delivery, and
//! the status page, per-recipient pages and JSON report timed during and
//! after the send; then how each figure grew from the smaller size.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herald_domain::audience::Target;
use herald_domain::{DeliveryStatus, NotificationId};
use herald_store::{Progress, Store};
use tokio::process::Child;

use crate::pipeline::{self, Scenario};
use crate::reports;

/// Proactive messages per second per app and tenant, Teams' own limit
/// (teams-platform.md), which paces a real broadcast.
const TEAMS_CEILING: f64 = 50.0;

/// Timed loads of each page once the send has ended.
const LOADS: usize = 30;

/// What one size measured.
struct Step {
    people: usize,
    delivered: i64,
    prepare_seconds: f64,
    /// Submit to the last delivery.
    total_seconds: f64,
    rate: f64,
    /// Peak RSS (VmHWM) of the prepare-worker, send-worker and web processes, KiB.
    peak_kb: [u64; 3],
    database_bytes: i64,
    deliveries_bytes: i64,
    /// Status page loads while the send ran, ms.
    status_during: Vec<f64>,
    /// Page kind and its load times after the send, ms.
    after: Vec<(&'static str, Vec<f64>)>,
}

pub async fn run(herald: &std::path::Path, people: usize) -> anyhow::Result<()> {
    let sizes = [people / 10, people];
    println!(
        "== million : everyone in a tenant of {} and of {} people, every limit off, one process per role",
        sizes[0], sizes[1]
    );
    println!(
        "   target: deliveries/s, prepare time, peak RSS per process and database size per delivery, and how they grow; the status page and report stay fast"
    );
    let mut steps = Vec::new();
    for size in sizes {
        steps.push(step(herald, size).await?);
    }
    print(&steps);
    Ok(())
}

async fn step(herald: &std::path::Path, people: usize) -> anyhow::Result<Step> {
    println!();
    println!("   -- {people} people");
    let scenario = Scenario::unlimited("million", people);
    let started = Instant::now();
    let emulator = teams_emulator::start(pipeline::emulator_config(&scenario)).await?;
    let admin = reports::admin_upn(&emulator)?;
    let mut settings = pipeline::settings(&emulator.urls, &scenario)?;
    // Only what submitting needs: the database, its migrations and the
    // queues. Every role runs as a process of its own below.
    let running = herald_app::start(&settings, herald_app::Roles::NONE).await?;
    let store = running.infrastructure.store.clone();
    herald_testkit::seed_known_conversations(&store, &emulator.urls, people).await?;
    println!(
        "   tenant generated and everyone's chat stored in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let monitor = reports::monitor(&settings).await?;
    let prepare = spawn_role(herald, &settings, "prepare-worker")?;
    let send = pipeline::spawn_worker(herald, &settings)?;
    let (web, base) = reports::spawn_web(herald, &settings).await?;
    let cookie = herald_testkit::web::sign_in(&base, &admin).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let submitted = Instant::now();
    let id = pipeline::submit(&running, "Benchmark million", Target::Everyone).await?;
    let children = [&prepare, &send, &web];
    let mut peak_kb = [0u64; 3];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let status_page = format!("{base}/announcements/{id}");
    let mut status_during = Vec::new();
    let mut prepare_seconds = None;
    let sent = loop {
        for (child, peak) in children.iter().zip(peak_kb.iter_mut()) {
            *peak = (*peak).max(peak_of(child));
        }
        let progress = progress(&monitor, id).await?;
        if progress.notification.prepared && prepare_seconds.is_none() {
            prepare_seconds = Some(submitted.elapsed().as_secs_f64());
        }
        if progress.notification.status.is_final() {
            break progress;
        }
        if submitted.elapsed() > Duration::from_secs(3600) {
            bail!("no end after an hour: {progress:?}");
        }
        // One person keeps the status page open and reloads it.
        if let Ok((ms, _)) = reports::fetch(&client, &status_page, &cookie).await {
            status_during.push(ms);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for (child, peak) in children.iter().zip(peak_kb.iter_mut()) {
        *peak = (*peak).max(peak_of(child));
    }
    let n = &sent.notification;
    let last = n.last_delivery_at.context("nothing was delivered")?;
    let total_seconds = (last - n.send_started_at.unwrap_or(n.created_at)).as_seconds_f64();
    let delivered = sent.count(DeliveryStatus::Delivered);
    println!(
        "   {} of {} delivered ({}), audience prepared {:.1} s after submitting, last delivery after {:.1} s, {:.0} deliveries/s first to last",
        delivered,
        sent.total(),
        n.status.as_str(),
        prepare_seconds.unwrap_or_default(),
        total_seconds,
        reports::rate(&sent)?
    );
    report_undelivered(&monitor, &sent).await?;
    let (database_bytes, deliveries_bytes) = sizes(&monitor).await?;
    let after = pages_after(&client, &base, &cookie, id).await;
    let step = Step {
        people,
        delivered,
        prepare_seconds: prepare_seconds.unwrap_or_default(),
        total_seconds,
        rate: reports::rate(&sent)?,
        peak_kb,
        database_bytes,
        deliveries_bytes,
        status_during,
        after,
    };
    for child in [prepare, send, web] {
        pipeline::stop_worker(child).await;
    }
    drop(monitor);
    pipeline::tear_down(running, &mut settings, emulator).await;
    Ok(step)
}

/// Everyone has the app and nobody blocked it, so each delivery that is
/// not `delivered` is printed with its reason (the first few of each).
async fn report_undelivered(store: &Store, sent: &Progress) -> anyhow::Result<()> {
    for status in DeliveryStatus::ALL {
        let count = sent.count(*status);
        if *status == DeliveryStatus::Delivered || count == 0 {
            continue;
        }
        let query = herald_store::RecipientQuery {
            status: Some(*status),
            limit: 5,
            ..Default::default()
        };
        let lines = store.recipient_page(sent.notification.id, &query).await?;
        println!("   not delivered: {count} {}", status.as_str());
        for line in lines {
            println!(
                "     {} attempts {} {:?}: {:?}",
                line.upn.unwrap_or_default(),
                line.attempts,
                line.error_code,
                line.error_message
            );
        }
    }
    Ok(())
}

fn spawn_role(
    herald: &std::path::Path,
    settings: &herald_config::Settings,
    role: &str,
) -> anyhow::Result<Child> {
    tokio::process::Command::new(herald)
        .args([role, "--ops-listen", "127.0.0.1:0"])
        .envs(herald_app::worker_environment(settings))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting a herald {role} process"))
}

fn peak_of(child: &Child) -> u64 {
    child
        .id()
        .map(|pid| reports::memory(&pid.to_string()).hwm_kb)
        .unwrap_or(0)
}

async fn progress(store: &Store, id: NotificationId) -> anyhow::Result<Progress> {
    store
        .progress(id)
        .await?
        .context("the notification vanished")
}

/// The whole database, and the deliveries table with its indexes.
async fn sizes(store: &Store) -> anyhow::Result<(i64, i64)> {
    Ok(store.sizes().await?)
}

/// The pages people open once a big send is over, each loaded in turn.
async fn pages_after(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    id: NotificationId,
) -> Vec<(&'static str, Vec<f64>)> {
    let kinds: [(&'static str, String); 5] = [
        ("status page", format!("{base}/announcements/{id}")),
        (
            "recipients, first page",
            format!("{base}/announcements/{id}/recipients"),
        ),
        (
            "recipients, status=delivered",
            format!("{base}/announcements/{id}/recipients?status=delivered"),
        ),
        (
            "recipients, q=part of a UPN",
            format!("{base}/announcements/{id}/recipients?q=langer12"),
        ),
        ("JSON report", format!("{base}/api/v1/announcements/{id}")),
    ];
    let mut timings = Vec::new();
    for (kind, url) in kinds {
        // The first load is not timed: it warms the connection.
        let _ = reports::fetch(client, &url, cookie).await;
        let mut times = Vec::new();
        for _ in 0..LOADS {
            match reports::fetch(client, &url, cookie).await {
                Ok((ms, _)) => times.push(ms),
                Err(problem) => println!("   {kind}: {problem}"),
            }
        }
        timings.push((kind, times));
    }
    timings
}

fn print(steps: &[Step]) {
    println!();
    println!(
        "   {:>9} {:>9} {:>10} {:>10} {:>11} | {:>9} {:>9} {:>9} | {:>10} {:>11}",
        "people",
        "delivered",
        "prepare s",
        "total s",
        "deliv./s",
        "prepare",
        "send",
        "web",
        "DB MB",
        "B/delivery"
    );
    for s in steps {
        let [prepare, send, web] = s.peak_kb.map(reports::mb);
        println!(
            "   {:>9} {:>9} {:>10.1} {:>10.1} {:>11.0} | {:>6.1} MB {:>6.1} MB {:>6.1} MB | {:>10.0} {:>11.0}",
            s.people,
            s.delivered,
            s.prepare_seconds,
            s.total_seconds,
            s.rate,
            prepare,
            send,
            web,
            s.database_bytes as f64 / 1e6,
            s.deliveries_bytes as f64 / s.delivered.max(1) as f64
        );
    }
    println!(
        "   (peak RSS is each process's VmHWM; B/delivery is the deliveries table with its indexes over the deliveries; DB MB is the whole database, people included)"
    );
    println!();
    println!(
        "   {:<34} {:>9} {:>10} {:>10} {:>10} {:>10}",
        "page (ms)", "people", "loads", "p50", "p95", "max"
    );
    for s in steps {
        let mut kinds = vec![("status page, during the send", s.status_during.clone())];
        kinds.extend(s.after.iter().map(|(k, t)| (*k, t.clone())));
        for (kind, times) in kinds {
            let times = reports::sorted(&times);
            println!(
                "   {:<34} {:>9} {:>10} {:>10.1} {:>10.1} {:>10.1}",
                kind,
                s.people,
                times.len(),
                crate::quantile(&times, 0.5),
                crate::quantile(&times, 0.95),
                times.last().copied().unwrap_or(0.0)
            );
        }
    }
    if let Some(large) = steps.last() {
        let hours = large.people as f64 / TEAMS_CEILING / 3600.0;
        println!();
        println!(
            "   at Teams' ceiling of {TEAMS_CEILING:.0} messages/s per tenant, {} people take {hours:.1} h to reach; Herald sent {:.0}/s here ({:.0}x that ceiling) and prepared them in {:.0} s ({:.2} % of those hours): Teams, not Herald, sets the pace",
            large.people,
            large.rate,
            large.rate / TEAMS_CEILING,
            large.prepare_seconds,
            large.prepare_seconds * 100.0 / (hours * 3600.0)
        );
    }
    if let [small, large] = steps {
        let ratio = |a: f64, b: f64| if a > 0.0 { b / a } else { 0.0 };
        println!();
        println!(
            "   growth from {} to {} people ({}x): prepare time {:.1}x, total time {:.1}x, deliveries/s {:.2}x, peak RSS prepare {:.2}x send {:.2}x web {:.2}x, bytes per delivery {:.2}x",
            small.people,
            large.people,
            large.people / small.people.max(1),
            ratio(small.prepare_seconds, large.prepare_seconds),
            ratio(small.total_seconds, large.total_seconds),
            ratio(small.rate, large.rate),
            ratio(small.peak_kb[0] as f64, large.peak_kb[0] as f64),
            ratio(small.peak_kb[1] as f64, large.peak_kb[1] as f64),
            ratio(small.peak_kb[2] as f64, large.peak_kb[2] as f64),
            ratio(
                small.deliveries_bytes as f64 / small.delivered.max(1) as f64,
                large.deliveries_bytes as f64 / large.delivered.max(1) as f64
            )
        );
    }
}
