//! What the bot does with each activity: installs and uninstalls keep the
//! conversation directory current, new people and teams are welcomed, and
//! `help`, `stop` and `start` are answered in the 1:1 chat.

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use herald_microsoft::BotConnector;
use herald_store::{InstallRecord, NotificationRecord, ReadReceipt, Store};
use serde_json::json;
use tracing::Instrument;

use crate::activity::Activity;
use crate::auth::{AuthFailure, BotAuthenticator};
use crate::receipts::{ReceiptError, Receipts};

#[derive(Debug, Clone)]
pub struct BotSettings {
    /// Welcome people who install the app themselves (never those Herald
    /// installed it for in order to deliver an announcement).
    pub welcome: bool,
    /// The organisation's tenant: activities from any other change nothing.
    pub tenant_id: String,
}

/// The only channel Herald serves.
const TEAMS: &str = "msteams";

pub struct Bot {
    pub auth: BotAuthenticator,
    pub store: Store,
    /// Read receipts go through here, in batches (see `receipts`).
    pub receipts: Receipts,
    pub connector: Arc<BotConnector>,
    pub settings: BotSettings,
}

const HELP: &str = "I'm **Herald**, the bot your organisation uses to send announcements to you here, in this chat. \
There is nothing you need to do: announcements arrive by themselves.\n\n\
- Reply **stop** to stop receiving announcements that are not critical.\n\
- Reply **start** to receive them again.\n\
- Reply **help** to see this message.";

const STOPPED: &str = "Done: you will no longer receive announcements, except those marked critical. \
Reply **start** at any time to receive them again.";

const STARTED: &str =
    "Welcome back: you will receive announcements again. Reply **stop** to stop them.";

const TEAM_WELCOME: &str = "Herald was added to this team. Your organisation's announcements for this team will be posted \
in this channel. Nothing else is needed from anyone here.";

/// The event Teams sends when a person reads the bot's messages (§8).
const READ_RECEIPT: &str = "application/vnd.microsoft.readReceipt";

/// `value.lastReadMessageId`, an integer in a string; anything else says
/// nothing about what was read.
fn last_read_message(activity: &Activity) -> Option<i64> {
    activity
        .value
        .as_ref()?
        .get("lastReadMessageId")?
        .as_str()?
        .parse()
        .ok()
}

const ACKNOWLEDGED: &str = "Thank you: your acknowledgement was recorded.";

fn problem(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": message}))
}

/// Why an admitted activity could not be handled; Teams retries it.
#[derive(Debug, thiserror::Error)]
enum HandlingError {
    #[error(transparent)]
    Store(#[from] herald_store::StoreError),
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
}

/// Why a request is refused; the one place refusals become responses.
enum Refusal {
    Auth(AuthFailure),
    /// Authenticated, but not an activity.
    Unreadable(serde_json::Error),
    /// A valid activity from outside Teams or from another tenant.
    NotServed(String),
}

impl Refusal {
    fn response(self) -> HttpResponse {
        match self {
            Refusal::Auth(AuthFailure::Unauthorized(why)) => {
                tracing::warn!(%why, "refused an unauthenticated activity");
                problem(StatusCode::UNAUTHORIZED, "unauthorized")
            }
            Refusal::Auth(AuthFailure::Forbidden(why)) => {
                tracing::warn!(%why, "refused an activity from an unendorsed channel");
                problem(StatusCode::FORBIDDEN, "forbidden")
            }
            Refusal::Unreadable(error) => problem(
                StatusCode::BAD_REQUEST,
                &format!("the body is not a valid activity: {error}"),
            ),
            Refusal::NotServed(why) => {
                tracing::warn!(%why, "ignored an activity Herald does not serve");
                problem(
                    StatusCode::FORBIDDEN,
                    "Herald serves Microsoft Teams in its own organisation only",
                )
            }
        }
    }
}

impl Bot {
    /// Authenticates, reads, checks, then handles. Nothing of a request is
    /// read before its token is verified, and nothing is stored for a
    /// request that is refused.
    pub async fn receive(&self, authorization: Option<&str>, body: &[u8]) -> HttpResponse {
        let activity = match self.admit(authorization, body).await {
            Ok(activity) => activity,
            Err(refusal) => return refusal.response(),
        };
        match self.handle(&activity).await {
            Ok(Some(body)) => HttpResponse::Ok().json(body),
            Ok(None) => HttpResponse::Ok().finish(),
            Err(error) => {
                // Teams retries a failed delivery; everything here is safe to repeat.
                tracing::error!(error = %herald_domain::chain(&error), kind = %activity.kind, "cannot handle an activity");
                problem(StatusCode::INTERNAL_SERVER_ERROR, "try again")
            }
        }
    }

