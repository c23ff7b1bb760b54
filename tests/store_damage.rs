//! A damaged, read-only or unreachable store file: reported in words, never a panic, and commands that
//! only read leave the file's bytes as they were.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use common::{code, p, run};

use chrono::{DateTime, FixedOffset};
use pendata::store::{Access, Answers, Opened, STAMP_FILE, Store, StoreError};
use serde_json::json;
use sha2::Digest;

fn now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-28T10:15:00+08:00").unwrap()
}

fn answers(n: usize) -> Answers {
    json!({"alamat": format!("Jl. Uji No. {n}"), "catatan": format!("{n} ").repeat(400),
           "anggota": [{"nama": format!("Budi {n}"), "nik": "6472011203850001", "hubungan": "1"}]})
    .as_object()
    .unwrap()
    .clone()
}

/// A closed store of `families` families with a few revisions each (a file of a few hundred pages).
fn store_with(dir: &Path, families: usize) {
    let (store, _) = Store::create(dir, "Tablet Uji", now()).unwrap();
    store
        .add_petugas("P001", "Dewi Lestari", "246810", now())
        .unwrap();
    for n in 0..families {
        let head = store
            .create_record("keluarga", 2026112801, answers(n), "P001", now())
            .unwrap();
        store
            .save_answers(head.id, answers(n + 1000), "P001", None, now())
            .unwrap();
    }
}

fn sha256(path: &Path) -> String {
    sha2::Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes 4 KiB of (deterministic) random bytes in the middle of the file, as a bad sector would.
fn damage(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2 / 4096 * 4096;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for b in bytes.iter_mut().skip(middle).take(4096) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn four_kib_of_random_bytes_in_the_middle_are_found_on_every_open_and_the_file_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 300);
    let file = dir.path().join("pendata.redb");
    assert!(
        dir.path().join(STAMP_FILE).exists(),
        "a clean close is stamped"
    );
    damage(&file);
    let damaged = sha256(&file);
    for access in [Access::ReadOnly, Access::Write, Access::Checked] {
        let err = Store::open_as(dir.path(), access, pendata::store::Unlock::Secret("246810"))
            .err()
            .unwrap();
        assert!(
            matches!(err, StoreError::Corrupt { .. }),
            "{access:?}: {err}"
        );
        let text = err.text();
        assert!(text.en.contains("damaged") && text.en.contains("copy the whole data folder"));
        assert!(text.id.contains("rusak") && text.id.contains("salin seluruh folder data"));
        assert_eq!(
            sha256(&file),
            damaged,
            "{access:?} left the damaged file as it was"
        );
    }
}

#[test]
fn reading_commands_leave_the_file_unchanged_and_writers_stamp_it_again() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 20);
    let file = dir.path().join("pendata.redb");
    let before = sha256(&file);
    for _ in 0..3 {
        let store = Store::open_as(
            dir.path(),
            Access::ReadOnly,
            pendata::store::Unlock::Secret("246810"),
        )
        .unwrap();
        assert_eq!(store.opened(), Opened::AsAsked);
        let list = store.list(None).unwrap();
        assert_eq!(list.len(), 20);
        store.answers(list[0].id).unwrap();
        store.history(list[0].id).unwrap();
        store.search("budi", 10).unwrap();
        store.petugas_list().unwrap();
        store.exports().unwrap();
        assert!(
            store.put_setting("x", &json!(1)).is_err(),
            "a read-only open refuses writes"
        );
        drop(store);
        assert_eq!(sha256(&file), before, "a read-only open wrote the file");
    }
    // A writer changes the file and stamps it at its close: the next read-only open trusts it again.
    let store = Store::open(dir.path(), pendata::store::Unlock::Secret("246810")).unwrap();
    store.put_setting("x", &json!(1)).unwrap();
    drop(store);
    let after = sha256(&file);
    assert_ne!(after, before);
    let store = Store::open_as(
        dir.path(),
        Access::ReadOnly,
        pendata::store::Unlock::Secret("246810"),
    )
    .unwrap();
    assert_eq!(store.opened(), Opened::AsAsked);
    drop(store);
    assert_eq!(sha256(&file), after);
}

#[test]
fn a_store_not_closed_cleanly_is_checked_on_open_even_by_a_reading_command() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 5);
    // No stamp: as after a crash, a power cut, or a store made by an older build.
    std::fs::remove_file(dir.path().join(STAMP_FILE)).unwrap();
    let mut store = Store::open_as(
        dir.path(),
        Access::ReadOnly,
        pendata::store::Unlock::Secret("246810"),
    )
    .unwrap();
    assert_eq!(
        store.opened(),
        Opened::Checked,
        "the reading command is told"
    );
    assert_eq!(store.check().unwrap(), Vec::<String>::new());
    drop(store);
    // Checked and closed cleanly: read-only again.
    let store = Store::open_as(
        dir.path(),
        Access::ReadOnly,
        pendata::store::Unlock::Secret("246810"),
    )
    .unwrap();
    assert_eq!(store.opened(), Opened::AsAsked);
}

