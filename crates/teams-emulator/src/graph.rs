//! Microsoft Graph v1.0, the subset Herald uses (teams-platform.md §4-5).
//!
//! All of Graph goes through one `dispatch` over the path's segments, so that
//! `$batch` can run its inner requests exactly as top-level ones, limits and
//! all.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::botframework;
use crate::directory::{Directory, Group, InstallError, MemberRef, User, UserType};
use crate::entra::GRAPH_AUDIENCE;
use crate::keys::{TokenProblem, now_secs};
use crate::search::{Search, SearchError};
use crate::state::{Emulator, World};
use crate::wire::{Reply, header};

const PREFIX: &str = "/graph/v1.0";
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 999;
const MAX_BATCH: usize = 20;

pub fn routes(config: &mut web::ServiceConfig) {
    config.route("/graph/v1.0/{tail:.*}", web::route().to(handle));
}

async fn handle(emulator: web::Data<Emulator>, request: HttpRequest, body: Bytes) -> HttpResponse {
    let method = request.method().as_str().to_owned();
    let path = request
        .path()
        .strip_prefix(PREFIX)
        .unwrap_or_default()
        .to_owned();
    if let Err(problem) = emulator
        .keys
        .check_bearer(header(&request, "Authorization"), GRAPH_AUDIENCE)
    {
        let label = format!("{method} {PREFIX}/(unauthenticated)");
        return unauthorized(problem).respond(&emulator, &label);
    }
    let call = Call {
        method: &method,
        path: &path,
        query: parse_query(request.query_string()),
        consistency_eventual: header(&request, "ConsistencyLevel") == Some("eventual"),
        max_page_size: header(&request, "Prefer").and_then(prefer_page_size),
        body: &body,
    };
    // Limits are taken on arrival; the latency is the service's processing
    // time, and a fault may hit a request whose work was done (as a 5xx
    // from a real service can).
    let (label, reply) = dispatch(&emulator, &call);
    if reply.status == 429 {
        return reply.respond(&emulator, &label);
    }
    match emulator.simulate_network().await {
        Ok(()) => reply.respond(&emulator, &label),
        Err(fault) => {
            Reply::graph_fault(fault).respond(&emulator, &format!("{method} {PREFIX}/(fault)"))
        }
    }
}

fn unauthorized(problem: TokenProblem) -> Reply {
    let message = match problem {
        TokenProblem::Missing => "Access token is empty.".to_owned(),
        TokenProblem::WrongAudience => {
            "Access token validation failure. Invalid audience.".to_owned()
        }
        TokenProblem::Invalid(detail) => format!("Access token validation failure. {detail}"),
    };
    Reply::graph_error(401, "InvalidAuthenticationToken", message)
}

fn prefer_page_size(prefer: &str) -> Option<usize> {
    prefer
        .split(',')
        .find_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        .and_then(|n| n.trim().parse().ok())
}

struct Call<'a> {
    method: &'a str,
    path: &'a str,
    query: HashMap<String, String>,
    consistency_eventual: bool,
    max_page_size: Option<usize>,
    body: &'a [u8],
}

