//! The filters of the announcements list and of the per-recipient
//! table, as their query strings carry them, and the links to their pages.

use herald_domain::{DeliveryStatus, NotificationId, NotificationStatus, RecipientId};
use herald_store::{ListColumn, ListQuery, ListSort, RecipientQuery};
use serde::Deserialize;

use super::error::UiError;
use super::session::Staff;
use super::urls;
use super::views::SortHeader;

/// Rows of a page of the per-recipient table, and of the list.
pub(super) const PAGE_ROWS: i64 = 50;
/// The most a program may ask for at once.
pub(super) const MAX_API_ROWS: i64 = 1_000;

/// The list's filters, as the query string carries them.
#[derive(Debug, Default, Deserialize)]
pub struct ListFilter {
    #[serde(default)]
    pub(super) q: Option<String>,
    #[serde(default)]
    pub(super) status: Option<String>,
    #[serde(default)]
    pub(super) since: Option<String>,
    #[serde(default)]
    pub(super) until: Option<String>,
    #[serde(default)]
    pub(super) sort: Option<String>,
    #[serde(default)]
    pub(super) dir: Option<String>,
    #[serde(default)]
    pub(super) after: Option<String>,
    #[serde(default)]
    pub(super) limit: Option<String>,
}

/// The per-recipient table's filters.
#[derive(Debug, Default, Deserialize)]
pub struct RecipientFilter {
    #[serde(default)]
    pub(super) status: Option<String>,
    #[serde(default)]
    pub(super) q: Option<String>,
    #[serde(default)]
    pub(super) after: Option<String>,
    /// Going back: the first recipient of the page after the one wanted.
    #[serde(default)]
    pub(super) before: Option<String>,
    /// The place of the page's first row (of `after`'s page) or of
    /// `before`'s row, from the link that led here: the page says "51-100".
    #[serde(default)]
    pub(super) from: Option<String>,
    #[serde(default)]
    pub(super) limit: Option<String>,
}

pub(super) fn bad(message: String) -> UiError {
    UiError::BadForm(message)
}

/// Empty fields are no filter.
pub(super) fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

