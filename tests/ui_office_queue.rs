//! The office's work queue screen driven as an operator would (egui_kittest, by label and role): a
//! conflict decided with a reason lands in the registry and in the audit trail with who decided; a
//! decision for a filtered set decides exactly that set; a pair of families sharing a KK and NIKs is
//! one item that one decision settles; the versions are compared answer by answer.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use chrono::{DateTime, FixedOffset, NaiveDate};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use pendata::app::demo::{self, FamilySpec, Rng};
use pendata::app::office::Office;
use pendata::app::office::queue::{self as q, About, Choice, Kind, QueueFilter};
use pendata::app::task::Wake;
use pendata::form::catalog::Catalog;
use pendata::form::{Form, evaluate};
use pendata::model::Lang;
use pendata::model::record::{Action, Answers};
use pendata::registry::synth::SynthTablet;
use pendata::registry::{self, QuarantineState, Registry, Role as OpRole};
use pendata::ui::office::queue::QueueScreen;
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
    Uuid::from_u128(0x0193_2222_0000_7000_8000_0000_0000_0000 | n)
}

const OPERATOR: &str = "Siti Rahma";
const PASS: &str = "kata-sandi-kantor-7";

/// A registry with: family 1 revised on two devices (its address differs), families 2 and 3 sharing
/// their KK number and the head's NIK (one pair, several conflicts), and four quarantined revisions
/// (families 4–6, a broken NIK each, and a broken correction of family 7). An operator is signed in.
struct World {
    _tmp: tempfile::TempDir,
    office: Office,
    names: Vec<String>,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    registry::init(&dir, "Dinas Sosial Kaltim", now()).unwrap();
    let mut reg = Registry::open(&dir).unwrap();
    let mut rng = Rng::new(18);
    let (mut t1, mut t2) = (
        SynthTablet::new(1, now() - chrono::Duration::days(8)),
        SynthTablet::new(2, now() - chrono::Duration::days(8)),
    );
    let mut names = Vec::new();
    let a = family(&mut rng);
    names.push(a["nama_kepala_keluarga"].as_str().unwrap().to_string());
    finalize(&mut t1, record(1), 1, a.clone());
    let mut a2 = a;
    a2["alamat"] = json!("Jl. Baru 2");
    t2.clock = t1.clock + chrono::Duration::hours(1);
    finalize(&mut t2, record(1), 2, a2);
    let b = family(&mut rng);
    let mut c = family(&mut rng);
    c["no_kk"] = b["no_kk"].clone();
    for k in ["nik", "jenis_kelamin", "tanggal_lahir"] {
        c["anggota"][0][k] = b["anggota"][0][k].clone();
    }
    names.push(b["nama_kepala_keluarga"].as_str().unwrap().to_string());
    names.push(c["nama_kepala_keluarga"].as_str().unwrap().to_string());
    finalize(&mut t1, record(2), 1, b);
    finalize(&mut t2, record(3), 1, c);
    for n in 4..=6 {
        let mut bad = family(&mut rng);
        bad["anggota"][0]["nik"] = json!("12345");
        names.push(bad["nama_kepala_keluarga"].as_str().unwrap().to_string());
        t1.revise(record(n), 1, Action::Finalized, bad, Vec::new());
    }
    // Family 7: accepted, then a correction with a broken NIK (held; the accepted version stays).
    let good = family(&mut rng);
    names.push(good["nama_kepala_keluarga"].as_str().unwrap().to_string());
    let mut broken = good.clone();
    finalize(&mut t1, record(7), 1, good);
    broken["anggota"][0]["nik"] = json!("12345");
    t1.revise(record(7), 2, Action::Finalized, broken, Vec::new());
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
    World {
        _tmp: tmp,
        office: Office::new(reg),
        names,
    }
}

fn harness(office: &Office) -> Harness<'static, QueueScreen> {
    let screen = QueueScreen::new(office.clone(), Wake::none());
    Harness::builder()
        .with_size([1600.0, 1000.0])
        .with_max_steps(16)
        .build_ui_state(|ui, s: &mut QueueScreen| s.ui(ui, Lang::Id), screen)
}