fn parse_query(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Routes one request; returns the endpoint label for the stats and the reply.
fn dispatch(emulator: &web::Data<Emulator>, call: &Call) -> (String, Reply) {
    let segments: Vec<String> = call
        .path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (pattern, reply) = match (call.method, parts.as_slice()) {
        ("GET", ["users"]) => ("/users", list_users(emulator, call)),
        ("GET", ["users", "$count"]) => ("/users/$count", count_users(emulator, call)),
        ("GET", ["users", "delta" | "delta()"]) => ("/users/delta", users_delta(emulator, call)),
        ("GET", ["users", id]) => ("/users/{id}", get_user(emulator, call, id)),
        ("GET", ["users", id, "teamwork", "installedApps"]) => (
            "/users/{id}/teamwork/installedApps",
            list_user_apps(emulator, call, id),
        ),
        ("POST", ["users", id, "teamwork", "installedApps"]) => (
            "/users/{id}/teamwork/installedApps",
            install_for_user(emulator, call, id),
        ),
        ("GET", ["users", id, "teamwork", "installedApps", installation]) => (
            "/users/{id}/teamwork/installedApps/{id}",
            get_user_app(emulator, id, installation),
        ),
        ("DELETE", ["users", id, "teamwork", "installedApps", installation]) => (
            "/users/{id}/teamwork/installedApps/{id}",
            uninstall_for_user(emulator, id, installation),
        ),
        (
            "GET",
            [
                "users",
                id,
                "teamwork",
                "installedApps",
                installation,
                "chat",
            ],
        ) => (
            "/users/{id}/teamwork/installedApps/{id}/chat",
            get_chat(emulator, id, installation),
        ),
        ("GET", ["groups"]) => ("/groups", list_groups(emulator, call)),
        ("GET", ["groups", id]) => ("/groups/{id}", get_group(emulator, call, id)),
        (
            "GET",
            [
                "groups",
                id,
                kind @ ("members" | "transitiveMembers"),
                tail @ ..,
            ],
        ) => match Members::parse(kind, tail) {
            Some(members) => (members.label(), group_members(emulator, call, id, members)),
            None => unknown_segment(call),
        },
        ("GET", ["teams", id]) => ("/teams/{id}", get_team(emulator, id)),
        ("GET", ["teams", id, "members"]) => {
            ("/teams/{id}/members", team_members(emulator, call, id))
        }
        ("GET", ["teams", id, "channels"]) => ("/teams/{id}/channels", team_channels(emulator, id)),
        ("GET", ["teams", id, "installedApps"]) => (
            "/teams/{id}/installedApps",
            list_team_apps(emulator, call, id),
        ),
        ("POST", ["teams", id, "installedApps"]) => (
            "/teams/{id}/installedApps",
            install_for_team(emulator, call, id),
        ),
        ("DELETE", ["teams", id, "installedApps", installation]) => (
            "/teams/{id}/installedApps/{id}",
            uninstall_for_team(emulator, id, installation),
        ),
        ("GET", ["appCatalogs", "teamsApps"]) => {
            ("/appCatalogs/teamsApps", catalog(emulator, call))
        }
        ("POST", ["$batch"]) => ("/$batch", batch(emulator, call)),
        _ => unknown_segment(call),
    };
    (format!("{} {PREFIX}{pattern}", call.method), reply)
}

fn unknown_segment(call: &Call) -> (&'static str, Reply) {
    (
        "/(unknown)",
        Reply::graph_error(
            400,
            "BadRequest",
            format!(
                "Resource not found for the segment '{}'.",
                call.path.trim_matches('/')
            ),
        ),
    )
}

// ---- limits ----

enum Limit<'a> {
    /// Directory reads, weighted by cost.
    Directory(u32),
    Install,
    /// An install on a team counts on that team too.
    TeamInstall(&'a str),
    InstalledAppRead,
    TeamRead(&'a str),
    TeamMembersRead(&'a str),
}

const PER_SECOND_30: &[(Duration, u32)] = &[(Duration::from_secs(1), 30)];
const PER_SECOND_60: &[(Duration, u32)] = &[(Duration::from_secs(1), 60)];
const PER_SECOND_4: &[(Duration, u32)] = &[(Duration::from_secs(1), 4)];

/// Applies teams-platform.md §3's Graph limits; `Err` is a ready 429.
fn limit(emulator: &Emulator, world: &mut World, limit: Limit) -> Result<(), Reply> {
    if !emulator.behaviour().graph_limits {
        return Ok(());
    }
    let now = Instant::now();
    let graph = &mut world.graph;
    let outcome = match limit {
        Limit::Directory(cost) => graph.directory_cost.try_take(cost, now),
        Limit::Install => graph.installs.try_take(PER_SECOND_30, now),
        Limit::TeamInstall(team) => graph
            .installs
            .try_take(PER_SECOND_30, now)
            .and_then(|()| per_team(graph, team, now)),
        Limit::InstalledAppRead => graph.installed_app_reads.try_take(PER_SECOND_30, now),
        Limit::TeamRead(team) => graph
            .team_reads
            .try_take(PER_SECOND_30, now)
            .and_then(|()| per_team(graph, team, now)),
        Limit::TeamMembersRead(team) => graph
            .team_reads
            .try_take(PER_SECOND_60, now)
            .and_then(|()| per_team(graph, team, now)),
    };
    outcome.map_err(Reply::graph_throttled)
}

fn per_team(
    graph: &mut crate::state::GraphLimits,
    team: &str,
    now: Instant,
) -> Result<(), Duration> {
    graph
        .per_team
        .entry(team.to_owned())
        .or_default()
        .try_take(PER_SECOND_4, now)
}

/// `$select` takes one unit off a directory read's cost.
fn directory_cost(call: &Call, base: u32) -> Limit<'static> {
    Limit::Directory(if call.query.contains_key("$select") {
        base - 1
    } else {
        base
    })
}

// ---- paging ----

fn page_size(call: &Call) -> Result<usize, Reply> {
    match call.query.get("$top") {
        None => Ok(call
            .max_page_size
            .unwrap_or(DEFAULT_PAGE)
            .clamp(1, MAX_PAGE)),
        Some(top) => match top.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(Reply::graph_error(
                400,
                "Request_UnsupportedQuery",
                format!(
                    "Invalid page size specified: '{top}'. Must be between 1 and {MAX_PAGE} inclusive."
                ),
            )),
        },
    }
}

/// An opaque continuation: where to resume, and for delta, what changed since.
#[derive(Serialize, Deserialize, Default)]
struct Cursor {
    /// Index into the underlying list to resume from.
    at: usize,
    /// For delta: report users changed after this version (0 = full sync).
    #[serde(default)]
    since: u64,
    /// For delta: the directory version when this round started.
    #[serde(default)]
    round: u64,
    /// For a delta token: when it was issued (seconds since the epoch).
    #[serde(default)]
    issued: u64,
    /// For delta: the page size the round began with (0 = none asked for).
    /// Graph keeps `Prefer: odata.maxpagesize` in its links, so only the
    /// first request needs the header.
    #[serde(default)]
    page: usize,
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(token: &str) -> Option<Self> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token).ok()?).ok()
    }
}

fn read_cursor(call: &Call, name: &str) -> Result<Option<Cursor>, Reply> {
    match call.query.get(name) {
        None => Ok(None),
        Some(token) => Cursor::decode(token).map(Some).ok_or_else(|| {
            Reply::graph_error(400, "BadRequest", format!("The {name} in the request is not valid. Use the link Graph returned, unchanged."))
        }),
    }
}

/// The same request again with one paging parameter replaced.
fn link(emulator: &Emulator, call: &Call, name: &str, value: &str) -> String {
    let mut url = format!(
        "{}/v1.0/{}",
        emulator.urls.graph,
        call.path.trim_start_matches('/')
    );
    let mut pairs: Vec<(&str, &str)> = call
        .query
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "$skiptoken" | "$deltatoken"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.sort();
    pairs.push((name, value));
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    url.push('?');
    url.push_str(&query);
    url
}

fn collection(context: &str, items: Vec<Value>, next: Option<String>) -> Reply {
    let mut body = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#{context}"),
        "value": items,
    });
    if let Some(next) = next {
        body["@odata.nextLink"] = json!(next);
    }
    Reply::json(200, body)
}

