//! A fuzz harness for reading a slash command's options: whatever a client sends (any
//! names, types, nesting and values, as JSON that twilight accepts as command data),
//! reading the command's path and every option gives a value or a clear error, never a
//! panic. 512 cases in the test suite; `deploy/local/fuzz` runs a million.

use proptest::prelude::*;
use serde_json::{Value, json};
use twilight_model::application::interaction::application_command::CommandData;

use gateway_shard::options::Invocation;

/// Cases per property: 512 in the test suite, `TOWER_FUZZ_CASES` when set.
fn cases() -> u32 {
    std::env::var("TOWER_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(512)
}

const NAMES: &[&str] = &[
    "server_id",
    "server",
    "player_name",
    "weapon_name",
    "stat",
    "limit",
    "days",
    "role",
    "killfeed_channel",
    "path",
    "pattern",
    "tier",
    "guild_id",
    "port",
    "setup",
    "stats",
    "player",
    "",
    "💀",
];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(NAMES).prop_map(str::to_owned),
        ".{0,40}",
    ]
}

/// An option value of any type Discord has, with values in and out of range.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        (name(), ".{0,120}", any::<bool>()).prop_map(
            |(n, v, focused)| json!({ "name": n, "type": 3, "value": v, "focused": focused })
        ),
        (name(), any::<i64>()).prop_map(|(n, v)| json!({ "name": n, "type": 4, "value": v })),
        (name(), any::<bool>()).prop_map(|(n, v)| json!({ "name": n, "type": 5, "value": v })),
        (name(), 1u64..u64::MAX)
            .prop_map(|(n, v)| json!({ "name": n, "type": 7, "value": v.to_string() })),
        (name(), 1u64..u64::MAX)
            .prop_map(|(n, v)| json!({ "name": n, "type": 8, "value": v.to_string() })),
        (name(), any::<f64>()).prop_map(|(n, v)| json!({ "name": n, "type": 10, "value": v })),
    ]
}

/// Options nested in subcommands and groups, as deep as a hostile client likes.
fn options() -> impl Strategy<Value = Vec<Value>> {
    let leaves = proptest::collection::vec(leaf(), 0..6);
    leaves.prop_recursive(4, 32, 4, |inner| {
        proptest::collection::vec(
            (name(), prop_oneof![Just(1u8), Just(2u8)], inner).prop_map(
                |(n, kind, options)| json!({ "name": n, "type": kind, "options": options }),
            ),
            0..3,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn reading_any_command_options_never_panics(command in name(), options in options()) {
        let data = json!({ "id": "1", "name": command, "type": 1, "options": options });
        let Ok(data) = serde_json::from_value::<CommandData>(data) else {
            return Ok(());
        };
        let inv = Invocation::from_data(&data);
        prop_assert!(inv.path.starts_with(&data.name));
        let _ = inv.focused();
        for name in NAMES {
            let _ = inv.opt_str(name);
            let _ = inv.str(name);
            let _ = inv.opt_int(name);
            let _ = inv.int(name);
            let _ = inv.opt_bool(name);
            let _ = inv.opt_channel(name);
            let _ = inv.role(name);
            let _ = inv.server_id(name);
            let _ = inv.opt_server_id(name);
        }
    }
}

/// The generator's payloads are command data twilight accepts: a typical one parses, so
/// the property above reads options rather than skipping every case.
#[test]
fn a_typical_payload_parses_into_its_path_and_options() {
    let data = json!({ "id": "1", "name": "stats", "type": 1, "options": [
        { "name": "player", "type": 1, "options": [
            { "name": "server_id", "type": 3, "value": "7020" },
            { "name": "player_name", "type": 3, "value": "Bob", "focused": true },
        ] },
    ] });
    let data = serde_json::from_value::<CommandData>(data)
        .unwrap_or_else(|e| panic!("the payload shape is command data: {e}"));
    let inv = Invocation::from_data(&data);
    assert_eq!(inv.path, "stats player");
    assert_eq!(inv.focused(), Some(("player_name", "Bob")));
    assert!(inv.server_id("server_id").is_ok());
}
