//! The store encrypted at rest: nothing personal and no secret key readable from the file, PINs and
//! the recovery code unlock it and wrong ones wait, purge erases, a plaintext store is encrypted on its
//! first open with a PIN.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use chrono::{DateTime, Duration, FixedOffset};
use pendata::store::{Answers, Status, Store, StoreError, Unlock};
use serde_json::json;

const PIN: &str = "246810";

fn now() -> DateTime<FixedOffset> {
    chrono::Local::now().fixed_offset()
}

fn family(name: &str, nik: &str, kk: &str) -> Answers {
    json!({"alamat": format!("Jl. {name} No. 7"), "no_kk": kk,
           "anggota": [{"nama": name, "nik": nik, "hubungan": "1"}]})
    .as_object()
    .unwrap()
    .clone()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn new_store(dir: &std::path::Path) -> Store {
    let (store, _) = Store::create(dir, "Tablet Uji", now()).unwrap();
    store
        .add_petugas("P001", "Dewi Lestari", PIN, now())
        .unwrap();
    store
}

#[test]
fn the_file_holds_no_name_nik_or_device_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path());
    for i in 0..50 {
        store
            .create_record(
                "keluarga",
                2026112801,
                family(
                    &format!("Sulastri Wibisono{i}"),
                    &format!("64720199999{i:05}"),
                    "6472017777770003",
                ),
                "P001",
                now(),
            )
            .unwrap();
    }
    store
        .put_setting("resume", &json!({"note": "Sulastri"}))
        .unwrap();
    let secret = store.signing_key().unwrap().to_bytes();
    let age = store.age_identity().unwrap();
    let age = age::secrecy::ExposeSecret::expose_secret(&age.to_string()).to_string();
    let plain = store.decrypted_file().unwrap();
    drop(store);
    // The test reads what it looks for in the decrypted file: the search is not vacuous.
    assert!(contains(&plain, "Sulastri Wibisono7"));
    assert!(contains(&plain, "6472017777770003"));
    let raw = std::fs::read(dir.path().join("pendata.redb")).unwrap();
    for needle in [
        "Sulastri",
        "Wibisono",
        "6472019999900007",
        "6472017777770003",
        "AGE-SECRET-KEY",
    ] {
        assert!(!contains(&raw, needle), "{needle} is readable in the file");
    }
    assert!(!contains(&raw, &age));
    assert!(
        !raw.windows(32).any(|w| w == secret),
        "the device key is readable"
    );
    // Only who can sign in is readable without a PIN.
    assert_eq!(
        pendata::store::holders(dir.path()).unwrap(),
        Some(vec![("P001".to_string(), "Dewi Lestari".to_string())])
    );
}

#[test]
fn pins_and_the_recovery_code_unlock_and_wrong_pins_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::create(dir.path(), "Tablet Uji", now()).unwrap();
    let recovery = store.recovery_code().unwrap().to_string();
    assert_eq!(recovery.len(), 29, "six groups of four: {recovery}");
    store
        .add_petugas("P001", "Dewi Lestari", PIN, now())
        .unwrap();
    let id = store
        .create_record(
            "keluarga",
            2026112801,
            family("Rina", "6472010101010001", "1"),
            "P001",
            now(),
        )
        .unwrap()
        .id;
    drop(store);
    let d = dir.path();
    assert!(matches!(
        Store::open(d, Unlock::Setup),
        Err(StoreError::PinNeeded)
    ));
    assert!(matches!(
        Store::open(d, Unlock::Secret("")),
        Err(StoreError::PinNeeded)
    ));
    assert!(matches!(
        Store::open(d, Unlock::Secret("999999")),
        Err(StoreError::WrongSecret)
    ));
    // The recovery code opens it, typed in lower case and without dashes too.
    let typed = recovery.replace('-', "").to_lowercase();
    let store = Store::open(d, Unlock::Secret(&typed)).unwrap();
    assert_eq!(store.record(id).unwrap().id, id);
    assert_eq!(store.signed_in(), None);
    drop(store);
    let pin = |p| Unlock::Pin {
        code: "P001",
        pin: p,
    };
    assert_eq!(
        Store::open(d, pin(PIN)).unwrap().signed_in().as_deref(),
        Some("P001")
    );
    assert!(matches!(
        Store::open(
            d,
            Unlock::Pin {
                code: "P404",
                pin: PIN
            }
        ),
        Err(StoreError::UnknownPetugas(_))
    ));
    for _ in 0..3 {
        assert!(matches!(
            Store::open(d, pin("111111")),
            Err(StoreError::WrongPin(_))
        ));
    }
    // After three wrong PINs even the right one waits, and the wait is kept on disk.
    assert!(matches!(
        Store::open(d, pin(PIN)),
        Err(StoreError::TooManyTries { wait_secs }) if wait_secs > 0 && wait_secs <= 30
    ));
    let tries = std::fs::read_to_string(d.join("pendata.redb.tries")).unwrap();
    assert!(tries.contains("P001"), "{tries}");
    assert_eq!(pendata::store::keys::delay_after(2), 0);
    assert_eq!(pendata::store::keys::delay_after(4), 60);
    assert_eq!(pendata::store::keys::delay_after(40), 3600);
}

