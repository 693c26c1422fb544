//! Factions (issue #18; EARLIER-BOT.md §2.14): groups of players on one game server, with a
//! leader, officers and members.
//!
//! A member is a Discord user (who has at most one linked player per server, so one
//! member is one player). Three collections:
//! - `factions`: one document per faction, its leader among its fields, so handing the
//!   lead over is one conditional update (never two leaders, never none). A deleted
//!   faction stays (`deleted_at`, its name and tag freed) for the season archive.
//! - `faction_members`: one document per (guild, server, user), its `_id` built from
//!   them: a user is in one faction per server because the database refuses a second
//!   document with that `_id`, whatever runs at the same moment.
//! - `faction_periods`: a membership that ended (left, removed, faction deleted), with
//!   its start and end, so a faction's statistics count members' kills only for the time
//!   they were members.
//!
//! Creating writes the founder's membership first, then the faction: a crash between
//! leaves a membership naming no faction, which every read ignores and the next join or
//! create of that user replaces once it is older than a create takes
//! ([`CREATING_FOR_SECS`]).

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, DateTime, Document, doc, oid::ObjectId};
use mongodb::error::Error as MongoError;

use crate::db::{Database, collections, is_duplicate_key};
use crate::schema::SCHEMA_VERSION;

/// The most members a faction takes (the earlier bot's).
pub const MAX_MEMBERS: u64 = 100;

/// A membership whose faction does not exist (yet) is a create under way for this long,
/// then a create cut short.
pub const CREATING_FOR_SECS: i64 = 60;

/// A leader mark this old on a member who does not lead was left by a hand-over cut
/// short (one in flight takes milliseconds): it is cleared when they leave or are removed.
const STALE_MARK_SECS: i64 = 60;

/// A faction's colours by name, as the earlier bot offered them.
pub const COLOURS: [(&str, u32); 8] = [
    ("red", 0xE7_4C_3C),
    ("blue", 0x34_98_DB),
    ("green", 0x2E_CC_71),
    ("gold", 0xF1_C4_0F),
    ("purple", 0x9B_59_B6),
    ("orange", 0xE6_7E_22),
    ("teal", 0x1A_BC_9C),
    ("dark_blue", 0x20_66_8C),
];

/// A faction as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Faction {
    pub id: String,
    pub guild_id: u64,
    pub server_id: String,
    pub name: String,
    pub tag: String,
    pub description: String,
    pub colour: Option<u32>,
    pub require_approval: bool,
    pub leader_id: u64,
    pub created_unix: i64,
    /// When it was deleted (kept for the season archive).
    pub deleted_unix: Option<i64>,
}

/// A member's standing in their faction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Leader,
    Officer,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Officer => "officer",
            Role::Member => "member",
        }
    }
}

/// A member of a faction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: u64,
    pub role: Role,
    pub joined_unix: i64,
    /// From when their kills count for the faction: when they joined, or earlier when an
    /// admin asked ([`Factions::count_history`]).
    pub counted_from_unix: i64,
}

/// A faction's PvP record ([`Factions::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactionStats {
    pub kills: i64,
    pub deaths: i64,
    /// Members' kills of each other.
    pub friendly_kills: i64,
    /// Each member's record, the most kills first.
    pub players: Vec<MemberRecord>,
}

impl FactionStats {
    /// Kills per death (kills when never killed), to 2 decimals as shown.
    pub fn kd(&self) -> f64 {
        match self.deaths {
            0 => self.kills as f64,
            d => self.kills as f64 / d as f64,
        }
    }
}

/// One member's part of their faction's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub player_id: String,
    pub name: String,
    pub kills: i64,
    pub deaths: i64,
}

/// What a faction is made with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NewFaction<'a> {
    pub name: &'a str,
    pub tag: &'a str,
    pub description: &'a str,
    pub colour: Option<u32>,
}

