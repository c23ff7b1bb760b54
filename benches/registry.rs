//! Registry import benchmark: N families (1,000 per bundle, 10 bundles per tablet) made by synthetic
//! tablets as real signed and encrypted bundles, then imported into a fresh registry — decrypt, verify,
//! validate every family against the form, merge, index NIK/KK, detect conflicts — in a child process, so
//! its peak resident memory is the import's own. Sizes run side by side in one run: the cost per family
//! shows whether the import stays linear.
//!
//! Run: `cargo bench --profile office --bench registry` for the office's build exactly as the registry
//! ships (opt-level 3, whole-program LTO; plain `cargo bench` measures the tablets' opt-level "s" with
//! the bench profile's quicker thin LTO), 100,000 and 1,000,000 families;
//! `PENDATA_BENCH_FAMILIES=20000,100000` for a quicker run, `PENDATA_BENCH_SPLIT=1` to time preparing and
//! merging apart on one thread. Bundles are made once per size and kept under target/ for the next run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "common/mod.rs"]
mod common;
use common::{cpu_secs, peak_rss_mb, thread_cpu_secs};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::{DateTime, Duration};
use pendata::app::demo::{self, FamilySpec, Rng};
use pendata::bundle::hex;
use pendata::form::catalog::Catalog;
use pendata::form::evaluate;
use pendata::model::record::Action;
use pendata::registry::synth::SynthTablet;
use pendata::registry::{self, FileOutcome, Registry};
use uuid::Uuid;

const PER_BUNDLE: usize = 1000;
const BUNDLES_PER_TABLET: usize = 10;

fn clock() -> DateTime<chrono::FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-02T08:00:00+08:00").unwrap()
}

