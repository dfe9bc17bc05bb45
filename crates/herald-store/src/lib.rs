//! PostgreSQL repositories for Herald, and the migrations in `migrations/`.
//!
//! This crate knows SQL and nothing of HTTP or AMQP. Delivery counts are
//! kept by triggers in the database (see the migration), so every path that
//! changes a status moves the counts with it.

mod api;
mod deliveries;
#[macro_use]
mod notifications;
mod changes;
mod drafts;
mod for_you;
mod images;
mod rates;
mod recipients;
mod reports;
mod sessions;
mod webhooks;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

pub use api::{ApiKey, Claim, NewApiKey, StoredAnswer};
pub use changes::{
    ChangeOutcome, ChangeRecord, ChangeRefused, ChangeTarget, NewChange, StartedChange,
};
pub use deliveries::{DeliveryRow, Outcome, SendTarget};
pub use drafts::{Due, Owner, TestSend};
pub use for_you::{DeliveredToYou, LastEdit, RecipientSetting};
pub use images::{StoredImage, Uploader};
pub use notifications::{Acknowledged, NotificationRecord, Origin, PostedCard, Progress};
pub use rates::SharedRate;
pub use recipients::{CachedPerson, InstallChange, InstallRecord, Person, StoredPerson};
pub use reports::{
    ListColumn, ListQuery, ListSort, ListedAnnouncement, Overview, ReadReceipt, RecipientLine,
    RecipientQuery, TimelinePoint,
};
pub use sessions::{PendingSignIn, SessionLifetime, SignInHandoff, SignedInPerson, StaffSession};
pub use webhooks::{Attempt, DeliveryAttempts, DueDelivery, Webhook};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database failed")]
    Database(#[from] sqlx::Error),
    #[error("cannot apply the database migrations")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is not what Herald wrote: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// Connects, creating the database first when it does not exist.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let options: PgConnectOptions = url.parse()?;
        ensure_database(&options).await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(
                options
                    .log_statements(tracing::log::LevelFilter::Trace)
                    // PostgreSQL's default (4) prices a random read as on a
                    // spinning disk. Herald's hot rows are cached or on SSD;
                    // priced as disk reads, key lookups lost to scans of a
                    // whole notification or directory per page (measured:
                    // a 2,000-row export batch took 60 ms instead of 7).
                    .options([("random_page_cost", "1.1")]),
            )
            .await?;
        Ok(Self { pool })
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }
}

async fn ensure_database(options: &PgConnectOptions) -> Result<()> {
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let mut admin = options.clone().database("postgres").connect().await?;
    let exists: bool =
        sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let quoted = name.replace('"', "\"\"");
        // Two processes may race to create it; the loser sees it exists.
        if let Err(error) =
            sqlx::query(sqlx::AssertSqlSafe(format!("create database \"{quoted}\"")))
                .execute(&mut admin)
                .await
        {
            let raced = error
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|c| c == "42P04" || c == "23505");
            if !raced {
                return Err(error.into());
            }
        }
    }
    Ok(())
}

fn parse<T: std::str::FromStr<Err = String>>(text: &str) -> Result<T> {
    text.parse().map_err(StoreError::Corrupt)
}