pub(super) fn search_text(field: &Option<String>) -> Result<Option<String>, UiError> {
    match given(field) {
        Some(text) if text.chars().count() > 100 => Err(bad(
            "the search text is longer than 100 characters: shorten it".to_owned(),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

pub(super) fn date(field: &Option<String>, name: &str) -> Result<Option<time::Date>, UiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    given(field)
        .map(|text| {
            time::Date::parse(text, format).map_err(|_| {
                bad(format!(
                    "{name} {text:?} is not a date: use YYYY-MM-DD, e.g. 2026-11-28"
                ))
            })
        })
        .transpose()
}

pub(super) fn rows_wanted(limit: &Option<String>, default: i64) -> Result<i64, UiError> {
    let Some(text) = given(limit) else {
        return Ok(default);
    };
    match text.parse::<i64>() {
        Ok(n) if (1..=MAX_API_ROWS).contains(&n) => Ok(n),
        _ => Err(bad(format!(
            "limit {text:?} is not a number of rows from 1 to {MAX_API_ROWS}: ask for e.g. limit=100"
        ))),
    }
}

pub(super) fn cursor(field: &Option<String>) -> Result<Option<uuid::Uuid>, UiError> {
    given(field)
        .map(|text| {
            text.parse()
                .map_err(|_| bad("the page link is damaged: go back to the first page".to_owned()))
        })
        .transpose()
}

impl ListFilter {
    pub(super) fn query(&self, staff: &Staff, limit: i64) -> Result<ListQuery, UiError> {
        let status = status_filter(
            &self.status,
            NotificationStatus::ALL.iter().map(|s| s.as_str()),
        )?;
        Ok(ListQuery {
            owner: (!staff.sees_all()).then_some(staff.id),
            search: search_text(&self.q)?,
            status,
            since: date(&self.since, "since")?,
            until: date(&self.until, "until")?,
            sort: self.sort()?,
            after: cursor(&self.after)?.map(NotificationId),
            limit: limit + 1,
        })
    }

    /// The order asked for: a column, and `asc` or `desc` (each column's
    /// own first direction when not given).
    pub(super) fn sort(&self) -> Result<ListSort, UiError> {
        let Some(name) = given(&self.sort) else {
            return Ok(ListSort::default());
        };
        let column = ListColumn::parse(name).ok_or_else(|| {
            let all: Vec<&str> = ListColumn::ALL.iter().map(|c| c.as_str()).collect();
            bad(format!(
                "sort {name:?} is not a column of the list: use one of {}",
                all.join(", ")
            ))
        })?;
        let descending = match given(&self.dir) {
            None => column.descending_first(),
            Some("desc") => true,
            Some("asc") => false,
            Some(other) => {
                return Err(bad(format!(
                    "dir {other:?} is not a direction: use asc (smallest first) or desc (largest first)"
                )));
            }
        };
        Ok(ListSort { column, descending })
    }

    /// The query string of this filter with another page.
    pub(super) fn link(&self, after: Option<&str>) -> String {
        query_string(&self.fields(), after)
    }

    /// The filters without the order (what "Clear" clears).
    pub(super) fn filters(&self) -> [(&'static str, &Option<String>); 5] {
        [
            ("q", &self.q),
            ("status", &self.status),
            ("since", &self.since),
            ("until", &self.until),
            ("limit", &self.limit),
        ]
    }

    pub(super) fn fields(&self) -> Vec<(&'static str, &Option<String>)> {
        let mut fields = self.filters().to_vec();
        fields.extend([("sort", &self.sort), ("dir", &self.dir)]);
        fields
    }

    /// The first page of this filter in another order.
    pub(super) fn sorted_by(&self, sort: ListSort) -> String {
        let column = Some(sort.column.as_str().to_owned());
        let dir = Some(if sort.descending { "desc" } else { "asc" }.to_owned());
        let mut fields = self.filters().to_vec();
        fields.extend([("sort", &column), ("dir", &dir)]);
        format!("{}?{}", urls::HOME, query_string(&fields, None))
    }

    /// Each sortable column's header: its link and `aria-sort`. A click
    /// on the column sorted by turns its order round.
    pub(super) fn headers(&self, sort: ListSort) -> Vec<SortHeader> {
        ListColumn::ALL
            .iter()
            .map(|&column| {
                let current = column == sort.column;
                let descending = if current {
                    !sort.descending
                } else {
                    column.descending_first()
                };
                SortHeader {
                    column: column.as_str(),
                    link: self.sorted_by(ListSort { column, descending }),
                    aria_sort: match (current, sort.descending) {
                        (false, _) => "none",
                        (true, true) => "descending",
                        (true, false) => "ascending",
                    },
                }
            })
            .collect()
    }
}

impl RecipientFilter {
    pub(super) fn query(&self, limit: i64) -> Result<RecipientQuery, UiError> {
        let status = status_filter(&self.status, DeliveryStatus::ALL.iter().map(|s| s.as_str()))?;
        Ok(RecipientQuery {
            status,
            search: search_text(&self.q)?,
            after: cursor(&self.after)?.map(RecipientId),
            before: cursor(&self.before)?.map(RecipientId),
            limit: limit + 1,
        })
    }

    pub(super) fn link(&self, after: Option<&str>) -> String {
        query_string(&self.filters(), after)
    }

    pub(super) fn filters(&self) -> [(&'static str, &Option<String>); 3] {
        [
            ("status", &self.status),
            ("q", &self.q),
            ("limit", &self.limit),
        ]
    }

    /// A link to another page: `cursor` is `after` or `before`, and `from`
    /// the place it names.
    pub(super) fn page_link(&self, cursor: (&str, &str), from: i64) -> String {
        let mut fields = self.filters().to_vec();
        let (name, id) = cursor;
        let (id, from) = (Some(id.to_owned()), Some(from.to_string()));
        fields.extend([(name, &id), ("from", &from)]);
        query_string(&fields, None)
    }

    /// The place the link says, 1 when it says none.
    pub(super) fn from(&self) -> Result<i64, UiError> {
        match given(&self.from) {
            None => Ok(1),
            Some(text) => text.parse::<i64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                bad("the page link is damaged: go back to the first page".to_owned())
            }),
        }
    }
}

/// A status filter: one of `all`, or none when left empty.
pub(super) fn status_filter<'a, T: std::str::FromStr>(
    field: &Option<String>,
    all: impl Iterator<Item = &'a str>,
) -> Result<Option<T>, UiError> {
    given(field)
        .map(|text| {
            text.parse::<T>().map_err(|_| {
                let all: Vec<&str> = all.collect();
                bad(format!(
                    "status {text:?} is unknown: use one of {}",
                    all.join(", ")
                ))
            })
        })
        .transpose()
}

/// The filters given, and the page to start after, as a query string.
pub(super) fn query_string(fields: &[(&str, &Option<String>)], after: Option<&str>) -> String {
    let mut pairs = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        if let Some(value) = given(value) {
            pairs.append_pair(name, value);
        }
    }
    if let Some(after) = after {
        pairs.append_pair("after", after);
    }
    pairs.finish()
}

/// A page of rows read with one more than shown: the extra one says
/// there is a next page, which starts after the last shown.
pub(super) fn split_page<T>(
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = more.then(|| rows.last().map(&key)).flatten();
    (rows, next)
}
