//! Kill test: a child process saves answers in a tight loop and prints each save once the store has
//! acknowledged it; the parent SIGKILLs it at a random moment, reopens the store and checks that every
//! acknowledged save is there and the store passes its integrity check.
//!
//! Rounds: `PENDATA_KILL_ROUNDS` (default 4 in CI). Soak run: `PENDATA_KILL_ROUNDS=200 cargo test --release
//! --test kill -- --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset};
use pendata::store::{Answers, Store};
use serde_json::json;
use uuid::Uuid;

const CHILD_ENV: &str = "PENDATA_KILL_CHILD_DIR";

fn now() -> DateTime<FixedOffset> {
    chrono::Local::now().fixed_offset()
}

fn answers(n: u64) -> Answers {
    json!({"alamat": format!("Jl. Uji No. {n}"), "luas_lantai": n})
        .as_object()
        .unwrap()
        .clone()
}

/// The child: runs only when the parent starts this test binary with the environment variable set.
#[test]
fn child_save_loop() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(
        std::path::Path::new(&dir),
        pendata::store::Unlock::Secret("246810"),
    )
    .unwrap();
    let out = std::io::stdout();
    let mut out = out.lock();
    // Alternate between new records and revisions of the last one: both paths must be durable.
    let mut current: Option<Uuid> = None;
    for n in 0.. {
        let id = match current {
            Some(id) if n % 5 != 0 => {
                store
                    .save_answers(id, answers(n), "P001", None, now())
                    .unwrap();
                id
            }
            _ => {
                store
                    .create_record("keluarga", 2026112801, answers(n), "P001", now())
                    .unwrap()
                    .id
            }
        };
        current = Some(id);
        writeln!(out, "saved {id} {n}").unwrap();
        out.flush().unwrap();
    }
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn acknowledged_saves_survive_sigkill() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let rounds: u64 = std::env::var("PENDATA_KILL_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(4);
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::create(dir.path(), "Tablet Uji", now()).unwrap();
    store.add_petugas("P001", "Dewi", "246810", now()).unwrap();
    drop(store);
    let mut rng = seed();
    let mut total_acked = 0;
    for round in 0..rounds {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let wait = Duration::from_millis(50 + rng % 400);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_save_loop",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acked = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut parts = line.split_whitespace();
                if parts.next() == Some("saved") {
                    let id: Uuid = parts.next().unwrap().parse().unwrap();
                    let n: u64 = parts.next().unwrap().parse().unwrap();
                    acked.push((id, n));
                }
            }
            acked
        });
        let started = Instant::now();
        while started.elapsed() < wait {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        total_acked += acked.len();

        let mut store = Store::open(dir.path(), pendata::store::Unlock::Secret("246810")).unwrap();
        assert_eq!(
            store.check().unwrap(),
            Vec::<String>::new(),
            "round {round}: integrity"
        );
        for (id, n) in &acked {
            let history = store.history(*id).unwrap();
            assert!(
                history.iter().any(|r| r.answers == answers(*n)),
                "round {round}: acknowledged save {n} of {id} is lost"
            );
        }
        eprintln!(
            "round {round}: killed after {wait:?}, {} acknowledged saves all present",
            acked.len()
        );
    }
    assert!(total_acked > 0, "the child never saved anything");
}

const UPGRADE_ENV: &str = "PENDATA_KILL_UPGRADE_DIR";

/// The child of the upgrade test: opens a plaintext store with a PIN, which encrypts it.
#[test]
fn child_upgrade() {
    let Ok(dir) = std::env::var(UPGRADE_ENV) else {
        return;
    };
    let store = Store::open(
        std::path::Path::new(&dir),
        pendata::store::Unlock::Secret("246810"),
    )
    .unwrap();
    assert!(store.is_encrypted());
    println!("upgraded");
}

/// The store after a killed upgrade: the old plaintext one (opens without a PIN) or the new encrypted
/// one (needs it), with every family either way.
fn families_after_kill(dir: &std::path::Path, round: &str) -> (bool, usize) {
    let (store, encrypted) = match Store::open(dir, pendata::store::Unlock::Setup) {
        Ok(store) => (store, false),
        Err(pendata::store::StoreError::PinNeeded) => (
            Store::open(
                dir,
                pendata::store::Unlock::Pin {
                    code: "P001",
                    pin: "246810",
                },
            )
            .unwrap_or_else(|e| panic!("{round}: the new store does not open: {e}")),
            true,
        ),
        Err(e) => panic!("{round}: neither store opens: {e}"),
    };
    assert_eq!(store.is_encrypted(), encrypted);
    assert!(
        store.consistency().unwrap().is_empty(),
        "{round}: consistency"
    );
    (encrypted, store.list(None).unwrap().len())
}

#[test]
fn a_kill_during_the_upgrade_leaves_the_old_store_or_the_new_one() {
    if std::env::var(CHILD_ENV).is_ok() || std::env::var(UPGRADE_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::create_plaintext(dir.path(), "Tablet Lama", now()).unwrap();
    store.add_petugas("P001", "Dewi", "246810", now()).unwrap();
    for n in 0..200 {
        store
            .create_record("keluarga", 2026112801, answers(n), "P001", now())
            .unwrap();
    }
    // Photos make the file a few megabytes, so the copy takes several steps.
    for i in 0..12u8 {
        store.put_attachment(&vec![i; 300_000]).unwrap();
    }
    drop(store);
    let spawn = |crash: Option<&str>| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "child_upgrade",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(UPGRADE_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        if let Some(point) = crash {
            cmd.env("PENDATA_CRASH_AT", point);
        }
        cmd.spawn().unwrap()
    };
    // Stopped at the known moments: half-way through the copy, and after the sync before the rename.
    for point in ["mid-copy", "before-rename"] {
        let status = spawn(Some(point)).wait().unwrap();
        assert!(!status.success(), "{point}: the child went on");
        let (encrypted, n) = families_after_kill(dir.path(), point);
        assert!(
            !encrypted,
            "{point}: stopped before the rename, the old store stays"
        );
        assert_eq!(n, 200, "{point}: families");
        assert!(dir.path().join("pendata.redb.rewriting").exists());
    }
    // SIGKILL at random moments, until one lets the upgrade finish.
    let mut rng = seed();
    let mut upgraded = false;
    for round in 0..12 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut child = spawn(None);
        std::thread::sleep(Duration::from_millis(rng % (20 + 40 * round)));
        let _ = child.kill();
        child.wait().unwrap();
        let (encrypted, n) = families_after_kill(dir.path(), &format!("round {round}"));
        assert_eq!(n, 200, "round {round}: families");
        if encrypted {
            upgraded = true;
            break;
        }
    }
    if !upgraded {
        let out = spawn(None).wait_with_output().unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("upgraded"));
        assert!(families_after_kill(dir.path(), "last").0);
    }
    let raw = std::fs::read(dir.path().join("pendata.redb")).unwrap();
    assert!(
        !raw.windows(9).any(|w| w == b"Jl. Uji N"),
        "the new file is encrypted"
    );
}
