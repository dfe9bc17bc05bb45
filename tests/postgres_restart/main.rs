//! PostgreSQL restarted mid-broadcast: workers reconnect and finish, every
//! status final and right, every person sent to once. This binary holds one
//! test because it restarts the PostgreSQL every other test uses; cargo
//! runs test binaries one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use herald_domain::{DeliveryStatus, NotificationId, NotificationStatus};
use herald_testkit::{TestHerald, content, emulator_config};
use secrecy::ExposeSecret;
use sqlx::{Connection, PgConnection};

const PEOPLE: usize = 300;

#[tokio::test]
async fn a_database_restart_mid_broadcast_loses_nothing() {
    let mut config = emulator_config(PEOPLE);
    config.behaviour.global_rps = 50;
    let herald = TestHerald::start(config, |s| s.send.rate_per_second = 20.0).await;
    let people: Vec<String> = herald
        .directory_users()
        .await
        .iter()
        .take(PEOPLE)
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    let id = herald
        .send_to(&content("Survives a database restart"), &people)
        .await
        .unwrap();
    let before = herald
        .wait_for(id, Duration::from_secs(60), |p| {
            p.count(DeliveryStatus::Delivered) >= 50
        })
        .await;
    assert!(before.count(DeliveryStatus::Delivered) < PEOPLE as i64);

    let server_before = server_facts().await.unwrap();
    restart_postgres().await;
    let server_after = wait_for_postgres().await;
    assert_ne!(server_before.started, server_after.started, "not restarted");
    assert_eq!(server_before.hba_rules, server_after.hba_rules);

    let progress = herald.wait_until_ended(id, Duration::from_secs(120)).await;
    assert_eq!(progress.notification.status, NotificationStatus::Sent);
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        PEOPLE as i64,
        "{progress:?}"
    );
    let stats = herald.emulator_stats().await;
    assert_eq!(stats["activities_received"], PEOPLE as u64, "{stats}");
    assert_eq!(stats["duplicate_activities"], 0, "{stats}");
    let url = herald.settings.database.url.expose_secret().to_owned();
    assert_counts_match_deliveries(&url, id).await;
    herald.stop().await;
}

/// What tells one PostgreSQL start from another, and its access rules.
struct ServerFacts {
    started: String,
    hba_rules: Vec<String>,
}

async fn server_facts() -> Result<ServerFacts, sqlx::Error> {
    let mut admin = PgConnection::connect(&herald_testkit::admin_url(
        &herald_testkit::configured().expect("Herald's settings"),
    ))
    .await?;
    let started = sqlx::query_scalar("select pg_postmaster_start_time()::text")
        .fetch_one(&mut admin)
        .await?;
    let hba_rules = sqlx::query_scalar(
        "select concat_ws(' ', type, database::text, user_name::text, address, netmask, auth_method) \
         from pg_hba_file_rules order by line_number",
    )
    .fetch_all(&mut admin)
    .await?;
    Ok(ServerFacts { started, hba_rules })
}

/// Restarts the cluster on port 5432 the way `deploy/services.sh` starts
/// it (`pg_ctlcluster`, not systemd). A fast shutdown cuts the open
/// connections instead of waiting for clients to leave, which pooled
/// clients never do. Its configuration, and so its authentication, stays.
async fn restart_postgres() {
    let (version, name) = cluster_on_default_port().await;
    let status = tokio::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, &name])
        .args(["restart", "-m", "fast"])
        .status()
        .await
        .expect("pg_ctlcluster runs");
    assert!(
        status.success(),
        "pg_ctlcluster {version} {name} restart failed (run as root or postgres)"
    );
}

/// The version and name of the cluster on port 5432, from `pg_lsclusters`.
async fn cluster_on_default_port() -> (String, String) {
    let output = tokio::process::Command::new("pg_lsclusters")
        .arg("--no-header")
        .output()
        .await
        .expect("pg_lsclusters runs (Debian's postgresql-common)");
    let listing = String::from_utf8_lossy(&output.stdout).into_owned();
    listing
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.len() > 2 && fields[2] == "5432")
        .map(|fields| (fields[0].to_owned(), fields[1].to_owned()))
        .unwrap_or_else(|| panic!("no PostgreSQL cluster on port 5432: {listing}"))
}

/// Waits until PostgreSQL takes connections again.
async fn wait_for_postgres() -> ServerFacts {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match server_facts().await {
            Ok(facts) => return facts,
            Err(error) => assert!(
                tokio::time::Instant::now() < deadline,
                "PostgreSQL did not come back: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The counts the triggers kept equal a recount of the deliveries.
async fn assert_counts_match_deliveries(url: &str, id: NotificationId) {
    let mut connection = PgConnection::connect(url).await.unwrap();
    let kept: BTreeMap<String, i64> = sqlx::query_as(
        "select status, count from notification_counts where notification_id = $1 and count <> 0",
    )
    .bind(id.0)
    .fetch_all(&mut connection)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let recounted: BTreeMap<String, i64> = sqlx::query_as(
        "select status, count(*) from deliveries where notification_id = $1 group by status",
    )
    .bind(id.0)
    .fetch_all(&mut connection)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(kept, recounted);
    assert_eq!(
        recounted,
        BTreeMap::from([("delivered".to_owned(), PEOPLE as i64)])
    );
}