#[test]
fn a_file_changed_outside_pendata_is_checked_even_when_its_bytes_still_read() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 5);
    let file = dir.path().join("pendata.redb");
    // The same bytes written again (a copy back from a backup, a sync tool): the stamp no longer
    // matches, so the file is checked rather than trusted.
    let bytes = std::fs::read(&file).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&file, &bytes).unwrap();
    let store = Store::open_as(
        dir.path(),
        Access::ReadOnly,
        pendata::store::Unlock::Secret("246810"),
    )
    .unwrap();
    assert_eq!(store.opened(), Opened::Checked);
    assert_eq!(store.list(None).unwrap().len(), 5);
}

#[test]
fn missing_and_read_only_stores_are_told_apart_from_damage() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open_as(
        dir.path(),
        Access::ReadOnly,
        pendata::store::Unlock::Secret("246810"),
    )
    .err()
    .unwrap();
    assert!(matches!(err, StoreError::NotInitialized(_)), "{err}");
    store_with(dir.path(), 3);
    let file = dir.path().join("pendata.redb");
    let before = sha256(&file);
    set_mode(&file, 0o400);
    // Reading a read-only file works and changes nothing.
    let store = Store::open_as(
        dir.path(),
        Access::ReadOnly,
        pendata::store::Unlock::Secret("246810"),
    )
    .unwrap();
    assert_eq!(store.list(None).unwrap().len(), 3);
    drop(store);
    assert_eq!(sha256(&file), before);
    if std::fs::OpenOptions::new().write(true).open(&file).is_ok() {
        // Run as root, which writes any file: the refusal cannot be seen here.
        set_mode(&file, 0o600);
        return;
    }
    let err = Store::open(dir.path(), pendata::store::Unlock::Secret("246810"))
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::ReadOnlyFile(_)), "{err}");
    assert!(err.to_string().contains("nothing is lost"), "{err}");
    assert!(!err.to_string().contains("backup"), "{err}");
    assert!(
        dir.path().join(STAMP_FILE).exists(),
        "the refusal kept the stamp"
    );
    set_mode(&file, 0o600);
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(not(unix))]
fn set_mode(path: &Path, mode: u32) {
    let mut p = std::fs::metadata(path).unwrap().permissions();
    p.set_readonly(mode & 0o200 == 0);
    std::fs::set_permissions(path, p).unwrap();
}

#[test]
fn the_app_shows_a_damaged_store_on_a_screen_of_its_own_and_offers_no_setup() {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use pendata::ui::{PendataApp, Screen};

    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 300);
    let file = dir.path().join("pendata.redb");
    damage(&file);
    let damaged = sha256(&file);
    let mut app = PendataApp::new(dir.path());
    // Locked, the store shows only who can sign in: the damage is found when the PIN opens it.
    match &mut app.screen {
        Screen::SignIn(f) => {
            f.code = "P001".into();
            f.pin = "246810".into();
        }
        _ => panic!("the locked store asks for the PIN first"),
    }
    app.run(pendata::ui::Command::SignIn);
    assert!(
        matches!(app.screen, Screen::Unavailable(_)),
        "neither setup nor sign-in"
    );
    let mut h = Harness::builder()
        .with_size([800.0, 1280.0])
        .build_ui_state(|ui, app: &mut PendataApp| app.ui(ui), app);
    h.run();
    assert!(
        h.query_by_label("Data tablet tidak dapat dibuka").is_some(),
        "the screen's title"
    );
    assert!(
        h.query_by_label_contains("rusak").is_some(),
        "why, in Indonesian"
    );
    assert!(
        h.query_by_label("Mulai").is_none(),
        "no first-run setup over it"
    );
    drop(h);
    assert_eq!(sha256(&file), damaged, "the app left the file as it was");
}

