//! Benchmark of the office app's frames (CPU side, headless through egui_kittest) on a large registry:
//! the dashboard (chart and table per kabupaten/kota) idle and being scrolled, the devices page, the
//! import page, the Families page (while its name index is read, then a name's 100 results shown, idle
//! and scrolled), and switching pages, after the background readings are in; plus how long those
//! readings take (the dashboard's report reads every family; the devices list reads every family for the
//! petugas seen; the name index, begun at sign-in, too). Frames should stay ≤ 16 ms p95 and none over 50 ms whatever the number of families.
//!
//! Run: `cargo bench --bench office` (builds a 100,000-family registry under the target folder once;
//! `PENDATA_BENCH_FAMILIES=1000000` for the province's million).

#![expect(clippy::unwrap_used, clippy::indexing_slicing, reason = "benchmark")]

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pendata::app::demo::{self, FamilySpec, Rng};
use pendata::bundle::hex;
use pendata::form::catalog::Catalog;
use pendata::form::{Form, evaluate};
use pendata::model::record::Action;
use pendata::registry::synth::SynthTablet;
use pendata::registry::{self, Registry};
use pendata::ui::office::OfficeApp;
use uuid::Uuid;

const PER_BUNDLE: usize = 1000;
const PER_TABLET: usize = 10_000;

fn clock() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-02T08:00:00+08:00").unwrap()
}

fn form() -> &'static Form {
    Catalog::shared().unwrap().latest("keluarga").unwrap()
}

/// One tablet's bundles of `count` families, written to `staging`.
fn tablet(tn: usize, count: usize, staging: &Path, to: &[age::x25519::Recipient]) -> Vec<PathBuf> {
    let mut t = SynthTablet::new(tn as u64 + 1, clock());
    let mut rng = Rng::new(1000 + tn as u64);
    let mut files = Vec::new();
    for first in (0..count).step_by(PER_BUNDLE) {
        let from = t.seq + 1;
        for i in first..(first + PER_BUNDLE).min(count) {
            let f = tn * PER_TABLET + i;
            let spec = FamilySpec {
                interview: clock().date_naive() - chrono::Duration::days((f % 21) as i64),
            };
            let answers = demo::family(form(), &mut rng, &spec);
            let day = (t.clock + chrono::Duration::minutes(3)).date_naive();
            let ack = evaluate(form(), &answers, day)
                .warnings()
                .map(|w| format!("{} {}", w.path, w.code))
                .collect();
            let id = Uuid::from_u128(0x0193_3333_0000_7000_8000_0000_0000_0000 | f as u128);
            t.revise(id, 1, Action::Finalized, answers, ack);
        }
        let name = staging.join(t.file_name(from, t.seq));
        std::fs::write(&name, t.bundle(to).unwrap()).unwrap();
        files.push(name);
    }
    std::fs::write(
        staging.join(format!("{}.device", t.id)),
        format!("{}\n{}\n", t.name, hex(t.key.verifying_key().as_bytes())),
    )
    .unwrap();
    files
}

