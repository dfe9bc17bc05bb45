//! What the web UI asks of the prepare stage: sending a draft now or when
//! its schedule falls due, a test to its author, and looking up audiences
//! (search, counts, a CSV's people) before anything is sent.

use std::time::Duration;

use herald_domain::audience::Target;
use herald_domain::{Audience, Content, NotificationId, UserRef, build_activity};
use herald_microsoft::{Graph, GraphError};
use herald_queue::Broker;
use herald_store::{Origin, Store};
use tokio::sync::watch;

use crate::submit::{SubmitError, queue_for_preparing, submit_notification};

/// Sends a draft (or a scheduled notification) now.
pub async fn send_draft(
    store: &Store,
    broker: &Broker,
    id: NotificationId,
) -> Result<(), SubmitError> {
    let record = store
        .notification(id)
        .await?
        .ok_or(SubmitError::Unknown(id))?;
    if record.audience.targets.is_empty() {
        return Err(SubmitError::NoAudience);
    }
    record.content.validate()?;
    build_activity(
        &record.content,
        &record.audience.reason(),
        &record.acknowledgement(),
    )?;
    if !store.start_sending(id).await? {
        return Err(SubmitError::NotADraft(id));
    }
    queue_for_preparing(store, broker, id).await
}

/// Who sends a test, and of which draft.
#[derive(Debug, Clone)]
pub struct Tester {
    /// Entra object id and name: the test goes to them alone.
    pub id: uuid::Uuid,
    pub name: String,
    /// Their UPN, kept as who created the test.
    pub upn: String,
}

/// Sends a draft's content to its author alone, as a separate notification
/// whose title says it is a test (the card the author gets shows it). It
/// is stored as a test of `draft`: lists and figures leave it out, and the
/// draft's page shows it.
pub async fn send_test(
    store: &Store,
    broker: &Broker,
    content: &Content,
    draft: NotificationId,
    tester: &Tester,
) -> Result<NotificationId, SubmitError> {
    let mut content = content.clone();
    let title: String = format!("[Test] {}", content.title.as_str())
        .chars()
        .take(herald_domain::Title::MAX)
        .collect();
    content.title = herald_domain::Title::parse(&title)?;
    let audience = Audience::new(vec![Target::Users {
        source: "a test sent to yourself".to_owned(),
        users: vec![UserRef::ObjectId(tester.id)],
    }])
    .map_err(|_| SubmitError::NoAudience)?;
    let origin = Origin::Test {
        of: draft,
        author: (tester.id, tester.name.clone()),
    };
    submit_notification(store, broker, &content, &audience, &tester.upn, origin).await
}

/// Scheduled notifications claimed per round.
const DUE_PER_ROUND: i64 = 20;

/// Fires the scheduled notifications that are due. A row is claimed under
/// a lock that other processes skip, marked preparing and committed only
/// after its prepare message is published: each fires once, and one whose
/// publish failed stays scheduled for the next round. A crash between the
/// publish and the commit publishes it again, which the prepare stage
/// takes as the redelivery it already handles.
pub async fn fire_due(store: &Store, broker: &Broker) -> Result<usize, SubmitError> {
    let due = store.claim_due(DUE_PER_ROUND).await?;
    if due.ids.is_empty() {
        return Ok(0);
    }
    let messages: Vec<_> = due
        .ids
        .iter()
        .map(|id| herald_queue::PrepareMessage { notification: id.0 })
        .collect();
    broker
        .publish(herald_queue::Route::Prepare, &messages)
        .await?;
    let fired = due.ids.len();
    for id in &due.ids {
        tracing::info!(notification = %id, "scheduled notification is due: preparing");
    }
    due.commit().await?;
    Ok(fired)
}

/// Fires due schedules every second until `stop`.
pub async fn run_scheduler(
    store: Store,
    broker: std::sync::Arc<Broker>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        loop {
            match fire_due(&store, &broker).await {
                Ok(fired) if fired as i64 == DUE_PER_ROUND => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(error = %herald_domain::chain(&error), "cannot fire scheduled notifications; trying again in a second");
                    break;
                }
            }
        }
    }
}