/// Pages over `0..len` with `$top`/`$skiptoken`.
fn page_of<T>(
    emulator: &Emulator,
    call: &Call,
    context: &str,
    items: &[T],
    render: impl Fn(&T) -> Value,
) -> Reply {
    let size = match page_size(call) {
        Ok(size) => size,
        Err(reply) => return reply,
    };
    let start = match read_cursor(call, "$skiptoken") {
        Ok(cursor) => cursor.map_or(0, |c| c.at),
        Err(reply) => return reply,
    };
    let end = (start + size).min(items.len());
    let page = items.get(start..end).unwrap_or_default();
    let next = (end < items.len()).then(|| {
        let cursor = Cursor {
            at: end,
            ..Cursor::default()
        };
        link(emulator, call, "$skiptoken", &cursor.encode())
    });
    collection(context, page.iter().map(render).collect(), next)
}

/// Adds `@odata.count` when `$count=true` asked for it: the matches in all
/// pages, not this page's.
fn counted(mut reply: Reply, count: bool, total: usize) -> Reply {
    let ok = reply.status == 200;
    if let Some(body) = reply.body.as_mut().filter(|_| count && ok) {
        body["@odata.count"] = json!(total);
    }
    reply
}

// ---- advanced queries ----

/// A directory list's advanced query parameters (teams-platform.md §10).
#[derive(Default)]
struct Advanced {
    search: Option<Search>,
    /// `$count=true`: the answer carries `@odata.count`.
    count: bool,
}

impl Advanced {
    fn finds<'a>(&self, value_of: impl Fn(&str) -> Option<Cow<'a, str>>) -> bool {
        self.search.as_ref().is_none_or(|s| s.matches(value_of))
    }
}

/// Reads `$search` and `$count`, which Graph serves only with
/// `ConsistencyLevel: eventual`, as it does a path ending in `/$count`
/// (`count_path`). `searchable` names what `$search` may look in; empty
/// where the emulator does not search.
fn advanced(call: &Call, searchable: &[&'static str], count_path: bool) -> Result<Advanced, Reply> {
    if count_path {
        needs_eventual(call, "the $count segment")?;
    }
    let count = match call.query.get("$count").map(String::as_str) {
        None => false,
        Some(value) => {
            needs_eventual(call, "$count query parameter")?;
            value.parse::<bool>().map_err(|_| {
                Reply::graph_error(
                    400,
                    "Request_BadRequest",
                    format!("Invalid $count value '{value}': use true or false."),
                )
            })?
        }
    };
    let search = match call.query.get("$search") {
        None => None,
        Some(text) => {
            needs_eventual(call, "$search query parameter")?;
            Some(search_of(text, searchable)?)
        }
    };
    Ok(Advanced { search, count })
}

fn needs_eventual(call: &Call, what: &str) -> Result<(), Reply> {
    if call.consistency_eventual {
        return Ok(());
    }
    Err(Reply::graph_error(
        400,
        "Request_UnsupportedQuery",
        format!(
            "Request with {what} only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'"
        ),
    ))
}

fn search_of(text: &str, searchable: &[&'static str]) -> Result<Search, Reply> {
    if searchable.is_empty() {
        return Err(Reply::graph_error(
            400,
            "Request_UnsupportedQuery",
            "The emulator does not support $search on this collection.",
        ));
    }
    Search::parse(text, searchable).map_err(|problem| match problem {
        SearchError::Malformed(why) => Reply::graph_error(
            400,
            "Request_BadRequest",
            format!(
                "Invalid $search {text}: {why}. Write \"property:text\" in double quotes, clauses joined by AND or OR; inside, \\\" is a quote and \\\\ a backslash."
            ),
        ),
        SearchError::Unsearchable(why) => Reply::graph_error(
            400,
            "Request_UnsupportedQuery",
            format!("Unsupported $search {text}: {why}."),
        ),
    })
}

// ---- rendering ----

const USER_PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "givenName",
    "surname",
    "userPrincipalName",
    "mail",
    "userType",
    "accountEnabled",
    "jobTitle",
    "businessPhones",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
];
const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

fn selection(call: &Call) -> Option<Vec<String>> {
    call.query.get("$select").map(|s| {
        s.split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    })
}

fn check_user_selection(call: &Call) -> Result<(), Reply> {
    if let Some(selected) = selection(call)
        && let Some(unknown) = selected
            .iter()
            .find(|p| !USER_PROPERTIES.contains(&p.as_str()))
    {
        return Err(Reply::graph_error(
            400,
            "Request_BadRequest",
            format!("Could not find a property named '{unknown}' on type 'microsoft.graph.user'."),
        ));
    }
    Ok(())
}

fn user_json(user: &User, select: Option<&[String]>) -> Value {
    let property = |name: &str| -> Value {
        match name {
            "id" => json!(user.id),
            "userType" => json!(match user.user_type {
                UserType::Member => "Member",
                UserType::Guest => "Guest",
            }),
            "accountEnabled" => json!(user.account_enabled),
            "businessPhones" => json!([]),
            text => json!(user_text(user, text)),
        }
    };
    project(select, USER_DEFAULT, property)
}

/// What `$search` may name on a user (teams-platform.md §10).
const USER_SEARCHABLE: &[&str] = &[
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
];

/// A user's text properties, for rendering and for `$search`.
fn user_text<'a>(user: &'a User, property: &str) -> Option<Cow<'a, str>> {
    let text = match property {
        "displayName" => &user.display_name,
        "givenName" => &user.given_name,
        "surname" => &user.surname,
        "userPrincipalName" => &user.user_principal_name,
        "mail" => &user.mail,
        _ => return None,
    };
    Some(Cow::Borrowed(text))
}

fn project(select: Option<&[String]>, default: &[&str], property: impl Fn(&str) -> Value) -> Value {
    let mut object = Map::new();
    match select {
        Some(selected) => {
            for name in selected {
                object.insert(name.clone(), property(name));
            }
            object.entry("id").or_insert_with(|| property("id"));
        }
        None => {
            for name in default {
                object.insert((*name).to_owned(), property(name));
            }
        }
    }
    Value::Object(object)
}

