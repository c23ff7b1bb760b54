//! The office app (`pendata office`) played by label and role: sign-in (good and wrong passphrases),
//! approving a device after seeing its key fingerprint, an import from a folder with its outcome in
//! words, and the dashboard's counts per kabupaten/kota.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up: a failure is the test's failure"
)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pendata::app::demo::{self, FamilySpec, Rng};
use pendata::form::catalog::Catalog;
use pendata::form::{Form, evaluate};
use pendata::model::household::KABKOTA;
use pendata::model::record::{Action, Answers};
use pendata::registry::synth::SynthTablet;
use pendata::registry::{self, DeviceState, Registry, Role as OpRole};
use pendata::ui::office::OfficeApp;
use uuid::Uuid;

const OPERATOR: &str = "Sari Wulandari";
const PASS: &str = "kantor-samarinda-1";

fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn now() -> DateTime<FixedOffset> {
    at("2026-11-28T10:00:00+08:00")
}

fn form() -> &'static Form {
    Catalog::shared().unwrap().latest("keluarga").unwrap()
}

/// A registry with one supervisor.
fn registry(tmp: &Path) -> PathBuf {
    let dir = tmp.join("registry");
    registry::init(&dir, "Dinas Sosial Kaltim", now()).unwrap();
    let reg = Registry::open(&dir).unwrap();
    reg.add_operator(OPERATOR, OpRole::Supervisor, PASS, now())
        .unwrap();
    dir
}

/// A tablet with `n` valid families finalized; returns the families' answers.
fn tablet_with(number: u64, n: usize) -> (SynthTablet, Vec<Answers>) {
    let mut t = SynthTablet::new(number, at("2026-11-20T08:00:00+08:00"));
    let mut rng = Rng::new(number);
    let mut made = Vec::new();
    for i in 0..n {
        let spec = FamilySpec {
            interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        };
        let answers = demo::family(form(), &mut rng, &spec);
        let day = (t.clock + chrono::Duration::minutes(3)).date_naive();
        let ack = evaluate(form(), &answers, day)
            .warnings()
            .map(|w| format!("{} {}", w.path, w.code))
            .collect();
        let record = Uuid::from_u128(
            0x0193_1111_0000_7000_8000_0000_0000_0000 | (u128::from(number) << 32) | i as u128,
        );
        t.revise(record, 2, Action::Finalized, answers.clone(), ack);
        made.push(answers);
    }
    (t, made)
}

fn harness(dir: &Path) -> Harness<'static, OfficeApp> {
    let app = OfficeApp::new(Some(dir));
    Harness::builder()
        .with_size([1280.0, 800.0])
        .with_max_steps(96)
        .build_ui_state(|ui, app: &mut OfficeApp| app.ui(ui), app)
}

fn type_into(h: &mut Harness<'_, OfficeApp>, role: Role, label: &str, text: &str) {
    h.get_by_role_and_label(role, label).focus();
    h.run_steps(3);
    h.get_by_role_and_label(role, label).type_text(text);
    h.run_steps(3);
}

fn sign_in(h: &mut Harness<'_, OfficeApp>, pass: &str) {
    h.run_steps(3);
    sign_in_again(h, OPERATOR, pass);
}

/// Types `name` (added to what the field holds) and the passphrase, and signs in.
fn sign_in_again(h: &mut Harness<'_, OfficeApp>, name: &str, pass: &str) {
    if !name.is_empty() {
        type_into(h, Role::TextInput, "Nama operator", name);
    }
    type_into(h, Role::PasswordInput, "Kata sandi", pass);
    h.get_by_label("Masuk").click();
    h.run_steps(3);
    h.state_mut().wait();
    h.run_steps(3);
}

/// Runs frames, waiting for the screens' background work between them.
fn settle(h: &mut Harness<'_, OfficeApp>) {
    // Steps, not `run`: a spinner repaints until a reading is in, however slow the machine is.
    for _ in 0..3 {
        h.run_steps(3);
        h.state_mut().wait();
    }
    h.run_steps(3);
}

