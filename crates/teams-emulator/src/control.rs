//! `/_emulator/`: inspection and control for tests, demos and benchmarks.
//! Nothing here exists at Microsoft; Herald itself never calls it.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::botframework;
use crate::directory::{Directory, MemberRef, UserType};
use crate::reads;
use crate::state::{BehaviourPatch, Emulator, World};

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/_emulator")
            .route("/stats", web::get().to(stats))
            .route("/stats/reset", web::post().to(reset_stats))
            .route("/config", web::get().to(get_config))
            .route("/config", web::post().to(set_config))
            .route("/entra/rotate-keys", web::post().to(rotate_entra_keys))
            .route("/directory", web::get().to(directory))
            .route("/directory/users", web::post().to(add_user))
            .route("/directory/users/{id}", web::patch().to(change_user))
            .route("/directory/users/{id}", web::delete().to(remove_user))
            .route("/users/{id}/messages", web::get().to(messages))
            .route("/channels/{id}/messages", web::get().to(channel_messages))
            .route("/teams/{id}/channels", web::post().to(add_channel))
            .route("/users/{id}/install", web::post().to(user_installs))
            .route("/users/{id}/say", web::post().to(user_says))
            .route("/users/{id}/press", web::post().to(user_presses))
            .route("/users/{id}/react", web::post().to(user_reacts))
            .route("/users/{id}/read", web::post().to(user_reads))
            .route("/users/{id}/uninstall", web::post().to(user_uninstalls)),
    );
}

fn problem(status: u16, message: impl Into<String>) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(json!({"error": message.into()}))
}

async fn stats(emulator: web::Data<Emulator>) -> HttpResponse {
    HttpResponse::Ok().json(emulator.stats.snapshot())
}

async fn reset_stats(emulator: web::Data<Emulator>) -> HttpResponse {
    emulator.stats.reset();
    HttpResponse::NoContent().finish()
}

async fn get_config(emulator: web::Data<Emulator>) -> HttpResponse {
    HttpResponse::Ok().json(emulator.behaviour())
}

async fn set_config(emulator: web::Data<Emulator>, body: web::Bytes) -> HttpResponse {
    let patch: BehaviourPatch = match serde_json::from_slice(&body) {
        Ok(patch) => patch,
        Err(e) => return problem(400, format!("invalid config change: {e}")),
    };
    let mut behaviour = emulator
        .behaviour
        .write()
        .unwrap_or_else(|p| p.into_inner());
    match patch.apply(&behaviour) {
        Ok(next) => {
            *behaviour = next.clone();
            HttpResponse::Ok().json(next)
        }
        Err(message) => problem(400, message),
    }
}

/// Entra ID rolls its signing keys: new tokens name a key id that clients
/// have not seen, which they must fetch without restarting.
async fn rotate_entra_keys(emulator: web::Data<Emulator>) -> HttpResponse {
    let kid = emulator.keys.rotate_entra();
    HttpResponse::Ok().json(json!({"kid": kid}))
}

async fn directory(emulator: web::Data<Emulator>) -> HttpResponse {
    let world = emulator.world();
    HttpResponse::Ok().json(directory_json(&emulator, &world.directory))
}

