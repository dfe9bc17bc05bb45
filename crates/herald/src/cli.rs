//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "Broadcast announcements to Microsoft Teams at company scale."
)]
pub struct Cli {
    /// A TOML settings file (default: ./herald.toml when it exists).
    #[arg(long, global = true, env = "HERALD_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run everything in one process (migrations, prepare-worker,
    /// send-worker), with the Teams emulator when no Microsoft credentials
    /// are configured.
    Up(UpArgs),
    /// Apply the database migrations.
    Migrate,
    /// Run a prepare-worker: audiences to deliveries.
    PrepareWorker(WorkerArgs),
    /// Run a send-worker: deliveries to Teams.
    SendWorker(WorkerArgs),
    /// Serve the bot endpoint /api/messages on web.listen.
    Web(WorkerArgs),
    /// Send an announcement and print its id.
    Send(Box<SendArgs>),
    /// Show a notification's progress.
    Status {
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stop a notification: nothing more is sent.
    Cancel { id: String },
    /// Edit a sent (or still sending) announcement: every card that went
    /// out is replaced in place, and people still queued get the new one.
    Edit(EditArgs),
    /// Recall a sent (or still sending) announcement: a send still running
    /// stops, and every card that went out is deleted, or replaced by a
    /// short "withdrawn" notice.
    Recall {
        id: String,
        /// Replace each card with "This announcement was withdrawn by ...
        /// on ..." instead of deleting it.
        #[arg(long)]
        replace_with_notice: bool,
        /// The name the notice and the report give.
        #[arg(long, default_value = "the command line")]
        by: String,
    },
    /// Remind the people who have not acknowledged an announcement.
    Remind {
        id: String,
        #[arg(long, default_value = "herald-cli")]
        created_by: String,
    },
    /// Write the Teams app package (manifest with the bot, the tab and the
    /// read-receipt permission, and the icons) for this install.
    TeamsApp {
        /// The zip to write (`.zip`), or a folder for the three files.
        #[arg(long, default_value = "herald-teams-app.zip")]
        out: std::path::PathBuf,
        /// The app's version; raise it for every upload.
        #[arg(long, default_value = "1.0.0")]
        version: String,
        /// The organisation publishing it, shown in Teams.
        #[arg(long, default_value = "Your organisation")]
        developer: String,
    },
    /// Exit 0 when a health endpoint answers 2xx, else 1: the container
    /// images' health check (they have no curl).
    Healthcheck {
        /// A URL, or a path on ops.listen (/healthz when left out; 0.0.0.0
        /// is asked on 127.0.0.1).
        target: Option<String>,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Run the Teams emulator: Entra ID, Graph and the Bot Connector on one port.
    Emulator(Box<EmulatorArgs>),
}

#[derive(Args)]
pub struct UpArgs {
    /// Users in the embedded emulator's directory.
    #[arg(long)]
    pub emulator_users: Option<usize>,
    /// The embedded emulator's Bot Connector limit per second (0 = none).
    #[arg(long)]
    pub emulator_global_rps: Option<u32>,
    /// Where the embedded emulator listens.
    #[arg(long)]
    pub emulator_listen: Option<SocketAddr>,
}

#[derive(Args)]
pub struct WorkerArgs {
    /// Where /healthz, /readyz and /metrics are served (overrides ops.listen).
    #[arg(long)]
    pub ops_listen: Option<SocketAddr>,
}

/// What changes; what is not given stays as it was sent.
#[derive(Args)]
pub struct EditArgs {
    pub id: String,
    #[arg(long)]
    pub title: Option<String>,
    /// The body text; an empty one removes it.
    #[arg(long)]
    pub summary: Option<String>,
    /// The "From" line; an empty one removes it.
    #[arg(long)]
    pub author: Option<String>,
    /// Say "Edited" with the time under the title.
    #[arg(long)]
    pub mark_edited: bool,
    /// Also tell each person in their chat that it changed.
    #[arg(long)]
    pub notify: bool,
    /// The name the report gives.
    #[arg(long, default_value = "the command line")]
    pub by: String,
}

#[derive(Args)]
pub struct SendArgs {
    #[arg(long)]
    pub title: String,
    /// The body text (Markdown as Teams renders it).
    #[arg(long)]
    pub summary: Option<String>,
    /// An https URL of a PNG, JPEG or GIF image.
    #[arg(long)]
    pub image: Option<String>,
    /// Shown as "From <author>".
    #[arg(long)]
    pub author: Option<String>,
    /// A link button as TITLE=https://URL; repeat for more.
    #[arg(long = "button")]
    pub buttons: Vec<String>,
    /// What the activity feed and the toast show (default: the title).
    #[arg(long)]
    pub feed_text: Option<String>,
    /// Reach people who opted out too.
    #[arg(long)]
    pub critical: bool,
    /// Add an Acknowledge button and count who pressed it.
    #[arg(long)]
    pub acknowledge: bool,
    /// Who to send to: all, group:<id>, team:<id> (its General channel),
    /// channel:<team id>/<channel id>, team-members:<id>, or users:<file.csv>
    /// (UPNs or Entra object ids); repeat for more.
    #[arg(long = "audience", required = true)]
    pub audiences: Vec<String>,
    /// Recorded as the sender.
    #[arg(long, default_value = "herald-cli")]
    pub created_by: String,
    /// Return at once instead of waiting until the audience is resolved.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Args)]
pub struct EmulatorArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Users in the generated directory.
    #[arg(long)]
    pub users: Option<usize>,
    #[arg(long)]
    pub teams: Option<usize>,
    #[arg(long)]
    pub groups: Option<usize>,
    /// Seed of the generated directory; the same seed gives the same directory.
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub tenant_id: Option<String>,
    #[arg(long)]
    pub app_id: Option<String>,
    #[arg(long)]
    pub app_secret: Option<String>,
    /// Herald's /api/messages, where installs are reported as signed activities.
    #[arg(long)]
    pub bot_endpoint: Option<String>,
    /// Bot Connector requests per second per tenant (0 = no limit).
    #[arg(long)]
    pub global_rps: Option<u32>,
    /// Added latency as P50,P99 in milliseconds, e.g. 150,1000.
    #[arg(long, value_parser = parse_latency)]
    pub latency_ms: Option<[u64; 2]>,
    /// Share of requests answered 502/503/504, from 0 to 1.
    #[arg(long)]
    pub fault_rate: Option<f64>,
    /// Share of users who already have the app, from 0 to 1.
    #[arg(long)]
    pub installed_fraction: Option<f64>,
}

fn parse_latency(text: &str) -> Result<[u64; 2], String> {
    let (p50, p99) = text
        .split_once(',')
        .ok_or("expected P50,P99 in milliseconds, e.g. 150,1000")?;
    let number = |s: &str| s.trim().parse::<u64>().map_err(|e| format!("{s:?}: {e}"));
    Ok([number(p50)?, number(p99)?])
}
