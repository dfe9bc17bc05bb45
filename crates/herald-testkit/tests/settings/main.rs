//! The testkit takes its database from Herald's settings, as every role
//! does, so the tests run against whatever PostgreSQL `HERALD_DATABASE__URL`
//! (or `herald.toml`) names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use herald_testkit::{TestHerald, emulator_config};
use sqlx::Connection;

/// Set on the child test run only.
const CHILD_MARK: &str = "TESTKIT_CHILD_ROLE";

/// The server the environment names, its `postgres` database.
fn admin_url() -> url::Url {
    let settings = herald_testkit::configured().unwrap();
    url::Url::parse(&herald_testkit::admin_url(&settings)).unwrap()
}

/// Runs `started_with_the_configured_database` in a child process whose
/// environment names a role of its own, made here with a password that is
/// not postgres', and checks that it passed and left no database behind.
#[tokio::test]
async fn the_database_url_comes_from_herald_settings() {
    let admin = admin_url();
    let mut connection = sqlx::PgConnection::connect(admin.as_str()).await.unwrap();
    let role = format!("herald_role_{}", uuid::Uuid::new_v4().simple());
    let password = uuid::Uuid::new_v4().simple().to_string();
    let create = format!("create role \"{role}\" login createdb password '{password}'");
    sqlx::query(sqlx::AssertSqlSafe(create))
        .execute(&mut connection)
        .await
        .unwrap();
    let mut url = admin.clone();
    url.set_username(&role).unwrap();
    url.set_password(Some(&password)).unwrap();
    url.set_path("/herald");

    let output = Command::new(std::env::current_exe().unwrap())
        .args(["started_with_the_configured_database", "--exact"])
        .args(["--ignored", "--nocapture", "--test-threads=1"])
        .env("HERALD_DATABASE__URL", url.as_str())
        // The browser tests' switch for screenshots steers the harness and
        // is no setting: the settings must load with it set.
        .env("HERALD_SCREENSHOTS", "1")
        .env(CHILD_MARK, &role)
        .output()
        .unwrap();
    let left: i64 =
        sqlx::query_scalar("select count(*) from pg_database where pg_get_userbyid(datdba) = $1")
            .bind(&role)
            .fetch_one(&mut connection)
            .await
            .unwrap();
    let drop = format!("drop role \"{role}\"");
    let dropped = sqlx::query(sqlx::AssertSqlSafe(drop))
        .execute(&mut connection)
        .await;
    let log = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the child test failed:\n{log}");
    assert!(
        log.contains("1 passed"),
        "the child test did not run:\n{log}"
    );
    assert_eq!(left, 0, "the test's database was not dropped");
    dropped.unwrap();
}

/// Run by the test above: a Herald started as every test starts one.
#[tokio::test]
#[ignore = "run by the_database_url_comes_from_herald_settings, with its own role"]
async fn started_with_the_configured_database() {
    let role =
        std::env::var(CHILD_MARK).expect("run by the_database_url_comes_from_herald_settings");
    let herald = TestHerald::start(emulator_config(3), |_| {}).await;
    let owner: String = {
        use secrecy::ExposeSecret;
        let url = herald.settings.database.url.expose_secret();
        let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar("select pg_get_userbyid(datdba)::text from pg_database where datname = current_database()")
            .fetch_one(&mut connection)
            .await
            .unwrap()
    };
    herald.stop().await;
    assert_eq!(
        owner, role,
        "Herald made its database as the configured role"
    );
}
