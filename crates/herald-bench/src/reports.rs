//! `herald-bench reports`: delivery reports under load, in two parts.
//!
//! Watchers: a send at the emulator's limit (the ceiling) with people
//! reading their cards by themselves, once with no one watching and once
//! with hundreds of open server-sent-event streams and a crowd reloading
//! the status page, side by side in one run: the send rate of both, the
//! page times, what the streams received, and the process's memory.
//!
//! Table and export: a send to 100,000 people with every limit off, then
//! the per-recipient table (first pages, deep keyset pages, status filters,
//! searches) and the CSV export of all of it, with the memory it takes.
//!
//! Herald's web and prepare roles, the emulator and the load clients all
//! run in this process (the send-worker is a process of its own), so the
//! memory figures are theirs together.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herald_domain::audience::Target;
use herald_domain::{DeliveryStatus, NotificationId};
use herald_store::{Progress, Store};
use reqwest::header::COOKIE;
use secrecy::ExposeSecret;
use serde_json::Value;
use teams_emulator::ReadBehaviour;
use tokio::sync::{Mutex, watch};

use crate::pipeline::{self, Scenario};
use herald_testkit::web::sign_in;

#[derive(Debug, Clone)]
pub struct Options {
    /// Run the watchers part.
    pub watchers_part: bool,
    /// Run the table-and-export part.
    pub table_part: bool,
    /// Tenant and send size of the watchers part.
    pub people: usize,
    /// Open event streams during the watched send.
    pub watchers: usize,
    /// People read their cards by themselves during the watchers part (the
    /// default); off, to tell what reading costs from what watching does.
    pub reads: bool,
    /// Clients reloading the status page during the watched send.
    pub page_clients: usize,
    pub think_ms: u64,
    /// Tenant and send size of the table-and-export part.
    pub table_people: usize,
    /// Full CSV exports, one after the other.
    pub exports: usize,
}

/// The ceiling of the watchers part, as `bench web` and `pipeline
/// ceiling` use it.
const CEILING: u32 = 200;
/// Staff sessions the load is spread over.
const SESSIONS: usize = 4;
/// Share of the table's people who blocked the bot: the blocked filter
/// and the filtered export (10,000 of 100,000 rows) read them.
const BLOCKED_SHARE: f64 = 0.1;

/// People read their cards soon (median 3 s, 99 % within about 20 s), a
/// quarter never: every read lands during the send that caused it, which
/// makes the read line of the chart real and puts all the receipt traffic
/// inside the measured window.
fn reads() -> ReadBehaviour {
    ReadBehaviour {
        enabled: true,
        never_share: 0.25,
        median_delay_ms: 3_000,
        spread: 0.8,
    }
}

/// Seconds by which about 99 % of the reads have come (p99 of the
/// log-normal delay).
fn reads_settle_seconds(reads: &ReadBehaviour) -> u64 {
    let p99 = reads.median_delay_ms as f64 / 1000.0 * (2.326 * reads.spread).exp();
    p99.ceil() as u64
}