/// Runs frames until a node whose label holds `text` is there (background work finishes meanwhile).
fn until(h: &mut Harness<'static, QueueScreen>, text: &str) {
    for _ in 0..500 {
        h.step();
        if h.query_by_label_contains(text).is_some() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("nothing labelled {text:?} appeared");
}

fn type_into(h: &mut Harness<'static, QueueScreen>, label: &str, text: &str) {
    h.get_by_role_and_label(Role::TextInput, label).focus();
    h.run_steps(3);
    h.get_by_role_and_label(Role::TextInput, label)
        .type_text(text);
    h.run_steps(3);
}

#[test]
fn a_conflict_decided_with_a_reason_is_decided_in_the_registry_and_audited_with_who_and_why() {
    let w = world();
    let mut h = harness(&w.office);
    until(&mut h, "satu keluarga dari dua perangkat");
    h.get_by_label_contains("satu keluarga dari dua perangkat")
        .click();
    h.run_steps(3);
    // The two versions side by side: the address that differs is shown in both.
    until(&mut h, "Jl. Baru 2");
    assert!(h.query_by_label("Versi 1").is_some() && h.query_by_label("Versi 2").is_some());
    // No reason, no decision.
    assert!(h.query_by_label_contains("Tulis alasan dulu").is_some());
    type_into(&mut h, "Alasan keputusan", "alamat dicek ke desa");
    let keep = h.get_by_label("Pertahankan versi 1");
    keep.click();
    h.run_steps(3);
    until(&mut h, "1 diputuskan");

    let reg = w.office.read();
    let decided: Vec<_> = reg
        .conflicts(true)
        .unwrap()
        .into_iter()
        .filter(|c| c.members.iter().any(|m| m.record == record(1)))
        .collect();
    assert_eq!(decided.len(), 1);
    assert!(!decided[0].is_open(), "the conflict is decided");
    let audit = reg.db_audit();
    let line = audit
        .iter()
        .rev()
        .find(|a| a.action == "conflict.keep")
        .expect("an audit line for the decision");
    assert_eq!(line.actor.name(), OPERATOR);
    assert_eq!(line.reason.as_deref(), Some("alamat dicek ke desa"));
    assert!(line.objects.contains(&format!("family:{}", record(1))));
    assert_eq!(reg.session.reason, None, "the reason is not carried over");
    drop(reg);
    // The item left the queue.
    until(&mut h, "5 butir menunggu keputusan");
}

trait AuditOf {
    fn db_audit(&self) -> Vec<pendata::registry::AuditEntry>;
}

impl AuditOf for Registry {
    fn db_audit(&self) -> Vec<pendata::registry::AuditEntry> {
        use pendata::registry::storage::Storage;
        self.db.audit().unwrap()
    }
}

#[test]
fn a_decision_for_the_filtered_set_decides_exactly_that_set_each_audited() {
    let w = world();
    let mut h = harness(&w.office);
    until(&mut h, "6 butir menunggu keputusan");
    // Filter to the quarantine.
    h.get_by_role_and_label(Role::ComboBox, "Jenis").click();
    h.run_steps(3);
    h.get_by_label("Karantina").click();
    h.run_steps(3);
    until(&mut h, "4 butir menunggu keputusan");
    assert!(
        h.query_by_label_contains("satu keluarga dari dua perangkat")
            .is_none()
    );
    // Without a reason the decision for all cannot be made.
    assert!(
        h.get_by_label("Semua: tolak")
            .accesskit_node()
            .is_disabled()
    );
    type_into(
        &mut h,
        "Alasan keputusan untuk semua",
        "NIK tidak lengkap, dikembalikan",
    );
    h.get_by_label("Semua: tolak").click();
    h.run_steps(3);
    h.get_by_label("Ya, putuskan semua").click();
    h.run_steps(3);
    until(&mut h, "4 diputuskan, 0 dilewati");

    let reg = w.office.read();
    let held = reg.quarantine(true).unwrap();
    assert_eq!(held.len(), 4);
    assert!(held.iter().all(|q| q.state == QuarantineState::Rejected));
    assert_eq!(
        reg.conflicts(false).unwrap().len(),
        3,
        "conflicts untouched"
    );
    let rejects: Vec<_> = reg
        .db_audit()
        .into_iter()
        .filter(|a| a.action == "quarantine.reject")
        .collect();
    assert_eq!(rejects.len(), 4);
    assert!(rejects.iter().all(|a| a.actor.name() == OPERATOR
        && a.reason.as_deref() == Some("NIK tidak lengkap, dikembalikan")));
}

#[test]
fn a_pair_sharing_a_kk_and_niks_is_one_item_that_one_decision_settles() {
    let w = world();
    let queue = q::load(&w.office).unwrap();
    assert_eq!(queue.items.len(), 6, "{:?}", queue.items);
    let pair = queue
        .items
        .iter()
        .find(|i| matches!(i.about, About::Shared { .. }))
        .unwrap();
    assert_eq!(pair.about, About::Shared { niks: 1, kk: true });
    let q::ItemKey::Conflicts(ids) = &pair.key else {
        panic!("a conflict item")
    };
    assert_eq!(ids.len(), 2, "the KK and the NIK conflict");
    let mut names: Vec<String> = pair.sides.iter().map(|s| s.name.clone().unwrap()).collect();
    names.sort();
    let mut want = vec![w.names[1].clone(), w.names[2].clone()];
    want.sort();
    assert_eq!(names, want);
    // A reason is required.
    assert!(q::decide(&w.office, pair, Choice::Distinct, "  ", now()).is_err());
    q::decide(
        &w.office,
        pair,
        Choice::Distinct,
        "dua keluarga, KK lama",
        now(),
    )
    .unwrap();
    let reg = w.office.read();
    for id in ids {
        let c = reg
            .conflicts(true)
            .unwrap()
            .into_iter()
            .find(|c| c.id == *id)
            .unwrap();
        assert!(!c.is_open(), "conflict {id} settled by the pair's decision");
    }
    drop(reg);
    // The region filter: one desa's items only.
    let queue = q::load(&w.office).unwrap();
    let desa = queue.items[0].sides[0].desa.clone().unwrap();
    let f = QueueFilter {
        desa: Some(desa.replace('.', "")),
        ..QueueFilter::default()
    };
    let shown: Vec<_> = queue.items.iter().filter(|i| f.matches(i)).collect();
    assert!(!shown.is_empty());
    assert!(shown.iter().all(|i| {
        i.sides
            .iter()
            .any(|s| s.desa.as_deref() == Some(desa.as_str()))
    }));
    let kinds = QueueFilter {
        kind: Some(Kind::Quarantine),
        ..QueueFilter::default()
    };
    assert_eq!(queue.items.iter().filter(|i| kinds.matches(i)).count(), 4);
}

#[test]
fn the_versions_are_compared_answer_by_answer_with_labels_and_the_differences_marked() {
    let w = world();
    let queue = q::load(&w.office).unwrap();
    let two = queue
        .items
        .iter()
        .find(|i| i.about == About::TwoDevices)
        .unwrap();
    let c = q::compare(&w.office, two).unwrap();
    assert_eq!(c.made.len(), 2);
    assert!(c.made.iter().all(Option::is_some));
    let differs: Vec<&str> = c
        .rows
        .iter()
        .filter(|r| r.differs)
        .map(|r| r.label.id.as_str())
        .collect();
    let address = form().field("alamat").unwrap().label.id.clone();
    assert_eq!(differs, vec![address.as_str()], "only the address differs");
    // A held correction beside the family's accepted version: the NIK is what differs.
    let held = queue
        .items
        .iter()
        .find(|i| i.kind == Kind::Quarantine && i.sides.len() == 2)
        .unwrap();
    assert_eq!(held.sides[0].record, record(7));
    assert_eq!(held.sides[0].revision, 2);
    assert_eq!(held.sides[1].revision, 1);
    let c7 = q::compare(&w.office, held).unwrap();
    let nik = form().field("nik").unwrap().label.id.clone();
    let differs: Vec<&str> = c7
        .rows
        .iter()
        .filter(|r| r.differs)
        .map(|r| r.label.id.as_str())
        .collect();
    assert_eq!(differs, vec![format!("Anggota 1 · {nik}").as_str()]);
    // Choices read as their labels, not codes.
    let floor = form().field("jenis_lantai").unwrap();
    let row = c
        .rows
        .iter()
        .find(|r| r.label.id == floor.label.id)
        .unwrap();
    let labels: Vec<&str> = form()
        .choices_of(floor)
        .unwrap()
        .choices
        .iter()
        .map(|ch| ch.label.id.as_str())
        .collect();
    assert!(
        labels.iter().any(|l| row.values[0].starts_with(l)),
        "{:?}",
        row.values
    );
}

#[test]
fn the_registry_rejects_a_desas_quarantine_in_one_call_with_a_reason_and_refuses_without() {
    use pendata::registry::queue::Filter;
    let w = world();
    let mut reg = w.office.write();
    let views = reg.quarantine_views(false, &Filter::default()).unwrap();
    assert_eq!(views.len(), 4);
    let desa = views[0].family.desa.clone().unwrap();
    let in_desa = views
        .iter()
        .filter(|v| v.family.desa.as_deref() == Some(desa.as_str()))
        .count();
    let f = Filter {
        desa: Some(desa.clone()),
        ..Filter::default()
    };
    assert!(
        reg.decide_quarantine_all(&f, false, now()).is_err(),
        "no reason"
    );
    reg.session.reason = Some("dicek ulang".into());
    let done = reg.decide_quarantine_all(&f, false, now()).unwrap();
    assert_eq!(done.decided.len(), in_desa);
    let open = reg.quarantine(false).unwrap();
    assert_eq!(open.len(), 4 - in_desa, "only that desa's were decided");
    let audited = reg
        .db_audit()
        .into_iter()
        .filter(|a| a.action == "quarantine.reject" && a.reason.as_deref() == Some("dicek ulang"))
        .count();
    assert_eq!(audited, in_desa);
}

#[test]
fn every_text_key_of_the_queue_and_families_screens_is_in_both_languages() {
    use pendata::ui::i18n::keys;
    let id: Vec<&str> = keys(Lang::Id).collect();
    let en: Vec<&str> = keys(Lang::En).collect();
    let mut missing = Vec::new();
    for file in ["src/ui/office/queue.rs", "src/ui/office/families.rs"] {
        let src = std::fs::read_to_string(file).unwrap();
        for part in src.split('"').skip(1).step_by(2) {
            let key = part.starts_with("office.")
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
            if key && !(id.contains(&part) && en.contains(&part)) {
                missing.push(format!("{file}: {part}"));
            }
        }
    }
    assert!(missing.is_empty(), "not translated: {missing:?}");
}

/// The command line is the screen's twin: `registry quarantine DIR decide` decides a filtered set the
/// same way, with the reason required and each revision audited with who decided.
#[test]
fn the_command_line_decides_the_quarantine_of_a_filtered_set_too() {
    let World { _tmp, office, .. } = world();
    let dir = office.dir().to_path_buf();
    drop(office);
    let d = common::p(&dir);
    let env = [("PENDATA_OPERATOR_PASSPHRASE", PASS)];
    let decide = |extra: &[&str]| {
        let mut args = vec![
            "registry",
            "quarantine",
            d,
            "decide",
            "--reject",
            "--operator",
            OPERATOR,
        ];
        args.extend_from_slice(extra);
        common::run_env(None, &args, "", &env)
    };
    // Without a reason: refused, nothing decided.
    let out = decide(&[]);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(
        Registry::open(&dir)
            .unwrap()
            .quarantine(false)
            .unwrap()
            .len(),
        4
    );
    let said = common::code(&decide(&["--reason", "NIK tidak sah"]), 0);
    assert!(
        said.contains("4 quarantined revision(s) rejected"),
        "{said}"
    );
    let reg = Registry::open(&dir).unwrap();
    assert!(reg.quarantine(false).unwrap().is_empty());
    let audited = reg
        .audit_log(None)
        .unwrap()
        .into_iter()
        .filter(|a| {
            a.action == "quarantine.reject"
                && a.reason.as_deref() == Some("NIK tidak sah")
                && a.actor.name() == OPERATOR
        })
        .count();
    assert_eq!(audited, 4);
}
