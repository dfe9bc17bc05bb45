use std::collections::HashSet;

use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn graph_needs_a_graph_token() {
    let t = TestEmulator::start(10).await;
    let url = format!("{}/v1.0/users", t.urls().graph);
    let missing = t.http.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let (_, body) = status_and_json(missing).await;
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");

    let bot_token = t.token(BOT_SCOPE).await;
    let wrong_audience = t
        .http
        .get(&url)
        .bearer_auth(bot_token)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_audience.status(), 401);
    let (_, body) = status_and_json(wrong_audience).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audience")
    );

    let forged = t
        .http
        .get(&url)
        .bearer_auth("eyJhbGciOiJub25lIn0.e30.")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}

#[tokio::test]
async fn paging_through_ten_thousand_users_reaches_the_end() {
    let t = TestEmulator::start(10_000).await;
    let mut next = Some(
        "/users?$select=id,displayName,userPrincipalName,userType,accountEnabled&$top=999"
            .to_owned(),
    );
    let mut ids = HashSet::new();
    let mut pages = 0;
    while let Some(link) = next {
        let (status, body) = t.graph_get(&link).await;
        assert_eq!(status, 200, "{body}");
        for user in body["value"].as_array().unwrap() {
            assert!(user["userPrincipalName"].is_string() && user["accountEnabled"].is_boolean());
            assert!(user.get("mail").is_none(), "$select limits the properties");
            assert!(
                ids.insert(user["id"].as_str().unwrap().to_owned()),
                "no user twice"
            );
        }
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
        pages += 1;
    }
    assert_eq!(ids.len(), 10_000);
    assert_eq!(pages, 11);
}

#[tokio::test]
async fn page_sizes_above_999_are_refused() {
    let t = TestEmulator::start(10).await;
    let (status, body) = t.graph_get("/users?$top=1000").await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid page size")
    );
    let (status, body) = t.graph_get("/users?$select=id,shoeSize").await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shoeSize")
    );
}

#[tokio::test]
async fn users_are_found_by_id_and_user_principal_name() {
    let t = TestEmulator::start(30).await;
    let user = t.find_user(is_plain_member).await;
    let upn = user["userPrincipalName"].as_str().unwrap();
    let (status, body) = t.graph_get(&format!("/users/{upn}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], user["id"]);
    let (status, body) = t.graph_get("/users/nobody@contoso.example").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "Request_ResourceNotFound");
}

async fn delta_round(t: &TestEmulator, start: &str) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut link = start.to_owned();
    loop {
        let (status, body) = t.graph_get(&link).await;
        assert_eq!(status, 200, "{body}");
        items.extend(body["value"].as_array().unwrap().iter().cloned());
        if let Some(next) = body["@odata.nextLink"].as_str() {
            link = next.to_owned();
        } else {
            return (
                items,
                body["@odata.deltaLink"]
                    .as_str()
                    .expect("last page has a deltaLink")
                    .to_owned(),
            );
        }
    }
}

