//! The Bot Connector REST API v3 under `/teams/` (teams-platform.md §2),
//! with Teams' per-conversation and per-tenant rate limits (§3).

use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use crate::directory::{Directory, MemberRef, UserType};
use crate::entra::BOT_AUDIENCE;
use crate::limits::{THREAD_READ, THREAD_SEND, Windows};
use crate::reads;
use crate::state::{Conversation, ConversationKind, Emulator, StoredActivity, World, content_hash};
use crate::wire::{Reply, header};

/// teams-platform.md §6: about 100 KB of UTF-16.
const MAX_MESSAGE_UNITS: usize = 100 * 1024;

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(
        web::scope("/teams/v3")
            .route("/conversations", web::post().to(create_conversation))
            .route(
                "/conversations/{conversation}/activities",
                web::post().to(send),
            )
            .route(
                "/conversations/{conversation}/activities/{activity}",
                web::post().to(reply_to),
            )
            .route(
                "/conversations/{conversation}/activities/{activity}",
                web::put().to(update),
            )
            .route(
                "/conversations/{conversation}/activities/{activity}",
                web::delete().to(delete),
            )
            .route(
                "/conversations/{conversation}/pagedmembers",
                web::get().to(paged_members),
            )
            .route(
                "/teams/{team}/conversations",
                web::get().to(team_conversations),
            ),
    );
}

fn authorize(emulator: &Emulator, request: &HttpRequest) -> Result<(), Reply> {
    emulator
        .keys
        .check_bearer(header(request, "Authorization"), BOT_AUDIENCE)
        .map(|_| ())
        .map_err(|_| {
            Reply::json(
                401,
                json!({"message": "Authorization has been denied for this request."}),
            )
        })
}

/// Authentication, then the service's answer after the configured latency
/// and maybe an injected fault. Limits are taken on arrival, before the
/// latency, as a service that throttles at its front door does.
async fn answer(emulator: &Emulator, request: &HttpRequest, work: impl FnOnce() -> Reply) -> Reply {
    if let Err(reply) = authorize(emulator, request) {
        return reply;
    }
    let reply = work();
    if reply.status == 429 {
        return reply;
    }
    match emulator.simulate_network().await {
        Ok(()) => reply,
        Err(fault) => Reply::connector_fault(fault),
    }
}

fn finish(emulator: &Emulator, endpoint: &str, reply: Reply) -> HttpResponse {
    reply
        .with_header(
            "X-Correlating-OperationId",
            uuid::Uuid::new_v4().simple().to_string(),
        )
        .respond(emulator, endpoint)
}

/// The per-app-per-tenant ceiling, then the conversation's own windows.
fn take_rate(
    emulator: &Emulator,
    world: &mut World,
    conversation: &str,
    windows: &Windows,
    log: fn(&mut Conversation) -> &mut crate::limits::SlidingLog,
) -> Result<(), Reply> {
    let behaviour = emulator.behaviour();
    let now = Instant::now();
    let arrived = world.arrivals.arrive(now);
    emulator.stats.update(|s| {
        s.connector_peak_per_second = s.connector_peak_per_second.max(arrived);
    });
    if behaviour.global_rps > 0 {
        world
            .global
            .try_take(&[(Duration::from_secs(1), behaviour.global_rps)], now)
            .map_err(Reply::connector_throttled)?;
    }
    if behaviour.thread_limits
        && let Some(conversation) = world.conversations.get_mut(conversation)
    {
        log(conversation)
            .try_take(windows, now)
            .map_err(Reply::connector_throttled)?;
    }
    Ok(())
}

fn not_found() -> Reply {
    Reply::connector_error(404, "ConversationNotFound", "Conversation not found.")
}

/// Finds or opens the conversation behind an id: a user's 1:1 chat with the
/// bot, a channel, or a thread in a channel.
fn open_conversation(world: &mut World, id: &str) -> Result<(), Reply> {
    if world.conversations.contains_key(id) {
        return Ok(());
    }
    let kind = conversation_kind(&world.directory, id).ok_or_else(not_found)?;
    world
        .conversations
        .insert(id.to_owned(), Conversation::new(kind));
    Ok(())
}

