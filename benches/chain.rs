//! The chain kabupaten/kota → provinsi (issue 19), on a province of synthetic tablets grouped per
//! kabupaten/kota (each tablet's families in its kabupaten's desa, so a kabupaten registry keeps them all):
//!
//! 1. **Forwarding**: `Registry::forward(Forward::All)` (what `pendata registry forward DIR --to F --all`
//!    runs) from the first kabupaten registry, every family endorsed — A — against `tar cf - | zstd -3 |
//!    age -r` over the same bytes (the upward bundle's families as JSON files, one a family, and its
//!    custody and devices in one more, written before the clock starts), then `sync` of the file written
//!    (the forward writes durably) — B — alternating A B A B.
//! 2. **The province importing the forwarded families**: each kabupaten's upward bundle through
//!    `Registry::import_upward_path` (what `registry import` runs for them) — A — against the same
//!    families from the tablets' own bundles through `Registry::import_files` — B —, each round into a
//!    fresh copy of the same empty province registry (the kabupaten registries and the tablets enrolled),
//!    alternating A B A B.
//!
//! Run: `cargo bench --profile bench-office --bench chain` (the office's opt-level 3; needs `tar`, `zstd`,
//! `age` and `sync` on the PATH). The fixture (the tablets' bundles, encrypted to their kabupaten and to
//! the province; the kabupaten registries, their imports, every family endorsed, forwarded; the empty
//! province) is made once and kept under the target directory's `tmp/bench-chain/`.
//! `PENDATA_BENCH_FAMILIES` (default 1,000,000) families in the province, over `PENDATA_BENCH_KABUPATEN`
//! (default 10) kabupaten/kota (the first forwards its share in part 1); `PENDATA_BENCH_ROUNDS` (default
//! 3); `PENDATA_BENCH_PARTS=forward,import` to leave one out.

#![expect(clippy::unwrap_used, clippy::indexing_slicing, reason = "benchmark")]

#[path = "common/mod.rs"]
mod common;
use common::{cpu_secs, rss_mb};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, FixedOffset, NaiveDate};
use pendata::app::demo::{self, FamilySpec, Rng};
use pendata::bundle::hex;
use pendata::bundle::keys::Level;
use pendata::bundle::upward::Upward;
use pendata::form::catalog::Catalog;
use pendata::form::{Form, evaluate};
use pendata::model::household as hh;
use pendata::model::record::Action;
use pendata::registry::endorse::Selection;
use pendata::registry::forward::Forward;
use pendata::registry::keys::Setup;
use pendata::registry::synth::SynthTablet;
use pendata::registry::upward_import::kabupaten_id;
use pendata::registry::{self, Endorsement, FileOutcome, Registry};
use uuid::Uuid;

const PER_BUNDLE: usize = 1000;
const PER_TABLET: usize = 10_000;
/// The fixture's generation: raised when what it holds changes (3: tablet bundles of format 3).
const FIXTURE: u32 = 3;

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

/// The `k` kabupaten/kota with the most desa in the form's list, and each one's desa.
fn kabupaten(k: usize) -> Vec<(String, Vec<String>)> {
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in province_desa() {
        by.entry(d[..5].to_string()).or_default().push(d.clone());
    }
    let mut all: Vec<(String, Vec<String>)> = by.into_iter().collect();
    all.sort_by_key(|(code, d)| (std::cmp::Reverse(d.len()), code.clone()));
    assert!(
        all.len() >= k,
        "the province has {} kabupaten/kota",
        all.len()
    );
    all.truncate(k);
    all
}

/// Every desa of the form's list (the province's).
fn province_desa() -> &'static [String] {
    static DESA: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    DESA.get_or_init(|| {
        let f = form();
        f.field(hh::DESA)
            .and_then(|d| f.choices_of(d))
            .map(|l| l.choices.iter().map(|c| c.value.clone()).collect())
            .unwrap_or_default()
    })
}

