//! Factions in the real MongoDB-wire server: one faction per member and server whatever
//! runs at the same moment, names and tags unique on a server, the lead handed over in one
//! step, a deleted faction kept with its members' times.

use tower_store::factions::{FactionError, FactionFields, Factions, NewFaction, Role};
use tower_tests::backing::TestDatabase;
use tower_tests::support::ok;

const GUILD: u64 = 454_545_454_545_454_545;
const SERVER: &str = "7020";
const LEADER: u64 = 900_000_000_000_000_001;
const OTHER_LEADER: u64 = 900_000_000_000_000_002;
const PLAYER: u64 = 900_000_000_000_000_003;

fn faction<'a>(
    name: &'a str,
    tag: &'a str,
    description: &'a str,
    colour: Option<u32>,
) -> NewFaction<'a> {
    NewFaction {
        name,
        tag,
        description,
        colour,
    }
}

#[tokio::test]
async fn a_member_is_in_one_faction_even_when_two_joins_race() {
    let test = ok(TestDatabase::create("factions_race").await);
    let db = ok(test.open().await);
    let factions = Factions::new(&db);
    let wolves = ok(factions
        .create(
            GUILD,
            SERVER,
            LEADER,
            &faction("The Wolves", "WLF", "", None),
        )
        .await);
    let bears = ok(factions
        .create(
            GUILD,
            SERVER,
            OTHER_LEADER,
            &faction("Bears", "BR", "", None),
        )
        .await);
    // Names and tags are a server's own, whatever their case.
    assert!(matches!(
        factions
            .create(
                GUILD,
                SERVER,
                PLAYER,
                &faction("the wolves", "XX", "", None)
            )
            .await,
        Err(FactionError::NameTaken(_))
    ));
    assert!(matches!(
        factions
            .create(GUILD, SERVER, PLAYER, &faction("Lions", "wlf", "", None))
            .await,
        Err(FactionError::TagTaken(_))
    ));
    // The refused creates left the player in no faction.
    assert_eq!(ok(factions.of_user(GUILD, SERVER, PLAYER).await), None);
    // On another server, the same name is free.
    ok(factions
        .create(
            GUILD,
            "other",
            PLAYER,
            &faction("The Wolves", "WLF", "", None),
        )
        .await);

    // Twenty rounds of the same user joining both factions at once: one join wins.
    for round in 0..20_u64 {
        let user = 910_000_000_000_000_000 + round;
        let (a, b) = tokio::join!(
            factions.join(&wolves, user, false),
            factions.join(&bears, user, false)
        );
        let won = [a.is_ok(), b.is_ok()];
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: {won:?}"
        );
        let refused = if a.is_ok() { b } else { a };
        assert!(
            matches!(refused, Err(FactionError::AlreadyMember(_))),
            "{refused:?}"
        );
        let (faction, role) = ok(factions.of_user(GUILD, SERVER, user).await)
            .unwrap_or_else(|| panic!("round {round}: in none"));
        assert_eq!(role, Role::Member);
        assert!(faction.id == wolves.id || faction.id == bears.id);
    }
    let members =
        ok(factions.members(&wolves).await).len() + ok(factions.members(&bears).await).len();
    assert_eq!(members, 2 + 20, "two leaders and twenty joined, none twice");

    // A create racing a join of the same user: one wins.
    let lions = faction("Lions", "LNS", "", None);
    let (created, joined) = tokio::join!(
        factions.create(GUILD, SERVER, PLAYER, &lions),
        factions.join(&wolves, PLAYER, false)
    );
    assert_ne!(created.is_ok(), joined.is_ok(), "{created:?} {joined:?}");
    ok(test.drop_database().await);
}

