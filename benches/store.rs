//! Benchmarks of the device store, each compared side by side in one run:
//! 1. durable save of one answer (a full family snapshot) vs the same disk's write + fsync floor, and
//!    finalizing a family with the outbox's frames and without;
//! 2. search by name / NIK / KK prefix among N families, for N = 10,000 and 100,000 (and 1,000,000 with
//!    `PENDATA_BENCH_MILLION=1`);
//! 3. store size per family and time to open the store;
//! 4. the PIN's key derivation with the shipped argon2id parameters, and what the sign-in costs.
//!
//! Each case runs on the encrypted store and, beside it, on a plaintext store as builds before
//! encryption made them (`Store::create_plaintext`).
//!
//! Run: `cargo bench --bench store` (stores go to a temporary folder under `target/`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use pendata::app::demo::{FamilySpec, Rng, family};
use pendata::form::catalog::Catalog;
use pendata::store::keys::Kdf;
use pendata::store::{NewRecord, Store, Unlock};
use serde_json::json;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::Local::now().fixed_offset()
}

fn bench_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The two kinds of store compared.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    Encrypted,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Plain => "plaintext",
            Kind::Encrypted => "encrypted",
        }
    }

    fn create(self, dir: &std::path::Path) -> Store {
        let (store, _) = match self {
            Kind::Plain => Store::create_plaintext(dir, "Bench", now()).unwrap(),
            Kind::Encrypted => Store::create(dir, "Bench", now()).unwrap(),
        };
        store.add_petugas("P001", "Bench", "246810", now()).unwrap();
        store
    }

    fn unlock(self) -> Unlock<'static> {
        match self {
            Kind::Plain => Unlock::Setup,
            Kind::Encrypted => Unlock::Secret("246810"),
        }
    }
}

/// Durable saves on a plaintext and an encrypted store and the disk's floor, interleaved in one loop (the
/// order rotating every round), so all three see the same disk weather; each store's ratio is to the
/// same floor samples.
fn save_latency() {
    let dir = bench_dir("bench-save");
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let spec = FamilySpec {
        interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
    };
    let mut answers = family(form, &mut Rng::new(1), &spec);
    let size = serde_json::to_vec(&answers).unwrap().len();
    let stores: Vec<(Kind, Store, uuid::Uuid)> = [Kind::Plain, Kind::Encrypted]
        .into_iter()
        .map(|kind| {
            let sub = dir.join(kind.name());
            std::fs::create_dir_all(&sub).unwrap();
            let store = kind.create(&sub);
            let id = store
                .create_record("keluarga", form.version, answers.clone(), "P001", now())
                .unwrap()
                .id;
            (kind, store, id)
        })
        .collect();
    let floor_path = dir.join("floor.bin");
    let payload = vec![0x5Au8; size + 600];
    let rounds: usize = std::env::var("PENDATA_BENCH_SAVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut saves = vec![Vec::new(); stores.len()];
    let mut floors = Vec::new();
    for n in 0..rounds {
        answers.insert("catatan".into(), json!(format!("catatan ke-{n}")));
        for step in 0..=stores.len() {
            let which = (step + n) % (stores.len() + 1);
            let t = Instant::now();
            if let Some((_, store, id)) = stores.get(which) {
                store
                    .save_answers(*id, answers.clone(), "P001", None, now())
                    .unwrap();
                saves[which].push(t.elapsed());
            } else {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&floor_path)
                    .unwrap();
                f.write_all(&payload).unwrap();
                f.sync_data().unwrap();
                floors.push(t.elapsed());
            }
        }
    }
    let (f50, f99) = (percentile(&mut floors, 0.5), percentile(&mut floors, 0.99));
    println!(
        "## durable save of one answer ({rounds} saves of a {size}-byte family snapshot on each store, interleaved with the floor)"
    );
    println!("| | p50 | p99 | ratio p50 | ratio p99 |\n|---|---:|---:|---:|---:|");
    for ((kind, _, _), s) in stores.iter().zip(saves.iter_mut()) {
        let (s50, s99) = (percentile(s, 0.5), percentile(s, 0.99));
        println!(
            "| {} store save (one redb write transaction, fsync) | {} | {} | {:.2}× | {:.2}× |",
            kind.name(),
            ms(s50),
            ms(s99),
            s50.as_secs_f64() / f50.as_secs_f64(),
            s99.as_secs_f64() / f99.as_secs_f64()
        );
    }
    println!(
        "| floor: append {} bytes + fdatasync, same disk | {} | {} | | |\n",
        payload.len(),
        ms(f50),
        ms(f99)
    );
}