/// A demo family in kabupaten `kab`: the demo generator picks its desa first, from the whole province,
/// so seeds are tried until that pick is in `kab` (a probe of one draw, not a family).
fn family_in(kab: &str, seed: u64) -> pendata::model::record::Answers {
    let list = province_desa();
    let mut s = seed.wrapping_mul(0x1_0000_0000);
    loop {
        if Rng::new(s)
            .pick(list)
            .is_some_and(|d| d.starts_with(&format!("{kab}.")))
        {
            let spec = FamilySpec {
                interview: clock().date_naive() - Duration::days((seed % 21) as i64),
            };
            return demo::family(form(), &mut Rng::new(s), &spec);
        }
        s += 1;
    }
}

/// The tablets of one kabupaten: (tablet number, families), numbered across the province.
fn tablets_of(kab_index: usize, per_kab: usize) -> Vec<(u64, usize)> {
    let per = per_kab.div_ceil(PER_TABLET);
    (0..per)
        .map(|j| {
            let n = (kab_index * 1000 + j + 1) as u64;
            (n, PER_TABLET.min(per_kab - j * PER_TABLET))
        })
        .collect()
}

/// One tablet's bundles of `count` families in `kab`, encrypted to `recipients`, written into `dir`.
fn tablet_bundles(
    n: u64,
    count: usize,
    kab: &str,
    recipients: &[age::x25519::Recipient],
    dir: &Path,
) -> Vec<PathBuf> {
    let mut t = SynthTablet::new(n, clock());
    let mut files = Vec::new();
    for first in (0..count).step_by(PER_BUNDLE) {
        let from = t.seq + 1;
        for i in first..(first + PER_BUNDLE).min(count) {
            let answers = family_in(kab, n * 100_000 + i as u64);
            let id = Uuid::from_u128(
                0x0193_4444_0000_7000_8000_0000_0000_0000 | (u128::from(n) << 32) | i as u128,
            );
            let day = (t.clock + Duration::minutes(3)).date_naive();
            let ack = evaluate(form(), &answers, day)
                .warnings()
                .map(|w| format!("{} {}", w.path, w.code))
                .collect();
            t.revise(id, 1, Action::Finalized, answers, ack);
        }
        let name = dir.join(t.file_name(from, t.seq));
        std::fs::write(&name, t.bundle(recipients).unwrap()).unwrap();
        files.push(name);
    }
    files
}

