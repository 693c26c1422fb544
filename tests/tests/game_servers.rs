//! The game server store's count of edits, which the gateway's poster uses to read a
//! server's settings again after a command changed them (`Bot.servers` and its clones).

use tower_store::game_servers::{Channels, Credential, GameServerStore, NewGameServer};
use tower_store::ids::{GuildId, ServerId};
use tower_store::secret::{Redacted, SecretKey};
use tower_tests::backing::TestDatabase;
use tower_tests::support::ok;

#[tokio::test]
async fn every_change_to_a_server_is_counted_by_the_store_and_its_clones() {
    let test = ok(TestDatabase::create("game_server_edits").await);
    let db = ok(test.open().await);
    let key = ok(SecretKey::from_base64(&ok(SecretKey::generate_base64())));
    let store = GameServerStore::new(&db);
    // The poster holds a clone of the store the commands write through.
    let poster = store.clone();
    let (guild, server) = (GuildId(7), ok(ServerId::parse("7001")));
    let new = |server: &ServerId| NewGameServer {
        server: server.clone(),
        name: "Seven".to_owned(),
        host: "127.0.0.1".to_owned(),
        port: 22,
        username: "deadside".to_owned(),
        credential: Credential::Password(Redacted::new("hunter2".to_owned())),
    };
    let seen = std::cell::Cell::new(poster.edits());
    let moved = |what: &str, now: u64| {
        assert!(
            now > seen.get(),
            "{what} was not counted ({now} after {})",
            seen.get()
        );
        seen.set(now);
    };
    ok(store.add_within(guild, new(&server), Some(&key), 2).await);
    moved("adding a server", poster.edits());
    let channels = Channels {
        killfeed: Some(42),
        ..Channels::default()
    };
    ok(store.set_channels(guild, &server, &channels).await);
    moved("setting a channel", poster.edits());
    ok(store
        .set_switches(guild, &server, &[("airdrop", false)])
        .await);
    moved("a switch", poster.edits());
    ok(store.set_killfeed_delay(guild, &server, 60).await);
    moved("the killfeed delay", poster.edits());
    ok(store.pin_host_key(guild, &server, "SHA256:abc").await);
    moved("pinning the host key", poster.edits());
    // Reads change nothing.
    ok(store.get(guild, &server).await);
    ok(store.list(guild).await);
    assert_eq!(poster.edits(), seen.get(), "a read counted as an edit");
    // A server that does not fit the tier's slots is written, then taken back.
    let third = ok(ServerId::parse("7003"));
    ok(store
        .add(guild, new(&ok(ServerId::parse("7002"))), Some(&key))
        .await);
    moved("adding a second server", poster.edits());
    assert!(
        store
            .add_within(guild, new(&third), Some(&key), 2)
            .await
            .is_err()
    );
    moved("a server added and taken back", poster.edits());
    // Removed by the button of /setup removeserver, which runs no command.
    ok(store.remove(guild, &server).await);
    moved("removing a server", poster.edits());
    ok(test.drop_database().await);
}