#[test]
fn an_operator_signs_in_with_the_right_passphrase_and_is_told_a_wrong_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = registry(tmp.path());
    let mut h = harness(&dir);
    sign_in(&mut h, "salah-sekali-123");
    assert!(
        h.query_by_label("Nama operator atau kata sandi salah. Coba lagi.")
            .is_some(),
        "a wrong passphrase is said"
    );
    assert!(h.query_by_label("Dasbor").is_none(), "not signed in");
    // The name stays; the passphrase is typed again.
    sign_in_again(&mut h, "", PASS);
    assert!(h.query_by_label_contains(OPERATOR).is_some());
    assert!(h.query_by_label("Dasbor per kabupaten/kota").is_some());
    // Sign-out: the sign-in screen again, nothing of the registry on screen.
    h.get_by_label("Keluar").click();
    h.run_steps(3);
    assert!(h.query_by_label("Masuk operator").is_some());
    assert!(h.query_by_label("Dasbor").is_none());
}

#[test]
fn a_registry_under_a_passphrase_asks_for_it_first_and_says_a_wrong_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = registry(tmp.path());
    // Protected through the command line with a light work factor (test builds only): the shipped one
    // costs seconds per opening.
    common::code(
        &common::run_env(
            None,
            &[
                "registry",
                "protect",
                common::p(&dir),
                "--passphrase-stdin",
                "--operator",
                OPERATOR,
            ],
            "kunci-registri-99\n",
            &[
                ("PENDATA_TEST_SCRYPT_LOG_N", "10"),
                ("PENDATA_OPERATOR_PASSPHRASE", PASS),
            ],
        ),
        0,
    );
    assert!(registry::is_protected(&dir));
    let mut h = harness(&dir);
    h.run_steps(3);
    assert!(h.query_by_label("Kunci registri").is_some());
    type_into(
        &mut h,
        Role::PasswordInput,
        "Kata sandi registri",
        "bukan-ini-123",
    );
    h.get_by_label("Buka kunci").click();
    h.run_steps(3);
    assert!(
        h.query_by_label("Kata sandi registri salah. Coba lagi.")
            .is_some()
    );
    type_into(
        &mut h,
        Role::PasswordInput,
        "Kata sandi registri",
        "kunci-registri-99",
    );
    h.get_by_label("Buka kunci").click();
    h.run_steps(3);
    assert!(
        h.query_by_label("Masuk operator").is_some(),
        "the keys opened"
    );
}

#[test]
fn a_device_is_approved_after_its_fingerprint_is_shown_and_the_decision_names_the_operator() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = registry(tmp.path());
    let (mut t, _) = tablet_with(7, 3);
    {
        let reg = Registry::open(&dir).unwrap();
        let bytes = t.bundle(&[reg.keys.identity.to_public()]).unwrap();
        let held = reg.import_bytes(&bytes, "b.age", now()).unwrap();
        assert!(matches!(held, registry::FileOutcome::Held { .. }));
    }
    let fingerprint = pendata::bundle::keys::key_fingerprint(&pendata::bundle::hex(
        t.key.verifying_key().as_bytes(),
    ));
    let mut h = harness(&dir);
    sign_in(&mut h, PASS);
    h.get_by_label("Perangkat").click();
    settle(&mut h);
    assert!(h.query_by_label("Menunggu persetujuan").is_some());
    let row = format!("Tablet 0007 ({})", pendata::bundle::short(t.id));
    h.get_by_label(&row).click();
    settle(&mut h);
    // The fingerprint is on screen (in the list and large in the opened device).
    assert!(
        h.query_all_by_label(&fingerprint).count() >= 2,
        "the fingerprint is shown"
    );
    type_into(
        &mut h,
        Role::TextInput,
        "Alasan (dicatat)",
        "sidik kunci cocok",
    );
    h.get_by_label("Setujui").click();
    settle(&mut h);
    assert!(
        h.query_by_label("Perangkat disetujui; 1 berkas yang ditahan digabung.")
            .is_some()
    );
    let office = h.state().office().unwrap().clone();
    let reg = office.read();
    let d = reg.find_device(&t.id.simple().to_string()).unwrap();
    assert_eq!(d.state, DeviceState::Approved);
    let log = reg.audit_log(None).unwrap();
    let approve = log
        .iter()
        .find(|e| e.action == "device.approve")
        .expect("an audit entry for the approval");
    assert_eq!(approve.actor.name(), OPERATOR);
    assert_eq!(approve.reason.as_deref(), Some("sidik kunci cocok"));
    // The held bundle merged now is an import run: the reports' data cut-off moves to it.
    let runs = reg.imports().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].bundles, 1);
    assert_eq!(runs[0].merged.accepted, 3, "{runs:?}");
}

