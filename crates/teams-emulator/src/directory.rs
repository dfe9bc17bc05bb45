//! The seeded tenant: users, groups, teams, channels and app installations.
//!
//! Everything here is plain data plus the rules that change it; HTTP lives in
//! the `graph`, `connector` and `control` modules. Changes bump a version
//! counter so that Graph's delta queries can return only what changed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::rng::SplitMix64;

/// What to generate. The same spec always yields the same directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectorySpec {
    pub seed: u64,
    pub users: usize,
    pub teams: usize,
    pub groups: usize,
    /// Share of users that are guests (`userType: Guest`).
    pub guest_fraction: f64,
    /// Share of users whose account is disabled.
    pub disabled_fraction: f64,
    /// Share of users that already have the app installed (and so a chat).
    pub installed_fraction: f64,
    /// Share of users with the app who blocked the bot: sends get 403.
    pub blocked_fraction: f64,
    /// Share of users who leave the company mid-broadcast: the first send to
    /// them gets 404 and they disappear from the directory.
    pub departing_fraction: f64,
}

impl Default for DirectorySpec {
    fn default() -> Self {
        Self {
            seed: 1,
            users: 1_000,
            teams: 5,
            groups: 5,
            guest_fraction: 0.03,
            disabled_fraction: 0.02,
            installed_fraction: 0.3,
            blocked_fraction: 0.01,
            departing_fraction: 0.01,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserType {
    Member,
    Guest,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub display_name: String,
    pub given_name: String,
    pub surname: String,
    pub user_principal_name: String,
    pub mail: String,
    pub user_type: UserType,
    pub account_enabled: bool,
    /// The Bot Framework id of the user (`29:...`).
    pub teams_id: String,
    /// Roles for the web sign-in; only staff accounts have any.
    pub staff_roles: Vec<String>,
    pub blocked_bot: bool,
    pub departing: bool,
    pub removed: bool,
    /// Directory version of the last change, for delta queries.
    pub version: u64,
    pub installation: Option<Installation>,
}

#[derive(Debug, Clone)]
pub struct Installation {
    pub id: String,
    /// The 1:1 chat between the user and the bot; also its conversation id.
    pub chat_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRef {
    User(usize),
    Group(usize),
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: Uuid,
    pub display_name: String,
    pub group_types: Vec<String>,
    pub mail_enabled: bool,
    pub security_enabled: bool,
    pub members: Vec<MemberRef>,
    pub team: Option<Team>,
}

#[derive(Debug, Clone)]
pub struct Team {
    /// The Bot Framework id of the team, which is also the General channel id.
    pub thread_id: String,
    pub channels: Vec<Channel>,
    /// User indexes of the team's owners (the rest of `members` are members).
    pub owners: Vec<usize>,
    pub installation: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub id: String,
    pub display_name: String,
    pub membership: ChannelMembership,
}

/// Graph's `membershipType`: who sees a channel. An audience picker must
/// tell them apart, since a post in a private or shared channel does not
/// reach the whole team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelMembership {
    Standard,
    Private,
    Shared,
}

impl ChannelMembership {
    pub fn as_graph(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Private => "private",
            Self::Shared => "shared",
        }
    }
}

/// What an install or uninstall did, so the caller can tell the bot.
#[derive(Debug, Clone)]
pub enum InstallEvent {
    User { user: usize, chat_id: String },
    Team { group: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallError {
    NotFound,
    AlreadyInstalled,
}

pub struct Directory {
    pub tenant_id: String,
    pub domain: String,
    pub app_id: String,
    /// The app's id in the tenant's app catalog.
    pub teams_app_id: String,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub version: u64,
    by_id: HashMap<Uuid, usize>,
    by_upn: HashMap<String, usize>,
    by_teams_id: HashMap<String, usize>,
    by_chat: HashMap<String, usize>,
    groups_by_id: HashMap<Uuid, usize>,
    teams_by_thread: HashMap<String, usize>,
    added: u64,
}

const GIVEN: &[&str] = &[
    "Alex",
    "Megan",
    "Diego",
    "Isaiah",
    "Lidia",
    "Lynne",
    "Nestor",
    "Patti",
    "Pradeep",
    "Grady",
    "Adele",
    "Allan",
    "Christie",
    "Enrico",
    "Henrietta",
    "Irvin",
    "Johanna",
    "Joni",
    "Lee",
    "Miriam",
];
const FAMILY: &[&str] = &[
    "Wilber",
    "Bowen",
    "Siciliani",
    "Langer",
    "Holloway",
    "Robbins",
    "Wilke",
    "Fernandez",
    "Gupta",
    "Archie",
    "Vance",
    "Deyoung",
    "Cline",
    "Cartwright",
    "Mittelman",
    "Sink",
    "Lambert",
    "Sherman",
    "Adams",
    "Alvarado",
];
const TEAM_WORDS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Legal",
    "Support",
    "Research",
    "Operations",
    "Design",
    "People",
];

impl Directory {
    pub fn generate(spec: &DirectorySpec, tenant_id: &str, app_id: &str) -> Self {
        let mut rng = SplitMix64::new(spec.seed);
        let domain = "contoso.example".to_owned();
        let teams_app_id = rng.uuid().to_string();
        let mut directory = Directory {
            tenant_id: tenant_id.to_owned(),
            domain,
            app_id: app_id.to_owned(),
            teams_app_id,
            users: Vec::with_capacity(spec.users),
            groups: Vec::new(),
            version: 1,
            by_id: HashMap::with_capacity(spec.users),
            by_upn: HashMap::with_capacity(spec.users),
            by_teams_id: HashMap::with_capacity(spec.users),
            by_chat: HashMap::new(),
            groups_by_id: HashMap::new(),
            teams_by_thread: HashMap::new(),
            added: 0,
        };
        for number in 0..spec.users {
            let user = directory.new_user(&mut rng, number, spec);
            directory.insert_user(user);
        }
        directory.generate_groups(&mut rng, spec);
        directory
    }

    fn new_user(&self, rng: &mut SplitMix64, number: usize, spec: &DirectorySpec) -> User {
        let given = GIVEN[rng.below(GIVEN.len())];
        let family = FAMILY[rng.below(FAMILY.len())];
        let id = rng.uuid();
        // The first accounts are the staff who sign in to Herald; keep them
        // ordinary enabled members so demos always work.
        let staff = number < 3;
        let guest = !staff && rng.chance(spec.guest_fraction);
        let disabled = !staff && rng.chance(spec.disabled_fraction);
        let installed = rng.chance(spec.installed_fraction);
        let blocked = !staff && installed && rng.chance(spec.blocked_fraction);
        let departing = !staff && rng.chance(spec.departing_fraction);
        let local = format!(
            "{}.{}{}",
            given.to_lowercase(),
            family.to_lowercase(),
            number
        );
        let (upn, mail) = if guest {
            let mail = format!("{local}@fabrikam.example");
            (
                format!("{local}_fabrikam.example#EXT#@{}", self.domain),
                mail,
            )
        } else {
            let upn = format!("{local}@{}", self.domain);
            (upn.clone(), upn)
        };
        let staff_roles = match number {
            0 => vec!["Herald.Admin".to_owned()],
            1 | 2 => vec!["Herald.Author".to_owned()],
            _ => Vec::new(),
        };
        let mut user = User {
            id,
            display_name: format!("{given} {family}"),
            given_name: given.to_owned(),
            surname: family.to_owned(),
            user_principal_name: upn,
            mail,
            user_type: if guest {
                UserType::Guest
            } else {
                UserType::Member
            },
            account_enabled: !disabled,
            teams_id: format!("29:1{}", rng.hex(40)),
            staff_roles,
            blocked_bot: blocked,
            departing,
            removed: false,
            version: 1,
            installation: None,
        };
        if installed {
            user.installation = Some(self.installation_for(&user));
        }
        user
    }

    fn installation_for(&self, user: &User) -> Installation {
        Installation {
            id: installation_id(&user.id.to_string(), &self.teams_app_id),
            chat_id: self.chat_id_for(user),
        }
    }

    /// The 1:1 chat between a user and the bot; it outlives an uninstall.
    pub fn chat_id_for(&self, user: &User) -> String {
        format!("19:{}_{}@unq.gbl.spaces", user.id, self.app_id)
    }

    fn insert_user(&mut self, user: User) -> usize {
        let index = self.users.len();
        self.by_id.insert(user.id, index);
        self.by_upn
            .insert(user.user_principal_name.to_lowercase(), index);
        self.by_teams_id.insert(user.teams_id.clone(), index);
        if let Some(installation) = &user.installation {
            self.by_chat.insert(installation.chat_id.clone(), index);
        }
        self.users.push(user);
        index
    }

    fn generate_groups(&mut self, rng: &mut SplitMix64, spec: &DirectorySpec) {
        let user_count = self.users.len();
        for number in 0..spec.teams + spec.groups {
            let is_team = number < spec.teams;
            let word = TEAM_WORDS[number % TEAM_WORDS.len()];
            let members = sample_users(rng, user_count, 3, 60);
            let mut group = Group {
                id: rng.uuid(),
                display_name: if is_team {
                    format!("{word} Team {number}")
                } else {
                    format!("{word} Group {number}")
                },
                group_types: if is_team || number % 3 == 0 {
                    vec!["Unified".to_owned()]
                } else {
                    Vec::new()
                },
                mail_enabled: is_team || number % 3 != 1,
                security_enabled: !is_team && number % 3 != 0,
                members: members.iter().map(|&u| MemberRef::User(u)).collect(),
                team: None,
            };
            if is_team {
                let mut team = generate_team(rng, &members, number);
                // The first team already has the app, as in a tenant that
                // trialled it.
                if number == 0 {
                    team.installation = Some(installation_id(&team.thread_id, &self.teams_app_id));
                }
                group.team = Some(team);
            } else if number > spec.teams && number % 2 == 0 {
                // Every other plain group nests the one before it, so that
                // transitive membership has something to flatten.
                group.members.push(MemberRef::Group(number - 1));
            }
            let index = self.groups.len();
            self.groups_by_id.insert(group.id, index);
            if let Some(team) = &group.team {
                self.teams_by_thread.insert(team.thread_id.clone(), index);
            }
            self.groups.push(group);
        }
    }

    pub fn user(&self, index: usize) -> &User {
        &self.users[index]
    }

    /// A present user by Entra object id or user principal name.
    pub fn find_user(&self, key: &str) -> Option<usize> {
        let index = match Uuid::parse_str(key) {
            Ok(id) => self.by_id.get(&id).copied(),
            Err(_) => self.by_upn.get(&key.to_lowercase()).copied(),
        }?;
        (!self.users[index].removed).then_some(index)
    }

    /// A present user by Bot Framework id (`29:...`) or Entra object id.
    pub fn find_member(&self, key: &str) -> Option<usize> {
        let index = match self.by_teams_id.get(key) {
            Some(&index) => index,
            None => self.by_id.get(&Uuid::parse_str(key).ok()?).copied()?,
        };
        (!self.users[index].removed).then_some(index)
    }

    pub fn user_by_chat(&self, chat_id: &str) -> Option<usize> {
        self.by_chat.get(chat_id).copied()
    }

    pub fn find_group(&self, key: &str) -> Option<usize> {
        self.groups_by_id.get(&Uuid::parse_str(key).ok()?).copied()
    }

    pub fn find_team(&self, key: &str) -> Option<usize> {
        self.find_group(key)
            .filter(|&g| self.groups[g].team.is_some())
    }

    pub fn team_by_thread(&self, thread_id: &str) -> Option<usize> {
        self.teams_by_thread.get(thread_id).copied()
    }

    /// Users and groups reachable from a group, each once, nested groups
    /// flattened, in discovery order.
    pub fn transitive_members(&self, group: usize) -> Vec<MemberRef> {
        let mut seen_groups = vec![group];
        let mut seen_users = std::collections::HashSet::new();
        let mut out = Vec::new();
        let mut queue = std::collections::VecDeque::from([group]);
        while let Some(current) = queue.pop_front() {
            for member in &self.groups[current].members {
                match *member {
                    MemberRef::User(u) if !self.users[u].removed && seen_users.insert(u) => {
                        out.push(*member);
                    }
                    MemberRef::Group(g) if !seen_groups.contains(&g) => {
                        seen_groups.push(g);
                        out.push(*member);
                        queue.push_back(g);
                    }
                    _ => {}
                }
            }
        }
        out
    }

    fn bump(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    pub fn install_for_user(&mut self, user: usize) -> Result<InstallEvent, InstallError> {
        if self.users[user].installation.is_some() {
            return Err(InstallError::AlreadyInstalled);
        }
        let installation = self.installation_for(&self.users[user]);
        let chat_id = installation.chat_id.clone();
        self.by_chat.insert(chat_id.clone(), user);
        self.users[user].installation = Some(installation);
        Ok(InstallEvent::User { user, chat_id })
    }

    pub fn uninstall_for_user(&mut self, user: usize) -> Result<InstallEvent, InstallError> {
        let installation = self.users[user]
            .installation
            .take()
            .ok_or(InstallError::NotFound)?;
        // The chat itself survives an uninstall in Teams; only writing to it
        // is refused, which the connector checks through `installation`.
        Ok(InstallEvent::User {
            user,
            chat_id: installation.chat_id,
        })
    }

    pub fn install_for_team(&mut self, group: usize) -> Result<InstallEvent, InstallError> {
        let teams_app_id = self.teams_app_id.clone();
        let team = self.groups[group]
            .team
            .as_mut()
            .ok_or(InstallError::NotFound)?;
        if team.installation.is_some() {
            return Err(InstallError::AlreadyInstalled);
        }
        team.installation = Some(installation_id(&team.thread_id, &teams_app_id));
        Ok(InstallEvent::Team { group })
    }

    pub fn uninstall_for_team(&mut self, group: usize) -> Result<InstallEvent, InstallError> {
        let team = self.groups[group]
            .team
            .as_mut()
            .ok_or(InstallError::NotFound)?;
        team.installation.take().ok_or(InstallError::NotFound)?;
        Ok(InstallEvent::Team { group })
    }

    /// The user leaves the company: gone from Graph (delta reports it as
    /// removed) and from the Bot Connector.
    pub fn remove_user(&mut self, user: usize) {
        let version = self.bump();
        let record = &mut self.users[user];
        record.removed = true;
        record.version = version;
    }

    pub fn rename_user(&mut self, user: usize, display_name: String) {
        let version = self.bump();
        let record = &mut self.users[user];
        record.display_name = display_name;
        record.version = version;
    }

    pub fn set_account_enabled(&mut self, user: usize, enabled: bool) {
        let version = self.bump();
        let record = &mut self.users[user];
        record.account_enabled = enabled;
        record.version = version;
    }

    /// A new hire; seeded from the directory seed and the number of hires so
    /// far, so runs stay reproducible.
    pub fn add_user(&mut self, display_name: Option<String>) -> usize {
        self.added += 1;
        let mut rng = SplitMix64::new(self.added ^ 0x5EED_0000_0000);
        let spec = DirectorySpec {
            guest_fraction: 0.0,
            disabled_fraction: 0.0,
            installed_fraction: 0.0,
            departing_fraction: 0.0,
            ..DirectorySpec::default()
        };
        let number = self.users.len();
        let mut user = self.new_user(&mut rng, number.max(3), &spec);
        if let Some(name) = display_name {
            user.display_name = name;
        }
        user.version = self.bump();
        self.insert_user(user)
    }

    /// Adds a standard channel to a team; returns its id, or `None` when
    /// there is no such team.
    pub fn add_channel(&mut self, team: usize, display_name: String) -> Option<String> {
        self.added += 1;
        let mut rng = SplitMix64::new(self.added ^ 0xC4A7_0000_0000);
        let id = format!("19:{}@thread.tacv2", rng.hex(32));
        self.groups[team].team.as_mut()?.channels.push(Channel {
            id: id.clone(),
            display_name,
            membership: ChannelMembership::Standard,
        });
        Some(id)
    }

    pub fn present_users(&self) -> impl Iterator<Item = (usize, &User)> {
        self.users.iter().enumerate().filter(|(_, u)| !u.removed)
    }
}

/// Graph's installation ids are opaque base64; these encode who and what.
fn installation_id(scope: &str, teams_app_id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{scope}##{teams_app_id}"))
}

fn sample_users(rng: &mut SplitMix64, user_count: usize, min: usize, max: usize) -> Vec<usize> {
    if user_count == 0 {
        return Vec::new();
    }
    let wanted = (min + rng.below(max - min + 1)).min(user_count);
    let mut chosen = Vec::with_capacity(wanted);
    while chosen.len() < wanted {
        let candidate = rng.below(user_count);
        if !chosen.contains(&candidate) {
            chosen.push(candidate);
        }
    }
    chosen
}

fn generate_team(rng: &mut SplitMix64, members: &[usize], number: usize) -> Team {
    let thread_id = format!("19:{}@thread.tacv2", rng.hex(32));
    let mut channels = vec![Channel {
        id: thread_id.clone(),
        display_name: "General".to_owned(),
        membership: ChannelMembership::Standard,
    }];
    // Some teams get a private and a shared channel, so that every
    // membership type Graph reports is there to be listed.
    let extras = [
        ("Announcements", ChannelMembership::Standard),
        ("Projects", ChannelMembership::Private),
        ("Partners", ChannelMembership::Shared),
    ];
    for (name, membership) in extras.into_iter().take(1 + number % 3) {
        channels.push(Channel {
            id: format!("19:{}@thread.tacv2", rng.hex(32)),
            display_name: name.to_owned(),
            membership,
        });
    }
    Team {
        thread_id,
        channels,
        owners: members.iter().take(1).copied().collect(),
        installation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory(users: usize) -> Directory {
        let spec = DirectorySpec {
            users,
            ..DirectorySpec::default()
        };
        Directory::generate(&spec, "tenant", "app")
    }

    #[test]
    fn same_seed_same_directory() {
        let a = directory(200);
        let b = directory(200);
        let ids = |d: &Directory| d.users.iter().map(|u| u.id).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert_eq!(a.groups[0].id, b.groups[0].id);
    }

    #[test]
    fn users_are_found_by_id_upn_and_teams_id() {
        let d = directory(50);
        let user = &d.users[10];
        assert_eq!(d.find_user(&user.id.to_string()), Some(10));
        assert_eq!(
            d.find_user(&user.user_principal_name.to_uppercase()),
            Some(10)
        );
        assert_eq!(d.find_member(&user.teams_id), Some(10));
    }

    #[test]
    fn nested_groups_are_flattened_once() {
        let mut d = directory(100);
        let outer = d.groups.len() - 1;
        let inner = outer - 1;
        d.groups[outer].members = vec![MemberRef::Group(inner), MemberRef::User(0)];
        d.groups[inner].members = vec![
            MemberRef::User(0),
            MemberRef::User(1),
            MemberRef::Group(outer),
        ];
        let members = d.transitive_members(outer);
        assert_eq!(
            members,
            vec![
                MemberRef::Group(inner),
                MemberRef::User(0),
                MemberRef::User(1)
            ]
        );
    }

    #[test]
    fn a_second_install_conflicts() {
        let mut d = directory(20);
        let user = d
            .users
            .iter()
            .position(|u| u.installation.is_none())
            .unwrap();
        assert!(d.install_for_user(user).is_ok());
        assert_eq!(
            d.install_for_user(user).unwrap_err(),
            InstallError::AlreadyInstalled
        );
    }
}
