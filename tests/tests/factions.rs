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
            .all(|(_, from, until)| until.is_some_and(|u| u >= *from))
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