fn conversation_kind(directory: &Directory, id: &str) -> Option<ConversationKind> {
    if let Some(user) = directory.user_by_chat(id) {
        return Some(ConversationKind::Personal { user });
    }
    let channel_id = id.split(";messageid=").next().unwrap_or(id);
    directory.groups.iter().enumerate().find_map(|(group, g)| {
        let team = g.team.as_ref()?;
        team.channels
            .iter()
            .any(|c| c.id == channel_id)
            .then_some(ConversationKind::Channel { group })
    })
}

/// Whether the bot may write to the conversation now; departing users leave
/// the company on first contact.
fn check_writable(world: &mut World, id: &str) -> Result<(), Reply> {
    let Some(conversation) = world.conversations.get(id) else {
        return Err(not_found());
    };
    match conversation.kind {
        ConversationKind::Personal { user } => {
            let record = world.directory.user(user);
            if record.removed {
                return Err(not_found());
            }
            if record.departing {
                world.directory.remove_user(user);
                return Err(not_found());
            }
            if record.installation.is_none() {
                return Err(Reply::connector_error(
                    403,
                    "BotNotInConversationRoster",
                    "The bot is not part of the conversation roster.",
                ));
            }
            if record.blocked_bot {
                return Err(Reply::json(
                    403,
                    json!({
                        "errorCode": 209,
                        "message": "{\"subCode\":\"MessageWritesBlocked\",\"details\":\"Thread is blocked from message writes.\",\"errorCode\":null,\"errorSubCode\":null}",
                    }),
                ));
            }
        }
        ConversationKind::Channel { group, .. } => {
            let installed = world.directory.groups[group]
                .team
                .as_ref()
                .is_some_and(|t| t.installation.is_some());
            if !installed {
                return Err(Reply::connector_error(
                    403,
                    "BotNotInConversationRoster",
                    "The bot is not part of the conversation roster.",
                ));
            }
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct ActivityHead {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[allow(dead_code)]
    #[serde(default)]
    attachments: Option<IgnoredAny>,
}

/// Checks an activity body; `Ok` keeps it as posted.
fn check_activity(body: &[u8]) -> Result<(), Reply> {
    let head: ActivityHead = serde_json::from_slice(body).map_err(|e| {
        Reply::connector_error(
            400,
            "BadArgument",
            format!("The activity is not valid JSON: {e}"),
        )
    })?;
    if head.kind.as_deref().is_none_or(str::is_empty) {
        return Err(Reply::connector_error(
            400,
            "BadArgument",
            "Activity must have a type.",
        ));
    }
    // UTF-16 never needs more units than UTF-8 needs bytes, so only large
    // bodies are counted exactly.
    if body.len() > MAX_MESSAGE_UNITS
        && String::from_utf8_lossy(body).encode_utf16().count() > MAX_MESSAGE_UNITS
    {
        return Err(Reply::connector_error(
            413,
            "MessageSizeTooBig",
            "Message size too big.",
        ));
    }
    Ok(())
}

/// Stores a new activity in an open conversation and returns its id.
fn store_activity(emulator: &Emulator, world: &mut World, id: &str, body: Bytes) -> String {
    let hash = content_hash(&body);
    let body = world.intern(hash, body);
    let activity_id = world.new_activity_id();
    let mut duplicate = false;
    if let Some(conversation) = world.conversations.get_mut(id) {
        duplicate = !conversation.content_hashes.insert(hash);
        conversation.activities.push(StoredActivity {
            id: activity_id.clone(),
            body,
            updated: false,
            version: 1,
            deleted: false,
        });
    }
    emulator.stats.update(|s| {
        s.activities_received += 1;
        if duplicate {
            s.duplicate_activities += 1;
        }
    });
    activity_id
}

async fn send(
    emulator: web::Data<Emulator>,
    request: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> HttpResponse {
    let reply = post_activity(&emulator, &request, &path, body).await;
    finish(
        &emulator,
        "POST /teams/v3/conversations/{id}/activities",
        reply,
    )
}

async fn reply_to(
    emulator: web::Data<Emulator>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    body: Bytes,
) -> HttpResponse {
    let reply = post_activity(&emulator, &request, &path.0, body).await;
    finish(
        &emulator,
        "POST /teams/v3/conversations/{id}/activities/{id}",
        reply,
    )
}

async fn post_activity(
    emulator: &web::Data<Emulator>,
    request: &HttpRequest,
    id: &str,
    body: Bytes,
) -> Reply {
    if let Err(reply) = authorize(emulator, request) {
        return reply;
    }
    if let Err(reply) = check_activity(&body) {
        return reply;
    }
    if let Err(reply) = arrive(emulator, id) {
        return reply;
    }
    if let Err(fault) = emulator.simulate_network().await {
        return Reply::connector_fault(fault);
    }
    let mut world = emulator.world();
    match check_writable(&mut world, id) {
        Ok(()) => {
            let activity_id = store_activity(emulator, &mut world, id, body);
            if let Some(reader) = reads::reader_of(&world, id) {
                reads::schedule(emulator, reader);
            }
            Reply::json(201, json!({"id": activity_id}))
        }
        Err(reply) => reply,
    }
}

/// A write arrives at a conversation: it must exist, and the write counts
/// against the tenant's and the conversation's limits.
fn arrive(emulator: &Emulator, id: &str) -> Result<(), Reply> {
    let mut world = emulator.world();
    open_conversation(&mut world, id)?;
    take_rate(emulator, &mut world, id, THREAD_SEND, |c| &mut c.sends)
}

async fn update(
    emulator: web::Data<Emulator>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    body: Bytes,
) -> HttpResponse {
    let reply = change_activity(&emulator, &request, &path, Some(body)).await;
    finish(
        &emulator,
        "PUT /teams/v3/conversations/{id}/activities/{id}",
        reply,
    )
}

async fn delete(
    emulator: web::Data<Emulator>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let reply = change_activity(&emulator, &request, &path, None).await;
    finish(
        &emulator,
        "DELETE /teams/v3/conversations/{id}/activities/{id}",
        reply,
    )
}

/// Replaces (`Some(body)`) or deletes (`None`) a posted activity.
async fn change_activity(
    emulator: &Emulator,
    request: &HttpRequest,
    (id, activity_id): &(String, String),
    body: Option<Bytes>,
) -> Reply {
    if let Err(reply) = authorize(emulator, request) {
        return reply;
    }
    if let Some(body) = &body
        && let Err(reply) = check_activity(body)
    {
        return reply;
    }
    if let Err(reply) = arrive(emulator, id) {
        return reply;
    }
    if let Err(fault) = emulator.simulate_network().await {
        return Reply::connector_fault(fault);
    }
    let mut world = emulator.world();
    if let Err(reply) = check_writable(&mut world, id) {
        return reply;
    }
    let body = body.map(|b| {
        let hash = content_hash(&b);
        world.intern(hash, b)
    });
    let home = activity_home(&world, id, activity_id);
    let Some(stored) = world.conversations.get_mut(home).and_then(|c| {
        c.activities
            .iter_mut()
            .find(|a| a.id == *activity_id && !a.deleted)
    }) else {
        return Reply::connector_error(
            404,
            "ActivityNotFoundInConversation",
            "The activity was not found in the conversation.",
        );
    };
    let deleted = body.is_none();
    match body {
        Some(body) => {
            stored.body = body;
            stored.updated = true;
            stored.version += 1;
        }
        None => stored.deleted = true,
    }
    emulator.stats.update(|s| {
        if deleted {
            s.activities_deleted += 1;
        } else {
            s.activities_updated += 1;
        }
    });
    if deleted {
        Reply::empty(200)
    } else {
        Reply::json(200, json!({"id": activity_id}))
    }
}

/// The conversation that holds an activity. A channel post is addressed
/// either in the channel or in its own thread
/// (`{channel};messageid={root}`, the id its replies and invokes carry),
/// and Teams updates the same post either way.
fn activity_home<'a>(world: &World, id: &'a str, activity_id: &str) -> &'a str {
    let holds = |key: &str| {
        world
            .conversations
            .get(key)
            .is_some_and(|c| c.activities.iter().any(|a| a.id == activity_id))
    };
    match id.split_once(";messageid=") {
        Some((channel, _)) if !holds(id) && holds(channel) => channel,
        _ => id,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateConversation {
    #[serde(default)]
    is_group: bool,
    #[serde(default)]
    members: Vec<Member>,
    #[serde(default)]
    channel_data: Option<Value>,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    activity: Option<Value>,
}

#[derive(Deserialize)]
struct Member {
    id: String,
}

async fn create_conversation(
    emulator: web::Data<Emulator>,
    request: HttpRequest,
    body: Bytes,
) -> HttpResponse {
    let reply = answer(&emulator, &request, || {
        match serde_json::from_slice::<CreateConversation>(&body) {
            Ok(create) => open_for(&emulator, create),
            Err(e) => Reply::connector_error(
                400,
                "BadArgument",
                format!("Invalid conversation parameters: {e}"),
            ),
        }
    })
    .await;
    finish(&emulator, "POST /teams/v3/conversations", reply)
}

fn open_for(emulator: &web::Data<Emulator>, create: CreateConversation) -> Reply {
    let tenant = create.tenant_id.clone().or_else(|| {
        create.channel_data.as_ref()?["tenant"]["id"]
            .as_str()
            .map(str::to_owned)
    });
    if tenant.as_deref() != Some(emulator.tenant_id()) {
        return Reply::connector_error(
            400,
            "BadArgument",
            "Invalid or missing tenant id: set tenantId and channelData.tenant.id.",
        );
    }
    let mut world = emulator.world();
    if create.is_group {
        return open_channel_thread(emulator, &mut world, &create);
    }
    let [member] = create.members.as_slice() else {
        return Reply::connector_error(
            400,
            "BadArgument",
            "A 1:1 conversation needs exactly one member.",
        );
    };
    let Some(user) = world.directory.find_member(&member.id) else {
        return Reply::connector_error(
            400,
            "BadArgument",
            "Invalid user identity in provided tenant.",
        );
    };
    let Some(chat_id) = world
        .directory
        .user(user)
        .installation
        .as_ref()
        .map(|i| i.chat_id.clone())
    else {
        return Reply::connector_error(
            403,
            "ForbiddenOperationException",
            "Bot is not installed in user's personal scope",
        );
    };
    if let Err(reply) = open_conversation(&mut world, &chat_id).and_then(|()| {
        take_rate(emulator, &mut world, &chat_id, THREAD_SEND, |c| {
            &mut c.creates
        })
    }) {
        return reply;
    }
    emulator.stats.update(|s| s.conversations_created += 1);
    let mut body = json!({"id": chat_id});
    if let Some(activity) = create.activity {
        if let Err(reply) = check_writable(&mut world, &chat_id) {
            return reply;
        }
        let activity_id = store_activity(
            emulator,
            &mut world,
            &chat_id,
            Bytes::from(activity.to_string()),
        );
        body["activityId"] = json!(activity_id);
        if let Some(reader) = reads::reader_of(&world, &chat_id) {
            reads::schedule(emulator, reader);
        }
    }
    Reply::json(201, body)
}

fn open_channel_thread(
    emulator: &Emulator,
    world: &mut World,
    create: &CreateConversation,
) -> Reply {
    let Some(channel) = create
        .channel_data
        .as_ref()
        .and_then(|d| d["channel"]["id"].as_str())
    else {
        return Reply::connector_error(
            400,
            "BadArgument",
            "Bots cannot create group chats; give channelData.channel.id to start a channel thread.",
        );
    };
    let Some(activity) = &create.activity else {
        return Reply::connector_error(
            400,
            "BadArgument",
            "Starting a channel thread needs an activity.",
        );
    };
    let body = Bytes::from(activity.to_string());
    if let Err(reply) = check_activity(&body) {
        return reply;
    }
    let accepted = open_conversation(world, channel)
        .and_then(|()| take_rate(emulator, world, channel, THREAD_SEND, |c| &mut c.creates))
        .and_then(|()| check_writable(world, channel));
    if let Err(reply) = accepted {
        return reply;
    }
    emulator.stats.update(|s| s.conversations_created += 1);
    let activity_id = store_activity(emulator, world, channel, body);
    Reply::json(
        201,
        json!({"id": format!("{channel};messageid={activity_id}"), "activityId": activity_id}),
    )
}

async fn paged_members(
    emulator: web::Data<Emulator>,
    request: HttpRequest,
    path: web::Path<String>,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    let reply = answer(&emulator, &request, || {
        members_page(&emulator, &path, &query)
    })
    .await;
    finish(
        &emulator,
        "GET /teams/v3/conversations/{id}/pagedmembers",
        reply,
    )
}

fn members_page(
    emulator: &Emulator,
    id: &str,
    query: &std::collections::HashMap<String, String>,
) -> Reply {
    // Undocumented officially: page sizes are clamped to 50..500.
    let size = query
        .get("pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(200)
        .clamp(50, 500);
    let start = query
        .get("continuationToken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let mut world = emulator.world();
    if let Err(reply) = open_conversation(&mut world, id)
        .and_then(|()| take_rate(emulator, &mut world, id, THREAD_READ, |c| &mut c.reads))
    {
        return reply;
    }
    let directory = &world.directory;
    let users: Vec<usize> = match world.conversations.get(id).map(|c| &c.kind) {
        Some(ConversationKind::Personal { user }) => vec![*user],
        Some(ConversationKind::Channel { group, .. }) => directory.groups[*group]
            .members
            .iter()
            .filter_map(|m| match m {
                MemberRef::User(u) if !directory.user(*u).removed => Some(*u),
                _ => None,
            })
            .collect(),
        None => return not_found(),
    };
    let end = (start + size).min(users.len());
    let members: Vec<Value> = users
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|&u| {
            let user = directory.user(u);
            json!({
                "id": user.teams_id,
                "name": user.display_name,
                "objectId": user.id,
                "givenName": user.given_name,
                "surname": user.surname,
                "email": user.mail,
                "userPrincipalName": user.user_principal_name,
                "tenantId": directory.tenant_id,
                "userRole": if user.user_type == UserType::Guest { "guest" } else { "user" },
            })
        })
        .collect();
    let mut body = json!({"members": members});
    if end < users.len() {
        body["continuationToken"] = json!(end.to_string());
    }
    Reply::json(200, body)
}

async fn team_conversations(
    emulator: web::Data<Emulator>,
    request: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let reply = answer(&emulator, &request, || channels_of(&emulator, &path)).await;
    finish(&emulator, "GET /teams/v3/teams/{id}/conversations", reply)
}

fn channels_of(emulator: &Emulator, team_id: &str) -> Reply {
    let mut world = emulator.world();
    if let Err(reply) = open_conversation(&mut world, team_id)
        .and_then(|()| take_rate(emulator, &mut world, team_id, THREAD_READ, |c| &mut c.reads))
        .and_then(|()| check_writable(&mut world, team_id))
    {
        return reply;
    }
    let Some(group) = world.directory.team_by_thread(team_id) else {
        return not_found();
    };
    let team = world.directory.groups[group].team.as_ref();
    let conversations: Vec<Value> = team
        .map(|t| {
            t.channels
                .iter()
                .map(|c| {
                    // The General channel has no name on this API.
                    let name = (c.id != t.thread_id).then(|| c.display_name.clone());
                    json!({"id": c.id, "name": name})
                })
                .collect()
        })
        .unwrap_or_default();
    Reply::json(200, json!({"conversations": conversations}))
}
