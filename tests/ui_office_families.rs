//! The office's families screen driven as an operator would (egui_kittest, by label and role): a family
//! is found by part of its head's name and by a member's NIK as one types, and its page shows every
//! revision received (device, petugas, outcome) with the decision about it and the operator who made it.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "tests: a failed unwrap is a failed test"
)]

use chrono::{DateTime, FixedOffset, NaiveDate};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pendata::app::demo::{self, FamilySpec, Rng};
use pendata::app::office::Office;
use pendata::app::office::families::{self as f, Outcome};
use pendata::app::task::Wake;
use pendata::form::catalog::Catalog;
use pendata::form::{Form, evaluate};
use pendata::model::Lang;
use pendata::model::record::{Action, Answers};
use pendata::registry::synth::SynthTablet;
use pendata::registry::{self, Registry, Role as OpRole};
use pendata::ui::office::families::FamiliesScreen;
use serde_json::json;
use uuid::Uuid;

fn now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap()
}

fn form() -> &'static Form {
    Catalog::shared().unwrap().latest("keluarga").unwrap()
}

fn family(rng: &mut Rng) -> Answers {
    let spec = FamilySpec {
        interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
    };
    demo::family(form(), rng, &spec)
}

fn finalize(t: &mut SynthTablet, record: Uuid, number: u32, answers: Answers) -> u64 {
    let day = (t.clock + chrono::Duration::minutes(3)).date_naive();
    let ack = evaluate(form(), &answers, day)
        .warnings()
        .map(|w| format!("{} {}", w.path, w.code))
        .collect();
    t.revise(record, number, Action::Finalized, answers, ack)
}

fn record(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_3333_0000_7000_8000_0000_0000_0000 | n)
}

const OPERATOR: &str = "Siti Rahma";
const PASS: &str = "kata-sandi-kantor-7";
const HEAD: &str = "Yohanes Wirawan";

/// A registry of 20 families; family 1 (its head named [`HEAD`]) was revised on two devices and an
/// operator kept the first tablet's version, with a reason.
struct World {
    _tmp: tempfile::TempDir,
    office: Office,
    nik: String,
    tablets: (String, String),
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    registry::init(&dir, "Dinas Sosial Kaltim", now()).unwrap();
    let mut reg = Registry::open(&dir).unwrap();
    let mut rng = Rng::new(28);
    let start = now() - chrono::Duration::days(8);
    let (mut t1, mut t2) = (SynthTablet::new(11, start), SynthTablet::new(12, start));
    let mut a = family(&mut rng);
    a["nama_kepala_keluarga"] = json!(HEAD);
    a["anggota"][0]["nama"] = json!(HEAD);
    let nik = a["anggota"][1]["nik"].as_str().unwrap().to_string();
    finalize(&mut t1, record(1), 1, a.clone());
    let mut a2 = a;
    a2["alamat"] = json!("Jl. Baru 2");
    t2.clock = t1.clock + chrono::Duration::hours(1);
    finalize(&mut t2, record(1), 2, a2);
    for n in 2..=20 {
        finalize(&mut t1, record(n), 1, family(&mut rng));
    }
    for t in [&mut t1, &mut t2] {
        let bytes = t.bundle(&[reg.keys.identity.to_public()]).unwrap();
        reg.import_bytes(&bytes, "t.age", now()).unwrap();
        reg.approve(&t.id.simple().to_string(), now()).unwrap();
    }
    reg.add_operator("Kepala Seksi", OpRole::Supervisor, PASS, now())
        .unwrap();
    reg.session.actor = Some(reg.sign_in("Kepala Seksi", PASS).unwrap());
    reg.add_operator(OPERATOR, OpRole::Operator, PASS, now())
        .unwrap();
    reg.session.actor = Some(reg.sign_in(OPERATOR, PASS).unwrap());
    let conflict = reg.conflicts(false).unwrap().remove(0);
    let keep = conflict
        .members
        .iter()
        .position(|m| m.device == t1.id)
        .unwrap();
    reg.session.reason = Some("petugas pertama mengecek alamat".into());
    reg.keep(conflict.id, keep + 1, now()).unwrap();
    reg.session.reason = None;
    World {
        _tmp: tmp,
        office: Office::new(reg),
        nik,
        tablets: (t1.name.clone(), t2.name.clone()),
    }
}

fn harness(office: &Office) -> Harness<'static, FamiliesScreen> {
    let screen = FamiliesScreen::new(office.clone(), Wake::none());
    Harness::builder()
        .with_size([1280.0, 800.0])
        .build_ui_state(|ui, s: &mut FamiliesScreen| s.ui(ui, Lang::Id), screen)
}

