//! The staff web UI over HTTP: sign-in, sessions, authorization, CSRF,
//! escaping, drafts, sending and schedules, against a real Herald with
//! PostgreSQL, RabbitMQ and the Teams emulator. The browser tests
//! (`tests/browser`) click through the same pages in Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod changes;
mod drafts;
mod errors;
mod for_you;
mod images;
mod receipts;
mod reports;
mod sending;
mod teams_app;
mod teams_tab;

use herald_testkit::web::StaffClient;
use herald_testkit::{TestHerald, emulator_config};

/// A Herald with a small directory and the emulator's staff.
pub async fn start() -> TestHerald {
    let mut config = emulator_config(40);
    config.directory.groups = 4;
    config.directory.teams = 2;
    TestHerald::start(config, |_| {}).await
}

/// The admin and the two authors, signed in.
pub struct People {
    pub admin: StaffClient,
    pub author: StaffClient,
    pub other_author: StaffClient,
}

pub async fn sign_in_staff(herald: &TestHerald) -> People {
    let staff = herald.staff().await;
    let base = herald.web_base();
    People {
        admin: StaffClient::sign_in(&base, &staff[0].0).await,
        author: StaffClient::sign_in(&base, &staff[1].0).await,
        other_author: StaffClient::sign_in(&base, &staff[2].0).await,
    }
}

/// UPNs of people who are not staff.
pub async fn people(herald: &TestHerald, count: usize) -> Vec<String> {
    herald.directory_users().await[3..3 + count]
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect()
}
