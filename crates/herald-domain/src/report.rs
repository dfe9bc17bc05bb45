//! How an error reaches a log or a terminal: its own message, then each
//! cause's, once. Each error's message names only its own step (see
//! ARCHITECTURE's invariants), so printing the chain is the reporter's job.

use std::error::Error;
use std::fmt;

/// An error and its causes, shown as `step: cause: cause`.
pub struct Chain<'a>(&'a (dyn Error + 'a));

/// The whole chain of `error`, for `tracing::warn!(error = %chain(&error), ...)`.
pub fn chain<'a>(error: &'a (dyn Error + 'a)) -> Chain<'a> {
    Chain(error)
}

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read the list")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn each_cause_is_printed_once_after_its_step() {
        let error = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(
            chain(&error).to_string(),
            "cannot read the list: disk on fire"
        );
    }
}
