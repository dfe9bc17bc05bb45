//! The Bot Framework side of identity: the OpenID metadata and keys a bot
//! validates incoming requests with, and the signed activities Teams posts
//! to the bot when the app is installed or removed.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::directory::InstallEvent;
use crate::keys::now_secs;
use crate::state::Emulator;
use crate::wire::now_rfc3339;

/// The issuer of tokens on activities Teams sends to bots.
pub const BOT_ISSUER: &str = "https://api.botframework.com";

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route(
            "/botframework/v1/.well-known/openidconfiguration",
            web::get().to(metadata),
        )
        .route("/botframework/v1/.well-known/keys", web::get().to(keys));
}

async fn metadata(emulator: web::Data<Emulator>) -> HttpResponse {
    let base = &emulator.urls.base;
    HttpResponse::Ok().json(json!({
        "issuer": BOT_ISSUER,
        "authorization_endpoint": "https://invalid.botframework.com",
        "jwks_uri": format!("{base}/botframework/v1/.well-known/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }))
}

async fn keys(emulator: web::Data<Emulator>) -> HttpResponse {
    let endorsements = emulator.behaviour().bot_key_endorsements;
    let endorsements: Vec<&str> = endorsements.iter().map(String::as_str).collect();
    HttpResponse::Ok().json(json!({
        "keys": [emulator.keys.botframework.jwk(Some(&endorsements))]
    }))
}

/// Lifetime of the tokens on requests to a bot.
const CONNECTOR_TOKEN_SECONDS: u64 = 3600;
/// A token is reused until half its lifetime is gone, so a bot never
/// gets one about to expire.
const CONNECTOR_TOKEN_REUSE_SECONDS: u64 = CONNECTOR_TOKEN_SECONDS / 2;

/// The token the Bot Connector puts on requests to a bot: signed once and
/// reused while it is young, like the tokens Teams itself sends.
pub fn connector_token(emulator: &Emulator) -> String {
    let now = now_secs();
    let mut cached = emulator
        .connector_token
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some((signed_at, token)) = cached.as_ref()
        && now.saturating_sub(*signed_at) < CONNECTOR_TOKEN_REUSE_SECONDS
    {
        return token.clone();
    }
    let token = emulator.keys.botframework.sign(&json!({
        "iss": BOT_ISSUER,
        "aud": emulator.app_id(),
        "serviceurl": emulator.urls.service_url,
        "nbf": now,
        "iat": now,
        "exp": now + CONNECTOR_TOKEN_SECONDS,
    }));
    *cached = Some((now, token.clone()));
    token
}

/// Tells the bot about an install (`added`) or uninstall, as Teams does:
/// an `installationUpdate` followed by a `conversationUpdate`.
pub fn announce(emulator: web::Data<Emulator>, event: InstallEvent, added: bool) {
    let endpoint = emulator.behaviour().bot_endpoint;
    if endpoint.is_empty() {
        return;
    }
    let activities = install_activities(&emulator, &event, added);
    tokio::spawn(async move {
        for activity in activities {
            post_to_bot(&emulator, &endpoint, &activity).await;
        }
    });
}

pub async fn post_to_bot(emulator: &Emulator, endpoint: &str, activity: &Value) -> bool {
    post_to_bot_answer(emulator, endpoint, activity)
        .await
        .is_some()
}

/// Posts a signed activity; the bot's answer body when it accepted it.
pub async fn post_to_bot_answer(
    emulator: &Emulator,
    endpoint: &str,
    activity: &Value,
) -> Option<Value> {
    let sent = emulator
        .http
        .post(endpoint)
        .bearer_auth(connector_token(emulator))
        .json(activity)
        .send()
        .await;
    let answer = match sent {
        Ok(response) if response.status().is_success() => {
            let text = response.text().await.unwrap_or_default();
            Some(serde_json::from_str(&text).unwrap_or(Value::Null))
        }
        outcome => {
            tracing::warn!(endpoint, outcome = ?outcome.map(|r| r.status()), "bot endpoint did not accept an activity");
            None
        }
    };
    emulator.stats.update(|s| {
        if answer.is_some() {
            s.bot_activities_sent += 1;
        } else {
            s.bot_activities_failed += 1;
        }
    });
    answer
}

fn install_activities(emulator: &Emulator, event: &InstallEvent, added: bool) -> Vec<Value> {
    let world = emulator.world();
    let directory = &world.directory;
    let tenant = emulator.tenant_id();
    let bot = json!({"id": format!("28:{}", emulator.app_id()), "name": "Herald"});
    let (from, conversation, channel_data) = match event {
        InstallEvent::User { user, chat_id } => {
            let user = directory.user(*user);
            (
                json!({"id": user.teams_id, "aadObjectId": user.id, "name": user.display_name}),
                json!({"id": chat_id, "conversationType": "personal", "tenantId": tenant}),
                json!({"tenant": {"id": tenant}}),
            )
        }
        InstallEvent::Team { group } => {
            let group = &directory.groups[*group];
            let thread = group
                .team
                .as_ref()
                .map(|t| t.thread_id.clone())
                .unwrap_or_default();
            let owner = group
                .team
                .as_ref()
                .and_then(|t| t.owners.first())
                .map(|&o| directory.user(o));
            (
                owner.map_or(
                    Value::Null,
                    |o| json!({"id": o.teams_id, "aadObjectId": o.id, "name": o.display_name}),
                ),
                json!({"id": thread, "isGroup": true, "conversationType": "channel", "tenantId": tenant}),
                json!({
                    "tenant": {"id": tenant},
                    "team": {"id": thread, "name": group.display_name, "aadGroupId": group.id},
                    "channel": {"id": thread},
                }),
            )
        }
    };
    let common = |kind: &str| {
        json!({
            "type": kind,
            "id": uuid::Uuid::new_v4().to_string(),
            "timestamp": now_rfc3339(),
            "channelId": "msteams",
            "serviceUrl": emulator.urls.service_url,
            "from": from,
            "recipient": bot,
            "conversation": conversation,
            "channelData": channel_data,
            "entities": [{"type": "clientInfo", "locale": "en-US"}],
            "locale": "en-US",
        })
    };
    let mut installation = common("installationUpdate");
    installation["action"] = json!(if added { "add" } else { "remove" });
    let mut membership = common("conversationUpdate");
    let members_key = if added {
        "membersAdded"
    } else {
        "membersRemoved"
    };
    membership[members_key] = json!([{"id": format!("28:{}", emulator.app_id())}]);
    if matches!(event, InstallEvent::Team { .. }) {
        membership["channelData"]["eventType"] = json!(if added {
            "teamMemberAdded"
        } else {
            "teamMemberRemoved"
        });
    }
    vec![installation, membership]
}

/// A 1:1 activity from a user to the bot, as Teams posts it: a `message`
/// with `text`, or what `extra` makes of it (an invoke, a reaction).
pub fn user_activity(emulator: &Emulator, user: usize, extra: Value) -> Value {
    let mut activity = user_message(emulator, user, "");
    if let (Some(activity), Value::Object(extra)) = (activity.as_object_mut(), extra) {
        activity.remove("text");
        activity.remove("textFormat");
        activity.extend(extra);
    }
    activity
}

/// An activity from a member of a team in one of its channels, about the
/// channel post `root` (a press on its card, a reaction): Teams addresses
/// it to the post's thread, `{channel};messageid={root}`.
pub fn channel_activity(
    emulator: &Emulator,
    user: usize,
    (group, channel): (usize, &str),
    root: &str,
    extra: Value,
) -> Value {
    let mut activity = user_activity(emulator, user, extra);
    let world = emulator.world();
    let group = &world.directory.groups[group];
    let thread = group.team.as_ref().map(|t| t.thread_id.as_str());
    let tenant = emulator.tenant_id();
    activity["conversation"] = json!({
        "id": format!("{channel};messageid={root}"),
        "isGroup": true, "conversationType": "channel", "tenantId": tenant,
    });
    activity["channelData"] = json!({
        "tenant": {"id": tenant},
        "team": {"id": thread, "name": group.display_name, "aadGroupId": group.id},
        "channel": {"id": channel},
    });
    activity
}

/// A 1:1 `message` from a user to the bot, as Teams posts it.
pub fn user_message(emulator: &Emulator, user: usize, text: &str) -> Value {
    let world = emulator.world();
    let directory = &world.directory;
    let record = directory.user(user);
    let tenant = emulator.tenant_id();
    json!({
        "type": "message",
        "id": uuid::Uuid::new_v4().to_string(),
        "timestamp": now_rfc3339(),
        "channelId": "msteams",
        "serviceUrl": emulator.urls.service_url,
        "from": {"id": record.teams_id, "aadObjectId": record.id, "name": record.display_name},
        "recipient": {"id": format!("28:{}", emulator.app_id()), "name": "Herald"},
        "conversation": {"id": directory.chat_id_for(record), "conversationType": "personal", "tenantId": tenant},
        "channelData": {"tenant": {"id": tenant}},
        "text": text,
        "textFormat": "plain",
        "locale": "en-US",
    })
}
