//! Read receipts (teams-platform.md §8): when a person reads the bot's
//! messages in their 1:1 chat, Teams posts the bot a signed
//! `application/vnd.microsoft.readReceipt` event naming the newest message
//! read. Tests ask for one through `POST /_emulator/users/{id}/read`.

use serde_json::json;

use crate::botframework;
use crate::state::{Emulator, World};

pub const READ_RECEIPT: &str = "application/vnd.microsoft.readReceipt";

/// What a person read: the id a receipt names.
pub struct Read {
    pub last: u64,
}

/// The person reads their chat with the bot, up to the newest message or
/// the newest at or before `up_to`. Fails, saying why, when Teams would
/// send the bot no receipt.
pub fn read_chat(world: &World, user: usize, up_to: Option<u64>) -> Result<Read, String> {
    let record = world.directory.user(user);
    let name = record.user_principal_name.clone();
    if record.removed {
        return Err(format!("{name} has left the tenant"));
    }
    // Teams reports reading only to a bot that is still in the chat.
    if record.installation.is_none() {
        return Err(format!(
            "{name} does not have the app, so Teams sends the bot no read receipts"
        ));
    }
    let chat = world.directory.chat_id_for(record);
    let Some(conversation) = world.conversations.get(&chat) else {
        return Err(format!("the bot has no personal chat with {name} yet"));
    };
    let last = conversation
        .activities
        .iter()
        .filter_map(|a| a.id.parse::<u64>().ok())
        .filter(|&id| up_to.is_none_or(|limit| id <= limit))
        .max()
        .ok_or_else(|| match up_to {
            None => format!("the bot has sent nothing to {name} yet"),
            Some(limit) => format!("the bot sent {name} nothing at or before {limit}"),
        })?;
    Ok(Read { last })
}

/// Posts the receipt, signed like every activity Teams sends; whether the
/// bot accepted it.
pub async fn send_receipt(emulator: &Emulator, endpoint: &str, user: usize, last: u64) -> bool {
    let event = json!({
        "type": "event",
        "name": READ_RECEIPT,
        "value": {"lastReadMessageId": last.to_string()},
    });
    let activity = botframework::user_activity(emulator, user, event);
    let delivered = botframework::post_to_bot(emulator, endpoint, &activity).await;
    if delivered {
        emulator.stats.update(|s| s.read_receipts_sent += 1);
    }
    delivered
}
