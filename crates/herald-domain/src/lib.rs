//! Herald's domain: ids, notification content and its validation,
//! audiences, uploaded images, delivery and notification statuses, and the Adaptive Card.
//!
//! This crate does no I/O: no network, no database, no files.

pub mod audience;
pub mod card;
pub mod content;
pub mod ids;
pub mod image;
pub mod rate;
pub mod reason;
pub mod report;
pub mod status;

pub use audience::{Audience, AudienceError, UserRef};
pub use card::{
    ACKNOWLEDGE_VERB, Acknowledgement, CardError, build_activity, build_edited_activity,
    build_withdrawn_activity, card_time,
};
pub use content::{Button, Content, ContentError, HttpsUrl, ImageUrl, Title};
pub use ids::{NotificationId, RecipientId};
pub use image::{
    CheckedImage, HostedImage, ImageError, ImageId, ImageKind, MAX_IMAGE_BYTES, check_image,
};
pub use rate::{RatePolicy, RateState};
pub use reason::DeliveryReason;
pub use report::chain;
pub use status::{ChangeKind, ChangeStatus, DeliveryStatus, NotificationStatus};
