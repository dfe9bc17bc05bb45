//! The parts of an incoming activity Herald reads (teams-platform.md §6).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub timestamp: Option<time::OffsetDateTime>,
    pub service_url: String,
    pub channel_id: String,
    #[serde(default)]
    pub from: Option<Account>,
    pub conversation: Conversation,
    #[serde(default)]
    pub members_added: Vec<Account>,
    #[serde(default)]
    pub members_removed: Vec<Account>,
    #[serde(default)]
    pub recipient: Option<Account>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub channel_data: Option<ChannelData>,
    #[serde(default)]
    pub text: Option<String>,
    /// The invoke's name, e.g. `adaptiveCard/action`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    /// The activity (card) this one answers or reacts to.
    #[serde(default)]
    pub reply_to_id: Option<String>,
    #[serde(default)]
    pub reactions_added: Vec<Reaction>,
    #[serde(default)]
    pub reactions_removed: Vec<Reaction>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Reaction {
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: String,
    #[serde(default)]
    pub aad_object_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: String,
    #[serde(default)]
    pub conversation_type: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelData {
    #[serde(default)]
    pub tenant: Option<IdOnly>,
    #[serde(default)]
    pub team: Option<Team>,
    #[serde(default)]
    pub event_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdOnly {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

impl Activity {
    pub fn tenant(&self) -> Option<&str> {
        self.conversation.tenant_id.as_deref().or_else(|| {
            self.channel_data
                .as_ref()?
                .tenant
                .as_ref()
                .map(|t| t.id.as_str())
        })
    }

    /// Every tenant the activity names (conversation and channel data).
    pub fn named_tenants(&self) -> impl Iterator<Item = &str> {
        let in_channel_data = self
            .channel_data
            .as_ref()
            .and_then(|d| d.tenant.as_ref())
            .map(|t| t.id.as_str());
        self.conversation
            .tenant_id
            .as_deref()
            .into_iter()
            .chain(in_channel_data)
    }

    /// The conversation without the thread of a channel post: activities
    /// about a channel post are addressed to `{channel};messageid={post}`,
    /// and the post belongs to the channel.
    pub fn conversation_without_thread(&self) -> &str {
        let id = self.conversation.id.as_str();
        id.split_once(";messageid=")
            .map_or(id, |(channel, _)| channel)
    }

    /// The sender's Entra object id.
    pub fn person(&self) -> Option<uuid::Uuid> {
        self.from.as_ref()?.aad_object_id.as_deref()?.parse().ok()
    }

    /// When it happened, as Teams says (now, if it does not say).
    pub fn at(&self) -> time::OffsetDateTime {
        self.timestamp.unwrap_or_else(time::OffsetDateTime::now_utc)
    }

    pub fn is_personal(&self) -> bool {
        self.conversation.conversation_type.as_deref() == Some("personal")
    }

    pub fn team(&self) -> Option<&Team> {
        self.channel_data.as_ref()?.team.as_ref()
    }

    /// Whether the bot itself is among the members added (or removed).
    pub fn bot_in(&self, members: &[Account]) -> bool {
        let bot = self.recipient.as_ref().map(|r| r.id.as_str());
        members
            .iter()
            .any(|m| Some(m.id.as_str()) == bot || m.id.starts_with("28:"))
    }
}
