//! The device commands run as a user would: init, petugas, record, search, demo, with exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pendata"))
        // The PIN that unlocks the store (every test petugas has it).
        .env("PENDATA_PIN", "246810")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that does not read its input may exit before the write: that is not a failure.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, as a person goes through it"
)]
#[test]
fn a_family_from_entry_to_final_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(d, &["record", "list"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("pendata init"),
        "{}",
        text(&out.stderr)
    );

    let device = ok(&run(d, &["init", "--device-name", "Tablet Palaran 01"], ""));
    assert!(uuid::Uuid::parse_str(device.trim()).is_ok());
    let again = run(d, &["init", "--device-name", "Lain"], "");
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("left untouched"));

    ok(&run(
        d,
        &[
            "petugas",
            "add",
            "--code",
            "P001",
            "--name",
            "Dewi Lestari",
            "--pin-stdin",
        ],
        "246810\n",
    ));
    let bad_pin = run(
        d,
        &[
            "petugas",
            "add",
            "--code",
            "P002",
            "--name",
            "Rina",
            "--pin-stdin",
        ],
        "ab\n",
    );
    assert_eq!(bad_pin.status.code(), Some(2));
    assert!(text(&bad_pin.stderr).contains("6 to 12 digits"));
    assert!(ok(&run(d, &["petugas", "list"], "")).contains("P001\tDewi Lestari"));

    let family = std::fs::read_to_string("tests/fixtures/family_valid.json").unwrap();
    let mut broken: serde_json::Value = serde_json::from_str(&family).unwrap();
    broken["luas_lantai"] = serde_json::json!(0);
    let id = ok(&run(
        d,
        &[
            "record",
            "new",
            "--form",
            "keluarga",
            "--petugas",
            "P001",
            "--answers",
            "-",
        ],
        &broken.to_string(),
    ));
    let id = id.trim();

    let refused = run(
        d,
        &[
            "record",
            "finalize",
            id,
            "--petugas",
            "P001",
            "--today",
            "2026-11-28",
        ],
        "",
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("luas_lantai"),
        "{}",
        text(&refused.stderr)
    );

    ok(&run(
        d,
        &["record", "set", id, "--petugas", "P001", "--answers", "-"],
        r#"{"luas_lantai": 36}"#,
    ));
    // A warning must be acknowledged.
    ok(&run(
        d,
        &["record", "set", id, "--petugas", "P001", "--answers", "-"],
        r#"{"luas_lantai": 1500}"#,
    ));
    let warn = run(
        d,
        &[
            "record",
            "finalize",
            id,
            "--petugas",
            "P001",
            "--today",
            "2026-11-28",
        ],
        "",
    );
    assert_eq!(warn.status.code(), Some(1));
    assert!(text(&warn.stderr).contains("--ack-warnings"));
    assert!(
        ok(&run(
            d,
            &[
                "record",
                "finalize",
                id,
                "--petugas",
                "P001",
                "--ack-warnings",
                "--today",
                "2026-11-28"
            ],
            ""
        ))
        .contains("final")
    );

    let locked = run(
        d,
        &["record", "set", id, "--petugas", "P001", "--answers", "-"],
        r#"{"luas_lantai": 36}"#,
    );
    assert_eq!(locked.status.code(), Some(1));
    assert!(text(&locked.stderr).contains("give a reason"));
    ok(&run(
        d,
        &[
            "record",
            "set",
            id,
            "--petugas",
            "P001",
            "--reason",
            "salah ukur",
            "--answers",
            "-",
        ],
        r#"{"luas_lantai": 36}"#,
    ));

    let shown: serde_json::Value = serde_json::from_str(&ok(&run(
        d,
        &["record", "show", id, "--history", "--json"],
        "",
    )))
    .unwrap();
    assert_eq!(shown["record"]["status"], "draft");
    assert_eq!(shown["answers"]["luas_lantai"], 36);
    let history = shown["history"].as_array().unwrap();
    let actions: Vec<&str> = history
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["created", "saved", "saved", "finalized", "corrected"]
    );
    assert_eq!(history[3]["acknowledged"][0], "luas_lantai check");
    assert_eq!(history[4]["reason"], "salah ukur");

    let listed: serde_json::Value = serde_json::from_str(&ok(&run(
        d,
        &["record", "list", "--status", "draft", "--json"],
        "",
    )))
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(ok(&run(d, &["search", "budi santoso"], "")).contains(id));
    assert!(ok(&run(d, &["search", "6472011203"], "")).contains(id));

    for (args, code) in [
        (vec!["record", "show", "not-an-id"], 2),
        (
            vec!["record", "show", "01a22240-42f8-77af-991e-38cc179f3e04"],
            2,
        ),
        (vec!["record", "list", "--status", "lost"], 2),
        (
            vec![
                "record",
                "new",
                "--form",
                "rumah",
                "--petugas",
                "P001",
                "--answers",
                "-",
            ],
            2,
        ),
        (
            vec![
                "record",
                "new",
                "--form",
                "keluarga",
                "--petugas",
                "P404",
                "--answers",
                "-",
            ],
            2,
        ),
    ] {
        let out = run(d, &args, "{}");
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).is_empty());
    }
}