/// A choice the audience picker offers for a search.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Choice {
    /// The target in the words `Target::parse` reads.
    pub spec: String,
    /// What the author sees, and what the draft keeps as the target's label.
    pub label: String,
    /// A second line: what picking it means.
    pub detail: String,
    /// For the choice that lists a team's channels: the team's id and name
    /// (its `spec` is empty: it is not a target itself).
    pub team: Option<String>,
    pub team_name: Option<String>,
}

/// Groups and teams whose names start a word with `text`, with how many
/// people each has, then the channels whose names do. A team offers its
/// General channel and its members one by one; a group its members.
pub async fn search_audience(graph: &Graph, text: &str) -> Result<Vec<Choice>, GraphError> {
    const SHOWN: usize = 10;
    let found = graph.search_groups(text, false, SHOWN).await?;
    let counts = member_counts(graph, &found.groups).await;
    let mut choices = Vec::new();
    for (group, count) in found.groups.iter().zip(counts) {
        let people = count.map_or_else(String::new, |count| format!(" · {}", people(count)));
        if group.is_team {
            choices.push(Choice {
                spec: format!("team:{}", group.id),
                label: format!("{} (General channel)", group.display_name),
                detail: format!("One post in the team's General channel{people}"),
                team: None,
                team_name: None,
            });
            choices.push(Choice {
                spec: String::new(),
                label: format!("{} › another channel…", group.display_name),
                detail: "Show the team's channels to pick one".to_owned(),
                team: Some(group.id.clone()),
                team_name: Some(group.display_name.clone()),
            });
            choices.push(Choice {
                spec: format!("team-members:{}", group.id),
                label: format!("{} (each member)", group.display_name),
                detail: format!("Each member of the team, in a chat with Herald{people}"),
                team: None,
                team_name: None,
            });
        } else {
            choices.push(Choice {
                spec: format!("group:{}", group.id),
                label: group.display_name.clone(),
                detail: format!("Each member of the group, nested groups included{people}"),
                team: None,
                team_name: None,
            });
        }
    }
    let channels: Vec<Choice> = channels_named(graph, text)
        .await?
        .into_iter()
        .filter(|channel| !choices.iter().any(|c| c.spec == channel.spec))
        .take(SHOWN)
        .collect();
    choices.extend(channels);
    Ok(choices)
}

/// "1 person", "12 people".
fn people(count: u64) -> String {
    if count == 1 {
        "1 person".to_owned()
    } else {
        format!("{count} people")
    }
}

/// The people in each group shown, nested groups flattened: one `$count`
/// call per group, side by side, each paced as a directory read (5 units;
/// ten groups are 50 of the 3,500 a small tenant may spend every 10 s). A
/// count Graph will not give is left out rather than failing the search.
async fn member_counts(graph: &Graph, groups: &[herald_microsoft::FoundGroup]) -> Vec<Option<u64>> {
    futures_util::future::join_all(groups.iter().map(|group| async move {
        match graph.group_member_count(&group.id).await {
            Ok(count) => Some(count),
            Err(error) => {
                tracing::warn!(group = %group.id, error = %herald_domain::chain(&error), "could not count a group's members for the picker");
                None
            }
        }
    }))
    .await
}

/// Teams whose channels a search looks through. Graph has no search across
/// channels (teams-platform.md §10): Herald lists the teams, then each
/// team's channels, a call per team paced like every team read, so the
/// number of teams is bounded.
const TEAMS_LOOKED_THROUGH: usize = 25;

