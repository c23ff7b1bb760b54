//! The command-line twins, run as a user would: exit codes, messages, JSON output.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn pendata(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pendata"))
        .env("PENDATA_PIN", "246810")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        // A command that does not read its input may exit before the write: not a failure.
        let _ = input.write_all(text.as_bytes());
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_form_in_schemas_passes_form_check() {
    let mut checked = 0;
    for entry in std::fs::read_dir("schemas").unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.extension().is_some_and(|e| e == "json") && !name.ends_with(".schema.json") {
            let out = pendata(&["form", "check", path.to_str().unwrap()], None);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{name}: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
            assert!(text(&out.stdout).contains(": ok"), "{}", text(&out.stdout));
            checked += 1;
        }
    }
    assert!(checked >= 1, "no form files found in schemas/");
}

#[test]
fn form_check_lists_every_problem_with_its_place() {
    let out = pendata(&["form", "check", "tests/fixtures/broken.json"], None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    for expected in [
        "choice_lists.yn: duplicate choice value `1`",
        "field a: duplicate field name",
        "field b: unknown choice list `tidak_ada`",
        "field a.relevant (column 1): unknown field ${zzz}",
        "field c.constraint (column 19): expression ends too early",
        "field e.label: text needs both",
        "field e.relevant (column 1): `${c}` is text: `*` needs numbers",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
}

#[test]
fn form_check_of_a_missing_or_malformed_file_is_bad_input() {
    let out = pendata(
        &["form", "check", "tests/fixtures/does-not-exist.json"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read"));
    let out = pendata(&["form", "check", "Cargo.toml"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("not a valid form file"));
}

#[test]
fn validate_exit_codes() {
    let valid = std::fs::read_to_string("tests/fixtures/family_valid.json").unwrap();
    let base = [
        "validate",
        "--form",
        "keluarga",
        "--today",
        "2026-11-28",
        "--answers",
    ];

    let out = pendata(
        &[&base[..], &["tests/fixtures/family_valid.json"]].concat(),
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    let out = pendata(&[&base[..], &["-"]].concat(), Some(&valid));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    let mut broken: serde_json::Value = serde_json::from_str(&valid).unwrap();
    broken["anggota"][0]["nik"] = "12345".into();
    let out = pendata(
        &[&base[..], &["-", "--json"]].concat(),
        Some(&broken.to_string()),
    );
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let issue = report["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == "nik_length")
        .unwrap();
    assert_eq!(issue["path"], "anggota[0].nik");
    assert_eq!(issue["severity"], "error");
    assert!(
        issue["message"]["id"]
            .as_str()
            .unwrap()
            .contains("16 angka")
    );
    assert!(
        issue["message"]["en"]
            .as_str()
            .unwrap()
            .contains("16 digits")
    );

    for (stdin, args, needle) in [
        ("{", vec!["-"], "not valid JSON"),
        ("[1, 2]", vec!["-"], "must be a JSON object"),
        ("", vec!["tests/fixtures/nope.json"], "cannot read"),
    ] {
        let out = pendata(&[&base[..], &args[..]].concat(), Some(stdin));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains(needle), "{}", text(&out.stderr));
    }

    let out = pendata(
        &["validate", "--form", "rumah", "--answers", "-"],
        Some("{}"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown form `rumah`"));
    assert!(text(&out.stderr).contains("keluarga"));

    let out = pendata(&["validate", "--form", "keluarga"], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a missing argument is a usage error"
    );
    let out = pendata(
        &[&base[..4], &["2026-13-01", "--answers", "-"]].concat(),
        Some("{}"),
    );
    assert_eq!(out.status.code(), Some(2), "a bad --today is a usage error");
}

#[test]
fn validate_prints_both_languages_in_text_mode() {
    let out = pendata(
        &[
            "validate",
            "--form",
            "keluarga",
            "--today",
            "2026-11-28",
            "--answers",
            "-",
        ],
        Some("{}"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("KESALAHAN/ERROR"), "{stdout}");
    assert!(stdout.contains("Wajib diisi / Required"), "{stdout}");
}
