//! The Discord simulator against the real twilight clients, unchanged: what the gateway
//! and REST tests of later issues rely on.

use std::time::Duration;

use tokio::sync::mpsc;
use tower_tests::WAIT;
use tower_tests::discord_sim::{BOT_NAME, DiscordSimulator, SimEvent};
use tower_tests::support::ok;
use twilight_gateway::{ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt};
use twilight_model::id::Id;

/// Drives a twilight shard against the simulator; its events arrive on the receiver.
fn run_shard(sim: &DiscordSimulator, id: u32, total: u32) -> mpsc::UnboundedReceiver<Event> {
    let config = ConfigBuilder::new("Bot-token-for-tests".to_owned(), Intents::GUILDS)
        .proxy_url(sim.gateway_url())
        .build();
    let mut shard = Shard::with_config(ShardId::new(id, total), config);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = shard.next_event(EventTypeFlags::all()).await {
            if let Ok(event) = item
                && tx.send(event).is_err()
            {
                return;
            }
        }
    });
    rx
}

async fn next_matching(
    rx: &mut mpsc::UnboundedReceiver<Event>,
    what: &str,
    matches: impl Fn(&Event) -> bool,
) -> Event {
    let found = tokio::time::timeout(WAIT, async {
        while let Some(event) = rx.recv().await {
            if matches(&event) {
                return Some(event);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(event)) => event,
        _ => panic!("the shard never saw {what}"),
    }
}

#[tokio::test]
async fn a_shard_identifies_gets_ready_and_its_heartbeats_are_acked() {
    let sim = ok(DiscordSimulator::start_with_heartbeat(100).await);
    let mut events = run_shard(&sim, 1, 2);
    let ready = next_matching(&mut events, "READY", |e| matches!(e, Event::Ready(_))).await;
    let Event::Ready(ready) = ready else {
        unreachable!()
    };
    assert_eq!(ready.user.name, BOT_NAME);
    assert_eq!(ready.shard.map(|s| (s.number(), s.total())), Some((1, 2)));
    assert!(ready.resume_gateway_url.starts_with(&sim.gateway_url()));
    let identified = ok(sim
        .wait_for("IDENTIFY", WAIT, |e| {
            matches!(e, SimEvent::Identified { .. })
        })
        .await);
    assert!(matches!(
        identified,
        SimEvent::Identified { shard: [1, 2], .. }
    ));
    // Two ACKed heartbeats in a row: a shard whose heartbeat went unanswered would reconnect.
    for _ in 0..2 {
        next_matching(&mut events, "a heartbeat ACK", |e| {
            matches!(e, Event::GatewayHeartbeatAck)
        })
        .await;
    }
}

#[tokio::test]
async fn a_dropped_connection_resumes_the_session() {
    let sim = ok(DiscordSimulator::start().await);
    let mut events = run_shard(&sim, 0, 1);
    next_matching(&mut events, "READY", |e| matches!(e, Event::Ready(_))).await;
    sim.dispatch(
        0,
        "GUILD_DELETE",
        serde_json::json!({ "id": "42", "unavailable": true }),
    );
    next_matching(
        &mut events,
        "the dispatched event",
        |e| matches!(e, Event::GuildDelete(g) if g.id == Id::new(42)),
    )
    .await;

    sim.drop_connections();
    next_matching(&mut events, "RESUMED", |e| matches!(e, Event::Resumed)).await;
    let resumed = ok(sim
        .wait_for("RESUME", WAIT, |e| matches!(e, SimEvent::Resumed { .. }))
        .await);
    // The shard resumed from the last sequence it saw (READY = 1, GUILD_DELETE = 2).
    assert!(
        matches!(resumed, SimEvent::Resumed { seq: 2, ref session_id, .. } if session_id == "sim-session-1")
    );
    let identifies = sim
        .events()
        .iter()
        .filter(|e| matches!(e, SimEvent::Identified { .. }))
        .count();
    assert_eq!(identifies, 1, "a resume must not re-identify");
}

#[tokio::test]
async fn an_invalid_session_makes_the_shard_identify_again() {
    let sim = ok(DiscordSimulator::start().await);
    let mut events = run_shard(&sim, 0, 1);
    next_matching(&mut events, "READY", |e| matches!(e, Event::Ready(_))).await;
    sim.invalidate_sessions();
    sim.drop_connections();
    ok(sim
        .wait_for("a refused RESUME", WAIT, |e| {
            matches!(e, SimEvent::ResumeRefused { .. })
        })
        .await);
    next_matching(&mut events, "INVALID_SESSION", |e| {
        matches!(e, Event::GatewayInvalidateSession(false))
    })
    .await;
    next_matching(&mut events, "a second READY", |e| {
        matches!(e, Event::Ready(_))
    })
    .await;
    let identifies = sim
        .events()
        .iter()
        .filter(|e| matches!(e, SimEvent::Identified { .. }))
        .count();
    assert_eq!(identifies, 2);
}

#[tokio::test]
async fn rest_calls_are_answered_and_recorded() {
    let sim = ok(DiscordSimulator::start().await);
    let http = twilight_http::Client::builder()
        .token("Bot-token-for-tests".to_owned())
        .proxy(sim.api_proxy(), true)
        .ratelimiter(None)
        .timeout(Duration::from_secs(10))
        .build();
    let me = ok(ok(http.current_user().await).model().await);
    assert_eq!(me.name, BOT_NAME);

    let channel = Id::new(555);
    let sent = ok(
        ok(http.create_message(channel).content("first blood").await)
            .model()
            .await,
    );
    assert_eq!(sent.content, "first blood");
    let call = ok(sim
        .wait_for("POST /channels/555/messages", WAIT, |e| {
            matches!(e, SimEvent::Rest(c) if c.method == "POST" && c.path == "/channels/555/messages")
        })
        .await);
    let SimEvent::Rest(call) = call else {
        unreachable!()
    };
    assert_eq!(
        call.body
            .as_ref()
            .and_then(|b| b.get("content"))
            .and_then(|c| c.as_str()),
        Some("first blood")
    );
    assert_eq!(
        call.authorization.as_deref(),
        Some("Bot Bot-token-for-tests")
    );

    // Something the simulator does not know is a 404, recorded all the same.
    let missing = http.guild(Id::new(9)).await;
    assert!(missing.is_err());
    assert!(sim.rest_calls().iter().any(|c| c.path == "/guilds/9"));
}
