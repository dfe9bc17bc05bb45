//! Who an announcement goes to. Each kind of target names people or
//! channels in terms Graph can resolve; resolving is the prepare stage's job.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudienceError {
    #[error("the audience is empty: name at least one target, e.g. --audience users:people.csv")]
    Empty,
    #[error("{source_name} lists nobody: put one UPN or Entra object id per line")]
    EmptyList { source_name: String },
    #[error("{source_name} has rows that are neither a UPN nor an Entra object id: {rows}")]
    BadRows { source_name: String, rows: String },
    #[error(
        "unknown audience {spec:?}: use all, group:<id>, team:<id>, channel:<team id>/<channel id>, team-members:<id> or users:<file.csv>"
    )]
    UnknownKind { spec: String },
    #[error("audience {spec:?} needs an id after the colon")]
    MissingId { spec: String },
    #[error(
        "{source_name} is not a text CSV file (it holds binary data, like a workbook or a picture): in Excel, save the list as \"CSV UTF-8 (Comma delimited)\" or \"Unicode Text\", or paste one person per line"
    )]
    NotText { source_name: String },
}

/// A person named by user principal name or Entra object id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum UserRef {
    Upn(String),
    ObjectId(Uuid),
}

impl UserRef {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().trim_matches('"').trim();
        if let Ok(id) = Uuid::parse_str(text) {
            return Some(Self::ObjectId(id));
        }
        let (local, domain) = text.split_once('@')?;
        // A semicolon means a file written with another list separator; no
        // UPN holds one (nor a comma or a space).
        let plausible = !local.is_empty()
            && domain.contains('.')
            && !text
                .chars()
                .any(|c| c.is_whitespace() || c == ',' || c == ';');
        plausible.then(|| Self::Upn(text.to_lowercase()))
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Upn(upn) => f.write_str(upn),
            Self::ObjectId(id) => id.fmt(f),
        }
    }
}

impl From<UserRef> for String {
    fn from(user: UserRef) -> Self {
        user.to_string()
    }
}

