//! Herald's Microsoft clients against the Teams emulator over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod graph;
mod tokens;