#[tokio::test]
async fn the_lead_is_handed_over_before_a_leader_leaves_and_deleted_factions_are_kept() {
    let test = ok(TestDatabase::create("factions_lead").await);
    let db = ok(test.open().await);
    let factions = Factions::new(&db);
    let wolves = ok(factions
        .create(
            GUILD,
            SERVER,
            LEADER,
            &faction("The Wolves", "WLF", "Pack hunters", Some(0x34_98_DB)),
        )
        .await);
    ok(factions.join(&wolves, PLAYER, false).await);
    assert!(matches!(
        factions.leave(GUILD, SERVER, LEADER).await,
        Err(FactionError::LeaderMustTransfer)
    ));
    assert!(matches!(
        factions.remove(&wolves, LEADER).await,
        Err(FactionError::LeaderMustTransfer)
    ));
    // Officer, then leader: the leader before is an officer and may leave.
    ok(factions.set_role(&wolves, PLAYER, Role::Officer).await);
    assert_eq!(
        ok(factions.of_user(GUILD, SERVER, PLAYER).await).map(|(_, r)| r),
        Some(Role::Officer)
    );
    ok(factions.set_role(&wolves, PLAYER, Role::Leader).await);
    // A second hand-over from the same (stale) faction is refused: one leader at a time.
    assert!(
        factions
            .set_role(&wolves, LEADER, Role::Leader)
            .await
            .is_err()
    );
    let wolves =
        ok(factions.find(GUILD, SERVER, "wlf").await).unwrap_or_else(|| panic!("found by tag"));
    assert_eq!(wolves.leader_id, PLAYER);
    let roles: Vec<(u64, Role)> = ok(factions.members(&wolves).await)
        .iter()
        .map(|m| (m.user_id, m.role))
        .collect();
    assert_eq!(roles, vec![(PLAYER, Role::Leader), (LEADER, Role::Officer)]);
    let left = ok(factions.leave(GUILD, SERVER, LEADER).await);
    assert_eq!(left.id, wolves.id);
    assert!(matches!(
        factions.leave(GUILD, SERVER, LEADER).await,
        Err(FactionError::NotMember)
    ));

    // Approval asked: joining is refused unless an admin adds them.
    ok(factions.set_require_approval(&wolves, true).await);
    let wolves =
        ok(factions.find(GUILD, SERVER, "The Wolves").await).unwrap_or_else(|| panic!("found"));
    assert!(matches!(
        factions.join(&wolves, LEADER, false).await,
        Err(FactionError::ApprovalRequired)
    ));
    ok(factions.join(&wolves, LEADER, true).await);

    // Edited: a new name, the old one free.
    let renamed = ok(factions
        .edit(
            &wolves,
            &FactionFields {
                name: Some("Grey Wolves".to_owned()),
                ..FactionFields::default()
            },
        )
        .await);
    assert_eq!(
        (renamed.name.as_str(), renamed.tag.as_str()),
        ("Grey Wolves", "WLF")
    );
    assert!(ok(factions.find(GUILD, SERVER, "the wolves").await).is_none());

    // Deleted: gone from the list, its name free, the faction and every membership's
    // time kept (the leader's first membership, and both current ones, now ended).
    ok(factions.delete(&renamed).await);
    assert!(ok(factions.list(GUILD, SERVER).await).is_empty());
    assert_eq!(ok(factions.of_user(GUILD, SERVER, PLAYER).await), None);
    let kept = ok(factions.get(GUILD, SERVER, &renamed.id).await).unwrap_or_else(|| panic!("kept"));
    assert!(kept.deleted_unix.is_some());
    let periods = ok(factions.periods(&kept).await);
    assert_eq!(periods.len(), 3, "{periods:?}");
    assert!(
        periods
            .iter()
            .all(|p| p.until_unix.is_some_and(|u| u >= p.from_unix))
    );
    ok(factions
        .create(
            GUILD,
            SERVER,
            OTHER_LEADER,
            &faction("Grey Wolves", "WLF", "", None),
        )
        .await);
    ok(test.drop_database().await);
}

