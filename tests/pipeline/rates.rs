//! Shared adaptive rates: congestion events, a real limit lower than
//! configured, Graph paced under its limits, installs that start with the
//! first page of people.

use std::time::Duration;

use herald_domain::audience::Target;
use herald_domain::{Audience, DeliveryStatus, RatePolicy};
use herald_testkit::{TestHerald, content, emulator_config};
use serde_json::{Value, json};

const SENDS: &str = "POST /teams/v3/conversations/{id}/activities";

fn graph_calls(stats: &Value) -> (u64, u64) {
    let sum = |key: &str| -> u64 {
        stats[key]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(endpoint, _)| endpoint.contains(" /graph/"))
            .map(|(_, n)| n.as_u64().unwrap())
            .sum()
    };
    (sum("requests"), sum("throttled_by_endpoint"))
}

#[tokio::test]
async fn a_burst_of_429s_is_one_congestion_event_for_every_worker() {
    let no_roles = herald_app::Roles {
        prepare: false,
        send: false,
        web: false,
    };
    let herald = TestHerald::start_roles(emulator_config(5), no_roles, |_| {}).await;
    let store = herald.store();
    let policy = RatePolicy::new(48.5);
    // 65 workers' 429s within one Retry-After, all at once.
    let burst =
        (0..65).map(|_| store.rate_congested("send:burst", &policy, Duration::from_secs(5)));
    for answer in futures_util::future::join_all(burst).await {
        answer.unwrap();
    }
    let shared = store.shared_rate("send:burst", &policy).await.unwrap();
    assert!(
        (shared.state.rate - 48.5 * herald_domain::rate::DECREASE).abs() < 1e-9,
        "one event, not 65: {shared:?}"
    );
    assert_eq!(shared.state.congested_at, Some(48.5));
    herald.stop().await;
}

/// Teams allows 20/s while Herald is set to 50/s: Herald settles under the
/// real limit instead of collapsing to a message a second, and when the
/// limit is lifted it finds it again.
#[tokio::test]
async fn sending_follows_a_lower_real_limit_and_finds_it_lifted() {
    let mut config = emulator_config(1_000);
    config.behaviour.global_rps = 20;
    let herald = TestHerald::start(config, |s| s.send.rate_per_second = 50.0).await;
    let people =
        herald_testkit::seed_known_conversations(herald.store(), &herald.emulator.urls, 1_000)
            .await
            .unwrap();
    let (first, second) = people.split_at(500);

    let id = herald
        .send_to(&content("Under a lower limit"), first)
        .await
        .unwrap();
    // 500 at 20/s take 25 s; at a message a second (the old collapse), 8 min.
    let progress = herald.wait_until_ended(id, Duration::from_secs(90)).await;
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        500,
        "{progress:?}"
    );
    let tenant = &herald.emulator.urls.tenant_id;
    let key = format!("send:{tenant}");
    let policy = RatePolicy::new(48.5);
    let learned = herald.store().shared_rate(&key, &policy).await.unwrap();
    // Near the real limit: probing takes it a little past 20/s at times.
    assert!(
        (10.0..=25.0).contains(&learned.state.rate),
        "the shared rate settles near the real limit: {learned:?}"
    );

    herald.configure_emulator(json!({"global_rps": 50})).await;
    let id = herald
        .send_to(&content("The limit is lifted"), second)
        .await
        .unwrap();
    let progress = herald.wait_until_ended(id, Duration::from_secs(60)).await;
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        500,
        "{progress:?}"
    );
    let found = herald.store().shared_rate(&key, &policy).await.unwrap();
    assert!(
        found.state.rate > 30.0,
        "the rate probes above the old limit: {found:?}"
    );
    let stats = herald.emulator_stats().await;
    assert_eq!(stats["duplicate_activities"], 0);
    assert!(stats["requests"][SENDS].as_u64().unwrap() >= 1_000);
    herald.stop().await;
}

