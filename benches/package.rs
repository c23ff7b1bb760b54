//! Work packages and visits (verivali), on a registry of 1,000,000 families from 100 synthetic tablets
//! (10,000 each, spread over Kaltim's desa by the demo generator: about 960 a desa):
//!
//! 1. **Writing a kabupaten's packages**: one package for each of 100 desa of a kabupaten, each for
//!    another device (find the desa's families, read their revisions, sign, compress, encrypt, write
//!    durably, record), one `Registry::write_package` call each (A1) and all in one
//!    `Registry::write_packages` call (A2), against `tar cf - | zstd -3 | age -r` over the same
//!    families' JSON (one file a family, written before the clock starts) (B), in turn, with CPU times.
//! 2. **Applying a package of a desa on a tablet** (`Device::apply_package`, what `pendata package
//!    apply` runs), each round on a new tablet.
//! 3. **Merging visits against merging new families**, per family: 10,000 new families from a new
//!    tablet (A) against 10,000 visits (status "found") of packaged families from another new tablet
//!    (B), each as 10 bundles of 1,000 imported with `Registry::import_files`, alternating A B A B;
//!    every round brings other families, so the registry need not be copied between rounds.
//!
//! Run: `cargo bench --profile bench-office --bench package` (the office's opt-level 3; needs `tar`,
//! `zstd` and `age` on the PATH). The registry is made once (bundles, then an import: a few minutes)
//! and kept under the target directory's `tmp/bench-package/`; each run works on a copy of it.
//! `PENDATA_BENCH_FAMILIES=100000` for a smaller registry (packages of about 100 families),
//! `PENDATA_BENCH_ROUNDS` (default 3) for more rounds, `PENDATA_BENCH_PARTS=write,merge` to leave
//! out a part (the packages are always written: the merge visits them).

#![expect(clippy::unwrap_used, clippy::indexing_slicing, reason = "benchmark")]

#[path = "common/mod.rs"]
mod common;
use common::cpu_secs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::Instant;

use age::secrecy::ExposeSecret;
use chrono::{DateTime, Duration, FixedOffset};
use pendata::app::Device;
use pendata::app::demo::{self, FamilySpec, Rng};
use pendata::bundle::hex;
use pendata::bundle::package::{Package, PackagedFamily};
use pendata::form::catalog::Catalog;
use pendata::form::{Form, evaluate};
use pendata::model::household as hh;
use pendata::model::record::{Action, Answers, VisitBase};
use pendata::registry::package::PackageRequest;
use pendata::registry::synth::SynthTablet;
use pendata::registry::{self, FileOutcome, Registry};
use serde_json::json;
use uuid::Uuid;

const PER_BUNDLE: usize = 1000;
const PER_TABLET: usize = 10_000;
/// Packages written per round: one desa, one device each.
const PACKAGES: usize = 100;
/// The kabupaten (Kutai Barat: 110 desa in the form's list).
const KABUPATEN: &str = "64.03.";
/// Families merged per round of the merge comparison.
const MERGE_FAMILIES: usize = 10_000;
/// The fixture's generation: raised when the store the import makes changes (format 5, entries that
/// keep their revision's hash).
const FIXTURE: u32 = 2;

fn clock() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-02T08:00:00+08:00").unwrap()
}

fn now() -> DateTime<FixedOffset> {
    clock() + Duration::days(30)
}

fn form() -> &'static Form {
    Catalog::shared().unwrap().latest("keluarga").unwrap()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// A family's revision as a tablet finalizes it: its warnings acknowledged.
fn finalize(t: &mut SynthTablet, record: Uuid, number: u32, answers: Answers) {
    let day = (t.clock + Duration::minutes(3)).date_naive();
    let ack = evaluate(form(), &answers, day)
        .warnings()
        .map(|w| format!("{} {}", w.path, w.code))
        .collect();
    t.revise(record, number, Action::Finalized, answers, ack);
}