#[tokio::test]
async fn a_create_cut_short_leaves_its_founder_free() {
    let test = ok(TestDatabase::create("factions_cut_short").await);
    let db = ok(test.open().await);
    let factions = Factions::new(&db);
    // The founder's membership was written two minutes ago, the faction never was.
    ok(test
        .handle()
        .collection::<mongodb::bson::Document>("faction_members")
        .insert_one(mongodb::bson::doc! {
            "_id": format!("{GUILD}:{SERVER}:{PLAYER}"),
            "guild_id": GUILD.to_string(),
            "server_id": SERVER,
            "user_id": PLAYER.to_string(),
            "faction_id": "never-made",
            "officer": false,
            "joined_at": mongodb::bson::DateTime::from_millis(
                mongodb::bson::DateTime::now().timestamp_millis() - 120_000,
            ),
        })
        .await);
    assert_eq!(ok(factions.of_user(GUILD, SERVER, PLAYER).await), None);
    let lions = ok(factions
        .create(GUILD, SERVER, PLAYER, &faction("Lions", "LNS", "", None))
        .await);
    assert_eq!(
        ok(factions.of_user(GUILD, SERVER, PLAYER).await).map(|(f, r)| (f.id, r)),
        Some((lions.id, Role::Leader))
    );
    ok(test.drop_database().await);
}

/// A faction's record counts its members' kills while they were members, in the game
/// server's clock (3 hours ahead here) and by the player each was linked to then: a kill
/// after leaving, and a later link's kills from that time, do not count.
#[tokio::test]
async fn faction_stats_count_a_membership_in_game_time_and_by_its_player_then() {
    use tower_ingest::ingest::parse_killfeed_chunk;
    use tower_ingest::timestamp::format_seconds;
    use tower_store::cursor_store::{CursorStore, KillfeedState, PRIMARY_KILLFEED};
    use tower_store::player_links::{PlayerLink, PlayerLinks};
    use tower_store::stats_store::{BatchRef, StatsStore};

    const AHEAD: i64 = 3 * 3600;
    const P1: (&str, &str) = ("Old Self", "00060000000000000000000000000001");
    const P2: (&str, &str) = ("New Self", "00060000000000000000000000000002");
    const VICTIM: (&str, &str) = ("Victim", "00060000000000000000000000000003");
    let test = ok(TestDatabase::create("factions_game_time").await);
    let db = ok(test.open().await);
    let factions = Factions::new(&db);
    let links = PlayerLinks::new(&db);
    let stats = StatsStore::new(&db);
    // The game server's clock, as the worker measured it.
    let state = KillfeedState {
        clock_ahead: Some(AHEAD),
        ..KillfeedState::default()
    };
    ok(CursorStore::new(&db)
        .save_slot(GUILD, SERVER, PRIMARY_KILLFEED, &state, None)
        .await);
    let link = |p: (&str, &str)| PlayerLink {
        server_id: SERVER.to_owned(),
        player_id: p.1.to_owned(),
        player_name: p.0.to_owned(),
    };
    ok(links.link(GUILD, PLAYER, &link(P1)).await);
    let wolves = ok(factions
        .create(
            GUILD,
            SERVER,
            LEADER,
            &faction("The Wolves", "WLF", "", None),
        )
        .await);
    ok(factions.join(&wolves, PLAYER, true).await);
    ok(factions.count_history(&wolves, PLAYER).await);
    let now = mongodb::bson::DateTime::now().timestamp_millis() / 1000;
    let kill = |game_at: i64, killer: (&str, &str)| {
        format!(
            "{};{};{};{};{};AK-74;30;\n",
            format_seconds(game_at),
            killer.0,
            killer.1,
            VICTIM.0,
            VICTIM.1
        )
    };
    // Ten minutes ago by the wall clock: while a member.
    let mut lines = kill(now + AHEAD - 600, P1);
    // In an hour: after leaving (below).
    lines.push_str(&kill(now + AHEAD + 3600, P1));
    // While a member, but by the player linked only later.
    lines.push_str(&kill(now + AHEAD - 300, P2));
    let chunk = parse_killfeed_chunk("k.csv", lines.as_bytes(), 0, true);
    let at = BatchRef {
        guild_id: GUILD,
        server_id: SERVER,
        batch: 1,
    };
    ok(stats.apply_batch(at, &[chunk]).await);
    ok(factions.leave(GUILD, SERVER, PLAYER).await);
    ok(links.link(GUILD, PLAYER, &link(P2)).await);

    let record = ok(factions.stats(&wolves).await);
    assert_eq!((record.kills, record.deaths), (1, 0), "{record:?}");
    let players: Vec<(&str, i64)> = record
        .players
        .iter()
        .map(|p| (p.player_id.as_str(), p.kills))
        .collect();
    assert_eq!(players, vec![(P1.1, 1)]);
    ok(test.drop_database().await);
}

