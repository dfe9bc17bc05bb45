//! Read receipts (teams-platform.md §8): when a person reads the bot's
//! messages in their 1:1 chat, Teams posts the bot a signed
//! `application/vnd.microsoft.readReceipt` event naming the newest message
//! read. Tests ask for one through `POST /_emulator/users/{id}/read`; with
//! `reads.enabled`, people also read on their own some time after a
//! delivery, so that Herald can be measured against realistic reading.

use std::time::Duration;

use actix_web::web;
use serde_json::json;
use uuid::Uuid;

use crate::botframework;
use crate::rng::SplitMix64;
use crate::state::{ConversationKind, Emulator, MAX_READ_DELAY_MS, ReadBehaviour, World};

pub const READ_RECEIPT: &str = "application/vnd.microsoft.readReceipt";

/// A person who can read a 1:1 chat: the user's index and Entra id.
#[derive(Clone, Copy)]
pub struct Reader {
    user: usize,
    id: Uuid,
}

/// The person whose 1:1 chat with the bot `conversation` is. Channels and
/// their threads have none: Teams sends receipts for personal chats only.
pub fn reader_of(world: &World, conversation: &str) -> Option<Reader> {
    match world.conversations.get(conversation)?.kind {
        ConversationKind::Personal { user } => Some(Reader {
            user,
            id: world.directory.user(user).id,
        }),
        ConversationKind::Channel { .. } => None,
    }
}

/// What a person read: the id a receipt names, and whether anything in it
/// was unread before.
pub struct Read {
    pub last: u64,
    pub news: bool,
}

/// The person reads their chat with the bot, up to the newest message or
/// the newest at or before `up_to`. Fails, saying why, when Teams would
/// send the bot no receipt.
pub fn read_chat(world: &mut World, user: usize, up_to: Option<u64>) -> Result<Read, String> {
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
    let Some(conversation) = world.conversations.get_mut(&chat) else {
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
    let news = last > conversation.read_up_to;
    conversation.read_up_to = conversation.read_up_to.max(last);
    Ok(Read { last, news })
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

/// After a delivery to a 1:1 chat, the person may read it later. Spawns
/// rather than waits, so the connector answers at once; takes no lock on
/// the world, so callers may hold it.
pub fn schedule(emulator: &web::Data<Emulator>, reader: Reader) {
    let reads = emulator
        .behaviour
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .reads;
    if !reads.enabled || never_reads(reader.id, reads.never_share) {
        return;
    }
    let delay = read_delay(emulator, &reads);
    let emulator = emulator.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        read_later(&emulator, reader.user).await;
    });
}

/// The same people never read, run after run: their id decides, and a
/// larger share only adds people to those who already never read.
fn never_reads(id: Uuid, share: f64) -> bool {
    let (high, low) = id.as_u64_pair();
    SplitMix64::new(high ^ low).next_f64() < share
}

fn read_delay(emulator: &Emulator, reads: &ReadBehaviour) -> Duration {
    let millis = emulator.log_normal(reads.median_delay_ms as f64, reads.spread);
    Duration::from_millis(millis.min(MAX_READ_DELAY_MS as f64) as u64)
}

/// The delayed read. Skipped when reads were turned off or the bot
/// endpoint removed meanwhile, and when an earlier read already covered
/// everything, as Teams sends no receipt for a chat with nothing new.
async fn read_later(emulator: &Emulator, user: usize) {
    let behaviour = emulator.behaviour();
    if !behaviour.reads.enabled || behaviour.bot_endpoint.is_empty() {
        return;
    }
    let read = read_chat(&mut emulator.world(), user, None);
    if let Ok(Read { last, news: true }) = read {
        send_receipt(emulator, &behaviour.bot_endpoint, user, last).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_readers_are_the_same_people_and_grow_with_the_share() {
        let ids: Vec<Uuid> = (0..2000u128).map(|n| Uuid::from_u128(n * 7919)).collect();
        let never = |share| ids.iter().filter(|&&id| never_reads(id, share)).count();
        assert_eq!(never(0.0), 0);
        assert_eq!(never(1.0), ids.len());
        let quarter = never(0.25);
        assert!((400..600).contains(&quarter), "{quarter}");
        assert!(
            ids.iter()
                .all(|&id| !never_reads(id, 0.25) || never_reads(id, 0.5))
        );
    }
}