/// Seals what `t` made into bundles of `PER_BUNDLE` under `dir` as it goes: `make(i)` gives family
/// `i`'s record, answers and visit base.
fn bundles(
    t: &mut SynthTablet,
    dir: &Path,
    n: usize,
    recipients: &[age::x25519::Recipient],
    mut make: impl FnMut(usize) -> (Uuid, Answers, Option<VisitBase>),
) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for first in (0..n).step_by(PER_BUNDLE) {
        let from = t.seq + 1;
        for i in first..(first + PER_BUNDLE).min(n) {
            let (id, answers, base) = make(i);
            let number = if base.is_some() { 2 } else { 1 };
            t.visit = base;
            finalize(t, id, number, answers);
        }
        let name = dir.join(t.file_name(from, t.seq));
        std::fs::write(&name, t.bundle(recipients).unwrap()).unwrap();
        files.push(name);
    }
    t.visit = None;
    files
}

/// The registry of `n` families (made once): keys, `registry.redb`, and each tablet's age identity
/// (`identities/N`, the key its packages are encrypted to).
fn fixture(root: &Path, n: usize) -> PathBuf {
    // Named for what the fixture holds: a registry made by an older program (another format, family
    // entries without their revision's hash) is not reused.
    let dir = root.join(format!("registry-{FIXTURE}-{n}"));
    if dir.join("COMPLETE").exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    registry::init(&dir, "Bench", clock()).unwrap();
    std::fs::create_dir_all(dir.join("identities")).unwrap();
    let recipients = vec![registry::load(&dir).unwrap().identity.to_public()];
    let tablets = n.div_ceil(PER_TABLET);
    let staging = root.join(format!("bundles-{n}"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).unwrap();
    let t0 = Instant::now();
    let made: Vec<Vec<PathBuf>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2usize)
            .map(|half| {
                let (recipients, staging, dir) = (&recipients, &staging, &dir);
                s.spawn(move || {
                    let mut files = Vec::new();
                    for tn in (half..tablets).step_by(2) {
                        let mut t = SynthTablet::new(tn as u64 + 1, clock());
                        let identity = age::x25519::Identity::generate();
                        t.age_recipient = Some(identity.to_public().to_string());
                        std::fs::write(
                            dir.join("identities").join(t.id.simple().to_string()),
                            identity.to_string().expose_secret(),
                        )
                        .unwrap();
                        let mut rng = Rng::new(1000 + tn as u64);
                        let count = PER_TABLET.min(n - tn * PER_TABLET);
                        files.extend(bundles(&mut t, staging, count, recipients, |i| {
                            let f = tn * PER_TABLET + i;
                            let spec = FamilySpec {
                                interview: clock().date_naive() - Duration::days((f % 21) as i64),
                            };
                            let id = Uuid::from_u128(
                                0x0193_2222_0000_7000_8000_0000_0000_0000 | f as u128,
                            );
                            (id, demo::family(form(), &mut rng, &spec), None)
                        }));
                        std::fs::write(
                            staging.join(format!("{}.device", t.id)),
                            format!("{}\n{}\n", t.name, hex(t.key.verifying_key().as_bytes())),
                        )
                        .unwrap();
                    }
                    files
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut files: Vec<PathBuf> = made.into_iter().flatten().collect();
    files.sort();
    eprintln!(
        "made {} bundles of {n} families in {:.1} s",
        files.len(),
        t0.elapsed().as_secs_f64()
    );
    let t0 = Instant::now();
    let reg = Registry::open(&dir).unwrap();
    for e in std::fs::read_dir(&staging).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) == Some("device") {
            let id = Uuid::from_str(p.file_stem().unwrap().to_str().unwrap()).unwrap();
            let text = std::fs::read_to_string(&p).unwrap();
            let mut l = text.lines();
            reg.enrol(id, l.next().unwrap(), l.next().unwrap(), clock())
                .unwrap();
        }
    }
    let accepted: u64 = reg
        .import_files(&files, clock() + Duration::days(1), |_, _, _| {})
        .unwrap()
        .iter()
        .map(|o| match o {
            FileOutcome::Merged(b) => b.merged.accepted,
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(accepted as usize, n, "every family accepted");
    eprintln!("imported them in {:.1} s", t0.elapsed().as_secs_f64());
    drop(reg);
    std::fs::remove_dir_all(&staging).unwrap();
    std::fs::write(dir.join("COMPLETE"), "").unwrap();
    dir
}

/// A fresh copy of the fixture to work on (packages and merges change it).
fn work_copy(fixture: &Path, work: &Path) {
    let _ = std::fs::remove_dir_all(work);
    let out = Command::new("cp")
        .arg("-a")
        .arg(fixture)
        .arg(work)
        .status()
        .unwrap();
    assert!(out.success());
}

/// The device of package `i` and the age identity it decrypts with.
fn device(dir: &Path, i: usize) -> (Uuid, age::x25519::Identity) {
    let id = SynthTablet::new(i as u64 + 1, clock()).id;
    let text =
        std::fs::read_to_string(dir.join("identities").join(id.simple().to_string())).unwrap();
    (id, age::x25519::Identity::from_str(text.trim()).unwrap())
}

/// The first `PACKAGES` desa of the kabupaten, in code order.
fn desa_of_kabupaten() -> Vec<String> {
    let f = form();
    let mut desa: Vec<String> = f
        .field(hh::DESA)
        .and_then(|d| f.choices_of(d))
        .map(|l| l.choices.iter().map(|c| c.value.clone()).collect())
        .unwrap_or_default();
    desa.retain(|d| d.starts_with(KABUPATEN));
    desa.sort();
    desa.truncate(PACKAGES);
    assert_eq!(desa.len(), PACKAGES, "the kabupaten has {PACKAGES} desa");
    desa
}

/// The request for package `i` (desa `d`, device `i`).
fn request<'a>(device: &'a str, one: &'a [String], out: &'a Path) -> PackageRequest<'a> {
    PackageRequest {
        device,
        desa: one,
        to: out,
        due: None,
        note: None,
        // Every round writes them again: the previous round's packages are still open.
        reassign: true,
    }
}

/// Round A: the kabupaten's packages written into `out`, one `write_package` call each (as the
/// command writes one) or, `batch`, all in one `write_packages` call; wall and CPU seconds, bytes
/// written, families.
fn write_packages(
    reg: &Registry,
    desa: &[String],
    out: &Path,
    batch: bool,
) -> (f64, f64, u64, usize) {
    std::fs::create_dir_all(out).unwrap();
    let devices: Vec<String> = (0..desa.len())
        .map(|i| {
            SynthTablet::new(i as u64 + 1, clock())
                .id
                .simple()
                .to_string()
        })
        .collect();
    let ones: Vec<[String; 1]> = desa.iter().map(|d| [d.clone()]).collect();
    let reqs: Vec<PackageRequest<'_>> = devices
        .iter()
        .zip(&ones)
        .map(|(device, one)| request(device, one, out))
        .collect();
    let cpu0 = cpu_secs().0;
    let t0 = Instant::now();
    let written = if batch {
        reg.write_packages(&reqs, now()).unwrap()
    } else {
        reqs.iter()
            .map(|r| reg.write_package(r, now()).unwrap())
            .collect()
    };
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs().0 - cpu0;
    let (mut bytes, mut families) = (0, 0);
    for w in &written {
        bytes += std::fs::metadata(&w.path).unwrap().len();
        families += w.entry.families.len();
    }
    (secs, cpu, bytes, families)
}

/// The packages written into `packages`, decrypted, in device order.
fn open_packages(dir: &Path, packages: &Path) -> Vec<Package> {
    let key = registry::load(dir).unwrap().signing.verifying_key();
    let mut files: Vec<PathBuf> = std::fs::read_dir(packages)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut by_device = BTreeMap::new();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        // Which device: try each identity (the file name shows only the first digits of its id).
        let p = (0..PACKAGES)
            .find_map(|i| {
                let (_, identity) = device(dir, i);
                Package::open(&bytes, &identity, &key).ok().map(|p| (i, p))
            })
            .unwrap();
        by_device.insert(p.0, p.1);
    }
    by_device.into_values().collect()
}

/// Each package's families as JSON files (one a family) under `plain/i/`.
fn plain_files(packages: &[Package], plain: &Path) {
    let _ = std::fs::remove_dir_all(plain);
    for (i, p) in packages.iter().enumerate() {
        let d = plain.join(i.to_string());
        std::fs::create_dir_all(&d).unwrap();
        for f in &p.families {
            std::fs::write(
                d.join(format!("{}.json", f.family)),
                serde_json::to_vec(f).unwrap(),
            )
            .unwrap();
        }
    }
}

/// Round B: `tar cf - | zstd -3 | age -r` over each package's files; wall and CPU seconds (the
/// pipelines' processes), bytes written.
fn tar_zstd_age(dir: &Path, plain: &Path, out: &Path) -> (f64, f64, u64) {
    std::fs::create_dir_all(out).unwrap();
    let recipients: Vec<String> = (0..PACKAGES)
        .map(|i| device(dir, i).1.to_public().to_string())
        .collect();
    let cpu0 = cpu_secs().1;
    let t0 = Instant::now();
    for (i, r) in recipients.iter().enumerate() {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "tar cf - -C {} . | zstd -q -3 | age -r {r} > {}",
                plain.join(i.to_string()).display(),
                out.join(format!("{i}.tar.zst.age")).display()
            ))
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs().1 - cpu0;
    let bytes = (0..PACKAGES)
        .map(|i| {
            std::fs::metadata(out.join(format!("{i}.tar.zst.age")))
                .unwrap()
                .len()
        })
        .sum();
    (secs, cpu, bytes)
}