/// Joins racing for a faction's last place never take it over its size.
#[tokio::test]
async fn joins_racing_for_the_last_place_never_overfill_a_faction() {
    use tower_store::factions::MAX_MEMBERS;
    let test = ok(TestDatabase::create("factions_full").await);
    let db = ok(test.open().await);
    let factions = Factions::new(&db);
    let wolves = ok(factions
        .create(
            GUILD,
            SERVER,
            LEADER,
            &faction("The Wolves", "WLF", "", None),
        )
        .await);
    // The leader and all but one more.
    for n in 1..MAX_MEMBERS - 1 {
        ok(factions
            .join(&wolves, 800_000_000_000_000_000 + n, false)
            .await);
    }
    let racers: Vec<u64> = (0..5).map(|n| 700_000_000_000_000_000 + n).collect();
    let joins = futures_util::future::join_all(
        racers
            .iter()
            .map(|user| factions.join(&wolves, *user, false)),
    )
    .await;
    let members = ok(factions.members(&wolves).await);
    assert!(
        members.len() as u64 <= MAX_MEMBERS,
        "{} members",
        members.len()
    );
    for (user, joined) in racers.iter().zip(&joins) {
        let member = members.iter().any(|m| m.user_id == *user);
        match joined {
            Ok(()) => assert!(member, "{user} was told it joined"),
            Err(FactionError::Full) => assert!(!member, "{user} was told it is full"),
            Err(e) => panic!("{user}: {e}"),
        }
    }
    ok(test.drop_database().await);
}