/// A registry, and a folder (a stick) holding a bundle of `n` families from a tablet it does not know.
fn a_folder(tmp: &Path, n: usize) -> (PathBuf, PathBuf, Vec<Answers>) {
    let dir = registry(tmp);
    let (mut t, made) = tablet_with(3, n);
    let folder = tmp.join("stick");
    std::fs::create_dir_all(&folder).unwrap();
    {
        let reg = Registry::open(&dir).unwrap();
        let bytes = t.bundle(&[reg.keys.identity.to_public()]).unwrap();
        std::fs::write(folder.join(t.file_name(1, t.seq)), bytes).unwrap();
    }
    (dir, folder, made)
}

#[test]
fn an_import_from_a_folder_says_its_outcome_in_words_and_links_to_devices() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, folder, _) = a_folder(tmp.path(), 4);
    let mut h = harness(&dir);
    sign_in(&mut h, PASS);
    h.get_by_label("Impor").click();
    h.run_steps(3);
    type_into(
        &mut h,
        Role::TextInput,
        "Folder",
        &folder.display().to_string(),
    );
    h.get_by_label("Impor dari folder").click();
    settle(&mut h);
    // The tablet is not approved yet: its bundle is held, and the outcome leads to Devices.
    assert!(h
        .query_by_label(
            "1 berkas: 0 digabung, 0 sudah diimpor, 1 ditahan, 0 ditolak; 0 revisi diterima, 0 karantina, 0 konflik baru."
        )
        .is_some());
    assert!(
        h.query_by_label("1 perangkat menunggu persetujuan (berkasnya ditahan).")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("[1/1]").is_some(),
        "a line per file"
    );
    h.get_by_label("Buka Perangkat").click();
    settle(&mut h);
    assert!(h.query_by_label("Menunggu persetujuan").is_some());
    // The import is in the audit trail under the operator's name.
    let office = h.state().office().unwrap().clone();
    let log = office.read().audit_log(None).unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "import" && e.actor.name() == OPERATOR)
    );
}

#[test]
fn the_dashboard_shows_the_families_per_kabupaten() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = registry(tmp.path());
    let (mut t, made) = tablet_with(5, 12);
    {
        let mut reg = Registry::open(&dir).unwrap();
        reg.session.actor = Some(reg.sign_in(OPERATOR, PASS).unwrap());
        let bytes = t.bundle(&[reg.keys.identity.to_public()]).unwrap();
        reg.import_bytes(&bytes, "b.age", now()).unwrap();
        reg.approve(&t.id.simple().to_string(), now()).unwrap();
    }
    // Expected: families per kabupaten/kota name, from the answers made.
    let labels: BTreeMap<String, String> = form()
        .field(KABKOTA)
        .and_then(|f| form().choices_of(f))
        .unwrap()
        .choices
        .iter()
        .map(|c| (c.value.clone(), c.label.id.clone()))
        .collect();
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for a in &made {
        let code = a.get(KABKOTA).and_then(|v| v.as_str()).unwrap().to_string();
        *want.entry(labels[&code].clone()).or_default() += 1;
    }
    let mut h = harness(&dir);
    sign_in(&mut h, PASS);
    settle(&mut h);
    assert!(
        h.query_by_label_contains("data s.d.").is_some(),
        "the cut-off is shown"
    );
    assert!(h.query_by_label("Jumlah").is_some());
    assert!(
        h.query_all_by_label("12").next().is_some(),
        "the province's total"
    );
    for (name, n) in &want {
        // The kabupaten's row: its button, and on the same line its families and accepted counts.
        let row = h.get_by_role_and_label(Role::Button, name).rect();
        let on_row = h
            .query_all_by_label(&n.to_string())
            .filter(|l| (l.rect().center().y - row.center().y).abs() < 4.0)
            .count();
        assert_eq!(on_row, 2, "{name}: {n} families, {n} accepted on its row");
    }
    // A tap opens the kabupaten's kecamatan.
    let (first, n) = want.iter().next().unwrap();
    h.get_by_role_and_label(Role::Button, first).click();
    settle(&mut h);
    assert!(h.query_by_label("Semua kabupaten/kota").is_some());
    assert!(h.query_all_by_label(&n.to_string()).next().is_some());
}