/// Channels with a word of their name starting with each word of `text`
/// (as Graph's `$search` matches names), in the first teams of the tenant.
async fn channels_named(graph: &Graph, text: &str) -> Result<Vec<Choice>, GraphError> {
    let words = name_words(text);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let teams = graph.teams(TEAMS_LOOKED_THROUGH).await?.groups;
    let lists =
        futures_util::future::join_all(teams.iter().map(|team| graph.team_channels(&team.id)))
            .await;
    let mut choices = Vec::new();
    for (team, channels) in teams.iter().zip(lists) {
        for channel in channels? {
            let name = channel.display_name.as_deref().unwrap_or("General");
            if !matches_words(name, &words) {
                continue;
            }
            let general = name == "General";
            choices.push(Choice {
                spec: if general {
                    format!("team:{}", team.id)
                } else {
                    format!("channel:{}/{}", team.id, channel.id)
                },
                label: if general {
                    format!("{} (General channel)", team.display_name)
                } else {
                    format!("{} › {name}", team.display_name)
                },
                detail: format!("One post in this channel of {}", team.display_name),
                team: None,
                team_name: None,
            });
        }
    }
    Ok(choices)
}

fn name_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Every typed word starts a word of `name`.
fn matches_words(name: &str, typed: &[String]) -> bool {
    let words = name_words(name);
    typed
        .iter()
        .all(|typed| words.iter().any(|word| word.starts_with(typed.as_str())))
}

/// A team's channels other than General, as picker choices.
pub async fn channel_choices(
    graph: &Graph,
    team: &str,
    team_name: &str,
) -> Result<Vec<Choice>, GraphError> {
    let channels = graph.team_channels(team).await?;
    Ok(channels
        .into_iter()
        .filter(|c| c.display_name.as_deref() != Some("General"))
        .map(|channel| Choice {
            spec: format!("channel:{team}/{}", channel.id),
            label: format!(
                "{team_name} › {}",
                channel
                    .display_name
                    .as_deref()
                    .unwrap_or("(unnamed channel)")
            ),
            detail: "One post in this channel".to_owned(),
            team: None,
            team_name: None,
        })
        .collect())
}

/// How many people and channel posts an audience comes to, and how long
/// sending takes at a given rate. People in two targets count twice: it is
/// an estimate, made before anything is resolved.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Estimate {
    pub people: u64,
    pub channel_posts: u64,
}

impl Estimate {
    pub fn messages(&self) -> u64 {
        self.people + self.channel_posts
    }

    /// Seconds to post every message at `rate_per_second`.
    pub fn seconds_at(&self, rate_per_second: f64) -> f64 {
        self.messages() as f64 / rate_per_second.max(0.001)
    }
}

pub async fn estimate(graph: &Graph, audience: &Audience) -> Result<Estimate, GraphError> {
    let mut estimate = Estimate::default();
    for target in &audience.targets {
        match target {
            Target::Users { users, .. } => estimate.people += users.len() as u64,
            Target::Everyone => estimate.people += graph.user_count().await?,
            Target::Group { id } => estimate.people += graph.group_member_count(id).await?,
            Target::TeamMembers { team } => {
                estimate.people += graph.group_member_count(team).await?;
            }
            Target::Channel { .. } => estimate.channel_posts += 1,
        }
    }
    Ok(estimate)
}

/// A list's people split into those Graph knows and the rows that match
/// nobody, before anything is sent.
#[derive(Debug, Clone, Default)]
pub struct PeopleCheck {
    pub found: Vec<UserRef>,
    pub unknown: Vec<String>,
}

pub async fn check_people(graph: &Graph, users: &[UserRef]) -> Result<PeopleCheck, GraphError> {
    let mut check = PeopleCheck::default();
    for chunk in users.chunks(20) {
        let keys: Vec<String> = chunk.iter().map(ToString::to_string).collect();
        let answers = graph.users_batch(&keys).await?;
        for (user, answer) in chunk.iter().zip(answers) {
            match answer {
                Some(_) => check.found.push(user.clone()),
                None => check.unknown.push(user.to_string()),
            }
        }
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_match_by_the_start_of_their_words() {
        let typed = name_words("gen");
        assert!(matches_words("General", &typed));
        assert!(!matches_words("Agenda", &typed));
        assert!(matches_words("Partner news", &name_words("news part")));
        assert!(!matches_words("Partners", &name_words("part x")));
        assert!(name_words(" \"' ").is_empty());
    }

    #[test]
    fn one_person_is_not_people() {
        assert_eq!(people(1), "1 person");
        assert_eq!(people(0), "0 people");
        assert_eq!(people(12), "12 people");
    }
}