#[test]
fn the_commands_read_without_writing_check_says_intact_or_damaged_and_none_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tab");
    store_with(&dir, 300);
    let file = dir.join("pendata.redb");
    let id = Store::open_as(
        &dir,
        Access::ReadOnly,
        pendata::store::Unlock::Secret("246810"),
    )
    .unwrap()
    .list(None)
    .unwrap()[0]
        .id
        .to_string();
    let before = sha256(&file);
    for args in [
        &["record", "list"][..],
        &["record", "show", &id, "--history"],
        &["search", "budi"],
        &["petugas", "list"],
        &["export-log"],
        &["receipt", "list"],
    ] {
        let out = code(&run(Some(&dir), args, ""), 0);
        assert!(!out.contains("note:"), "{args:?}: {out}");
        assert_eq!(sha256(&file), before, "{args:?} wrote the store file");
    }
    let out = code(&run(Some(&dir), &["check"], ""), 0);
    assert!(out.contains("the store is intact: 300"), "{out}");

    damage(&file);
    let out = code(&run(Some(&dir), &["check"], ""), 1);
    assert!(
        out.contains("RUSAK")
            && out.contains("DAMAGED")
            && out.contains("copy the whole data folder"),
        "{out}"
    );
    let answers = tmp.path().join("a.json");
    std::fs::write(&answers, r#"{"alamat": "Jl. Baru"}"#).unwrap();
    let to = tmp.path().join("stick");
    std::fs::create_dir(&to).unwrap();
    for args in [
        &["record", "list"][..],
        &["record", "show", &id],
        &[
            "record",
            "set",
            &id,
            "--petugas",
            "P001",
            "--answers",
            p(&answers),
        ],
        &["export", "--all", "--to", p(&to), "--petugas", "P001"],
        &["search", "budi"],
    ] {
        let out = code(&run(Some(&dir), args, ""), 3);
        assert!(
            out.contains("damaged") && out.contains("rusak"),
            "{args:?}: {out}"
        );
        assert!(!out.contains("panicked"), "{args:?}: {out}");
    }
    assert_eq!(
        std::fs::read_dir(&to).unwrap().count(),
        0,
        "no bundle from a damaged store"
    );
}

#[test]
fn a_fifty_megabyte_note_is_refused_at_entry_and_nothing_is_saved() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tab");
    store_with(&dir, 1);
    let id = Store::open_as(
        &dir,
        Access::ReadOnly,
        pendata::store::Unlock::Secret("246810"),
    )
    .unwrap()
    .list(None)
    .unwrap()[0]
        .id
        .to_string();
    let note = "catatan ".repeat(50 * 1024 * 1024 / 8);
    let answers = serde_json::to_string(&json!({ "catatan": note })).unwrap();
    let out = code(
        &run(
            Some(&dir),
            &["record", "set", &id, "--petugas", "P001", "--answers", "-"],
            &answers,
        ),
        2,
    );
    assert!(
        out.contains("Terlalu panjang: paling banyak 5000 karakter")
            && out.contains("Too long: at most 5000 characters")
            && out.contains("nothing was saved"),
        "{out}"
    );
    let store = Store::open_as(
        &dir,
        Access::ReadOnly,
        pendata::store::Unlock::Secret("246810"),
    )
    .unwrap();
    let head = &store.list(None).unwrap()[0];
    assert_eq!(head.revision, 2, "no revision was added");
    // At its length it is saved.
    drop(store);
    let answers = serde_json::to_string(&json!({ "catatan": "x".repeat(5000) })).unwrap();
    code(
        &run(
            Some(&dir),
            &["record", "set", &id, "--petugas", "P001", "--answers", "-"],
            &answers,
        ),
        0,
    );
}

#[test]
fn a_refused_first_run_setup_creates_nothing_and_the_next_try_succeeds() {
    use egui::accesskit::Role;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use pendata::ui::PendataApp;

    fn type_into(h: &mut Harness<'static, PendataApp>, label: &str, text: &str) {
        let role = [Role::TextInput, Role::PasswordInput]
            .into_iter()
            .find(|r| h.query_by_role_and_label(*r, label).is_some())
            .unwrap();
        h.get_by_role_and_label(role, label).focus();
        h.run();
        h.get_by_role_and_label(role, label).type_text(text);
        h.run();
    }

    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::builder()
        .with_size([800.0, 1280.0])
        .build_ui_state(
            |ui, app: &mut PendataApp| app.ui(ui),
            PendataApp::new(dir.path()),
        );
    h.run();
    type_into(&mut h, "Nama perangkat", "Tablet Palaran 01");
    type_into(&mut h, "Kode petugas", "P001");
    type_into(&mut h, "PIN (6–12 angka)", "12");
    type_into(&mut h, "Ulangi PIN", "12");
    h.get_by_label("Mulai").click();
    h.run();
    assert!(
        h.query_by_label_contains("nama petugas belum diisi")
            .is_some(),
        "the empty name is said"
    );
    type_into(&mut h, "Nama petugas", "Dewi Lestari");
    h.get_by_label("Mulai").click();
    h.run();
    assert!(
        h.query_by_label_contains("PIN terdiri dari 6 sampai 12 angka")
            .is_some(),
        "the short PIN is said"
    );
    assert!(
        !dir.path().join("pendata.redb").exists(),
        "a refused setup created no store"
    );
    type_into(&mut h, "PIN (6–12 angka)", "3456");
    type_into(&mut h, "Ulangi PIN", "3456");
    h.get_by_label("Mulai").click();
    h.run();
    assert!(
        h.query_by_label("Perangkat siap. Silakan masuk.").is_some(),
        "the corrected setup goes through"
    );
}

