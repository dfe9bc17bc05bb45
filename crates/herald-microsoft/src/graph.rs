//! Microsoft Graph: the calls the prepare stage makes. Every call is paced
//! under Graph's documented limit for its kind (teams-platform.md §3), so
//! that Herald does not learn the limits by being refused; 429 and 5xx
//! answers are still retried here, honouring Retry-After, a bounded number
//! of times, and a 429 slows that kind of call down for every worker.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::pace::{Limit, Throttle, Throttles};
use crate::retry_after;
use crate::tokens::{AuthError, Scope, TokenCache};

/// The kinds of Graph call that Graph limits separately (teams-platform.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GraphCall {
    /// POST installedApps (users and teams).
    Install,
    /// GET installedApps and their chat.
    AppRead,
    /// GET teams, their channels and installed apps.
    TeamRead,
    /// GET team members.
    TeamMembers,
    /// Directory reads (users, groups, delta, the app catalog), weighed by
    /// cost: the number is the call's units.
    Directory(u32),
}

impl GraphCall {
    fn name(self) -> &'static str {
        match self {
            Self::Install => "install",
            Self::AppRead => "app-read",
            Self::TeamRead => "team-read",
            Self::TeamMembers => "team-members",
            Self::Directory(_) => "directory",
        }
    }

    fn cost(self) -> u32 {
        match self {
            Self::Directory(units) => units.max(1),
            _ => 1,
        }
    }
}

/// Graph's limits per app and tenant: calls a second (directory reads: cost
/// units a second). The defaults are teams-platform.md §3's; the directory
/// budget is a tenant's of over 500 people (8,000 units per 10 s): smaller
/// tenants have a smaller budget but also fewer people to look up, and
/// Graph's 10-second bucket absorbs them.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphLimits {
    pub installs: f64,
    pub app_reads: f64,
    pub team_reads: f64,
    pub team_member_reads: f64,
    pub directory_units: f64,
    /// Calls a second on any one team, whatever their kind.
    pub per_team: f64,
    /// Share of each limit left unused.
    pub headroom: f64,
}

impl Default for GraphLimits {
    fn default() -> Self {
        Self {
            installs: 30.0,
            app_reads: 30.0,
            team_reads: 30.0,
            team_member_reads: 60.0,
            directory_units: 800.0,
            per_team: 4.0,
            headroom: 0.01,
        }
    }
}

/// The throttles Graph calls wait on, shared with the rate sharing that
/// splits each limit between the prepare-workers.
#[derive(Clone)]
pub struct GraphPacing {
    pub throttles: Arc<Throttles>,
    pub limits: GraphLimits,
    pub tenant: String,
}

impl GraphPacing {
    fn throttle(&self, call: GraphCall) -> Arc<Throttle> {
        let limits = &self.limits;
        let limit = match call {
            GraphCall::Install => limits.installs,
            GraphCall::AppRead => limits.app_reads,
            GraphCall::TeamRead => limits.team_reads,
            GraphCall::TeamMembers => limits.team_member_reads,
            GraphCall::Directory(_) => limits.directory_units,
        };
        self.throttles.get(&Limit {
            key: format!("graph-{}:{}", call.name(), self.tenant),
            limit,
            ceiling: limit * (1.0 - limits.headroom),
        })
    }

    /// The throttle of one team (Graph's 4 calls a second on a team or
    /// channel), taken besides the throttle of the call's kind.
    fn team_throttle(&self, team: &str) -> Arc<Throttle> {
        let limit = self.limits.per_team;
        self.throttles.get(&Limit {
            key: format!("graph-team:{}:{team}", self.tenant),
            limit,
            ceiling: limit * (1.0 - self.limits.headroom),
        })
    }
}