const GROUP_DEFAULT: &[&str] = &[
    "id",
    "displayName",
    "description",
    "groupTypes",
    "mail",
    "mailEnabled",
    "securityEnabled",
    "resourceProvisioningOptions",
];

fn group_json(group: &Group, domain: &str, select: Option<&[String]>) -> Value {
    let property = |name: &str| -> Value {
        match name {
            "id" => json!(group.id),
            "mailEnabled" => json!(group.mail_enabled),
            "securityEnabled" => json!(group.security_enabled),
            "groupTypes" | "resourceProvisioningOptions" => json!(group_collection(group, name)),
            text => json!(group_text(group, domain, text)),
        }
    };
    project(select, GROUP_DEFAULT, property)
}

/// A group's text properties, for rendering and for `$search`.
fn group_text<'a>(group: &'a Group, domain: &str, property: &str) -> Option<Cow<'a, str>> {
    match property {
        "displayName" => Some(Cow::Borrowed(&group.display_name)),
        "description" => Some(Cow::Owned(format!(
            "{} (seeded by the Teams emulator)",
            group.display_name
        ))),
        "mail" if group.mail_enabled => Some(Cow::Owned(format!(
            "{}@{domain}",
            group.display_name.to_lowercase().replace(' ', "-")
        ))),
        _ => None,
    }
}

/// A group's string collections, for rendering and for `$filter`.
fn group_collection<'a>(group: &'a Group, property: &str) -> Vec<&'a str> {
    match property {
        "groupTypes" => group.group_types.iter().map(String::as_str).collect(),
        "resourceProvisioningOptions" if group.team.is_some() => vec!["Team"],
        _ => Vec::new(),
    }
}

fn not_found(what: &str, id: &str) -> Reply {
    Reply::graph_error(
        404,
        "Request_ResourceNotFound",
        format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present. ({what})"
        ),
    )
}

// ---- users ----

fn list_users(emulator: &Emulator, call: &Call) -> Reply {
    let query =
        match check_user_selection(call).and_then(|()| advanced(call, USER_SEARCHABLE, false)) {
            Ok(query) => query,
            Err(reply) => return reply,
        };
    let mut world = emulator.world();
    if let Err(reply) = limit(emulator, &mut world, directory_cost(call, 2)) {
        return reply;
    }
    let select = selection(call);
    let found = users_matching(&world.directory, &query);
    let reply = page_of(emulator, call, "users", &found, |u| {
        user_json(u, select.as_deref())
    });
    counted(reply, query.count, found.len())
}

/// `GET /users/$count`: a bare number, narrowed by `$search` if given.
fn count_users(emulator: &Emulator, call: &Call) -> Reply {
    let query = match advanced(call, USER_SEARCHABLE, true) {
        Ok(query) => query,
        Err(reply) => return reply,
    };
    let mut world = emulator.world();
    // Counted as the listing it stands for (GET users, 2 units): Graph
    // documents no cost of its own for `$count` (teams-platform.md §3).
    if let Err(reply) = limit(emulator, &mut world, directory_cost(call, 2)) {
        return reply;
    }
    let found = users_matching(&world.directory, &query).len();
    Reply::text(200, found.to_string())
}

fn users_matching<'a>(directory: &'a Directory, query: &Advanced) -> Vec<&'a User> {
    directory
        .users
        .iter()
        .filter(|u| !u.removed && query.finds(|p| user_text(u, p)))
        .collect()
}

fn get_user(emulator: &Emulator, call: &Call, id: &str) -> Reply {
    if let Err(reply) = check_user_selection(call) {
        return reply;
    }
    let mut world = emulator.world();
    if let Err(reply) = limit(emulator, &mut world, Limit::Directory(1)) {
        return reply;
    }
    match world.directory.find_user(id) {
        Some(user) => Reply::json(
            200,
            user_json(world.directory.user(user), selection(call).as_deref()),
        ),
        None => not_found("user", id),
    }
}

fn users_delta(emulator: &Emulator, call: &Call) -> Reply {
    if let Err(reply) = check_user_selection(call) {
        return reply;
    }
    let lifetime = emulator.behaviour().delta_token_lifetime_secs;
    let mut world = emulator.world();
    if let Err(reply) = limit(emulator, &mut world, directory_cost(call, 2)) {
        return reply;
    }
    let cursor = match (
        read_cursor(call, "$skiptoken"),
        read_cursor(call, "$deltatoken"),
    ) {
        (Err(reply), _) | (_, Err(reply)) => return reply,
        (Ok(Some(skip)), _) => skip,
        (Ok(None), Ok(Some(delta))) => {
            if now_secs().saturating_sub(delta.issued) >= lifetime {
                return Reply::graph_error(
                    410,
                    "syncStateNotFound",
                    "The delta token has expired. Start a full synchronisation again without a token.",
                );
            }
            Cursor {
                at: 0,
                since: delta.round,
                round: world.directory.version,
                issued: 0,
                page: delta.page,
            }
        }
        (Ok(None), Ok(None)) => Cursor {
            round: world.directory.version,
            ..Cursor::default()
        },
    };
    let asked = call.max_page_size.is_some() || call.query.contains_key("$top");
    let size = match page_size(call) {
        Ok(_) if !asked && cursor.page > 0 => cursor.page,
        Ok(size) => size,
        Err(reply) => return reply,
    };
    let cursor = Cursor {
        page: size,
        ..cursor
    };
    delta_page(emulator, call, &world.directory, cursor, size)
}