impl TryFrom<String> for UserRef {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
            .ok_or_else(|| format!("{value:?} is neither a UPN nor an Entra object id"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A list of people, e.g. from a CSV file.
    Users { source: String, users: Vec<UserRef> },
    /// Every member of the organisation (not guests, not disabled accounts).
    Everyone,
    /// The members of an Entra ID group, nested groups included.
    Group { id: String },
    /// Each member of a team, in their 1:1 chat with the bot.
    TeamMembers { team: String },
    /// A post in a team's channel; `None` is the General channel.
    Channel {
        team: String,
        channel: Option<String>,
    },
}

impl Target {
    /// Reads a CSV of people: the first column of each row is a UPN or an
    /// Entra object id; other columns are ignored and rows may have any
    /// number of them. Fields may be quoted (`"Doe, Jane"`, line breaks
    /// inside quotes), as Excel writes them, with or without a byte order
    /// mark and CRLF line ends. Blank lines, `#` comments and a header row
    /// (a first row that names nobody) are skipped; repeats count once.
    pub fn users_from_csv(source: &str, text: &str) -> Result<Self, AudienceError> {
        if !is_text(text) {
            return Err(AudienceError::NotText {
                source_name: source.to_owned(),
            });
        }
        let mut users = Vec::new();
        let mut seen = HashSet::new();
        let mut bad = Vec::new();
        let mut first_row = true;
        for row in csv_rows(text) {
            let (line, first) = match row {
                Ok(row) => row,
                Err(problem) => {
                    bad.push(problem);
                    continue;
                }
            };
            if first.is_empty() || first.starts_with('#') {
                continue;
            }
            match UserRef::parse(&first) {
                Some(user) => {
                    if seen.insert(user.clone()) {
                        users.push(user);
                    }
                }
                None if first_row => {} // a header row
                None => bad.push(format!("line {line}: {:?}", shorten(&first))),
            }
            first_row = false;
        }
        if !bad.is_empty() {
            let shown: Vec<String> = bad.iter().take(10).cloned().collect();
            let more = bad.len().saturating_sub(10);
            let rows = if more > 0 {
                format!("{} and {more} more", shown.join(", "))
            } else {
                shown.join(", ")
            };
            return Err(AudienceError::BadRows {
                source_name: source.to_owned(),
                rows,
            });
        }
        if users.is_empty() {
            return Err(AudienceError::EmptyList {
                source_name: source.to_owned(),
            });
        }
        Ok(Self::Users {
            source: source.to_owned(),
            users,
        })
    }

    /// Reads every kind but `users:`, whose file the caller reads.
    pub fn parse(spec: &str) -> Result<Self, AudienceError> {
        let spec = spec.trim();
        if spec == "all" || spec == "everyone" {
            return Ok(Self::Everyone);
        }
        let unknown = || AudienceError::UnknownKind {
            spec: spec.to_owned(),
        };
        let (kind, id) = spec.split_once(':').ok_or_else(unknown)?;
        let id = id.trim();
        if id.is_empty() {
            return Err(AudienceError::MissingId {
                spec: spec.to_owned(),
            });
        }
        match kind {
            "group" => Ok(Self::Group { id: id.to_owned() }),
            "team" => Ok(Self::Channel {
                team: id.to_owned(),
                channel: None,
            }),
            "team-members" => Ok(Self::TeamMembers {
                team: id.to_owned(),
            }),
            "channel" => {
                let (team, channel) =
                    id.split_once('/').ok_or_else(|| AudienceError::MissingId {
                        spec: spec.to_owned(),
                    })?;
                Ok(Self::Channel {
                    team: team.to_owned(),
                    channel: Some(channel.to_owned()),
                })
            }
            _ => Err(unknown()),
        }
    }

    /// The words `parse` reads back; `None` for a list of people, which
    /// comes from a file.
    pub fn spec(&self) -> Option<String> {
        match self {
            Self::Users { .. } => None,
            Self::Everyone => Some("everyone".to_owned()),
            Self::Group { id } => Some(format!("group:{id}")),
            Self::TeamMembers { team } => Some(format!("team-members:{team}")),
            Self::Channel {
                team,
                channel: None,
            } => Some(format!("team:{team}")),
            Self::Channel {
                team,
                channel: Some(channel),
            } => Some(format!("channel:{team}/{channel}")),
        }
    }

    /// Why a recipient gets the announcement, for the card's footer.
    pub fn reason(&self) -> String {
        match self {
            Self::Users { .. } => "you are on the list of people it was sent to",
            Self::Everyone => "it goes to everyone in the organisation",
            Self::Group { .. } => "you are a member of a group it was sent to",
            Self::TeamMembers { .. } => "you are a member of a team it was sent to",
            Self::Channel { .. } => "it was posted to this channel",
        }
        .to_owned()
    }
}

/// The text of a list file: UTF-8 (with or without Excel's byte order
/// mark), or UTF-16 with its byte order mark, as Excel's "Unicode Text"
/// saves. Anything else is not a list of people.
pub fn list_text(source: &str, bytes: &[u8]) -> Result<String, AudienceError> {
    let not_text = || AudienceError::NotText {
        source_name: source.to_owned(),
    };
    let utf16 = |rest: &[u8], unit: fn([u8; 2]) -> u16| {
        if !rest.len().is_multiple_of(2) {
            return Err(not_text());
        }
        let units = rest.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| not_text())
    };
    match bytes {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes),
        _ => String::from_utf8(bytes.to_vec()).map_err(|_| not_text()),
    }
}

/// Text a person could have typed: no NUL or other control characters
/// but tabs and line ends, and no U+FFFD, which a browser puts where it
/// met bytes that are not UTF-8.
fn is_text(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c == '\u{fffd}' || (c.is_control() && !matches!(c, '\t' | '\r' | '\n')))
}

/// Excel's "Unicode Text" separates columns with tabs: a file whose first
/// row has tabs and no comma is read that way.
fn delimiter(text: &str) -> u8 {
    let first = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .unwrap_or_default();
    if first.contains('\t') && !first.contains(',') {
        b'\t'
    } else {
        b','
    }
}

/// The line and trimmed first field of each CSV row, or a problem naming
/// the line. Rows may have any number of fields; comment lines (`#` first)
/// and empty lines are skipped by the reader.
fn csv_rows(text: &str) -> impl Iterator<Item = Result<(usize, String), String>> + '_ {
    // Excel's "CSV UTF-8" starts with a byte order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(text))
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    reader.into_records().map(move |record| match record {
        Ok(record) => {
            let line = line_at(text, record.position());
            Ok((line, record.get(0).unwrap_or_default().to_owned()))
        }
        Err(error) => {
            let line = line_at(text, error.position());
            Err(format!("line {line}: cannot read the row ({error})"))
        }
    })
}

/// The line a record starts on, as a text editor numbers it. The reader
/// counts records rather than line breaks inside quotes, and its position
/// is where it began looking: before the line ends, blank lines and
/// comment lines it skipped.
fn line_at(text: &str, position: Option<&csv::Position>) -> usize {
    let bytes = text.as_bytes();
    let mut start = position.map_or(0, |p| p.byte() as usize).min(bytes.len());
    loop {
        match bytes.get(start) {
            Some(b'\r' | b'\n') => start += 1,
            Some(b'#') => {
                let rest = &bytes[start..];
                start += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            }
            _ => break,
        }
    }
    1 + bytes[..start].iter().filter(|&&b| b == b'\n').count()
}

