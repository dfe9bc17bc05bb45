//! `herald-bench api`: what the API for programs costs per request, side
//! by side in one run against one Herald (all roles in this process, the
//! emulator beside it): a report read with an API key and with a browser
//! session; a draft created without and with an `Idempotency-Key`, and the
//! replay of a key; and drafts created by many programs at once. Prints
//! medians, 95th percentiles and their ratios.

use std::time::Instant;

use anyhow::Context;
use herald_testkit::api::{Program, make_key};
use herald_testkit::web::StaffClient;
use reqwest::header::COOKIE;
use serde_json::{Value, json};

use crate::{median, quantile};

#[derive(Debug, Clone)]
pub struct Options {
    /// Requests per measured kind.
    pub requests: usize,
    /// Programs creating drafts at once, in the last part.
    pub concurrency: usize,
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

pub async fn run(options: &Options) -> anyhow::Result<()> {
    println!(
        "== api : {} requests of each kind, then {} programs creating drafts at once",
        options.requests, options.concurrency
    );
    let mut config = teams_emulator::EmulatorConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        ..Default::default()
    };
    config.directory.users = 200;
    let emulator = teams_emulator::start(config).await?;
    let mut settings = herald_testkit::own_settings("bench")?;
    settings.ops.listen = ([127, 0, 0, 1], 0).into();
    settings.web.listen = ([127, 0, 0, 1], 0).into();
    settings.web.api_requests_per_minute = 10_000_000;
    herald_app::use_emulator(&mut settings.microsoft, &emulator.urls);
    let running = herald_app::start(&settings, herald_app::Roles::ALL).await?;
    let base = format!(
        "http://{}",
        running.web.as_ref().context("the web role")?.address
    );
    let admin_upn = emulator
        .staff_accounts()
        .into_iter()
        .find(|a| a.roles.iter().any(|r| r == "Herald.Admin"))
        .context("the emulator has no admin")?
        .user_principal_name;
    let admin = StaffClient::sign_in(&base, &admin_upn).await;
    let program = Program::new(&base, &make_key(&admin, "Benchmark", "send").await);
    let person = emulator.staff_accounts()[1].user_principal_name.clone();
    let body = json!({"title": "Benchmark", "summary": "A draft", "people": [person]});

    let created: Value = program
        .post("/api/v1/announcements", &body, None)
        .await
        .json()
        .await?;
    let id = created["id"].as_str().context("an id")?.to_owned();
    let report = format!("/api/v1/announcements/{id}");

    println!("-- a report read (GET {report})");
    let by_key = timed(options.requests, |_| async {
        ok(program.get(&report).await, "the key's read")
    })
    .await?
    .line("with an API key")
    .max(f64::EPSILON);
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

    println!("-- a draft created (POST /api/v1/announcements)");
    let plain = timed(options.requests, |_| async {
        ok(
            program.post("/api/v1/announcements", &body, None).await,
            "a create",
        )
    })
    .await?
    .line("without Idempotency-Key");
    let keyed = keyed_creates(&program, &body, options.requests)
        .await?
        .line("with a new Idempotency-Key each");
    let replayed = keyed_creates(&program, &body, options.requests)
        .await?
        .line("the same keys again (replays)");
    println!(
        "   keyed / plain: {:.2}   replay / keyed: {:.2}",
        keyed / plain.max(f64::EPSILON),
        replayed / keyed.max(f64::EPSILON)
    );

    println!(
        "-- {} programs creating drafts at once, each {} times",
        options.concurrency,
        options.requests / 4
    );
    let started = Instant::now();
    let each = (options.requests / 4).max(1);
    let workers = (0..options.concurrency).map(|_| {
        let program = &program;
        let body = &body;
        async move {
            for _ in 0..each {
                ok(
                    program.post("/api/v1/announcements", body, None).await,
                    "a create",
                )?;
            }
            anyhow::Ok(())
        }
    });
    for outcome in futures_util::future::join_all(workers).await {
        outcome?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let total = each * options.concurrency;
    println!(
        "   {total} drafts in {seconds:.2} s: {:.0} creates/s",
        total as f64 / seconds
    );
    running.stop().await;
    herald_testkit::drop_database(&settings).await;
    emulator.stop().await;
    Ok(())
}