/// Part 1: per round, the kabupaten's packages one call each (A1), in one call (A2), and `tar |
/// zstd | age` over the same families (B), in turn.
fn part_write(dir: &Path, scratch: &Path, rounds: usize) -> Vec<Package> {
    let reg = Registry::open(dir).unwrap();
    let desa = desa_of_kabupaten();
    println!("\n### Writing the packages of a kabupaten ({PACKAGES} desa, one device each)\n");
    println!(
        "| round | write_package ×{PACKAGES} (A1) | CPU | write_packages, one call (A2) | CPU | families | bytes | tar \\| zstd -3 \\| age ×{PACKAGES} (B) | CPU | bytes | A1 / B | A2 / B |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut a1, mut a2, mut b, mut r1, mut r2) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut packages = Vec::new();
    for r in 0..rounds {
        let out_a = scratch.join(format!("a{r}"));
        let (secs_a1, cpu_a1, _, _) = write_packages(&reg, &desa, &out_a, false);
        if r == 0 {
            // The plain JSON files of these very packages, for B (not timed).
            plain_files(&open_packages(dir, &out_a), &scratch.join("plain"));
        }
        std::fs::remove_dir_all(&out_a).unwrap();
        let (secs_a2, cpu_a2, bytes_a, families) = write_packages(&reg, &desa, &out_a, true);
        if r + 1 == rounds {
            // The last round's packages for the tablet and the visits (not timed).
            packages = open_packages(dir, &out_a);
        }
        std::fs::remove_dir_all(&out_a).unwrap();
        let out_b = scratch.join(format!("b{r}"));
        let (secs_b, cpu_b, bytes_b) = tar_zstd_age(dir, &scratch.join("plain"), &out_b);
        std::fs::remove_dir_all(&out_b).unwrap();
        println!(
            "| {} | {secs_a1:.2} s | {cpu_a1:.2} s | {secs_a2:.2} s | {cpu_a2:.2} s | {families} | {:.1} MB | {secs_b:.2} s | {cpu_b:.2} s | {:.1} MB | {:.2} | {:.2} |",
            r + 1,
            bytes_a as f64 / 1e6,
            bytes_b as f64 / 1e6,
            secs_a1 / secs_b,
            secs_a2 / secs_b,
        );
        a1.push(secs_a1);
        a2.push(secs_a2);
        b.push(secs_b);
        r1.push(secs_a1 / secs_b);
        r2.push(secs_a2 / secs_b);
    }
    println!(
        "\nmedians: A1 {:.2} s, A2 {:.2} s, B {:.2} s, A1 / B {:.2}, A2 / B {:.2} (goal ≤ 2)",
        median(&a1),
        median(&a2),
        median(&b),
        median(&r1),
        median(&r2)
    );
    packages
}

fn part_apply(dir: &Path, scratch: &Path, package: &Package, rounds: usize) {
    println!(
        "\n### Applying a package of {} families on a new tablet\n",
        package.families.len()
    );
    println!("| round | apply_package | CPU |");
    println!("|---:|---:|---:|");
    let keys = registry::load(dir).unwrap();
    let mut secs = Vec::new();
    for r in 0..rounds {
        let tablet = scratch.join(format!("tablet{r}"));
        let _ = std::fs::remove_dir_all(&tablet);
        let (device, _) = Device::init(&tablet, "Tablet bench").unwrap();
        device.add_petugas("P001", "Dewi", "246813").unwrap();
        device
            .set_registry_key(&std::fs::read(dir.join("registry.pub")).unwrap())
            .unwrap();
        let mut p = package.clone();
        p.package_id = Uuid::now_v7();
        p.device = device.store.device().unwrap().id;
        let bytes = p
            .seal(
                &keys.signing,
                &device.store.age_identity().unwrap().to_public(),
            )
            .unwrap();
        let (t0, c0) = (Instant::now(), cpu_secs().0);
        let applied = device.apply_package(&bytes, "P001").unwrap();
        let (s, c) = (t0.elapsed().as_secs_f64(), cpu_secs().0 - c0);
        assert_eq!(applied.families, package.families.len());
        println!("| {} | {s:.3} s | {c:.2} s |", r + 1);
        secs.push(s);
        drop(device);
        std::fs::remove_dir_all(&tablet).unwrap();
    }
    println!("\nmedian {:.3} s (goal < 2 s)", median(&secs));
}

/// A visit (status "found") of a packaged family: its answers as the package gave them.
fn visit(p: &Package, f: &PackagedFamily, day: &str) -> (Uuid, Answers, Option<VisitBase>) {
    let mut a = f.answers.clone();
    a.insert("id_keluarga_daftar".into(), json!(f.family.to_string()));
    a.insert("tanggal_kunjungan".into(), json!(day));
    a.insert("status_kunjungan".into(), json!("1"));
    let base = VisitBase {
        family: f.family,
        revision: f.base.clone(),
        package: p.package_id,
    };
    (f.family, a, Some(base))
}

/// One merge round: a new tablet's bundles made (not timed), enrolled, imported; seconds, CPU, accepted.
fn merge_round(
    reg: &Registry,
    scratch: &Path,
    n: u64,
    make: impl FnMut(usize) -> (Uuid, Answers, Option<VisitBase>),
    count: usize,
) -> (f64, f64, u64) {
    let dir = scratch.join(format!("merge{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut t = SynthTablet::new(n, clock() + Duration::days(3));
    let files = bundles(&mut t, &dir, count, &[reg.keys.identity.to_public()], make);
    reg.enrol(t.id, &t.name, &hex(t.key.verifying_key().as_bytes()), now())
        .unwrap();
    let (t0, c0) = (Instant::now(), cpu_secs().0);
    let outcomes = reg.import_files(&files, now(), |_, _, _| {}).unwrap();
    let (secs, cpu) = (t0.elapsed().as_secs_f64(), cpu_secs().0 - c0);
    std::fs::remove_dir_all(&dir).unwrap();
    let accepted = outcomes
        .iter()
        .map(|o| match o {
            FileOutcome::Merged(b) => b.merged.accepted,
            other => panic!("{other:?}"),
        })
        .sum();
    (secs, cpu, accepted)
}

fn part_merge(dir: &Path, scratch: &Path, packages: &[Package], rounds: usize) {
    let reg = Registry::open(dir).unwrap();
    let per_round =
        MERGE_FAMILIES.min(packages.iter().map(|p| p.families.len()).sum::<usize>() / rounds);
    println!("\n### Merging {per_round} visits against {per_round} new families, per family\n");
    println!("| round | new families (A) | CPU | visits (B) | CPU | B / A |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let visits: Vec<(&Package, &PackagedFamily)> = packages
        .iter()
        .flat_map(|p| p.families.iter().map(move |f| (p, f)))
        .collect();
    let day = (clock() + Duration::days(3)).date_naive().to_string();
    let mut ratios = Vec::new();
    let (mut a_all, mut b_all) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let mut rng = Rng::new(9000 + r as u64);
        let (sa, ca, na) = merge_round(
            &reg,
            scratch,
            500 + 2 * r as u64,
            |i| {
                let spec = FamilySpec {
                    interview: clock().date_naive(),
                };
                let id = Uuid::from_u128(
                    0x0193_3333_0000_7000_8000_0000_0000_0000 | (r * per_round + i) as u128,
                );
                (id, demo::family(form(), &mut rng, &spec), None)
            },
            per_round,
        );
        let slice = &visits[r * per_round..(r + 1) * per_round];
        let (sb, cb, nb) = merge_round(
            &reg,
            scratch,
            501 + 2 * r as u64,
            |i| visit(slice[i].0, slice[i].1, &day),
            per_round,
        );
        assert_eq!(
            (na as usize, nb as usize),
            (per_round, per_round),
            "all accepted"
        );
        let per = |s: f64| s / per_round as f64 * 1e6;
        let ratio = sb / sa;
        println!(
            "| {} | {sa:.2} s ({:.1} µs) | {:.1} µs | {sb:.2} s ({:.1} µs) | {:.1} µs | {ratio:.2} |",
            r + 1,
            per(sa),
            per(ca),
            per(sb),
            per(cb)
        );
        a_all.push(per(sa));
        b_all.push(per(sb));
        ratios.push(ratio);
    }
    println!(
        "\nmedians per family: new {:.1} µs, visits {:.1} µs, visits / new {:.2} (goal 0.8–1.2, at most 1.2)",
        median(&a_all),
        median(&b_all),
        median(&ratios)
    );
}

fn main() {
    let n = env_usize("PENDATA_BENCH_FAMILIES", 1_000_000);
    let rounds = env_usize("PENDATA_BENCH_ROUNDS", 3).max(1);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-package");
    std::fs::create_dir_all(&root).unwrap();
    let fixture = fixture(&root, n);
    let work = root.join("work");
    let t0 = Instant::now();
    work_copy(&fixture, &work);
    eprintln!("copied the registry in {:.1} s", t0.elapsed().as_secs_f64());
    let scratch = root.join("scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    println!("registry of {n} families, {rounds} rounds");
    let parts = std::env::var("PENDATA_BENCH_PARTS").unwrap_or_else(|_| "write,apply,merge".into());
    let packages = part_write(&work, &scratch, rounds);
    if parts.contains("apply") {
        part_apply(&work, &scratch, &packages[0], rounds);
    }
    if parts.contains("merge") {
        part_merge(&work, &scratch, &packages, rounds);
    }
    std::fs::remove_dir_all(&scratch).unwrap();
    std::fs::remove_dir_all(&work).unwrap();
}