/// What a faction is changed to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactionFields {
    pub name: Option<String>,
    pub tag: Option<String>,
    pub description: Option<String>,
    pub colour: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum FactionError {
    #[error("Faction name must be between 3 and 32 characters long.")]
    InvalidName,
    #[error("Faction tag must be between 2 and 10 characters long.")]
    InvalidTag,
    #[error("a faction named {0} already exists on this server")]
    NameTaken(String),
    #[error("a faction tagged [{0}] already exists on this server")]
    TagTaken(String),
    #[error("You are already a member of {0}.")]
    AlreadyMember(String),
    #[error("Your faction is still being created; try again in a moment.")]
    Creating,
    #[error("no faction {0} on this server")]
    NotFound(String),
    #[error("not a member of a faction on this server")]
    NotMember,
    #[error("This faction requires approval to join. Please contact the faction leader.")]
    ApprovalRequired,
    #[error("This faction has reached the maximum number of members ({MAX_MEMBERS}).")]
    Full,
    #[error("the faction's leader must hand the lead over first")]
    LeaderMustTransfer,
    #[error("database: {0}")]
    Db(#[from] MongoError),
}

/// A faction's name, checked: 3 to 32 characters once trimmed.
pub fn checked_name(name: &str) -> Result<String, FactionError> {
    let name = name.trim();
    match name.chars().count() {
        3..=32 => Ok(name.to_owned()),
        _ => Err(FactionError::InvalidName),
    }
}

/// A faction's tag, checked: 2 to 10 characters once trimmed.
pub fn checked_tag(tag: &str) -> Result<String, FactionError> {
    let tag = tag.trim();
    match tag.chars().count() {
        2..=10 => Ok(tag.to_owned()),
        _ => Err(FactionError::InvalidTag),
    }
}

/// A colour as typed: `#RRGGBB` or one of [`COLOURS`]; `None` when it is neither.
pub fn parse_colour(text: &str) -> Option<u32> {
    let text = text.trim().to_lowercase();
    if let Some(hex) = text.strip_prefix('#') {
        return (hex.len() == 6)
            .then(|| u32::from_str_radix(hex, 16).ok())
            .flatten();
    }
    COLOURS.iter().find(|(n, _)| *n == text).map(|(_, c)| *c)
}

#[derive(Clone)]
pub struct Factions {
    factions: mongodb::Collection<Document>,
    members: mongodb::Collection<Document>,
    periods: mongodb::Collection<Document>,
    links: mongodb::Collection<Document>,
    kills: mongodb::Collection<Document>,
    cursors: crate::cursor_store::CursorStore,
    seasons: crate::seasons::SeasonStore,
}

/// A membership's time in a faction (Unix seconds, wall clock): open while it lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub user_id: u64,
    pub from_unix: i64,
    pub until_unix: Option<i64>,
    /// The player the member was linked to when it ended (an open one follows the link).
    pub player_id: Option<String>,
}

impl Factions {
    pub fn new(db: &Database) -> Self {
        let raw = db.raw();
        Self {
            factions: raw.collection(collections::FACTIONS),
            members: raw.collection(collections::FACTION_MEMBERS),
            periods: raw.collection(collections::FACTION_PERIODS),
            links: raw.collection(collections::PLAYER_LINKS),
            kills: raw.collection(collections::KILLS),
            cursors: crate::cursor_store::CursorStore::new(db),
            seasons: crate::seasons::SeasonStore::new(db),
        }
    }

    /// Creates a faction led by `user_id`, who must be in none on this server.
    pub async fn create(
        &self,
        guild_id: u64,
        server_id: &str,
        user_id: u64,
        new: &NewFaction<'_>,
    ) -> Result<Faction, FactionError> {
        let (name, tag) = (checked_name(new.name)?, checked_tag(new.tag)?);
        let (description, colour) = (new.description, new.colour);
        let id = ObjectId::new().to_hex();
        self.enter(guild_id, server_id, user_id, &id, true).await?;
        let now = DateTime::now();
        let faction = doc! {
            "_id": &id,
            "guild_id": guild_id.to_string(),
            "server_id": server_id,
            "name": &name,
            "name_key": key(&name),
            "tag": &tag,
            "tag_key": key(&tag),
            "description": description.trim(),
            "colour": colour.map(i64::from),
            "require_approval": false,
            "leader_id": user_id.to_string(),
            "created_at": now,
            "schema_version": SCHEMA_VERSION,
        };
        if let Err(e) = self.factions.insert_one(faction).await {
            // The name or tag is taken: the founder's membership goes again.
            self.members
                .delete_one(
                    doc! { "_id": member_key(guild_id, server_id, user_id), "faction_id": &id },
                )
                .await?;
            return Err(match is_duplicate_key(&e) {
                true => self.taken(guild_id, server_id, &name, &tag).await?,
                false => e.into(),
            });
        }
        self.get(guild_id, server_id, &id)
            .await?
            .ok_or_else(|| FactionError::NotFound(name))
    }

    /// A faction by its id (deleted ones too).
    pub async fn get(
        &self,
        guild_id: u64,
        server_id: &str,
        id: &str,
    ) -> Result<Option<Faction>, MongoError> {
        Ok(self
            .factions
            .find_one(doc! { "_id": id, "guild_id": guild_id.to_string(), "server_id": server_id })
            .await?
            .as_ref()
            .and_then(faction_of))
    }

    /// A live faction by name or tag, as typed (any case).
    pub async fn find(
        &self,
        guild_id: u64,
        server_id: &str,
        name_or_tag: &str,
    ) -> Result<Option<Faction>, MongoError> {
        // A name before a tag: one faction's tag may be another's name.
        let k = key(name_or_tag);
        for field in ["name_key", "tag_key"] {
            let mut filter = scope(guild_id, server_id);
            filter.insert(field, &k);
            filter.insert("deleted_at", Bson::Null);
            if let Some(f) = self
                .factions
                .find_one(filter)
                .await?
                .as_ref()
                .and_then(faction_of)
            {
                return Ok(Some(f));
            }
        }
        Ok(None)
    }