    /// The token first (so an unauthenticated body is never parsed), then
    /// the body, then what the token says of it, then whether Herald
    /// serves it at all.
    async fn admit(&self, authorization: Option<&str>, body: &[u8]) -> Result<Activity, Refusal> {
        let token = self
            .auth
            .verify(authorization)
            .await
            .map_err(Refusal::Auth)?;
        let activity: Activity = serde_json::from_slice(body).map_err(Refusal::Unreadable)?;
        token
            .admits(&activity.service_url, &activity.channel_id)
            .map_err(Refusal::Auth)?;
        self.serves(&activity).map_err(Refusal::NotServed)?;
        Ok(activity)
    }

    /// Herald serves Teams in its own tenant. A key may endorse other
    /// channels (webchat, ...) and a multi-tenant app may be added in
    /// other organisations; what they send must not change the directory.
    fn serves(&self, activity: &Activity) -> Result<(), String> {
        if activity.channel_id != TEAMS {
            return Err(format!("channel {:?} is not Teams", activity.channel_id));
        }
        let tenants: Vec<&str> = activity.named_tenants().collect();
        if tenants.is_empty() || tenants.iter().any(|t| *t != self.settings.tenant_id) {
            return Err(format!(
                "tenant {tenants:?} is not the organisation's ({})",
                self.settings.tenant_id
            ));
        }
        Ok(())
    }

    /// Handles an activity; `Some` is the body of an invoke's answer.
    async fn handle(
        &self,
        activity: &Activity,
    ) -> Result<Option<serde_json::Value>, HandlingError> {
        let action = activity.action.as_deref().unwrap_or_default();
        match activity.kind.as_str() {
            "installationUpdate" if action.starts_with("add") => self.installed(activity).await?,
            "installationUpdate" if action.starts_with("remove") => {
                self.uninstalled(activity).await?
            }
            "conversationUpdate" if activity.bot_in(&activity.members_added) => {
                self.installed(activity).await?
            }
            "conversationUpdate" if activity.bot_in(&activity.members_removed) => {
                self.uninstalled(activity).await?
            }
            "conversationUpdate" => self.team_changed(activity).await?,
            "message" if activity.is_personal() => self.command(activity).await?,
            "invoke" if activity.name.as_deref() == Some("adaptiveCard/action") => {
                return Ok(self.card_action(activity).await.map(Some)?);
            }
            "messageReaction" => self.reaction(activity).await?,
            "event" if activity.name.as_deref() == Some(READ_RECEIPT) => {
                self.read_receipt(activity).await?
            }
            _ => {}
        }
        Ok(None)
    }

    /// A person read their chat with Herald up to a message: their cards
    /// up to it are read. Receipts come from 1:1 chats only, and a receipt
    /// for a chat Herald never wrote to matches no delivery.
    async fn read_receipt(&self, activity: &Activity) -> Result<(), ReceiptError> {
        let (Some(person), Some(last_read)) = (activity.person(), last_read_message(activity))
        else {
            tracing::warn!("ignored a read receipt without a person or a readable message id");
            return Ok(());
        };
        if !activity.is_personal() {
            return Ok(());
        }
        let receipt = ReadReceipt {
            conversation: activity.conversation.id.clone(),
            person,
            last_read,
        };
        self.receipts.record(receipt).await
    }