#[test]
fn a_second_petugas_is_added_by_a_signed_in_one_and_signs_in_with_their_own_pin() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path());
    drop(store);
    let store = Store::open(
        dir.path(),
        Unlock::Pin {
            code: "P001",
            pin: PIN,
        },
    )
    .unwrap();
    store.add_petugas("P002", "Rina", "135790", now()).unwrap();
    drop(store);
    let store = Store::open(
        dir.path(),
        Unlock::Pin {
            code: "P002",
            pin: "135790",
        },
    )
    .unwrap();
    assert_eq!(store.petugas_list().unwrap().len(), 2);
    assert_eq!(store.verify_pin("P001", PIN).unwrap().name, "Dewi Lestari");
}

fn accept(store: &Store, name: &str, nik: &str, at: DateTime<FixedOffset>) -> uuid::Uuid {
    let head = store
        .create_record(
            "keluarga",
            2026112801,
            family(name, nik, "6472015555550005"),
            "P001",
            now(),
        )
        .unwrap();
    store.finalize(head.id, 1, "P001", vec![], now()).unwrap();
    for to in [Status::Exported, Status::Accepted] {
        store.set_status(&[head.id], to, None, &[], at).unwrap();
    }
    head.id
}

#[test]
fn purge_erases_the_purged_families_from_every_page_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path());
    let long_ago = now() - Duration::days(30);
    let mut gone = Vec::new();
    for i in 0..40 {
        let (name, nik) = (
            format!("Sulastri Purbaya{i:02}"),
            format!("64720199990{i:05}"),
        );
        accept(&store, &name, &nik, long_ago);
        gone.push((name, nik));
    }
    let kept = accept(&store, "Bambang Kusumo", "6472018888880002", now());
    let before = store.decrypted_file().unwrap();
    assert!(
        contains(&before, "Sulastri Purbaya07"),
        "the purged names were there"
    );
    let purged = store
        .purge_accepted_before(now() - Duration::days(1), now())
        .unwrap();
    assert_eq!(purged.records, 40);
    // Deleting rows alone leaves their bytes in free pages.
    let freed = store.decrypted_file().unwrap();
    assert!(gone.iter().any(|(n, _)| contains(&freed, n)));
    let store = store.rewrite().unwrap();
    let after = store.decrypted_file().unwrap();
    assert!(
        contains(&after, "Bambang Kusumo"),
        "the decryption reads the live data"
    );
    for (name, nik) in &gone {
        assert!(!contains(&after, name), "{name} is left in the file");
        assert!(!contains(&after, nik), "{nik} is left in the file");
    }
    assert_eq!(store.record(kept).unwrap().status, Status::Accepted);
    assert!(store.consistency().unwrap().is_empty());
    drop(store);
    assert!(!dir.path().join("pendata.redb.rewriting").exists());
    // The new file opens with the same PIN and the same recovery slot.
    let store = Store::open(dir.path(), Unlock::Secret(PIN)).unwrap();
    assert_eq!(store.list(None).unwrap().len(), 1);
}