pub async fn run(options: &Options, herald: &std::path::Path) -> anyhow::Result<()> {
    if options.watchers_part {
        watchers(options, herald).await?;
    }
    if options.table_part {
        table(options, herald).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- watchers

/// What the watchers and the page clients saw.
#[derive(Default)]
struct Load {
    /// Status page times, in milliseconds.
    pages: Vec<f64>,
    streams: Vec<Stream>,
    /// Failed requests and streams by what went wrong.
    failures: BTreeMap<String, u64>,
}

/// One event stream's life.
#[derive(Default)]
struct Stream {
    /// Whether it was still open when the send ended.
    open_at_end: bool,
    /// From sending the request to the end (or to when it broke).
    seconds: f64,
    /// Milliseconds from the request to the first progress event.
    first_event_ms: Option<f64>,
    /// Milliseconds between consecutive progress events.
    gaps_ms: Vec<f64>,
    events: u64,
    /// The newest progress event's data.
    last: Option<String>,
}

async fn watchers(options: &Options, herald: &std::path::Path) -> anyhow::Result<()> {
    let reads = ReadBehaviour {
        enabled: options.reads,
        ..reads()
    };
    let settle = if reads.enabled {
        reads_settle_seconds(&reads)
    } else {
        0
    };
    let reading = if reads.enabled {
        format!(
            "reads on ({:.0} % never, median {:.1} s, p99 about {settle} s)",
            reads.never_share * 100.0,
            reads.median_delay_ms as f64 / 1000.0
        )
    } else {
        "reads off".to_owned()
    };
    println!(
        "== reports / watchers : {} people, limit {CEILING}/s; {reading}; {} event streams and {} status-page clients (think {} ms) on the watched send",
        options.people, options.watchers, options.page_clients, options.think_ms
    );
    println!("   target: send with the watchers >= 95 % of {CEILING}/s; status page p95 <= 50 ms");
    let at_start = memory("self");
    let scenario = Scenario {
        name: "reports-watchers",
        recipients: options.people,
        global_rps: CEILING,
        latency_ms: [0, 0],
        workers: 1,
        cold: false,
        installed_fraction: 1.0,
        everyone: false,
        target: "",
    };
    let mut config = pipeline::emulator_config(&scenario);
    config.behaviour.reads = reads;
    let emulator = teams_emulator::start(config).await?;
    let admin = admin_upn(&emulator)?;
    let mut settings = pipeline::settings(&emulator.urls, &scenario)?;
    let roles = herald_app::Roles {
        prepare: true,
        send: false,
        web: true,
    };
    let running = herald_app::start(&settings, roles).await?;
    let web = running.web.as_ref().context("the web role runs")?.address;
    let base = format!("http://{web}");
    // Receipts go to Herald's bot endpoint, as Teams sends them.
    reqwest::Client::new()
        .post(format!("{}/config", emulator.urls.control))
        .json(&serde_json::json!({"bot_endpoint": format!("{base}/api/messages")}))
        .send()
        .await?
        .error_for_status()?;
    let store = running.infrastructure.store.clone();
    let monitor = monitor(&settings).await?;
    let people =
        herald_testkit::seed_known_conversations(&store, &emulator.urls, options.people).await?;
    let mut cookies = Vec::new();
    for _ in 0..SESSIONS {
        cookies.push(sign_in(&base, &admin).await?);
    }
    let worker = pipeline::spawn_worker(herald, &settings)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = memory("self");
    let target = Target::users_from_csv("bench.csv", &people.join("\n"))?;

    // (a) Nobody watching.
    let quiet_id =
        pipeline::submit(&running, "Benchmark reports, no watchers", target.clone()).await?;
    let quiet = wait_for_end(&monitor, quiet_id).await?;
    tokio::time::sleep(Duration::from_secs(settle)).await;
    let quiet_reads = read_count(&monitor, quiet_id).await?;
    let control = emulator.urls.control.clone();
    let after_quiet = Counters::read(&control).await?;

    // (b) Watched: the streams open and the page clients start as soon as
    // the announcement exists, as people open it right after sending.
    let busy_id = pipeline::submit(&running, "Benchmark reports, watched", target).await?;
    let (done, finished) = watch::channel(false);
    let load = Arc::new(Mutex::new(Load::default()));
    let mut tasks = Vec::new();
    let streams = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    for watcher in 0..options.watchers {
        let url = format!("{base}/announcements/{busy_id}/events");
        let cookie = cookies[watcher % SESSIONS].clone();
        let (client, load, finished) = (streams.clone(), load.clone(), finished.clone());
        tasks.push(tokio::spawn(async move {
            let stream = watch_events(&client, &url, &cookie, finished, &load).await;
            load.lock().await.streams.push(stream);
        }));
    }
    let pages = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    for client_number in 0..options.page_clients {
        let url = format!("{base}/announcements/{busy_id}");
        let cookie = cookies[client_number % SESSIONS].clone();
        let (client, load, finished) = (pages.clone(), load.clone(), finished.clone());
        let think = Duration::from_millis(options.think_ms);
        tasks.push(tokio::spawn(async move {
            while !*finished.borrow() {
                let outcome = fetch(&client, &url, &cookie).await;
                let mut load = load.lock().await;
                match outcome {
                    Ok((ms, _)) => load.pages.push(ms),
                    Err(problem) => {
                        *load
                            .failures
                            .entry(format!("status page: {problem}"))
                            .or_default() += 1;
                    }
                }
                drop(load);
                tokio::time::sleep(think).await;
            }
        }));
    }
    let busy = wait_for_end(&monitor, busy_id).await?;
    let _ = done.send(true);
    for task in tasks {
        let _ = task.await;
    }
    let at_end = memory("self");
    let worker_memory = worker.id().map(|pid| memory(&pid.to_string()));
    tokio::time::sleep(Duration::from_secs(settle)).await;
    let busy_reads = read_count(&monitor, busy_id).await?;
    let after_busy = Counters::read(&control).await?;
    let counters = [after_quiet, after_busy.since(&after_quiet)];
    let load = Arc::try_unwrap(load)
        .map(Mutex::into_inner)
        .unwrap_or_default();

    let quiet_rate = rate(&quiet)?;
    let busy_rate = rate(&busy)?;
    let ceiling = f64::from(CEILING);
    println!();
    println!(
        "   {:<20} {:>9} {:>10} {:>11} {:>6} {:>12} {:>12} {:>17} {:>16}",
        "send",
        "delivered",
        "rate",
        "of ceiling",
        "429s",
        "read at end",
        format!("read +{settle} s"),
        "receipts accepted",
        "receipts refused"
    );
    for ((label, progress, rate, later), counters) in [
        ("(a) no watchers", &quiet, quiet_rate, quiet_reads),
        ("(b) watched", &busy, busy_rate, busy_reads),
    ]
    .into_iter()
    .zip(counters)
    {
        println!(
            "   {:<20} {:>9} {:>8.1}/s {:>9.1} % {:>6} {:>12} {:>12} {:>17} {:>16}",
            label,
            progress.count(DeliveryStatus::Delivered),
            rate,
            rate * 100.0 / ceiling,
            counters.throttled,
            progress.notification.read,
            later,
            counters.receipts,
            counters.refused
        );
    }
    if reads.enabled {
        println!(
            "   (read: cards Herald counts as read; receipts: read receipts the emulator posted to Herald's bot endpoint, accepted or answered with an error; each send's own: the reads of (a) had {settle} s to come before (b) started)"
        );
    }
    println!(
        "   (b) had {} event streams open and {} clients on the status page; rate ratio (b)/(a) {:.3}",
        options.watchers,
        options.page_clients,
        busy_rate / quiet_rate.max(0.001)
    );
    println!();
    let pages = sorted(&load.pages);
    println!(
        "   {:<34} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "during (b)", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    println!(
        "   {:<34} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
        "status page",
        pages.len(),
        crate::quantile(&pages, 0.5),
        crate::quantile(&pages, 0.95),
        crate::quantile(&pages, 0.99),
        pages.last().copied().unwrap_or(0.0)
    );
    report_streams(&load.streams, options.watchers);
    if load.failures.is_empty() {
        println!("   failures: none");
    }
    for (problem, count) in &load.failures {
        println!("   failures: {count} x {problem}");
    }
    println!();
    println!(
        "   memory of this process (Herald's web and prepare roles, the emulator and the load clients run in it):"
    );
    println!("   {:<34} {:>12} {:>12}", "", "VmRSS", "VmHWM");
    for (label, m) in [
        ("at the start (nothing running)", at_start),
        ("before the sends", before),
        ("at the end of the watched send", at_end),
    ] {
        println!(
            "   {:<34} {:>9.1} MB {:>9.1} MB",
            label,
            mb(m.rss_kb),
            mb(m.hwm_kb)
        );
    }
    if let Some(m) = worker_memory {
        println!(
            "   {:<34} {:>9.1} MB {:>9.1} MB",
            "send-worker process, at the end",
            mb(m.rss_kb),
            mb(m.hwm_kb)
        );
    }
    println!(
        "   verdict: status page p95 {:.1} ms during the watched send (target <= 50); watched send {:.1} % of the ceiling (target >= 95), unwatched {:.1} %",
        crate::quantile(&pages, 0.95),
        busy_rate * 100.0 / ceiling,
        quiet_rate * 100.0 / ceiling
    );
    pipeline::stop_worker(worker).await;
    drop(monitor);
    pipeline::tear_down(running, &mut settings, emulator).await;
    Ok(())
}

/// The emulator's counters that tell how a send went.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    /// Sends answered 429.
    throttled: u64,
    /// Read receipts Herald's bot endpoint accepted.
    receipts: u64,
    /// Activities (here: read receipts) it answered with an error.
    refused: u64,
}

impl Counters {
    async fn read(control: &str) -> anyhow::Result<Self> {
        let stats: Value = reqwest::get(format!("{control}/stats"))
            .await?
            .json()
            .await?;
        let number = |v: &Value| v.as_u64().unwrap_or(0);
        Ok(Self {
            throttled: number(
                &stats["throttled_by_endpoint"]["POST /teams/v3/conversations/{id}/activities"],
            ),
            receipts: number(&stats["read_receipts_sent"]),
            refused: number(&stats["bot_activities_failed"]),
        })
    }

    fn since(&self, earlier: &Self) -> Self {
        Self {
            throttled: self.throttled.saturating_sub(earlier.throttled),
            receipts: self.receipts.saturating_sub(earlier.receipts),
            refused: self.refused.saturating_sub(earlier.refused),
        }
    }
}

fn report_streams(streams: &[Stream], asked: usize) {
    let open = streams.iter().filter(|s| s.open_at_end).count();
    let mut per_second: Vec<f64> = streams
        .iter()
        .filter(|s| s.seconds > 0.0)
        .map(|s| s.events as f64 / s.seconds)
        .collect();
    per_second.sort_by(f64::total_cmp);
    let gaps = sorted(
        &streams
            .iter()
            .flat_map(|s| s.gaps_ms.iter().copied())
            .collect::<Vec<_>>(),
    );
    let first = sorted(
        &streams
            .iter()
            .filter_map(|s| s.first_event_ms)
            .collect::<Vec<_>>(),
    );
    let events: u64 = streams.iter().map(|s| s.events).sum();
    let mean = per_second.iter().sum::<f64>() / per_second.len().max(1) as f64;
    println!(
        "   {:<34} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
        "event gap (between progress events)",
        gaps.len(),
        crate::quantile(&gaps, 0.5),
        crate::quantile(&gaps, 0.95),
        crate::quantile(&gaps, 0.99),
        gaps.last().copied().unwrap_or(0.0)
    );
    println!(
        "   {:<34} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
        "first event after the request",
        first.len(),
        crate::quantile(&first, 0.5),
        crate::quantile(&first, 0.95),
        crate::quantile(&first, 0.99),
        first.last().copied().unwrap_or(0.0)
    );
    println!(
        "   event streams: {} opened, {open} still open when the send ended; {events} progress events, per watcher per second mean {:.2} (min {:.2}, max {:.2})",
        asked,
        mean,
        per_second.first().copied().unwrap_or(0.0),
        per_second.last().copied().unwrap_or(0.0)
    );
    if let Some(last) = streams.iter().find_map(|s| s.last.as_deref()) {
        let last: Value = serde_json::from_str(last).unwrap_or_default();
        println!(
            "   the last event a watcher got: status {}, {} of {} finished, delivered {}, read {}, done {}",
            last["status"],
            last["finished"],
            last["total"],
            last["delivered"],
            last["read"],
            last["done"]
        );
    }
}

/// Follows an announcement's event stream until the send ends.
async fn watch_events(
    client: &reqwest::Client,
    url: &str,
    cookie: &str,
    mut finished: watch::Receiver<bool>,
    load: &Mutex<Load>,
) -> Stream {
    let started = Instant::now();
    let mut stream = Stream::default();
    let fail = async |problem: String| {
        *load
            .lock()
            .await
            .failures
            .entry(format!("event stream: {problem}"))
            .or_default() += 1;
    };
    let mut response = match client.get(url).header(COOKIE, cookie).send().await {
        Ok(response) if response.status().is_success() => response,
        Ok(response) => {
            fail(format!("answered {}", response.status())).await;
            return stream;
        }
        Err(error) => {
            fail(format!("no answer ({error})")).await;
            return stream;
        }
    };
    let mut pending = String::new();
    let mut previous: Option<Instant> = None;
    loop {
        let chunk = tokio::select! {
            _ = finished.wait_for(|done| *done) => {
                stream.open_at_end = true;
                break;
            }
            chunk = response.chunk() => chunk,
        };
        match chunk {
            Ok(Some(bytes)) => {
                pending.push_str(&String::from_utf8_lossy(&bytes));
                while let Some(end) = pending.find("\n\n") {
                    let block: String = pending.drain(..end + 2).collect();
                    let Some(data) = progress_data(&block) else {
                        continue;
                    };
                    let now = Instant::now();
                    match previous {
                        Some(at) => stream.gaps_ms.push((now - at).as_secs_f64() * 1000.0),
                        None => {
                            stream.first_event_ms = Some((now - started).as_secs_f64() * 1000.0);
                        }
                    }
                    previous = Some(now);
                    stream.events += 1;
                    stream.last = Some(data);
                }
            }
            Ok(None) => {
                fail("ended before the send did".to_owned()).await;
                break;
            }
            Err(error) => {
                fail(format!("broke ({error})")).await;
                break;
            }
        }
    }
    stream.seconds = started.elapsed().as_secs_f64();
    stream
}

/// The data of an `event: progress` block; `None` for comments and others.
fn progress_data(block: &str) -> Option<String> {
    let mut progress = false;
    let mut data = String::new();
    for line in block.lines() {
        if line == "event: progress" {
            progress = true;
        } else if let Some(text) = line.strip_prefix("data: ") {
            data.push_str(text);
        }
    }
    progress.then_some(data)
}

// ------------------------------------------------------- table and export

/// Page times in milliseconds, by kind, in the order first asked.
#[derive(Default)]
struct Timings {
    kinds: Vec<(String, Vec<f64>)>,
    failures: BTreeMap<String, u64>,
    /// What the table should be read with.
    notes: Vec<String>,
}

impl Timings {
    fn record(&mut self, kind: &str, outcome: &Result<(f64, String), String>) {
        match outcome {
            Ok((ms, _)) => match self.kinds.iter_mut().find(|(k, _)| k == kind) {
                Some((_, times)) => times.push(*ms),
                None => self.kinds.push((kind.to_owned(), vec![*ms])),
            },
            Err(problem) => {
                *self
                    .failures
                    .entry(format!("{kind}: {problem}"))
                    .or_default() += 1
            }
        }
    }
}

async fn table(options: &Options, herald: &std::path::Path) -> anyhow::Result<()> {
    let people = options.table_people;
    println!(
        "== reports / table and export : {people} people, every limit off, {:.0} % blocked the bot; Herald's web role as a process of its own",
        BLOCKED_SHARE * 100.0
    );
    println!(
        "   target: per-recipient page p95 <= 50 ms; CSV of 100,000 rows <= 3 s with flat memory"
    );
    let scenario = Scenario::unlimited("reports-table", people);
    let mut config = pipeline::emulator_config(&scenario);
    config.directory.blocked_fraction = BLOCKED_SHARE;
    let emulator = teams_emulator::start(config).await?;
    let admin = admin_upn(&emulator)?;
    let mut settings = pipeline::settings(&emulator.urls, &scenario)?;
    let roles = herald_app::Roles {
        prepare: true,
        send: false,
        web: false,
    };
    let running = herald_app::start(&settings, roles).await?;
    let store = running.infrastructure.store.clone();
    let monitor = monitor(&settings).await?;
    herald_testkit::seed_known_conversations(&store, &emulator.urls, people).await?;
    let directory = directory_people(&emulator.urls.control).await?;
    // The pages and the exports are served by a `herald web` process, so
    // that its memory is Herald's alone: this process also holds the
    // emulator's tenant and the directory the benchmark read, whose freed
    // heap would hide any growth.
    let (web, base) = spawn_web(herald, &settings).await?;
    let web_pid = web.id().context("the web process has no id")?.to_string();
    let cookie = sign_in(&base, &admin).await?;
    let worker = pipeline::spawn_worker(herald, &settings)?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let started = Instant::now();
    let id = pipeline::submit(&running, "Benchmark reports, table", Target::Everyone).await?;
    let sent = wait_for_end(&monitor, id).await?;
    let n = &sent.notification;
    println!(
        "   the send: {} recipients, {} delivered, {} blocked, {} other, {} after {:.1} s (submit to end; {:.0} deliveries/s first to last)",
        sent.total(),
        sent.count(DeliveryStatus::Delivered),
        sent.count(DeliveryStatus::Blocked),
        sent.total() - sent.count(DeliveryStatus::Delivered) - sent.count(DeliveryStatus::Blocked),
        n.status.as_str(),
        started.elapsed().as_secs_f64(),
        rate(&sent).unwrap_or(0.0)
    );
    pipeline::stop_worker(worker).await;
    let web_before_pages = memory(&web_pid);

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let timings = pages(&client, &base, &cookie, id, &directory).await?;
    println!();
    println!(
        "   {:<44} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "per-recipient pages (one client, in turn)",
        "requests",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms"
    );
    let mut html = Vec::new();
    for (kind, times) in &timings.kinds {
        if !kind.starts_with("API") {
            html.extend_from_slice(times);
        }
        print_times(kind, times);
    }
    print_times("all HTML pages above", &html);
    for note in &timings.notes {
        println!("   ({note})");
    }
    if timings.failures.is_empty() {
        println!("   failures: none");
    }
    for (problem, count) in &timings.failures {
        println!("   failures: {count} x {problem}");
    }
    let web_after_pages = memory(&web_pid);

    println!();
    println!(
        "   {:<24} {:>7} {:>6} {:>7} | {:>11} {:>11} {:>11} {:>11} | {:>11}",
        "CSV export",
        "rows",
        "MB",
        "seconds",
        "web before",
        "web peak",
        "web after",
        "peak-before",
        "bench p-b"
    );
    let csv = format!("{base}/announcements/{id}/recipients.csv");
    let mut exports = vec![(
        "blocked only (filtered)".to_owned(),
        format!("{csv}?status=blocked"),
    )];
    for round in 1..=options.exports {
        exports.push((format!("everyone, #{round}"), csv.clone()));
    }
    for (label, url) in exports {
        match export(&client, &url, &cookie, &web_pid).await {
            Ok(e) => println!(
                "   {:<24} {:>7} {:>6.1} {:>7.2} | {:>8.1} MB {:>8.1} MB {:>8.1} MB {:>8.1} MB | {:>8.1} MB",
                label,
                e.records.saturating_sub(1),
                e.bytes as f64 / 1_000_000.0,
                e.seconds,
                mb(e.web.before_kb),
                mb(e.web.peak_kb),
                mb(e.web.after_kb),
                mb(e.web.peak_kb.saturating_sub(e.web.before_kb)),
                mb(e.bench.peak_kb.saturating_sub(e.bench.before_kb))
            ),
            Err(problem) => println!("   {label:<24} failed: {problem:#}"),
        }
    }
    let web_end = memory(&web_pid);
    println!(
        "   (rows: CSV records after the header line. web: VmRSS of the `herald web` process serving them, sampled every 50 ms. bench p-b: the same for this process, which downloads and counts as the export streams and holds the emulator)"
    );
    println!(
        "   herald web process VmRSS / VmHWM: {:.1} / {:.1} MB after the send, {:.1} / {:.1} MB after the page loads, {:.1} / {:.1} MB after the exports",
        mb(web_before_pages.rss_kb),
        mb(web_before_pages.hwm_kb),
        mb(web_after_pages.rss_kb),
        mb(web_after_pages.hwm_kb),
        mb(web_end.rss_kb),
        mb(web_end.hwm_kb)
    );
    let own = memory("self");
    println!(
        "   this process (emulator with {people} people, prepare role, the benchmark) VmRSS / VmHWM: {:.1} / {:.1} MB",
        mb(own.rss_kb),
        mb(own.hwm_kb)
    );
    pipeline::stop_worker(web).await;
    drop(monitor);
    pipeline::tear_down(running, &mut settings, emulator).await;
    Ok(())
}

/// Starts `herald web` on a free port with the run's settings; the process
/// and its address, once it answers.
pub(crate) async fn spawn_web(
    herald: &std::path::Path,
    settings: &herald_config::Settings,
) -> anyhow::Result<(tokio::process::Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = tokio::process::Command::new(herald)
        .args(["web", "--ops-listen", "127.0.0.1:0"])
        .envs(herald_app::worker_environment(settings))
        .env("HERALD_WEB__LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting a herald web process")?;
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/sign-in")).await.is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("herald web did not answer on {base} within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok((child, base))
}

fn print_times(kind: &str, times: &[f64]) {
    let times = sorted(times);
    println!(
        "   {:<44} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
        kind,
        times.len(),
        crate::quantile(&times, 0.5),
        crate::quantile(&times, 0.95),
        crate::quantile(&times, 0.99),
        times.last().copied().unwrap_or(0.0)
    );
}

/// The mix of per-recipient page loads: first pages, a long walk of next
/// links deep in the table, jumps to cursors all over it, both status
/// filters and two kinds of search. First the API walks the whole table a
/// thousand rows at a time, which gives the cursors.
async fn pages(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    id: NotificationId,
    directory: &[(String, String)],
) -> anyhow::Result<Timings> {
    let mut timings = Timings::default();
    let page = format!("{base}/announcements/{id}/recipients");
    // Untimed: the first loads warm the connection and the plan cache.
    for _ in 0..3 {
        let _ = fetch(client, &page, cookie).await;
    }
    let mut order: Vec<String> = Vec::new();
    // Rows of each API page but the last, which may be short.
    let mut sizes: Vec<usize> = Vec::new();
    let mut next = Some(format!("/api/v1/announcements/{id}/recipients?limit=1000"));
    while let Some(path) = next.take() {
        let outcome = fetch(client, &format!("{base}{path}"), cookie).await;
        timings.record("API ?limit=1000, whole table by next links", &outcome);
        let (_, body) = outcome.map_err(anyhow::Error::msg)?;
        let body: Value = serde_json::from_str(&body)?;
        let items = body["items"]
            .as_array()
            .context("an API page without items")?;
        for item in items {
            order.push(
                item["recipient"]
                    .as_str()
                    .context("an item without recipient")?
                    .to_owned(),
            );
        }
        next = body["next"].as_str().map(str::to_owned);
        if next.is_some() {
            sizes.push(items.len());
        }
    }
    if sizes.iter().skip(1).any(|&rows| rows != 1000) {
        timings.notes.push(format!(
            "the API's first page had {} rows as asked, but its next links drop limit=1000: the other {} pages had {} rows",
            sizes.first().copied().unwrap_or(0),
            sizes.len().saturating_sub(1),
            sizes.get(1).copied().unwrap_or(0)
        ));
    }
    if order.len() < 2 {
        bail!(
            "the table has {} rows: nothing to page through",
            order.len()
        );
    }
    // Cursors spread evenly over the whole order.
    let deep = |i: usize, of: usize| {
        order[((2 * i + 1) * order.len() / (2 * of)).min(order.len() - 1)].clone()
    };

    for _ in 0..20 {
        timings.record("first page", &fetch(client, &page, cookie).await);
    }
    // A person paging on from the middle of the table.
    let mut url = Some(format!("{page}?after={}", order[order.len() / 2]));
    for _ in 0..100 {
        let Some(at) = url.take() else { break };
        let outcome = fetch(client, &at, cookie).await;
        timings.record("next page x100, from the middle on", &outcome);
        url = outcome
            .ok()
            .and_then(|(_, body)| next_link(&body))
            .map(|link| format!("{base}{link}"));
    }
    for i in 0..40 {
        let outcome = fetch(client, &format!("{page}?after={}", deep(i, 40)), cookie).await;
        timings.record("after= cursors spread over the table", &outcome);
    }
    for status in ["delivered", "blocked"] {
        let kind = format!("status={status}, first and deep pages");
        for i in 0..20 {
            let url = if i % 2 == 0 {
                format!("{page}?status={status}")
            } else {
                format!("{page}?status={status}&after={}", deep(i / 2, 10))
            };
            timings.record(&kind, &fetch(client, &url, cookie).await);
        }
    }
    // Searches: a surname (about one person in twenty has it) and a UPN
    // less its last digit (a handful of people).
    let step = (directory.len() / 20).max(1);
    let sample: Vec<&(String, String)> = directory.iter().step_by(step).take(20).collect();
    for (name, _) in &sample {
        let word = name
            .split_whitespace()
            .last()
            .unwrap_or(name)
            .to_lowercase();
        let outcome = fetch(client, &format!("{page}?q={}", encode(&word)), cookie).await;
        timings.record("q= a surname (about 5 % match)", &outcome);
    }
    for (_, upn) in &sample {
        let local = upn.split('@').next().unwrap_or(upn);
        let part: String = local
            .chars()
            .take(local.chars().count().saturating_sub(1))
            .collect();
        let outcome = fetch(client, &format!("{page}?q={}", encode(&part)), cookie).await;
        timings.record("q= a UPN less its last digit (a few)", &outcome);
    }
    Ok(timings)
}

/// The `#next-page` link of a per-recipient page, unescaped.
fn next_link(html: &str) -> Option<String> {
    let at = html.find("id=\"next-page\"")?;
    let tag = &html[html[..at].rfind("<a ")?..at];
    let start = tag.find("href=\"")? + "href=\"".len();
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

/// HTML character references, as a template escapes a link.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "quot" => Some('"'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Export {
    seconds: f64,
    bytes: u64,
    /// CSV records, the header included.
    records: u64,
    /// The process serving the export.
    web: Resident,
    /// This process, which downloads it.
    bench: Resident,
}

/// VmRSS before, at the highest sample during, and after, in KiB.
#[derive(Default)]
struct Resident {
    before_kb: u64,
    peak_kb: u64,
    after_kb: u64,
}

/// Samples the VmRSS of a process every 50 ms until told to stop.
fn sample_rss(pid: String, stopped: watch::Receiver<bool>) -> tokio::task::JoinHandle<Resident> {
    tokio::spawn(async move {
        let before_kb = memory(&pid).rss_kb;
        let mut peak_kb = before_kb;
        while !*stopped.borrow() {
            peak_kb = peak_kb.max(memory(&pid).rss_kb);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let after_kb = memory(&pid).rss_kb;
        Resident {
            before_kb,
            peak_kb: peak_kb.max(after_kb),
            after_kb,
        }
    })
}

/// Downloads a CSV export as it streams, counting its records (line ends
/// outside quoted fields), while the VmRSS of the serving process and of
/// this one is sampled every 50 ms.
async fn export(
    client: &reqwest::Client,
    url: &str,
    cookie: &str,
    web_pid: &str,
) -> anyhow::Result<Export> {
    let (stop, stopped) = watch::channel(false);
    let web = sample_rss(web_pid.to_owned(), stopped.clone());
    let bench = sample_rss("self".to_owned(), stopped);
    let started = Instant::now();
    let response = client.get(url).header(COOKIE, cookie).send().await;
    let counted = async {
        let mut response = response?.error_for_status()?;
        let (mut bytes, mut records, mut quoted) = (0u64, 0u64, false);
        while let Some(chunk) = response.chunk().await? {
            bytes += chunk.len() as u64;
            for &b in chunk.iter() {
                match b {
                    b'"' => quoted = !quoted,
                    b'\n' if !quoted => records += 1,
                    _ => {}
                }
            }
        }
        anyhow::Ok((bytes, records))
    }
    .await;
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let web = web.await.unwrap_or_default();
    let bench = bench.await.unwrap_or_default();
    let (bytes, records) = counted?;
    Ok(Export {
        seconds,
        bytes,
        records,
        web,
        bench,
    })
}

/// Everyone's display name and UPN, in the directory's order.
async fn directory_people(control: &str) -> anyhow::Result<Vec<(String, String)>> {
    let directory: Value = reqwest::get(format!("{control}/directory"))
        .await?
        .json()
        .await?;
    Ok(directory["users"]
        .as_array()
        .context("directory without users")?
        .iter()
        .filter_map(|u| {
            Some((
                u["displayName"].as_str()?.to_owned(),
                u["userPrincipalName"].as_str()?.to_owned(),
            ))
        })
        .collect())
}

// ------------------------------------------------------------------ shared

/// An admin sees every announcement, those the benchmark submits too.
pub(crate) fn admin_upn(emulator: &teams_emulator::RunningEmulator) -> anyhow::Result<String> {
    Ok(emulator
        .staff_accounts()
        .into_iter()
        .find(|a| a.roles.iter().any(|r| r == "Herald.Admin"))
        .context("the emulator has no admin")?
        .user_principal_name)
}

/// A connection pool of the benchmark's own, so that watching the send
/// neither takes connections from Herald nor waits for them when Herald's
/// pool is exhausted.
pub(crate) async fn monitor(settings: &herald_config::Settings) -> anyhow::Result<Store> {
    Ok(Store::connect(settings.database.url.expose_secret(), 2).await?)
}

/// Waits until the announcement has finished sending. A failed look is
/// tried again: the database may be busy, and that is not the end.
async fn wait_for_end(store: &Store, id: NotificationId) -> anyhow::Result<Progress> {
    let started = Instant::now();
    let mut failed = 0;
    loop {
        match store.progress(id).await {
            Ok(Some(progress)) if progress.notification.status.is_final() => {
                if failed > 0 {
                    println!(
                        "   ({failed} progress reads of the benchmark failed and were tried again)"
                    );
                }
                return Ok(progress);
            }
            Ok(Some(progress)) if started.elapsed() > Duration::from_secs(1800) => {
                bail!("no end after 30 minutes: {progress:?}");
            }
            Ok(Some(_)) => {}
            Ok(None) => bail!("the notification vanished"),
            Err(_) if failed < 100 => failed += 1,
            Err(error) => return Err(error.into()),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn read_count(store: &Store, id: NotificationId) -> anyhow::Result<i64> {
    Ok(store
        .progress(id)
        .await?
        .context("the notification vanished")?
        .notification
        .read)
}

/// Deliveries per second from the first to the last.
pub(crate) fn rate(progress: &Progress) -> anyhow::Result<f64> {
    let n = &progress.notification;
    let (Some(first), Some(last)) = (n.first_delivery_at, n.last_delivery_at) else {
        bail!("nothing was delivered: {progress:?}");
    };
    Ok(pipeline::delivery_rate(
        progress.count(DeliveryStatus::Delivered),
        first,
        last,
    ))
}

/// Milliseconds to the last byte of a successful answer and its body, or
/// what went wrong.
pub(crate) async fn fetch(
    client: &reqwest::Client,
    url: &str,
    cookie: &str,
) -> Result<(f64, String), String> {
    let started = Instant::now();
    let response = client
        .get(url)
        .header(COOKIE, cookie)
        .send()
        .await
        .map_err(|e| format!("no answer ({e})"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("cut short ({e})"))?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if !status.is_success() {
        return Err(format!("{status}: {}", problem(&body)));
    }
    Ok((ms, body))
}

/// What an error answer says: the heading and the message of Herald's
/// error page, or the start of any other body.
fn problem(body: &str) -> String {
    let text_after = |marker: &str, end: &str| -> Option<String> {
        let start = body.find(marker)? + marker.len();
        let start = start + body[start..].find('>')? + 1;
        let stop = start + body[start..].find(end)?;
        Some(unescape(body[start..stop].trim()))
    };
    match text_after("id=\"error-title\"", "</h1>") {
        Some(title) => {
            let message = body
                .find("</h1>")
                .and_then(|at| {
                    let rest = &body[at..];
                    let start = rest.find("<p>")? + 3;
                    let stop = start + rest[start..].find("</p>")?;
                    Some(unescape(rest[start..stop].trim()))
                })
                .unwrap_or_default();
            format!("{title} {message}").trim().to_owned()
        }
        None => body.chars().take(120).collect(),
    }
}

pub(crate) fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

/// VmRSS and VmHWM of `/proc/{pid}/status` (`self` for this process).
pub(crate) fn memory(pid: &str) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kb: field("VmRSS:"),
        hwm_kb: field("VmHWM:"),
    }
}

pub(crate) fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_page_link_unescaped() {
        let html = r#"<a class="button" href="&#x2f;announcements&#x2f;x&#x2f;recipients?status=blocked&amp;after=abc" rel="next" id="next-page">Next page</a>"#;
        assert_eq!(
            next_link(html).as_deref(),
            Some("/announcements/x/recipients?status=blocked&after=abc")
        );
        assert_eq!(next_link("<p>no link</p>"), None);
    }

    #[test]
    fn progress_events_only() {
        assert_eq!(
            progress_data("retry: 2000\nevent: progress\ndata: {\"a\":1}\n\n").as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(progress_data(": still here\n\n"), None);
    }

    #[test]
    fn reads_settle_after_their_p99() {
        assert_eq!(reads_settle_seconds(&reads()), 20);
    }
}
