//! `herald-bench pipeline`: a broadcast through the real pipeline (prepare
//! in this process, send-workers as `herald send-worker` processes,
//! PostgreSQL, RabbitMQ) against the emulator, with figures from the
//! database and the emulator's own counters.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herald_config::Settings;
use herald_domain::audience::Target;
use herald_domain::{Audience, Content, DeliveryStatus, NotificationStatus, Title};
use serde_json::Value;
use teams_emulator::EmulatorConfig;
use tokio::process::{Child, Command};

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub recipients: usize,
    /// The emulator's per-tenant limit; 0 turns every limit off.
    pub global_rps: u32,
    pub latency_ms: [u64; 2],
    pub workers: usize,
    /// Herald starts knowing nobody's chat: the audience is everyone in the
    /// directory, resolved through Graph under its real limits, and those
    /// without the app get it installed first.
    pub cold: bool,
    /// Share of the directory that has the app already (cold runs).
    pub installed_fraction: f64,
    /// The audience is `all` (with every conversation known), and the run
    /// stops once the audience is prepared: what it measures is whether
    /// preparing keeps ahead of sending, not the (long) send itself.
    pub everyone: bool,
    /// What the issue asks of it, printed beside the figures.
    pub target: &'static str,
}

impl Scenario {
    /// Every limit off, everyone's chat known, one send-worker: what
    /// Herald itself can do.
    pub fn unlimited(name: &'static str, recipients: usize) -> Self {
        Scenario {
            name,
            recipients,
            global_rps: 0,
            latency_ms: [0, 0],
            workers: 1,
            cold: false,
            installed_fraction: 1.0,
            everyone: false,
            target: "",
        }
    }
}

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "ceiling",
            recipients: 20_000,
            global_rps: 200,
            latency_ms: [0, 0],
            workers: 1,
            cold: false,
            installed_fraction: 1.0,
            everyone: false,
            target: ">= 95 % of 200/s, 429s <= 1 %, 0 lost, 0 duplicates",
        },
        Scenario {
            target: ">= 2,000 deliveries/s, send-worker peak RSS <= 150 MB",
            ..Scenario::unlimited("overhead", 100_000)
        },
        Scenario {
            name: "latency",
            recipients: 3_000,
            global_rps: 50,
            latency_ms: [150, 1000],
            workers: 1,
            cold: false,
            installed_fraction: 1.0,
            everyone: false,
            target: ">= 95 % of 50/s with p50 150 ms, p99 1 s",
        },
        Scenario {
            name: "scale-out",
            recipients: 20_000,
            global_rps: 200,
            latency_ms: [0, 0],
            workers: 3,
            cold: false,
            installed_fraction: 1.0,
            everyone: false,
            target: "three workers together under 200/s and >= 95 % of it",
        },
        Scenario {
            name: "cold",
            recipients: 5_000,
            global_rps: 50,
            latency_ms: [0, 0],
            workers: 1,
            cold: true,
            installed_fraction: 0.0,
            everyone: false,
            target: "first delivery <= 2 s after the send; total <= 1.15 x max(install bound, send bound); Graph 429s <= 1 % of Graph calls",
        },
        Scenario {
            name: "fresh-all",
            recipients: 600,
            global_rps: 50,
            latency_ms: [0, 0],
            workers: 1,
            cold: true,
            installed_fraction: 0.3,
            everyone: false,
            target: "a fresh Herald sends to all (30 % have the app): Graph 429s <= 1 % of Graph calls",
        },
        Scenario {
            name: "everyone",
            recipients: 100_000,
            global_rps: 50,
            latency_ms: [0, 0],
            workers: 1,
            cold: false,
            installed_fraction: 1.0,
            everyone: true,
            target: "first delivery <= 5 s; prepare keeps ahead of the send rate",
        },
    ]
}

pub struct Figures {
    pub delivered: i64,
    pub lost: i64,
    pub rate: f64,
    pub share_of_limit: Option<f64>,
    pub throttled: u64,
    pub duplicates: u64,
    pub peak_rss_mb: f64,
    pub prepare_seconds: f64,
}