fn directory_json(emulator: &Emulator, directory: &Directory) -> Value {
    let users: Vec<Value> = directory
        .users
        .iter()
        .map(|u| {
            json!({
                "id": u.id,
                "displayName": u.display_name,
                "userPrincipalName": u.user_principal_name,
                "userType": if u.user_type == UserType::Guest { "Guest" } else { "Member" },
                "accountEnabled": u.account_enabled,
                "teamsId": u.teams_id,
                "hasApp": u.installation.is_some(),
                "chatId": u.installation.as_ref().map(|i| &i.chat_id),
                "blockedBot": u.blocked_bot,
                "departing": u.departing,
                "removed": u.removed,
                "staffRoles": u.staff_roles,
            })
        })
        .collect();
    let groups: Vec<Value> = directory
        .groups
        .iter()
        .map(|g| {
            let member_ids = |want_users: bool| -> Vec<String> {
                g.members
                    .iter()
                    .filter_map(|m| match (m, want_users) {
                        (MemberRef::User(u), true) => Some(directory.user(*u).id.to_string()),
                        (MemberRef::Group(x), false) => Some(directory.groups[*x].id.to_string()),
                        _ => None,
                    })
                    .collect()
            };
            json!({
                "id": g.id,
                "displayName": g.display_name,
                "groupTypes": g.group_types,
                "mailEnabled": g.mail_enabled,
                "securityEnabled": g.security_enabled,
                "memberUserIds": member_ids(true),
                "memberGroupIds": member_ids(false),
                "team": g.team.as_ref().map(|t| json!({
                    "threadId": t.thread_id,
                    "hasApp": t.installation.is_some(),
                    "owners": t.owners.iter().map(|&o| directory.user(o).id).collect::<Vec<_>>(),
                    "channels": t.channels.iter().map(|c| json!({"id": c.id, "displayName": c.display_name, "membershipType": c.membership.as_graph()})).collect::<Vec<_>>(),
                })),
            })
        })
        .collect();
    json!({
        "tenantId": directory.tenant_id,
        "domain": directory.domain,
        "appId": directory.app_id,
        "teamsAppId": directory.teams_app_id,
        "manifestId": emulator.urls.manifest_id,
        "serviceUrl": emulator.urls.service_url,
        "version": directory.version,
        "users": users,
        "groups": groups,
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UserChange {
    display_name: Option<String>,
    account_enabled: Option<bool>,
}

async fn add_user(emulator: web::Data<Emulator>, body: web::Bytes) -> HttpResponse {
    let change: UserChange = if body.is_empty() {
        UserChange::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(change) => change,
            Err(e) => return problem(400, format!("invalid user: {e}")),
        }
    };
    let mut world = emulator.world();
    let user = world.directory.add_user(change.display_name);
    if let Some(enabled) = change.account_enabled {
        world.directory.set_account_enabled(user, enabled);
    }
    let record = world.directory.user(user);
    HttpResponse::Created().json(json!({
        "id": record.id,
        "userPrincipalName": record.user_principal_name,
        "displayName": record.display_name,
    }))
}

async fn change_user(
    emulator: web::Data<Emulator>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let change: UserChange = match serde_json::from_slice(&body) {
        Ok(change) => change,
        Err(e) => return problem(400, format!("invalid user change: {e}")),
    };
    let mut world = emulator.world();
    let Some(user) = world.directory.find_user(&id) else {
        return problem(404, format!("no user {id}"));
    };
    if let Some(name) = change.display_name {
        world.directory.rename_user(user, name);
    }
    if let Some(enabled) = change.account_enabled {
        world.directory.set_account_enabled(user, enabled);
    }
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewChannel {
    display_name: String,
}

/// A new standard channel in a team (teams are seeded with two to four).
async fn add_channel(
    emulator: web::Data<Emulator>,
    team: web::Path<String>,
    body: web::Json<NewChannel>,
) -> HttpResponse {
    let mut world = emulator.world();
    let Some(group) = world.directory.find_team(&team) else {
        return problem(404, format!("no team {team}"));
    };
    match world
        .directory
        .add_channel(group, body.into_inner().display_name)
    {
        Some(id) => HttpResponse::Created().json(json!({ "id": id })),
        None => problem(404, format!("no team {team}")),
    }
}

async fn remove_user(emulator: web::Data<Emulator>, id: web::Path<String>) -> HttpResponse {
    let mut world = emulator.world();
    match world.directory.find_user(&id) {
        Some(user) => {
            world.directory.remove_user(user);
            HttpResponse::NoContent().finish()
        }
        None => problem(404, format!("no user {id}")),
    }
}

async fn messages(emulator: web::Data<Emulator>, id: web::Path<String>) -> HttpResponse {
    let world = emulator.world();
    let Some(user) =
        world.directory.users.iter().position(|u| {
            u.id.to_string() == *id || u.user_principal_name.eq_ignore_ascii_case(&id)
        })
    else {
        return problem(404, format!("no user {id}"));
    };
    let chat_id = world.directory.chat_id_for(world.directory.user(user));
    let messages = conversation_messages(&world, &chat_id);
    HttpResponse::Ok().json(json!({"userId": world.directory.user(user).id, "conversationId": chat_id, "messages": messages}))
}

/// The posts in a team channel, as its members see them.
async fn channel_messages(emulator: web::Data<Emulator>, id: web::Path<String>) -> HttpResponse {
    let world = emulator.world();
    if team_of_channel(&world.directory, &id).is_none() {
        return problem(404, format!("no channel {id}"));
    }
    let messages = conversation_messages(&world, &id);
    HttpResponse::Ok().json(json!({"conversationId": *id, "messages": messages}))
}

fn conversation_messages(world: &World, conversation: &str) -> Vec<Value> {
    world
        .conversations
        .get(conversation)
        .map(|c| {
            // As Teams shows them: a deleted message stays in the chat as
            // "This message has been deleted", with nothing of what it said.
            c.activities
                .iter()
                .map(|a| {
                    let activity = if a.deleted {
                        Value::Null
                    } else {
                        serde_json::from_slice::<Value>(&a.body).unwrap_or(Value::Null)
                    };
                    json!({
                        "id": a.id,
                        "updated": a.updated,
                        "version": a.version,
                        "deleted": a.deleted,
                        "activity": activity,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The team (group index) a channel belongs to.
fn team_of_channel(directory: &Directory, channel: &str) -> Option<usize> {
    directory.groups.iter().position(|g| {
        g.team
            .as_ref()
            .is_some_and(|t| t.channels.iter().any(|c| c.id == channel))
    })
}

/// The user adds the app themselves (from the Teams store), so Teams tells
/// the bot; no Graph call is involved.
async fn user_installs(emulator: web::Data<Emulator>, id: web::Path<String>) -> HttpResponse {
    toggle_install(emulator, &id, true)
}

async fn user_uninstalls(emulator: web::Data<Emulator>, id: web::Path<String>) -> HttpResponse {
    toggle_install(emulator, &id, false)
}

fn toggle_install(emulator: web::Data<Emulator>, id: &str, install: bool) -> HttpResponse {
    let event = {
        let mut world = emulator.world();
        let Some(user) = world.directory.find_user(id) else {
            return problem(404, format!("no user {id}"));
        };
        let outcome = if install {
            world.directory.install_for_user(user)
        } else {
            world.directory.uninstall_for_user(user)
        };
        match outcome {
            Ok(event) => event,
            Err(_) => {
                return problem(
                    409,
                    if install {
                        "already installed"
                    } else {
                        "not installed"
                    },
                );
            }
        }
    };
    emulator.stats.update(|s| {
        if install {
            s.installs += 1
        } else {
            s.uninstalls += 1
        }
    });
    botframework::announce(emulator, event, install);
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Say {
    text: String,
}

/// The user writes to the bot in their 1:1 chat; answers with the status
/// the bot endpoint gave.
async fn user_says(
    emulator: web::Data<Emulator>,
    id: web::Path<String>,
    body: web::Json<Say>,
) -> HttpResponse {
    let endpoint = emulator.behaviour().bot_endpoint;
    if endpoint.is_empty() {
        return problem(409, "no bot_endpoint is configured");
    }
    let user = emulator.world().directory.find_user(&id);
    let Some(user) = user else {
        return problem(404, format!("no user {id}"));
    };
    let activity = botframework::user_message(&emulator, user, &body.text);
    let delivered = botframework::post_to_bot(&emulator, &endpoint, &activity).await;
    HttpResponse::Ok().json(json!({"delivered": delivered}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Press {
    /// The activity id of the card whose button is pressed.
    activity_id: String,
    verb: String,
    #[serde(default)]
    data: Value,
    /// The team channel the card was posted in; none for the user's 1:1 chat.
    #[serde(default)]
    channel_id: Option<String>,
}

/// The user presses an `Action.Execute` button on a card: Teams sends the
/// bot an `adaptiveCard/action` invoke. Answers with the bot's answer.
async fn user_presses(
    emulator: web::Data<Emulator>,
    id: web::Path<String>,
    body: web::Json<Press>,
) -> HttpResponse {
    let extra = json!({
        "type": "invoke",
        "name": "adaptiveCard/action",
        "replyToId": body.activity_id,
        "value": {"action": {"type": "Action.Execute", "verb": body.verb, "data": body.data}, "trigger": "manual"},
    });
    match &body.channel_id {
        None => to_bot(emulator, &id, extra).await,
        Some(channel) => {
            to_bot_from_channel(emulator, &id, channel, &body.activity_id, extra).await
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct React {
    activity_id: String,
    reaction: String,
    #[serde(default)]
    removed: bool,
}

/// The user reacts to a message (like, heart...): a `messageReaction`.
async fn user_reacts(
    emulator: web::Data<Emulator>,
    id: web::Path<String>,
    body: web::Json<React>,
) -> HttpResponse {
    let reactions = json!([{"type": body.reaction}]);
    let key = if body.removed {
        "reactionsRemoved"
    } else {
        "reactionsAdded"
    };
    let mut extra = json!({"type": "messageReaction", "replyToId": body.activity_id});
    extra[key] = reactions;
    to_bot(emulator, &id, extra).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReadTo {
    /// The newest activity id read; the newest in the chat when absent.
    up_to: Option<String>,
}

/// The user reads their 1:1 chat with the bot: Teams sends the bot a read
/// receipt naming the newest message read.
async fn user_reads(
    emulator: web::Data<Emulator>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let up_to = match read_limit(&body) {
        Ok(up_to) => up_to,
        Err(message) => return problem(400, message),
    };
    let endpoint = emulator.behaviour().bot_endpoint;
    if endpoint.is_empty() {
        return problem(409, "no bot_endpoint is configured");
    }
    let read = {
        let mut world = emulator.world();
        let Some(user) = world.directory.find_user(&id) else {
            return problem(404, format!("no user {id}"));
        };
        reads::read_chat(&mut world, user, up_to).map(|read| (user, read.last))
    };
    let (user, last) = match read {
        Ok(read) => read,
        Err(message) => return problem(409, message),
    };
    let delivered = reads::send_receipt(&emulator, &endpoint, user, last).await;
    HttpResponse::Ok().json(json!({"delivered": delivered, "lastReadMessageId": last.to_string()}))
}

/// The optional `upTo` of a read; an empty body reads everything.
fn read_limit(body: &[u8]) -> Result<Option<u64>, String> {
    if body.is_empty() {
        return Ok(None);
    }
    let read: ReadTo = serde_json::from_slice(body).map_err(|e| format!("invalid read: {e}"))?;
    read.up_to
        .map(|up_to| {
            up_to
                .parse::<u64>()
                .map_err(|_| format!("upTo must be an activity id (an integer), got {up_to:?}"))
        })
        .transpose()
}

async fn to_bot(emulator: web::Data<Emulator>, id: &str, extra: Value) -> HttpResponse {
    let endpoint = emulator.behaviour().bot_endpoint;
    if endpoint.is_empty() {
        return problem(409, "no bot_endpoint is configured");
    }
    let user = emulator.world().directory.find_user(id);
    let Some(user) = user else {
        return problem(404, format!("no user {id}"));
    };
    let activity = botframework::user_activity(&emulator, user, extra);
    let answer = botframework::post_to_bot_answer(&emulator, &endpoint, &activity).await;
    HttpResponse::Ok().json(json!({"delivered": answer.is_some(), "answer": answer}))
}

/// Posts what a team member does in a channel. Only members see a
/// channel's posts, so only members can act on them.
async fn to_bot_from_channel(
    emulator: web::Data<Emulator>,
    id: &str,
    channel: &str,
    root: &str,
    extra: Value,
) -> HttpResponse {
    let endpoint = emulator.behaviour().bot_endpoint;
    if endpoint.is_empty() {
        return problem(409, "no bot_endpoint is configured");
    }
    let found = {
        let world = emulator.world();
        let directory = &world.directory;
        let user = directory.find_user(id);
        let group = team_of_channel(directory, channel);
        match (user, group) {
            (None, _) => Err(problem(404, format!("no user {id}"))),
            (_, None) => Err(problem(404, format!("no channel {channel}"))),
            (Some(user), Some(group)) => {
                if directory.groups[group]
                    .members
                    .contains(&MemberRef::User(user))
                {
                    Ok((user, group))
                } else {
                    Err(problem(
                        403,
                        format!("user {id} is not a member of the team of {channel}"),
                    ))
                }
            }
        }
    };
    let (user, group) = match found {
        Ok(found) => found,
        Err(response) => return response,
    };
    let activity = botframework::channel_activity(&emulator, user, (group, channel), root, extra);
    let answer = botframework::post_to_bot_answer(&emulator, &endpoint, &activity).await;
    HttpResponse::Ok().json(json!({"delivered": answer.is_some(), "answer": answer}))
}
