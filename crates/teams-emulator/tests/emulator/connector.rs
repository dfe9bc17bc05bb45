use serde_json::{Value, json};

use crate::support::*;

async fn installed_user(t: &TestEmulator) -> Value {
    t.find_user(|u| is_plain_member(u) && u["hasApp"] == true)
        .await
}

#[tokio::test]
async fn the_connector_needs_a_bot_framework_token() {
    let t = TestEmulator::start(30).await;
    let user = installed_user(&t).await;
    let url = format!(
        "{}v3/conversations/{}/activities",
        t.urls().service_url,
        user["chatId"].as_str().unwrap()
    );
    let missing = t.http.post(&url).json(&message("x")).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let graph_token = t.token(GRAPH_SCOPE).await;
    let wrong = t
        .http
        .post(&url)
        .bearer_auth(graph_token)
        .json(&message("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(t.messages(user["id"].as_str().unwrap()).await.is_empty());
}

#[tokio::test]
async fn send_update_and_delete_show_in_the_chat() {
    let t = TestEmulator::start(30).await;
    let user = installed_user(&t).await;
    let chat = user["chatId"].as_str().unwrap();
    let id = user["id"].as_str().unwrap();

    let sent = t.send_activity(chat, &message("first")).await;
    assert_eq!(sent.status(), 201);
    assert!(sent.headers().contains_key("x-correlating-operationid"));
    let (_, body) = status_and_json(sent).await;
    let first = body["id"].as_str().unwrap().to_owned();
    let (_, body) = status_and_json(t.send_activity(chat, &message("second")).await).await;
    let second = body["id"].as_str().unwrap().to_owned();

    let token = t.token(BOT_SCOPE).await;
    let activity_url = |activity: &str| {
        format!(
            "{}v3/conversations/{chat}/activities/{activity}",
            t.urls().service_url
        )
    };
    let updated = t
        .http
        .put(activity_url(&first))
        .bearer_auth(&token)
        .json(&message("first, edited"))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let deleted = t
        .http
        .delete(activity_url(&second))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let missing = t
        .http
        .put(activity_url("424242"))
        .bearer_auth(&token)
        .json(&message("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let (_, body) = status_and_json(missing).await;
    assert_eq!(body["error"]["code"], "ActivityNotFoundInConversation");

    // Deleting what is deleted already: Teams answers 404.
    let again = t
        .http
        .delete(activity_url(&second))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let (_, body) = status_and_json(again).await;
    assert_eq!(body["error"]["code"], "ActivityNotFoundInConversation");

    // Each message as the person sees it now: its version, or that it
    // was deleted (and nothing of what it said).
    let messages = t.messages(id).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["id"], first.as_str());
    assert_eq!(messages[0]["updated"], true);
    assert_eq!(messages[0]["version"], 2);
    assert_eq!(messages[0]["deleted"], false);
    assert_eq!(messages[0]["activity"]["summary"], "first, edited");
    assert_eq!(messages[1]["id"], second.as_str());
    assert_eq!(messages[1]["deleted"], true);
    assert!(messages[1]["activity"].is_null());

    let stats = t.stats().await;
    assert_eq!(stats["activities_received"], 2);
    assert_eq!(stats["activities_updated"], 1);
    assert_eq!(stats["activities_deleted"], 1);
}

#[tokio::test]
async fn identical_content_twice_counts_as_a_duplicate() {
    let t = TestEmulator::start(30).await;
    let user = installed_user(&t).await;
    let chat = user["chatId"].as_str().unwrap();
    for _ in 0..2 {
        assert_eq!(t.send_activity(chat, &message("same")).await.status(), 201);
    }
    assert_eq!(
        t.send_activity(chat, &message("different")).await.status(),
        201
    );
    assert_eq!(t.stats().await["duplicate_activities"], 1);
}

#[tokio::test]
async fn blocked_users_get_the_documented_403() {
    let mut config = config(200);
    config.directory.blocked_fraction = 0.5;
    config.directory.installed_fraction = 1.0;
    let t = TestEmulator::with(config).await;
    let user = t
        .find_user(|u| u["blockedBot"] == true && u["removed"] == false)
        .await;
    let response = t
        .send_activity(user["chatId"].as_str().unwrap(), &message("x"))
        .await;
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 403);
    assert_eq!(body["errorCode"], 209);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("MessageWritesBlocked")
    );
}

#[tokio::test]
async fn departing_users_get_404_and_leave_the_directory() {
    let mut config = config(200);
    config.directory.departing_fraction = 0.5;
    config.directory.installed_fraction = 1.0;
    config.directory.blocked_fraction = 0.0;
    let t = TestEmulator::with(config).await;
    let user = t
        .find_user(|u| u["departing"] == true && u["removed"] == false)
        .await;
    let chat = user["chatId"].as_str().unwrap();
    let (status, body) = status_and_json(t.send_activity(chat, &message("x")).await).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "ConversationNotFound");
    let (status, _) = t
        .graph_get(&format!("/users/{}", user["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 404, "gone from Graph too");
    assert_eq!(t.send_activity(chat, &message("again")).await.status(), 404);
}

#[tokio::test]
async fn unknown_conversations_bad_bodies_and_oversized_cards() {
    let t = TestEmulator::start(30).await;
    assert_eq!(
        t.send_activity("19:nope@unq.gbl.spaces", &message("x"))
            .await
            .status(),
        404
    );
    let user = installed_user(&t).await;
    let chat = user["chatId"].as_str().unwrap();
    let (status, body) =
        status_and_json(t.send_activity(chat, &json!({"text": "no type"})).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "BadArgument");
    let huge = message(&"x".repeat(110 * 1024));
    let (status, body) = status_and_json(t.send_activity(chat, &huge).await).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "MessageSizeTooBig");
    // Below the limit in bytes but above it in UTF-16 units cannot happen;
    // above in bytes but below in UTF-16 units can: the text appears twice
    // in the message, 80,000 three-byte characters in all.
    let wide = message(&"€".repeat(40_000));
    assert_eq!(t.send_activity(chat, &wide).await.status(), 201);
}

#[tokio::test]
async fn an_uninstalled_app_cannot_write_to_the_chat() {
    let t = TestEmulator::start(30).await;
    let user = installed_user(&t).await;
    let uninstall = t
        .http
        .post(format!(
            "{}/users/{}/uninstall",
            t.urls().control,
            user["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(uninstall.status(), 204);
    let (status, body) = status_and_json(
        t.send_activity(user["chatId"].as_str().unwrap(), &message("x"))
            .await,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "BotNotInConversationRoster");
}

async fn create(t: &TestEmulator, body: &Value) -> (u16, Value) {
    let token = t.token(BOT_SCOPE).await;
    let response = t
        .http
        .post(format!("{}v3/conversations", t.urls().service_url))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    status_and_json(response).await
}

#[tokio::test]
async fn creating_a_personal_conversation() {
    let t = TestEmulator::start(60).await;
    let tenant = t.urls().tenant_id.clone();
    let bot = json!({"id": format!("28:{}", t.urls().app_id), "name": "Herald"});
    let with_app = installed_user(&t).await;
    let request = |member: &str| {
        json!({
            "bot": bot, "members": [{"id": member}],
            "channelData": {"tenant": {"id": tenant}}, "isGroup": false, "tenantId": tenant,
        })
    };
    let (status, body) = create(&t, &request(with_app["teamsId"].as_str().unwrap())).await;
    assert_eq!(status, 201);
    assert_eq!(body["id"], with_app["chatId"]);
    let (status, body) = create(&t, &request(with_app["id"].as_str().unwrap())).await;
    assert_eq!(status, 201, "the Entra object id works too");
    assert_eq!(body["id"], with_app["chatId"]);

    let without = t
        .find_user(|u| is_plain_member(u) && u["hasApp"] == false)
        .await;
    let (status, body) = create(&t, &request(without["teamsId"].as_str().unwrap())).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "ForbiddenOperationException");

    let mut wrong_tenant = request(with_app["teamsId"].as_str().unwrap());
    wrong_tenant["tenantId"] = json!("someone-else");
    wrong_tenant["channelData"]["tenant"]["id"] = json!("someone-else");
    assert_eq!(create(&t, &wrong_tenant).await.0, 400);
}

#[tokio::test]
async fn channel_threads_members_and_team_conversations() {
    let t = TestEmulator::start(80).await;
    let tenant = t.urls().tenant_id.clone();
    let directory = t.directory().await;
    let groups = directory["groups"].as_array().unwrap();
    let installed = groups
        .iter()
        .find(|g| g["team"]["hasApp"] == true)
        .cloned()
        .expect("a team with the app");
    let thread = installed["team"]["threadId"].as_str().unwrap();

    let (status, body) = create(&t, &json!({
        "isGroup": true, "tenantId": tenant,
        "channelData": {"channel": {"id": thread}, "team": {"id": thread}, "tenant": {"id": tenant}},
        "activity": message("to the channel"),
    })).await;
    assert_eq!(status, 201);
    assert!(
        body["id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{thread};messageid="))
    );
    assert!(body["activityId"].is_string());

    let token = t.token(BOT_SCOPE).await;
    let (status, body) = status_and_json(
        t.http
            .get(format!(
                "{}v3/teams/{thread}/conversations",
                t.urls().service_url
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let conversations = body["conversations"].as_array().unwrap();
    assert_eq!(conversations[0]["id"], thread);
    assert_eq!(conversations[0]["name"], Value::Null, "General has no name");
    assert_eq!(
        conversations.len(),
        installed["team"]["channels"].as_array().unwrap().len()
    );

    let expected = installed["memberUserIds"].as_array().unwrap().len();
    let mut seen = 0;
    let mut token_param = String::new();
    loop {
        let url = format!(
            "{}v3/conversations/{thread}/pagedmembers?pageSize=10{token_param}",
            t.urls().service_url
        );
        let (status, body) =
            status_and_json(t.http.get(url).bearer_auth(&token).send().await.unwrap()).await;
        assert_eq!(status, 200);
        let members = body["members"].as_array().unwrap();
        assert!(members.len() <= 50, "page size is clamped to at least 50");
        assert!(
            members
                .iter()
                .all(|m| m["id"].as_str().unwrap().starts_with("29:") && m["objectId"].is_string())
        );
        seen += members.len();
        match body["continuationToken"].as_str() {
            Some(next) => token_param = format!("&continuationToken={next}"),
            None => break,
        }
    }
    assert_eq!(seen, expected);

    let without = groups
        .iter()
        .find(|g| g["team"]["hasApp"] == false)
        .cloned()
        .unwrap();
    let other = without["team"]["threadId"].as_str().unwrap();
    let sent = t.send_activity(other, &message("x")).await;
    assert_eq!(sent.status(), 403);
}
