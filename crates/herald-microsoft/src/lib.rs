//! Herald's clients for Microsoft: Entra ID tokens, Graph and the Bot
//! Connector, speaking exactly teams-platform.md. Responses are classified
//! here, once, into what the pipelines need. Nothing here knows Herald's
//! tables or queues.

mod connector;
mod graph;
pub mod pace;
mod teams_app;
mod tokens;

pub use connector::{BotConnector, SendFailure};
pub use graph::{
    Channel, ChannelMembership, DeltaNext, DeltaStep, FoundGroup, Graph, GraphCall, GraphError,
    GraphLimits, GraphPacing, GraphUser, GroupSearch, TeamMember,
};
pub use pace::{Limit, Throttle, Throttles};
pub use teams_app::{MANIFEST_VERSION, TeamsApp, TeamsAppError};
pub use tokens::{AuthError, Credentials, Scope, TokenCache};

use std::time::Duration;

/// The HTTP client every Microsoft call goes through.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(512)
        .build()
        .unwrap_or_default()
}

/// `Retry-After` in seconds, decimals allowed.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}