    /// An Acknowledge press: recorded once however often it comes, from
    /// whoever presses it (in a channel, every member sees the button).
    async fn card_action(
        &self,
        activity: &Activity,
    ) -> Result<serde_json::Value, herald_store::StoreError> {
        let Some((notification, person)) = acknowledge_press(activity) else {
            return Ok(invoke_answer("Sorry, Herald does not know this button."));
        };
        let Some(record) = self.store.notification(notification).await? else {
            return Ok(invoke_answer("This announcement no longer exists."));
        };
        let acknowledged = self
            .store
            .acknowledge(notification, person, activity.conversation_without_thread())
            .await?;
        if !acknowledged.counted {
            tracing::info!(%notification, %person, "an acknowledgement from outside the audience: kept, not counted");
        }
        // A card in a channel or group chat is everyone's: replacing it would
        // show one person's acknowledgement to all and take the button from
        // the rest. There, the invoke's answer tells the presser alone.
        if activity.is_personal() {
            self.show_acknowledged(activity, &record, acknowledged.at);
        }
        Ok(invoke_answer(ACKNOWLEDGED))
    }

    /// Replaces the pressed card in the person's own chat by one that shows
    /// the acknowledgement. Teams waits only seconds for an invoke's answer
    /// and the Bot Connector may be slow or throttling, so this runs after
    /// the answer; a failure is logged, the acknowledgement is stored.
    fn show_acknowledged(
        &self,
        activity: &Activity,
        record: &NotificationRecord,
        at: time::OffsetDateTime,
    ) {
        let Some(pressed) = activity.reply_to_id.clone() else {
            return;
        };
        let done = herald_domain::Acknowledgement::Done(herald_domain::card_time(at));
        let card = match herald_domain::build_activity(
            &record.content,
            &record.audience.reason(),
            &done,
        ) {
            Ok(card) => card,
            Err(error) => {
                tracing::warn!(error = %herald_domain::chain(&error), "cannot build the acknowledged card");
                return;
            }
        };
        let connector = self.connector.clone();
        let service_url = activity.service_url.clone();
        let conversation = activity.conversation.id.clone();
        let update = async move {
            if let Err(error) = connector
                .update(&service_url, &conversation, &pressed, &card)
                .await
            {
                tracing::warn!(error = %herald_domain::chain(&error), %conversation, activity = %pressed, "cannot show the acknowledgement on the card");
            }
        };
        tokio::spawn(update.instrument(tracing::Span::current()));
    }

    async fn reaction(&self, activity: &Activity) -> Result<(), herald_store::StoreError> {
        let Some(card) = activity.reply_to_id.as_deref() else {
            return Ok(());
        };
        let Some(card) = self.store.posted_card(card).await? else {
            return Ok(());
        };
        for (reactions, added) in [
            (&activity.reactions_added, true),
            (&activity.reactions_removed, false),
        ] {
            for reaction in reactions {
                self.store
                    .record_reaction(&card, &reaction.kind, added)
                    .await?;
            }
        }
        Ok(())
    }

    async fn installed(&self, activity: &Activity) -> Result<(), herald_store::StoreError> {
        let Some(tenant) = activity.tenant() else {
            return Ok(());
        };
        let at = activity.at();
        if let Some(team) = activity.team() {
            let changed = self
                .store
                .record_team_install(
                    &team.id,
                    team.name.as_deref().unwrap_or_default(),
                    tenant,
                    &activity.service_url,
                    at,
                )
                .await?;
            if changed && self.settings.welcome {
                self.say(activity, TEAM_WELCOME).await;
            }
            return Ok(());
        }
        let Some(record) = install_record(activity) else {
            return Ok(());
        };
        let change = self.store.record_personal_install(&record).await?;
        if let Some(change) = change
            && change.newly_installed
            && !change.installed_by_herald
            && self.settings.welcome
        {
            self.say(activity, HELP).await;
        }
        Ok(())
    }

