//! The Proposals screen ("Usulan") of the office, played by label and role through the whole chain: a
//! kabupaten/kota's operator endorses the accepted families with the minutes' reference and date and
//! forwards them to a folder; the province imports the upward bundle and returns the kabupaten's
//! proposals with a reason, which the registry then reports.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use common::{code, p, run};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use pendata::ui::office::OfficeApp;

fn harness(dir: &Path) -> Harness<'static, OfficeApp> {
    let app = OfficeApp::new(Some(dir));
    let mut h = Harness::builder()
        .with_size([1920.0, 1080.0])
        .with_max_steps(96)
        .build_ui_state(|ui, app: &mut OfficeApp| app.ui(ui), app);
    h.run_steps(3);
    // No operators: the office continues under the computer's account.
    h.get_by_label("Lanjut").click();
    h.run_steps(3);
    h.state_mut().wait();
    h.get_by_label("Usulan").click();
    h.run_steps(3);
    h.state_mut().wait();
    h.run_steps(3);
    h
}

fn type_into(h: &mut Harness<'_, OfficeApp>, label: &str, text: &str) {
    h.get_by_role_and_label(Role::TextInput, label).focus();
    h.run_steps(2);
    h.get_by_role_and_label(Role::TextInput, label)
        .type_text(text);
    h.run_steps(2);
}

fn click_and_wait(h: &mut Harness<'_, OfficeApp>, label: &str) {
    h.get_by_label(label).click();
    h.run_steps(2);
    h.state_mut().wait();
    h.run_steps(3);
    h.state_mut().wait();
    h.run_steps(3);
}

/// The families a kabupaten endorsed: accepted ones on their current revision.
fn accepted(reg: &Path) -> u64 {
    let s = common::text(&run(None, &["registry", "status", p(reg), "--json"], "").stdout);
    let v: serde_json::Value = serde_json::from_str(&s[..s.rfind('}').unwrap() + 1]).unwrap();
    v["by_state"]["accepted"]
        .as_u64()
        .unwrap_or_else(|| panic!("no accepted families in {v}"))
}

#[test]
fn a_kabupaten_endorses_and_forwards_on_screen_and_the_province_returns_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let prov = t.join("kaltim");
    common::demo_registry(&prov, "provinsi", "64");
    let kab = t.join("kukar");
    common::demo_registry(&kab, "kabupaten", "64.02");
    let tab = t.join("tablet");
    common::demo_tablet(&tab, &kab.join("registry.pub"), "Tablet 01", "40");
    common::sync_to(&tab, &kab, &t.join("stick"));
    let prov_pub = prov.join("registry.pub");
    let upstream = ["registry", "upstream", "set", p(&kab), p(&prov_pub)];
    code(&run(None, &upstream, ""), 0);
    let n = accepted(&kab);
    assert!(n > 0);

    // The kabupaten's office: pengesahan with the minutes, then forwarding to a stick.
    let mut h = harness(&kab);
    assert!(
        h.query_by_label_contains(&format!("{n} keluarga diterima menunggu pengesahan"))
            .is_some()
    );
    type_into(&mut h, "Nomor berita acara", "BA/07/MD/2026");
    type_into(&mut h, "Tanggal musyawarah (hh-bb-tttt)", "30-11-2026");
    click_and_wait(&mut h, &format!("Sahkan {n} keluarga"));
    assert!(
        h.query_by_label(&format!(
            "{n} keluarga disahkan (berita acara BA/07/MD/2026)"
        ))
        .is_some()
    );
    assert!(
        h.query_by_label_contains(&format!("{n} disahkan"))
            .is_some()
    );
    let up = t.join("up");
    std::fs::create_dir_all(&up).unwrap();
    type_into(&mut h, "Folder tujuan (flashdisk)", p(&up));
    click_and_wait(&mut h, "Teruskan yang disahkan sejak terakhir");
    assert!(
        h.query_by_label_contains(&format!("{n} keluarga diteruskan ke provinsi"))
            .is_some()
    );
    drop(h);
    let log = code(&run(None, &["registry", "log", p(&kab)], ""), 0);
    assert!(
        log.contains("BA/07/MD/2026") || log.contains("endorse"),
        "{log}"
    );

    // The province imports it, approves the kabupaten after comparing, imports again.
    let _ = run(None, &["registry", "import", p(&prov), p(&up)], "");
    common::approve_pending(&prov);
    code(&run(None, &["registry", "import", p(&prov), p(&up)], ""), 0);

    // The province's office returns the kabupaten's proposals with a reason.
    let mut h = harness(&prov);
    assert!(h.query_by_label("64.02").is_some(), "the kabupaten's row");
    assert!(h.query_by_label("Kembalikan (64.02)").is_some());
    type_into(&mut h, "Alasan", "KK belum padan Dukcapil");
    click_and_wait(&mut h, "Kembalikan (64.02)");
    assert!(
        h.query_by_label(&format!("{n} usulan dari 64.02 dikembalikan dengan alasan"))
            .is_some()
    );
    // The screen shows the course per month: the lines and their figures.
    assert!(h.query_by_label("Perjalanan usulan per bulan").is_some());
    assert!(h.query_by_label("Per bulan: 64.02").is_some());
    // A figure of the course: the plot's legend of its line and the column of the table below it
    // (and the column of the proposals' table above, for the figures it has).
    assert_eq!(h.query_all_by_label("Menunggu (akhir bulan)").count(), 2);
    for figure in ["Diterima dari kab/kota", "Dikembalikan", "Ditarik"] {
        assert_eq!(h.query_all_by_label(figure).count(), 3, "{figure}");
    }
    drop(h);
    let out = code(
        &run(None, &["registry", "proposals", p(&prov), "--json"], ""),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&out[..out.rfind('}').unwrap() + 1]).unwrap();
    let row = v["kabupaten"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kabkota"] == "64.02")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(row["returned"].as_u64(), Some(n), "{out}");
    assert_eq!(row["waiting"].as_u64(), Some(0), "{out}");
    // The months on screen are the report's.
    let month = v["months"][0].as_str().unwrap();
    assert_eq!(row["months"][0]["returned"].as_u64(), Some(n), "{out}");
    let mut h = harness(&prov);
    assert!(h.query_by_label(month).is_some(), "the month {month}");
    // The Devices screen names the region the kabupaten/kota registry was enrolled for.
    h.get_by_label("Perangkat").click();
    h.run_steps(3);
    h.state_mut().wait();
    h.run_steps(3);
    assert!(h.query_by_label("Wilayah 64.02").is_some());
}

