//! `herald-bench web`: the compose page and the audience search served to
//! a crowd of signed-in staff while a 20,000-recipient broadcast runs, and
//! the same broadcast with no one on the pages, side by side in one run.
//! Prints page-time quantiles (alone and during the send) and the send
//! rate against its ceiling (with and without the page load).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herald_domain::DeliveryStatus;
use herald_domain::audience::Target;
use reqwest::header::COOKIE;
use tokio::sync::{Mutex, watch};

use crate::pipeline::{self, Scenario};

#[derive(Debug, Clone)]
pub struct Options {
    pub recipients: usize,
    /// Staff on the pages at once, each loading a page, thinking, again.
    pub staff: usize,
    pub think_ms: u64,
    /// How long the page load runs alone, before any send.
    pub idle_seconds: u64,
}

/// Page times in milliseconds, by page.
#[derive(Default)]
struct Samples {
    compose: Vec<f64>,
    search: Vec<f64>,
    /// Failed requests by what went wrong.
    failures: std::collections::BTreeMap<String, u64>,
}

pub async fn run(options: &Options, herald: &std::path::Path) -> anyhow::Result<()> {
    let scenario = Scenario {
        name: "web",
        recipients: options.recipients,
        global_rps: 200,
        latency_ms: [0, 0],
        workers: 1,
        cold: false,
        installed_fraction: 1.0,
        everyone: false,
        target: "p95 page time <= 50 ms during the send, send >= 95 % of 200/s",
    };
    println!(
        "== web : {} staff on the compose page and the audience search (think {} ms), {} recipients, limit 200/s",
        options.staff, options.think_ms, options.recipients
    );
    println!("   target: {}", scenario.target);
    let Stage {
        emulator,
        mut settings,
        running,
        base,
        people,
    } = stage(&scenario, |_| {}).await?;
    let staff_upn = staff_with(&emulator, "Herald.Author")?;
    let cookie = herald_testkit::web::sign_in(&base, &staff_upn).await?;
    let words = search_words(&emulator.urls.control).await?;
    let worker = pipeline::spawn_worker(herald, &settings)?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let alone = page_load(options, &base, &cookie, &words, None).await;
    report("pages, no send running", &alone);

    let target = Target::users_from_csv("bench.csv", &people.join("\n"))?;
    let (done, finished) = watch::channel(false);
    let load = {
        let (options, base, cookie, words) =
            (options.clone(), base.clone(), cookie.clone(), words.clone());
        tokio::spawn(
            async move { page_load(&options, &base, &cookie, &words, Some(finished)).await },
        )
    };
    let busy_rate = broadcast(&running, "Benchmark web, with page load", target.clone()).await?;
    let _ = done.send(true);
    let busy = load.await?;
    report("pages, during the send", &busy);
    let quiet_rate = broadcast(&running, "Benchmark web, no page load", target).await?;

    println!(
        "   send rate: {:.1}/s with the page load ({:.1} % of 200/s), {:.1}/s without ({:.1} %); ratio {:.3}",
        busy_rate,
        busy_rate / 2.0,
        quiet_rate,
        quiet_rate / 2.0,
        busy_rate / quiet_rate.max(0.001)
    );
    let p95 = crate::quantile(&sorted(&busy.compose), 0.95);
    println!(
        "   verdict: compose p95 {:.1} ms during the send (target <= 50), send {:.1} % of its ceiling (target >= 95)",
        p95,
        busy_rate / 2.0
    );
    pipeline::stop_worker(worker).await;
    pipeline::tear_down(running, &mut settings, emulator).await;
    Ok(())
}

/// What a benchmark of the web role during a send runs against: the
/// emulator, prepare and web in this process (the send-worker is a
/// process of its own, started by the caller), and the people to send to,
/// their chats known.
pub(crate) struct Stage {
    pub emulator: teams_emulator::RunningEmulator,
    pub settings: herald_config::Settings,
    pub running: herald_app::Running,
    /// Where the web role answers.
    pub base: String,
    pub people: Vec<String>,
}

/// Starts a [`Stage`] for `scenario`, its settings changed by `tweak`.
pub(crate) async fn stage(
    scenario: &Scenario,
    tweak: impl FnOnce(&mut herald_config::Settings),
) -> anyhow::Result<Stage> {
    let emulator = teams_emulator::start(pipeline::emulator_config(scenario)).await?;
    let mut settings = pipeline::settings(&emulator.urls, scenario)?;
    tweak(&mut settings);
    let roles = herald_app::Roles {
        prepare: true,
        send: false,
        web: true,
    };
    let running = herald_app::start(&settings, roles).await?;
    let base = format!(
        "http://{}",
        running.web.as_ref().context("the web role runs")?.address
    );
    let people = herald_testkit::seed_known_conversations(
        &running.infrastructure.store,
        &emulator.urls,
        scenario.recipients,
    )
    .await?;
    Ok(Stage {
        emulator,
        settings,
        running,
        base,
        people,
    })
}

