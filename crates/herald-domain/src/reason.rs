//! Why a delivery is not (or not yet) delivered: the codes stored in
//! `deliveries.error_code`. Herald's own reasons are named here; a code
//! Microsoft answered with is kept as Microsoft spelled it, since Teams
//! adds codes without notice and the text is what an operator looks up.
//! The stored text of every variant is fixed: rows written by older
//! versions must read back as the same reason.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeliveryReason {
    /// A guest account: announcements go to members only.
    Guest,
    /// The Entra account is disabled.
    AccountDisabled,
    /// The person replied "stop" and the announcement is not critical.
    OptedOut,
    /// No chat with the person is known when their message is sent.
    NoConversation,
    /// The app was installed but no chat turned up.
    NoChatAfterInstall,
    /// Teams refused the card as too large (413).
    MessageSizeTooBig,
    /// Teams answered 429 until the attempts ran out.
    Throttled,
    /// A code Microsoft answered with (`MessageWritesBlocked`,
    /// `ConversationNotFound`, `ServiceUnavailable`, ...).
    Microsoft(String),
}

impl DeliveryReason {
    const NAMED: [DeliveryReason; 7] = [
        Self::Guest,
        Self::AccountDisabled,
        Self::OptedOut,
        Self::NoConversation,
        Self::NoChatAfterInstall,
        Self::MessageSizeTooBig,
        Self::Throttled,
    ];

    /// The stored text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Guest => "Guest",
            Self::AccountDisabled => "AccountDisabled",
            Self::OptedOut => "OptedOut",
            Self::NoConversation => "NoConversation",
            Self::NoChatAfterInstall => "NoChatAfterInstall",
            Self::MessageSizeTooBig => "MessageSizeTooBig",
            Self::Throttled => "Throttled",
            Self::Microsoft(code) => code,
        }
    }
}

impl fmt::Display for DeliveryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every text is a reason: one Herald does not name is Microsoft's.
impl FromStr for DeliveryReason {
    type Err = Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self::NAMED
            .into_iter()
            .find(|named| named.as_str() == text)
            .unwrap_or_else(|| Self::Microsoft(text.to_owned())))
    }
}

/// The stored text, in JSON answers too.
impl serde::Serialize for DeliveryReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// For reading the stored column (`#[sqlx(try_from = "String")]` works too).
impl From<String> for DeliveryReason {
    fn from(text: String) -> Self {
        match text.parse() {
            Ok(reason) => reason,
            Err(never) => match never {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_reads_back_as_the_same_reason() {
        for reason in DeliveryReason::NAMED {
            assert_eq!(DeliveryReason::from(reason.to_string()), reason);
        }
        assert_eq!(DeliveryReason::OptedOut.as_str(), "OptedOut");
        assert_eq!(
            DeliveryReason::from("MessageWritesBlocked".to_owned()),
            DeliveryReason::Microsoft("MessageWritesBlocked".to_owned())
        );
    }
}