/// What finalizing a family costs now that the finalizing which fills an outbox frame also seals it
/// (compresses about 1 MiB of lines): finalizes on an encrypted store with frames, interleaved with the
/// same on an encrypted store whose frames are off. Each round creates a family in both (not timed)
/// and finalizes it (timed). The mean is what frames cost per family; the slowest finalizes are the
/// ones that sealed a frame.
fn finalize_latency() {
    let dir = bench_dir("bench-finalize");
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let spec = FamilySpec {
        interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
    };
    let rounds: usize = std::env::var("PENDATA_BENCH_FINALIZES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1200);
    let stores: Vec<(&str, Store)> = [("frames", None), ("no frames", Some(u64::MAX))]
        .into_iter()
        .map(|(name, target)| {
            let sub = dir.join(name.replace(' ', "-"));
            std::fs::create_dir_all(&sub).unwrap();
            let store = Kind::Encrypted.create(&sub);
            if let Some(t) = target {
                store.set_frame_bytes(t).unwrap();
            }
            (name, store)
        })
        .collect();
    let mut rng = Rng::new(7);
    let mut took = vec![Vec::new(); stores.len()];
    for n in 0..rounds {
        let answers = family(form, &mut rng, &spec);
        for step in 0..stores.len() {
            let which = (step + n) % stores.len();
            let (_, store) = &stores[which];
            let head = store
                .create_record("keluarga", form.version, answers.clone(), "P001", now())
                .unwrap();
            let t = Instant::now();
            store
                .finalize(head.id, head.revision, "P001", Vec::new(), now())
                .unwrap();
            took[which].push(t.elapsed());
        }
    }
    let frames = stores[0].1.frame_count().unwrap();
    println!(
        "## finalizing a family ({rounds} finalizes on each encrypted store, interleaved; {frames} frames sealed)"
    );
    println!("| | mean | p50 | p99 | max |\n|---|---:|---:|---:|---:|");
    let mean = |s: &[Duration]| s.iter().sum::<Duration>() / s.len().max(1) as u32;
    let means: Vec<Duration> = took.iter().map(|s| mean(s)).collect();
    for ((name, _), s) in stores.iter().zip(took.iter_mut()) {
        let m = mean(s);
        println!(
            "| {name} | {} | {} | {} | {} |",
            ms(m),
            ms(percentile(s, 0.5)),
            ms(percentile(s, 0.99)),
            ms(percentile(s, 1.0))
        );
    }
    println!(
        "| ratio of the means (frames / no frames) | {:.2}× | | | |\n",
        means[0].as_secs_f64() / means[1].as_secs_f64()
    );
}

fn fill(store: &Store, families: usize, seed: u64) {
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let spec = FamilySpec {
        interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
    };
    let mut rng = Rng::new(seed);
    let mut batch = Vec::new();
    for n in 0..families {
        batch.push(NewRecord {
            form_id: form.id.clone(),
            form_version: form.version,
            answers: family(form, &mut rng, &spec),
            finalize: n % 10 != 0,
            acknowledged: Vec::new(),
        });
        if batch.len() == 2000 {
            store
                .create_batch(std::mem::take(&mut batch), "P001", now())
                .unwrap();
        }
    }
    if !batch.is_empty() {
        store.create_batch(batch, "P001", now()).unwrap();
    }
}

fn search_and_size(sizes: &[usize]) {
    println!("## search, size and open time");
    println!(
        "| store | families | fill | store size | per family | open | search p50 | search p95 | max |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &n in sizes {
        for kind in [Kind::Plain, Kind::Encrypted] {
            search_of(kind, n);
        }
    }
}

fn search_of(kind: Kind, n: usize) {
    {
        let dir = bench_dir(&format!("bench-search-{n}-{}", kind.name()));
        let store = kind.create(&dir);
        let t = Instant::now();
        fill(&store, n, 9);
        let fill_time = t.elapsed();
        drop(store);
        let bytes = std::fs::metadata(dir.join("pendata.redb")).unwrap().len();
        let t = Instant::now();
        let store = Store::open(&dir, kind.unlock()).unwrap();
        let open = t.elapsed();

        // Queries a petugas types: name prefixes, two words, NIK and KK prefixes, a miss.
        let mut queries: Vec<String> = [
            "bud",
            "siti",
            "siti rah",
            "agus saputra",
            "jl pahlawan",
            "647201",
            "6472011",
            "64080",
            "zzz",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let sample = store.list(None).unwrap();
        for h in sample.iter().step_by((n / 20).max(1)).take(20) {
            queries.push(h.summary.no_kk.chars().take(10).collect());
            queries.push(
                h.summary
                    .head_name
                    .split(' ')
                    .next()
                    .unwrap_or("a")
                    .chars()
                    .take(4)
                    .collect(),
            );
        }
        drop(sample);
        let mut times = Vec::new();
        for _ in 0..3 {
            for q in &queries {
                let t = Instant::now();
                let found = store.search(q, 50).unwrap();
                times.push(t.elapsed());
                std::hint::black_box(found);
            }
        }
        let max = *times.iter().max().unwrap();
        let (p50, p95) = (percentile(&mut times, 0.5), percentile(&mut times, 0.95));
        println!(
            "| {} | {n} | {:.1} s | {:.1} MB | {:.1} kB | {} | {} | {} | {} |",
            kind.name(),
            fill_time.as_secs_f64(),
            bytes as f64 / 1e6,
            bytes as f64 / n as f64 / 1e3,
            ms(open),
            ms(p50),
            ms(p95),
            ms(max)
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The PIN's key derivation with the shipped parameters (one try), and the sign-in: reading who can
/// sign in (all the sign-in screen needs) and unlocking (a derivation and the open).
fn kdf_and_sign_in() {
    let k = Kdf::SHIPPED;
    println!(
        "## PIN key derivation: argon2id m = {} MiB, t = {}, p = {}",
        k.m_kib / 1024,
        k.t,
        k.p
    );
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        std::hint::black_box(k.derive("246810", b"0123456789abcdef").unwrap());
        times.push(t.elapsed());
    }
    println!(
        "one try: p50 {}, max {}",
        ms(percentile(&mut times, 0.5)),
        ms(*times.iter().max().unwrap())
    );
    let dir = bench_dir("bench-signin");
    drop(Kind::Encrypted.create(&dir));
    let t = Instant::now();
    let who = pendata::store::holders(&dir).unwrap();
    println!(
        "who can sign in (the key slots, no PIN): {} for {:?}",
        ms(t.elapsed()),
        who
    );
    println!();
}

/// The store's cipher alone (AES-256-XTS, 4 KiB units): deciphering and enciphering 64 MiB in
/// page-sized reads and writes, as redb hands them to the backend.
fn cipher_throughput() {
    let cipher = pendata::store::BlockCipher::new(&zeroize::Zeroizing::new([7u8; 64]));
    let mut buf = vec![0x5Au8; 64 << 20];
    let mut best = [f64::MAX; 2];
    for _ in 0..5 {
        for (i, encrypt) in [true, false].into_iter().enumerate() {
            let t = Instant::now();
            for (n, page) in buf.chunks_mut(16 * 1024).enumerate() {
                let at = n as u64 * 16 * 1024;
                if encrypt {
                    cipher.encrypt(at, page);
                } else {
                    cipher.decrypt(at, page);
                }
            }
            best[i] = best[i].min(t.elapsed().as_secs_f64());
        }
    }
    std::hint::black_box(&buf);
    println!(
        "## cipher alone (AES-256-XTS, 16 KiB pages, best of 5 over 64 MiB): encrypt {:.0} MB/s, decrypt {:.0} MB/s\n",
        64.0 * 1.048_576 / best[0],
        64.0 * 1.048_576 / best[1]
    );
}

fn main() {
    cipher_throughput();
    // `PENDATA_BENCH_ONLY=save` runs only the durable save and finalize (after the cipher's figure), `=cipher` only that.
    let only_save = std::env::var("PENDATA_BENCH_ONLY").is_ok_and(|v| v == "save");
    if std::env::var("PENDATA_BENCH_ONLY").is_ok_and(|v| v == "cipher") {
        return;
    }
    if !only_save {
        kdf_and_sign_in();
    }
    save_latency();
    finalize_latency();
    if only_save {
        return;
    }
    let mut sizes = vec![10_000, 100_000];
    if std::env::var_os("PENDATA_BENCH_MILLION").is_some() {
        sizes.push(1_000_000);
    }
    search_and_size(&sizes);
}
