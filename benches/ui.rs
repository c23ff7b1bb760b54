//! Benchmark of the tablet app's frames (CPU side: layout and drawing commands, headless through
//! egui_kittest), side by side in one run:
//! - the family list with 100,000 families while a search is typed;
//! - a 30-member family: the member roster and one member's page;
//! - the Tugas kunjungan list with 1,000 visits (a work package applied): idle, flicking, searching;
//! - cold start to the first frame (opening the store, building the app, first frame);
//! - resident memory afterwards.
//!
//! Run: `cargo bench --bench ui` (builds a 100,000-family store under target/, about a minute).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pendata::app::demo::{FamilySpec, Rng, family};
use pendata::form::catalog::Catalog;
use pendata::store::{NewRecord, Store};
use pendata::ui::{PendataApp, Screen};
use serde_json::json;

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::Local::now().fixed_offset()
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
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

fn step_timed(h: &mut Harness<'static, PendataApp>, frames: &mut Vec<Duration>) {
    let t = Instant::now();
    h.step();
    frames.push(t.elapsed());
}

/// Waits for the list's worker (see `app::list`) to answer the query on screen.
fn wait_for_list(h: &mut Harness<'static, PendataApp>) {
    if let Screen::List(state) = &mut h.state_mut().screen {
        state.wait();
    }
}

