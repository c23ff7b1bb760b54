//! Work packages on the tablet, through `app::Device`: a package needing a form version this program
//! lacks, or naming another device, is refused with its reason in both languages and nothing changed;
//! a family already on the tablet is left as it is.

#![expect(clippy::unwrap_used, reason = "tests")]

use chrono::{DateTime, Duration, FixedOffset};
use pendata::app::{AppError, Device, demo};
use pendata::bundle::manifest::FormRef;
use pendata::bundle::package::{PACKAGE_FORMAT, PACKAGE_FORMAT_VERSION, Package, PackagedFamily};
use pendata::form::catalog::Catalog;
use uuid::Uuid;

fn now() -> DateTime<FixedOffset> {
    chrono::Local::now().fixed_offset()
}

struct Setup {
    _tmp: tempfile::TempDir,
    device: Device,
    keys: pendata::registry::RegistryKeys,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let reg = tmp.path().join("registry");
    pendata::registry::init(&reg, "Dinas Sosial Kaltim", now()).unwrap();
    let (device, _) = Device::init(&tmp.path().join("tablet"), "Tablet 01").unwrap();
    device.add_petugas("P001", "Dewi", "246810").unwrap();
    device
        .set_registry_key(&std::fs::read(reg.join("registry.pub")).unwrap())
        .unwrap();
    let keys = pendata::registry::load(&reg).unwrap();
    Setup {
        _tmp: tmp,
        device,
        keys,
    }
}

fn package(s: &Setup, families: Vec<PackagedFamily>, forms: Vec<FormRef>) -> Package {
    Package {
        format: PACKAGE_FORMAT.into(),
        format_version: PACKAGE_FORMAT_VERSION,
        package_id: Uuid::now_v7(),
        created_at: now(),
        registry: "Dinas Sosial Kaltim".into(),
        device: s.device.store.device().unwrap().id,
        desa: vec!["64.72.01.1001".into()],
        due: None,
        expires: now().date_naive() + Duration::days(30),
        note: None,
        forms,
        families,
    }
}

fn family(id: Uuid, version: u64) -> PackagedFamily {
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let spec = demo::FamilySpec {
        interview: now().date_naive() - Duration::days(10),
    };
    PackagedFamily {
        family: id,
        base: "cd".repeat(32),
        form_id: "keluarga".into(),
        form_version: version,
        answers: demo::family(form, &mut demo::Rng::new(3), &spec),
    }
}

fn seal(s: &Setup, p: &Package) -> Vec<u8> {
    let recipient = s.device.store.age_identity().unwrap().to_public();
    p.seal(&s.keys.signing, &recipient).unwrap()
}

fn refusal(e: AppError) -> pendata::model::Localized {
    match e {
        AppError::PackageRefused(t) => t,
        other => panic!("not a refusal: {other}"),
    }
}

#[test]
fn a_package_needing_a_form_version_this_program_lacks_is_refused_with_nothing_changed() {
    let s = setup();
    let p = package(
        &s,
        vec![family(Uuid::now_v7(), 1_999_010_101)],
        vec![FormRef {
            id: "keluarga".into(),
            version: 1_999_010_101,
        }],
    );
    let t = refusal(s.device.apply_package(&seal(&s, &p), "P001").unwrap_err());
    assert!(t.id.contains("versi 1999010101"), "{}", t.id);
    assert!(t.en.contains("version 1999010101"), "{}", t.en);
    assert!(s.device.list(None).unwrap().is_empty());
    assert!(s.device.packages().unwrap().is_empty());
}

#[test]
fn a_package_naming_another_device_is_refused_even_when_it_opens() {
    let s = setup();
    let version = Catalog::shared()
        .unwrap()
        .latest("keluarga")
        .unwrap()
        .version;
    let mut p = package(&s, vec![family(Uuid::now_v7(), version)], vec![]);
    p.device = Uuid::now_v7();
    let t = refusal(s.device.apply_package(&seal(&s, &p), "P001").unwrap_err());
    assert!(t.id.contains("perangkat lain"), "{}", t.id);
    assert!(s.device.list(None).unwrap().is_empty());
}

#[test]
fn a_family_already_on_the_tablet_is_kept_as_it_is() {
    let s = setup();
    let version = Catalog::shared()
        .unwrap()
        .latest("keluarga")
        .unwrap()
        .version;
    let mine = s
        .device
        .new_record("keluarga", "P001", serde_json::Map::new())
        .unwrap();
    let new = Uuid::now_v7();
    let p = package(
        &s,
        vec![family(mine.id, version), family(new, version)],
        vec![],
    );
    let applied = s.device.apply_package(&seal(&s, &p), "P001").unwrap();
    assert_eq!((applied.outcome.created, applied.outcome.kept), (1, 1));
    assert!(s.device.store.record(mine.id).unwrap().base.is_none());
    assert_eq!(
        s.device.store.record(new).unwrap().base.unwrap().package,
        p.package_id
    );
    let visits = s.device.visits().unwrap();
    assert_eq!(visits.len(), 1);
    assert_eq!(visits[0].id, new);
}

/// Other tools match on this field's name and codes; "found" continues into the full form, every
/// other outcome ends the visit on the visit page.
#[test]
fn the_visit_outcome_has_its_fixed_name_and_codes_and_only_found_continues() {
    use pendata::model::household::{VISIT_STATUS, visit};
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let field = form.field(VISIT_STATUS).unwrap();
    let codes: Vec<&str> = form
        .choices_of(field)
        .unwrap()
        .choices
        .iter()
        .map(|c| c.value.as_str())
        .collect();
    assert_eq!(codes, ["1", "2", "3", "4", "5", "6"]);
    assert_eq!(
        [
            visit::FOUND,
            visit::MOVED,
            visit::ALL_DECEASED,
            visit::NOT_FOUND,
            visit::REFUSED,
            visit::DUPLICATE
        ],
        ["1", "2", "3", "4", "5", "6"]
    );
    let page = |name: &str| form.pages.iter().position(|p| p.name == name).unwrap();
    let today = now().date_naive();
    let mut answers = serde_json::Map::new();
    // A new family (not from a list): no visit page, the full form.
    let ev = pendata::form::evaluate(form, &answers, today);
    assert!(!ev.page_relevant(page("blok_0")) && ev.page_relevant(page("blok_2")));
    answers.insert("id_keluarga_daftar".into(), serde_json::json!("x"));
    for code in ["1", "2", "3", "4", "5", "6"] {
        answers.insert(VISIT_STATUS.into(), serde_json::json!(code));
        let ev = pendata::form::evaluate(form, &answers, today);
        assert!(ev.page_relevant(page("blok_0")));
        assert_eq!(ev.page_relevant(page("blok_2")), code == "1", "{code}");
        assert!(!ev.page_relevant(page("blok_4")), "{code}: no result yet");
    }
}