/// A field as shown in an error: an unclosed quote can swallow the rest of
/// the file into one field.
fn shorten(field: &str) -> String {
    const SHOWN: usize = 60;
    match field.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}...", &field[..end]),
        None => field.to_owned(),
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.spec()) {
            (Self::Users { source, users }, _) => {
                let noun = if users.len() == 1 { "person" } else { "people" };
                write!(f, "{} {noun} from {source}", users.len())
            }
            (_, Some(spec)) => f.write_str(&spec),
            (_, None) => Ok(()),
        }
    }
}

/// One or more targets; recipients are de-duplicated across them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audience {
    pub targets: Vec<Target>,
    /// What the author saw for each target when picking it in the web UI
    /// (a group's name, a CSV file's name), in the order of `targets`;
    /// empty for audiences given as ids on the command line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl Audience {
    pub fn new(targets: Vec<Target>) -> Result<Self, AudienceError> {
        if targets.is_empty() {
            return Err(AudienceError::Empty);
        }
        Ok(Self {
            targets,
            labels: Vec::new(),
        })
    }

    /// A draft's audience, which may still be empty.
    pub fn draft(targets: Vec<Target>, labels: Vec<String>) -> Self {
        Self { targets, labels }
    }

    /// The label of each target: what the author picked, or the target
    /// itself in the CLI's words.
    pub fn describe(&self) -> Vec<String> {
        self.targets
            .iter()
            .enumerate()
            .map(|(index, target)| {
                self.labels
                    .get(index)
                    .filter(|label| !label.is_empty())
                    .cloned()
                    .unwrap_or_else(|| target.to_string())
            })
            .collect()
    }

    pub fn reason(&self) -> String {
        match self.targets.as_slice() {
            [single] => single.reason(),
            _ => "you are in its audience".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_takes_the_first_column_and_skips_headers_blanks_and_repeats() {
        let id = "6b1f0d4e-3f7a-4a8e-9d2c-1a2b3c4d5e6f";
        let text = format!(
            "userPrincipalName,name\nAlex@Contoso.example,Alex\n\n# a comment\n{id}\nalex@contoso.example\n"
        );
        let Target::Users { users, .. } = Target::users_from_csv("people.csv", &text).unwrap()
        else {
            panic!("a users target");
        };
        assert_eq!(
            users,
            vec![
                UserRef::Upn("alex@contoso.example".into()),
                UserRef::ObjectId(id.parse().unwrap())
            ]
        );
    }

    fn users(text: &str) -> Vec<UserRef> {
        match Target::users_from_csv("people.csv", text).unwrap() {
            Target::Users { users, .. } => users,
            other => panic!("a users target, got {other:?}"),
        }
    }

    fn upns(list: &[&str]) -> Vec<UserRef> {
        list.iter().map(|u| UserRef::Upn((*u).to_owned())).collect()
    }

    #[test]
    fn quoted_fields_keep_their_commas_and_line_breaks() {
        let text = "userPrincipalName,displayName,notes\n\
            \"alex@contoso.example\",\"Doe, Alex\",\"first line\nsecond, line\"\n\
            jane@contoso.example,\"Doe, Jane\",\n\
            \" sam@contoso.example \",\"Roe, Sam \"\"Sammy\"\"\"\n";
        assert_eq!(
            users(text),
            upns(&[
                "alex@contoso.example",
                "jane@contoso.example",
                "sam@contoso.example"
            ])
        );
    }

    #[test]
    fn an_excel_export_with_a_byte_order_mark_and_crlf_reads() {
        let id = "6b1f0d4e-3f7a-4a8e-9d2c-1a2b3c4d5e6f";
        let text = format!(
            "\u{feff}User principal name,Display name,Department,,\r\n\
             Alex@Contoso.example,\"Doe, Alex\",Sales,,\r\n\
             \r\n\
             {id},\"Roe, Jane\",\"R&D, Lab\",,\r\n"
        );
        assert_eq!(
            users(&text),
            vec![
                UserRef::Upn("alex@contoso.example".into()),
                UserRef::ObjectId(id.parse().unwrap())
            ]
        );
    }

    #[test]
    fn binary_files_are_not_lists() {
        // A PNG's first bytes as a browser decodes them, and a workbook's.
        for text in [
            "\u{fffd}PNG\r\n\u{1a}\n\0\0\0\rIHDR",
            "PK\u{3}\u{4}\u{14}\0\u{6}\0",
        ] {
            let error = Target::users_from_csv("photo.png", text).unwrap_err();
            assert_eq!(
                error,
                AudienceError::NotText {
                    source_name: "photo.png".into()
                }
            );
            assert!(error.to_string().contains("CSV UTF-8"), "{error}");
        }
        assert!(list_text("book.xlsx", b"PK\x03\x04\x14\x00\x06\x00\xff\xfe").is_err());
    }

    #[test]
    fn excel_unicode_text_reads() {
        let text = "User principal name\tDisplay name\r\nalex@contoso.example\tDoe, Alex\r\n";
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let decoded = list_text("people.txt", &bytes).unwrap();
        assert_eq!(decoded, text);
        assert_eq!(
            users(&decoded),
            vec![UserRef::Upn("alex@contoso.example".into())]
        );
        let mut big_endian = vec![0xFE, 0xFF];
        big_endian.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(list_text("people.txt", &big_endian).unwrap(), text);
        assert_eq!(
            list_text("people.csv", "a@b.example".as_bytes()).unwrap(),
            "a@b.example"
        );
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_person() {
        let id = "6b1f0d4e-3f7a-4a8e-9d2c-1a2b3c4d5e6f";
        assert_eq!(
            users("\u{feff}alex@contoso.example\r\nsam@contoso.example\r\n"),
            upns(&["alex@contoso.example", "sam@contoso.example"])
        );
        assert_eq!(
            users(&format!("\u{feff}{id}\r\n")),
            vec![UserRef::ObjectId(id.parse().unwrap())]
        );
    }

    #[test]
    fn bad_rows_are_named_by_their_line_in_the_file() {
        // The quoted line break makes the bad row the file's fourth line.
        let text = "upn,notes\r\na@contoso.example,\"two\r\nlines\"\r\n\"Doe, Jane\",jane@contoso.example\r\n\r\n# a comment\r\nnobody\r\n";
        let error = Target::users_from_csv("people.csv", text).unwrap_err();
        assert_eq!(
            error.to_string(),
            "people.csv has rows that are neither a UPN nor an Entra object id: line 4: \"Doe, Jane\", line 7: \"nobody\""
        );
    }

    #[test]
    fn a_header_may_follow_comments_and_a_semicolon_file_is_refused() {
        assert_eq!(
            users("# exported from the HR system\nupn;name\nalex@contoso.example\n"),
            upns(&["alex@contoso.example"])
        );
        let error = Target::users_from_csv("people.csv", "upn;name\nalex@contoso.example;Alex\n")
            .unwrap_err();
        assert!(error.to_string().contains("line 2"), "{error}");
    }

    #[test]
    fn a_runaway_quote_is_shown_shortened() {
        let text = format!("a@contoso.example\n\"oops, {}\n", "x".repeat(200));
        let error = Target::users_from_csv("people.csv", &text).unwrap_err();
        assert!(error.to_string().contains("line 2"), "{error}");
        assert!(error.to_string().len() < 200, "{error}");
    }

    #[test]
    fn bad_rows_are_named_by_line() {
        let error = Target::users_from_csv("people.csv", "a@contoso.example\nnot an address\n")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "people.csv has rows that are neither a UPN nor an Entra object id: line 2: \"not an address\""
        );
    }

    #[test]
    fn empty_lists_and_audiences_are_refused() {
        assert!(matches!(
            Target::users_from_csv("x.csv", "\n# nobody\n"),
            Err(AudienceError::EmptyList { .. })
        ));
        assert_eq!(Audience::new(Vec::new()), Err(AudienceError::Empty));
    }

    #[test]
    fn every_kind_parses_from_the_command_line() {
        assert_eq!(Target::parse("all").unwrap(), Target::Everyone);
        assert_eq!(
            Target::parse("group:g1").unwrap(),
            Target::Group { id: "g1".into() }
        );
        assert_eq!(
            Target::parse("team:t1").unwrap(),
            Target::Channel {
                team: "t1".into(),
                channel: None
            }
        );
        assert_eq!(
            Target::parse("channel:t1/19:c@thread.tacv2").unwrap(),
            Target::Channel {
                team: "t1".into(),
                channel: Some("19:c@thread.tacv2".into())
            }
        );
        assert_eq!(
            Target::parse("team-members:t1").unwrap(),
            Target::TeamMembers { team: "t1".into() }
        );
        assert!(matches!(
            Target::parse("group:"),
            Err(AudienceError::MissingId { .. })
        ));
        assert!(matches!(
            Target::parse("channel:t1"),
            Err(AudienceError::MissingId { .. })
        ));
        assert!(matches!(
            Target::parse("planet:earth"),
            Err(AudienceError::UnknownKind { .. })
        ));
    }

    #[test]
    fn audiences_round_trip_through_json() {
        let audience = Audience::new(vec![
            Target::users_from_csv("p.csv", "a@b.example").unwrap(),
        ])
        .unwrap();
        let json = serde_json::to_string(&audience).unwrap();
        assert_eq!(serde_json::from_str::<Audience>(&json).unwrap(), audience);
    }
}
