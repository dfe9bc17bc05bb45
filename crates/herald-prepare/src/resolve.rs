//! From audience to recipients: who they are, whether they can be reached
//! now, and the delivery row each one gets.

use std::collections::{HashMap, HashSet};

use futures_util::{StreamExt, stream};
use herald_domain::audience::Target;
use herald_domain::{DeliveryStatus, RecipientId, UserRef};
use herald_microsoft::{GraphError, GraphUser};
use herald_store::{NotificationRecord, Person};

use crate::{PrepareError, Preparer};

/// The delivery rows of a notification: recipient, status, reason.
pub struct Resolution {
    pub rows: Vec<(RecipientId, DeliveryStatus, Option<String>)>,
}

fn transient(error: impl Into<anyhow::Error>) -> PrepareError {
    PrepareError::Transient(error.into())
}

fn graph_failure(error: GraphError) -> PrepareError {
    match error {
        GraphError::Auth(auth) => PrepareError::Invalid {
            message: auth.to_string(),
            code: "GraphCredentials",
        },
        other => transient(other),
    }
}

impl Preparer {
    pub(crate) async fn resolve(
        &self,
        record: &NotificationRecord,
    ) -> Result<Resolution, PrepareError> {
        let mut people: Vec<GraphUser> = Vec::new();
        let mut seen = HashSet::new();
        for target in &record.audience.targets {
            let Target::Users { source, users } = target;
            for user in self.users(source, users).await? {
                if seen.insert(user.id) {
                    people.push(user);
                }
            }
        }
        if people.is_empty() {
            return Err(PrepareError::Invalid {
                message: "the audience resolved to nobody".to_owned(),
                code: "EmptyAudience",
            });
        }
        self.rows(record, people).await
    }

    /// Looks up every listed person; any unknown entry fails the whole
    /// notification, naming the entries, so nothing half-sends.
    async fn users(&self, source: &str, users: &[UserRef]) -> Result<Vec<GraphUser>, PrepareError> {
        let graph = &self.graph;
        let lookups: Vec<(UserRef, Result<Option<GraphUser>, GraphError>)> =
            stream::iter(users.iter().cloned())
                .map(|user| async move {
                    let found = graph.user(&user.to_string()).await;
                    (user, found)
                })
                .buffered(self.settings.graph_concurrency.max(1))
                .collect()
                .await;
        let mut found = Vec::with_capacity(lookups.len());
        let mut unknown = Vec::new();
        for (user, lookup) in lookups {
            match lookup.map_err(graph_failure)? {
                Some(graph_user) => found.push(graph_user),
                None => unknown.push(user.to_string()),
            }
        }
        if !unknown.is_empty() {
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

    async fn rows(
        &self,
        record: &NotificationRecord,
        people: Vec<GraphUser>,
    ) -> Result<Resolution, PrepareError> {
        let persons: Vec<Person> = people.iter().map(|u| self.person(u)).collect();
        self.store
            .upsert_people(&persons)
            .await
            .map_err(transient)?;
        let ids: Vec<RecipientId> = persons.iter().map(|p| p.id).collect();
        let stored: HashMap<RecipientId, herald_store::StoredPerson> = self
            .store
            .people(&ids)
            .await
            .map_err(transient)?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let mut rows = Vec::with_capacity(people.len());
        let mut unresolved = Vec::new();
        for user in &people {
            let id = RecipientId(user.id);
            let known = stored.get(&id);
            if let Some(reason) = skip_reason(user, known, record.content.critical) {
                rows.push((id, DeliveryStatus::Skipped, Some(reason.to_owned())));
            } else if known.is_some_and(|p| p.conversation_id.is_some() && !p.gone) {
                rows.push((id, DeliveryStatus::Queued, None));
            } else {
                unresolved.push(user.id);
            }
        }
        rows.extend(self.find_conversations(unresolved).await?);
        Ok(Resolution { rows })
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
            tenant_id: self.settings.tenant_id.clone(),
            conversation_id: None,
            service_url: None,
        }
    }

    /// Finds the 1:1 chat of people Herald has no conversation with,
    /// installing the app for those who lack it.
    async fn find_conversations(
        &self,
        users: Vec<uuid::Uuid>,
    ) -> Result<Vec<(RecipientId, DeliveryStatus, Option<String>)>, PrepareError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let app = self
            .graph
            .catalog_app_id(&self.settings.manifest_id)
            .await
            .map_err(graph_failure)?
            .ok_or_else(|| PrepareError::Invalid {
                message: format!(
                    "Herald's Teams app (manifest id {}) is not in the tenant's app catalog: upload it in the Teams admin center, then send again",
                    self.settings.manifest_id
                ),
                code: "AppNotInCatalog",
            })?;
        let graph = &self.graph;
        let app = &app;
        let chats: Vec<(uuid::Uuid, Result<Option<String>, GraphError>)> = stream::iter(users)
            .map(|user| async move { (user, chat_with(graph, user, app).await) })
            .buffered(self.settings.graph_concurrency.max(1))
            .collect()
            .await;
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
                Some(chat) => {
                    found.push((RecipientId(user), chat));
                    rows.push((RecipientId(user), DeliveryStatus::Queued, None));
                }
                None => rows.push((
                    RecipientId(user),
                    DeliveryStatus::Failed,
                    Some("NoChatAfterInstall".to_owned()),
                )),
            }
        }
        self.store
            .set_conversations(&found, &self.settings.service_url)
            .await
            .map_err(transient)?;
        Ok(rows)
    }
}

/// The chat between a person and the bot, installing the app for them
/// first when they lack it (Graph answers 409 when it is there already).
/// `None` when Graph shows no installation even after installing.
async fn chat_with(
    graph: &herald_microsoft::Graph,
    user: uuid::Uuid,
    app: &str,
) -> Result<Option<String>, GraphError> {
    let installation = match graph.user_installation(user, app).await? {
        Some(installation) => installation,
        None => {
            graph.install_for_user(user, app).await?;
            match graph.user_installation(user, app).await? {
                Some(installation) => installation,
                None => return Ok(None),
            }
        }
    };
    graph.installation_chat(user, &installation).await.map(Some)
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
