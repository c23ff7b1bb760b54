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
