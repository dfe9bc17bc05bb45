//! `herald-bench api`: what the API for programs costs, side by side in
//! one run against one Herald (prepare and web in this process, a
//! send-worker process of the `herald` binary, the emulator limiting the
//! tenant to 200/s): per request, a report read with an API key and with a
//! browser session, and a draft created without and with an
//! `Idempotency-Key` and replayed; then programs creating drafts and
//! reading reports as fast as they can while a broadcast runs at the
//! ceiling, beside the same broadcast with no API load. Prints medians,
//! 95th percentiles, requests per second, the send rates and their ratio.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use herald_domain::audience::Target;
use herald_testkit::api::{Program, make_key};
use herald_testkit::web::StaffClient;
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::pipeline::{self, Scenario};
use crate::web::{Stage, staff_with, stage};
use crate::{median, quantile};

#[derive(Debug, Clone)]
pub struct Options {
    /// Requests per measured kind, one after the other.
    pub requests: usize,
    /// Programs creating and reading at once during the send.
    pub concurrency: usize,
    /// Recipients of the broadcast at the ceiling.
    pub recipients: usize,
}

/// Milliseconds of each request.
struct Times(Vec<f64>);

impl Times {
    fn line(&mut self, label: &str) -> f64 {
        let middle = median(&mut self.0);
        let p95 = quantile(&self.0, 0.95);
        println!("   {label:<44} median {middle:>6.2} ms   p95 {p95:>6.2} ms");
        middle
    }
}

async fn timed<F, Fut>(count: usize, mut request: F) -> anyhow::Result<Times>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut times = Vec::with_capacity(count);
    for n in 0..count {
        let started = Instant::now();
        request(n).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(Times(times))
}

fn ok(response: reqwest::Response, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        response.status().is_success(),
        "{what} answered {}",
        response.status()
    );
    Ok(())
}

/// Drafts created with the keys `bench-0`, `bench-1`...: new the first
/// time, replays the second.
async fn keyed_creates(program: &Program, body: &Value, count: usize) -> anyhow::Result<Times> {
    timed(count, |n| {
        let key = format!("bench-{n}");
        async move {
            let answer = program
                .post("/api/v1/announcements", body, Some(&key))
                .await;
            ok(answer, "a keyed create")
        }
    })
    .await
}

pub async fn run(options: &Options, herald: &std::path::Path) -> anyhow::Result<()> {
    let scenario = Scenario {
        name: "api",
        recipients: options.recipients,
        global_rps: 200,
        latency_ms: [0, 0],
        workers: 1,
        cold: false,
        installed_fraction: 1.0,
        everyone: false,
        target: "the send keeps >= 95 % of 200/s while programs create and read",
    };
    println!(
        "== api : {} requests of each kind; then {} programs creating and reading during a {}-recipient send at 200/s",
        options.requests, options.concurrency, options.recipients
    );
    println!("   target: {}", scenario.target);
    let Stage {
        emulator,
        mut settings,
        running,
        base,
        people,
    } = stage(&scenario, |settings| {
        settings.web.api_requests_per_minute = 10_000_000;
    })
    .await?;
    let admin_upn = staff_with(&emulator, "Herald.Admin")?;
    let admin = StaffClient::sign_in(&base, &admin_upn).await;
    let program = Program::unchecked(&base, &make_key(&admin, "Benchmark", "send").await);
    let body = json!({"title": "Benchmark", "summary": "A draft", "people": [people[0]]});
    let worker = pipeline::spawn_worker(herald, &settings)?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    per_request(options, &program, &admin, &body).await?;

    let target = Target::users_from_csv("bench.csv", &people.join("\n"))?;
    let (done, finished) = watch::channel(false);
    let load = tokio::spawn(api_load(
        options.concurrency,
        Arc::new(program),
        body,
        finished,
    ));
    let busy_rate =
        crate::web::broadcast(&running, "Benchmark api, with API load", target.clone()).await?;
    let _ = done.send(true);
    let (creates, reads, seconds) = load.await??;
    println!(
        "   during the send: {creates} creates ({:.0}/s) and {reads} report reads ({:.0}/s) in {seconds:.1} s",
        creates as f64 / seconds,
        reads as f64 / seconds
    );
    let quiet_rate = crate::web::broadcast(&running, "Benchmark api, no API load", target).await?;
    println!(
        "   send rate: {busy_rate:.1}/s with the API load ({:.1} % of 200/s), {quiet_rate:.1}/s without ({:.1} %); ratio {:.3}",
        busy_rate / 2.0,
        quiet_rate / 2.0,
        busy_rate / quiet_rate.max(0.001)
    );
    pipeline::stop_worker(worker).await;
    pipeline::tear_down(running, &mut settings, emulator).await;
    Ok(())
}

/// One request at a time: reads by key and by session, creates with and
/// without Idempotency-Key, and replays.
async fn per_request(
    options: &Options,
    program: &Program,
    admin: &StaffClient,
    body: &Value,
) -> anyhow::Result<()> {
    let created: Value = program
        .post("/api/v1/announcements", body, None)
        .await
        .json()
        .await?;
    let id = created["id"].as_str().context("an id")?.to_owned();
    let report = format!("/api/v1/announcements/{id}");

    println!("-- a report read (GET {report}), no send running");
    let by_key = timed(options.requests, |_| async {
        ok(program.get(&report).await, "the key's read")
    })
    .await?
    .line("with an API key");
    let by_session = timed(options.requests, |_| async {
        let response = admin
            .http
            .get(admin.url(&report))
            .header(COOKIE, &admin.cookie)
            .send()
            .await?;
        ok(response, "the session's read")
    })
    .await?
    .line("with a browser session");
    println!(
        "   key / session: {:.2}",
        by_key / by_session.max(f64::EPSILON)
    );

    println!("-- a draft created (POST /api/v1/announcements), no send running");
    let plain = timed(options.requests, |_| async {
        ok(
            program.post("/api/v1/announcements", body, None).await,
            "a create",
        )
    })
    .await?
    .line("without Idempotency-Key");
    let keyed = keyed_creates(program, body, options.requests)
        .await?
        .line("with a new Idempotency-Key each");
    let replayed = keyed_creates(program, body, options.requests)
        .await?
        .line("the same keys again (replays)");
    println!(
        "   keyed / plain: {:.2}   replay / keyed: {:.2}",
        keyed / plain.max(f64::EPSILON),
        replayed / keyed.max(f64::EPSILON)
    );
    Ok(())
}

/// Programs each creating a draft and reading its report, over and over,
/// until `until` turns true: how many of each, and in how long.
async fn api_load(
    programs: usize,
    program: Arc<Program>,
    body: Value,
    until: watch::Receiver<bool>,
) -> anyhow::Result<(u64, u64, f64)> {
    let creates = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..programs {
        let (program, body, until) = (program.clone(), body.clone(), until.clone());
        let (creates, reads) = (creates.clone(), reads.clone());
        tasks.push(tokio::spawn(async move {
            while !*until.borrow() {
                let created: Value = program
                    .post("/api/v1/announcements", &body, None)
                    .await
                    .json()
                    .await?;
                creates.fetch_add(1, Ordering::Relaxed);
                let id = created["id"].as_str().context("an id")?;
                ok(
                    program.get(&format!("/api/v1/announcements/{id}")).await,
                    "a read",
                )?;
                reads.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((
        creates.load(Ordering::Relaxed),
        reads.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    ))
}
