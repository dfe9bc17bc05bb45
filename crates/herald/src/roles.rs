//! Starting long-running roles and waiting for a stop signal.

use anyhow::Context;
use herald_config::Settings;
use secrecy::ExposeSecret;

use crate::cli::{EmulatorArgs, UpArgs, WorkerArgs};

pub async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        outcome = tokio::signal::ctrl_c() => outcome.context("waiting for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
    Ok(())
}

/// Settings from the file and environment, overridden by the flags.
pub fn emulator_config(settings: &Settings, args: EmulatorArgs) -> teams_emulator::EmulatorConfig {
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
    behaviour.reads = teams_emulator::ReadBehaviour {
        enabled: defaults.reads,
        never_share: defaults.never_read_share,
        median_delay_ms: (defaults.read_median_seconds * 1000.0).round() as u64,
        ..Default::default()
    };
    if let Some(endpoint) = args.bot_endpoint.or_else(|| defaults.bot_endpoint.clone()) {
        behaviour.bot_endpoint = endpoint;
    }
    config
}

fn print_emulator(urls: &teams_emulator::EmulatorUrls) {
    println!("  Entra ID login URL:        {}", urls.login);
    println!("  Tenant id:                 {}", urls.tenant_id);
    println!("  Herald's app id:           {}", urls.app_id);
    println!("  Tenant OpenID metadata:    {}", urls.tenant_openid);
    println!("  Microsoft Graph:           {}/v1.0", urls.graph);
    println!("  Bot Connector serviceUrl:  {}", urls.service_url);
    println!("  Bot Framework OpenID:      {}", urls.bot_openid);
    println!("  Inspection and control:    {}/", urls.control);
    println!("Applications of the tenant that may call Herald's API (client credentials):");
    for app in &urls.client_apps {
        let roles = if app.roles.is_empty() {
            "no Herald role".to_owned()
        } else {
            app.roles.join(", ")
        };
        println!(
            "  {:<18} client id {}  secret {}  ({roles})",
            app.name, app.app_id, app.secret
        );
    }
}

pub async fn emulator(settings: &Settings, args: EmulatorArgs) -> anyhow::Result<()> {
    let config = emulator_config(settings, args);
    let spec = config.directory.clone();
    let emulator = teams_emulator::start(config).await?;
    let urls = &emulator.urls;
    println!(
        "Teams emulator ready: {} users, {} teams, {} groups (seed {})",
        spec.users, spec.teams, spec.groups, spec.seed
    );
    print_emulator(urls);
    println!("Credentials to configure Herald with (the emulator's own, not secrets):");
    println!("  tenant id:    {}", urls.tenant_id);
    println!("  app id:       {}", urls.app_id);
    println!("  app secret:   {}", urls.app_secret);
    wait_for_signal().await?;
    emulator.stop().await;
    Ok(())
}

pub async fn up(settings: Settings, args: UpArgs) -> anyhow::Result<()> {
    let mut emulator_args = EmulatorArgs {
        listen: args.emulator_listen,
        users: args.emulator_users,
        teams: None,
        groups: None,
        seed: None,
        tenant_id: None,
        app_id: None,
        app_secret: None,
        bot_endpoint: None,
        global_rps: args.emulator_global_rps,
        latency_ms: None,
        fault_rate: None,
        installed_fraction: None,
    };
    emulator_args.listen = emulator_args.listen.or(Some(settings.emulator.listen));
    let config = emulator_config(&settings, emulator_args);
    let public_url = settings.web.public_url.clone();
    let running = herald_app::up(settings, config).await?;
    println!("Herald is up: prepare-worker, send-worker, web UI and bot endpoint running.");
    // Where people reach it: the configured address, or where it listens.
    let public = running.web.as_ref().map(|web| {
        public_url
            .as_deref()
            .map(|url| url.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{}", web.address))
    });
    if let Some(public) = &public {
        println!("  Web UI:        {public}/   <- open this in a browser");
        println!("  Bot endpoint:  {public}/api/messages");
        println!("  API:           {public}/api/v1  (keys: {public}/admin/api-keys)");
    }
    println!(
        "  Health:   http://{}/healthz  (ready: /readyz)",
        running.ops.address
    );
    println!("  Metrics:  http://{}/metrics", running.ops.address);
    match &running.emulator {
        Some(emulator) => {
            println!("No Microsoft credentials configured: using the embedded Teams emulator.");
            print_emulator(&emulator.urls);
            println!("Sign in to the web UI as one of the emulator's staff accounts:");
            for account in emulator.staff_accounts() {
                println!(
                    "  {:<40} {} ({})",
                    account.user_principal_name,
                    account.display_name,
                    account.roles.join(", ")
                );
            }
            println!("  (any other account of the emulator's directory signs in without a role)");
            if let Some(public) = &public {
                println!(
                    "Herald inside Teams (the emulator plays the Teams client; any account):\n  {}?user={}&tab={public}/teams%3Ftheme%3D%7Btheme%7D",
                    emulator.urls.teams_client,
                    emulator
                        .staff_accounts()
                        .first()
                        .map(|a| a.user_principal_name.clone())
                        .unwrap_or_default()
                );
            }
        }
        None => println!("Talking to Microsoft with the configured credentials."),
    }
    println!(
        "Compose and send in the web UI, or from here: herald send --title \"Hello\" --audience users:people.csv"
    );
    wait_for_signal().await?;
    running.stop().await;
    Ok(())
}

pub async fn worker(
    mut settings: Settings,
    args: WorkerArgs,
    roles: herald_app::Roles,
) -> anyhow::Result<()> {
    if let Some(listen) = args.ops_listen {
        settings.ops.listen = listen;
    }
    let running = herald_app::start(&settings, roles).await?;
    if let Some(web) = &running.web {
        // Where it listens, which is news when web.listen asked for port 0.
        println!(
            "Web UI and bot endpoint on http://{}/ (/api/messages)",
            web.address
        );
    }
    println!(
        "Worker running; health and metrics on http://{}/",
        running.ops.address
    );
    wait_for_signal().await?;
    running.stop().await;
    Ok(())
}

pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let store = herald_store::Store::connect(settings.database.url.expose_secret(), 2).await?;
    store.migrate().await?;
    println!("Database migrated.");
    Ok(())
}