#[test]
fn every_office_text_key_exists_in_both_languages() {
    use pendata::model::Lang;
    use pendata::ui::i18n::keys;
    let id: Vec<&str> = keys(Lang::Id).collect();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir("src/ui/office").unwrap() {
        let file = entry.unwrap().path();
        let src = std::fs::read_to_string(&file).unwrap();
        for part in src.split('"').skip(1).step_by(2) {
            let key = part.starts_with("office.")
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
            if key && !id.contains(&part) {
                missing.push(format!("{}: {part}", file.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "office keys not translated: {missing:?}"
    );
    assert_eq!(id, keys(Lang::En).collect::<Vec<_>>());
}

#[test]
fn registry_init_records_the_registry_the_office_then_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let known = tmp.path().join("known.txt");
    let dir = tmp.path().join("registry-kaltim");
    let env = [("PENDATA_OFFICE_REGISTRIES", common::p(&known))];
    let out = common::run_env(None, &["registry", "init", common::p(&dir)], "", &env);
    common::code(&out, 0);
    let list = std::fs::read_to_string(&known).unwrap();
    let first = list.lines().next().unwrap();
    assert_eq!(Path::new(first), std::fs::canonicalize(&dir).unwrap());
}

/// Reports → "Ekspor CSV" writes the families' table into the folder given, said in words; the export
/// tells its progress as families read of the registry's families, ending at all of them.
#[test]
fn the_csv_export_writes_every_family_and_tells_its_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = registry(tmp.path());
    let (mut t, _) = tablet_with(6, 9);
    {
        let mut reg = Registry::open(&dir).unwrap();
        reg.session.actor = Some(reg.sign_in(OPERATOR, PASS).unwrap());
        let bytes = t.bundle(&[reg.keys.identity.to_public()]).unwrap();
        reg.import_bytes(&bytes, "b.age", now()).unwrap();
        reg.approve(&t.id.simple().to_string(), now()).unwrap();
    }
    let out = tmp.path().join("ekspor");
    std::fs::create_dir_all(&out).unwrap();
    let mut h = harness(&dir);
    sign_in(&mut h, PASS);
    h.get_by_label("Laporan").click();
    settle(&mut h);
    let field = h.get_by_role_and_label(Role::TextInput, "Simpan ke folder");
    field.focus();
    h.run_steps(3);
    h.key_combination_modifiers(egui::Modifiers::COMMAND, &[egui::Key::A]);
    h.run_steps(2);
    h.get_by_role_and_label(Role::TextInput, "Simpan ke folder")
        .type_text(out.to_str().unwrap());
    h.run_steps(3);
    h.get_by_label("Ekspor CSV").click();
    settle(&mut h);
    assert!(
        h.query_all_by_label_contains("Ditulis: ").count() >= 2,
        "each file written is said"
    );
    let family_table = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with("keluarga-")
                && name.matches(".csv").count() == 1
                && !name.contains("-anggota")
        })
        .expect("the family table");
    let text = std::fs::read_to_string(&family_table).unwrap();
    assert_eq!(text.lines().count(), 1 + 9, "a header and 9 families");

    let office = h.state().office().unwrap().clone();
    let mut heard = Vec::new();
    let again = tmp.path().join("lagi");
    std::fs::create_dir_all(&again).unwrap();
    pendata::app::office::outputs::export(
        &office,
        pendata::app::office::outputs::Format::Xlsx,
        &again,
        now(),
        &mut |done, of| heard.push((done, of)),
    )
    .unwrap();
    assert_eq!(heard.first(), Some(&(0, 9)), "{heard:?}");
    assert_eq!(heard.last(), Some(&(9, 9)), "{heard:?}");
    assert!(heard.windows(2).all(|w| w[0].0 <= w[1].0), "{heard:?}");
}
