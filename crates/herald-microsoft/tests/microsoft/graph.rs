//! The Graph calls of the audience picker: group search, counts and
//! channels, against the emulator's directory.

use std::collections::HashSet;
use std::sync::Arc;

use herald_microsoft::{ChannelMembership, Graph, GraphError, GraphLimits, GraphPacing, Throttles};
use serde_json::Value;
use teams_emulator::{EmulatorConfig, RunningEmulator};

use crate::tokens::tokens;

/// 10 teams and 10 groups, so each name word is one team and one group:
/// "Engineering Team 0" ... "People Team 9", "Engineering Group 10" ...
async fn emulator() -> RunningEmulator {
    let mut config = EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..EmulatorConfig::default()
    };
    config.directory.users = 200;
    config.directory.teams = 10;
    config.directory.groups = 10;
    teams_emulator::start(config).await.unwrap()
}

fn graph(emulator: &RunningEmulator) -> Graph {
    let pacing = GraphPacing {
        throttles: Arc::new(Throttles::default()),
        limits: GraphLimits::default(),
        tenant: emulator.urls.tenant_id.clone(),
    };
    Graph::new(
        herald_microsoft::http_client(),
        tokens(emulator, &emulator.urls.app_secret),
        &emulator.urls.graph,
        pacing,
    )
}

async fn control(emulator: &RunningEmulator, path: &str) -> Value {
    reqwest::get(format!("{}{path}", emulator.urls.control))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn group<'a>(directory: &'a Value, name: &str) -> &'a Value {
    directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["displayName"] == name)
        .unwrap()
}

#[tokio::test]
async fn search_groups_finds_a_group_by_the_start_of_a_word() {
    let emulator = emulator().await;
    let graph = graph(&emulator);
    let directory = control(&emulator, "/directory").await;

    let found = graph.search_groups("engin", false, 50).await.unwrap();
    assert_eq!(found.total, 2);
    let names: Vec<&str> = found
        .groups
        .iter()
        .map(|g| g.display_name.as_str())
        .collect();
    assert_eq!(names, ["Engineering Team 0", "Engineering Group 10"]);
    let (team, plain) = (&found.groups[0], &found.groups[1]);
    assert_eq!(team.id, group(&directory, "Engineering Team 0")["id"]);
    assert!(team.is_team && team.unified && team.mail_enabled);
    assert!(!plain.is_team);
    assert_eq!(
        plain.security_enabled,
        group(&directory, "Engineering Group 10")["securityEnabled"]
    );

    let nothing = graph.search_groups("ngin", false, 50).await.unwrap();
    assert_eq!((nothing.groups.len(), nothing.total), (0, 0));
    emulator.stop().await;
}

#[tokio::test]
async fn teams_only_keeps_the_teams_and_counts_past_the_page() {
    let emulator = emulator().await;
    let graph = graph(&emulator);

    let found = graph.search_groups("eng", true, 50).await.unwrap();
    let names: Vec<&str> = found
        .groups
        .iter()
        .map(|g| g.display_name.as_str())
        .collect();
    assert_eq!(names, ["Engineering Team 0"]);

    // "te" starts "Team": all ten teams match, three are shown.
    let page = graph.search_groups("te", true, 3).await.unwrap();
    assert_eq!((page.groups.len(), page.total), (3, 10));
    assert!(page.groups.iter().all(|g| g.is_team));
    emulator.stop().await;
}

#[tokio::test]
async fn typed_quotes_and_backslashes_cannot_break_the_search() {
    let emulator = emulator().await;
    let graph = graph(&emulator);

    // Left in, the quotes would end the clause and add one for "eng".
    let found = graph
        .search_groups("Sales\" OR \"displayName:eng", false, 50)
        .await
        .unwrap();
    assert!(found.groups.is_empty(), "{found:?}");
    let found = graph.search_groups("\\\"sal\\", false, 50).await.unwrap();
    let names: Vec<&str> = found
        .groups
        .iter()
        .map(|g| g.display_name.as_str())
        .collect();
    assert_eq!(names, ["Sales Team 1", "Sales Group 11"]);

    // Nothing left to search: no call at all.
    let before = control(&emulator, "/stats").await["graph_requests"].clone();
    for blank in ["", "  ", "\"", "\\ \""] {
        let found = graph.search_groups(blank, true, 10).await.unwrap();
        assert_eq!((found.groups.len(), found.total), (0, 0), "{blank:?}");
    }
    assert_eq!(control(&emulator, "/stats").await["graph_requests"], before);
    emulator.stop().await;
}

/// The distinct present users in a group, nested groups flattened, from
/// the emulator's own directory.
fn people_in(directory: &Value, id: &str) -> usize {
    let present: HashSet<&str> = directory["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["removed"] == false)
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    let mut people: HashSet<&str> = HashSet::new();
    let (mut seen, mut stack) = (HashSet::new(), vec![id]);
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let group = directory["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == id)
            .unwrap();
        for user in group["memberUserIds"].as_array().unwrap() {
            people.extend(present.get(user.as_str().unwrap()));
        }
        for nested in group["memberGroupIds"].as_array().unwrap() {
            stack.push(nested.as_str().unwrap());
        }
    }
    people.len()
}

#[tokio::test]
async fn counts_match_the_directory() {
    let emulator = emulator().await;
    let graph = graph(&emulator);
    let directory = control(&emulator, "/directory").await;

    let present = directory["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["removed"] == false)
        .count();
    assert_eq!(graph.user_count().await.unwrap(), present as u64);

    let nested = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| !g["memberGroupIds"].as_array().unwrap().is_empty())
        .expect("a nested group");
    let id = nested["id"].as_str().unwrap();
    let direct = nested["memberUserIds"].as_array().unwrap().len();
    let people = people_in(&directory, id);
    assert!(people > direct, "the nested group adds people");
    assert_eq!(graph.group_member_count(id).await.unwrap(), people as u64);

    let unknown = graph
        .group_member_count("00000000-0000-0000-0000-000000000000")
        .await;
    assert!(
        matches!(unknown, Err(GraphError::Status { status: 404, .. })),
        "{unknown:?}"
    );
    emulator.stop().await;
}

#[tokio::test]
async fn team_channels_carry_their_membership_type() {
    let emulator = emulator().await;
    let graph = graph(&emulator);
    let directory = control(&emulator, "/directory").await;
    // The third team has a standard, a private and a shared channel.
    let team = group(&directory, "Marketing Team 2");
    let channels = graph
        .team_channels(team["id"].as_str().unwrap())
        .await
        .unwrap();
    let kinds: Vec<ChannelMembership> = channels.iter().map(|c| c.membership_type).collect();
    assert_eq!(
        kinds,
        [
            ChannelMembership::Standard,
            ChannelMembership::Standard,
            ChannelMembership::Private,
            ChannelMembership::Shared
        ]
    );
    emulator.stop().await;
}
