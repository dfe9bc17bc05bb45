//! The emulator over HTTP, one module per Microsoft surface.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod advanced;
mod bot_activities;
mod connector;
mod control;
mod entra;
mod graph;
mod limits;
mod read_receipts;