pub async fn run(scenario: &Scenario, herald: &std::path::Path) -> anyhow::Result<Figures> {
    println!(
        "== {} : {} recipients, limit {}, latency {:?}, {} send-worker(s)",
        scenario.name,
        scenario.recipients,
        if scenario.global_rps == 0 {
            "off".to_owned()
        } else {
            format!("{}/s", scenario.global_rps)
        },
        scenario.latency_ms,
        scenario.workers
    );
    println!("   target: {}", scenario.target);
    let emulator = teams_emulator::start(emulator_config(scenario)).await?;
    let mut settings = settings(&emulator.urls, scenario)?;
    let roles = herald_app::Roles {
        prepare: true,
        send: false,
        web: scenario.cold,
    };
    let running = herald_app::start(&settings, roles).await?;
    let store = running.infrastructure.store.clone();
    let people = if scenario.cold {
        // Installs are announced to the bot, which stores the chats.
        let web = running.web.as_ref().context("the web role runs")?;
        reqwest::Client::new()
            .post(format!("{}/config", emulator.urls.control))
            .json(&serde_json::json!({"bot_endpoint": format!("http://{}/api/messages", web.address)}))
            .send()
            .await?;
        Vec::new()
    } else {
        herald_testkit::seed_known_conversations(&store, &emulator.urls, scenario.recipients)
            .await?
    };
    let mut workers = Vec::new();
    for _ in 0..scenario.workers {
        workers.push(spawn_worker(herald, &settings)?);
    }
    // Let every worker announce itself before the broadcast starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let target = if scenario.cold || scenario.everyone {
        Target::Everyone
    } else {
        Target::users_from_csv("bench.csv", &people.join("\n"))?
    };
    let id = submit(&running, &format!("Benchmark {}", scenario.name), target).await?;
    let mut peak_rss = vec![0u64; workers.len()];
    let mut prepared_at = None;
    let progress = loop {
        for (worker, peak) in workers.iter().zip(peak_rss.iter_mut()) {
            *peak = (*peak).max(peak_rss_kb(worker).unwrap_or(0));
        }
        let progress = store
            .progress(id)
            .await?
            .context("the notification vanished")?;
        if progress.notification.prepared && prepared_at.is_none() {
            prepared_at = Some(started.elapsed());
            if scenario.everyone {
                report_everyone(&progress, started.elapsed(), scenario);
                store.cancel_notification(id, "herald-bench").await?;
            }
        }
        if progress.notification.status.is_final() {
            break progress;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("no end after 30 minutes: {progress:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let stats: Value = reqwest::get(format!("{}/stats", emulator.urls.control))
        .await?
        .json()
        .await?;
    let n = &progress.notification;
    let (Some(first), Some(last)) = (n.first_delivery_at, n.last_delivery_at) else {
        bail!("nothing was delivered: {progress:?}");
    };
    let delivered = progress.count(DeliveryStatus::Delivered);
    let rate = delivery_rate(delivered, first, last);
    let sends = "POST /teams/v3/conversations/{id}/activities";
    if scenario.cold {
        let submitted = n.send_started_at.unwrap_or(n.created_at);
        let total = (n.completed_at.unwrap_or(last) - submitted).as_seconds_f64();
        let to_install = (scenario.recipients as f64 * (1.0 - scenario.installed_fraction)).round();
        let install_bound = to_install / 30.0;
        let send_bound = scenario.recipients as f64 / f64::from(scenario.global_rps.max(1));
        let bound = install_bound.max(send_bound);
        println!(
            "   first delivery {:.2} s after the send; total {:.1} s; install bound {:.1} s (30 installs/s), send bound {:.1} s: {:.2} x the slower; installs {}",
            (first - submitted).as_seconds_f64(),
            total,
            install_bound,
            send_bound,
            total / bound,
            stats["installs"]
        );
        print_graph_figures(&stats);
    }
    let figures = Figures {
        delivered,
        // Canceled deliveries (the everyone run stops early) are not lost.
        lost: scenario.recipients as i64 - delivered - progress.count(DeliveryStatus::Canceled),
        rate,
        share_of_limit: (scenario.global_rps > 0).then(|| rate / f64::from(scenario.global_rps)),
        throttled: stats["throttled_by_endpoint"][sends].as_u64().unwrap_or(0),
        duplicates: stats["duplicate_activities"].as_u64().unwrap_or(0),
        peak_rss_mb: peak_rss.iter().copied().max().unwrap_or(0) as f64 / 1024.0,
        prepare_seconds: prepared_at.unwrap_or_default().as_secs_f64(),
    };
    let requests = stats["requests"][sends].as_u64().unwrap_or(1).max(1);
    println!(
        "   status {}: delivered {} of {}, lost {}, {:.1} deliveries/s first to last{}",
        n.status.as_str(),
        figures.delivered,
        scenario.recipients,
        figures.lost,
        figures.rate,
        figures
            .share_of_limit
            .map(|s| format!(" = {:.1} % of the limit", s * 100.0))
            .unwrap_or_default()
    );
    println!(
        "   429s {} ({:.2} % of {} send requests), duplicates {}, send-worker peak RSS {:.1} MB, audience prepared in {:.1} s",
        figures.throttled,
        figures.throttled as f64 * 100.0 / requests as f64,
        requests,
        figures.duplicates,
        figures.peak_rss_mb,
        figures.prepare_seconds
    );
    if n.status != NotificationStatus::Sent {
        println!(
            "   warning: the notification ended {}: {:?}",
            n.status.as_str(),
            n.error
        );
    }
    for worker in workers {
        stop_worker(worker).await;
    }
    tear_down(running, &mut settings, emulator).await;
    Ok(figures)
}

/// Deliveries per second from the first to the last one.
pub(crate) fn delivery_rate(
    delivered: i64,
    first: time::OffsetDateTime,
    last: time::OffsetDateTime,
) -> f64 {
    let span = (last - first).as_seconds_f64().max(0.001);
    (delivered - 1).max(0) as f64 / span
}

pub(crate) fn emulator_config(scenario: &Scenario) -> EmulatorConfig {
    let mut config = EmulatorConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        workers: 2,
        ..EmulatorConfig::default()
    };
    let directory = &mut config.directory;
    directory.users = scenario.recipients;
    directory.installed_fraction = scenario.installed_fraction;
    directory.blocked_fraction = 0.0;
    directory.departing_fraction = 0.0;
    directory.guest_fraction = 0.0;
    directory.disabled_fraction = 0.0;
    let behaviour = &mut config.behaviour;
    behaviour.global_rps = scenario.global_rps;
    behaviour.latency_ms = scenario.latency_ms;
    // Directory reads are not what the others measure; installs are what the
    // cold one measures, under Graph's real limits.
    behaviour.graph_limits = scenario.cold;
    if scenario.global_rps == 0 {
        behaviour.thread_limits = false;
    }
    config
}

/// Herald's settings (`herald_testkit::own_settings`: the configured
/// servers, a database and queues of the run's own) for a scenario.
pub(crate) fn settings(
    urls: &teams_emulator::EmulatorUrls,
    scenario: &Scenario,
) -> anyhow::Result<Settings> {
    let mut settings = herald_testkit::own_settings("bench")?;
    settings.ops.listen = ([127, 0, 0, 1], 0).into();
    settings.web.listen = ([127, 0, 0, 1], 0).into();
    settings.prepare.graph_concurrency = 32;
    settings.send.rate_per_second = if scenario.global_rps == 0 {
        1_000_000.0
    } else {
        f64::from(scenario.global_rps)
    };
    herald_app::use_emulator(&mut settings, urls);
    Ok(settings)
}

/// Graph calls and Graph 429s, from the emulator's counters.
fn graph_figures(stats: &Value) -> (u64, u64) {
    let graph = |key: &str| -> u64 {
        stats[key]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(endpoint, _)| endpoint.contains(" /graph/"))
                    .filter_map(|(_, n)| n.as_u64())
                    .sum()
            })
            .unwrap_or(0)
    };
    (graph("requests"), graph("throttled_by_endpoint"))
}

