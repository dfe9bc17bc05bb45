//! `herald-bench emulator`: how many activity POSTs per second the emulator
//! takes with every limit off, so that it is never what a Herald benchmark
//! measures. Client and emulator share the machine, as they do in Herald's
//! own benchmarks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use teams_emulator::{Behaviour, DirectorySpec, EmulatorConfig};

#[derive(Debug, Clone)]
pub struct Options {
    pub users: usize,
    pub concurrency: usize,
    pub seconds: u64,
    pub rounds: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            users: 10_000,
            concurrency: 64,
            seconds: 5,
            rounds: 3,
        }
    }
}

pub struct Round {
    pub sent: u64,
    pub failed: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub async fn run(options: &Options) -> anyhow::Result<Vec<Round>> {
    let config = EmulatorConfig {
        listen: "127.0.0.1:0".parse()?,
        directory: DirectorySpec {
            users: options.users,
            installed_fraction: 1.0,
            blocked_fraction: 0.0,
            departing_fraction: 0.0,
            ..DirectorySpec::default()
        },
        behaviour: Behaviour {
            global_rps: 0,
            thread_limits: false,
            graph_limits: false,
            ..Behaviour::default()
        },
        ..EmulatorConfig::default()
    };
    let emulator = teams_emulator::start(config).await?;
    let urls = emulator.urls.clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .build()?;
    let token = bot_token(&client, &urls).await?;
    let chats = chat_ids(&client, &urls).await?;
    println!(
        "emulator: {} users with the app, {} concurrent senders, {} rounds of {} s",
        chats.len(),
        options.concurrency,
        options.rounds,
        options.seconds
    );
    let target = Arc::new(Target {
        client,
        token,
        service_url: urls.service_url.clone(),
        chats,
        body: sample_card(),
    });
    // One short round to open connections and warm caches.
    blast(&target, options.concurrency, Duration::from_millis(500)).await;
    let mut rounds = Vec::new();
    for round in 1..=options.rounds {
        let result = blast(
            &target,
            options.concurrency,
            Duration::from_secs(options.seconds),
        )
        .await;
        println!(
            "round {round}: {} accepted, {} failed, {:.0} activity POSTs/s, latency p50 {:.2} ms, p99 {:.2} ms",
            result.sent, result.failed, result.per_second, result.p50_ms, result.p99_ms
        );
        rounds.push(result);
    }
    let mut rates: Vec<f64> = rounds.iter().map(|r| r.per_second).collect();
    println!("median: {:.0} activity POSTs/s", crate::median(&mut rates));
    emulator.stop().await;
    Ok(rounds)
}

struct Target {
    client: reqwest::Client,
    token: String,
    service_url: String,
    chats: Vec<String>,
    body: String,
}

async fn bot_token(
    client: &reqwest::Client,
    urls: &teams_emulator::EmulatorUrls,
) -> anyhow::Result<String> {
    let response: Value = client
        .post(format!("{}/botframework.com/oauth2/v2.0/token", urls.login))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", urls.app_id.as_str()),
            ("client_secret", urls.app_secret.as_str()),
            ("scope", "https://api.botframework.com/.default"),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    response["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("token response without access_token")
}

async fn chat_ids(
    client: &reqwest::Client,
    urls: &teams_emulator::EmulatorUrls,
) -> anyhow::Result<Vec<String>> {
    let directory: Value = client
        .get(format!("{}/directory", urls.control))
        .send()
        .await?
        .json()
        .await?;
    let chats: Vec<String> = directory["users"]
        .as_array()
        .context("directory without users")?
        .iter()
        .filter_map(|u| u["chatId"].as_str().map(str::to_owned))
        .collect();
    if chats.is_empty() {
        bail!("the emulator's directory has no chats to post to");
    }
    Ok(chats)
}

fn sample_card() -> String {
    json!({
        "type": "message",
        "summary": "Benchmark announcement",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "type": "AdaptiveCard", "version": "1.5",
                "body": [
                    {"type": "TextBlock", "text": "Quarterly all-hands moved to Thursday", "weight": "Bolder", "size": "Large", "wrap": true},
                    {"type": "TextBlock", "text": "The all-hands meeting moves to Thursday 10:00 in the main hall and online. Bring your questions; the leadership team will answer them live.", "wrap": true},
                    {"type": "TextBlock", "text": "Sent by Internal Communications", "isSubtle": true, "size": "Small"}
                ],
                "actions": [{"type": "Action.OpenUrl", "title": "Add to calendar", "url": "https://intranet.contoso.example/all-hands"}]
            }
        }]
    })
    .to_string()
}

async fn blast(target: &Arc<Target>, concurrency: usize, duration: Duration) -> Round {
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (target, stop, next) = (target.clone(), stop.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let index = next.fetch_add(1, Ordering::Relaxed) as usize % target.chats.len();
                let url = format!(
                    "{}v3/conversations/{}/activities",
                    target.service_url, target.chats[index]
                );
                let sent = Instant::now();
                let outcome = target
                    .client
                    .post(url)
                    .bearer_auth(&target.token)
                    .header("Content-Type", "application/json")
                    .body(target.body.clone())
                    .send()
                    .await;
                match outcome {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => failed += 1,
                }
            }
            (latencies, failed)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut failed = 0;
    for worker in workers {
        if let Ok((mut l, f)) = worker.await {
            latencies.append(&mut l);
            failed += f;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Round {
        sent: latencies.len() as u64,
        failed,
        per_second: latencies.len() as f64 / elapsed,
        p50_ms: crate::quantile(&latencies, 0.5),
        p99_ms: crate::quantile(&latencies, 0.99),
    }
}