/// Items per page of a delta round that asked `Prefer: odata.maxpagesize`
/// on its first request only, as Graph's documentation allows.
async fn delta_page_sizes(t: &TestEmulator, start: &str, prefer: &str) -> Vec<usize> {
    let token = t.token(GRAPH_SCOPE).await;
    let mut sizes = Vec::new();
    let mut link = format!("{}/v1.0{start}", t.urls().graph);
    let mut header = Some(prefer.to_owned());
    loop {
        let mut request = t.http.get(&link).bearer_auth(&token);
        if let Some(prefer) = header.take() {
            request = request.header("Prefer", prefer);
        }
        let (status, body) = status_and_json(request.send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        sizes.push(body["value"].as_array().unwrap().len());
        match body["@odata.nextLink"].as_str() {
            Some(next) => link = next.to_owned(),
            None => return sizes,
        }
    }
}

#[tokio::test]
async fn delta_keeps_the_page_size_the_first_request_asked_for() {
    let t = TestEmulator::start(250).await;
    let start = "/users/delta?$select=id,displayName";
    let sizes = delta_page_sizes(&t, start, "odata.maxpagesize=40").await;
    assert!(sizes.len() > 2, "{sizes:?}");
    let (last, full) = sizes.split_last().unwrap();
    assert!(full.iter().all(|&n| n == 40), "{sizes:?}");
    assert!(*last <= 40, "{sizes:?}");
    let sizes = delta_page_sizes(&t, start, "odata.maxpagesize=999").await;
    assert_eq!(sizes.len(), 1, "{sizes:?}");
    let sizes = delta_page_sizes(&t, start, "return=minimal").await;
    assert_eq!(sizes[0], 100, "Graph's default page: {sizes:?}");
}

#[tokio::test]
async fn delta_returns_only_what_changed_and_removals() {
    let t = TestEmulator::start(500).await;
    let (all, delta_link) = delta_round(
        &t,
        "/users/delta?$select=id,displayName,userPrincipalName,userType,accountEnabled",
    )
    .await;
    let present = t.directory().await["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["removed"] == false)
        .count();
    assert_eq!(all.len(), present);

    let users = t.directory().await["users"].as_array().unwrap().clone();
    let renamed = users[10]["id"].as_str().unwrap().to_owned();
    let departed = users[11]["id"].as_str().unwrap().to_owned();
    let control = &t.urls().control;
    let patch = t
        .http
        .patch(format!("{control}/directory/users/{renamed}"))
        .json(&json!({"displayName": "Renamed Person"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 204);
    let delete = t
        .http
        .delete(format!("{control}/directory/users/{departed}"))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    let added: Value = t
        .http
        .post(format!("{control}/directory/users"))
        .json(&json!({"displayName": "New Hire"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let (changes, next_link) = delta_round(&t, &delta_link).await;
    assert_eq!(changes.len(), 3, "{changes:?}");
    let by_id = |id: &str| changes.iter().find(|c| c["id"] == id).cloned().unwrap();
    assert_eq!(by_id(&renamed)["displayName"], "Renamed Person");
    assert_eq!(by_id(&departed)["@removed"]["reason"], "deleted");
    assert_eq!(
        by_id(added["id"].as_str().unwrap())["displayName"],
        "New Hire"
    );

    let (nothing, _) = delta_round(&t, &next_link).await;
    assert!(nothing.is_empty(), "no changes since: {nothing:?}");
}

#[tokio::test]
async fn a_stale_delta_token_is_410_gone() {
    let t = TestEmulator::start(20).await;
    let (_, delta_link) = delta_round(&t, "/users/delta").await;
    assert_eq!(
        t.configure(json!({"delta_token_lifetime_secs": 0}))
            .await
            .status(),
        200
    );
    let (status, body) = t.graph_get(&delta_link).await;
    assert_eq!(status, 410);
    assert!(body["error"]["code"].is_string());
    let (status, _) = t.graph_get("/users/delta?$deltatoken=garbage").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn group_search_needs_eventual_consistency() {
    let t = TestEmulator::start(50).await;
    let token = t.token(GRAPH_SCOPE).await;
    let url = format!(
        "{}/v1.0/groups?$search=\"displayName:engineering\"&$select=id,displayName,groupTypes,mailEnabled,securityEnabled",
        t.urls().graph
    );
    let without = t.http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(without.status(), 400);
    let with = t
        .http
        .get(&url)
        .bearer_auth(&token)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(with).await;
    assert_eq!(status, 200);
    let found = body["value"].as_array().unwrap();
    assert!(!found.is_empty());
    assert!(found.iter().all(|g| {
        g["displayName"]
            .as_str()
            .unwrap()
            .starts_with("Engineering")
    }));
    assert!(found[0]["securityEnabled"].is_boolean());
}

/// Flattens a group the slow, obvious way from the emulator's directory.
pub fn expected_transitive_users(directory: &Value, group_id: &str) -> HashSet<String> {
    let groups = directory["groups"].as_array().unwrap();
    let removed: HashSet<&str> = directory["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["removed"] == true)
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    let mut users = HashSet::new();
    let mut stack = vec![group_id.to_owned()];
    let mut seen = HashSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let group = groups.iter().find(|g| g["id"] == id.as_str()).unwrap();
        for u in group["memberUserIds"].as_array().unwrap() {
            if !removed.contains(u.as_str().unwrap()) {
                users.insert(u.as_str().unwrap().to_owned());
            }
        }
        for g in group["memberGroupIds"].as_array().unwrap() {
            stack.push(g.as_str().unwrap().to_owned());
        }
    }
    users
}

#[tokio::test]
async fn transitive_members_flatten_nested_groups() {
    let t = TestEmulator::start(300).await;
    let directory = t.directory().await;
    let nested = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| !g["memberGroupIds"].as_array().unwrap().is_empty())
        .cloned()
        .expect("a nested group");
    let id = nested["id"].as_str().unwrap();
    let mut link = format!(
        "/groups/{id}/transitiveMembers?$select=id,displayName,userPrincipalName,userType&$top=7"
    );
    let mut users = HashSet::new();
    let mut groups = 0;
    loop {
        let (status, body) = t.graph_get(&link).await;
        assert_eq!(status, 200);
        for item in body["value"].as_array().unwrap() {
            match item["@odata.type"].as_str().unwrap() {
                "#microsoft.graph.user" => {
                    assert!(users.insert(item["id"].as_str().unwrap().to_owned()))
                }
                "#microsoft.graph.group" => groups += 1,
                other => panic!("unexpected member type {other}"),
            }
        }
        match body["@odata.nextLink"].as_str() {
            Some(next) => link = next.to_owned(),
            None => break,
        }
    }
    assert!(groups >= 1);
    assert_eq!(users, expected_transitive_users(&directory, id));
    let (status, _) = t
        .graph_get("/groups/00000000-0000-0000-0000-000000000000/transitiveMembers")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn teams_members_and_channels() {
    let t = TestEmulator::start(100).await;
    let directory = t.directory().await;
    let team = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["team"].is_object())
        .cloned()
        .unwrap();
    let id = team["id"].as_str().unwrap();
    let (status, body) = t.graph_get(&format!("/teams/{id}/members")).await;
    assert_eq!(status, 200);
    let members = body["value"].as_array().unwrap();
    assert_eq!(
        members.len(),
        team["memberUserIds"].as_array().unwrap().len()
    );
    assert_eq!(
        members[0]["@odata.type"],
        "#microsoft.graph.aadUserConversationMember"
    );
    assert!(members[0]["userId"].is_string() && members[0]["roles"].is_array());

    let (status, body) = t.graph_get(&format!("/teams/{id}/channels")).await;
    assert_eq!(status, 200);
    let channels = body["value"].as_array().unwrap();
    assert_eq!(channels[0]["displayName"], "General");
    assert_eq!(channels[0]["id"], team["team"]["threadId"]);
    assert_eq!(
        channels.len(),
        team["team"]["channels"].as_array().unwrap().len()
    );

    let (status, _) = t
        .graph_get("/teams/00000000-0000-0000-0000-000000000000/channels")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn channels_say_who_can_see_them() {
    let t = TestEmulator::start(50).await;
    let directory = t.directory().await;
    let mut kinds = HashSet::new();
    for team in directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["team"].is_object())
    {
        let id = team["id"].as_str().unwrap();
        let (status, body) = t.graph_get(&format!("/teams/{id}/channels")).await;
        assert_eq!(status, 200);
        let listed = body["value"].as_array().unwrap();
        let seeded = team["team"]["channels"].as_array().unwrap();
        assert_eq!(listed.len(), seeded.len());
        assert_eq!(listed[0]["membershipType"], "standard", "General");
        for (channel, expected) in listed.iter().zip(seeded) {
            assert_eq!(channel["id"], expected["id"]);
            assert_eq!(channel["membershipType"], expected["membershipType"]);
            kinds.insert(channel["membershipType"].as_str().unwrap().to_owned());
        }
    }
    let expected: HashSet<String> = ["standard", "private", "shared"].map(String::from).into();
    assert_eq!(kinds, expected);
}

async fn catalog_app_id(t: &TestEmulator) -> String {
    let manifest = t.urls().manifest_id.clone();
    let (status, body) = t
        .graph_get(&format!(
            "/appCatalogs/teamsApps?$filter=externalId eq '{manifest}'"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["value"][0]["externalId"], manifest.as_str());
    assert_eq!(body["value"][0]["distributionMethod"], "organization");
    body["value"][0]["id"].as_str().unwrap().to_owned()
}

fn bind(t: &TestEmulator, app: &str) -> Value {
    let _ = t;
    json!({"teamsApp@odata.bind": format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{app}")})
}

#[tokio::test]
async fn install_201_then_409_then_the_chat_id() {
    let t = TestEmulator::start(50).await;
    let app = catalog_app_id(&t).await;
    let user = t
        .find_user(|u| u["hasApp"] == false && u["removed"] == false)
        .await;
    let id = user["id"].as_str().unwrap();

    let (status, body) = t
        .graph_get(&format!(
            "/users/{id}/teamwork/installedApps?$expand=teamsApp&$filter=teamsApp/id eq '{app}'"
        ))
        .await;
    assert_eq!(status, 200);
    assert!(body["value"].as_array().unwrap().is_empty());

    let (status, body) = t
        .graph_post(
            &format!("/users/{id}/teamwork/installedApps"),
            &bind(&t, &app),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, Value::Null, "201 has no body");
    let (status, body) = t
        .graph_post(
            &format!("/users/{id}/teamwork/installedApps"),
            &bind(&t, &app),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "Conflict");

    let (status, body) = t
        .graph_get(&format!(
            "/users/{id}/teamwork/installedApps?$expand=teamsApp&$filter=teamsApp/id eq '{app}'"
        ))
        .await;
    assert_eq!(status, 200);
    let installation = body["value"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["value"][0]["teamsApp"]["id"], app.as_str());
    let (status, chat) = t
        .graph_get(&format!(
            "/users/{id}/teamwork/installedApps/{installation}/chat"
        ))
        .await;
    assert_eq!(status, 200);
    let chat_id = chat["id"].as_str().unwrap();
    assert!(chat_id.starts_with("19:") && chat_id.ends_with("@unq.gbl.spaces"));

    // The chat id is the Bot Connector conversation id.
    let sent = t.send_activity(chat_id, &message("hello")).await;
    assert_eq!(sent.status(), 201);
    assert_eq!(t.stats().await["installs"], 1);
}

#[tokio::test]
async fn an_app_missing_from_the_catalog_cannot_be_installed() {
    let t = TestEmulator::start(20).await;
    let app = catalog_app_id(&t).await;
    let user = t
        .find_user(|u| u["hasApp"] == false && u["removed"] == false)
        .await;
    let id = user["id"].as_str().unwrap();
    let (status, _) = t
        .graph_post(
            &format!("/users/{id}/teamwork/installedApps"),
            &bind(&t, "not-in-catalog"),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        t.configure(json!({"app_in_catalog": false})).await.status(),
        200
    );
    let (status, body) = t
        .graph_post(
            &format!("/users/{id}/teamwork/installedApps"),
            &bind(&t, &app),
        )
        .await;
    assert_eq!(status, 404);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("catalog")
    );
    let (_, body) = t
        .graph_get("/appCatalogs/teamsApps?$filter=externalId eq 'x'")
        .await;
    assert!(body["value"].as_array().unwrap().is_empty());
    let (status, _) = t
        .graph_post(
            &format!("/users/{id}/teamwork/installedApps"),
            &json!({"wrong": 1}),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn installing_in_a_team_lists_it_there() {
    let t = TestEmulator::start(40).await;
    let app = catalog_app_id(&t).await;
    let directory = t.directory().await;
    let team = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["team"]["hasApp"] == false)
        .cloned()
        .unwrap();
    let id = team["id"].as_str().unwrap();
    let (status, _) = t
        .graph_post(&format!("/teams/{id}/installedApps"), &bind(&t, &app))
        .await;
    assert_eq!(status, 200);
    let (status, _) = t
        .graph_post(&format!("/teams/{id}/installedApps"), &bind(&t, &app))
        .await;
    assert_eq!(status, 409);
    let (status, body) = t
        .graph_get(&format!("/teams/{id}/installedApps?$expand=teamsApp"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["value"][0]["teamsApp"]["id"], app.as_str());
}

#[tokio::test]
async fn batch_runs_up_to_twenty_requests() {
    let t = TestEmulator::start(30).await;
    let users = t.directory().await["users"].as_array().unwrap().clone();
    let requests: Vec<Value> = (0..20)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{}?$select=id,displayName", users[i]["id"].as_str().unwrap())}))
        .collect();
    let (status, body) = t
        .graph_post("/$batch", &json!({"requests": requests}))
        .await;
    assert_eq!(status, 200);
    let responses = body["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 20);
    for response in responses {
        let index: usize = response["id"].as_str().unwrap().parse().unwrap();
        let expected = if users[index]["removed"] == true {
            404
        } else {
            200
        };
        assert_eq!(response["status"], expected);
        if expected == 200 {
            assert_eq!(response["body"]["id"], users[index]["id"]);
        }
    }
    let mixed = json!({"requests": [
        {"id": "a", "method": "GET", "url": "/users/nobody@nowhere.example"},
        {"id": "b", "method": "GET", "url": "/groups?$top=1"},
    ]});
    let (_, body) = t.graph_post("/$batch", &mixed).await;
    assert_eq!(body["responses"][0]["status"], 404);
    assert_eq!(body["responses"][1]["status"], 200);

    let too_many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users?$top=1"}))
        .collect();
    let (status, _) = t
        .graph_post("/$batch", &json!({"requests": too_many}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = t.graph_post("/$batch", &json!({"nope": []})).await;
    assert_eq!(status, 400);
}