struct Fixture {
    /// The first kabupaten's registry folder (the others' are not kept).
    kab: PathBuf,
    /// Each kabupaten's tablets' bundles.
    bundles: Vec<PathBuf>,
    /// Each kabupaten's upward bundle (every family, `--all`).
    upward: Vec<PathBuf>,
    /// The empty province (the tablets and the kabupaten registries enrolled).
    province: PathBuf,
    /// The families forwarded (endorsed): all but those waiting in a conflict (the same NIK or KK as another).
    forwarded: u64,
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn load_fixture(dir: &Path) -> Fixture {
    Fixture {
        kab: dir.join("kab0"),
        bundles: listing(&dir.join("bundles")),
        upward: listing(&dir.join("upward")),
        province: dir.join("province"),
        forwarded: std::fs::read_to_string(dir.join("forwarded"))
            .unwrap()
            .parse()
            .unwrap(),
    }
}

/// The bundles of these tablets, made on two threads.
fn all_bundles(
    tablets: &[(u64, usize)],
    code: &str,
    recipients: &[age::x25519::Recipient],
    staging: &Path,
) -> Vec<PathBuf> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2usize)
            .map(|half| {
                s.spawn(move || {
                    let mut files = Vec::new();
                    for &(tn, count) in tablets.iter().skip(half).step_by(2) {
                        files.extend(tablet_bundles(tn, count, code, recipients, staging));
                    }
                    files
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// Every family of the kabupaten endorsed, the province set upstream, all forwarded into `upward`.
fn endorse_and_forward(
    kab: &Registry,
    code: &str,
    province: &Path,
    upward: &Path,
    per_kab: usize,
) -> pendata::registry::forward::ForwardDone {
    let endorsed = kab
        .endorse(
            &Selection::All,
            Endorsement::Endorsed {
                minutes: format!("BA/{code}/017"),
                date: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            },
            clock() + Duration::days(20),
        )
        .unwrap();
    // Those the registry keeps apart (a possible duplicate of another family) wait.
    assert_eq!(
        endorsed.decided.len() + endorsed.not_accepted.len(),
        per_kab
    );
    kab.set_upstream(
        &std::fs::read(province.join("registry.pub")).unwrap(),
        clock() + Duration::days(20),
    )
    .unwrap();
    let done = kab
        .forward(Forward::All, upward, clock() + Duration::days(21))
        .unwrap();
    assert_eq!(done.families as usize, endorsed.decided.len());
    done
}

/// The fixture of `n` families over `k` kabupaten/kota (made once).
fn fixture(root: &Path, n: usize, k: usize) -> Fixture {
    let dir = root.join(format!("chain-{FIXTURE}-{n}-{k}"));
    if dir.join("COMPLETE").exists() {
        return load_fixture(&dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kabs = kabupaten(k);
    let province = dir.join("province");
    registry::keys::init_as(
        &province,
        "Provinsi Kalimantan Timur",
        clock(),
        &Setup {
            level: Level::Provinsi,
            wilayah: Some("64".into()),
            ..Setup::default()
        },
    )
    .unwrap();
    let prov_keys = registry::load(&province).unwrap();
    let per_kab = n / k;
    let staging = dir.join("bundles");
    std::fs::create_dir_all(&staging).unwrap();
    let upward = dir.join("upward");
    std::fs::create_dir_all(&upward).unwrap();
    let prov = Registry::open(&province).unwrap();
    let mut forwarded = 0;
    for (i, (code, _)) in kabs.iter().enumerate() {
        let t0 = Instant::now();
        let kdir = dir.join(format!("kab{i}"));
        registry::keys::init_as(
            &kdir,
            &format!("Kabupaten {code}"),
            clock(),
            &Setup {
                level: Level::Kabupaten,
                wilayah: Some(code.clone()),
                ..Setup::default()
            },
        )
        .unwrap();
        let kab = Registry::open(&kdir).unwrap();
        // A tablet's bundle is encrypted to its kabupaten and to the province: the same bytes imported
        // at either.
        let recipients = vec![
            kab.keys.identity.to_public(),
            prov_keys.identity.to_public(),
        ];
        let tablets = tablets_of(i, per_kab);
        let files = all_bundles(&tablets, code, &recipients, &staging);
        let made = t0.elapsed().as_secs_f64();
        for &(tn, _) in &tablets {
            let t = SynthTablet::new(tn, clock());
            let key = hex(t.key.verifying_key().as_bytes());
            kab.enrol(t.id, &t.name, &key, clock()).unwrap();
            prov.enrol(t.id, &t.name, &key, clock()).unwrap();
        }
        let mut files = files;
        files.sort();
        let accepted: u64 = kab
            .import_files(&files, clock() + Duration::days(1), |_, _, _| {})
            .unwrap()
            .iter()
            .map(|o| match o {
                FileOutcome::Merged(b) => b.merged.accepted,
                other => panic!("{other:?}"),
            })
            .sum();
        assert_eq!(accepted as usize, per_kab, "every family accepted");
        let imported = t0.elapsed().as_secs_f64() - made;
        let done = endorse_and_forward(&kab, code, &province, &upward, per_kab);
        forwarded += done.families;
        let key = kab.keys.public.signing_key.clone();
        prov.enrol(
            kabupaten_id(&key),
            &format!("Kabupaten {code} (kabupaten/kota {code})"),
            &key,
            clock(),
        )
        .unwrap();
        drop(kab);
        if i > 0 {
            // Only the first forwards again (part 1): the others' registries are not kept (disk).
            std::fs::remove_dir_all(&kdir).unwrap();
        }
        eprintln!(
            "kabupaten {code}: {per_kab} families made in {made:.1} s, imported in {imported:.1} s, endorsed and forwarded in {:.1} s",
            t0.elapsed().as_secs_f64() - made - imported
        );
    }
    drop(prov);
    std::fs::write(dir.join("forwarded"), forwarded.to_string()).unwrap();
    std::fs::write(dir.join("COMPLETE"), "").unwrap();
    load_fixture(&dir)
}

fn copy(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Wall seconds, CPU seconds (this process and its waited-for children) and the highest resident memory
/// seen (sampled every 50 ms) while `f` runs.
fn measure<T>(f: impl FnOnce() -> T) -> (T, f64, f64, f64) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let peak = s.spawn(|| {
            let mut peak = rss_mb();
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_mb());
                std::thread::sleep(StdDuration::from_millis(50));
            }
            peak
        });
        let (c0, t0) = (cpu_secs(), Instant::now());
        let out = f();
        let secs = t0.elapsed().as_secs_f64();
        let c1 = cpu_secs();
        stop.store(true, Ordering::Relaxed);
        let peak = peak.join().unwrap();
        (out, secs, (c1.0 - c0.0) + (c1.1 - c0.1), peak)
    })
}

/// The upward bundle's families as JSON files (one a family), its devices and custody in one more.
fn plain_files(up: &Upward, plain: &Path) {
    let _ = std::fs::remove_dir_all(plain);
    std::fs::create_dir_all(plain).unwrap();
    std::fs::write(
        plain.join("custody.json"),
        serde_json::to_vec(&(&up.registry, &up.devices, &up.custody)).unwrap(),
    )
    .unwrap();
    for f in &up.families {
        std::fs::write(
            plain.join(format!("{}.json", f.record)),
            serde_json::to_vec(f).unwrap(),
        )
        .unwrap();
    }
}

fn part_forward(fx: &Fixture, scratch: &Path, rounds: usize) {
    let prov_keys = registry::load(&fx.province).unwrap();
    let (up, _) = Upward::open(
        &std::fs::read(&fx.upward[0]).unwrap(),
        std::slice::from_ref(&prov_keys.identity),
    )
    .unwrap();
    let families = up.families.len();
    let plain = scratch.join("plain");
    plain_files(&up, &plain);
    drop(up);
    let work = scratch.join("kab");
    copy(&fx.kab, &work);
    let reg = Registry::open(&work).unwrap();
    let recipient = prov_keys.identity.to_public().to_string();
    println!("\n### Forwarding {families} families (`forward --all`)\n");
    println!(
        "| round | forward (A) | CPU | bytes | tar \\| zstd -3 \\| age, sync (B) | CPU | bytes | A / B | A / B CPU |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut a, mut b, mut ratios, mut cpu_ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let out_a = scratch.join(format!("a{r}"));
        std::fs::create_dir_all(&out_a).unwrap();
        let (done, sa, ca, _) = measure(|| reg.forward(Forward::All, &out_a, now()).unwrap());
        assert_eq!(done.families as usize, families);
        let bytes_a = std::fs::metadata(&done.path).unwrap().len();
        std::fs::remove_dir_all(&out_a).unwrap();
        let out_b = scratch.join(format!("b{r}.tar.zst.age"));
        let ((), sb, cb, _) = measure(|| {
            let ok = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "tar cf - -C {} . | zstd -q -3 | age -r {recipient} > {out} && sync {out}",
                    plain.display(),
                    out = out_b.display()
                ))
                .status()
                .unwrap();
            assert!(ok.success());
        });
        let bytes_b = std::fs::metadata(&out_b).unwrap().len();
        std::fs::remove_file(&out_b).unwrap();
        let (ratio, cpu_ratio) = (sa / sb, ca / cb);
        println!(
            "| {} | {sa:.2} s | {ca:.2} s | {:.1} MB | {sb:.2} s | {cb:.2} s | {:.1} MB | {ratio:.2} | {cpu_ratio:.2} |",
            r + 1,
            bytes_a as f64 / 1e6,
            bytes_b as f64 / 1e6
        );
        a.push(sa);
        b.push(sb);
        ratios.push(ratio);
        cpu_ratios.push(cpu_ratio);
    }
    println!(
        "\nmedians: A {:.2} s, B {:.2} s, A / B {:.2} (CPU {:.2}; goal ≤ 2)",
        median(&a),
        median(&b),
        median(&ratios),
        median(&cpu_ratios)
    );
    drop(reg);
    std::fs::remove_dir_all(&work).unwrap();
    std::fs::remove_dir_all(&plain).unwrap();
}