#[test]
fn demo_fills_the_store_with_valid_families() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&run(d, &["init", "--demo", "--device-name", "Demo"], ""));
    assert!(
        ok(&run(
            d,
            &["demo", "--families", "120", "--seed", "5", "--drafts", "25"],
            ""
        ))
        .contains("120")
    );
    let drafts: serde_json::Value = serde_json::from_str(&ok(&run(
        d,
        &["record", "list", "--status", "draft", "--json"],
        "",
    )))
    .unwrap();
    let finals: serde_json::Value = serde_json::from_str(&ok(&run(
        d,
        &["record", "list", "--status", "final", "--json"],
        "",
    )))
    .unwrap();
    let (nd, nf) = (
        drafts.as_array().unwrap().len(),
        finals.as_array().unwrap().len(),
    );
    assert_eq!(nd + nf, 120);
    assert!((15..=45).contains(&nd), "about 25% drafts: {nd}");
    // Every demo family finalizes cleanly through the same path as a real one.
    let id = drafts[0]["id"].as_str().unwrap();
    ok(&run(
        d,
        &[
            "record",
            "finalize",
            id,
            "--petugas",
            "DEMO",
            "--ack-warnings",
        ],
        "",
    ));
}

#[test]
fn the_data_dir_comes_from_the_environment_when_not_given() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pendata"))
        .args(["init", "--device-name", "Env"])
        .env("PENDATA_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(dir.path().join("pendata.redb").exists());
}

