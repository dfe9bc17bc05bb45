//! Graph's advanced queries for the audience picker (teams-platform.md
//! §10): `$search`, `$count`, the teams filter and the `/$count` paths,
//! all served only with `ConsistencyLevel: eventual`.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::graph::expected_transitive_users;
use crate::support::*;

const TEAMS: &str = "resourceProvisioningOptions/Any(x:x eq 'Team')";

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// `$search=` for one clause, `"displayName:eng"`.
fn search(clause: &str) -> String {
    format!("$search={}", enc(&format!("\"{clause}\"")))
}

/// With 10 teams and 10 groups every name word is both a team and a group:
/// "Engineering Team 0" ... "People Team 9", "Engineering Group 10" ...
async fn emulator(users: usize, teams: usize, groups: usize) -> TestEmulator {
    let mut config = config(users);
    config.directory.teams = teams;
    config.directory.groups = groups;
    TestEmulator::with(config).await
}

fn names(body: &Value) -> Vec<String> {
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["displayName"].as_str().unwrap().to_owned())
        .collect()
}

async fn group_names(t: &TestEmulator, query: &str) -> Vec<String> {
    let (status, body) = t.graph_get_eventual(&format!("/groups?{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    names(&body)
}

#[tokio::test]
async fn advanced_queries_without_the_header_are_refused() {
    let t = TestEmulator::start(30).await;
    let group = t.directory().await["groups"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let paths = [
        format!("/groups?{}", search("displayName:eng")),
        "/groups?$count=true".to_owned(),
        format!("/groups?$filter={}", enc(TEAMS)),
        format!("/users?{}", search("displayName:a")),
        "/users?$count=true".to_owned(),
        "/users/$count".to_owned(),
        format!("/groups/{group}/transitiveMembers/$count"),
        format!("/groups/{group}/transitiveMembers/microsoft.graph.user/$count"),
    ];
    for path in &paths {
        let (status, body) = t.graph_get(path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["error"]["code"], "Request_UnsupportedQuery", "{path}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("'ConsistencyLevel: eventual'"),
            "{path}: {message}"
        );
        let (status, _, text) = t.graph_get_text(path, true).await;
        assert_eq!(status, 200, "{path}: {text}");
    }
    // A filter that is no advanced query needs no header.
    let unified = enc("groupTypes/any(c:c eq 'Unified')");
    let (status, body) = t.graph_get(&format!("/groups?$filter={unified}")).await;
    assert_eq!(status, 200, "{body}");
    let found = body["value"].as_array().unwrap();
    assert!(!found.is_empty());
    assert!(found.iter().all(|g| g["groupTypes"] == json!(["Unified"])));
}

#[tokio::test]
async fn search_matches_the_start_of_words_in_any_case() {
    let t = emulator(30, 10, 10).await;
    let both = ["Engineering Team 0", "Engineering Group 10"];
    assert_eq!(group_names(&t, &search("displayName:eng")).await, both);
    assert_eq!(group_names(&t, &search("displayName:ENGIN")).await, both);
    assert!(
        group_names(&t, &search("displayName:ngin"))
            .await
            .is_empty()
    );
    // Every searched word must start a word of the name.
    assert_eq!(
        group_names(&t, &search("displayName:eng gro")).await,
        ["Engineering Group 10"]
    );
    let teams = group_names(&t, &search("displayName:te")).await;
    assert_eq!(teams.len(), 10, "{teams:?}");
    assert!(teams.iter().all(|n| n.contains(" Team ")));
}

#[tokio::test]
async fn people_are_found_by_name_or_mail() {
    let t = TestEmulator::start(30).await;
    let added: Value = t
        .http
        .post(format!("{}/directory/users", t.urls().control))
        .json(&json!({"displayName": "Annabel Quill"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let either = enc("\"displayName:annab\" OR \"mail:annab\"");
    let (status, body) = t
        .graph_get_eventual(&format!(
            "/users?$search={either}&$count=true&$select=id,displayName"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["@odata.count"], 1);
    assert_eq!(body["value"][0]["id"], added["id"]);
    let (_, _, count) = t
        .graph_get_text(&format!("/users/$count?$search={either}"), true)
        .await;
    assert_eq!(count, "1");
    // The mail's words are searchable too: its domain matches everyone
    // who is no guest.
    let (_, body) = t
        .graph_get_eventual(&format!("/users?{}&$top=999", search("mail:contoso")))
        .await;
    let members = t.directory().await["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["userType"] == "Member" && u["removed"] == false)
        .count();
    assert_eq!(body["value"].as_array().unwrap().len(), members);
    let (_, body) = t
        .graph_get_eventual(&format!("/users?{}", search("displayName:nabel")))
        .await;
    assert!(body["value"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_count_is_every_match_on_every_page() {
    let t = emulator(50, 3, 40).await;
    let first = format!(
        "/groups?{}&$count=true&$top=7&$select=id,displayName",
        search("displayName:group")
    );
    let mut link = first.clone();
    let (mut seen, mut pages) = (HashSet::new(), 0);
    loop {
        let (status, body) = t.graph_get_eventual(&link).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["@odata.count"], 40, "{link}");
        let page = body["value"].as_array().unwrap();
        assert!(page.len() <= 7);
        for group in page {
            assert!(group["displayName"].as_str().unwrap().contains(" Group "));
            assert!(seen.insert(group["id"].as_str().unwrap().to_owned()));
        }
        pages += 1;
        match body["@odata.nextLink"].as_str() {
            Some(next) => link = next.to_owned(),
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (40, 6));

    // The next link keeps the search, so it too needs the header.
    let (_, body) = t.graph_get_eventual(&first).await;
    let next = body["@odata.nextLink"].as_str().unwrap();
    assert_eq!(t.graph_get(next).await.0, 400);
    // No count unless asked; page sizes as for every list.
    let (_, body) = t
        .graph_get_eventual(&format!("/groups?{}", search("displayName:group")))
        .await;
    assert!(body.get("@odata.count").is_none());
    let (status, _) = t
        .graph_get_eventual(&format!(
            "/groups?{}&$top=1000",
            search("displayName:group")
        ))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_teams_filter_keeps_only_teams_and_combines_with_search() {
    let t = emulator(30, 10, 10).await;
    let teams = format!("$filter={}", enc(TEAMS));
    let (status, body) = t
        .graph_get_eventual(&format!("/groups?{teams}&$count=true"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["@odata.count"], 10);
    let found = body["value"].as_array().unwrap();
    assert_eq!(found.len(), 10);
    assert!(
        found
            .iter()
            .all(|g| g["resourceProvisioningOptions"] == json!(["Team"]))
    );
    assert_eq!(
        group_names(&t, &format!("{teams}&{}", search("displayName:eng"))).await,
        ["Engineering Team 0"]
    );
    // Any other filter is refused, not ignored.
    let (status, body) = t
        .graph_get_eventual(&format!("/groups?$filter={}", enc("displayName eq 'x'")))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "Request_UnsupportedQuery");
}

#[tokio::test]
async fn a_quote_inside_a_search_cannot_end_it() {
    let t = emulator(30, 10, 10).await;
    for bad in [
        "displayName:eng",
        "\"displayName:eng",
        "\"eng\"",
        "\"displayName:eng\" or \"displayName:sales\"",
    ] {
        let (status, body) = t
            .graph_get_eventual(&format!("/groups?$search={}", enc(bad)))
            .await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "Request_BadRequest", "{bad}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("double quotes"), "{bad}: {message}");
    }
    // Two clauses find both names...
    let two = enc(r#""displayName:eng" OR "displayName:sales""#);
    assert_eq!(
        group_names(&t, &format!("$search={two}")).await,
        [
            "Engineering Team 0",
            "Sales Team 1",
            "Engineering Group 10",
            "Sales Group 11"
        ]
    );
    // ...but escaped quotes stay inside one clause, whose words (eng, or,
    // displayname, sales) no name has all of.
    let one = enc(r#""displayName:eng\" OR \"displayName:sales""#);
    assert!(group_names(&t, &format!("$search={one}")).await.is_empty());
    let (status, body) = t
        .graph_get_eventual(&format!("/groups?{}", search("shoeSize:9")))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "Request_UnsupportedQuery");
}

/// A group with a nested group, and its transitive members as listed.
async fn nested_group(t: &TestEmulator) -> (String, usize) {
    let directory = t.directory().await;
    let nested = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| !g["memberGroupIds"].as_array().unwrap().is_empty())
        .expect("a nested group");
    let id = nested["id"].as_str().unwrap().to_owned();
    let (status, body) = t
        .graph_get(&format!("/groups/{id}/transitiveMembers?$top=999"))
        .await;
    assert_eq!(status, 200);
    (id, body["value"].as_array().unwrap().len())
}

#[tokio::test]
async fn counts_are_bare_numbers_in_plain_text() {
    let t = TestEmulator::start(300).await;
    let directory = t.directory().await;
    let (group, listed) = nested_group(&t).await;
    let users = expected_transitive_users(&directory, &group).len();
    assert!(listed > users, "the listing holds the nested group too");

    let count = |path: String| {
        let t = &t;
        async move {
            let (status, content_type, text) = t.graph_get_text(&path, true).await;
            assert_eq!(status, 200, "{path}: {text}");
            assert!(content_type.starts_with("text/plain"), "{content_type}");
            text.parse::<usize>().unwrap()
        }
    };
    let all = format!("/groups/{group}/transitiveMembers/$count");
    assert_eq!(count(all).await, listed);
    let people = format!("/groups/{group}/transitiveMembers/microsoft.graph.user/$count");
    assert_eq!(count(people).await, users);

    let present: Vec<&Value> = directory["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["removed"] == false)
        .collect();
    assert_eq!(count("/users/$count".to_owned()).await, present.len());
    let leaver = present[5]["id"].as_str().unwrap();
    let removed = t
        .http
        .delete(format!("{}/directory/users/{leaver}", t.urls().control))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(count("/users/$count".to_owned()).await, present.len() - 1);

    let (status, body) = t
        .graph_get_eventual("/groups/00000000-0000-0000-0000-000000000000/transitiveMembers/$count")
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "Request_ResourceNotFound");
}

#[tokio::test]
async fn a_count_in_a_batch_is_a_string_body() {
    let t = TestEmulator::start(40).await;
    let requests = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/users/$count", "headers": {"ConsistencyLevel": "eventual"}},
        {"id": "2", "method": "GET", "url": "/users/$count"},
    ]});
    let (status, body) = t.graph_post("/$batch", &requests).await;
    assert_eq!(status, 200);
    let (_, _, direct) = t.graph_get_text("/users/$count", true).await;
    assert_eq!(body["responses"][0]["status"], 200);
    assert_eq!(body["responses"][0]["body"], direct.as_str());
    assert_eq!(body["responses"][1]["status"], 400);
}
