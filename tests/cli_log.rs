//! The log and the exit codes, through the binary: a realistic session leaves a private, bounded log
//! with ids, counts and timings and no personal data; `--verbose` shows its lines; bad input exits 2,
//! a refusal 1, an internal failure (a damaged store) 3 and says what to do.

#![expect(clippy::unwrap_used, reason = "tests: a failed step is a failed test")]

mod common;

use std::path::Path;

use common::{code, p, run, text};

/// Every personal text of the fixture family: names, NIKs, the KK number, the address, the phone.
fn personal(family: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for key in [
        "nama_kepala_keluarga",
        "no_kk",
        "alamat",
        "nama_petugas",
        "nama_responden",
        "hp_responden",
    ] {
        out.push(family[key].as_str().unwrap().to_string());
    }
    for m in family["anggota"].as_array().unwrap() {
        out.push(m["nama"].as_str().unwrap().to_string());
        out.push(m["nik"].as_str().unwrap().to_string());
    }
    out.push("Rina Kartika".into());
    out
}

fn log_of(dir: &Path) -> String {
    let path = dir.join(pendata::log::FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{} is private", path.display());
        let mode = std::fs::metadata(dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{} is private", dir.display());
    }
    std::fs::read_to_string(path).unwrap()
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, step by step, as a person goes through it"
)]
#[test]
fn a_session_leaves_a_private_log_without_personal_data() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("registry");
    let tab = tmp.path().join("tablet");
    let stick = tmp.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    let family_text = std::fs::read_to_string("tests/fixtures/family_valid.json").unwrap();
    let family: serde_json::Value = serde_json::from_str(&family_text).unwrap();
    let answers = tmp.path().join("family.json");
    std::fs::write(&answers, &family_text).unwrap();

    code(&run(None, &["registry", "init", p(&reg)], ""), 0);
    let key = reg.join("registry.pub");
    let device = code(
        &run(
            Some(&tab),
            &["init", "--device-name", "T1", "--registry-key", p(&key)],
            "",
        ),
        0,
    );
    let device = device.lines().next().unwrap().trim().to_string();
    for (code_, name) in [("P001", "Dewi Lestari"), ("P002", "Rina Kartika")] {
        code(
            &run(
                Some(&tab),
                &[
                    "petugas",
                    "add",
                    "--code",
                    code_,
                    "--name",
                    name,
                    "--pin-stdin",
                ],
                "246810\n",
            ),
            0,
        );
    }
    let id = code(
        &run(
            Some(&tab),
            &[
                "record",
                "new",
                "--form",
                "keluarga",
                "--petugas",
                "P001",
                "--answers",
                p(&answers),
            ],
            "",
        ),
        0,
    );
    let id = id.lines().next().unwrap().trim().to_string();
    code(
        &run(
            Some(&tab),
            &[
                "record",
                "finalize",
                &id,
                "--petugas",
                "P001",
                "--ack-warnings",
                "--today",
                "2026-11-21",
            ],
            "",
        ),
        0,
    );
    let out = code(&run(Some(&tab), &["search", "Budi Santoso"], ""), 0);
    assert!(out.contains(&id), "{out}");
    code(
        &run(Some(&tab), &["record", "show", &id, "--history"], ""),
        0,
    );
    // A refusal with a name in the command's arguments: the arguments are not logged.
    code(
        &run(
            Some(&tab),
            &[
                "petugas",
                "add",
                "--code",
                "P002",
                "--name",
                "Rina Kartika",
                "--pin-stdin",
            ],
            "246810\n",
        ),
        1,
    );
    // `--verbose` prints the log's lines on standard error, too.
    let out = run(Some(&tab), &["--verbose", "export", "--to", p(&stick)], "");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("export written"), "{err}");

    // The registry: held until the device is approved, then merged; a receipt back to the stick.
    code(
        &run(None, &["registry", "import", p(&reg), p(&stick)], ""),
        1,
    );
    code(
        &run(
            None,
            &["registry", "devices", p(&reg), "approve", &device],
            "",
        ),
        0,
    );
    code(
        &run(None, &["registry", "import", p(&reg), p(&stick)], ""),
        0,
    );
    for _ in 0..2 {
        code(
            &run(
                None,
                &[
                    "registry",
                    "receipt",
                    p(&reg),
                    "--device",
                    &device,
                    "--to",
                    p(&stick),
                ],
                "",
            ),
            0,
        );
    }
    // Two receipts for one stick, however close in time: two files, neither replaced.
    let receipts: Vec<_> = std::fs::read_dir(&stick)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    code(
        &run(Some(&tab), &["receipt", "apply", p(&receipts[0])], ""),
        0,
    );
    code(
        &run(
            None,
            &["registry", "report", p(&reg), "--format", "json"],
            "",
        ),
        0,
    );

    let tablet_log = log_of(&tab);
    let registry_log = log_of(&reg);
    for needle in [
        "command=\"record new\"",
        "record created",
        "record finalized",
        "export written",
        "receipt applied",
        "store opened",
        "exit=1",
        "ms=",
        &id,
    ] {
        assert!(tablet_log.contains(needle), "`{needle}` in:\n{tablet_log}");
    }
    for needle in [
        "command=\"registry import\"",
        "bundle held",
        "bundle merged",
        "accepted=1",
        &device,
    ] {
        assert!(
            registry_log.contains(needle),
            "`{needle}` in:\n{registry_log}"
        );
    }
    for secret in personal(&family) {
        assert!(
            !tablet_log.contains(&secret) && !registry_log.contains(&secret),
            "`{secret}` is personal data and must not be in the log:\n{tablet_log}\n{registry_log}"
        );
    }
}

