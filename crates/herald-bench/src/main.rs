//! The `herald-bench` command: runs one benchmark and prints what it
//! measured. A binary of its own, so that the `herald` binary (the image,
//! the release build) never carries the benchmarks. The benchmarks that run
//! Herald's roles as processes start the `herald` binary: `--herald`, or
//! the one next to this binary in the same target directory.
//! The database and broker are Herald's settings (`HERALD_*`, `herald.toml`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "herald-bench",
    version,
    about = "Herald's benchmarks: each starts what it measures on this machine and prints figures."
)]
struct Cli {
    /// The `herald` binary to start roles from (default: the one next to
    /// herald-bench; build it with `cargo build --release -p herald`).
    #[arg(long, global = true)]
    herald: Option<PathBuf>,
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// The API for programs: per request (a report read by key and by
    /// session, drafts created without and with Idempotency-Key, replays),
    /// then programs creating and reading during a send at the ceiling,
    /// beside the same send with no API load.
    Api {
        #[arg(long, default_value_t = 400)]
        requests: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 20_000)]
        recipients: usize,
    },
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
    /// A broadcast through the whole pipeline: ceiling, overhead, latency,
    /// scale-out, ..., or all of them; `million` (not in `all`) sends to
    /// everyone in a tenant of a million people and of a tenth of that.
    Pipeline {
        #[arg(value_parser = ["ceiling", "overhead", "latency", "scale-out", "cold", "fresh-all", "everyone", "delta", "storm", "edit", "million", "all"], default_value = "all")]
        scenario: String,
        /// Run with this many recipients instead of the scenario's own
        /// (`million`: the larger tenant).
        #[arg(long)]
        recipients: Option<usize>,
    },
    /// The compose page and the audience search under load while a
    /// broadcast runs, beside the same broadcast with no page load.
    Web {
        #[arg(long, default_value_t = 20_000)]
        recipients: usize,
        /// Staff on the pages at once.
        #[arg(long, default_value_t = 20)]
        staff: usize,
        /// Pause between one person's page loads, in milliseconds.
        #[arg(long, default_value_t = 250)]
        think_ms: u64,
        /// Seconds of page load with no send running, first.
        #[arg(long, default_value_t = 15)]
        idle_seconds: u64,
    },
    /// Delivery reports under load: event streams and the status page
    /// during a send at the ceiling, beside the same send unwatched; then
    /// the per-recipient table and the CSV export of a large send.
    Reports {
        #[arg(value_parser = ["watchers", "table", "all"], default_value = "all")]
        part: String,
        /// People in the tenant of the watched send, and its recipients.
        #[arg(long, default_value_t = 20_000)]
        people: usize,
        /// Open event streams during the watched send.
        #[arg(long, default_value_t = 200)]
        watchers: usize,
        /// Nobody reads their card (reads are on by default), to tell
        /// what read receipts cost from what watching does.
        #[arg(long)]
        no_reads: bool,
        /// Clients reloading the status page during the watched send.
        #[arg(long, default_value_t = 20)]
        page_clients: usize,
        /// Pause between one page client's loads, in milliseconds.
        #[arg(long, default_value_t = 250)]
        think_ms: u64,
        /// People in the tenant of the table-and-export part, all sent to.
        #[arg(long, default_value_t = 100_000)]
        table_people: usize,
        /// Full CSV exports, one after the other.
        #[arg(long, default_value_t = 3)]
        exports: usize,
    },
}

/// The `herald` binary asked for, or the one beside this one.
fn herald_binary(asked: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match asked {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("herald-bench has no folder")?
            .join("herald"),
    };
    anyhow::ensure!(
        path.is_file(),
        "{} does not exist: build it (cargo build --release -p herald) or name it with --herald",
        path.display()
    );
    Ok(path)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.bench {
        Bench::Api {
            requests,
            concurrency,
            recipients,
        } => {
            let options = herald_bench::api::Options {
                requests,
                concurrency,
                recipients,
            };
            herald_bench::api::run(&options, &herald_binary(cli.herald)?).await
        }
        Bench::Emulator {
            users,
            concurrency,
            seconds,
            rounds,
        } => {
            let options = herald_bench::emulator::Options {
                users,
                concurrency,
                seconds,
                rounds,
            };
            herald_bench::emulator::run(&options).await.map(drop)
        }
        Bench::Web {
            recipients,
            staff,
            think_ms,
            idle_seconds,
        } => {
            let options = herald_bench::web::Options {
                recipients,
                staff,
                think_ms,
                idle_seconds,
            };
            herald_bench::web::run(&options, &herald_binary(cli.herald)?).await
        }
        Bench::Reports {
            part,
            people,
            watchers,
            no_reads,
            page_clients,
            think_ms,
            table_people,
            exports,
        } => {
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
            herald_bench::reports::run(&options, &herald_binary(cli.herald)?).await
        }
        Bench::Pipeline {
            scenario,
            recipients,
        } => pipeline(&scenario, recipients, cli.herald).await,
    }
}

async fn pipeline(
    scenario: &str,
    recipients: Option<usize>,
    herald: Option<PathBuf>,
) -> anyhow::Result<()> {
    // The delta scenario runs no role process: it needs no herald binary.
    if scenario == "delta" {
        return herald_bench::pipeline::run_delta(recipients.unwrap_or(100_000)).await;
    }
    let herald = herald_binary(herald)?;
    // Not part of "all": it sends more than a million cards.
    if scenario == "million" {
        return herald_bench::million::run(&herald, recipients.unwrap_or(1_000_000)).await;
    }
    if scenario == "all" {
        herald_bench::pipeline::run_delta(recipients.unwrap_or(100_000)).await?;
    }
    if scenario == "edit" || scenario == "all" {
        herald_bench::changes::run(&herald, recipients.unwrap_or(5_000)).await?;
        if scenario == "edit" {
            return Ok(());
        }
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