/// The UPN of the emulator's first staff account with `role`.
pub(crate) fn staff_with(
    emulator: &teams_emulator::RunningEmulator,
    role: &str,
) -> anyhow::Result<String> {
    Ok(emulator
        .staff_accounts()
        .into_iter()
        .find(|a| a.roles.iter().any(|r| r == role))
        .with_context(|| format!("the emulator has no account with {role}"))?
        .user_principal_name)
}

/// Sends to everyone of the list and waits for the end; the rate.
pub(crate) async fn broadcast(
    running: &herald_app::Running,
    title: &str,
    target: Target,
) -> anyhow::Result<f64> {
    let id = pipeline::submit(running, title, target).await?;
    let store = &running.infrastructure.store;
    let started = Instant::now();
    loop {
        let progress = store
            .progress(id)
            .await?
            .context("the notification vanished")?;
        if progress.notification.status.is_final() {
            let n = &progress.notification;
            let (Some(first), Some(last)) = (n.first_delivery_at, n.last_delivery_at) else {
                bail!("nothing was delivered: {progress:?}");
            };
            let delivered = progress.count(DeliveryStatus::Delivered);
            println!("   {title}: {delivered} delivered, {}", n.status.as_str());
            return Ok(pipeline::delivery_rate(delivered, first, last));
        }
        if started.elapsed() > Duration::from_secs(900) {
            bail!("no end after 15 minutes: {progress:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The staff load: until `until` turns true, or for the idle time.
async fn page_load(
    options: &Options,
    base: &str,
    cookie: &str,
    words: &[String],
    until: Option<watch::Receiver<bool>>,
) -> Samples {
    let samples = Arc::new(Mutex::new(Samples::default()));
    let deadline = Instant::now() + Duration::from_secs(options.idle_seconds);
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for person in 0..options.staff {
        let (client, samples, until) = (client.clone(), samples.clone(), until.clone());
        let (base, cookie, think) = (base.to_owned(), cookie.to_owned(), options.think_ms);
        let word = words[person % words.len()].clone();
        tasks.push(tokio::spawn(async move {
            let over = || match &until {
                Some(until) => *until.borrow(),
                None => Instant::now() >= deadline,
            };
            while !over() {
                let compose = timed(&client, &format!("{base}/drafts/new"), &cookie).await;
                let search = timed(
                    &client,
                    &format!("{base}/ui/audience/search?q={word}"),
                    &cookie,
                )
                .await;
                let mut samples = samples.lock().await;
                for (time, list) in [(compose, 0), (search, 1)] {
                    match time {
                        Ok(ms) if list == 0 => samples.compose.push(ms),
                        Ok(ms) => samples.search.push(ms),
                        Err(problem) => *samples.failures.entry(problem).or_default() += 1,
                    }
                }
                drop(samples);
                tokio::time::sleep(Duration::from_millis(think)).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    Arc::try_unwrap(samples)
        .map(Mutex::into_inner)
        .unwrap_or_default()
}

/// Milliseconds to the last byte of a 200 answer, or what went wrong.
async fn timed(client: &reqwest::Client, url: &str, cookie: &str) -> Result<f64, String> {
    let started = Instant::now();
    let response = client
        .get(url)
        .header(COOKIE, cookie)
        .send()
        .await
        .map_err(|e| format!("no answer ({e})"))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("cut short ({e})"))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        return Err(format!(
            "{status}: {}",
            text.chars().take(120).collect::<String>()
        ));
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

fn report(label: &str, samples: &Samples) {
    for (page, times) in [("compose", &samples.compose), ("search", &samples.search)] {
        let times = sorted(times);
        println!(
            "   {label}: {page} {} requests, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            times.len(),
            crate::quantile(&times, 0.5),
            crate::quantile(&times, 0.95),
            crate::quantile(&times, 0.99),
            times.last().copied().unwrap_or(0.0)
        );
    }
    for (problem, count) in &samples.failures {
        println!("   {label}: {count} requests failed: {problem}");
    }
}

/// The first word of each group's name: what staff would type.
async fn search_words(control: &str) -> anyhow::Result<Vec<String>> {
    let directory: serde_json::Value = reqwest::get(format!("{control}/directory"))
        .await?
        .json()
        .await?;
    let words: Vec<String> = directory["groups"]
        .as_array()
        .context("directory without groups")?
        .iter()
        .filter_map(|g| g["displayName"].as_str())
        .filter_map(|name| name.split_whitespace().next())
        .map(|word| word.chars().take(4).collect())
        .collect();
    if words.is_empty() {
        bail!("the directory has no groups to search for");
    }
    Ok(words)
}