#[test]
fn a_plaintext_store_is_encrypted_on_its_first_open_with_a_pin() {
    let dir = tempfile::tempdir().unwrap();
    let (store, device) = Store::create_plaintext(dir.path(), "Tablet Lama", now()).unwrap();
    store
        .add_petugas("P001", "Dewi Lestari", PIN, now())
        .unwrap();
    store.add_petugas("P002", "Rina", "135790", now()).unwrap();
    let id = store
        .create_record(
            "keluarga",
            2026112801,
            family("Sulastri Lama", "6472013333330003", "1"),
            "P001",
            now(),
        )
        .unwrap()
        .id;
    drop(store);
    let file = dir.path().join("pendata.redb");
    assert!(contains(&std::fs::read(&file).unwrap(), "Sulastri Lama"));
    // Without a PIN it opens as before, untouched.
    drop(Store::open(dir.path(), Unlock::Setup).unwrap());
    assert!(contains(&std::fs::read(&file).unwrap(), "Sulastri Lama"));
    assert!(matches!(
        Store::open(dir.path(), Unlock::Secret("999999")),
        Err(StoreError::WrongSecret)
    ));
    let store = Store::open(dir.path(), Unlock::Secret(PIN)).unwrap();
    assert!(store.is_encrypted());
    assert!(
        store.recovery_code().is_some(),
        "a recovery code to show once"
    );
    assert_eq!(store.device().unwrap(), device);
    assert_eq!(store.record(id).unwrap().id, id);
    // The petugas whose PIN was not given gets a slot from a signed-in one.
    store.add_petugas("P002", "Rina", "135791", now()).unwrap();
    drop(store);
    assert!(!contains(&std::fs::read(&file).unwrap(), "Sulastri Lama"));
    assert!(!dir.path().join("pendata.redb.rewriting").exists());
    let store = Store::open(
        dir.path(),
        Unlock::Pin {
            code: "P002",
            pin: "135791",
        },
    )
    .unwrap();
    assert_eq!(store.record(id).unwrap().id, id);
    assert!(store.consistency().unwrap().is_empty());
}

#[test]
fn the_apps_sign_in_encrypts_a_store_of_an_earlier_build_and_sign_out_locks_it() {
    use pendata::ui::{Command, PendataApp, Screen};
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::create_plaintext(dir.path(), "Tablet Lama", now()).unwrap();
    store
        .add_petugas("P001", "Dewi Lestari", PIN, now())
        .unwrap();
    drop(store);
    let mut app = PendataApp::new(dir.path());
    let sign_in = |app: &mut PendataApp, pin: &str| {
        match &mut app.screen {
            Screen::SignIn(f) => {
                f.code = "P001".into();
                f.pin = pin.into();
            }
            _ => panic!("not on the sign-in screen"),
        }
        app.run(Command::SignIn);
    };
    sign_in(&mut app, "111111");
    assert!(
        matches!(app.screen, Screen::SignIn(_)),
        "a wrong PIN is refused"
    );
    assert!(
        pendata::store::holders(dir.path()).unwrap().is_none(),
        "and changes nothing"
    );
    sign_in(&mut app, PIN);
    assert!(!matches!(app.screen, Screen::SignIn(_)), "signed in");
    assert!(
        pendata::store::holders(dir.path()).unwrap().is_some(),
        "the store is encrypted"
    );
    app.run(Command::SignOut);
    // Signed out, the store is closed: another program can open it (with the PIN).
    drop(Store::open(dir.path(), Unlock::Secret(PIN)).unwrap());
    sign_in(&mut app, PIN);
    assert!(!matches!(app.screen, Screen::SignIn(_)), "signed in again");
}