/// People without the app, looked up, installed and sent to with Graph's
/// limits on: Herald stays under them instead of learning them from 429s.
#[tokio::test]
async fn graph_calls_are_paced_under_graph_limits() {
    let mut config = emulator_config(200);
    config.directory.installed_fraction = 0.0;
    config.behaviour.graph_limits = true;
    let herald = TestHerald::start(config, |s| s.prepare.graph_concurrency = 32).await;
    let people: Vec<String> = herald
        .directory_users()
        .await
        .iter()
        .skip(3)
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    let id = herald.send_to(&content("Cold"), &people).await.unwrap();
    let progress = herald.wait_until_ended(id, Duration::from_secs(120)).await;
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        people.len() as i64,
        "{progress:?}"
    );
    let stats = herald.emulator_stats().await;
    let (calls, throttled) = graph_calls(&stats);
    assert!(
        throttled * 100 <= calls,
        "Graph 429s {throttled} of {calls} calls: {}",
        stats["throttled_by_endpoint"]
    );
    herald.stop().await;
}

/// Everyone, in a directory where nobody has the app: the first install
/// (and so the first delivery) does not wait for the rest of the directory.
#[tokio::test]
async fn installing_starts_with_the_first_page_of_people() {
    let mut config = emulator_config(3_000);
    config.directory.installed_fraction = 0.0;
    // Each Graph page takes 100 ms, so the directory takes seconds to read.
    config.behaviour.latency_ms = [100, 100];
    // Pages of 100: thirty of them.
    let herald = TestHerald::start(config, |s| s.prepare.delta_page_size = 100).await;
    let audience = Audience::new(vec![Target::Everyone]).unwrap();
    let id = herald_prepare::submit(
        herald.store(),
        herald.broker(),
        &content("Everyone, cold"),
        &audience,
        "tests",
    )
    .await
    .unwrap();
    let progress = herald
        .wait_for(id, Duration::from_secs(60), |p| {
            p.count(DeliveryStatus::Delivered) > 0
        })
        .await;
    assert!(
        progress.total() < 3_000,
        "the first delivery came before the directory was read: {progress:?}"
    );
    herald
        .store()
        .cancel_notification(id, "tests")
        .await
        .unwrap();
    herald.stop().await;
}

/// Graph allows 4 requests a second on one team (teams-platform.md §3),
/// whatever the kind of call: a post to 20 channels of one team reads the
/// team's channels and apps once per channel, and stays under that limit.
#[tokio::test]
async fn twenty_channels_of_one_team_are_paced_under_the_per_team_limit() {
    let mut config = emulator_config(20);
    config.directory.teams = 1;
    config.behaviour.graph_limits = true;
    let herald = TestHerald::start(config, |_| {}).await;
    let directory = herald.emulator_get("/directory").await;
    let team = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["team"].is_object())
        .expect("a team")
        .clone();
    let team_id = team["id"].as_str().unwrap().to_owned();
    let mut channels: Vec<String> = team["team"]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["membershipType"] == "standard")
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    while channels.len() < 20 {
        let url = format!("{}/teams/{team_id}/channels", herald.emulator.urls.control);
        let answer = herald
            .http
            .post(url)
            .json(&json!({"displayName": format!("Channel {}", channels.len())}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
        let created: Value = answer.json().await.unwrap();
        channels.push(created["id"].as_str().unwrap().to_owned());
    }
    let targets = channels
        .iter()
        .map(|channel| Target::Channel {
            team: team_id.clone(),
            channel: Some(channel.clone()),
        })
        .collect();
    let audience = Audience::new(targets).unwrap();
    let id = herald_prepare::submit(
        herald.store(),
        herald.broker(),
        &content("Every channel"),
        &audience,
        "tests",
    )
    .await
    .unwrap();
    let progress = herald.wait_until_ended(id, Duration::from_secs(60)).await;
    assert_eq!(
        progress.count(DeliveryStatus::Delivered),
        20,
        "{progress:?}"
    );
    let stats = herald.emulator_stats().await;
    let (calls, throttled) = graph_calls(&stats);
    assert!(calls >= 40, "two team calls per channel: {stats}");
    assert_eq!(
        throttled, 0,
        "Graph 429s on one team: {}",
        stats["throttled_by_endpoint"]
    );
    herald.stop().await;
}