/// Makes the bundles for `families` families under `dir` (once; a marker file says they are complete).
fn make_bundles(dir: &Path, keys_dir: &Path, families: usize) {
    let done = dir.join("COMPLETE");
    if done.exists() {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let recipients = vec![registry::load(keys_dir).unwrap().identity.to_public()];
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let bundles = families.div_ceil(PER_BUNDLE);
    let tablets = bundles.div_ceil(BUNDLES_PER_TABLET);
    let t0 = Instant::now();
    // Two threads make tablets side by side.
    std::thread::scope(|s| {
        for half in 0..2usize {
            let recipients = &recipients;
            s.spawn(move || {
                for tn in (half..tablets).step_by(2) {
                    let mut t = SynthTablet::new(tn as u64 + 1, clock());
                    let mut rng = Rng::new(1000 + tn as u64);
                    for b in 0..BUNDLES_PER_TABLET {
                        let first = (tn * BUNDLES_PER_TABLET + b) * PER_BUNDLE;
                        if first >= families {
                            break;
                        }
                        let from = t.seq + 1;
                        for f in first..(first + PER_BUNDLE).min(families) {
                            // Interviewed up to three weeks before it is finalized on the tablet.
                            let day = (t.clock + Duration::minutes(3)).date_naive();
                            let spec = FamilySpec {
                                interview: day - Duration::days((f % 21) as i64),
                            };
                            let answers = demo::family(form, &mut rng, &spec);
                            let ack = evaluate(form, &answers, day)
                                .warnings()
                                .map(|w| format!("{} {}", w.path, w.code))
                                .collect();
                            let id = Uuid::from_u128(
                                0x0193_2222_0000_7000_8000_0000_0000_0000 | f as u128,
                            );
                            t.revise(id, 1, Action::Finalized, answers, ack);
                        }
                        let to = t.seq;
                        let name = dir.join(t.file_name(from, to));
                        assert!(!name.exists(), "two bundles named {}", name.display());
                        let bytes = t.bundle(recipients).unwrap();
                        std::fs::write(name, bytes).unwrap();
                    }
                    // The tablet's key, for enrolment before the import (provisioning).
                    std::fs::write(
                        dir.join(format!("{}.device", t.id)),
                        format!("{}\n{}\n", t.name, hex(t.key.verifying_key().as_bytes())),
                    )
                    .unwrap();
                }
            });
        }
    });
    std::fs::write(&done, "").unwrap();
    eprintln!(
        "made {bundles} bundles of {families} families from {tablets} tablets in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

/// The child: enrol the tablets, import every bundle, print seconds and peak memory.
fn child(reg_dir: &Path, bundles: &Path) {
    let reg = Registry::open(reg_dir).unwrap();
    let now = clock() + Duration::days(30);
    let mut files: Vec<PathBuf> = Vec::new();
    for e in std::fs::read_dir(bundles).unwrap() {
        let p = e.unwrap().path();
        match p.extension().and_then(|x| x.to_str()) {
            Some("device") => {
                let id: Uuid = p.file_stem().unwrap().to_str().unwrap().parse().unwrap();
                let text = std::fs::read_to_string(&p).unwrap();
                let mut l = text.lines();
                let (name, key) = (l.next().unwrap(), l.next().unwrap());
                reg.enrol(id, name, key, now).unwrap();
            }
            Some("age") => files.push(p),
            _ => {}
        }
    }
    files.sort();
    if std::env::var_os("PENDATA_BENCH_SPLIT").is_some() {
        // Sequential, to see where the time goes: reading/validating vs merging.
        // Wall and CPU time of this thread for each part (CPU time barely moves on a busy machine).
        let (mut prep, mut commit, mut read) = ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0));
        let timed = |acc: &mut (f64, f64), t: Instant, c: f64| {
            acc.0 += t.elapsed().as_secs_f64();
            acc.1 += thread_cpu_secs() - c;
        };
        for f in &files {
            let (t, c) = (Instant::now(), thread_cpu_secs());
            // The file into the page cache (the import streams it, twice: manifest, then all).
            let _ = std::fs::read(f).unwrap();
            timed(&mut read, t, c);
            let (t, c) = (Instant::now(), thread_cpu_secs());
            let p = reg.prepare_file(f).unwrap();
            timed(&mut prep, t, c);
            let (t, c) = (Instant::now(), thread_cpu_secs());
            reg.commit(p, now).unwrap();
            timed(&mut commit, t, c);
        }
        let per = |x: f64| x / files.len() as f64 / PER_BUNDLE as f64 * 1e6;
        eprintln!(
            "sequential, per family (wall / CPU): read {:.1} / {:.1} µs, prepare {:.1} / {:.1} µs, commit {:.1} / {:.1} µs",
            per(read.0),
            per(read.1),
            per(prep.0),
            per(prep.1),
            per(commit.0),
            per(commit.1)
        );
        println!("0 0 0 0 0");
        return;
    }
    let (t, cpu) = (Instant::now(), cpu_secs().0);
    let outcomes = reg.import_files(&files, now, |_, _, _| {}).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_secs().0 - cpu;
    let mut accepted = 0;
    for o in &outcomes {
        match o {
            FileOutcome::Merged(b) => accepted += b.merged.accepted,
            other => panic!("{other:?}"),
        }
    }
    if let Some(q) = reg.quarantine(false).unwrap().first() {
        eprintln!("first quarantined: {:?}", q.reasons);
    }
    let size = std::fs::metadata(reg_dir.join("registry.redb"))
        .unwrap()
        .len();
    println!("{secs} {} {accepted} {size} {cpu}", peak_rss_mb());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "--child" {
        child(Path::new(&args[2]), Path::new(&args[3]));
        return;
    }
    let sizes: Vec<usize> = std::env::var("PENDATA_BENCH_FAMILIES")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-registry");
    std::fs::create_dir_all(&root).unwrap();
    let keys = root.join("keys");
    if !keys.join("registry.pub").exists() {
        let _ = std::fs::remove_dir_all(&keys);
        registry::init(&keys, "Bench", clock()).unwrap();
    }
    for &n in &sizes {
        make_bundles(&root.join(format!("bundles-{n}")), &keys, n);
    }
    println!(
        "| families | bundles | bundle bytes | import | per family | families/s | CPU per family | peak RSS | store size |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut first_per_family = None;
    for &n in &sizes {
        let bundles = root.join(format!("bundles-{n}"));
        let bundle_bytes: u64 = std::fs::read_dir(&bundles)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        let reg = root.join(format!("registry-{n}"));
        let _ = std::fs::remove_dir_all(&reg);
        std::fs::create_dir_all(&reg).unwrap();
        for f in [
            "registry.pub",
            "keys/registry-age.key",
            "keys/registry-signing.pem",
        ] {
            std::fs::create_dir_all(reg.join(f).parent().unwrap()).unwrap();
            std::fs::copy(keys.join(f), reg.join(f)).unwrap();
        }
        let out = Command::new(std::env::current_exe().unwrap())
            .arg("--child")
            .arg(&reg)
            .arg(&bundles)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if std::env::var_os("PENDATA_BENCH_SPLIT").is_some() {
            // The child measured the parts and said so on stderr; there is no whole import to report.
            eprint!("{n} families: {}", String::from_utf8_lossy(&out.stderr));
            continue;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<f64> = text
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        let (secs, rss, accepted, size, cpu) = (f[0], f[1], f[2], f[3], f[4]);
        assert_eq!(accepted as usize, n, "every family accepted");
        let per = secs / n as f64 * 1e6;
        let ratio = first_per_family.get_or_insert(per);
        println!(
            "| {n} | {} | {:.0} MB | {secs:.1} s | {per:.1} µs ({:.2}×) | {:.0} | {:.1} µs | {rss:.0} MB | {:.0} MB |",
            n.div_ceil(PER_BUNDLE),
            bundle_bytes as f64 / 1e6,
            per / *ratio,
            n as f64 / secs,
            cpu / n as f64 * 1e6,
            size / 1e6
        );
        let _ = std::fs::remove_dir_all(&reg);
    }
}