#[test]
fn record_set_names_unknown_fields_at_once_and_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&run(d, &["init", "--device-name", "Tablet Palaran 01"], ""));
    ok(&run(
        d,
        &[
            "petugas",
            "add",
            "--code",
            "P001",
            "--name",
            "Dewi",
            "--pin-stdin",
        ],
        "246810\n",
    ));
    let new = [
        "record",
        "new",
        "--form",
        "keluarga",
        "--petugas",
        "P001",
        "--answers",
        "-",
    ];
    let refused = run(d, &new, r#"{"alamat": "Jl. Pahlawan", "alammat": "x"}"#);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("alammat"));
    assert!(ok(&run(d, &["record", "list"], "")).trim().is_empty());

    let id = ok(&run(d, &new, r#"{"alamat": "Jl. Pahlawan"}"#));
    let id = id.trim();
    let set = |answers: &str| {
        run(
            d,
            &["record", "set", id, "--petugas", "P001", "--answers", "-"],
            answers,
        )
    };
    let refused = set(
        r#"{"luas_lantai": 40, "foto_rumah": "rumah.jpg", "anggota": [{"nama": "Budi", "umurr": 40}]}"#,
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let message = text(&refused.stderr);
    assert!(message.contains("foto_rumah"), "{message}");
    assert!(message.contains("anggota[0].umurr"), "{message}");
    assert!(message.contains("tidak ada yang disimpan"), "{message}");
    let shown = ok(&run(d, &["record", "show", id, "--json"], ""));
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["record"]["revision"], 1, "nothing saved");
    assert!(shown["answers"].get("luas_lantai").is_none());

    // Removing an answer with null is allowed, even for a question the form does not have.
    ok(&set(r#"{"luas_lantai": 40, "lama": null}"#));
}

#[test]
fn commands_that_open_the_store_need_a_pin_from_stdin_or_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let init = run(d, &["init", "--device-name", "Tablet Palaran 01"], "");
    let said = text(&init.stderr);
    assert!(said.contains("RECOVERY CODE"), "{said}");
    let recovery = said
        .lines()
        .find_map(|l| l.split("RECOVERY CODE: ").nth(1))
        .unwrap()
        .trim()
        .to_string();
    ok(&run(
        d,
        &[
            "petugas",
            "add",
            "--code",
            "P001",
            "--name",
            "Dewi",
            "--pin-stdin",
        ],
        "246810\n",
    ));
    let without = |args: &[&str], env_pin: Option<&str>, stdin: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pendata"));
        cmd.env_remove("PENDATA_PIN");
        if let Some(p) = env_pin {
            cmd.env("PENDATA_PIN", p);
        }
        let mut child = cmd
            .arg("--data-dir")
            .arg(d)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    };
    let locked = without(&["record", "list"], None, "");
    assert_eq!(locked.status.code(), Some(2));
    let said = text(&locked.stderr);
    assert!(
        said.contains("terkunci") && said.contains("locked"),
        "{said}"
    );
    let wrong = without(&["record", "list"], Some("999999"), "");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(text(&wrong.stderr).contains("PIN (atau kode pemulihan) salah"));
    assert_eq!(
        without(&["--pin-stdin", "record", "list"], None, "246810\n")
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        without(&["record", "list"], Some(&recovery), "")
            .status
            .code(),
        Some(0),
        "the recovery code opens it"
    );
    // Adding a petugas needs a signed-in one: a wrong PIN adds nobody.
    let refused = without(
        &[
            "petugas",
            "add",
            "--code",
            "P002",
            "--name",
            "Rina",
            "--pin-stdin",
        ],
        Some("999999"),
        "135790\n",
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(!ok(&run(d, &["petugas", "list"], "")).contains("P002"));
    let raw = std::fs::read(d.join("pendata.redb")).unwrap();
    assert!(
        !raw.windows(7).any(|w| w == b"Palaran"),
        "the device name is encrypted"
    );
}

/// A command that acts as a petugas (`--petugas`) opens the store with that petugas's PIN only: another
/// petugas's PIN — valid for the tablet — does not let them enter or change families in a colleague's
/// name. The supervisor's recovery code still opens it.
#[test]
fn a_petugas_cannot_act_as_another_with_their_own_pin() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let with_pin = |args: &[&str], pin: &str, stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pendata"))
            .env("PENDATA_PIN", pin)
            .arg("--data-dir")
            .arg(d)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    };
    let init = run(d, &["init", "--device-name", "Tablet Palaran 02"], "");
    let recovery = text(&init.stderr)
        .lines()
        .find_map(|l| l.split("RECOVERY CODE: ").nth(1).map(str::to_string))
        .unwrap();
    let add = |code: &str, name: &str, pin: &str, signed_in: &str| {
        with_pin(
            &[
                "petugas",
                "add",
                "--code",
                code,
                "--name",
                name,
                "--pin-stdin",
            ],
            signed_in,
            &format!("{pin}\n"),
        )
    };
    ok(&add("P001", "Dewi", "246810", "246810"));
    ok(&add("P002", "Rina", "135790", "246810"));
    let new_as = |petugas: &str, pin: &str| {
        with_pin(
            &[
                "record",
                "new",
                "--form",
                "keluarga",
                "--petugas",
                petugas,
                "--answers",
                "-",
            ],
            pin,
            "{}",
        )
    };
    let refused = new_as("P001", "135790");
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("PIN salah untuk petugas `P001`"),
        "{}",
        text(&refused.stderr)
    );
    let listed = ok(&run(d, &["record", "list"], ""));
    assert!(listed.trim().is_empty(), "nothing entered: {listed}");
    ok(&new_as("P002", "135790"));
    ok(&new_as("P001", "246810"));
    ok(&new_as("P001", recovery.trim()));
    assert_eq!(ok(&run(d, &["record", "list"], "")).lines().count(), 3);
}