/// At a kabupaten the office holds one desa's families back with a reason and endorses another desa's,
/// each decision on exactly that desa's families and recorded with who decided.
#[test]
fn a_kabupaten_holds_one_desa_back_with_a_reason_and_endorses_another_on_screen() {
    use pendata::registry::{Endorsement, Registry};
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let kab = t.join("kukar");
    common::demo_registry(&kab, "kabupaten", "64.02");
    let tab = t.join("tablet");
    let key = kab.join("registry.pub");
    common::demo_tablet_in(&tab, &key, "Tablet 01", "30", Some("64.02"));
    common::sync_to(&tab, &kab, &t.join("stick"));
    // The families per desa, as the registry holds them.
    let mut per_desa: std::collections::BTreeMap<String, Vec<uuid::Uuid>> = Default::default();
    Registry::open(&kab)
        .unwrap()
        .family_entries(|f| {
            let desa = f.facts.as_ref().and_then(|x| x.desa.clone()).unwrap();
            per_desa.entry(desa).or_default().push(f.family.record);
        })
        .unwrap();
    assert!(per_desa.len() >= 2, "{per_desa:?}");
    let mut desa = per_desa.keys().cloned();
    let (held, endorsed) = (desa.next().unwrap(), desa.next().unwrap());

    let mut h = harness(&kab);
    type_into(
        &mut h,
        "Kode desa/kelurahan (kosong: semua yang menunggu)",
        &held,
    );
    // Holding needs a reason: the button waits for it.
    let hold = format!("Tahan keluarga desa {held}");
    assert!(h.get_by_label(&hold).accesskit_node().is_disabled());
    type_into(
        &mut h,
        "Alasan penahanan (dicatat)",
        "berita acara belum ditandatangani",
    );
    click_and_wait(&mut h, &hold);
    let n = per_desa[&held].len();
    assert!(
        h.query_by_label(&format!(
            "{n} keluarga desa {held} ditahan: berita acara belum ditandatangani"
        ))
        .is_some()
    );
    // The other desa, endorsed with the minutes.
    h.get_by_role_and_label(
        Role::TextInput,
        "Kode desa/kelurahan (kosong: semua yang menunggu)",
    )
    .focus();
    h.run_steps(2);
    h.key_combination_modifiers(egui::Modifiers::COMMAND, &[egui::Key::A]);
    h.run_steps(2);
    type_into(
        &mut h,
        "Kode desa/kelurahan (kosong: semua yang menunggu)",
        &endorsed,
    );
    type_into(&mut h, "Nomor berita acara", "BA/09/MD/2026");
    type_into(&mut h, "Tanggal musyawarah (hh-bb-tttt)", "01-12-2026");
    click_and_wait(&mut h, &format!("Sahkan keluarga desa {endorsed}"));
    let m = per_desa[&endorsed].len();
    assert!(
        h.query_by_label(&format!(
            "{m} keluarga disahkan (berita acara BA/09/MD/2026)"
        ))
        .is_some()
    );
    drop(h);

    let decisions = Registry::open(&kab).unwrap().endorsements().unwrap();
    assert_eq!(decisions.len(), n + m, "only those two desa: {decisions:?}");
    for e in &decisions {
        match &e.decision {
            Endorsement::Held { reason, .. } => {
                assert!(per_desa[&held].contains(&e.record));
                assert_eq!(reason, "berita acara belum ditandatangani");
            }
            Endorsement::Endorsed { minutes, .. } => {
                assert!(per_desa[&endorsed].contains(&e.record));
                assert_eq!(minutes, "BA/09/MD/2026");
            }
        }
        assert!(!e.actor.name().is_empty(), "who decided is recorded");
    }
}
