//! Herald's domain: ids, notification content and its validation,
//! audiences, delivery and notification statuses, and the Adaptive Card.
//!
//! This crate does no I/O: no network, no database, no files.

pub mod audience;
pub mod card;
pub mod content;
pub mod ids;
pub mod rate;
pub mod status;

pub use audience::{Audience, AudienceError, UserRef};
pub use card::{ACKNOWLEDGE_VERB, Acknowledgement, CardError, build_activity};
pub use content::{Button, Content, ContentError, HttpsUrl, Title};
pub use ids::{NotificationId, RecipientId};
pub use rate::{RatePolicy, RateState};
pub use status::{DeliveryStatus, NotificationStatus};