fn main() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-ui");
    // The measuring run is a fresh process, so its memory is the app's, not the store builder's.
    if std::env::var_os("PENDATA_BENCH_UI_MEASURE").is_some() {
        let big_id = std::fs::read_to_string(dir.join("big-id"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        return measure(&dir, big_id);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (store, _) = Store::create(&dir, "Bench", now()).unwrap();
    store.add_petugas("P001", "Bench", "246810", now()).unwrap();
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let spec = FamilySpec {
        interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
    };
    let mut rng = Rng::new(3);
    let families = 100_000;
    let mut batch = Vec::new();
    for n in 0..families {
        batch.push(NewRecord {
            form_id: form.id.clone(),
            form_version: form.version,
            answers: family(form, &mut rng, &spec),
            finalize: n % 10 != 0,
            acknowledged: vec![],
        });
        if batch.len() == 2000 {
            store
                .create_batch(std::mem::take(&mut batch), "P001", now())
                .unwrap();
        }
    }
    // One family of 30 members.
    let mut big = family(form, &mut rng, &spec);
    let template = big["anggota"][0].clone();
    let members: Vec<_> = (0..30)
        .map(|i| {
            let mut m = template.clone();
            m["nama"] = json!(format!("Anggota {i}"));
            m["hubungan"] = json!(if i == 0 { "1" } else { "8" });
            m
        })
        .collect();
    big.insert("anggota".into(), json!(members));
    let big_id = store
        .create_record(&form.id, form.version, big, "P001", now())
        .unwrap()
        .id;
    drop(store);
    apply_package(&dir, 1000);
    std::fs::write(dir.join("big-id"), big_id.to_string()).unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .env("PENDATA_BENCH_UI_MEASURE", "1")
        .status()
        .unwrap();
    assert!(status.success());
}

fn measure(dir: &std::path::Path, big_id: uuid::Uuid) {
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();

    println!("| frames of | n | p50 | p95 | max |\n|---|---:|---:|---:|---:|");
    let t = Instant::now();
    let app = PendataApp::new(dir);
    let mut h = Harness::builder()
        .with_size([1280.0, 800.0])
        .build_ui_state(|ui, app: &mut PendataApp| app.ui(ui), app);
    let cold = t.elapsed();

    // Sign in.
    h.get_by_role_and_label(Role::PasswordInput, "PIN").focus();
    h.run();
    h.get_by_role_and_label(Role::PasswordInput, "PIN")
        .type_text("246810");
    h.run();
    h.get_by_label("Masuk").click();
    h.run();
    // Home: the tap and its frame (the figures are read off the frame), then the figures arriving.
    let t = Instant::now();
    h.state_mut().run(pendata::ui::Command::Home);
    h.step();
    let home = t.elapsed();
    h.state_mut().wait_home();
    let home_facts = t.elapsed();
    let mut home_frames = Vec::new();
    for _ in 0..30 {
        step_timed(&mut h, &mut home_frames);
    }
    stats("home screen, figures of 100,000 families", home_frames);
    let list = list(&mut h);
    family_of_30(&mut h, form, big_id);
    visits(&mut h);
    println!();
    println!(
        "Worker answers (not frames: the UI draws meanwhile), from the change to its rows drawn:\n"
    );
    println!("| answer of | n | p50 | p95 | max |\n|---|---:|---:|---:|---:|");
    stats(
        "a filter change (status, then kecamatan)",
        list.filter_shown,
    );
    stats("each letter of the search", list.search_shown);
    println!();
    println!("| measure | value |\n|---|---:|");
    println!(
        "| cold start to first frame (headless: store open + app + first frame) | {:.1} ms |",
        cold.as_secs_f64() * 1e3
    );
    println!(
        "| opening home: the tap's command and its frame (figures read off the frame) | {:.1} ms |",
        home.as_secs_f64() * 1e3
    );
    println!(
        "| opening home until its figures of 100,000 families are there | {:.1} ms |",
        home_facts.as_secs_f64() * 1e3
    );
    println!(
        "| opening the list of 100,000 (frames until the worker answers) | {:.1} ms |",
        list.open.as_secs_f64() * 1e3
    );
    println!(
        "| opening the list of 100,000 until its rows are drawn | {:.1} ms |",
        list.open_rows.as_secs_f64() * 1e3
    );
    println!(
        "| resident memory after all of the above | {:.0} MB |",
        rss_mb()
    );
}

/// What the list's part measured besides its frames.
struct ListFigures {
    open: Duration,
    open_rows: Duration,
    filter_shown: Vec<Duration>,
    search_shown: Vec<Duration>,
}

/// The list of 100,000: opening, flicking through, filtering, then typing a search letter by letter.
fn list(h: &mut Harness<'static, PendataApp>) -> ListFigures {
    h.get_by_label("Daftar keluarga").click();
    let t = Instant::now();
    h.run();
    let open_list = t.elapsed();
    wait_for_list(h);
    h.run();
    let open_list_rows = t.elapsed();
    let mut idle = Vec::new();
    for _ in 0..30 {
        step_timed(h, &mut idle);
    }
    stats("family list, 100,000 families, idle", idle);
    // Flicking through the list: three pages per frame, then a jump to the end and back to the top.
    let mut scrolling = Vec::new();
    h.hover_at(egui::pos2(640.0, 500.0));
    for n in 0..40 {
        let pages = match n {
            30 => -100_000.0,
            35 => 100_000.0,
            _ => -3.0,
        };
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Page,
            delta: egui::vec2(0.0, pages),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::NONE,
        });
        step_timed(h, &mut scrolling);
        step_timed(h, &mut scrolling);
    }
    stats(
        "family list, flicking through 100,000 (and to the end and back)",
        scrolling,
    );
    let mut filtering = Vec::new();
    let mut filter_shown = Vec::new();
    for (status, desa) in [
        (Some(pendata::store::Status::Draft), ""),
        (None, "64.72.01"),
    ] {
        if let Screen::List(state) = &mut h.state_mut().screen {
            state.status = status;
            state.desa = desa.to_string();
        }
        let t = Instant::now();
        step_timed(h, &mut filtering);
        step_timed(h, &mut filtering);
        wait_for_list(h);
        step_timed(h, &mut filtering);
        filter_shown.push(t.elapsed());
    }
    if let Screen::List(state) = &mut h.state_mut().screen {
        state.status = None;
        state.desa.clear();
    }
    h.step();
    wait_for_list(h);
    h.step();
    stats(
        "family list, filtering by status, then by kecamatan",
        filtering,
    );
    let mut typing = Vec::new();
    let mut search_shown = Vec::new();
    for word in ["siti ", "rah"] {
        for ch in word.chars() {
            h.get_by_role_and_label(Role::TextInput, "Cari").focus();
            h.step();
            h.get_by_role_and_label(Role::TextInput, "Cari")
                .type_text(&ch.to_string());
            let t = Instant::now();
            step_timed(h, &mut typing);
            step_timed(h, &mut typing);
            // A petugas types slower than the worker answers: each letter's results are shown.
            wait_for_list(h);
            step_timed(h, &mut typing);
            search_shown.push(t.elapsed());
        }
    }
    stats("family list, typing a search", typing);
    ListFigures {
        open: open_list,
        open_rows: open_list_rows,
        filter_shown,
        search_shown,
    }
}