/// Runs `pendata --data-dir DIR ARGS` as an ordinary user: as `nobody` through `setpriv` when the tests
/// run as root (who may read and write anything), else as the user running them. None when the tests run
/// as root without `setpriv`.
#[cfg(unix)]
fn run_unprivileged(dir: &Path, args: &[&str]) -> Option<std::process::Output> {
    use std::process::Command;
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_pendata"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_pendata"))
    };
    cmd.env("PENDATA_PIN", "246810")
        .arg("--data-dir")
        .arg(dir)
        .args(args);
    cmd.output().ok().filter(|o| o.status.code().is_some())
}

#[cfg(unix)]
#[test]
fn no_permission_and_a_read_only_file_say_so_and_never_invite_a_second_store() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("tab");
    store_with(&dir, 2);
    let owner = |path: &Path| {
        // Handed to `nobody` when run as root, so that only the mode bits decide.
        let _ = std::process::Command::new("chown")
            .args(["-R", "65534"])
            .arg(path)
            .status();
    };
    owner(&dir);
    // A data folder this user may not open: "no permission", not "no store, run init".
    set_mode(&dir, 0o000);
    let Some(out) = run_unprivileged(&dir, &["record", "list"]) else {
        set_mode(&dir, 0o700);
        return;
    };
    set_mode(&dir, 0o700);
    let out = code(&out, 1);
    assert!(
        out.contains("no permission") && out.contains("do not run `pendata init`"),
        "{out}"
    );
    assert!(!out.contains("no Pendata store"), "{out}");
    // A read-only store file: reading works; a write says "read-only", nothing lost, no backup.
    set_mode(&dir.join("pendata.redb"), 0o400);
    let before = sha256(&dir.join("pendata.redb"));
    code(&run_unprivileged(&dir, &["record", "list"]).unwrap(), 0);
    let out = code(
        &run_unprivileged(
            &dir,
            &[
                "petugas",
                "add",
                "--code",
                "P2",
                "--name",
                "X",
                "--pin-stdin",
            ],
        )
        .unwrap(),
        1,
    );
    assert!(
        out.contains("read-only") && out.contains("nothing is lost"),
        "{out}"
    );
    assert!(!out.contains("damaged") && !out.contains("backup"), "{out}");
    assert_eq!(sha256(&dir.join("pendata.redb")), before);
    set_mode(&dir.join("pendata.redb"), 0o600);
}

#[test]
fn the_apps_save_refuses_a_text_past_its_length_and_keeps_the_last_save() {
    use pendata::app::{AppError, Device};
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 1);
    let device = Device::open(dir.path(), pendata::store::Unlock::Secret("246810")).unwrap();
    let (head, mut all) = device.record(device.list(None).unwrap()[0].id).unwrap();
    all.insert("catatan".into(), json!("x".repeat(5001)));
    let err = device
        .save(head.id, "P001", all.clone(), None)
        .err()
        .unwrap();
    assert!(matches!(err, AppError::TooLong { .. }), "{err}");
    assert!(
        err.text()
            .id
            .contains("catatan: Terlalu panjang: paling banyak 5000 karakter"),
        "{}",
        err.text().id
    );
    assert_eq!(device.record(head.id).unwrap().0.revision, head.revision);
    all.insert("catatan".into(), json!("x".repeat(5000)));
    let saved = device.save(head.id, "P001", all, None).unwrap();
    assert_eq!(saved.revision, head.revision + 1);
}

#[test]
fn a_page_damaged_while_the_app_has_the_store_open_is_found_before_an_export() {
    use pendata::app::{AppError, Device};
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), 300);
    let mut device = Device::open(dir.path(), pendata::store::Unlock::Secret("246810")).unwrap();
    device.verify_store().unwrap();
    damage(&dir.path().join("pendata.redb"));
    let err = device.verify_store().err().unwrap();
    assert!(
        matches!(err, AppError::Store(StoreError::Corrupt { .. })),
        "{err}"
    );
}
