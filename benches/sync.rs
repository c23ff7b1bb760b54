//! Export benchmark, side by side in one run: Pendata's export of N final families (read from the store,
//! compressed, signed, encrypted, written safely and read back, records marked) against the standard
//! pipeline `tar | zstd -3 | age -r RECIPIENT` over the same JSON lines already sitting in a file. Also the
//! peak resident memory of this process during the export (the store is filled by a child process, so the
//! high-water mark is the export's).
//!
//! Beside it, the same export from a plaintext store holding the same data (the encrypted store's
//! database decrypted into a file: a store as builds before encryption made them).
//!
//! Run: `cargo bench --bench sync` (N = 100,000; `PENDATA_BENCH_FAMILIES=20000` for a quicker run). Needs
//! `age`, `zstd` and `tar` on the PATH for the comparison.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a benchmark: any failure ends it"
)]

#[path = "common/mod.rs"]
mod common;
use common::{cpu_secs, peak_rss_mb};

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use pendata::app::Device;
use pendata::app::sync::{ExportOutcome, Selection, Stage};

/// Copies a data directory (files only, one level of folders).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[expect(
    clippy::too_many_lines,
    reason = "the benchmark reads as one script: fill, copy, export, pipeline, table"
)]
fn main() {
    let families: usize = std::env::var("PENDATA_BENCH_FAMILIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-sync-{families}"));
    let tab = root.join("tablet");
    let reg = root.join("registry");
    let filled = root.join("filled");
    // `PENDATA_BENCH_KEEP=1` reuses the tablet a previous run filled with as many families (the rounds
    // export from copies of it, so it stays unexported).
    let keep = std::env::var_os("PENDATA_BENCH_KEEP").is_some_and(|v| v == "1");
    if !(keep && filled.exists()) {
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let bin = env!("CARGO_BIN_EXE_pendata");
        let t = Instant::now();
        run(Command::new(bin)
            .args(["registry", "init", "--demo"])
            .arg(&reg));
        run(Command::new(bin)
            .arg("--data-dir")
            .arg(&tab)
            .args(["init", "--demo", "--device-name", "Bench", "--registry-key"])
            .arg(reg.join("registry.pub")));
        run(Command::new(bin).arg("--data-dir").arg(&tab).args([
            "demo",
            "--drafts",
            "0",
            "--families",
            &families.to_string(),
        ]));
        std::fs::write(&filled, b"").unwrap();
        eprintln!(
            "filled {families} families in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let rss_before = peak_rss_mb();

    // The same JSON lines the bundle carries, in a file, for the standard pipeline. (The demo petugas's
    // PIN: `pendata demo` gave it none.)
    let t = Instant::now();
    let device = Device::open(&tab, pendata::store::Unlock::Secret("123456")).unwrap();
    // (A tablet filled by an older build is migrated here, once.)
    eprintln!("opened the tablet in {:.1} s", t.elapsed().as_secs_f64());
    // The same data in a plaintext store, for the side-by-side export.
    let tab_plain = root.join("tablet-plain");
    std::fs::create_dir_all(&tab_plain).unwrap();
    device
        .store
        .write_plaintext_copy(&tab_plain.join("pendata.redb"))
        .unwrap();
    // What reading alone costs: passes over the store's revisions, doing nothing with them, from the
    // encrypted store and the plaintext copy alternately.
    {
        let plain_store =
            pendata::store::Store::open(&tab_plain, pendata::store::Unlock::Setup).unwrap();
        for _ in 0..2 {
            for (name, store) in [("encrypted", &device.store), ("plaintext", &plain_store)] {
                let t = Instant::now();
                let bytes0 = pendata::store::READ_BYTES.load(std::sync::atomic::Ordering::Relaxed);
                let calls0 = pendata::store::READ_CALLS.load(std::sync::atomic::Ordering::Relaxed);
                let cpu0 = cpu_secs().0;
                let mut n = 0u64;
                store
                    .export_revisions::<pendata::store::StoreError>(1, u64::MAX, |raw| {
                        n += raw.len() as u64;
                        Ok(())
                    })
                    .unwrap();
                let wall = t.elapsed().as_secs_f64();
                let cpu = cpu_secs().0 - cpu0;
                let bytes =
                    pendata::store::READ_BYTES.load(std::sync::atomic::Ordering::Relaxed) - bytes0;
                let calls =
                    pendata::store::READ_CALLS.load(std::sync::atomic::Ordering::Relaxed) - calls0;
                eprintln!(
                    "reading the revisions from the {name} store: {:.0} ms, CPU {:.0} ms ({} MB of lines; \
                     the cipher backend read {} MB in {calls} calls)",
                    wall * 1000.0,
                    cpu * 1000.0,
                    n / 1_048_576,
                    bytes / 1_048_576
                );
            }
        }
    }
    let lines_path = root.join("revisions.jsonl");
    let mut lines = std::io::BufWriter::new(std::fs::File::create(&lines_path).unwrap());
    let mut plain = 0u64;
    device
        .store
        .export_revisions::<pendata::store::StoreError>(1, u64::MAX, |raw| {
            use std::io::Write;
            lines.write_all(raw).unwrap();
            lines.write_all(b"\n").unwrap();
            plain += raw.len() as u64 + 1;
            Ok(())
        })
        .unwrap();
    drop(lines);
    let mb = plain as f64 / 1_048_576.0;
    let recipient = pendata::bundle::keys::RegistryPub::parse(
        &std::fs::read(reg.join("registry.pub")).unwrap(),
    )
    .unwrap()
    .age_recipients[0]
        .clone();

    let have_tools = ["age", "zstd", "tar"]
        .iter()
        .all(|t| Command::new(t).arg("--version").output().is_ok());

    // Alternate the two (3 rounds, `PENDATA_BENCH_ROUNDS`), so both see the same machine weather; the
    // medians of the rounds are reported. Ours
    // marks records, so each round exports from its own copy of the filled tablet: every round is a
    // first export.
    drop(device);
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut ours_cpu = Vec::new();
    let mut plain = Vec::new();
    let mut plain_cpu = Vec::new();
    let mut theirs_cpu = Vec::new();
    let mut file_size = 0;
    let mut theirs_size = 0;
    let rounds: usize = std::env::var("PENDATA_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for round in 0..rounds {
        let stick = root.join(format!("stick{round}"));
        let _ = std::fs::remove_dir_all(&stick);
        std::fs::create_dir_all(&stick).unwrap();
        let copy = root.join(format!("tablet{round}"));
        copy_dir(&tab, &copy);
        let device = Device::open(&copy, pendata::store::Unlock::Secret("123456")).unwrap();
        let read0 = pendata::store::READ_BYTES.load(std::sync::atomic::Ordering::Relaxed);
        let cpu = cpu_secs().0;
        let t = Instant::now();
        let mut stages: Vec<(Stage, f64)> = Vec::new();
        let out = device
            .export(&stick, Selection::All, "BENCH", &mut |stage, _| {
                if stages.last().is_none_or(|(s, _)| *s != stage) {
                    stages.push((stage, t.elapsed().as_secs_f64()));
                }
            })
            .unwrap();
        let total = t.elapsed().as_secs_f64();
        ours.push(total);
        ours_cpu.push(cpu_secs().0 - cpu);
        let mut split = String::new();
        for (i, (stage, at)) in stages.iter().enumerate() {
            let end = stages.get(i + 1).map_or(total, |(_, t)| *t);
            split.push_str(&format!(" {stage:?} {:.0} ms", (end - at) * 1000.0));
        }
        let read = pendata::store::READ_BYTES.load(std::sync::atomic::Ordering::Relaxed) - read0;
        eprintln!(
            "round {round}: ours {total:.2} s:{split}; the cipher backend read {} MB",
            read / 1_048_576
        );
        if let ExportOutcome::Written(e) = out {
            file_size = e.size;
        }
        if have_tools {
            let cpu = cpu_secs().1;
            let t = Instant::now();
            let script = format!(
                "tar -C '{}' -cf - revisions.jsonl | zstd -3 -q -c | age -r {recipient} > '{}/std.tar.zst.age' && sync -f '{}/std.tar.zst.age'",
                root.display(),
                stick.display(),
                stick.display()
            );
            run(Command::new("sh").arg("-c").arg(&script));
            theirs.push(t.elapsed().as_secs_f64());
            theirs_size = std::fs::metadata(stick.join("std.tar.zst.age"))
                .unwrap()
                .len();
            theirs_cpu.push(cpu_secs().1 - cpu);
            eprintln!(
                "round {round}: theirs {:.2} s, CPU {:.2} s; ours CPU {:.2} s",
                theirs.last().unwrap(),
                theirs_cpu.last().unwrap(),
                ours_cpu.last().unwrap()
            );
        }
        drop(device);
        let _ = std::fs::remove_dir_all(&copy);
        // The same export from the plaintext store.
        let stick = root.join(format!("stick-plain{round}"));
        let _ = std::fs::remove_dir_all(&stick);
        std::fs::create_dir_all(&stick).unwrap();
        copy_dir(&tab_plain, &copy);
        let device = Device::open(&copy, pendata::store::Unlock::Setup).unwrap();
        let cpu = cpu_secs().0;
        let t = Instant::now();
        device
            .export(&stick, Selection::All, "BENCH", &mut |_, _| {})
            .unwrap();
        plain.push(t.elapsed().as_secs_f64());
        plain_cpu.push(cpu_secs().0 - cpu);
        eprintln!(
            "round {round}: plaintext store {:.2} s, CPU {:.2} s",
            plain.last().unwrap(),
            plain_cpu.last().unwrap()
        );
        drop(device);
        let _ = std::fs::remove_dir_all(&copy);
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let peak = peak_rss_mb();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "export of {families} families ({mb:.0} MB of JSON lines, bundle {:.1} MB), {rounds} alternating rounds, medians",
        file_size as f64 / 1_048_576.0
    );
    println!(
        "  pendata export:        {:.2} s  ({:.0} MB/s of JSON lines; rounds {})",
        median(&ours),
        mb / median(&ours),
        list(&ours)
    );
    println!(
        "  pendata export, plaintext store: {:.2} s (rounds {}); encrypted / plaintext {:.2}x",
        median(&plain),
        list(&plain),
        median(&ours) / median(&plain)
    );
    println!(
        "  CPU time, median: encrypted store {:.2} s, plaintext store {:.2} s ({:.2}x)",
        median(&ours_cpu),
        median(&plain_cpu),
        median(&ours_cpu) / median(&plain_cpu)
    );
    if have_tools {
        println!(
            "  tar | zstd -3 | age:   {:.2} s  ({:.0} MB/s; rounds {}; file {:.1} MB)",
            median(&theirs),
            mb / median(&theirs),
            list(&theirs),
            theirs_size as f64 / 1_048_576.0
        );
        println!(
            "  ratio (ours / theirs throughput): {:.2}x",
            median(&theirs) / median(&ours)
        );
        println!(
            "  CPU time, median: ours {:.2} s, theirs {:.2} s (ratio {:.2}x)",
            median(&ours_cpu),
            median(&theirs_cpu),
            median(&theirs_cpu) / median(&ours_cpu)
        );
    } else {
        println!("  (age, zstd or tar missing: no comparison)");
    }
    println!("  peak resident memory: {peak:.0} MB (before the export: {rss_before:.0} MB)");
    println!("  load average at the end: {}", load.trim());
}