    async fn uninstalled(&self, activity: &Activity) -> Result<(), herald_store::StoreError> {
        let at = activity.at();
        self.store
            .record_uninstall(&activity.conversation.id, at)
            .await
    }

    async fn team_changed(&self, activity: &Activity) -> Result<(), herald_store::StoreError> {
        let event = activity
            .channel_data
            .as_ref()
            .and_then(|d| d.event_type.as_deref());
        match (event, activity.team()) {
            (Some("teamRenamed"), Some(team)) => {
                self.store
                    .rename_team(&team.id, team.name.as_deref().unwrap_or_default())
                    .await
            }
            (Some("teamDeleted"), Some(_)) => {
                let at = activity
                    .timestamp
                    .unwrap_or_else(time::OffsetDateTime::now_utc);
                self.store
                    .record_uninstall(&activity.conversation.id, at)
                    .await
            }
            _ => Ok(()),
        }
    }

    async fn command(&self, activity: &Activity) -> Result<(), herald_store::StoreError> {
        let text = command_text(activity.text.as_deref().unwrap_or_default());
        let aad = activity.person();
        if let Some(record) = install_record(activity) {
            // Whoever writes to the bot has it installed: their chat is known now.
            self.store.record_personal_install(&record).await?;
        }
        let reply = match (text.as_str(), aad) {
            ("stop", Some(aad)) => {
                self.store.set_opted_out(aad, true).await?;
                STOPPED
            }
            ("start", Some(aad)) => {
                self.store.set_opted_out(aad, false).await?;
                STARTED
            }
            _ => HELP,
        };
        self.say(activity, reply).await;
        Ok(())
    }

    /// Replies in the activity's conversation; a failed reply is logged,
    /// not retried (the command itself was recorded).
    async fn say(&self, activity: &Activity, text: &str) {
        let message =
            json!({"type": "message", "text": text, "textFormat": "markdown"}).to_string();
        if let Err(error) = self
            .connector
            .send(&activity.service_url, &activity.conversation.id, &message)
            .await
        {
            tracing::warn!(error = %herald_domain::chain(&error), "cannot reply to an activity");
        }
    }
}

/// What a personal activity says of the sender's chat with the bot.
fn install_record(activity: &Activity) -> Option<InstallRecord> {
    let from = activity.from.as_ref()?;
    Some(InstallRecord {
        aad_object_id: activity.person()?,
        teams_user_id: from.id.clone(),
        display_name: from.name.clone(),
        conversation_id: activity.conversation.id.clone(),
        service_url: activity.service_url.clone(),
        tenant_id: activity.tenant()?.to_owned(),
        at: activity.at(),
    })
}

/// The announcement and the person of an Acknowledge press.
fn acknowledge_press(activity: &Activity) -> Option<(herald_domain::NotificationId, uuid::Uuid)> {
    let action = &activity.value.as_ref()?["action"];
    if action["verb"].as_str()? != herald_domain::ACKNOWLEDGE_VERB {
        return None;
    }
    let notification = action["data"]["notificationId"].as_str()?.parse().ok()?;
    Some((notification, activity.person()?))
}

/// The body answering an `adaptiveCard/action` invoke.
fn invoke_answer(text: &str) -> serde_json::Value {
    json!({"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text})
}

/// The command in a message: mentions removed, trimmed, lower case.
fn command_text(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<at>") {
        plain.push_str(&rest[..start]);
        rest = rest[start..]
            .find("</at>")
            .map_or("", |end| &rest[start + end + 5..]);
    }
    plain.push_str(rest);
    plain.trim().trim_end_matches(['.', '!']).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_ignore_mentions_case_and_punctuation() {
        assert_eq!(command_text("  STOP "), "stop");
        assert_eq!(command_text("<at>Herald</at> start!"), "start");
        assert_eq!(command_text("Help."), "help");
    }
}
