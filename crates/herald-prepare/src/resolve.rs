//! From audience to recipients: who they are, whether they can be reached
//! now, and the delivery row each one gets.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use futures_util::{StreamExt, stream};
use herald_domain::audience::Target;
use herald_domain::{DeliveryStatus, RecipientId, UserRef};
use herald_microsoft::{DeltaNext, GraphError, GraphUser};
use herald_store::{NotificationRecord, Person};

use crate::{PrepareError, Preparer};

/// A listed person and what Graph knows of them (`None`: unknown).
type Lookup = (UserRef, Option<GraphUser>);

/// A delivery row to create: recipient, status, reason.
pub type Row = (RecipientId, DeliveryStatus, Option<String>);

/// Who an audience is: people (de-duplicated) and channel posts.
pub struct ResolvedAudience {
    pub people: Vec<GraphUser>,
    pub channels: Vec<Row>,
}

fn unknown_team(team: &str, error: GraphError) -> PrepareError {
    match error {
        GraphError::Status {
            status: 404 | 400, ..
        } => PrepareError::Invalid {
            message: format!("there is no team {team}: check the team id"),
            code: "UnknownTeam",
        },
        other => graph_failure(other),
    }
}

fn graph_failure(error: GraphError) -> PrepareError {
    match error {
        GraphError::Auth(auth) => PrepareError::Invalid {
            message: auth.to_string(),
            code: "GraphCredentials",
        },
        other => PrepareError::Transient(other.into()),
    }
}

impl Preparer {
    /// `repeat`: an earlier run of this prepare got as far as writing
    /// deliveries, so the list was checked then; people missing now left
    /// since (their deliveries say what became of them), which is no
    /// reason to fail what is already under way.
    /// `everyone`: that target was queued already, so an otherwise empty
    /// audience is no error.
    pub(crate) async fn resolve(
        &self,
        record: &NotificationRecord,
        repeat: bool,
        everyone: bool,
    ) -> Result<ResolvedAudience, PrepareError> {
        let mut people: Vec<GraphUser> = Vec::new();
        let mut seen = HashSet::new();
        let mut channel_rows = Vec::new();
        for target in &record.audience.targets {
            let found = match target {
                Target::Users { source, users } => self.users(source, users, repeat).await?,
                // Queued page by page before (see `queue_everyone`).
                Target::Everyone => Vec::new(),
                Target::Group { id } => self.group(id).await?,
                Target::TeamMembers { team } => self.team_members(team).await?,
                Target::Channel { team, channel } => {
                    channel_rows.push(self.channel(team, channel.as_deref()).await?);
                    Vec::new()
                }
            };
            people.extend(found.into_iter().filter(|user| seen.insert(user.id)));
        }
        if people.is_empty() && channel_rows.is_empty() && !everyone {
            return Err(PrepareError::Invalid {
                message: "the audience resolved to nobody: its groups, teams or lists are empty"
                    .to_owned(),
                code: "EmptyAudience",
            });
        }
        Ok(ResolvedAudience {
            people,
            channels: channel_rows,
        })
    }

    /// Everyone, queued as it comes: with a delta link from an earlier
    /// broadcast, the changes since (usually one page) and then the
    /// directory cache in chunks; the first time (or after Graph said the
    /// link went stale, 410), page by page as the full sync runs.
    pub(crate) async fn queue_everyone(
        &self,
        record: &NotificationRecord,
        seen: &mut HashSet<uuid::Uuid>,
        found: &crate::Found,
    ) -> Result<(), PrepareError> {
        let tenant = &self.settings.tenant_id;
        let link = self
            .store
            .delta_link(tenant)
            .await
            .context("reading the delta link")?;
        let mut full_sync = link.is_none();
        let page_size = self.settings.delta_page_size;
        let mut page = match self
            .graph
            .users_delta_page(link.as_deref(), page_size)
            .await
        {
            Err(GraphError::Status { status: 410, .. }) => {
                tracing::info!("the directory delta link went stale; syncing everyone again");
                full_sync = true;
                self.store
                    .set_delta_link(tenant, None)
                    .await
                    .context("saving the delta link")?;
                self.graph.users_delta_page(None, page_size).await
            }
            other => other,
        }
        .map_err(graph_failure)?;
        loop {
            let removed: Vec<RecipientId> =
                page.removed.iter().map(|id| RecipientId(*id)).collect();
            self.store
                .mark_gone(&removed, "LeftTheDirectory")
                .await
                .context("marking departed people")?;
            self.queue_people(record, &page.users, seen, found).await?;
            match page.next {
                DeltaNext::More(next) => {
                    page = self
                        .graph
                        .users_delta_page(Some(&next), page_size)
                        .await
                        .map_err(graph_failure)?
                }
                DeltaNext::Done(delta_link) => {
                    self.store
                        .set_delta_link(tenant, Some(&delta_link))
                        .await
                        .context("saving the delta link")?;
                    break;
                }
            }
        }
        if !full_sync {
            let cached = self
                .store
                .everyone(tenant)
                .await
                .context("reading the cached directory")?;
            let people: Vec<GraphUser> = cached
                .into_iter()
                .map(|p| GraphUser {
                    id: p.id.0,
                    display_name: None,
                    user_principal_name: None,
                    user_type: p.user_type,
                    account_enabled: Some(p.account_enabled),
                })
                .collect();
            for chunk in people.chunks(1_000) {
                self.queue_people(record, chunk, seen, found).await?;
            }
        }
        Ok(())
    }

