//! herald-web against real HTTP: the bot endpoint's key fetching, with a
//! tiny key server on port 0 that counts what it is asked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod keys;