fn delta_page(
    emulator: &Emulator,
    call: &Call,
    directory: &Directory,
    cursor: Cursor,
    size: usize,
) -> Reply {
    let select = selection(call);
    let mut items = Vec::with_capacity(size);
    let mut at = cursor.at;
    while at < directory.users.len() && items.len() < size {
        let user = directory.user(at);
        at += 1;
        let full_sync = cursor.since == 0;
        if full_sync && !user.removed {
            items.push(user_json(user, select.as_deref()));
        } else if !full_sync && user.version > cursor.since {
            items.push(if user.removed {
                json!({"id": user.id, "@removed": {"reason": "deleted"}})
            } else {
                user_json(user, select.as_deref())
            });
        }
    }
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
        "value": items,
    });
    if at < directory.users.len() {
        let next = Cursor { at, ..cursor };
        body["@odata.nextLink"] = json!(link(emulator, call, "$skiptoken", &next.encode()));
    } else {
        let token = Cursor {
            round: cursor.round,
            issued: now_secs(),
            page: cursor.page,
            ..Cursor::default()
        };
        let path = Call {
            path: "/users/delta",
            ..clone_call(call)
        };
        body["@odata.deltaLink"] = json!(link(emulator, &path, "$deltatoken", &token.encode()));
    }
    Reply::json(200, body)
}

fn clone_call<'a>(call: &Call<'a>) -> Call<'a> {
    Call {
        method: call.method,
        path: call.path,
        query: call.query.clone(),
        consistency_eventual: call.consistency_eventual,
        max_page_size: call.max_page_size,
        body: call.body,
    }
}

// ---- app installations ----

fn app_json(emulator: &Emulator, directory: &Directory) -> Value {
    json!({
        "id": directory.teams_app_id,
        "externalId": emulator.urls.manifest_id,
        "displayName": "Herald",
        "distributionMethod": "organization",
    })
}

/// `teamsApp/id eq '...'`, `teamsApp/externalId eq '...'`, `externalId eq '...'`, `id eq '...'`.
fn parse_filter(filter: &str) -> Option<(&str, &str)> {
    let (property, value) = filter.split_once(" eq ")?;
    let value = value.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    Some((property.trim(), value))
}

/// Whether the app matches `$filter`; `Err` for a filter Graph would refuse.
fn app_matches(
    emulator: &Emulator,
    directory: &Directory,
    call: &Call,
    prefix: &str,
) -> Result<bool, Reply> {
    let Some(filter) = call.query.get("$filter") else {
        return Ok(true);
    };
    let invalid = || {
        Reply::graph_error(
            400,
            "BadRequest",
            format!("Invalid filter clause: {filter}"),
        )
    };
    let (property, value) = parse_filter(filter).ok_or_else(invalid)?;
    let property = property.strip_prefix(prefix).ok_or_else(invalid)?;
    match property {
        "id" => Ok(value == directory.teams_app_id),
        "externalId" => Ok(value == emulator.urls.manifest_id),
        _ => Err(invalid()),
    }
}

fn catalog(emulator: &Emulator, call: &Call) -> Reply {
    let mut world = emulator.world();
    if let Err(reply) = limit(emulator, &mut world, Limit::InstalledAppRead) {
        return reply;
    }
    let listed = emulator.behaviour().app_in_catalog;
    match app_matches(emulator, &world.directory, call, "") {
        Err(reply) => reply,
        Ok(matches) => {
            let items = if listed && matches {
                vec![app_json(emulator, &world.directory)]
            } else {
                Vec::new()
            };
            collection("appCatalogs/teamsApps", items, None)
        }
    }
}

fn installation_json(emulator: &Emulator, directory: &Directory, id: &str, call: &Call) -> Value {
    let mut item = json!({"id": id});
    if call
        .query
        .get("$expand")
        .is_some_and(|e| e.split(',').any(|p| p.trim() == "teamsApp"))
    {
        item["teamsApp"] = app_json(emulator, directory);
    }
    item
}

fn list_user_apps(emulator: &Emulator, call: &Call, id: &str) -> Reply {
    let mut world = emulator.world();
    if let Err(reply) = limit(emulator, &mut world, Limit::InstalledAppRead) {
        return reply;
    }
    let directory = &world.directory;
    let Some(user) = directory.find_user(id) else {
        return not_found("user", id);
    };
    let matches = match app_matches(emulator, directory, call, "teamsApp/") {
        Ok(matches) => matches,
        Err(reply) => return reply,
    };
    let items = match &directory.user(user).installation {
        Some(installation) if matches => vec![installation_json(
            emulator,
            directory,
            &installation.id,
            call,
        )],
        _ => Vec::new(),
    };
    collection(
        &format!("users('{id}')/teamwork/installedApps"),
        items,
        None,
    )
}

/// The catalog id named by `teamsApp@odata.bind`.
fn bound_app(call: &Call) -> Result<String, Reply> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(rename = "teamsApp@odata.bind")]
        bind: String,
    }
    let body: Body = serde_json::from_slice(call.body).map_err(|e| {
        Reply::graph_error(
            400,
            "BadRequest",
            format!("The body must be JSON with \"teamsApp@odata.bind\": {e}"),
        )
    })?;
    body.bind
        .rsplit_once("/appCatalogs/teamsApps/")
        .map(|(_, id)| id.trim_matches(|c| c == '\'' || c == '(' || c == ')').to_owned())
        .ok_or_else(|| {
            Reply::graph_error(400, "BadRequest", "teamsApp@odata.bind must be https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{id}")
        })
}

fn check_app_in_catalog(
    emulator: &Emulator,
    directory: &Directory,
    app: &str,
) -> Result<(), Reply> {
    if emulator.behaviour().app_in_catalog && app == directory.teams_app_id {
        return Ok(());
    }
    Err(Reply::graph_error(
        404,
        "NotFound",
        format!(
            "The teamsApp '{app}' was not found in the app catalog of this tenant. Upload the app to the catalog first."
        ),
    ))
}

