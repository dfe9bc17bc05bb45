//! Prints an error with its causes, each once: `step: cause: root cause`.
//!
//! Herald's error messages name their own step only (`cannot store the
//! notification`), never their source, so a chain does not repeat itself.
//! Errors from other crates sometimes do print their source; a cause whose
//! text already ends the line is therefore not written again.

use std::error::Error;
use std::fmt;

/// Displays `error` followed by every cause in its `source()` chain.
pub fn chain<'a>(error: &'a (dyn Error + 'static)) -> Chain<'a> {
    Chain(error)
}

pub struct Chain<'a>(&'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = self.0.to_string();
        f.write_str(&last)?;
        let mut cause = self.0.source();
        while let Some(next) = cause {
            let text = next.to_string();
            if !text.is_empty() && !last.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            last = text;
            cause = next.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[derive(Debug, thiserror::Error)]
    #[error("disk full")]
    struct Root;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write the file")]
    struct Step(#[source] Root);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot save: disk full")]
    struct Chatty(#[source] Root);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot save the draft")]
    struct Outer(#[source] Step);

    #[test]
    fn every_cause_is_written_once_in_order() {
        assert_eq!(
            chain(&Outer(Step(Root))).to_string(),
            "cannot save the draft: cannot write the file: disk full"
        );
    }

    #[test]
    fn a_cause_the_message_already_printed_is_not_repeated() {
        assert_eq!(chain(&Chatty(Root)).to_string(), "cannot save: disk full");
    }
}