/// A registry of `n` families from `n / 10,000` tablets, made once and kept.
fn fixture(root: &Path, n: usize) -> PathBuf {
    let dir = root.join(format!("office-registry-{n}"));
    if dir.join("COMPLETE").exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    registry::init(&dir, "Bench", clock()).unwrap();
    let to = vec![registry::load(&dir).unwrap().identity.to_public()];
    let staging = root.join(format!("office-bundles-{n}"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).unwrap();
    let t0 = Instant::now();
    let tablets = n.div_ceil(PER_TABLET);
    let mut files: Vec<PathBuf> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2usize)
            .map(|half| {
                let (to, staging) = (&to, &staging);
                s.spawn(move || {
                    (half..tablets)
                        .step_by(2)
                        .flat_map(|tn| tablet(tn, PER_TABLET.min(n - tn * PER_TABLET), staging, to))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    files.sort();
    eprintln!(
        "made {} bundles in {:.1} s",
        files.len(),
        t0.elapsed().as_secs_f64()
    );
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
    let t0 = Instant::now();
    let now = clock() + chrono::Duration::days(1);
    let out = reg.import_files(&files, now, |_, _, _| {}).unwrap();
    let mut total = registry::MergeCounts::default();
    for o in &out {
        if let registry::FileOutcome::Merged(b) = o {
            total.add(&b.merged);
        }
    }
    reg.log_import(
        now,
        out.len() as u64,
        total,
        registry::snapshot(&reg).unwrap(),
    )
    .unwrap();
    eprintln!(
        "imported {} families in {:.1} s",
        total.accepted,
        t0.elapsed().as_secs_f64()
    );
    drop(reg);
    std::fs::remove_dir_all(&staging).unwrap();
    std::fs::write(dir.join("COMPLETE"), "").unwrap();
    dir
}

fn stats(name: &str, mut frames: Vec<Duration>) {
    frames.sort();
    let p = |q: f64| frames[((frames.len() - 1) as f64 * q) as usize];
    println!(
        "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms |",
        frames.len(),
        p(0.5).as_secs_f64() * 1e3,
        p(0.95).as_secs_f64() * 1e3,
        frames.last().unwrap().as_secs_f64() * 1e3
    );
}

fn frames(
    h: &mut Harness<'static, OfficeApp>,
    n: usize,
    mut between: impl FnMut(&mut Harness<'static, OfficeApp>, usize),
) -> Vec<Duration> {
    (0..n)
        .map(|i| {
            between(h, i);
            let t = Instant::now();
            h.step();
            t.elapsed()
        })
        .collect()
}

fn main() {
    let n: usize = std::env::var("PENDATA_BENCH_FAMILIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let root = PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()));
    let dir = fixture(&root, n);
    // The office never changes the fixture here, but a copy keeps it clean whatever a run does.
    let work = root.join(format!("office-work-{n}"));
    let _ = std::fs::remove_dir_all(&work);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&dir)
        .arg(&work)
        .status()
        .unwrap();
    assert!(status.success());

    let t0 = Instant::now();
    let app = OfficeApp::new(Some(&work));
    let mut h = Harness::builder()
        .with_size([1920.0, 1080.0])
        .build_ui_state(|ui, app: &mut OfficeApp| app.ui(ui), app);
    h.step();
    let first = t0.elapsed();
    // No operators in the bench registry: sign-in continues under the computer's account.
    h.get_by_label("Lanjut").click();
    // The click's frame signs in; the next one starts the dashboard's reading.
    h.step();
    h.step();
    let t0 = Instant::now();
    h.state_mut().wait();
    let dashboard_read = t0.elapsed();
    h.step();
    println!(
        "{n} families; opening and the first frame {:.1} ms; the dashboard's reading {:.2} s",
        first.as_secs_f64() * 1e3,
        dashboard_read.as_secs_f64()
    );
    println!("| frames | count | p50 | p95 | max |\n|---|---|---|---|---|");
    stats("dashboard, idle", frames(&mut h, 200, |_, _| {}));
    h.get_by_label("Wilayah").hover();
    h.step();
    stats(
        "dashboard, scrolled",
        frames(&mut h, 200, |h, i| {
            let dy = if (i / 20) % 2 == 0 { -60.0 } else { 60.0 };
            h.event(egui::Event::MouseWheel {
                unit: egui::MouseWheelUnit::Point,
                delta: egui::vec2(0.0, dy),
                phase: egui::TouchPhase::Move,
                source: egui::MouseWheelSource::Wheel,
                modifiers: egui::Modifiers::NONE,
            });
        }),
    );
    h.get_by_label("Perangkat").click();
    h.step();
    h.step();
    let t0 = Instant::now();
    h.state_mut().wait();
    let devices_read = t0.elapsed();
    h.step();
    stats("devices, idle", frames(&mut h, 200, |_, _| {}));
    h.get_by_label("Impor").click();
    h.step();
    stats("import, idle", frames(&mut h, 100, |_, _| {}));
    let names_ready = families(&mut h);
    let pages = [
        "Dasbor",
        "Perangkat",
        "Antrean kerja",
        "Impor",
        "Keluarga",
        "Laporan",
        "Paket kerja",
    ];
    let taps = frames(&mut h, 70, |h, i| {
        h.get_by_label(pages[i % pages.len()]).click();
    });
    stats("switching pages (the tap's frame)", taps.clone());
    for (k, page) in pages.iter().enumerate() {
        let to: Vec<Duration> = taps.iter().skip(k).step_by(pages.len()).copied().collect();
        stats(&format!("… a tap on {page}"), to);
    }
    println!("the devices' reading {:.2} s", devices_read.as_secs_f64());
    println!("{names_ready}");
}

/// Steps (a frame every 10 ms, as a repaint request would) until `done`; the frames' times.
fn frames_until(
    h: &mut Harness<'static, OfficeApp>,
    done: impl Fn(&Harness<'static, OfficeApp>) -> bool,
) -> (Vec<Duration>, Duration) {
    let t0 = Instant::now();
    let mut times = Vec::new();
    while !done(h) && t0.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(10));
        let t = Instant::now();
        h.step();
        times.push(t.elapsed());
    }
    (times, t0.elapsed())
}

/// The Families screen: frames while its name index (begun at sign-in) is still being read, then a
/// name typed and the frames with its 100 results shown, idle and scrolled. Says how long the index and
/// the search took to show.
fn families(h: &mut Harness<'static, OfficeApp>) -> String {
    const SEARCH: &str = "Cari: nama kepala keluarga, NIK, nomor KK atau desa";
    h.get_by_label("Keluarga").click();
    h.step();
    let (building, waited) = frames_until(h, |h| {
        h.query_by_label_contains("Menyiapkan pencarian nama")
            .is_none()
    });
    if !building.is_empty() {
        stats("families, name index still being read", building);
    }
    let field = h.get_by_role_and_label(egui::accesskit::Role::TextInput, SEARCH);
    field.focus();
    h.step();
    let field = h.get_by_role_and_label(egui::accesskit::Role::TextInput, SEARCH);
    field.type_text("Santo");
    let (typed, found) = frames_until(h, |h| {
        h.query_all_by_label_contains(" · KK ").next().is_some()
    });
    stats("families, a name typed until its results show", typed);
    stats(
        "families, 100 results shown, idle",
        frames(h, 200, |_, _| {}),
    );
    h.query_all_by_label_contains(" · KK ")
        .next()
        .unwrap()
        .hover();
    h.step();
    stats(
        "families, results scrolled",
        frames(h, 200, |h, i| {
            let dy = if (i / 20) % 2 == 0 { -60.0 } else { 60.0 };
            h.event(egui::Event::MouseWheel {
                unit: egui::MouseWheelUnit::Point,
                delta: egui::vec2(0.0, dy),
                phase: egui::TouchPhase::Move,
                source: egui::MouseWheelSource::Wheel,
                modifiers: egui::Modifiers::NONE,
            });
        }),
    );
    format!(
        "the name index ready {:.1} s after the Families page was opened; a name's results shown {:.2} s \
         after it was typed",
        waited.as_secs_f64(),
        found.as_secs_f64()
    )
}