fn install_for_user(emulator: &web::Data<Emulator>, call: &Call, id: &str) -> Reply {
    let app = match bound_app(call) {
        Ok(app) => app,
        Err(reply) => return reply,
    };
    let event = {
        let mut world = emulator.world();
        if let Err(reply) = limit(emulator, &mut world, Limit::Install) {
            return reply;
        }
        let Some(user) = world.directory.find_user(id) else {
            return not_found("user", id);
        };
        if let Err(reply) = check_app_in_catalog(emulator, &world.directory, &app) {
            return reply;
        }
        match world.directory.install_for_user(user) {
            Ok(event) => event,
            Err(_) => return conflict(),
        }
    };
    emulator.stats.update(|s| s.installs += 1);
    botframework::announce(emulator.clone(), event, true);
    Reply::empty(201)
}

fn conflict() -> Reply {
    Reply::graph_error(409, "Conflict", "App is already installed.")
}

fn get_user_app(emulator: &Emulator, id: &str, installation: &str) -> Reply {
    let mut world = emulator.world();
    if let Err(reply) = limit(emulator, &mut world, Limit::InstalledAppRead) {
        return reply;
    }
    let directory = &world.directory;
    match user_installation(directory, id, installation) {
        Some(_) => Reply::json(200, json!({"id": installation})),
        None => not_found("installedApp", installation),
    }
}

fn user_installation(directory: &Directory, id: &str, installation: &str) -> Option<usize> {
    let user = directory.find_user(id)?;
    let found = directory.user(user).installation.as_ref()?;
    (found.id == installation).then_some(user)
}

fn uninstall_for_user(emulator: &web::Data<Emulator>, id: &str, installation: &str) -> Reply {
    let event = {
        let mut world = emulator.world();
        if let Err(reply) = limit(emulator, &mut world, Limit::Install) {
            return reply;
        }
        let Some(user) = user_installation(&world.directory, id, installation) else {
            return not_found("installedApp", installation);
        };
        match world.directory.uninstall_for_user(user) {
            Ok(event) => event,
            Err(_) => return not_found("installedApp", installation),
        }
    };
    emulator.stats.update(|s| s.uninstalls += 1);
    botframework::announce(emulator.clone(), event, false);
    Reply::empty(204)
}

fn get_chat(emulator: &Emulator, id: &str, installation: &str) -> Reply {
    let mut world = emulator.world();
    if let Err(reply) = limit(emulator, &mut world, Limit::InstalledAppRead) {
        return reply;
    }
    let directory = &world.directory;
    let chat = user_installation(directory, id, installation)
        .and_then(|user| directory.user(user).installation.as_ref())
        .map(|i| i.chat_id.clone());
    match chat {
        Some(chat) => Reply::json(
            200,
            json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#chats/$entity",
                "id": chat,
                "topic": null,
                "chatType": "oneOnOne",
                "tenantId": emulator.tenant_id(),
            }),
        ),
        None => not_found("installedApp", installation),
    }
}

// ---- groups ----

/// What `$search` may name on a group (teams-platform.md §10).
const GROUP_SEARCHABLE: &[&str] = &["displayName", "description", "mail"];

fn list_groups(emulator: &Emulator, call: &Call) -> Reply {
    let (query, filter) = match advanced(call, GROUP_SEARCHABLE, false)
        .and_then(|query| Ok((query, group_filter(call)?)))
    {
        Ok(asked) => asked,
        Err(reply) => return reply,
    };
    let mut world = emulator.world();
    if let Err(reply) = limit(emulator, &mut world, directory_cost(call, 2)) {
        return reply;
    }
    let directory = &world.directory;
    let found: Vec<&Group> = directory
        .groups
        .iter()
        .filter(|g| filter.as_ref().is_none_or(|f| f.matches(g)))
        .filter(|g| query.finds(|p| group_text(g, &directory.domain, p)))
        .collect();
    let select = selection(call);
    let reply = page_of(emulator, call, "groups", &found, |g| {
        group_json(g, &directory.domain, select.as_deref())
    });
    counted(reply, query.count, found.len())
}

/// A lambda over one of a group's collections, `property/any(x:x eq 'value')`.
struct AnyFilter {
    property: &'static str,
    value: String,
}

impl AnyFilter {
    fn matches(&self, group: &Group) -> bool {
        group_collection(group, self.property)
            .iter()
            .any(|v| v.eq_ignore_ascii_case(&self.value))
    }
}

/// `$filter` on groups: `resourceProvisioningOptions/Any(x:x eq 'Team')`
/// lists the teams (an advanced query, teams-platform.md §10), and
/// `groupTypes/any(c:c eq 'Unified')` the Microsoft 365 groups. Any other
/// filter is refused rather than ignored, so that a caller never mistakes
/// every group for the ones it asked for.
fn group_filter(call: &Call) -> Result<Option<AnyFilter>, Reply> {
    let Some(filter) = call.query.get("$filter") else {
        return Ok(None);
    };
    let unsupported = || {
        Reply::graph_error(
            400,
            "Request_UnsupportedQuery",
            format!(
                "Unsupported or invalid query filter clause specified: {filter}. Groups filter on resourceProvisioningOptions/Any(x:x eq 'Team') or groupTypes/any(c:c eq 'Unified')."
            ),
        )
    };
    let (property, value) = parse_any(filter).ok_or_else(unsupported)?;
    let property = ["resourceProvisioningOptions", "groupTypes"]
        .into_iter()
        .find(|p| p.eq_ignore_ascii_case(property))
        .ok_or_else(unsupported)?;
    if property == "resourceProvisioningOptions" {
        needs_eventual(call, "a $filter on resourceProvisioningOptions")?;
    }
    Ok(Some(AnyFilter {
        property,
        value: value.to_owned(),
    }))
}

/// `property/any(x:x eq 'value')` -> (property, value).
fn parse_any(filter: &str) -> Option<(&str, &str)> {
    let (property, lambda) = filter.trim().split_once('/')?;
    let (any, body) = lambda.split_once('(')?;
    let (variable, condition) = body.trim_end().strip_suffix(')')?.split_once(':')?;
    let (left, value) = parse_filter(condition)?;
    (any.trim().eq_ignore_ascii_case("any") && left == variable.trim())
        .then_some((property.trim(), value))
}