    async fn group(&self, id: &str) -> Result<Vec<GraphUser>, PrepareError> {
        self.graph
            .group_members(id)
            .await
            .map_err(|error| match error {
                GraphError::Status {
                    status: 404 | 400, ..
                } => PrepareError::Invalid {
                    message: format!("there is no group {id} in the directory: check the group id"),
                    code: "UnknownGroup",
                },
                other => graph_failure(other),
            })
    }

    async fn team_members(&self, team: &str) -> Result<Vec<GraphUser>, PrepareError> {
        let members = self
            .graph
            .team_members(team)
            .await
            .map_err(|error| unknown_team(team, error))?;
        Ok(members
            .into_iter()
            .map(|m| GraphUser {
                id: m.user_id,
                display_name: m.display_name,
                user_principal_name: m.email,
                user_type: Some(
                    if m.roles.iter().any(|r| r == "guest") {
                        "Guest"
                    } else {
                        "Member"
                    }
                    .to_owned(),
                ),
                account_enabled: None,
            })
            .collect())
    }

    /// A post in a team's channel (the General one by default): the app
    /// must be in the team, and is installed there when it is not.
    async fn channel(
        &self,
        team: &str,
        channel: Option<&str>,
    ) -> Result<(RecipientId, DeliveryStatus, Option<String>), PrepareError> {
        let channels = self
            .graph
            .team_channels(team)
            .await
            .map_err(|error| unknown_team(team, error))?;
        let chosen = match channel {
            Some(wanted) => channels.iter().find(|c| c.id == wanted),
            None => channels
                .iter()
                .find(|c| c.display_name.as_deref() == Some("General"))
                .or(channels.first()),
        }
        .ok_or_else(|| PrepareError::Invalid {
            message: format!(
                "team {team} has no channel {}: check the channel id",
                channel.unwrap_or("General")
            ),
            code: "UnknownChannel",
        })?;
        let id = RecipientId(uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("msteams:channel:{}", chosen.id).as_bytes(),
        ));
        let name = chosen.display_name.clone().unwrap_or_default();
        self.store
            .upsert_channel(
                id,
                &self.settings.tenant_id,
                team,
                &chosen.id,
                &name,
                &self.settings.service_url,
            )
            .await
            .context("saving a channel")?;
        // Stored before the install, so that the install activity Teams
        // then sends finds the channel known and the bot does not post a
        // welcome ahead of the announcement.
        let app = self.catalog_app().await?;
        self.graph
            .install_for_team(team, &app)
            .await
            .map_err(graph_failure)?;
        Ok((id, DeliveryStatus::Queued, None))
    }

    /// The app's catalog id, looked up once: it changes only when the app
    /// is removed from the catalog and uploaded again, and then installs
    /// fail with 404 and the next start looks it up anew. A failed lookup is
    /// not remembered.
    pub(crate) async fn catalog_app(&self) -> Result<String, PrepareError> {
        self.catalog
            .get_or_try_init(|| self.look_up_catalog_app())
            .await
            .cloned()
    }

    async fn look_up_catalog_app(&self) -> Result<String, PrepareError> {
        self.graph
            .catalog_app_id(&self.settings.manifest_id)
            .await
            .map_err(graph_failure)?
            .ok_or_else(|| PrepareError::Invalid {
                message: format!(
                    "Herald's Teams app (manifest id {}) is not in the tenant's app catalog: upload it in the Teams admin center, then send again",
                    self.settings.manifest_id
                ),
                code: "AppNotInCatalog",
            })
    }

    /// Looks up every listed person; any unknown entry fails the whole
    /// notification, naming the entries, so nothing half-sends.
    async fn users(
        &self,
        source: &str,
        users: &[UserRef],
        repeat: bool,
    ) -> Result<Vec<GraphUser>, PrepareError> {
        // Twenty people per `$batch` request: one round trip instead of twenty.
        let chunks: Vec<Vec<UserRef>> = users.chunks(20).map(<[UserRef]>::to_vec).collect();
        let batches: Vec<Result<Vec<Lookup>, GraphError>> = stream::iter(chunks)
            .map(|chunk| {
                let graph = self.graph.clone();
                async move {
                    let keys: Vec<String> = chunk.iter().map(ToString::to_string).collect();
                    let found = graph.users_batch(&keys).await?;
                    Ok(chunk.into_iter().zip(found).collect())
                }
            })
            .buffered(self.settings.graph_concurrency.max(1))
            .collect()
            .await;
        let mut lookups = Vec::with_capacity(users.len());
        for batch in batches {
            lookups.extend(batch.map_err(graph_failure)?);
        }
        let mut found = Vec::with_capacity(lookups.len());
        let mut unknown = Vec::new();
        for (user, lookup) in lookups {
            match lookup {
                Some(graph_user) => found.push(graph_user),
                None => unknown.push(user.to_string()),
            }
        }
        if repeat && !unknown.is_empty() {
            tracing::info!(
                left = unknown.len(),
                "people on the list left since the first attempt"
            );
        } else if !unknown.is_empty() {
            let shown: Vec<&str> = unknown.iter().take(20).map(String::as_str).collect();
            return Err(PrepareError::Invalid {
                message: format!(
                    "{} of the {} people in {source} are not in the directory: {}{}. Correct or remove them and send again; nothing was sent.",
                    unknown.len(),
                    users.len(),
                    shown.join(", "),
                    if unknown.len() > shown.len() {
                        ", ..."
                    } else {
                        ""
                    }
                ),
                code: "UnknownRecipients",
            });
        }
        Ok(found)
    }

    /// The rows of some people: skipped, queued (a known conversation) or
    /// pending (a chat to find, maybe an install first).
    pub(crate) async fn rows(
        &self,
        record: &NotificationRecord,
        people: &[GraphUser],
    ) -> Result<Vec<Row>, PrepareError> {
        // People from the directory cache (everyone) are stored already;
        // only those Graph just described are written.
        let persons: Vec<Person> = people
            .iter()
            .filter(|u| u.user_principal_name.is_some())
            .map(|u| self.person(u))
            .collect();
        for chunk in persons.chunks(5_000) {
            self.store
                .upsert_people(chunk)
                .await
                .context("saving people")?;
        }
        let ids: Vec<RecipientId> = people.iter().map(|u| RecipientId(u.id)).collect();
        let stored: HashMap<RecipientId, herald_store::StoredPerson> = self
            .store
            .people(&ids)
            .await
            .context("reading known people")?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let mut rows = Vec::with_capacity(people.len());
        for user in people {
            let id = RecipientId(user.id);
            let known = stored.get(&id);
            if let Some(reason) = skip_reason(user, known, record.content.critical) {
                rows.push((id, DeliveryStatus::Skipped, Some(reason.to_owned())));
            } else if known.is_some_and(|p| p.conversation_id.is_some() && p.installed && !p.gone) {
                rows.push((id, DeliveryStatus::Queued, None));
            } else {
                rows.push((id, DeliveryStatus::Pending, None));
            }
        }
        Ok(rows)
    }

    fn person(&self, user: &GraphUser) -> Person {
        Person {
            id: RecipientId(user.id),
            user_principal_name: user.user_principal_name.clone().unwrap_or_default(),
            display_name: user.display_name.clone().unwrap_or_default(),
            user_type: user
                .user_type
                .clone()
                .unwrap_or_else(|| "Member".to_owned()),
            account_enabled: user.account_enabled.unwrap_or(true),
            tenant_id: self.settings.tenant_id.clone(),
            conversation_id: None,
            service_url: None,
        }
    }

    /// Finds the 1:1 chat of people Herald has no conversation with,
    /// installing the app for those who lack it.
    /// Installs the app for a person (409: it was there) and takes the chat
    /// from whichever comes first: the install activity Teams sends the bot,
    /// which stores it, or Graph. Waiting briefly for the bot saves two
    /// Graph reads per person, and Graph's read limit is the tighter one.
    pub(crate) async fn chat_for(&self, user: uuid::Uuid, app: &str) -> Result<Chat, GraphError> {
        let installed_now = self.graph.install_for_user(user, app).await?;
        if installed_now && self.conversation_from_bot(RecipientId(user)).await {
            return Ok(Chat::FromBot);
        }
        chat_from_graph(&self.graph, user, app).await
    }

    /// Waits up to two seconds for the bot to store the person's
    /// conversation. Without a bot endpoint (no `herald web` running) the
    /// wait would only slow installs, so after three waits in vain it stops.
    async fn conversation_from_bot(&self, user: RecipientId) -> bool {
        use std::sync::atomic::Ordering;
        if self.bot_misses.load(Ordering::Relaxed) >= 3 {
            return false;
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while tokio::time::Instant::now() < deadline {
            let stored = self.store.people(&[user]).await.unwrap_or_default();
            if stored
                .first()
                .is_some_and(|p| p.conversation_id.is_some() && p.installed && !p.gone)
            {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.bot_misses.fetch_add(1, Ordering::Relaxed);
        false
    }

    pub(crate) async fn find_conversations(
        &self,
        users: Vec<RecipientId>,
        app: &str,
    ) -> Result<Vec<Row>, PrepareError> {
        let chats: Vec<(uuid::Uuid, Result<Chat, GraphError>)> = stream::iter(users)
            .map(|user| async move { (user.0, self.chat_for(user.0, app).await) })
            .buffered(self.settings.graph_concurrency.max(1))
            .collect()
            .await;
        self.chat_rows(chats).await
    }

    /// The delivery rows of people whose chat was looked for; stores the
    /// chats Graph gave.
    pub(crate) async fn chat_rows(
        &self,
        chats: Vec<(uuid::Uuid, Result<Chat, GraphError>)>,
    ) -> Result<Vec<Row>, PrepareError> {
        let mut rows = Vec::with_capacity(chats.len());
        let mut found = Vec::new();
        for (user, chat) in chats {
            let chat = match chat {
                // Graph refused this one person (e.g. they left meanwhile):
                // their delivery fails with the reason, the rest go on.
                Err(GraphError::Status { status, code, .. })
                    if (400..500).contains(&status) && status != 401 && status != 429 =>
                {
                    rows.push((
                        RecipientId(user),
                        DeliveryStatus::Failed,
                        Some(format!("Graph{status}{code}")),
                    ));
                    continue;
                }
                other => other.map_err(graph_failure)?,
            };
            match chat {
                Chat::FromBot => rows.push((RecipientId(user), DeliveryStatus::Queued, None)),
                Chat::FromGraph(chat) => {
                    found.push((RecipientId(user), chat));
                    rows.push((RecipientId(user), DeliveryStatus::Queued, None));
                }
                Chat::None => rows.push((
                    RecipientId(user),
                    DeliveryStatus::Failed,
                    Some("NoChatAfterInstall".to_owned()),
                )),
            }
        }
        self.store
            .set_conversations(&found, &self.settings.service_url)
            .await
            .context("saving conversation ids")?;
        Ok(rows)
    }
}

/// How a person's chat with the bot was found.
pub(crate) enum Chat {
    /// The bot stored it from the install activity Teams sent.
    FromBot,
    FromGraph(String),
    /// Graph shows no installation even after installing.
    None,
}

/// The chat through Graph: the installation, then its chat.
async fn chat_from_graph(
    graph: &herald_microsoft::Graph,
    user: uuid::Uuid,
    app: &str,
) -> Result<Chat, GraphError> {
    match graph.user_installation(user, app).await? {
        Some(installation) => Ok(Chat::FromGraph(
            graph.installation_chat(user, &installation).await?,
        )),
        None => Ok(Chat::None),
    }
}

/// Guests and disabled accounts are never sent to; people who opted out get
/// only critical announcements.
fn skip_reason(
    user: &GraphUser,
    known: Option<&herald_store::StoredPerson>,
    critical: bool,
) -> Option<&'static str> {
    if user.user_type.as_deref() == Some("Guest") {
        return Some("Guest");
    }
    if user.account_enabled == Some(false) {
        return Some("AccountDisabled");
    }
    if !critical && known.is_some_and(|p| p.opted_out) {
        return Some("OptedOut");
    }
    None
}