fn print_graph_figures(stats: &Value) {
    let (calls, throttled) = graph_figures(stats);
    println!(
        "   Graph: {calls} calls, {throttled} answered 429 ({:.2} %); by endpoint: {}",
        throttled as f64 * 100.0 / calls.max(1) as f64,
        graph_breakdown(stats)
    );
}

/// `endpoint calls/429s` for every Graph endpoint called.
fn graph_breakdown(stats: &Value) -> String {
    let Some(requests) = stats["requests"].as_object() else {
        return String::new();
    };
    requests
        .iter()
        .filter(|(endpoint, _)| endpoint.contains(" /graph/"))
        .map(|(endpoint, n)| {
            let refused = stats["throttled_by_endpoint"][endpoint]
                .as_u64()
                .unwrap_or(0);
            format!("{} {n}/{refused}", endpoint.replace("/graph/v1.0", ""))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `herald-bench pipeline delta`: everyone twice in a 100,000-person
/// directory, 100 changes in between; counts the Graph calls each
/// broadcast makes to learn the directory.
pub async fn run_delta(recipients: usize) -> anyhow::Result<()> {
    println!("== delta : everyone in {recipients} people, twice, 100 directory changes in between");
    println!("   target: the second broadcast fetches only the changes");
    let scenario = Scenario {
        name: "delta",
        recipients,
        global_rps: 0,
        latency_ms: [0, 0],
        workers: 0,
        cold: false,
        installed_fraction: 1.0,
        everyone: true,
        target: "",
    };
    let emulator = teams_emulator::start(emulator_config(&scenario)).await?;
    let mut settings = settings(&emulator.urls, &scenario)?;
    let roles = herald_app::Roles {
        prepare: true,
        send: false,
        web: false,
    };
    let running = herald_app::start(&settings, roles).await?;
    let store = running.infrastructure.store.clone();
    herald_testkit::seed_known_conversations(&store, &emulator.urls, recipients).await?;
    let http = reqwest::Client::new();
    let control = emulator.urls.control.clone();
    let delta_calls = async || -> anyhow::Result<u64> {
        let stats: Value = http
            .get(format!("{control}/stats"))
            .send()
            .await?
            .json()
            .await?;
        Ok(stats["requests"]["GET /graph/v1.0/users/delta"]
            .as_u64()
            .unwrap_or(0))
    };
    let mut rounds = Vec::new();
    for round in 1..=2 {
        if round == 2 {
            let directory: Value = http
                .get(format!("{control}/directory"))
                .send()
                .await?
                .json()
                .await?;
            let ids: Vec<String> = directory["users"]
                .as_array()
                .context("users")?
                .iter()
                .take(75)
                .filter_map(|u| u["id"].as_str().map(str::to_owned))
                .collect();
            for (index, id) in ids.iter().enumerate() {
                if index < 50 {
                    http.patch(format!("{control}/directory/users/{id}"))
                        .json(&serde_json::json!({"displayName": format!("Renamed {index}")}))
                        .send()
                        .await?;
                } else {
                    http.delete(format!("{control}/directory/users/{id}"))
                        .send()
                        .await?;
                }
            }
            for index in 0..25 {
                http.post(format!("{control}/directory/users"))
                    .json(&serde_json::json!({"displayName": format!("New hire {index}")}))
                    .send()
                    .await?;
            }
        }
        http.post(format!("{control}/stats/reset")).send().await?;
        let before = delta_calls().await?;
        let started = Instant::now();
        let id = submit(
            &running,
            &format!("Everyone, round {round}"),
            Target::Everyone,
        )
        .await?;
        let progress = loop {
            let progress = store
                .progress(id)
                .await?
                .context("the notification vanished")?;
            if progress.notification.prepared || progress.notification.status.is_final() {
                break progress;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let calls = delta_calls().await? - before;
        println!(
            "   round {round}: {} recipients prepared in {:.1} s with {calls} users/delta call(s)",
            progress.total(),
            started.elapsed().as_secs_f64()
        );
        let stats: Value = http
            .get(format!("{control}/stats"))
            .send()
            .await?
            .json()
            .await?;
        print_graph_figures(&stats);
        rounds.push(calls);
        store.cancel_notification(id, "herald-bench").await?;
    }
    println!(
        "   the second round made {} delta call(s) against {} for the first",
        rounds[1], rounds[0]
    );
    tear_down(running, &mut settings, emulator).await;
    Ok(())
}

/// Prepared: how soon sending started and how far ahead of it preparing is.
fn report_everyone(progress: &herald_store::Progress, elapsed: Duration, scenario: &Scenario) {
    let n = &progress.notification;
    let submitted = n.send_started_at.unwrap_or(n.created_at);
    let first = n
        .first_delivery_at
        .map(|f| format!("{:.2} s", (f - submitted).as_seconds_f64()))
        .unwrap_or_else(|| "none yet".to_owned());
    let delivered = progress.count(DeliveryStatus::Delivered);
    let send_time = scenario.recipients as f64 / f64::from(scenario.global_rps.max(1));
    println!(
        "   first delivery {first} after the send; all {} prepared and queued after {:.1} s, when {} were delivered; sending them all takes {:.0} s at the limit, so preparing is {:.0}x ahead",
        progress.total(),
        elapsed.as_secs_f64(),
        delivered,
        send_time,
        send_time / elapsed.as_secs_f64().max(0.001)
    );
    println!("   (the broadcast is canceled here: the rest is the send benchmarks' job)");
}

/// What the storm and edit benchmarks start from: the emulator, Herald's
/// prepare role in this process knowing everyone's chat, and one
/// send-worker process, given two seconds to connect.
pub(crate) struct Seeded {
    pub emulator: teams_emulator::RunningEmulator,
    pub settings: Settings,
    pub running: herald_app::Running,
    /// The people whose chats are known, as object ids.
    pub people: Vec<String>,
    pub worker: Child,
}

pub(crate) async fn start_seeded(
    herald: &std::path::Path,
    scenario: &Scenario,
    tweak: impl FnOnce(&mut Settings),
) -> anyhow::Result<Seeded> {
    let emulator = teams_emulator::start(emulator_config(scenario)).await?;
    let mut settings = settings(&emulator.urls, scenario)?;
    tweak(&mut settings);
    let roles = herald_app::Roles {
        prepare: true,
        send: false,
        web: false,
    };
    let running = herald_app::start(&settings, roles).await?;
    let people = herald_testkit::seed_known_conversations(
        &running.infrastructure.store,
        &emulator.urls,
        scenario.recipients,
    )
    .await?;
    let worker = spawn_worker(herald, &settings)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(Seeded {
        emulator,
        settings,
        running,
        people,
        worker,
    })
}

pub(crate) fn spawn_worker(herald: &std::path::Path, settings: &Settings) -> anyhow::Result<Child> {
    let child = Command::new(herald)
        .args(["send-worker", "--ops-listen", "127.0.0.1:0"])
        .envs(herald_app::worker_environment(settings))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting a send-worker process")?;
    Ok(child)
}

/// Submits a benchmark announcement to one target.
pub(crate) async fn submit(
    running: &herald_app::Running,
    title: &str,
    target: Target,
) -> anyhow::Result<herald_domain::NotificationId> {
    let content = Content::new(Title::parse(title)?);
    let audience = Audience::new(vec![target])?;
    let infrastructure = &running.infrastructure;
    Ok(herald_prepare::submit(
        &infrastructure.store,
        &infrastructure.broker,
        &content,
        &audience,
        "bench",
    )
    .await?)
}

/// Stops Herald and the emulator, and removes the run's queues and database.
pub(crate) async fn tear_down(
    running: herald_app::Running,
    settings: &mut Settings,
    emulator: teams_emulator::RunningEmulator,
) {
    let broker = running.infrastructure.broker.clone();
    running.stop().await;
    let _ = broker.delete_topology().await;
    herald_testkit::drop_database(settings).await;
    emulator.stop().await;
}

/// Stops a worker as an operator would, with SIGTERM (so that it closes its
/// connections cleanly), and kills it if it has not stopped within 30 s.
pub(crate) async fn stop_worker(mut worker: Child) {
    if let Some(pid) = worker.id() {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(30), worker.wait())
        .await
        .is_err()
    {
        let _ = worker.start_kill();
        let _ = worker.wait().await;
    }
}

/// Peak resident set (VmHWM) of a child, in KiB.
fn peak_rss_kb(child: &Child) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()?)).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `herald-bench pipeline storm`: Teams' real limit below Herald's
/// configured one (20/s against 50/s), then, mid-send, raised back to
/// 50/s. Prints, for each phase, the delivery rate against the real limit,
/// the 429 share (all of it, and once converged) and how long Herald took
/// to reach 90 % of the real limit.
pub async fn run_storm(herald: &std::path::Path, recipients: usize) -> anyhow::Result<()> {
    const LOW: u32 = 20;
    const HIGH: u32 = 50;
    const LOW_SECONDS: f64 = 60.0;
    println!(
        "== storm : {recipients} recipients, Herald set to {HIGH}/s, Teams allowing {LOW}/s for {LOW_SECONDS:.0} s, then {HIGH}/s"
    );
    println!("   target: >= 0.9 of the real limit in both phases; <= 2 % 429s once converged");
    let scenario = Scenario {
        name: "storm",
        recipients,
        global_rps: LOW,
        latency_ms: [0, 0],
        workers: 1,
        cold: false,
        installed_fraction: 1.0,
        everyone: false,
        target: "",
    };
    let Seeded {
        emulator,
        mut settings,
        running,
        people,
        worker,
    } = start_seeded(herald, &scenario, |s| {
        s.send.rate_per_second = f64::from(HIGH)
    })
    .await?;
    let store = running.infrastructure.store.clone();
    let control = emulator.urls.control.clone();
    let http = reqwest::Client::new();
    let target = Target::users_from_csv("storm.csv", &people.join("\n"))?;
    let id = submit(&running, "Benchmark storm", target).await?;
    let started = Instant::now();
    let mut samples: Vec<StormSample> = Vec::new();
    let mut raised_at = None;
    loop {
        let progress = store
            .progress(id)
            .await?
            .context("the notification vanished")?;
        let stats: Value = http
            .get(format!("{control}/stats"))
            .send()
            .await?
            .json()
            .await?;
        let sends = "POST /teams/v3/conversations/{id}/activities";
        samples.push(StormSample {
            at: started.elapsed().as_secs_f64(),
            delivered: progress.count(DeliveryStatus::Delivered),
            requests: stats["requests"][sends].as_u64().unwrap_or(0),
            throttled: stats["throttled_by_endpoint"][sends].as_u64().unwrap_or(0),
        });
        if raised_at.is_none() && started.elapsed().as_secs_f64() >= LOW_SECONDS {
            http.post(format!("{control}/config"))
                .json(&serde_json::json!({"global_rps": HIGH}))
                .send()
                .await?;
            raised_at = Some(started.elapsed().as_secs_f64());
        }
        if progress.notification.status.is_final() {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("no end after 30 minutes: {progress:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let raised_at =
        raised_at.context("the send ended before the limit was raised: use more recipients")?;
    let first = samples
        .iter()
        .find(|s| s.delivered > 0)
        .map_or(0.0, |s| s.at);
    report_storm_phase("20/s", &samples, first, raised_at, f64::from(LOW));
    let end = samples.last().map_or(raised_at, |s| s.at);
    report_storm_phase("50/s", &samples, raised_at, end, f64::from(HIGH));
    stop_worker(worker).await;
    tear_down(running, &mut settings, emulator).await;
    Ok(())
}

struct StormSample {
    at: f64,
    delivered: i64,
    requests: u64,
    throttled: u64,
}

/// One phase of the storm: rate against the real limit, 429 share, and the
/// time until a five-second window first reached 90 % of the limit.
fn report_storm_phase(name: &str, samples: &[StormSample], from: f64, to: f64, limit: f64) {
    let at = |t: f64| samples.iter().rev().find(|s| s.at <= t).or(samples.first());
    let (Some(start), Some(end)) = (at(from), at(to)) else {
        return;
    };
    let seconds = (end.at - start.at).max(0.001);
    let rate = (end.delivered - start.delivered) as f64 / seconds;
    let window = 5.0;
    let converged = samples
        .iter()
        .filter(|s| s.at >= start.at + window && s.at <= end.at)
        .find(|s| {
            at(s.at - window).is_some_and(|w| {
                (s.delivered - w.delivered) as f64 / (s.at - w.at).max(0.001) >= 0.9 * limit
            })
        })
        .map(|s| s.at - start.at);
    let share = |a: &StormSample, b: &StormSample| {
        let requests = b.requests.saturating_sub(a.requests).max(1);
        (
            b.throttled.saturating_sub(a.throttled) as f64 * 100.0 / requests as f64,
            requests,
        )
    };
    let (all, requests) = share(start, end);
    let after = converged
        .and_then(|c| at(start.at + c))
        .map(|c| share(c, end).0);
    println!(
        "   phase {name}: {:.1} s, {:.1} deliveries/s = {:.2} of the real limit; 429s {all:.2} % of {requests} sends ({}); 90 % of the limit reached after {}",
        seconds,
        rate,
        rate / limit,
        after.map_or("never converged".to_owned(), |a| format!(
            "{a:.2} % once converged"
        )),
        converged.map_or("never".to_owned(), |c| format!("{c:.1} s")),
    );
}