fn get_group(emulator: &Emulator, call: &Call, id: &str) -> Reply {
    let mut world = emulator.world();
    if let Err(reply) = limit(emulator, &mut world, Limit::Directory(1)) {
        return reply;
    }
    let directory = &world.directory;
    match directory.find_group(id) {
        Some(g) => Reply::json(
            200,
            group_json(
                &directory.groups[g],
                &directory.domain,
                selection(call).as_deref(),
            ),
        ),
        None => not_found("group", id),
    }
}

/// A group's member collection as a path names it: direct or transitive,
/// maybe cast to users (`/microsoft.graph.user`), listed or counted
/// (`/$count`).
#[derive(Clone, Copy)]
struct Members {
    transitive: bool,
    users_only: bool,
    count: bool,
}

impl Members {
    fn parse(kind: &str, tail: &[&str]) -> Option<Self> {
        let (users_only, count) = match tail {
            [] => (false, false),
            ["$count"] => (false, true),
            ["microsoft.graph.user"] => (true, false),
            ["microsoft.graph.user", "$count"] => (true, true),
            _ => return None,
        };
        Some(Self {
            transitive: kind == "transitiveMembers",
            users_only,
            count,
        })
    }

    /// The endpoint in the stats; a cast is the same endpoint.
    fn label(self) -> &'static str {
        match (self.transitive, self.count) {
            (false, false) => "/groups/{id}/members",
            (false, true) => "/groups/{id}/members/$count",
            (true, false) => "/groups/{id}/transitiveMembers",
            (true, true) => "/groups/{id}/transitiveMembers/$count",
        }
    }
}

fn group_members(emulator: &Emulator, call: &Call, id: &str, asked: Members) -> Reply {
    let query = match advanced(call, &[], asked.count) {
        Ok(query) => query,
        Err(reply) => return reply,
    };
    let mut world = emulator.world();
    // A count costs what listing the collection costs: Graph documents no
    // cost of its own for `$count` (teams-platform.md §3).
    let cost = if asked.transitive { 5 } else { 3 };
    if let Err(reply) = limit(emulator, &mut world, directory_cost(call, cost)) {
        return reply;
    }
    let directory = &world.directory;
    let Some(group) = directory.find_group(id) else {
        return not_found("group", id);
    };
    let members = member_refs(directory, group, asked);
    if asked.count {
        return Reply::text(200, members.len().to_string());
    }
    let select = selection(call);
    let reply = page_of(emulator, call, "directoryObjects", &members, |member| {
        let (kind, mut item) = match *member {
            MemberRef::User(u) => (
                "#microsoft.graph.user",
                user_json(directory.user(u), select.as_deref()),
            ),
            MemberRef::Group(g) => (
                "#microsoft.graph.group",
                group_json(&directory.groups[g], &directory.domain, select.as_deref()),
            ),
        };
        if let Value::Object(map) = &mut item {
            map.retain(|_, v| !v.is_null());
            map.insert("@odata.type".to_owned(), json!(kind));
        }
        item
    });
    counted(reply, query.count, members.len())
}

/// The present members a path names: nested groups flattened when
/// transitive, only users when cast to them.
fn member_refs(directory: &Directory, group: usize, asked: Members) -> Vec<MemberRef> {
    let mut members: Vec<MemberRef> = if asked.transitive {
        directory.transitive_members(group)
    } else {
        directory.groups[group]
            .members
            .iter()
            .copied()
            .filter(|m| !matches!(m, MemberRef::User(u) if directory.user(*u).removed))
            .collect()
    };
    if asked.users_only {
        members.retain(|m| matches!(m, MemberRef::User(_)));
    }
    members
}

// ---- teams ----

fn with_team<R>(
    directory: &Directory,
    id: &str,
    f: impl FnOnce(usize, &crate::directory::Team) -> R,
) -> Option<R> {
    let group = directory.find_team(id)?;
    directory.groups[group]
        .team
        .as_ref()
        .map(|team| f(group, team))
}

fn get_team(emulator: &Emulator, id: &str) -> Reply {
    let mut world = emulator.world();
    if let Err(reply) = limit(emulator, &mut world, Limit::TeamRead(id)) {
        return reply;
    }
    let directory = &world.directory;
    with_team(directory, id, |g, team| {
        let group = &directory.groups[g];
        Reply::json(
            200,
            json!({
                "id": group.id,
                "displayName": group.display_name,
                "description": format!("{} (seeded by the Teams emulator)", group.display_name),
                "internalId": team.thread_id,
                "isArchived": false,
                "tenantId": emulator.tenant_id(),
            }),
        )
    })
    .unwrap_or_else(|| not_found("team", id))
}

fn team_members(emulator: &Emulator, call: &Call, id: &str) -> Reply {
    let mut world = emulator.world();
    if let Err(reply) = limit(emulator, &mut world, Limit::TeamMembersRead(id)) {
        return reply;
    }
    let directory = &world.directory;
    let Some(group) = directory.find_team(id) else {
        return not_found("team", id);
    };
    let owners = directory.groups[group]
        .team
        .as_ref()
        .map(|t| t.owners.clone())
        .unwrap_or_default();
    let members: Vec<usize> = directory.groups[group]
        .members
        .iter()
        .filter_map(|m| match m {
            MemberRef::User(u) if !directory.user(*u).removed => Some(*u),
            _ => None,
        })
        .collect();
    let team_id = directory.groups[group].id;
    page_of(emulator, call, "teams/members", &members, |&u| {
        let user = directory.user(u);
        json!({
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "id": URL_SAFE_NO_PAD.encode(format!("{team_id}##{}", user.id)),
            "roles": if owners.contains(&u) { vec!["owner"] } else { Vec::new() },
            "displayName": user.display_name,
            "userId": user.id,
            "email": user.mail,
            "tenantId": emulator.tenant_id(),
            "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
        })
    })
}

