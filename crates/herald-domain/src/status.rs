//! The states of a notification and of each delivery.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    Draft,
    Scheduled,
    Preparing,
    Sending,
    Sent,
    Canceled,
    Failed,
}

/// A delivery moves `pending -> queued <-> retrying ->` one final status.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for a conversation (install, chat id).
    Pending,
    /// A send message is on its way.
    Queued,
    /// A send failed in a way worth retrying; a delayed message is on its way.
    Retrying,
    Delivered,
    /// The recipient blocked the bot or removed the app (403).
    Blocked,
    /// The conversation or the person no longer exists (404).
    Gone,
    Failed,
    Canceled,
    /// Not sent on purpose (guest, disabled account, opted out), with a reason.
    Skipped,
}

macro_rules! string_enum {
    ($type:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $type {
            pub const ALL: &'static [$type] = &[$($type::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($type::$variant => $text),* }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $type {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($type::$variant),)*
                    other => Err(format!("unknown {} {other:?}", stringify!($type))),
                }
            }
        }

        /// For rows read by column type (the store's `FromRow`s).
        impl TryFrom<String> for $type {
            type Error = String;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                text.parse()
            }
        }
    };
}

/// What a change of a sent announcement does to every card that went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Each card is replaced by the new version.
    Edit,
    /// Each card is deleted.
    Recall,
    /// Each card is replaced by a short "withdrawn" notice.
    Withdraw,
}

/// How the latest change went for one delivery: `queued` until it is
/// applied, then `updated` (edit, withdraw), `recalled` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeStatus {
    Queued,
    Updated,
    Recalled,
    Failed,
}

string_enum!(NotificationStatus {
    Draft => "draft", Scheduled => "scheduled", Preparing => "preparing", Sending => "sending",
    Sent => "sent", Canceled => "canceled", Failed => "failed",
});

string_enum!(DeliveryStatus {
    Pending => "pending", Queued => "queued", Retrying => "retrying", Delivered => "delivered",
    Blocked => "blocked", Gone => "gone", Failed => "failed", Canceled => "canceled", Skipped => "skipped",
});

impl DeliveryStatus {
    /// Final statuses never change again (a delivered card may still be
    /// edited or recalled, which is not a status change).
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Queued | Self::Retrying)
    }

    pub const FINAL: &'static [DeliveryStatus] = &[
        Self::Delivered,
        Self::Blocked,
        Self::Gone,
        Self::Failed,
        Self::Canceled,
        Self::Skipped,
    ];
}

impl NotificationStatus {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Sent | Self::Canceled | Self::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_text() {
        for status in DeliveryStatus::ALL {
            assert_eq!(status.as_str().parse::<DeliveryStatus>().unwrap(), *status);
        }
        for status in NotificationStatus::ALL {
            assert_eq!(
                status.as_str().parse::<NotificationStatus>().unwrap(),
                *status
            );
        }
        assert!("sending-ish".parse::<DeliveryStatus>().is_err());
    }

    #[test]
    fn only_the_last_six_delivery_statuses_are_final() {
        let finals: Vec<_> = DeliveryStatus::ALL
            .iter()
            .filter(|s| s.is_final())
            .copied()
            .collect();
        assert_eq!(finals, DeliveryStatus::FINAL);
    }
}

string_enum!(ChangeKind {
    Edit => "edit", Recall => "recall", Withdraw => "withdraw",
});

string_enum!(ChangeStatus {
    Queued => "queued", Updated => "updated", Recalled => "recalled", Failed => "failed",
});

impl ChangeKind {
    /// What a person's card shows once the change reached them.
    pub fn done(self) -> ChangeStatus {
        match self {
            ChangeKind::Recall => ChangeStatus::Recalled,
            ChangeKind::Edit | ChangeKind::Withdraw => ChangeStatus::Updated,
        }
    }

    /// A recall and a withdrawal take the announcement back for good.
    pub fn takes_back(self) -> bool {
        !matches!(self, ChangeKind::Edit)
    }
}
