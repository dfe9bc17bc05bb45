//! End-to-end tests live in the test targets; this library is empty.
