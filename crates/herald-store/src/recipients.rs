use herald_domain::RecipientId;

use crate::{Result, Store};

/// A person as Graph describes them, with what Herald knows of their chat.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: RecipientId,
    pub user_principal_name: String,
    pub display_name: String,
    pub user_type: String,
    pub account_enabled: bool,
    pub tenant_id: String,
    /// Set when Herald learned the chat (Graph or an install activity).
    pub conversation_id: Option<String>,
    pub service_url: Option<String>,
}

/// What Herald has stored for a person.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredPerson {
    #[sqlx(try_from = "uuid::Uuid")]
    pub id: RecipientId,
    pub conversation_id: Option<String>,
    pub service_url: Option<String>,
    pub blocked: bool,
    pub opted_out: bool,
    pub gone: bool,
    /// False after an uninstall, until the app is installed again.
    pub installed: bool,
}

impl Store {
    /// Inserts or refreshes people by Entra object id. A known conversation
    /// is kept when the update brings none; a person seen again in the
    /// directory is no longer gone.
    pub async fn upsert_people(&self, people: &[Person]) -> Result<()> {
        if people.is_empty() {
            return Ok(());
        }
        let ids: Vec<uuid::Uuid> = people.iter().map(|p| p.id.0).collect();
        let upns: Vec<&str> = people
            .iter()
            .map(|p| p.user_principal_name.as_str())
            .collect();
        let names: Vec<&str> = people.iter().map(|p| p.display_name.as_str()).collect();
        let types: Vec<&str> = people.iter().map(|p| p.user_type.as_str()).collect();
        let enabled: Vec<bool> = people.iter().map(|p| p.account_enabled).collect();
        let tenants: Vec<&str> = people.iter().map(|p| p.tenant_id.as_str()).collect();
        let conversations: Vec<Option<&str>> = people
            .iter()
            .map(|p| p.conversation_id.as_deref())
            .collect();
        let service_urls: Vec<Option<&str>> =
            people.iter().map(|p| p.service_url.as_deref()).collect();
        sqlx::query(
            "insert into recipients (id, kind, aad_object_id, user_principal_name, display_name, user_type, \
                 tenant_id, conversation_id, service_url, installed, account_enabled) \
             select id, 'person', id, upn, name, kind, tenant, conversation, service_url, conversation is not null, enabled \
             from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bool[]) \
                 as p(id, upn, name, kind, tenant, conversation, service_url, enabled) \
             order by id \
             on conflict (id) do update set user_principal_name = excluded.user_principal_name, \
                 display_name = excluded.display_name, user_type = excluded.user_type, \
                 tenant_id = excluded.tenant_id, gone = false, account_enabled = excluded.account_enabled, \
                 conversation_id = coalesce(excluded.conversation_id, recipients.conversation_id), \
                 service_url = coalesce(excluded.service_url, recipients.service_url), \
                 installed = recipients.installed or excluded.installed, updated_at = now()",
        )
        .bind(&ids)
        .bind(&upns)
        .bind(&names)
        .bind(&types)
        .bind(&tenants)
        .bind(&conversations)
        .bind(&service_urls)
        .bind(&enabled)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn people(&self, ids: &[RecipientId]) -> Result<Vec<StoredPerson>> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(|i| i.0).collect();
        Ok(sqlx::query_as(
            "select id, conversation_id, service_url, blocked, opted_out, gone, installed from recipients where id = any($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Store {
    /// Stores conversations found for people (their chat with the bot).
    pub async fn set_conversations(
        &self,
        found: &[(RecipientId, String)],
        service_url: &str,
    ) -> Result<()> {
        if found.is_empty() {
            return Ok(());
        }
        let ids: Vec<uuid::Uuid> = found.iter().map(|f| f.0.0).collect();
        let chats: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
        sqlx::query(
            "update recipients r set conversation_id = u.chat, service_url = $3, installed = true, gone = false, updated_at = now() \
             from unnest($1::uuid[], $2::text[]) as u(id, chat) where r.id = u.id",
        )
        .bind(&ids)
        .bind(&chats)
        .bind(service_url)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// A person of the organisation as the directory cache holds them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CachedPerson {
    #[sqlx(try_from = "uuid::Uuid")]
    pub id: RecipientId,
    pub user_type: Option<String>,
    pub account_enabled: bool,
}

impl Store {
    /// Everyone in the tenant's directory cache who has not left.
    pub async fn everyone(&self, tenant: &str) -> Result<Vec<CachedPerson>> {
        Ok(sqlx::query_as(
            "select id, user_type, account_enabled from recipients where tenant_id = $1 and kind = 'person' and not gone order by id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?)
    }

    /// People the directory says left: no longer part of everyone.
    pub async fn mark_gone(&self, ids: &[RecipientId], reason: &str) -> Result<()> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(|i| i.0).collect();
        sqlx::query(
            "update recipients set gone = true, gone_at = now(), conversation_id = null, status_reason = $2, updated_at = now() \
             where id = any($1)",
        )
        .bind(&ids)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delta_link(&self, tenant: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("select delta_link from directory_sync where tenant_id = $1")
                .bind(tenant)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Remembers where the next directory sync starts; `None` forgets it
    /// (after Graph said the link went stale).
    pub async fn set_delta_link(&self, tenant: &str, link: Option<&str>) -> Result<()> {
        match link {
            Some(link) => sqlx::query(
                "insert into directory_sync (tenant_id, delta_link) values ($1, $2) \
                 on conflict (tenant_id) do update set delta_link = excluded.delta_link, synced_at = now()",
            )
            .bind(tenant)
            .bind(link),
            None => sqlx::query("delete from directory_sync where tenant_id = $1").bind(tenant),
        }
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A team channel as a recipient: its conversation is the channel id.
    pub async fn upsert_channel(
        &self,
        id: RecipientId,
        tenant: &str,
        team: &str,
        channel: &str,
        name: &str,
        service_url: &str,
    ) -> Result<()> {
        sqlx::query(
            "insert into recipients (id, kind, display_name, tenant_id, team_id, channel_id, conversation_id, service_url, installed) \
             values ($1, 'channel', $2, $3, $4, $5, $5, $6, true) \
             on conflict (id) do update set display_name = excluded.display_name, conversation_id = excluded.conversation_id, \
                 service_url = excluded.service_url, installed = true, gone = false, updated_at = now()",
        )
        .bind(id.0)
        .bind(name)
        .bind(tenant)
        .bind(team)
        .bind(channel)
        .bind(service_url)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// What an install activity says about a person.
#[derive(Debug, Clone)]
pub struct InstallRecord {
    pub aad_object_id: uuid::Uuid,
    pub teams_user_id: String,
    pub display_name: Option<String>,
    pub conversation_id: String,
    pub service_url: String,
    pub tenant_id: String,
    /// When Teams says it happened; older news never overrides newer.
    pub at: time::OffsetDateTime,
}

#[derive(Debug, Clone, Copy)]
pub struct InstallChange {
    /// The app was not installed for them before.
    pub newly_installed: bool,
    /// Herald installed it minutes ago to deliver an announcement.
    pub installed_by_herald: bool,
}

impl Store {
    /// Stores a person's conversation from an install activity. `None` when
    /// the activity is older than what is stored (nothing changes).
    pub async fn record_personal_install(
        &self,
        install: &InstallRecord,
    ) -> Result<Option<InstallChange>> {
        let previous: Option<(bool, Option<bool>)> = sqlx::query_as("select installed, herald_installed_at > now() - interval '10 minutes' as by_herald from recipients where id = $1")
            .bind(install.aad_object_id)
            .fetch_optional(&self.pool)
            .await?;
        let (was_installed, by_herald) = previous
            .map(|(installed, by_herald)| (installed, by_herald.unwrap_or(false)))
            .unwrap_or((false, false));
        let applied = sqlx::query(
            "insert into recipients (id, kind, aad_object_id, teams_user_id, display_name, tenant_id, conversation_id, \
                 service_url, installed, membership_at) \
             values ($1, 'person', $1, $2, $3, $4, $5, $6, true, $7) \
             on conflict (id) do update set teams_user_id = excluded.teams_user_id, \
                 display_name = coalesce(recipients.display_name, excluded.display_name), \
                 conversation_id = excluded.conversation_id, service_url = excluded.service_url, installed = true, \
                 gone = false, blocked = false, membership_at = excluded.membership_at, updated_at = now() \
             where recipients.membership_at is null or recipients.membership_at <= excluded.membership_at",
        )
        .bind(install.aad_object_id)
        .bind(&install.teams_user_id)
        .bind(&install.display_name)
        .bind(&install.tenant_id)
        .bind(&install.conversation_id)
        .bind(&install.service_url)
        .bind(install.at)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        Ok(applied.then_some(InstallChange {
            newly_installed: !was_installed,
            installed_by_herald: by_herald,
        }))
    }

    /// The app was removed: the conversation cannot be written to until a
    /// reinstall. Older news never overrides newer.
    pub async fn record_uninstall(
        &self,
        conversation_id: &str,
        at: time::OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(
            "update recipients set installed = false, membership_at = $2, updated_at = now() \
             where conversation_id = $1 and (membership_at is null or membership_at <= $2)",
        )
        .bind(conversation_id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores a team's General channel from an install activity; true when
    /// the app was not installed there before.
    pub async fn record_team_install(
        &self,
        team: &str,
        name: &str,
        tenant: &str,
        service_url: &str,
        at: time::OffsetDateTime,
    ) -> Result<bool> {
        let id = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("msteams:channel:{team}").as_bytes(),
        );
        let before: Option<bool> =
            sqlx::query_scalar("select installed from recipients where id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        sqlx::query(
            "insert into recipients (id, kind, display_name, tenant_id, team_id, channel_id, conversation_id, service_url, installed, membership_at) \
             values ($1, 'channel', $2, $3, $4, $4, $4, $5, true, $6) \
             on conflict (id) do update set display_name = excluded.display_name, service_url = excluded.service_url, \
                 installed = true, gone = false, membership_at = excluded.membership_at, updated_at = now() \
             where recipients.membership_at is null or recipients.membership_at <= excluded.membership_at",
        )
        .bind(id)
        .bind(name)
        .bind(tenant)
        .bind(team)
        .bind(service_url)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(before != Some(true))
    }

    pub async fn rename_team(&self, team: &str, name: &str) -> Result<()> {
        sqlx::query("update recipients set display_name = $2, updated_at = now() where kind = 'channel' and team_id = $1 and channel_id = $1")
            .bind(team)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `stop` and `start`. Returns false for someone Herald has never seen.
    pub async fn set_opted_out(&self, person: uuid::Uuid, opted_out: bool) -> Result<bool> {
        let done = sqlx::query(
            "update recipients set opted_out = $2, opted_out_at = case when $2 then now() else null end, updated_at = now() where id = $1",
        )
        .bind(person)
        .bind(opted_out)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Herald is about to install the app for these people itself.
    pub async fn mark_herald_installing(&self, people: &[RecipientId]) -> Result<()> {
        let ids: Vec<uuid::Uuid> = people.iter().map(|p| p.0).collect();
        sqlx::query("update recipients set herald_installed_at = now() where id = any($1)")
            .bind(&ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
