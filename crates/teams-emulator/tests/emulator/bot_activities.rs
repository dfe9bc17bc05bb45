use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn installing_through_graph_posts_signed_activities_to_the_bot() {
    let bot = RecordingBot::start().await;
    let mut config = config(40);
    config.behaviour.bot_endpoint = bot.url.clone();
    let t = TestEmulator::with(config).await;
    let user = t
        .find_user(|u| is_plain_member(u) && u["hasApp"] == false)
        .await;
    let (_, catalog) = t
        .graph_get(&format!(
            "/appCatalogs/teamsApps?$filter=externalId eq '{}'",
            t.urls().manifest_id
        ))
        .await;
    let app = catalog["value"][0]["id"].as_str().unwrap();
    let (status, _) = t.graph_post(
        &format!("/users/{}/teamwork/installedApps", user["id"].as_str().unwrap()),
        &json!({"teamsApp@odata.bind": format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{app}")}),
    ).await;
    assert_eq!(status, 201);

    let received = bot.wait_for(2).await;
    let (_, installation) = &received[0];
    let (auth, update) = &received[1];
    assert_eq!(installation["type"], "installationUpdate");
    assert_eq!(installation["action"], "add");
    assert_eq!(update["type"], "conversationUpdate");
    assert_eq!(
        update["membersAdded"][0]["id"],
        format!("28:{}", t.urls().app_id)
    );
    assert_eq!(
        update["conversation"]["id"],
        t.directory().await["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == user["id"])
            .unwrap()["chatId"]
    );
    assert_eq!(update["conversation"]["conversationType"], "personal");
    assert_eq!(
        update["conversation"]["tenantId"],
        t.urls().tenant_id.as_str()
    );
    assert_eq!(update["from"]["aadObjectId"], user["id"]);
    assert_eq!(update["channelId"], "msteams");
    assert_eq!(update["serviceUrl"], t.urls().service_url.as_str());

    // The JWT verifies against the keys the Bot Framework metadata names.
    let token = auth.strip_prefix("Bearer ").expect("a Bearer token");
    let metadata: Value = t
        .http
        .get(&t.urls().bot_openid)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], "https://api.botframework.com");
    let (claims, key) =
        verify_with_jwks(&t.http, metadata["jwks_uri"].as_str().unwrap(), token).await;
    assert_eq!(claims["iss"], "https://api.botframework.com");
    assert_eq!(claims["aud"], t.urls().app_id.as_str());
    assert_eq!(claims["serviceurl"], update["serviceUrl"]);
    assert!(
        key["endorsements"]
            .as_array()
            .unwrap()
            .contains(&json!("msteams"))
    );
    assert_eq!(t.stats().await["bot_activities_sent"], 2);
    bot.handle.stop(false).await;
}

#[tokio::test]
async fn team_installs_and_user_uninstalls_are_announced_too() {
    let bot = RecordingBot::start().await;
    let t = TestEmulator::start(40).await;
    assert_eq!(
        t.configure(json!({"bot_endpoint": bot.url})).await.status(),
        200
    );
    let directory = t.directory().await;
    let team = directory["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["team"]["hasApp"] == false)
        .cloned()
        .unwrap();
    let (_, catalog) = t.graph_get("/appCatalogs/teamsApps").await;
    let app = catalog["value"][0]["id"].as_str().unwrap();
    let (status, _) = t.graph_post(
        &format!("/teams/{}/installedApps", team["id"].as_str().unwrap()),
        &json!({"teamsApp@odata.bind": format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{app}")}),
    ).await;
    assert_eq!(status, 200);
    let received = bot.wait_for(2).await;
    let update = &received[1].1;
    assert_eq!(update["conversation"]["conversationType"], "channel");
    assert_eq!(
        update["channelData"]["team"]["id"],
        team["team"]["threadId"]
    );
    assert_eq!(update["channelData"]["team"]["name"], team["displayName"]);
    assert_eq!(update["channelData"]["eventType"], "teamMemberAdded");

    let user = t
        .find_user(|u| is_plain_member(u) && u["hasApp"] == true)
        .await;
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
    let received = bot.wait_for(4).await;
    assert_eq!(received[2].1["type"], "installationUpdate");
    assert_eq!(received[2].1["action"], "remove");
    assert_eq!(
        received[3].1["membersRemoved"][0]["id"],
        format!("28:{}", t.urls().app_id)
    );
    bot.handle.stop(false).await;
}