#[test]
fn exit_codes_say_bad_input_refused_or_internal_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let tab = tmp.path().join("tablet");
    // Bad input: a folder without a store (which gets no log), a record id that is not one, a missing
    // answers file.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = code(&run(Some(&empty), &["record", "list"], ""), 2);
    assert!(out.contains("pendata init"), "{out}");
    assert!(!empty.join(pendata::log::FILE).exists());
    code(&run(Some(&tab), &["init", "--device-name", "T1"], ""), 0);
    let out = code(&run(Some(&tab), &["record", "show", "not-an-id"], ""), 2);
    assert!(out.contains("not a record id"), "{out}");
    let missing = tmp.path().join("missing.json");
    code(
        &run(
            Some(&tab),
            &[
                "record",
                "new",
                "--form",
                "keluarga",
                "--petugas",
                "P001",
                "--answers",
                p(&missing),
            ],
            "",
        ),
        2,
    );
    // Refused: a second init.
    let out = code(&run(Some(&tab), &["init", "--device-name", "T2"], ""), 1);
    assert!(out.contains("left untouched"), "{out}");

    // Internal failure: the store file is damaged (garbage), or is a folder. The message says it is not
    // the input's fault and where the log is.
    std::fs::write(tab.join("pendata.redb"), b"this is not a database at all").unwrap();
    let out = code(&run(Some(&tab), &["record", "list"], ""), 3);
    assert!(out.contains("damaged"), "{out}");
    assert!(
        out.contains("internal failure") && out.contains("pendata.log"),
        "{out}"
    );
    std::fs::remove_file(tab.join("pendata.redb")).unwrap();
    std::fs::create_dir(tab.join("pendata.redb")).unwrap();
    code(&run(Some(&tab), &["petugas", "list"], ""), 3);
    let log = log_of(&tab);
    assert!(
        log.contains("internal failure") && log.contains("exit=3"),
        "{log}"
    );

    // The registry's own store damaged: 3 as well.
    let reg = tmp.path().join("registry");
    code(&run(None, &["registry", "init", p(&reg)], ""), 0);
    let db = std::fs::read_dir(&reg)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.extension().is_some_and(|e| e == "redb"))
        .unwrap();
    std::fs::write(&db, b"garbage garbage garbage").unwrap();
    code(&run(None, &["registry", "status", p(&reg)], ""), 3);
}
