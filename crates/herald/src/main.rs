//! The `herald` command. It only parses arguments, loads the settings, sets
//! up logging and starts the role asked for; every role's logic lives in a
//! library crate (`herald-app` wires them).

mod cli;
mod health;
mod notify;
mod roles;
mod teams_app;
mod telemetry;

use clap::Parser;

use cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = herald_config::load(cli.config.as_deref(), std::env::vars())?;
    telemetry::init(&settings.log)?;
    match cli.command {
        Command::Emulator(args) => roles::emulator(&settings, *args).await,
        Command::Up(args) => roles::up(settings, args).await,
        Command::Migrate => roles::migrate(&settings).await,
        Command::SendWorker(args) => {
            roles::worker(
                settings,
                args,
                herald_app::Roles {
                    prepare: false,
                    send: true,
                    web: false,
                },
            )
            .await
        }
        Command::PrepareWorker(args) => {
            roles::worker(
                settings,
                args,
                herald_app::Roles {
                    prepare: true,
                    send: false,
                    web: false,
                },
            )
            .await
        }
        Command::Web(args) => {
            let roles = herald_app::Roles {
                prepare: false,
                send: false,
                web: true,
            };
            roles::worker(settings, args, roles).await
        }
        Command::TeamsApp {
            out,
            version,
            developer,
        } => teams_app::write(&settings, &out, &version, &developer),
        Command::Healthcheck { target, timeout } => {
            let url = health::probe_url(settings.ops.listen, target.as_deref());
            health::check(&url, std::time::Duration::from_secs(timeout)).await
        }
        Command::Send(args) => notify::send(&settings, *args).await,
        Command::Status { id, json } => notify::status(&settings, &id, json).await,
        Command::Cancel { id } => notify::cancel(&settings, &id).await,
        Command::Edit(args) => notify::edit(&settings, args).await,
        Command::Recall {
            id,
            replace_with_notice,
            by,
        } => notify::recall(&settings, &id, replace_with_notice, &by).await,
        Command::Remind { id, created_by } => notify::remind(&settings, &id, &created_by).await,
    }
}
