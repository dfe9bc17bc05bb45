//! The `herald` command. It only parses arguments, loads the settings, sets
//! up logging and starts the role asked for; every role's logic lives in a
//! library crate.

mod telemetry;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use herald_config::Settings;
use secrecy::ExposeSecret;

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "Broadcast announcements to Microsoft Teams at company scale."
)]
struct Cli {
    /// A TOML settings file (default: ./herald.toml when it exists).
    #[arg(long, global = true, env = "HERALD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Teams emulator: Entra ID, Graph and the Bot Connector on one port.
    Emulator(Box<EmulatorArgs>),
    /// Run a benchmark and print what it measured.
    #[command(subcommand)]
    Bench(Bench),
}

#[derive(Args)]
struct EmulatorArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Users in the generated directory.
    #[arg(long)]
    users: Option<usize>,
    #[arg(long)]
    teams: Option<usize>,
    #[arg(long)]
    groups: Option<usize>,
    /// Seed of the generated directory; the same seed gives the same directory.
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long)]
    tenant_id: Option<String>,
    #[arg(long)]
    app_id: Option<String>,
    #[arg(long)]
    app_secret: Option<String>,
    /// Herald's /api/messages, where installs are reported as signed activities.
    #[arg(long)]
    bot_endpoint: Option<String>,
    /// Bot Connector requests per second per tenant (0 = no limit).
    #[arg(long)]
    global_rps: Option<u32>,
    /// Added latency as P50,P99 in milliseconds, e.g. 150,1000.
    #[arg(long, value_parser = parse_latency)]
    latency_ms: Option<[u64; 2]>,
    /// Share of requests answered 502/503/504, from 0 to 1.
    #[arg(long)]
    fault_rate: Option<f64>,
    /// Share of users who already have the app, from 0 to 1.
    #[arg(long)]
    installed_fraction: Option<f64>,
}

#[derive(Subcommand)]
enum Bench {
    /// Activity POSTs per second the emulator takes with its limits off.
    Emulator {
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
}

fn parse_latency(text: &str) -> Result<[u64; 2], String> {
    let (p50, p99) = text
        .split_once(',')
        .ok_or("expected P50,P99 in milliseconds, e.g. 150,1000")?;
    let number = |s: &str| s.trim().parse::<u64>().map_err(|e| format!("{s:?}: {e}"));
    Ok([number(p50)?, number(p99)?])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = herald_config::load(cli.config.as_deref(), std::env::vars())?;
    telemetry::init(&settings.log)?;
    match cli.command {
        Command::Emulator(args) => run_emulator(&settings, *args).await,
        Command::Bench(Bench::Emulator {
            users,
            concurrency,
            seconds,
            rounds,
        }) => {
            let options = herald_bench::emulator::Options {
                users,
                concurrency,
                seconds,
                rounds,
            };
            herald_bench::emulator::run(&options).await.map(drop)
        }
    }
}

/// Settings from the file and environment, overridden by the flags.
fn emulator_config(settings: &Settings, args: EmulatorArgs) -> teams_emulator::EmulatorConfig {
    let defaults = &settings.emulator;
    let mut config = teams_emulator::EmulatorConfig {
        listen: args.listen.unwrap_or(defaults.listen),
        ..Default::default()
    };
    let directory = &mut config.directory;
    directory.users = args.users.unwrap_or(defaults.users);
    directory.teams = args.teams.unwrap_or(defaults.teams);
    directory.groups = args.groups.unwrap_or(defaults.groups);
    directory.seed = args.seed.unwrap_or(defaults.seed);
    if let Some(fraction) = args.installed_fraction {
        directory.installed_fraction = fraction;
    }
    if let Some(tenant) = args.tenant_id.or_else(|| defaults.tenant_id.clone()) {
        config.tenant_id = tenant;
    }
    if let Some(app) = args.app_id.or_else(|| defaults.app_id.clone()) {
        config.manifest_id = app.clone();
        config.app_id = app;
    }
    let secret = args.app_secret.or_else(|| {
        defaults
            .app_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned())
    });
    if let Some(secret) = secret {
        config.app_secret = secret;
    }
    let behaviour = &mut config.behaviour;
    behaviour.global_rps = args.global_rps.unwrap_or(defaults.global_rps);
    behaviour.latency_ms = args.latency_ms.unwrap_or(defaults.latency_ms);
    behaviour.fault_rate = args.fault_rate.unwrap_or(defaults.fault_rate);
    if let Some(endpoint) = args.bot_endpoint.or_else(|| defaults.bot_endpoint.clone()) {
        behaviour.bot_endpoint = endpoint;
    }
    config
}

async fn run_emulator(settings: &Settings, args: EmulatorArgs) -> anyhow::Result<()> {
    let config = emulator_config(settings, args);
    let spec = config.directory.clone();
    let emulator = teams_emulator::start(config).await?;
    let urls = &emulator.urls;
    println!(
        "Teams emulator ready: {} users, {} teams, {} groups (seed {})",
        spec.users, spec.teams, spec.groups, spec.seed
    );
    println!("  Entra ID login URL:        {}", urls.login);
    println!("  Tenant OpenID metadata:    {}", urls.tenant_openid);
    println!("  Microsoft Graph:           {}/v1.0", urls.graph);
    println!("  Bot Connector serviceUrl:  {}", urls.service_url);
    println!("  Bot Framework OpenID:      {}", urls.bot_openid);
    println!("  Inspection and control:    {}/", urls.control);
    println!("Credentials to configure Herald with (the emulator's own, not secrets):");
    println!("  tenant id:    {}", urls.tenant_id);
    println!("  app id:       {}", urls.app_id);
    println!("  app secret:   {}", urls.app_secret);
    tokio::select! {
        outcome = tokio::signal::ctrl_c() => outcome.context("waiting for Ctrl-C")?,
        outcome = wait_for_terminate() => outcome?,
    }
    tracing::info!("shutting down");
    emulator.stop().await;
    Ok(())
}

async fn wait_for_terminate() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    terminate.recv().await;
    Ok(())
}
