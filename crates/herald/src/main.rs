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

use cli::{Bench, Cli, Command};

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
        Command::Remind { id, created_by } => notify::remind(&settings, &id, &created_by).await,
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
        Command::Bench(Bench::Web {
            recipients,
            staff,
            think_ms,
            idle_seconds,
        }) => {
            let options = herald_bench::web::Options {
                recipients,
                staff,
                think_ms,
                idle_seconds,
            };
            herald_bench::web::run(&options, &std::env::current_exe()?).await
        }
        Command::Bench(Bench::Reports {
            part,
            people,
            watchers,
            no_reads,
            page_clients,
            think_ms,
            table_people,
            exports,
        }) => {
            let options = herald_bench::reports::Options {
                watchers_part: part != "table",
                table_part: part != "watchers",
                people,
                watchers,
                reads: !no_reads,
                page_clients,
                think_ms,
                table_people,
                exports,
            };
            herald_bench::reports::run(&options, &std::env::current_exe()?).await
        }
        Command::Bench(Bench::Pipeline {
            scenario,
            recipients,
        }) => {
            let herald = std::env::current_exe()?;
            // Not part of "all": it sends more than a million cards.
            if scenario == "million" {
                return herald_bench::million::run(&herald, recipients.unwrap_or(1_000_000)).await;
            }
            if scenario == "delta" || scenario == "all" {
                herald_bench::pipeline::run_delta(recipients.unwrap_or(100_000)).await?;
            }
            if scenario == "storm" || scenario == "all" {
                herald_bench::pipeline::run_storm(&herald, recipients.unwrap_or(8_000)).await?;
            }
            for mut chosen in herald_bench::pipeline::scenarios()
                .into_iter()
                .filter(|s| scenario == "all" || s.name == scenario)
            {
                if let Some(recipients) = recipients {
                    chosen.recipients = recipients;
                }
                herald_bench::pipeline::run(&chosen, &herald).await?;
            }
            Ok(())
        }
    }
}
