//! The send pipeline end to end: real PostgreSQL, RabbitMQ and the Teams
//! emulator over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod acknowledge;
mod audiences;
mod bad_input;
mod bot;
mod cancel;
mod changes;
mod delivery;
mod idempotency;
mod install;
mod rates;