fn until(h: &mut Harness<'static, FamiliesScreen>, text: &str) {
    for _ in 0..500 {
        h.step();
        if h.query_by_label_contains(text).is_some() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("nothing labelled {text:?} appeared");
}

const SEARCH: &str = "Cari: nama kepala keluarga, NIK, nomor KK atau desa";

fn search(h: &mut Harness<'static, FamiliesScreen>, text: &str) {
    let field = h.get_by_role_and_label(Role::TextInput, SEARCH);
    field.focus();
    h.run_steps(2);
    let field = h.get_by_role_and_label(Role::TextInput, SEARCH);
    field.type_text(text);
    h.run_steps(2);
}

#[test]
fn a_family_is_found_by_part_of_its_name_as_one_types() {
    let w = world();
    let mut h = harness(&w.office);
    // The name search is ready once every family's name was read.
    for _ in 0..500 {
        h.step();
        if h.query_by_label_contains("Menyiapkan pencarian nama")
            .is_none()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    search(&mut h, "wiraw");
    until(&mut h, HEAD);
    assert_eq!(h.query_all_by_label_contains(HEAD).count(), 1);
    assert!(h.query_by_label_contains("Diterima").is_some());
}

#[test]
fn a_family_is_found_by_a_members_nik_and_its_page_shows_every_revision_and_who_decided() {
    let w = world();
    let mut h = harness(&w.office);
    search(&mut h, &w.nik);
    until(&mut h, HEAD);
    h.get_by_label_contains(HEAD).click();
    h.run_steps(2);
    until(&mut h, "Riwayat");
    // Both versions, with their tablets, and what became of each.
    assert!(h.query_by_label_contains(&w.tablets.0).is_some());
    assert!(h.query_by_label_contains(&w.tablets.1).is_some());
    assert!(h.query_by_label("Versi saat ini").is_some());
    assert!(h.query_by_label("Ditolak").is_some());
    // The decision, with the operator's name and the reason, on both versions.
    let decided = h
        .query_all_by_label_contains(&format!("oleh {OPERATOR}"))
        .count();
    assert_eq!(decided, 2, "the decision shows on both versions");
    assert_eq!(
        h.query_all_by_label_contains("petugas pertama mengecek alamat")
            .count(),
        2
    );
    // The current answers.
    assert!(h.query_by_label("Jawaban saat ini").is_some());
}

#[test]
fn searches_use_the_indexes_and_stay_bounded() {
    let w = world();
    // Without the name index, a NIK still finds its family (the registry's index).
    let found = f::search(&w.office, None, &w.nik).unwrap();
    assert_eq!(found.rows.len(), 1);
    assert_eq!(found.rows[0].record, record(1));
    assert_eq!(found.rows[0].name, HEAD);
    let ix = f::name_index(&w.office, |_| {}).unwrap();
    assert_eq!(ix.len(), 20);
    let by_name = f::search(&w.office, Some(&ix), "YOHANES").unwrap();
    assert_eq!(by_name.rows.len(), 1, "case does not matter");
    // A desa code finds its families.
    let desa = by_name.rows[0].desa.clone().unwrap();
    let in_desa = f::search(&w.office, Some(&ix), &desa).unwrap();
    assert!(in_desa.rows.iter().any(|r| r.record == record(1)));
    assert!(
        in_desa
            .rows
            .iter()
            .all(|r| r.desa.as_deref() == Some(desa.as_str()))
    );
    // One letter searches nothing yet.
    assert!(
        f::search(&w.office, Some(&ix), "a")
            .unwrap()
            .rows
            .is_empty()
    );
    let page = f::page(&w.office, record(1)).unwrap().unwrap();
    assert_eq!(page.history.len(), 2);
    assert_eq!(page.history[0].outcome, Outcome::Current);
    assert_eq!(page.history[1].outcome, Outcome::Rejected);
    assert!(page.history.iter().all(|h| {
        h.decisions
            .iter()
            .any(|d| d.action == "conflict.keep" && d.who.contains(OPERATOR))
    }));

    // The registry read in parts (as the name index reads it): every family once, in record order.
    {
        use pendata::registry::storage::Storage;
        let reg = w.office.read();
        let (mut seen, mut after) = (Vec::new(), None);
        while let Some(last) = reg
            .db
            .families_with_revisions_from(after, 7, |fam, _| {
                seen.push(fam.family.record);
                Ok(())
            })
            .unwrap()
        {
            after = Some(last);
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!((seen.len(), &sorted), (20, &seen));
    }

    // A family merged after the index was built: the search says the index is stale.
    assert!(!f::search(&w.office, Some(&ix), "YOHANES").unwrap().stale);
    let mut t = SynthTablet::new(13, now());
    let mut g = family(&mut Rng::new(99));
    g["nama_kepala_keluarga"] = json!("Bartholomeus Kadang");
    finalize(&mut t, record(30), 1, g);
    {
        let reg = w.office.write();
        let key = pendata::bundle::hex(t.key.verifying_key().as_bytes());
        reg.enrol(t.id, &t.name, &key, now()).unwrap();
        let bytes = t.bundle(&[reg.keys.identity.to_public()]).unwrap();
        reg.import_bytes(&bytes, "t.age", now()).unwrap();
    }
    let stale = f::search(&w.office, Some(&ix), "bartholo").unwrap();
    assert!(stale.stale && stale.rows.is_empty());
    let ix = f::name_index(&w.office, |_| {}).unwrap();
    let fresh = f::search(&w.office, Some(&ix), "bartholo").unwrap();
    assert!(!fresh.stale);
    assert_eq!(fresh.rows.len(), 1);
}
