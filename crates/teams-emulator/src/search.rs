//! Graph's `$search` on directory objects (teams-platform.md §10):
//! `"displayName:sales"`, clauses in double quotes joined by `AND` / `OR`.
//!
//! Graph tokenizes both the property's value and the searched text into
//! words and matches word prefixes, case-insensitively: "eng" and "lea" find
//! "Engineering Leads", "ngin" does not. Inside a clause `\"` and `\\` stand
//! for a quote and a backslash, so typed text cannot end the clause early.

use std::borrow::Cow;

/// A parsed `$search`: any of the groups matches when all of its clauses do
/// (`AND` binds tighter than `OR`).
#[derive(Debug, PartialEq, Eq)]
pub struct Search {
    any_of: Vec<Vec<Clause>>,
}

#[derive(Debug, PartialEq, Eq)]
struct Clause {
    /// One of the searchable properties, as the caller spelled it there.
    property: &'static str,
    words: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SearchError {
    /// Not the `"property:text"` grammar; says what was wrong.
    Malformed(String),
    /// A well-formed clause on a property that cannot be searched.
    Unsearchable(String),
}

impl Search {
    /// Parses `text` for an object whose `searchable` properties may appear.
    pub fn parse(text: &str, searchable: &[&'static str]) -> Result<Self, SearchError> {
        let mut any_of = vec![Vec::new()];
        let mut rest = text.trim();
        loop {
            let (inner, after) = quoted(rest)?;
            let clause = clause(&inner, searchable)?;
            if let Some(all_of) = any_of.last_mut() {
                all_of.push(clause);
            }
            rest = after.trim_start();
            if rest.is_empty() {
                return Ok(Self { any_of });
            }
            let (operator, after) = rest.split_once(char::is_whitespace).ok_or_else(|| {
                SearchError::Malformed(format!("expected AND or OR before {rest:?}"))
            })?;
            match operator {
                "AND" => {}
                "OR" => any_of.push(Vec::new()),
                other => {
                    return Err(SearchError::Malformed(format!(
                        "expected AND or OR between clauses, found {other:?}"
                    )));
                }
            }
            rest = after.trim_start();
        }
    }

    /// Whether an object matches; `value_of` gives a property's text.
    pub fn matches<'a>(&self, value_of: impl Fn(&str) -> Option<Cow<'a, str>>) -> bool {
        self.any_of.iter().any(|all_of| {
            all_of
                .iter()
                .all(|clause| value_of(clause.property).is_some_and(|value| clause.matches(&value)))
        })
    }
}

impl Clause {
    /// Every searched word starts some word of the value. A clause with no
    /// words (only punctuation was typed) matches nothing.
    fn matches(&self, value: &str) -> bool {
        let value_words = words(value);
        !self.words.is_empty()
            && self
                .words
                .iter()
                .all(|word| value_words.iter().any(|v| v.starts_with(word.as_str())))
    }
}

/// The lower-cased words of a text, split at anything not a letter or digit.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The unescaped content of the quoted clause `text` starts with, and what
/// follows it.
fn quoted(text: &str) -> Result<(String, &str), SearchError> {
    let body = text.strip_prefix('"').ok_or_else(|| {
        SearchError::Malformed(format!(
            "each clause must be in double quotes, found {text:?}"
        ))
    })?;
    let mut inner = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((inner, &body[at + 1..])),
            '\\' => match chars.next() {
                Some((_, escaped)) => inner.push(escaped),
                None => break,
            },
            c => inner.push(c),
        }
    }
    Err(SearchError::Malformed(
        "a clause is missing its closing double quote".to_owned(),
    ))
}

fn clause(inner: &str, searchable: &[&'static str]) -> Result<Clause, SearchError> {
    let (property, text) = inner.split_once(':').ok_or_else(|| {
        SearchError::Malformed(format!(
            "{inner:?} names no property; write \"property:text\""
        ))
    })?;
    let property = property.trim();
    let known = searchable
        .iter()
        .find(|p| p.eq_ignore_ascii_case(property))
        .ok_or_else(|| {
            SearchError::Unsearchable(format!(
                "'{property}' cannot be searched here; searchable: {}",
                searchable.join(", ")
            ))
        })?;
    Ok(Clause {
        property: known,
        words: words(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROPS: &[&str] = &["displayName", "mail"];

    fn finds(search: &str, name: &str) -> bool {
        Search::parse(search, PROPS)
            .unwrap()
            .matches(|p| (p == "displayName").then_some(Cow::Borrowed(name)))
    }

    #[test]
    fn word_prefixes_match_case_insensitively() {
        assert!(finds("\"displayName:eng\"", "Engineering Leads"));
        assert!(finds("\"displayName:LEA\"", "Engineering Leads"));
        assert!(finds("\"displayName:eng lea\"", "Engineering Leads"));
        assert!(!finds("\"displayName:ngin\"", "Engineering Leads"));
        assert!(!finds("\"displayName:eng sales\"", "Engineering Leads"));
    }

    #[test]
    fn or_and_and_combine_clauses() {
        assert!(finds("\"mail:x\" OR \"displayName:eng\"", "Engineering"));
        assert!(!finds("\"mail:x\" AND \"displayName:eng\"", "Engineering"));
        assert!(finds(
            "\"mail:x\" AND \"mail:y\" OR \"displayName:eng\"",
            "Engineering"
        ));
    }

    #[test]
    fn escaped_quotes_stay_inside_the_clause() {
        let search = Search::parse(r#""displayName:say \"hi\" \\ OR""#, PROPS).unwrap();
        assert_eq!(search.any_of.len(), 1);
        assert_eq!(search.any_of[0][0].words, ["say", "hi", "or"]);
        assert!(!finds(r#""displayName:\"""#, "Anything"));
    }

    #[test]
    fn malformed_searches_say_why() {
        for bad in [
            "displayName:eng",
            "\"displayName:eng",
            "\"eng\"",
            "\"displayName:a\" or \"displayName:b\"",
            "\"displayName:a\" \"displayName:b\"",
            "\"displayName:a\" OR",
        ] {
            assert!(
                matches!(Search::parse(bad, PROPS), Err(SearchError::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            Search::parse("\"shoeSize:9\"", PROPS),
            Err(SearchError::Unsearchable(_))
        ));
    }
}