fn accepted(outcomes: &[FileOutcome]) -> u64 {
    outcomes
        .iter()
        .map(|o| match o {
            FileOutcome::Merged(b) => b.merged.accepted,
            other => panic!("{other:?}"),
        })
        .sum()
}

fn part_import(fx: &Fixture, scratch: &Path, n: usize, rounds: usize) {
    let upward_mb: u64 = fx
        .upward
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    let bundles_mb: u64 = fx
        .bundles
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    println!(
        "\n### The province importing {n} families ({} forwarded): {} upward bundles ({:.0} MB) against {} tablet bundles ({:.0} MB)\n",
        fx.forwarded,
        fx.upward.len(),
        upward_mb as f64 / 1e6,
        fx.bundles.len(),
        bundles_mb as f64 / 1e6
    );
    println!(
        "| round | upward (A) | CPU | peak RSS | tablets' bundles (B) | CPU | peak RSS | A / B | A / B CPU |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut ratios, mut cpu_ratios, mut a, mut b) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let work = scratch.join("province");
    for r in 0..rounds {
        copy(&fx.province, &work);
        let reg = Registry::open(&work).unwrap();
        let (outcomes, sa, ca, ma) = measure(|| {
            fx.upward
                .iter()
                .map(|f| reg.import_upward_path(f, now()).unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(accepted(&outcomes), fx.forwarded, "every family accepted");
        drop(reg);
        copy(&fx.province, &work);
        let reg = Registry::open(&work).unwrap();
        let (outcomes, sb, cb, mb) =
            measure(|| reg.import_files(&fx.bundles, now(), |_, _, _| {}).unwrap());
        assert_eq!(accepted(&outcomes) as usize, n, "every family accepted");
        drop(reg);
        let (ratio, cpu_ratio) = (sa / sb, ca / cb);
        println!(
            "| {} | {sa:.1} s | {ca:.1} s | {ma:.0} MB | {sb:.1} s | {cb:.1} s | {mb:.0} MB | {ratio:.2} | {cpu_ratio:.2} |",
            r + 1
        );
        a.push(sa);
        b.push(sb);
        ratios.push(ratio);
        cpu_ratios.push(cpu_ratio);
    }
    let _ = std::fs::remove_dir_all(&work);
    println!(
        "\nmedians: A {:.1} s, B {:.1} s, A / B {:.2} (CPU {:.2}; goal ≤ 1.5)",
        median(&a),
        median(&b),
        median(&ratios),
        median(&cpu_ratios)
    );
}

fn main() {
    let n = env_usize("PENDATA_BENCH_FAMILIES", 1_000_000);
    let k = env_usize("PENDATA_BENCH_KABUPATEN", 10).max(1);
    let rounds = env_usize("PENDATA_BENCH_ROUNDS", 3).max(1);
    let parts = std::env::var("PENDATA_BENCH_PARTS").unwrap_or_else(|_| "forward,import".into());
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-chain");
    std::fs::create_dir_all(&root).unwrap();
    let t0 = Instant::now();
    let fx = fixture(&root, n, k);
    eprintln!("fixture ready in {:.1} s", t0.elapsed().as_secs_f64());
    let scratch = root.join("scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    println!(
        "province of {n} families over {k} kabupaten/kota ({} each), {rounds} rounds",
        n / k
    );
    if parts.contains("forward") {
        part_forward(&fx, &scratch, rounds);
    }
    if parts.contains("import") {
        part_import(&fx, &scratch, n, rounds);
    }
    std::fs::remove_dir_all(&scratch).unwrap();
}