/// A 30-member family: roster and a member page.
fn family_of_30(
    h: &mut Harness<'static, PendataApp>,
    form: &pendata::form::Form,
    big_id: uuid::Uuid,
) {
    if let Screen::List(_) = &h.state().screen {}
    h.state_mut().run(pendata::ui::Command::Open(big_id));
    let anggota_page = form.field("anggota").unwrap().page;
    if let Screen::Edit(e) = &mut h.state_mut().screen {
        e.page = anggota_page;
    }
    let mut roster = Vec::new();
    for _ in 0..30 {
        step_timed(h, &mut roster);
    }
    stats("30-member family, member roster", roster);
    if let Screen::Edit(e) = &mut h.state_mut().screen {
        e.member = Some(12);
    }
    let mut member = Vec::new();
    for _ in 0..30 {
        step_timed(h, &mut member);
    }
    stats("30-member family, one member's page", member);
}

/// A work package of `n` families (five desa of one kecamatan) applied on the bench's tablet, as
/// `pendata package apply` does: signed by a registry made for it, encrypted to the tablet.
fn apply_package(dir: &std::path::Path, n: usize) {
    use pendata::bundle::manifest::FormRef;
    use pendata::bundle::package::{
        PACKAGE_FORMAT, PACKAGE_FORMAT_VERSION, Package, PackagedFamily,
    };
    let reg = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-ui-registry");
    let _ = std::fs::remove_dir_all(&reg);
    pendata::registry::init(&reg, "Bench", now()).unwrap();
    let keys = pendata::registry::load(&reg).unwrap();
    let device = pendata::app::Device::open(dir, pendata::store::Unlock::Secret("246810")).unwrap();
    device
        .set_registry_key(&std::fs::read(reg.join("registry.pub")).unwrap())
        .unwrap();
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let spec = FamilySpec {
        interview: NaiveDate::from_ymd_opt(2026, 10, 20).unwrap(),
    };
    let mut rng = Rng::new(17);
    let desa: Vec<String> = (1..=5).map(|d| format!("64.72.01.100{d}")).collect();
    let families = (0..n)
        .map(|i| {
            let mut answers = family(form, &mut rng, &spec);
            answers.insert("wilayah_kabkota".into(), json!("64.72"));
            answers.insert("wilayah_kecamatan".into(), json!("64.72.01"));
            answers.insert("wilayah_desa".into(), json!(desa[i % desa.len()]));
            PackagedFamily {
                family: uuid::Uuid::now_v7(),
                base: format!("{i:064x}"),
                form_id: form.id.clone(),
                form_version: form.version,
                answers,
            }
        })
        .collect();
    let package = Package {
        format: PACKAGE_FORMAT.into(),
        format_version: PACKAGE_FORMAT_VERSION,
        package_id: uuid::Uuid::now_v7(),
        created_at: now(),
        registry: "Bench".into(),
        device: device.store.device().unwrap().id,
        desa,
        due: None,
        expires: now().date_naive() + chrono::Duration::days(30),
        note: None,
        forms: vec![FormRef {
            id: form.id.clone(),
            version: form.version,
        }],
        families,
    };
    let bytes = package
        .seal(
            &keys.signing,
            &device.store.age_identity().unwrap().to_public(),
        )
        .unwrap();
    assert_eq!(device.apply_package(&bytes, "P001").unwrap().families, n);
}

/// The Tugas kunjungan list of 1,000 visits: idle, flicking through it, typing a search.
fn visits(h: &mut Harness<'static, PendataApp>) {
    h.state_mut().run(pendata::ui::Command::Visits);
    h.step();
    if let Screen::Visits(state) = &mut h.state_mut().screen {
        state.wait();
    }
    h.run();
    let mut idle = Vec::new();
    for _ in 0..30 {
        step_timed(h, &mut idle);
    }
    stats("Tugas kunjungan, 1,000 visits, idle", idle);
    let mut scrolling = Vec::new();
    h.hover_at(egui::pos2(640.0, 500.0));
    for n in 0..40 {
        let pages = match n {
            30 => -100_000.0,
            35 => 100_000.0,
            _ => -3.0,
        };
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Page,
            delta: egui::vec2(0.0, pages),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::NONE,
        });
        step_timed(h, &mut scrolling);
        step_timed(h, &mut scrolling);
    }
    stats(
        "Tugas kunjungan, flicking through 1,000 (and to the end and back)",
        scrolling,
    );
    let mut typing = Vec::new();
    for ch in "siti".chars() {
        h.get_by_role_and_label(Role::TextInput, "Cari").focus();
        h.step();
        h.get_by_role_and_label(Role::TextInput, "Cari")
            .type_text(&ch.to_string());
        step_timed(h, &mut typing);
        step_timed(h, &mut typing);
    }
    stats("Tugas kunjungan, typing a search", typing);
}