/// A season closed (`/reset_stats`) keeps every faction's record in it, a deleted one's
/// too, and the factions' records start again from zero with the statistics.
#[tokio::test]
async fn a_closed_season_keeps_the_factions_records_and_the_next_starts_from_zero() {
    use tower_ingest::ingest::parse_killfeed_chunk;
    use tower_ingest::timestamp::format_seconds;
    use tower_store::player_links::{PlayerLink, PlayerLinks};
    use tower_store::seasons::{CloseOutcome, SeasonStore};
    use tower_store::stats_store::{BatchRef, StatsStore};

    const WOLF: (&str, &str) = ("Wolf", "00070000000000000000000000000001");
    const BEAR: (&str, &str) = ("Bear", "00070000000000000000000000000002");
    let test = ok(TestDatabase::create("factions_seasons").await);
    let db = ok(test.open().await);
    let factions = Factions::new(&db);
    let links = PlayerLinks::new(&db);
    let stats = StatsStore::new(&db);
    for (user, p) in [(LEADER, WOLF), (OTHER_LEADER, BEAR)] {
        let link = PlayerLink {
            server_id: SERVER.to_owned(),
            player_id: p.1.to_owned(),
            player_name: p.0.to_owned(),
        };
        ok(links.link(GUILD, user, &link).await);
    }
    let wolves = ok(factions
        .create(
            GUILD,
            SERVER,
            LEADER,
            &faction("The Wolves", "WLF", "", None),
        )
        .await);
    let bears = ok(factions
        .create(
            GUILD,
            SERVER,
            OTHER_LEADER,
            &faction("Bears", "BR", "", None),
        )
        .await);
    let now = mongodb::bson::DateTime::now().timestamp_millis() / 1000;
    let kill = |batch: i64, at: i64, killer: (&str, &str), victim: (&str, &str)| {
        let line = format!(
            "{};{};{};{};{};AK-74;30;\n",
            format_seconds(at),
            killer.0,
            killer.1,
            victim.0,
            victim.1
        );
        let stats = &stats;
        async move {
            let chunk = parse_killfeed_chunk("k.csv", line.as_bytes(), 0, true);
            let at = BatchRef {
                guild_id: GUILD,
                server_id: SERVER,
                batch,
            };
            ok(stats.apply_batch(at, &[chunk]).await);
        }
    };
    // Both count from the start (their kills below are from before they founded).
    ok(factions.count_history(&wolves, LEADER).await);
    ok(factions.count_history(&bears, OTHER_LEADER).await);
    // Season 1: the wolf kills the bear twice; the Bears are disbanded before it closes.
    kill(1, now - 120, WOLF, BEAR).await;
    kill(2, now - 90, WOLF, BEAR).await;
    ok(factions.delete(&bears).await);
    let closed = ok(SeasonStore::new(&db)
        .close(GUILD, SERVER, Some("Wipe 1"), LEADER, 2)
        .await);
    let CloseOutcome::Closed(season) = closed else {
        panic!("closed: {closed:?}")
    };
    let records: Vec<(&str, i64, i64, bool)> = season
        .factions
        .iter()
        .map(|f| (f.tag.as_str(), f.kills, f.deaths, f.deleted))
        .collect();
    assert_eq!(records, vec![("WLF", 2, 0, false), ("BR", 0, 2, true)]);
    // Kept as stored.
    let again = ok(SeasonStore::new(&db).find(GUILD, SERVER, "Wipe 1").await);
    assert_eq!(again.map(|s| s.factions), Some(season.factions.clone()));
    // Season 2: one kill so far.
    kill(3, now - 60, WOLF, BEAR).await;
    let record = ok(factions.stats(&wolves).await);
    assert_eq!((record.kills, record.deaths), (1, 0), "{record:?}");
    ok(test.drop_database().await);
}

/// A removal and a hand-over of the lead to the same member, at the same moment (30
/// times), never leave a faction led by someone who is not in it.
#[tokio::test]
async fn a_removal_racing_a_hand_over_never_leaves_a_leader_outside() {
    let test = ok(TestDatabase::create("factions_lead_race").await);
    let db = ok(test.open().await);
    let factions = Factions::new(&db);
    let wolves = ok(factions
        .create(
            GUILD,
            SERVER,
            LEADER,
            &faction("The Wolves", "WLF", "", None),
        )
        .await);
    for round in 0..30u64 {
        let member = 600_000_000_000_000_000 + round;
        ok(factions.join(&wolves, member, true).await);
        let now = ok(factions.get(GUILD, SERVER, &wolves.id).await)
            .unwrap_or_else(|| panic!("the faction is there"));
        let (removed, handed) = tokio::join!(
            factions.remove(&now, member),
            factions.set_role(&now, member, Role::Leader)
        );
        let after = ok(factions.get(GUILD, SERVER, &wolves.id).await)
            .unwrap_or_else(|| panic!("the faction is there"));
        let members = ok(factions.members(&after).await);
        assert!(
            members.iter().any(|m| m.user_id == after.leader_id),
            "round {round}: led by {} outside the faction (remove {removed:?}, hand over {handed:?})",
            after.leader_id
        );
        // The lead back to the founder for the next round.
        if after.leader_id != LEADER {
            ok(factions.set_role(&after, LEADER, Role::Leader).await);
        }
    }
    ok(test.drop_database().await);
}
