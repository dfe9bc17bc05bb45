use std::collections::{HashMap, HashSet};
use std::time::Duration;

use herald_domain::audience::Target;
use herald_domain::{Audience, DeliveryStatus, NotificationId, NotificationStatus};
use herald_testkit::{TestHerald, content, emulator_config};
use serde_json::Value;

async fn start() -> TestHerald {
    start_with(|_| {}).await
}

async fn start_with(tweak: impl FnOnce(&mut herald_config::Settings)) -> TestHerald {
    let mut config = emulator_config(150);
    config.directory.guest_fraction = 0.06;
    config.directory.disabled_fraction = 0.06;
    config.directory.teams = 3;
    config.directory.groups = 6;
    TestHerald::start(config, tweak).await
}

async fn send(herald: &TestHerald, targets: Vec<Target>) -> NotificationId {
    let audience = Audience::new(targets).unwrap();
    herald_prepare::submit(
        herald.store(),
        herald.broker(),
        &content("Audience"),
        &audience,
        "tests",
    )
    .await
    .unwrap()
}

async fn directory(herald: &TestHerald) -> Value {
    herald.emulator_get("/directory").await
}

fn users_by_id(directory: &Value) -> HashMap<String, Value> {
    directory["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["id"].as_str().unwrap().to_owned(), u.clone()))
        .collect()
}

fn flatten(directory: &Value, group_id: &str) -> HashSet<String> {
    let groups = directory["groups"].as_array().unwrap();
    let (mut users, mut seen, mut stack) =
        (HashSet::new(), HashSet::new(), vec![group_id.to_owned()]);
    while let Some(id) = stack.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let group = groups.iter().find(|g| g["id"] == id.as_str()).unwrap();
        users.extend(
            group["memberUserIds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap().to_owned()),
        );
        stack.extend(
            group["memberGroupIds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g.as_str().unwrap().to_owned()),
        );
    }
    users
}

/// Checks each person got the status the directory says they should.
async fn check_people(
    herald: &TestHerald,
    id: NotificationId,
    expected: &HashSet<String>,
    directory: &Value,
) {
    let progress = herald.wait_until_ended(id, Duration::from_secs(90)).await;
    assert_eq!(
        progress.notification.status,
        NotificationStatus::Sent,
        "{progress:?}"
    );
    let deliveries = herald.store().deliveries(id).await.unwrap();
    let got: HashSet<String> = deliveries.iter().map(|d| d.recipient.to_string()).collect();
    assert_eq!(&got, expected, "exactly the right people, each once");
    let users = users_by_id(directory);
    for delivery in deliveries {
        let user = &users[&delivery.recipient.to_string()];
        let skipped = user["userType"] == "Guest" || user["accountEnabled"] == false;
        let want = if skipped {
            DeliveryStatus::Skipped
        } else {
            DeliveryStatus::Delivered
        };
        assert_eq!(delivery.status, want, "{user}");
        if skipped {
            assert!(delivery.error_code.is_some(), "skips have reasons");
        }
    }
}

#[tokio::test]
async fn a_group_reaches_its_members_nested_groups_included() {
    let herald = start().await;
    let directory = directory(&herald).await;
    let nested = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| !g["memberGroupIds"].as_array().unwrap().is_empty())
        .unwrap()
        .clone();
    let group = nested["id"].as_str().unwrap();
    let id = send(
        &herald,
        vec![Target::Group {
            id: group.to_owned(),
        }],
    )
    .await;
    check_people(&herald, id, &flatten(&directory, group), &directory).await;
    herald.stop().await;
}

#[tokio::test]
async fn team_members_and_an_overlapping_group_count_each_person_once() {
    let herald = start().await;
    let directory = directory(&herald).await;
    let groups = directory["groups"].as_array().unwrap();
    let team = groups.iter().find(|g| g["team"].is_object()).unwrap();
    let group = groups.iter().find(|g| g["team"].is_null()).unwrap();
    let team_members: HashSet<String> = team["memberUserIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_owned())
        .collect();
    let mut expected = flatten(&directory, group["id"].as_str().unwrap());
    expected.extend(team_members.iter().cloned());
    // Overlap on purpose: the same team twice, and the group.
    let targets = vec![
        Target::TeamMembers {
            team: team["id"].as_str().unwrap().to_owned(),
        },
        Target::Group {
            id: group["id"].as_str().unwrap().to_owned(),
        },
        Target::TeamMembers {
            team: team["id"].as_str().unwrap().to_owned(),
        },
    ];
    let id = send(&herald, targets).await;
    let progress = herald.wait_until_ended(id, Duration::from_secs(90)).await;
    assert_eq!(progress.total() as usize, expected.len());
    let deliveries = herald.store().deliveries(id).await.unwrap();
    let got: HashSet<String> = deliveries.iter().map(|d| d.recipient.to_string()).collect();
    assert_eq!(got, expected);
    herald.stop().await;
}

#[tokio::test]
async fn a_team_gets_one_post_in_its_general_channel() {
    let herald = start().await;
    let directory = directory(&herald).await;
    let team = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["team"]["hasApp"] == false)
        .unwrap()
        .clone();
    let id = send(
        &herald,
        vec![Target::Channel {
            team: team["id"].as_str().unwrap().to_owned(),
            channel: None,
        }],
    )
    .await;
    let progress = herald.wait_until_ended(id, Duration::from_secs(60)).await;
    assert_eq!(progress.count(DeliveryStatus::Delivered), 1, "{progress:?}");
    let stats = herald.emulator_stats().await;
    assert_eq!(stats["installs"], 1, "the app was added to the team first");
    assert_eq!(stats["activities_received"], 1);
    herald.stop().await;
}

#[tokio::test]
async fn an_excel_csv_with_quoted_names_reaches_exactly_its_people() {
    let herald = start().await;
    let directory = directory(&herald).await;
    let people: Vec<&Value> = directory["users"]
        .as_array()
        .unwrap()
        .iter()
        .take(12)
        .collect();
    // As Excel saves "CSV UTF-8": a byte order mark, CRLF line ends, and
    // quotes around fields holding commas or line breaks.
    let mut csv = String::from("\u{feff}User principal name,Display name,Notes\r\n");
    for (index, person) in people.iter().enumerate() {
        let key = if index % 3 == 0 {
            person["id"].as_str().unwrap()
        } else {
            person["userPrincipalName"].as_str().unwrap()
        };
        let name = person["displayName"].as_str().unwrap();
        csv.push_str(&format!(
            "{key},\"{name}, Contoso\",\"Office: Oslo, 2nd floor\r\nDesk {index}\"\r\n"
        ));
    }
    let target = Target::users_from_csv("people.csv", &csv).unwrap();
    let id = send(&herald, vec![target]).await;
    let expected: HashSet<String> = people
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    check_people(&herald, id, &expected, &directory).await;
    herald.stop().await;
}

#[tokio::test]
async fn everyone_uses_the_delta_link_the_second_time() {
    // Small pages, so that the first sync takes several and the second
    // shows it asks for the changes only.
    let herald = start_with(|s| s.prepare.delta_page_size = 50).await;
    let first = send(&herald, vec![Target::Everyone]).await;
    let before = directory(&herald).await;
    let present: HashSet<String> = before["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["removed"] == false)
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    check_people(&herald, first, &present, &before).await;
    let delta_calls = |stats: &Value| {
        stats["requests"]["GET /graph/v1.0/users/delta"]
            .as_u64()
            .unwrap_or(0)
    };
    let first_calls = delta_calls(&herald.emulator_stats().await);
    assert_eq!(first_calls, 3, "150 people at 50 a page");

    // Three changes: a hire, a departure, a rename.
    let control = &herald.emulator.urls.control;
    let hire: Value = herald
        .http
        .post(format!("{control}/directory/users"))
        .json(&serde_json::json!({"displayName": "New Hire"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let leaver = present.iter().next().unwrap().clone();
    herald
        .http
        .delete(format!("{control}/directory/users/{leaver}"))
        .send()
        .await
        .unwrap();
    let second = send(&herald, vec![Target::Everyone]).await;
    let after = directory(&herald).await;
    let mut expected = present.clone();
    expected.remove(&leaver);
    expected.insert(hire["id"].as_str().unwrap().to_owned());
    check_people(&herald, second, &expected, &after).await;
    assert_eq!(
        delta_calls(&herald.emulator_stats().await) - first_calls,
        1,
        "one page of changes, not everyone again"
    );
    herald.stop().await;
}

#[tokio::test]
async fn unknown_groups_and_teams_fail_with_a_clear_error() {
    let herald = start().await;
    for (target, expected) in [
        (
            Target::Group {
                id: "00000000-0000-0000-0000-000000000001".into(),
            },
            "no group",
        ),
        (
            Target::TeamMembers {
                team: "00000000-0000-0000-0000-000000000002".into(),
            },
            "no team",
        ),
        (
            Target::Channel {
                team: "00000000-0000-0000-0000-000000000003".into(),
                channel: None,
            },
            "no team",
        ),
    ] {
        let id = send(&herald, vec![target]).await;
        let progress = herald.wait_until_ended(id, Duration::from_secs(30)).await;
        assert_eq!(progress.notification.status, NotificationStatus::Failed);
        let error = progress.notification.error.clone().unwrap();
        assert!(error.contains(expected), "{error}");
        assert_eq!(progress.total(), 0);
    }
    assert_eq!(herald.emulator_stats().await["activities_received"], 0);
    herald.stop().await;
}

#[tokio::test]
async fn a_group_whose_members_all_left_is_a_clear_error() {
    let herald = start().await;
    let directory = directory(&herald).await;
    let group = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["team"].is_null() && g["memberGroupIds"].as_array().unwrap().is_empty())
        .unwrap()
        .clone();
    let group_id = group["id"].as_str().unwrap();
    for user in flatten(&directory, group_id) {
        herald
            .http
            .delete(format!(
                "{}/directory/users/{user}",
                herald.emulator.urls.control
            ))
            .send()
            .await
            .unwrap();
    }
    let id = send(
        &herald,
        vec![Target::Group {
            id: group_id.to_owned(),
        }],
    )
    .await;
    let progress = herald.wait_until_ended(id, Duration::from_secs(30)).await;
    assert_eq!(progress.notification.status, NotificationStatus::Failed);
    assert!(
        progress
            .notification
            .error
            .clone()
            .unwrap()
            .contains("resolved to nobody"),
        "{progress:?}"
    );
    assert_eq!(progress.total(), 0);
    herald.stop().await;
}