    /// The server's live factions, by name.
    pub async fn list(&self, guild_id: u64, server_id: &str) -> Result<Vec<Faction>, MongoError> {
        let mut filter = scope(guild_id, server_id);
        filter.insert("deleted_at", Bson::Null);
        let docs: Vec<Document> = self
            .factions
            .find(filter)
            .sort(doc! { "name_key": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().filter_map(faction_of).collect())
    }

    /// The faction `user_id` is in on this server, with their role.
    pub async fn of_user(
        &self,
        guild_id: u64,
        server_id: &str,
        user_id: u64,
    ) -> Result<Option<(Faction, Role)>, MongoError> {
        let Some(m) = self
            .members
            .find_one(doc! { "_id": member_key(guild_id, server_id, user_id) })
            .await?
        else {
            return Ok(None);
        };
        let Ok(id) = m.get_str("faction_id") else {
            return Ok(None);
        };
        // A membership whose faction is gone or was never made counts for nothing.
        Ok(self
            .get(guild_id, server_id, id)
            .await?
            .filter(|f| f.deleted_unix.is_none())
            .map(|f| {
                let role = role_of(&f, user_id, &m);
                (f, role)
            }))
    }

    /// A faction's members, the leader first, then officers, then by when they joined.
    pub async fn members(&self, faction: &Faction) -> Result<Vec<Member>, MongoError> {
        let docs: Vec<Document> = self
            .members
            .find(doc! { "faction_id": &faction.id })
            .await?
            .try_collect()
            .await?;
        let mut out: Vec<Member> = docs
            .iter()
            .filter_map(|m| {
                let user_id = m.get_str("user_id").ok()?.parse().ok()?;
                let joined_unix = m.get_datetime("joined_at").ok()?.timestamp_millis() / 1000;
                Some(Member {
                    user_id,
                    role: role_of(faction, user_id, m),
                    joined_unix,
                    counted_from_unix: m
                        .get_datetime("counted_from")
                        .map_or(joined_unix, |t| t.timestamp_millis() / 1000),
                })
            })
            .collect();
        out.sort_by_key(|m| (m.role, m.joined_unix, m.user_id));
        Ok(out)
    }

    /// `user_id` joins `faction` (`by_admin`: added by an admin, past the approval the
    /// faction may ask for).
    pub async fn join(
        &self,
        faction: &Faction,
        user_id: u64,
        by_admin: bool,
    ) -> Result<(), FactionError> {
        if faction.require_approval && !by_admin {
            return Err(FactionError::ApprovalRequired);
        }
        let count = self
            .members
            .count_documents(doc! { "faction_id": &faction.id })
            .await?;
        if count >= MAX_MEMBERS {
            return Err(FactionError::Full);
        }
        self.enter(
            faction.guild_id,
            &faction.server_id,
            user_id,
            &faction.id,
            false,
        )
        .await?;
        // Joins at the same moment may each have seen room for one: whoever finds the
        // faction over its size after entering steps back out (never a member).
        let count = self
            .members
            .count_documents(doc! { "faction_id": &faction.id })
            .await?;
        if count > MAX_MEMBERS {
            self.members
                .delete_one(doc! {
                    "_id": member_key(faction.guild_id, &faction.server_id, user_id),
                    "faction_id": &faction.id,
                    // Not if the lead was handed to them meanwhile.
                    "leader": { "$ne": true },
                })
                .await?;
            return Err(FactionError::Full);
        }
        Ok(())
    }

    /// Counts a member's kills from before they joined too (an admin asked): their
    /// membership counts from the start of the server's history.
    pub async fn count_history(&self, faction: &Faction, user_id: u64) -> Result<(), FactionError> {
        let changed = self
            .members
            .update_one(
                doc! {
                    "_id": member_key(faction.guild_id, &faction.server_id, user_id),
                    "faction_id": &faction.id,
                },
                doc! { "$set": { "counted_from": DateTime::from_millis(0) } },
            )
            .await?;
        match changed.matched_count {
            0 => Err(FactionError::NotMember),
            _ => Ok(()),
        }
    }

    /// `user_id` leaves their faction on this server (a leader hands the lead over
    /// first). The faction they left.
    pub async fn leave(
        &self,
        guild_id: u64,
        server_id: &str,
        user_id: u64,
    ) -> Result<Faction, FactionError> {
        let Some((faction, role)) = self.of_user(guild_id, server_id, user_id).await? else {
            return Err(FactionError::NotMember);
        };
        if role == Role::Leader {
            return Err(FactionError::LeaderMustTransfer);
        }
        if !self.end(&faction, user_id, false).await? {
            self.not_ended(&faction, user_id).await?;
        }
        Ok(faction)
    }

    /// Removes `user_id` from `faction` (not its leader, as it stands now: the lead may
    /// have been handed to them since the caller read it).
    pub async fn remove(&self, faction: &Faction, user_id: u64) -> Result<(), FactionError> {
        let now = self
            .get(faction.guild_id, &faction.server_id, &faction.id)
            .await?
            .ok_or_else(|| FactionError::NotFound(faction.name.clone()))?;
        if faction.leader_id == user_id || now.leader_id == user_id {
            return Err(FactionError::LeaderMustTransfer);
        }
        match self.end(faction, user_id, false).await? {
            true => Ok(()),
            false => self.not_ended(faction, user_id).await,
        }
    }

    /// A membership that did not end: ended now if it only kept a mark a hand-over cut
    /// short left (they do not lead); otherwise why not: they lead (the lead was handed to
    /// them meanwhile), or there was none.
    async fn not_ended(&self, faction: &Faction, user_id: u64) -> Result<(), FactionError> {
        let key = member_key(faction.guild_id, &faction.server_id, user_id);
        let held = self
            .members
            .find_one(doc! { "_id": &key, "faction_id": &faction.id })
            .await?;
        if held.is_none() {
            return Err(FactionError::NotMember);
        }
        let leads = self
            .get(faction.guild_id, &faction.server_id, &faction.id)
            .await?
            .is_some_and(|f| f.leader_id == user_id);
        if leads {
            return Err(FactionError::LeaderMustTransfer);
        }
        // A mark younger than a hand-over takes is one in flight: the lead is being
        // handed to them, and their membership stays.
        let stale = DateTime::from_millis(
            DateTime::now()
                .timestamp_millis()
                .saturating_sub(STALE_MARK_SECS * 1000),
        );
        self.members
            .update_one(
                doc! {
                    "_id": &key,
                    "faction_id": &faction.id,
                    "leader": true,
                    "$or": [
                        { "marked_at": { "$exists": false } },
                        { "marked_at": { "$lt": stale } },
                    ],
                },
                doc! { "$set": { "leader": false } },
            )
            .await?;
        match self.end(faction, user_id, false).await? {
            true => Ok(()),
            false => Err(FactionError::LeaderMustTransfer),
        }
    }

    /// Sets a member's role: officer or member, or leader (the lead handed over: the
    /// leader before becomes an officer, in one update of the faction).
    pub async fn set_role(
        &self,
        faction: &Faction,
        user_id: u64,
        role: Role,
    ) -> Result<(), FactionError> {
        let membership = doc! {
            "_id": member_key(faction.guild_id, &faction.server_id, user_id),
            "faction_id": &faction.id,
        };
        if self.members.find_one(membership.clone()).await?.is_none() {
            return Err(FactionError::NotMember);
        }
        if role == Role::Leader {
            // Marked first (the mark needs the membership): from now on it cannot end,
            // whatever removal runs at the same moment.
            let marked = self
                .members
                .update_one(
                    membership.clone(),
                    doc! { "$set": { "leader": true, "marked_at": DateTime::now() } },
                )
                .await?;
            if marked.matched_count == 0 {
                return Err(FactionError::NotMember);
            }
            let handed = self
                .factions
                .update_one(
                    doc! { "_id": &faction.id, "leader_id": faction.leader_id.to_string(), "deleted_at": Bson::Null },
                    doc! { "$set": { "leader_id": user_id.to_string() } },
                )
                .await?;
            if handed.matched_count == 0 {
                // Handed over meanwhile, or deleted: unmarked unless it went to them.
                let now = self
                    .get(faction.guild_id, &faction.server_id, &faction.id)
                    .await?;
                if now.is_none_or(|f| f.leader_id != user_id) {
                    self.members
                        .update_one(membership, doc! { "$set": { "leader": false } })
                        .await?;
                }
                return Err(FactionError::NotFound(faction.name.clone()));
            }
            // The leader before stays an officer; no one else stays marked (a hand-over
            // cut short may have left a mark).
            if faction.leader_id != user_id {
                self.members
                    .update_one(
                        doc! { "_id": member_key(faction.guild_id, &faction.server_id, faction.leader_id), "faction_id": &faction.id },
                        doc! { "$set": { "officer": true } },
                    )
                    .await?;
            }
            self.members
                .update_many(
                    doc! {
                        "faction_id": &faction.id,
                        "leader": true,
                        "_id": { "$ne": member_key(faction.guild_id, &faction.server_id, user_id) },
                    },
                    doc! { "$set": { "leader": false } },
                )
                .await?;
            return Ok(());
        }
        if faction.leader_id == user_id {
            return Err(FactionError::LeaderMustTransfer);
        }
        self.members
            .update_one(
                membership,
                doc! { "$set": { "officer": role == Role::Officer } },
            )
            .await?;
        Ok(())
    }

    /// Changes a faction's name, tag, description or colour (what `fields` holds).
    pub async fn edit(
        &self,
        faction: &Faction,
        fields: &FactionFields,
    ) -> Result<Faction, FactionError> {
        let mut set = Document::new();
        let name = fields.name.as_deref().map(checked_name).transpose()?;
        let tag = fields.tag.as_deref().map(checked_tag).transpose()?;
        if let Some(name) = &name {
            set.insert("name", name);
            set.insert("name_key", key(name));
        }
        if let Some(tag) = &tag {
            set.insert("tag", tag);
            set.insert("tag_key", key(tag));
        }
        if let Some(d) = &fields.description {
            set.insert("description", d.trim());
        }
        if let Some(c) = fields.colour {
            set.insert("colour", i64::from(c));
        }
        if !set.is_empty()
            && let Err(e) = self
                .factions
                .update_one(
                    doc! { "_id": &faction.id, "deleted_at": Bson::Null },
                    doc! { "$set": set },
                )
                .await
        {
            return Err(match is_duplicate_key(&e) {
                true => {
                    self.taken(
                        faction.guild_id,
                        &faction.server_id,
                        name.as_deref().unwrap_or_default(),
                        tag.as_deref().unwrap_or_default(),
                    )
                    .await?
                }
                false => e.into(),
            });
        }
        self.get(faction.guild_id, &faction.server_id, &faction.id)
            .await?
            .ok_or_else(|| FactionError::NotFound(faction.name.clone()))
    }

    /// Whether joining needs the leader's approval.
    pub async fn set_require_approval(
        &self,
        faction: &Faction,
        require: bool,
    ) -> Result<(), MongoError> {
        self.factions
            .update_one(
                doc! { "_id": &faction.id },
                doc! { "$set": { "require_approval": require } },
            )
            .await?;
        Ok(())
    }

    /// Deletes a faction: its members' memberships end, its name and tag are free again,
    /// and the faction stays for the season archive.
    pub async fn delete(&self, faction: &Faction) -> Result<(), MongoError> {
        let gone = format!("{}#{}", faction.id, DateTime::now().timestamp_millis());
        self.factions
            .update_one(
                doc! { "_id": &faction.id, "deleted_at": Bson::Null },
                doc! { "$set": {
                    "deleted_at": DateTime::now(),
                    "name_key": format!("{}#{gone}", key(&faction.name)),
                    "tag_key": format!("{}#{gone}", key(&faction.tag)),
                } },
            )
            .await?;
        for m in self.members(faction).await? {
            self.end(faction, m.user_id, true).await?;
        }
        Ok(())
    }

    /// Every membership of `faction` with its time: the current ones (open) and those
    /// that ended.
    pub async fn periods(&self, faction: &Faction) -> Result<Vec<Period>, MongoError> {
        let mut out: Vec<Period> = self
            .members(faction)
            .await?
            .into_iter()
            .map(|m| Period {
                user_id: m.user_id,
                from_unix: m.counted_from_unix,
                until_unix: None,
                player_id: None,
            })
            .collect();
        let ended: Vec<Document> = self
            .periods
            .find(doc! { "faction_id": &faction.id })
            .await?
            .try_collect()
            .await?;
        out.extend(ended.iter().filter_map(|p| {
            Some(Period {
                user_id: p.get_str("user_id").ok()?.parse().ok()?,
                from_unix: p.get_datetime("joined_at").ok()?.timestamp_millis() / 1000,
                until_unix: Some(p.get_datetime("left_at").ok()?.timestamp_millis() / 1000),
                player_id: p.get_str("player_id").ok().map(str::to_owned),
            })
        }));
        Ok(out)
    }

    /// A faction's PvP record: its members' linked players' kills and deaths on the
    /// server while they were members (a current member's since joining), read from the
    /// stored kill lines of that time (one index range of the server's kill documents,
    /// by the lines' game time). A kill of one member by another counts apart, as
    /// friendly, neither a kill nor a death.
    /// The current season's (its kill lines after the last closed season's batch).
    pub async fn stats(&self, faction: &Faction) -> Result<FactionStats, MongoError> {
        let after = self
            .seasons
            .current_after_batch(faction.guild_id, &faction.server_id)
            .await?;
        self.record(faction, after, None).await
    }

    /// Every faction of a server with a record in the kill lines of batches after
    /// `after_batch` up to `up_to_batch` (a season's), deleted ones too, most kills first.
    pub async fn season_standings(
        &self,
        guild_id: u64,
        server_id: &str,
        after_batch: i64,
        up_to_batch: i64,
    ) -> Result<Vec<crate::seasons::FactionStanding>, MongoError> {
        let docs: Vec<Document> = self
            .factions
            .find(scope(guild_id, server_id))
            .await?
            .try_collect()
            .await?;
        let mut out = Vec::new();
        for f in docs.iter().filter_map(faction_of) {
            let r = self.record(&f, after_batch, Some(up_to_batch)).await?;
            if r.kills + r.deaths + r.friendly_kills == 0 {
                continue;
            }
            out.push(crate::seasons::FactionStanding {
                name: f.name,
                tag: f.tag,
                kills: r.kills,
                deaths: r.deaths,
                friendly_kills: r.friendly_kills,
                deleted: f.deleted_unix.is_some(),
            });
        }
        out.sort_by(|a, b| {
            b.kills
                .cmp(&a.kills)
                .then(a.deaths.cmp(&b.deaths))
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(out)
    }

    /// A faction's record in the kill lines of batches after `after_batch` (up to
    /// `up_to_batch`, when given): see [`Factions::stats`].
    pub async fn record(
        &self,
        faction: &Faction,
        after_batch: i64,
        up_to_batch: Option<i64>,
    ) -> Result<FactionStats, MongoError> {
        let periods = self.periods(faction).await?;
        let mut out = FactionStats::default();
        // Memberships are timed by the wall clock, kill lines by the game server's: a
        // server whose clock runs ahead wrote a kill at a member's joining later than that.
        let ahead = self
            .cursors
            .load(faction.guild_id, &faction.server_id)
            .await?
            .clock_ahead
            .unwrap_or(0);
        let game = |wall: i64| wall.saturating_add(ahead);
        let Some(start) = periods.iter().map(|p| game(p.from_unix)).min() else {
            return Ok(out);
        };
        let users: Vec<String> = periods
            .iter()
            .filter(|p| p.player_id.is_none())
            .map(|p| p.user_id.to_string())
            .collect();
        let links: Vec<Document> = self
            .links
            .find(doc! {
                "guild_id": faction.guild_id.to_string(),
                "server_id": &faction.server_id,
                "discord_id": { "$in": &users },
            })
            .await?
            .try_collect()
            .await?;
        // Each member's player (as linked when the membership ended; an open one's as
        // linked now), and their times in the faction, in game time.
        let linked: std::collections::HashMap<&str, &str> = links
            .iter()
            .filter_map(|l| Some((l.get_str("discord_id").ok()?, l.get_str("player_id").ok()?)))
            .collect();
        let mut times: std::collections::HashMap<String, Vec<(i64, i64)>> =
            std::collections::HashMap::new();
        for p in &periods {
            let user = p.user_id.to_string();
            let Some(player) = p
                .player_id
                .as_deref()
                .or_else(|| linked.get(user.as_str()).copied())
            else {
                continue;
            };
            times
                .entry(player.to_owned())
                .or_default()
                .push((game(p.from_unix), p.until_unix.map_or(i64::MAX, game)));
        }
        let member_at = |player: &str, at: i64| {
            times
                .get(player)
                .is_some_and(|t| t.iter().any(|(from, until)| (*from..=*until).contains(&at)))
        };
        let mut batches = doc! { "$gt": after_batch };
        if let Some(up_to) = up_to_batch {
            batches.insert("$lte", up_to);
        }
        let mut cursor = self
            .kills
            .find(doc! {
                "guild_id": faction.guild_id.to_string(),
                "server_id": &faction.server_id,
                "at": { "$gte": DateTime::from_millis(start.saturating_mul(1000)) },
                "batch": batches,
            })
            .await?;
        let mut players: std::collections::HashMap<String, (String, i64, i64)> =
            std::collections::HashMap::new();
        while let Some(d) = cursor.try_next().await? {
            for line in d.get_array("lines").map(Vec::as_slice).unwrap_or_default() {
                let Some(line) = line.as_document() else {
                    continue;
                };
                if line.get_str("kind").ok() != Some("kill") {
                    continue;
                }
                let Ok(at) = line.get_datetime("at").map(|t| t.timestamp_millis() / 1000) else {
                    continue;
                };
                let text = |k: &str| line.get_str(k).unwrap_or_default();
                let (killer, victim) = (text("killer_id"), text("victim_id"));
                if killer == victim {
                    continue;
                }
                let (ours_k, ours_v) = (member_at(killer, at), member_at(victim, at));
                if ours_k && ours_v {
                    out.friendly_kills += 1;
                    continue;
                }
                if ours_k {
                    out.kills += 1;
                    let p = players.entry(killer.to_owned()).or_default();
                    p.0 = text("killer_name").to_owned();
                    p.1 += 1;
                }
                if ours_v {
                    out.deaths += 1;
                    let p = players.entry(victim.to_owned()).or_default();
                    p.0 = text("victim_name").to_owned();
                    p.2 += 1;
                }
            }
        }
        out.players = players
            .into_iter()
            .map(|(id, (name, kills, deaths))| MemberRecord {
                player_id: id,
                name,
                kills,
                deaths,
            })
            .collect();
        out.players.sort_by(|a, b| {
            b.kills
                .cmp(&a.kills)
                .then(a.deaths.cmp(&b.deaths))
                .then_with(|| a.player_id.cmp(&b.player_id))
        });
        Ok(out)
    }

    /// The factions of some players of a server right now (by their linked members), as
    /// (faction id, tag) by EOS id; players in none are absent. At most three queries,
    /// fewer when no player is linked or no linked member is in a faction.
    pub async fn of_players(
        &self,
        guild_id: u64,
        server_id: &str,
        player_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, (String, String)>, MongoError> {
        let mut out = std::collections::HashMap::new();
        if player_ids.is_empty() {
            return Ok(out);
        }
        let links: Vec<Document> = self
            .links
            .find(doc! {
                "guild_id": guild_id.to_string(),
                "server_id": server_id,
                "player_id": { "$in": player_ids },
            })
            .projection(doc! { "discord_id": 1, "player_id": 1 })
            .await?
            .try_collect()
            .await?;
        let player_of: std::collections::HashMap<String, String> = links
            .iter()
            .filter_map(|l| {
                let user: u64 = l.get_str("discord_id").ok()?.parse().ok()?;
                Some((
                    member_key(guild_id, server_id, user),
                    l.get_str("player_id").ok()?.to_owned(),
                ))
            })
            .collect();
        if player_of.is_empty() {
            return Ok(out);
        }
        let keys: Vec<&String> = player_of.keys().collect();
        let members: Vec<Document> = self
            .members
            .find(doc! { "_id": { "$in": keys } })
            .await?
            .try_collect()
            .await?;
        let faction_of: Vec<(String, String)> = members
            .iter()
            .filter_map(|m| {
                let player = player_of.get(m.get_str("_id").ok()?)?;
                Some((player.clone(), m.get_str("faction_id").ok()?.to_owned()))
            })
            .collect();
        if faction_of.is_empty() {
            return Ok(out);
        }
        let ids: Vec<&String> = faction_of.iter().map(|(_, f)| f).collect();
        let tags: std::collections::HashMap<String, String> = self
            .factions
            .find(doc! { "_id": { "$in": ids }, "deleted_at": Bson::Null })
            .projection(doc! { "tag": 1 })
            .await?
            .try_collect::<Vec<Document>>()
            .await?
            .iter()
            .filter_map(|f| {
                Some((
                    f.get_str("_id").ok()?.to_owned(),
                    f.get_str("tag").ok()?.to_owned(),
                ))
            })
            .collect();
        for (player, faction) in faction_of {
            if let Some(tag) = tags.get(&faction) {
                out.insert(player, (faction, tag.clone()));
            }
        }
        Ok(out)
    }

    /// Marks a batch's kill notices with the killer's and victim's faction tags, and
    /// `friendly` when both are in the same faction (a snapshot at the time it is read).
    pub async fn mark_kills(
        &self,
        guild_id: u64,
        server_id: &str,
        notices: &mut [crate::outbox::Notice],
    ) -> Result<(), MongoError> {
        let id = |n: &crate::outbox::Notice, who: &str| -> Option<String> {
            Some(
                n.data
                    .get_document(who)
                    .ok()?
                    .get_str("id")
                    .ok()?
                    .to_owned(),
            )
        };
        let mut players: Vec<String> = notices
            .iter()
            .filter(|n| n.kind == "kill")
            .flat_map(|n| [id(n, "killer"), id(n, "victim")])
            .flatten()
            .collect();
        players.sort_unstable();
        players.dedup();
        let named: Vec<&str> = players.iter().map(String::as_str).collect();
        let factions = self.of_players(guild_id, server_id, &named).await?;
        if factions.is_empty() {
            return Ok(());
        }
        for n in notices.iter_mut().filter(|n| n.kind == "kill") {
            let (killer, victim) = (id(n, "killer"), id(n, "victim"));
            let of = |p: &Option<String>| p.as_ref().and_then(|p| factions.get(p));
            let (k, v) = (of(&killer), of(&victim));
            for (who, f) in [("killer", k), ("victim", v)] {
                if let (Some((_, tag)), Ok(player)) = (f, n.data.get_document_mut(who)) {
                    player.insert("faction_tag", tag.as_str());
                }
            }
            if let (Some((a, _)), Some((b, _))) = (k, v)
                && a == b
                && killer != victim
            {
                n.data.insert("friendly", true);
            }
        }
        Ok(())
    }

    /// Makes `user_id` a member of faction `id`: refused when they are in a live faction
    /// on this server (the database refuses a second membership). A membership naming a
    /// deleted faction (a delete cut short), or one that was never made (a create cut
    /// short, older than [`CREATING_FOR_SECS`]), is ended and replaced.
    async fn enter(
        &self,
        guild_id: u64,
        server_id: &str,
        user_id: u64,
        id: &str,
        leader: bool,
    ) -> Result<(), FactionError> {
        let key = member_key(guild_id, server_id, user_id);
        let member = doc! {
            "_id": &key,
            "guild_id": guild_id.to_string(),
            "server_id": server_id,
            "user_id": user_id.to_string(),
            "faction_id": id,
            "officer": false,
            "leader": leader,
            "joined_at": DateTime::now(),
            "schema_version": SCHEMA_VERSION,
        };
        for _ in 0..2 {
            match self.members.insert_one(member.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(e.into()),
            }
            let Some(held) = self.members.find_one(doc! { "_id": &key }).await? else {
                continue;
            };
            let held_id = held.get_str("faction_id").unwrap_or_default();
            match self.get(guild_id, server_id, held_id).await? {
                Some(f) if f.deleted_unix.is_none() => {
                    return Err(FactionError::AlreadyMember(f.name));
                }
                Some(f) => {
                    self.end(&f, user_id, true).await?;
                }
                None => {
                    let age = held.get_datetime("joined_at").map_or(i64::MAX, |at| {
                        (DateTime::now().timestamp_millis() - at.timestamp_millis()) / 1000
                    });
                    // Its faction may be being made right now.
                    if age < CREATING_FOR_SECS {
                        return Err(FactionError::Creating);
                    }
                    self.members
                        .delete_one(doc! { "_id": &key, "faction_id": held_id })
                        .await?;
                }
            }
        }
        Err(FactionError::Creating)
    }

    /// Ends `user_id`'s membership of `faction`, its time kept; whether they were in it.
    async fn end(
        &self,
        faction: &Faction,
        user_id: u64,
        leader_too: bool,
    ) -> Result<bool, MongoError> {
        let mut filter = doc! {
            "_id": member_key(faction.guild_id, &faction.server_id, user_id),
            "faction_id": &faction.id,
        };
        // The leader's membership is marked: it never ends while they lead, whatever
        // hand-over runs at the same moment (only a deleted faction ends it).
        if !leader_too {
            filter.insert("leader", doc! { "$ne": true });
        }
        let Some(m) = self.members.find_one_and_delete(filter).await? else {
            return Ok(false);
        };
        // The period counts from where the membership counted from.
        let joined = m
            .get_datetime("counted_from")
            .or_else(|_| m.get_datetime("joined_at"))
            .ok()
            .copied();
        // The player it was for, as linked now: a later link to another player does not
        // move this time's kills.
        let link = self
            .links
            .find_one(doc! {
                "guild_id": faction.guild_id.to_string(),
                "server_id": &faction.server_id,
                "discord_id": user_id.to_string(),
            })
            .projection(doc! { "player_id": 1 })
            .await?;
        let mut period = doc! {
            "guild_id": faction.guild_id.to_string(),
            "server_id": &faction.server_id,
            "faction_id": &faction.id,
            "user_id": user_id.to_string(),
            "joined_at": joined.unwrap_or_else(DateTime::now),
            "left_at": DateTime::now(),
            "schema_version": SCHEMA_VERSION,
        };
        if let Some(player) = link.as_ref().and_then(|l| l.get_str("player_id").ok()) {
            period.insert("player_id", player);
        }
        self.periods.insert_one(period).await?;
        Ok(true)
    }

    /// Which of `name` and `tag` a live faction of the server already has.
    async fn taken(
        &self,
        guild_id: u64,
        server_id: &str,
        name: &str,
        tag: &str,
    ) -> Result<FactionError, MongoError> {
        let mut filter = scope(guild_id, server_id);
        filter.insert("name_key", key(name));
        Ok(match self.factions.find_one(filter).await? {
            Some(_) => FactionError::NameTaken(name.to_owned()),
            None => FactionError::TagTaken(tag.to_owned()),
        })
    }
}

/// Names and tags are unique on a server whatever their case.
fn key(text: &str) -> String {
    text.trim().to_lowercase()
}

fn member_key(guild_id: u64, server_id: &str, user_id: u64) -> String {
    format!("{guild_id}:{server_id}:{user_id}")
}

fn scope(guild_id: u64, server_id: &str) -> Document {
    doc! { "guild_id": guild_id.to_string(), "server_id": server_id }
}

fn role_of(faction: &Faction, user_id: u64, member: &Document) -> Role {
    if faction.leader_id == user_id {
        Role::Leader
    } else if member.get_bool("officer").unwrap_or(false) {
        Role::Officer
    } else {
        Role::Member
    }
}

fn faction_of(d: &Document) -> Option<Faction> {
    let unix = |k: &str| d.get_datetime(k).ok().map(|t| t.timestamp_millis() / 1000);
    Some(Faction {
        id: d.get_str("_id").ok()?.to_owned(),
        guild_id: d.get_str("guild_id").ok()?.parse().ok()?,
        server_id: d.get_str("server_id").ok()?.to_owned(),
        name: d.get_str("name").ok()?.to_owned(),
        tag: d.get_str("tag").unwrap_or_default().to_owned(),
        description: d.get_str("description").unwrap_or_default().to_owned(),
        colour: d.get_i64("colour").ok().and_then(|c| u32::try_from(c).ok()),
        require_approval: d.get_bool("require_approval").unwrap_or(false),
        leader_id: d.get_str("leader_id").ok()?.parse().ok()?,
        created_unix: unix("created_at").unwrap_or(0),
        deleted_unix: unix("deleted_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tags_and_colours_are_checked_as_the_earlier_bot_did() {
        assert!(matches!(checked_name("ab"), Err(FactionError::InvalidName)));
        assert_eq!(
            checked_name("  The Wolves ").ok().as_deref(),
            Some("The Wolves")
        );
        assert!(matches!(
            checked_name(&"x".repeat(33)),
            Err(FactionError::InvalidName)
        ));
        assert!(matches!(checked_tag("W"), Err(FactionError::InvalidTag)));
        assert_eq!(checked_tag("WLF").ok().as_deref(), Some("WLF"));
        assert_eq!(parse_colour("#ff0000"), Some(0xFF_00_00));
        assert_eq!(parse_colour("Dark_Blue"), Some(0x20_66_8C));
        assert_eq!(parse_colour("#ff00"), None);
        assert_eq!(parse_colour("pink"), None);
    }
}