fn team_channels(emulator: &Emulator, id: &str) -> Reply {
    let mut world = emulator.world();
    if let Err(reply) = limit(emulator, &mut world, Limit::TeamMembersRead(id)) {
        return reply;
    }
    with_team(&world.directory, id, |_, team| {
        let items = team
            .channels
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "displayName": c.display_name,
                    "description": null,
                    "membershipType": c.membership.as_graph(),
                    "isFavoriteByDefault": c.id == team.thread_id,
                })
            })
            .collect();
        collection(&format!("teams('{id}')/channels"), items, None)
    })
    .unwrap_or_else(|| not_found("team", id))
}

fn list_team_apps(emulator: &Emulator, call: &Call, id: &str) -> Reply {
    let mut world = emulator.world();
    if let Err(reply) = limit(emulator, &mut world, Limit::TeamRead(id)) {
        return reply;
    }
    let directory = &world.directory;
    let matches = match app_matches(emulator, directory, call, "teamsApp/") {
        Ok(matches) => matches,
        Err(reply) => return reply,
    };
    with_team(directory, id, |_, team| {
        let items = match &team.installation {
            Some(installation) if matches => {
                vec![installation_json(emulator, directory, installation, call)]
            }
            _ => Vec::new(),
        };
        collection(&format!("teams('{id}')/installedApps"), items, None)
    })
    .unwrap_or_else(|| not_found("team", id))
}

fn install_for_team(emulator: &web::Data<Emulator>, call: &Call, id: &str) -> Reply {
    let app = match bound_app(call) {
        Ok(app) => app,
        Err(reply) => return reply,
    };
    let event = {
        let mut world = emulator.world();
        if let Err(reply) = limit(emulator, &mut world, Limit::TeamInstall(id)) {
            return reply;
        }
        let Some(group) = world.directory.find_team(id) else {
            return not_found("team", id);
        };
        if let Err(reply) = check_app_in_catalog(emulator, &world.directory, &app) {
            return reply;
        }
        match world.directory.install_for_team(group) {
            Ok(event) => event,
            Err(InstallError::AlreadyInstalled) => return conflict(),
            Err(InstallError::NotFound) => return not_found("team", id),
        }
    };
    emulator.stats.update(|s| s.installs += 1);
    botframework::announce(emulator.clone(), event, true);
    Reply::empty(200)
}

fn uninstall_for_team(emulator: &web::Data<Emulator>, id: &str, installation: &str) -> Reply {
    let event = {
        let mut world = emulator.world();
        if let Err(reply) = limit(emulator, &mut world, Limit::Install) {
            return reply;
        }
        let installed = with_team(&world.directory, id, |g, team| {
            (team.installation.as_deref() == Some(installation)).then_some(g)
        })
        .flatten();
        let Some(group) = installed else {
            return not_found("installedApp", installation);
        };
        match world.directory.uninstall_for_team(group) {
            Ok(event) => event,
            Err(_) => return not_found("installedApp", installation),
        }
    };
    emulator.stats.update(|s| s.uninstalls += 1);
    botframework::announce(emulator.clone(), event, false);
    Reply::empty(204)
}

// ---- $batch ----

#[derive(Deserialize)]
struct BatchRequest {
    requests: Vec<BatchItem>,
}

#[derive(Deserialize)]
struct BatchItem {
    id: String,
    method: String,
    url: String,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    headers: HashMap<String, String>,
}

fn batch(emulator: &web::Data<Emulator>, call: &Call) -> Reply {
    let request: BatchRequest = match serde_json::from_slice(call.body) {
        Ok(request) => request,
        Err(e) => {
            return Reply::graph_error(
                400,
                "BadRequest",
                format!(
                    "Invalid batch payload: {e}. Send {{\"requests\":[{{\"id\",\"method\",\"url\"}}]}}."
                ),
            );
        }
    };
    if request.requests.is_empty() || request.requests.len() > MAX_BATCH {
        return Reply::graph_error(
            400,
            "BadRequest",
            format!(
                "A batch holds 1 to {MAX_BATCH} requests; this one holds {}.",
                request.requests.len()
            ),
        );
    }
    let mut ids = std::collections::HashSet::new();
    if let Some(duplicate) = request.requests.iter().find(|r| !ids.insert(r.id.as_str())) {
        return Reply::graph_error(
            400,
            "BadRequest",
            format!(
                "Batch request ids must be unique; '{}' repeats.",
                duplicate.id
            ),
        );
    }
    let responses: Vec<Value> = request
        .requests
        .iter()
        .map(|item| batch_item(emulator, item))
        .collect();
    Reply::json(200, json!({"responses": responses}))
}

fn batch_item(emulator: &web::Data<Emulator>, item: &BatchItem) -> Value {
    let relative = item
        .url
        .trim_start_matches("https://graph.microsoft.com")
        .trim_start_matches("/v1.0");
    let relative = format!("/{}", relative.trim_start_matches('/'));
    let (path, query) = relative.split_once('?').unwrap_or((&relative, ""));
    let body = item
        .body
        .as_ref()
        .map(|b| b.to_string())
        .unwrap_or_default();
    let method = item.method.to_uppercase();
    let inner = Call {
        method: &method,
        path,
        query: parse_query(query),
        consistency_eventual: item
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("ConsistencyLevel") && v == "eventual"),
        max_page_size: None,
        body: body.as_bytes(),
    };
    let (label, reply) = if path == "/$batch" {
        (
            "POST /graph/v1.0/$batch".to_owned(),
            Reply::graph_error(400, "BadRequest", "A batch cannot contain another batch."),
        )
    } else {
        dispatch(emulator, &inner)
    };
    emulator.stats.request(&label, reply.status);
    let headers: Map<String, Value> = reply
        .headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let mut response = json!({"id": item.id, "status": reply.status, "headers": headers});
    if let Some(body) = reply.body {
        response["body"] = body;
    }
    response
}