/// The team a call is made on: Graph counts the per-team limit on every
/// call under `/teams/{id}`, whatever its kind, and next links keep the
/// path, so the URL tells.
fn team_in(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("/v1.0/teams/")?;
    let team = rest.split(['/', '?']).next()?;
    (!team.is_empty()).then_some(team)
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("Graph answered {status} {code}: {message}")]
    Status {
        status: u16,
        code: String,
        message: String,
    },
    #[error("Graph kept throttling after {attempts} attempts")]
    Throttled { attempts: u32 },
    #[error("cannot reach Graph: {0}")]
    Unreachable(String),
}

impl GraphError {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphUser {
    pub id: uuid::Uuid,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub user_type: Option<String>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
}

#[derive(Deserialize)]
struct Collection<T> {
    value: Vec<T>,
}

#[derive(Deserialize)]
struct Page<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

/// A page asked with `$count=true`.
#[derive(Deserialize)]
struct CountedPage<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.count")]
    count: Option<u64>,
}

#[derive(Deserialize)]
struct DeltaPage {
    value: Vec<serde_json::Value>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

/// One page of a delta round, and where to go from it.
#[derive(Debug, Clone)]
pub struct DeltaStep {
    pub users: Vec<GraphUser>,
    pub removed: Vec<uuid::Uuid>,
    pub next: DeltaNext,
}

#[derive(Debug, Clone)]
pub enum DeltaNext {
    /// More pages: the next link.
    More(String),
    /// The round is complete: the link the next round starts from.
    Done(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamMember {
    pub user_id: uuid::Uuid,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub membership_type: ChannelMembership,
}

/// Who sees a channel's posts: a post in a private or shared channel does
/// not reach the whole team. Graph documents `standard` as the default,
/// so a channel that does not say is standard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChannelMembership {
    #[default]
    Standard,
    Private,
    Shared,
    /// A type newer than this code (Graph's `unknownFutureValue` and after).
    #[serde(other)]
    Other,
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// The first page of a group search, and how many groups match in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupSearch {
    pub groups: Vec<FoundGroup>,
    /// Every match (`@odata.count`); may exceed `groups.len()`.
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundGroup {
    pub id: String,
    pub display_name: String,
    /// The group is a team (`resourceProvisioningOptions` holds `Team`).
    pub is_team: bool,
    /// A Microsoft 365 group (`groupTypes` holds `Unified`).
    pub unified: bool,
    pub mail_enabled: bool,
    pub security_enabled: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupItem {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    group_types: Vec<String>,
    #[serde(default)]
    mail_enabled: Option<bool>,
    #[serde(default)]
    security_enabled: Option<bool>,
    #[serde(default)]
    resource_provisioning_options: Vec<String>,
}

impl From<GroupItem> for FoundGroup {
    fn from(item: GroupItem) -> Self {
        let holds =
            |list: &[String], wanted: &str| list.iter().any(|v| v.eq_ignore_ascii_case(wanted));
        Self {
            is_team: holds(&item.resource_provisioning_options, "Team"),
            unified: holds(&item.group_types, "Unified"),
            id: item.id,
            display_name: item.display_name.unwrap_or_default(),
            mail_enabled: item.mail_enabled.unwrap_or(false),
            security_enabled: item.security_enabled.unwrap_or(false),
        }
    }
}

#[derive(Deserialize)]
struct BatchAnswer {
    responses: Vec<BatchItem>,
}

#[derive(Deserialize)]
struct BatchItem {
    id: String,
    status: u16,
    #[serde(default)]
    headers: std::collections::HashMap<String, String>,
    #[serde(default)]
    body: serde_json::Value,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorDetail,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

const MAX_ATTEMPTS: u32 = 6;
/// 429s one call may meet before giving up: throttling is expected under
/// load and honoured, so the bound is generous.
const MAX_THROTTLES: u32 = 60;
pub const USER_SELECT: &str = "id,displayName,userPrincipalName,userType,accountEnabled";
const GROUP_SELECT: &str =
    "id,displayName,groupTypes,mailEnabled,securityEnabled,resourceProvisioningOptions";
/// Graph's largest page (teams-platform.md §4).
const MAX_PAGE: usize = 999;
/// The groups that are teams (teams-platform.md §10).
const TEAMS_FILTER: &str = "resourceProvisioningOptions/Any(x:x eq 'Team')";
/// Graph serves `$search`, `$count` and some filters only with this header
/// (teams-platform.md §10).
const EVENTUAL: (&str, &str) = ("ConsistencyLevel", "eventual");

pub struct Graph {
    http: reqwest::Client,
    tokens: Arc<TokenCache>,
    /// `https://graph.microsoft.com/v1.0`, or the emulator's.
    base: String,
    pacing: GraphPacing,
}

impl Graph {
    pub fn new(
        http: reqwest::Client,
        tokens: Arc<TokenCache>,
        graph_url: &str,
        pacing: GraphPacing,
    ) -> Self {
        Self {
            http,
            tokens,
            base: format!("{}/v1.0", graph_url.trim_end_matches('/')),
            pacing,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get<T: DeserializeOwned>(&self, kind: GraphCall, path: &str) -> Result<T, GraphError> {
        self.call(kind, reqwest::Method::GET, path, None)
            .await?
            .json_or_error()
            .await
    }

    /// A GET that is an advanced query, which Graph answers only with
    /// `ConsistencyLevel: eventual`.
    async fn get_advanced(&self, kind: GraphCall, path: &str) -> Result<Answer, GraphError> {
        self.call_url(
            kind,
            reqwest::Method::GET,
            &self.url(path),
            None,
            &[EVENTUAL],
        )
        .await
    }

    /// Every item of a paged collection, following `@odata.nextLink`.
    async fn get_all<T: DeserializeOwned>(
        &self,
        kind: GraphCall,
        path: &str,
    ) -> Result<Vec<T>, GraphError> {
        let mut items = Vec::new();
        let mut next = Some(self.url(path));
        while let Some(url) = next {
            let page: Page<T> = self
                .call_url(kind, reqwest::Method::GET, &url, None, &[])
                .await?
                .json_or_error()
                .await?;
            items.extend(page.value);
            next = page.next_link;
        }
        Ok(items)
    }

    async fn call(
        &self,
        kind: GraphCall,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, GraphError> {
        self.call_url(kind, method, &self.url(path), body, &[])
            .await
    }

    /// One Graph call with retries, each paced under the limit of its kind.
    /// A 429 pauses that kind of call for Retry-After (so concurrent callers
    /// do not keep taking the freed slots from each other), slows it down
    /// for every worker, and is retried up to a generous bound; 502/503/504
    /// and no answer back off exponentially, a few times.
    async fn call_url(
        &self,
        kind: GraphCall,
        method: reqwest::Method,
        url: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, GraphError> {
        let throttle = self.pacing.throttle(kind);
        let team = team_in(url).map(|team| self.pacing.team_throttle(team));
        let mut backoff = ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .with_jitter()
            .without_max_times()
            .build();
        let (mut failures, mut throttles) = (0, 0);
        let mut refreshed = false;
        loop {
            throttle.acquire_n(kind.cost()).await;
            if let Some(team) = &team {
                team.acquire().await;
            }
            let token = self.tokens.token(Scope::Graph).await?;
            let mut request = self.http.request(method.clone(), url).bearer_auth(token);
            if let Some(body) = body {
                request = request.json(body);
            }
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => {
                    failures += 1;
                    if failures >= MAX_ATTEMPTS {
                        return Err(GraphError::Unreachable(error.to_string()));
                    }
                    tracing::debug!(error = %herald_domain::chain(&error), url, "Graph unreachable; retrying");
                    tokio::time::sleep(backoff.next().unwrap_or_default()).await;
                    continue;
                }
            };
            let status = response.status().as_u16();
            if status == 429 {
                throttles += 1;
                if throttles >= MAX_THROTTLES {
                    return Err(GraphError::Throttled {
                        attempts: throttles,
                    });
                }
                let wait = retry_after(response.headers()).unwrap_or(Duration::from_secs(1));
                tracing::debug!(url, ?wait, "Graph throttled; pausing");
                throttle.throttled(wait);
                if let Some(team) = &team {
                    team.throttled(wait);
                }
                continue;
            }
            if (502..=504).contains(&status) && failures + 1 < MAX_ATTEMPTS {
                failures += 1;
                // The backoff moves on either way, so a later failure
                // without Retry-After still waits longer.
                let next = backoff.next().unwrap_or_default();
                let wait = retry_after(response.headers()).unwrap_or(next);
                tokio::time::sleep(wait).await;
                continue;
            }
            if status == 401 && !refreshed {
                refreshed = true;
                self.tokens.invalidate(Scope::Graph).await;
                continue;
            }
            return Ok(Answer { response });
        }
    }

    /// A user by Entra object id or user principal name; `None` when Graph
    /// does not know them.
    pub async fn user(&self, key: &str) -> Result<Option<GraphUser>, GraphError> {
        let path = format!("/users/{}?$select={USER_SELECT}", encode(key));
        match self.get::<GraphUser>(GraphCall::Directory(1), &path).await {
            Ok(user) => Ok(Some(user)),
            Err(GraphError::Status { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Up to 20 users in one `$batch` request, each by object id or UPN, in
    /// the order asked (`None` for people Graph does not know). Items that
    /// come back throttled or failed are asked again after their
    /// Retry-After.
    pub async fn users_batch(&self, keys: &[String]) -> Result<Vec<Option<GraphUser>>, GraphError> {
        let mut results: Vec<Option<Option<GraphUser>>> = vec![None; keys.len()];
        for _ in 0..MAX_THROTTLES {
            let pending: Vec<usize> = (0..keys.len()).filter(|&i| results[i].is_none()).collect();
            if pending.is_empty() {
                return Ok(results.into_iter().map(Option::flatten).collect());
            }
            let requests: Vec<serde_json::Value> = pending
                .iter()
                .map(|&i| serde_json::json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{}?$select={USER_SELECT}", encode(&keys[i]))}))
                .collect();
            let body = serde_json::json!({"requests": requests});
            // Graph limits each request of a batch as if it came alone.
            let cost = GraphCall::Directory(requests.len() as u32);
            let answer: BatchAnswer = self
                .call(cost, reqwest::Method::POST, "/$batch", Some(&body))
                .await?
                .json_or_error()
                .await?;
            let mut wait: Option<Duration> = None;
            for item in answer.responses {
                let Some(index) = item.id.parse::<usize>().ok().filter(|i| *i < keys.len()) else {
                    continue;
                };
                match item.status {
                    200 => results[index] = Some(serde_json::from_value(item.body).ok()),
                    404 => results[index] = Some(None),
                    429 | 502..=504 => {
                        let after = item
                            .headers
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("Retry-After"))
                            .and_then(|(_, v)| v.parse::<f64>().ok())
                            .map_or(Duration::from_secs(1), Duration::from_secs_f64);
                        wait = Some(wait.map_or(after, |w| w.max(after)));
                    }
                    status => {
                        let error: ErrorBody =
                            serde_json::from_value(item.body).unwrap_or_default();
                        return Err(GraphError::Status {
                            status,
                            code: error.error.code,
                            message: error.error.message,
                        });
                    }
                }
            }
            if let Some(wait) = wait {
                self.pacing.throttle(cost).throttled(wait);
            }
        }
        Err(GraphError::Throttled {
            attempts: MAX_THROTTLES,
        })
    }

    /// The app's id in the tenant catalog, from its manifest id.
    pub async fn catalog_app_id(&self, manifest_id: &str) -> Result<Option<String>, GraphError> {
        let path = format!(
            "/appCatalogs/teamsApps?$filter=externalId eq '{}'",
            encode(manifest_id)
        );
        let apps: Collection<IdOnly> = self.get(GraphCall::Directory(1), &path).await?;
        Ok(apps.value.into_iter().next().map(|a| a.id))
    }

    /// The installation of the app for a user, when there is one.
    pub async fn user_installation(
        &self,
        user: uuid::Uuid,
        teams_app_id: &str,
    ) -> Result<Option<String>, GraphError> {
        let path = format!(
            "/users/{user}/teamwork/installedApps?$expand=teamsApp&$filter=teamsApp/id eq '{}'",
            encode(teams_app_id)
        );
        let installations: Collection<IdOnly> = self.get(GraphCall::AppRead, &path).await?;
        Ok(installations.value.into_iter().next().map(|i| i.id))
    }

    /// Installs the app for a user (proactive install). `Ok(false)` when it
    /// was installed already (Graph's 409, observed rather than documented).
    pub async fn install_for_user(
        &self,
        user: uuid::Uuid,
        teams_app_id: &str,
    ) -> Result<bool, GraphError> {
        let body = serde_json::json!({
            "teamsApp@odata.bind": format!("{}/appCatalogs/teamsApps/{teams_app_id}", self.base),
        });
        let answer = self
            .call(
                GraphCall::Install,
                reqwest::Method::POST,
                &format!("/users/{user}/teamwork/installedApps"),
                Some(&body),
            )
            .await?;
        match answer.response.status().as_u16() {
            200..=299 => Ok(true),
            409 => Ok(false),
            _ => answer
                .json_or_error::<serde_json::Value>()
                .await
                .map(|_| false),
        }
    }

    /// One page of `users/delta`: from a link Graph gave (next or delta),
    /// or from the start. `page_size` (1 to 999) goes in `Prefer:
    /// odata.maxpagesize`; Graph keeps it in its links, and asking on every
    /// page is harmless and survives a link from an older round.
    pub async fn users_delta_page(
        &self,
        link: Option<&str>,
        page_size: u16,
    ) -> Result<DeltaStep, GraphError> {
        let url = link
            .map(str::to_owned)
            .unwrap_or_else(|| self.url(&format!("/users/delta?$select={USER_SELECT}")));
        let prefer = format!("odata.maxpagesize={page_size}");
        let page: DeltaPage = self
            .call_url(
                GraphCall::Directory(1),
                reqwest::Method::GET,
                &url,
                None,
                &[("Prefer", &prefer)],
            )
            .await?
            .json_or_error()
            .await?;
        let mut step = DeltaStep {
            users: Vec::new(),
            removed: Vec::new(),
            next: DeltaNext::Done(String::new()),
        };
        for item in page.value {
            if item.get("@removed").is_some() {
                if let Some(id) = item["id"].as_str().and_then(|i| i.parse().ok()) {
                    step.removed.push(id);
                }
            } else if let Ok(user) = serde_json::from_value::<GraphUser>(item) {
                step.users.push(user);
            }
        }
        step.next = match (page.next_link, page.delta_link) {
            (Some(link), _) => DeltaNext::More(link),
            (None, Some(delta_link)) => DeltaNext::Done(delta_link),
            (None, None) => {
                return Err(GraphError::Status {
                    status: 200,
                    code: "NoDeltaLink".to_owned(),
                    message: "the last delta page had no deltaLink".to_owned(),
                });
            }
        };
        Ok(step)
    }

    /// Everyone in a group, nested groups flattened (users only).
    pub async fn group_members(&self, group: &str) -> Result<Vec<GraphUser>, GraphError> {
        let path = format!(
            "/groups/{}/transitiveMembers?$select={USER_SELECT}&$top=999",
            encode(group)
        );
        let items: Vec<serde_json::Value> = self.get_all(GraphCall::Directory(4), &path).await?;
        Ok(items
            .into_iter()
            .filter(|item| item["@odata.type"] == "#microsoft.graph.user")
            .filter_map(|item| serde_json::from_value(item).ok())
            .collect())
    }

    pub async fn team_members(&self, team: &str) -> Result<Vec<TeamMember>, GraphError> {
        self.get_all(
            GraphCall::TeamMembers,
            &format!("/teams/{}/members", encode(team)),
        )
        .await
    }

    pub async fn team_channels(&self, team: &str) -> Result<Vec<Channel>, GraphError> {
        self.get_all(
            GraphCall::TeamMembers,
            &format!("/teams/{}/channels", encode(team)),
        )
        .await
    }

    /// Groups with words in their name starting with the words of `text`,
    /// for the audience picker: the first `top` (1 to 999) and how many
    /// match in all; `teams_only` keeps the teams. Text left blank once
    /// quotes and backslashes are taken out finds nothing, without a call.
    pub async fn search_groups(
        &self,
        text: &str,
        teams_only: bool,
        top: usize,
    ) -> Result<GroupSearch, GraphError> {
        let Some(words) = search_words(text) else {
            return Ok(GroupSearch::default());
        };
        let mut path = format!(
            "/groups?$search={}&$count=true&$select={GROUP_SELECT}&$top={}",
            encode(&format!("\"displayName:{words}\"")),
            top.clamp(1, MAX_PAGE)
        );
        if teams_only {
            path.push_str(&format!("&$filter={}", encode(TEAMS_FILTER)));
        }
        self.counted_groups(&path).await
    }

    /// The first `top` (1 to 999) teams of the tenant and how many there
    /// are, for looking through their channels.
    pub async fn teams(&self, top: usize) -> Result<GroupSearch, GraphError> {
        let path = format!(
            "/groups?$filter={}&$count=true&$select={GROUP_SELECT}&$top={}",
            encode(TEAMS_FILTER),
            top.clamp(1, MAX_PAGE)
        );
        self.counted_groups(&path).await
    }

    /// One page of a counted groups list (`$count=true`, advanced query).
    async fn counted_groups(&self, path: &str) -> Result<GroupSearch, GraphError> {
        // A groups list with $select: 2 units less 1 (teams-platform.md §3).
        let page: CountedPage<GroupItem> = self
            .get_advanced(GraphCall::Directory(1), path)
            .await?
            .json_or_error()
            .await?;
        Ok(GroupSearch {
            total: page.count.unwrap_or(page.value.len() as u64),
            groups: page.value.into_iter().map(FoundGroup::from).collect(),
        })
    }

    /// The people in a group, nested groups flattened. The cast to users
    /// leaves out the nested groups themselves, which Graph's plain
    /// `transitiveMembers/$count` would count too.
    pub async fn group_member_count(&self, group: &str) -> Result<u64, GraphError> {
        let path = format!(
            "/groups/{}/transitiveMembers/microsoft.graph.user/$count",
            encode(group)
        );
        // Costs what listing transitive members costs (5 units; no $select).
        self.get_advanced(GraphCall::Directory(5), &path)
            .await?
            .count_or_error()
            .await
    }

    /// Every user in the tenant, guests and disabled accounts included.
    pub async fn user_count(&self) -> Result<u64, GraphError> {
        // Costs what listing users costs (2 units; no $select).
        self.get_advanced(GraphCall::Directory(2), "/users/$count")
            .await?
            .count_or_error()
            .await
    }

    /// Makes sure the app is installed in a team (200, or 409 when it was).
    pub async fn install_for_team(&self, team: &str, teams_app_id: &str) -> Result<(), GraphError> {
        let installed: Vec<IdOnly> = self
            .get_all(
                GraphCall::TeamRead,
                &format!(
                    "/teams/{}/installedApps?$expand=teamsApp&$filter=teamsApp/id eq '{}'",
                    encode(team),
                    encode(teams_app_id)
                ),
            )
            .await?;
        if !installed.is_empty() {
            return Ok(());
        }
        let body = serde_json::json!({
            "teamsApp@odata.bind": format!("{}/appCatalogs/teamsApps/{teams_app_id}", self.base),
        });
        let answer = self
            .call(
                GraphCall::Install,
                reqwest::Method::POST,
                &format!("/teams/{}/installedApps", encode(team)),
                Some(&body),
            )
            .await?;
        match answer.response.status().as_u16() {
            200..=299 | 409 => Ok(()),
            _ => answer.json_or_error::<serde_json::Value>().await.map(drop),
        }
    }

    /// The 1:1 chat between the user and the bot: the conversation id.
    pub async fn installation_chat(
        &self,
        user: uuid::Uuid,
        installation: &str,
    ) -> Result<String, GraphError> {
        let path = format!(
            "/users/{user}/teamwork/installedApps/{}/chat",
            encode(installation)
        );
        let chat: IdOnly = self.get(GraphCall::AppRead, &path).await?;
        Ok(chat.id)
    }
}

/// A Graph answer that may still be an error.
struct Answer {
    response: reqwest::Response,
}

impl Answer {
    async fn json_or_error<T: DeserializeOwned>(self) -> Result<T, GraphError> {
        self.read(|bytes| serde_json::from_slice(bytes).map_err(|e| e.to_string()))
            .await
    }

    /// A `$count` answer: a bare number as text/plain.
    async fn count_or_error(self) -> Result<u64, GraphError> {
        self.read(parse_count).await
    }

    /// A successful answer's body through `parse`; an error answer as the
    /// error Graph gave.
    async fn read<T>(
        self,
        parse: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> Result<T, GraphError> {
        let status = self.response.status();
        let bytes = self
            .response
            .bytes()
            .await
            .map_err(|e| GraphError::Unreachable(e.to_string()))?;
        if status.is_success() {
            return parse(&bytes).map_err(|message| GraphError::Status {
                status: status.as_u16(),
                code: "UnexpectedBody".to_owned(),
                message,
            });
        }
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
        Err(GraphError::Status {
            status: status.as_u16(),
            code: body.error.code,
            message: body.error.message,
        })
    }
}

/// A byte order mark before the number is skipped: text/plain answers may
/// carry one.
fn parse_count(bytes: &[u8]) -> Result<u64, String> {
    let text = String::from_utf8_lossy(bytes);
    let number = text.trim_start_matches('\u{feff}').trim();
    number
        .parse()
        .map_err(|_| format!("expected a count, got {number:?}"))
}

/// Typed text made safe inside `"displayName:..."`: a quote would end the
/// clause and a backslash escape what follows, and Graph's tokenizer drops
/// both anyway, so they split words like spaces. `None` when no word is
/// left.
fn search_words(text: &str) -> Option<String> {
    let words: Vec<&str> = text
        .split(|c: char| c == '"' || c == '\\' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// Percent-encodes a path segment or a quoted filter value.
fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_under_a_team_name_it() {
        let base = "https://graph.microsoft.com/v1.0";
        assert_eq!(team_in(&format!("{base}/teams/t-1/channels")), Some("t-1"));
        assert_eq!(
            team_in(&format!("{base}/teams/t-2?$select=id")),
            Some("t-2")
        );
        assert_eq!(team_in(&format!("{base}/groups/g/members")), None);
        assert_eq!(team_in(&format!("{base}/teams")), None);
    }

    #[test]
    fn typed_search_text_keeps_its_words_and_loses_quotes_and_backslashes() {
        assert_eq!(
            search_words("  sales  team "),
            Some("sales team".to_owned())
        );
        assert_eq!(
            search_words("a\"b\\c OR \"displayName:x"),
            Some("a b c OR displayName:x".to_owned())
        );
        assert_eq!(search_words(" \" \\ "), None);
        assert_eq!(search_words(""), None);
    }

    #[test]
    fn a_count_is_a_bare_number_maybe_after_a_byte_order_mark() {
        assert_eq!(parse_count(b"42"), Ok(42));
        assert_eq!(parse_count("\u{feff}7\r\n".as_bytes()), Ok(7));
        assert!(parse_count(b"{\"value\":1}").is_err());
    }
}
