//! `towerctl analyze --json` on the real killfeed files, checked against numbers computed
//! independently by `tests/golden/killfeed_stats.py` (see tests/golden/README.md).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(stem: &str) -> PathBuf {
    repo().join(format!("tests/fixtures/deadside/killfeed/{stem}.csv"))
}

fn golden(name: &str) -> Value {
    let path = repo().join(format!("tests/golden/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn analyze(args: &[PathBuf]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_towerctl"))
        .arg("analyze")
        .arg("--json")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("towerctl: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON: {e}"))
}

const PLAYER_FIELDS: [&str; 12] = [
    "name",
    "kills",
    "deaths",
    "suicides",
    "environment_deaths",
    "kdr",
    "longest_kill_m",
    "best_killstreak",
    "worst_deathstreak",
    "weapons",
    "nemesis",
    "prey",
];

fn assert_matches_golden(ours: &Value, golden: &Value) {
    let (ours_p, golden_p) = (&ours["players"], &golden["players"]);
    let ours_ids: Vec<&String> = ours_p
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let golden_ids: Vec<&String> = golden_p
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let mut a = ours_ids.clone();
    let mut b = golden_ids.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the same players");
    for id in golden_ids {
        for field in PLAYER_FIELDS {
            assert_eq!(
                ours_p[id][field], golden_p[id][field],
                "player {id} field {field}"
            );
        }
    }
    let (ot, gt) = (&ours["totals"], &golden["totals"]);
    for field in [
        "lines",
        "kills",
        "roadkills",
        "suicides",
        "suicides_by_type",
        "environment_deaths",
        "malformed_lines",
        "players",
        "longest_kill",
    ] {
        assert_eq!(ot[field], gt[field], "totals.{field}");
    }
    for (weapon, g) in golden["weapons"].as_object().into_iter().flatten() {
        assert_eq!(&ours["weapons"][weapon], g, "weapon {weapon}");
    }
}

#[test]
fn each_real_file_matches_the_independent_numbers() {
    for stem in [
        "2025.03.27-00.00.00",
        "2025.05.01-00.00.00",
        "2025.05.15-00.00.00",
    ] {
        let ours = analyze(&[fixture(stem)]);
        assert_matches_golden(&ours, &golden(stem));
    }
}

#[test]
fn a_folder_of_files_reads_in_name_order_and_matches() {
    let ours = analyze(&[repo().join("tests/fixtures/deadside/killfeed")]);
    assert_matches_golden(&ours, &golden("all"));
    // Written down by hand from the golden run, as a reader would check them.
    assert_eq!(ours["totals"]["kills"], 1210);
    assert_eq!(ours["totals"]["suicides"], 439);
    assert_eq!(ours["totals"]["environment_deaths"], 4);
    let njshh = &ours["players"]["0002e69a65204b669c20238266782d7b"];
    assert_eq!(
        (
            njshh["kills"].as_u64(),
            njshh["deaths"].as_u64(),
            njshh["best_killstreak"].as_u64()
        ),
        (Some(60), Some(5), Some(42))
    );
}

#[test]
fn malformed_lines_are_counted_and_named_never_fatal() {
    let dir = std::env::temp_dir().join(format!("towerctl-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join("2025.01.01-00.00.00.csv");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(b"2025.03.27-10.42.35;A;0002ca35475e48e28fdf97e052dc130f;B;00024afed387453195c040bb85708405;AK;5;\r\n");
    bytes.extend_from_slice(b"garbage \xff\xfe line\r\n");
    bytes.extend_from_slice(b"2025.03.27-10.42.36;A;0002ca35475e48e28fdf97e052dc130f;B;00024afed387453195c040bb85708405;AK;7;");
    std::fs::write(&file, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let ours = analyze(&[file]);
    assert_eq!(ours["totals"]["kills"], 2);
    assert_eq!(ours["totals"]["malformed_lines"], 1);
    // BOM (3) + the first line with its CRLF (97).
    assert_eq!(ours["malformed"][0]["offset"], 100);
    assert_eq!(
        ours["players"]["0002ca35475e48e28fdf97e052dc130f"]["best_killstreak"],
        2
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_path_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_towerctl"))
        .args(["analyze", "/nonexistent/killfeed"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/killfeed"));
}

#[test]
fn a_file_given_twice_counts_once() {
    let stem = "2025.05.15-00.00.00";
    let mut ours = analyze(&[fixture(stem), fixture(stem)]);
    // Every line is read twice; the second reading is recognised and not counted.
    assert_eq!(ours["totals"]["lines"], 566);
    assert_eq!(ours["totals"]["duplicate_lines"], 283);
    ours["totals"]["lines"] = 283.into();
    assert_matches_golden(&ours, &golden(stem));
}
