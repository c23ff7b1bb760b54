//! Sync bundles end to end through the public API: export → decrypt and verify → the same revisions byte
//! for byte; corrections; receipts; purge; a writer that fails at every step; and bad bundles of every
//! kind, each refused with its reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use pendata::app::sync::{ExportOutcome, Exported, Selection, Stage};
use pendata::app::{Device, demo};
use pendata::bundle::manifest::SeqRange;
use pendata::bundle::read::{self, Item};
use pendata::bundle::receipt::{Receipt, Rejection};
use pendata::bundle::write::{DirTarget, Target, TargetFile};
use pendata::bundle::{BundleError, read::Verified};
use pendata::model::Localized;
use pendata::registry::{self, RegistryKeys};
use pendata::store::{ListFilter, Status};
use serde_json::{Map, json};
use uuid::Uuid;

pub struct Setup {
    pub _tmp: tempfile::TempDir,
    pub device: Device,
    pub keys: RegistryKeys,
    pub stick: PathBuf,
}

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::Local::now().fixed_offset()
}

/// A tablet with `families` demo families (about a fifth drafts), one photo, and the registry's key.
fn setup(families: usize) -> Setup {
    setup_with(families, |_| {})
}

/// [`setup`], with `first` done to the new tablet before its families are made.
fn setup_with(families: usize, first: impl FnOnce(&Device)) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let (device, _) = Device::init(&tmp.path().join("tablet"), "Tablet Samarinda 01").unwrap();
    first(&device);
    device.add_petugas("P001", "Siti", "246810").unwrap();
    demo::fill(&device, "P001", families, 7, 20).unwrap();
    let reg = tmp.path().join("registry");
    registry::init(&reg, "Dinas Sosial Kaltim", now()).unwrap();
    let keys = registry::load(&reg).unwrap();
    device
        .set_registry_key(&std::fs::read(reg.join("registry.pub")).unwrap())
        .unwrap();
    let stick = tmp.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    Setup {
        _tmp: tmp,
        device,
        keys,
        stick,
    }
}

fn export(s: &Setup, sel: Selection) -> Exported {
    match s
        .device
        .export(&s.stick, sel, "P001", &mut |_, _| {})
        .unwrap()
    {
        ExportOutcome::Written(e) => *e,
        ExportOutcome::Nothing { from, to } => panic!("nothing exported ({from}..{to})"),
    }
}

type Opened = (Verified, Vec<Vec<u8>>, Vec<String>);

/// Reads a bundle with the registry's key: the verdict, the raw revision lines and the attachments.
fn open(bytes: &[u8], keys: &RegistryKeys) -> Result<Opened, BundleError> {
    let mut lines = Vec::new();
    let mut photos = Vec::new();
    let v = read::read(bytes, std::slice::from_ref(&keys.identity), |item| {
        match item {
            Item::Revision { raw, .. } => lines.push(raw.to_vec()),
            Item::Attachment { sha256, .. } => photos.push(sha256.to_string()),
            // Only with `Limits::report_bad_lines`, which `read` leaves off.
            Item::Unreadable { .. } => unreachable!("read refuses bad lines"),
        }
        Ok(())
    })?;
    Ok((v, lines, photos))
}

fn status_counts(d: &Device) -> BTreeMap<Status, usize> {
    let mut m = BTreeMap::new();
    for h in d.list(None).unwrap() {
        *m.entry(h.status).or_default() += 1;
    }
    m
}

fn attach_photo(s: &Setup) -> (Uuid, String) {
    let photo = s._tmp.path().join("rumah.jpg");
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..5000u32).map(|i| (i * 7 % 251) as u8));
    std::fs::write(&photo, &bytes).unwrap();
    let hash = s.device.attach_file(&photo).unwrap();
    let head = s
        .device
        .list(Some(Status::Draft))
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let mut patch = Map::new();
    patch.insert("foto_depan".into(), json!(hash));
    s.device.set_answers(head.id, "P001", patch, None).unwrap();
    let today = now().date_naive();
    s.device.finalize(head.id, "P001", true, today).unwrap();
    (head.id, hash)
}

#[test]
fn an_export_round_trips_byte_for_byte_and_marks_only_what_it_carried() {
    let s = setup(40);
    let (photo_family, hash) = attach_photo(&s);
    let before = status_counts(&s.device);
    let finals = before[&Status::Final];
    let drafts = before[&Status::Draft];

    let e = export(&s, Selection::SinceLast);
    assert_eq!(e.from, 1);
    assert_eq!(e.to, s.device.store.last_seq().unwrap());
    assert_eq!(e.families as usize, finals);
    assert_eq!(e.attachments, 1);
    assert!(e.path.exists());
    assert_eq!(pendata::bundle::parse_file_name(&e.file).unwrap().from, 1);
    // No temporary file is left next to it.
    let names: Vec<_> = std::fs::read_dir(&s.stick)
        .unwrap()
        .map(|d| d.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    let bytes = std::fs::read(&e.path).unwrap();
    let (v, lines, photos) = open(&bytes, &s.keys).unwrap();
    assert_eq!(v.manifest.counts.records as usize, finals);
    assert_eq!(v.manifest.counts.revisions, lines.len() as u64);
    assert_eq!(v.manifest.petugas, vec!["P001".to_string()]);
    assert_eq!(photos, vec![hash.clone()]);
    // Each line is exactly the stored revision: the finalized one of every final family.
    let mut expected = Vec::new();
    for h in s.device.list(None).unwrap() {
        for r in s.device.store.history(h.id).unwrap() {
            if r.action == pendata::store::Action::Finalized {
                expected.push((r.seq, serde_json::to_vec(&r).unwrap()));
            }
        }
    }
    expected.sort();
    let expected: Vec<Vec<u8>> = expected.into_iter().map(|(_, b)| b).collect();
    assert_eq!(lines, expected);

    let after = status_counts(&s.device);
    assert_eq!(after.get(&Status::Exported), Some(&finals));
    assert_eq!(after.get(&Status::Draft), Some(&drafts));
    assert_eq!(after.get(&Status::Final), None);
    assert_eq!(
        s.device.record(photo_family).unwrap().0.status,
        Status::Exported
    );
    assert_eq!(s.device.exports().unwrap()[0].file, e.file);

    // Nothing new: no file, nothing changes.
    let again = s
        .device
        .export(&s.stick, Selection::SinceLast, "P001", &mut |_, _| {})
        .unwrap();
    assert!(matches!(again, ExportOutcome::Nothing { .. }), "{again:?}");
    assert_eq!(std::fs::read_dir(&s.stick).unwrap().count(), 1);
}

#[test]
fn a_correction_travels_with_its_reason_and_ranges_stay_contiguous() {
    let s = setup(12);
    let first = export(&s, Selection::SinceLast);
    let exported = s.device.list(Some(Status::Exported)).unwrap();
    let fam = exported[0].id;
    let (_, answers) = s.device.record(fam).unwrap();
    let mut changed = answers.clone();
    changed.insert("alamat".into(), json!("Jl. Pahlawan No. 9 (diperbaiki)"));
    s.device
        .save(fam, "P001", changed, Some("alamat salah ketik"))
        .unwrap();
    // A draft made after the first export stays behind.
    s.device.new_record("keluarga", "P001", Map::new()).unwrap();
    s.device
        .finalize(fam, "P001", true, now().date_naive())
        .unwrap();

    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = export(&s, Selection::SinceLast);
    assert_eq!(second.from, first.to + 1, "ranges are contiguous");
    assert_eq!(second.families, 1);
    assert_eq!(
        second.revisions, 2,
        "the correction and the new final revision"
    );
    let (_, lines, _) = open(&std::fs::read(&second.path).unwrap(), &s.keys).unwrap();
    let revs: Vec<pendata::store::Revision> = lines
        .iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(revs[0].action, pendata::store::Action::Corrected);
    assert_eq!(revs[0].reason.as_deref(), Some("alamat salah ketik"));
    assert_eq!(revs[1].action, pendata::store::Action::Finalized);
    assert_eq!(s.device.record(fam).unwrap().0.status, Status::Exported);

    // The first range again (a lost stick): same revisions, statuses stay, the watermark does not move.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let redo = export(&s, Selection::Range(first.from, first.to));
    assert_eq!(redo.revisions, first.revisions);
    assert_eq!(redo.marked.exported, 0);
    assert_eq!(s.device.store.export_watermark().unwrap(), second.to);
}

#[test]
fn exports_are_kept_apart_from_the_heads_and_read_as_before() {
    let mut s = setup(20);
    let finals = status_counts(&s.device)[&Status::Final];
    let first = export(&s, Selection::SinceLast);
    assert_eq!(first.marked.exported as usize, finals);
    let fam = s.device.list(Some(Status::Exported)).unwrap()[0].id;

    // The head reads Exported, with the export among its events; the list index and counts agree.
    let head = s.device.record(fam).unwrap().0;
    assert_eq!(head.status, Status::Exported);
    let exports: Vec<_> = head
        .events
        .iter()
        .filter(|e| e.status == Status::Exported)
        .collect();
    assert_eq!(exports.len(), 1);
    assert_eq!(exports[0].by.as_deref(), Some(first.file.as_str()));
    let view = s
        .device
        .store
        .list_view(ListFilter {
            status: Some(Status::Exported),
            desa: String::new(),
        })
        .unwrap();
    assert_eq!(view.len(), finals);
    assert_eq!(s.device.store.counts().unwrap().exported, finals);
    assert_eq!(s.device.store.check().unwrap(), Vec::<String>::new());

    // The same range again (a lost stick): every record counted as exported again, a second event.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let redo = export(&s, Selection::Range(first.from, first.to));
    assert_eq!(redo.marked.exported, 0);
    assert_eq!(redo.marked.again as usize, finals);
    let events = s.device.record(fam).unwrap().0.events;
    assert_eq!(events.len(), 2);
    assert!(events[0].at <= events[1].at, "events in time order");
    assert_eq!(events[1].by.as_deref(), Some(redo.file.as_str()));

    // A correction makes a draft; finalized again it is Final (its earlier export does not count for
    // the new revision) until the next export carries it.
    let (_, answers) = s.device.record(fam).unwrap();
    s.device
        .save(fam, "P001", answers, Some("cek ulang"))
        .unwrap();
    assert_eq!(s.device.record(fam).unwrap().0.status, Status::Draft);
    s.device
        .finalize(fam, "P001", true, now().date_naive())
        .unwrap();
    assert_eq!(s.device.record(fam).unwrap().0.status, Status::Final);
    assert_eq!(s.device.store.counts().unwrap().final_, 1);
    assert_eq!(s.device.store.check().unwrap(), Vec::<String>::new());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = export(&s, Selection::SinceLast);
    assert_eq!(second.marked.exported, 1);
    assert_eq!(s.device.record(fam).unwrap().0.status, Status::Exported);

    // A store reopened reads the same.
    let dir = s.device.store.path().parent().unwrap().to_path_buf();
    drop(s.device);
    s.device = Device::open(&dir, pendata::store::Unlock::Secret("246810")).unwrap();
    assert_eq!(s.device.record(fam).unwrap().0.status, Status::Exported);
    assert_eq!(s.device.store.counts().unwrap().exported, finals);
    assert_eq!(s.device.store.check().unwrap(), Vec::<String>::new());
}

#[test]
fn receipts_accept_and_reject_with_reasons_once() {
    let mut s = setup(15);
    let e = export(&s, Selection::SinceLast);
    let (_, lines, _) = open(&std::fs::read(&e.path).unwrap(), &s.keys).unwrap();
    let bad: pendata::store::Revision = serde_json::from_slice(&lines[2]).unwrap();
    let device = s.device.store.device().unwrap();
    let receipt = Receipt::new(
        &s.keys.public.name,
        device.id,
        now(),
        vec![SeqRange {
            from: e.from,
            to: e.to,
        }],
        vec![Rejection {
            record: bad.record,
            revision: bad.number,
            seq: bad.seq,
            reasons: vec![Localized::new(
                "NIK kepala keluarga terdaftar di keluarga lain",
                "the head's NIK is registered in another family",
            )],
        }],
    );
    let file = receipt.sign(&s.keys.signing);
    let (_, out, first) = s.device.apply_receipt(&file).unwrap();
    assert!(first);
    assert_eq!(out.rejected, 1);
    assert_eq!(out.accepted as usize, lines.len() - 1);
    let head = s.device.record(bad.record).unwrap().0;
    assert_eq!(head.status, Status::Rejected);
    assert_eq!(
        head.rejection_reasons()[0].en,
        "the head's NIK is registered in another family"
    );
    let counts = status_counts(&s.device);
    assert_eq!(counts[&Status::Accepted], lines.len() - 1);

    // Applying it again changes nothing.
    let (_, again, first) = s.device.apply_receipt(&file).unwrap();
    assert!(!first);
    assert_eq!(again, out);
    assert_eq!(status_counts(&s.device), counts);

    // A receipt signed by another key, or for another tablet, is refused.
    let other = SigningKeyPair::new();
    let e1 = s.device.apply_receipt(&receipt.sign(&other.0)).unwrap_err();
    assert!(
        e1.to_string()
            .contains("not signed by this tablet's registry"),
        "{e1}"
    );
    let mut foreign = receipt.clone();
    foreign.device = Uuid::now_v7();
    foreign.receipt_id = Uuid::now_v7();
    let e2 = s
        .device
        .apply_receipt(&foreign.sign(&s.keys.signing))
        .unwrap_err();
    assert!(
        e2.to_string().contains("this receipt is for device"),
        "{e2}"
    );

    // The rejected family is corrected and goes out again; a later receipt accepts it.
    let (_, answers) = s.device.record(bad.record).unwrap();
    s.device
        .save(bad.record, "P001", answers, Some("NIK diperiksa ulang"))
        .unwrap();
    s.device
        .finalize(bad.record, "P001", true, now().date_naive())
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let e2 = export(&s, Selection::SinceLast);
    let r2 = Receipt::new(
        &s.keys.public.name,
        device.id,
        now(),
        vec![SeqRange {
            from: e2.from,
            to: e2.to,
        }],
        vec![],
    );
    let (_, out2, _) = s.device.apply_receipt(&r2.sign(&s.keys.signing)).unwrap();
    assert_eq!(out2.accepted, 1);
    assert_eq!(
        s.device.record(bad.record).unwrap().0.status,
        Status::Accepted
    );

    // Purge everything accepted before tomorrow: only drafts stay, history intact, the store checks.
    let drafts = status_counts(&s.device)
        .get(&Status::Draft)
        .copied()
        .unwrap_or(0);
    let tomorrow = now().date_naive() + chrono::Duration::days(1);
    let purged = s.device.purge_accepted_before(tomorrow).unwrap();
    assert_eq!(purged.records as usize, lines.len());
    assert_eq!(s.device.list(None).unwrap().len(), drafts);
    assert!(s.device.store.is_purged(bad.record).unwrap());
    assert_eq!(s.device.store.check().unwrap(), Vec::<String>::new());
    // Purging again removes nothing.
    assert_eq!(s.device.purge_accepted_before(tomorrow).unwrap().records, 0);
}

struct SigningKeyPair(ed25519_dalek::SigningKey);
impl SigningKeyPair {
    fn new() -> Self {
        SigningKeyPair(ed25519_dalek::SigningKey::from_bytes(&[9; 32]))
    }
}

#[test]
fn export_without_a_registry_key_says_how_to_get_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (device, _) = Device::init(tmp.path(), "T").unwrap();
    device.add_petugas("P001", "Siti", "246810").unwrap();
    demo::fill(&device, "P001", 3, 1, 0).unwrap();
    let e = device
        .export(tmp.path(), Selection::SinceLast, "P001", &mut |_, _| {})
        .unwrap_err();
    assert!(e.to_string().contains("registry-key set"), "{e}");
}

/// A directory that fails at the n-th operation (create, each write, sync, rename, dir sync, read back).
struct Faulty {
    inner: DirTarget,
    fail_at: usize,
    ops: Cell<usize>,
    full: bool,
}

impl Faulty {
    fn step(&self) -> io::Result<()> {
        let n = self.ops.get();
        self.ops.set(n + 1);
        if n == self.fail_at {
            if self.full {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
            return Err(io::Error::other(format!("injected failure at step {n}")));
        }
        Ok(())
    }
}

/// `Target::create` returns a `'static` box, so the file shares the step counter through an `Rc`.
struct Shared(std::rc::Rc<Faulty>);

impl Target for Shared {
    fn available(&self) -> io::Result<u64> {
        self.0.step()?;
        self.0.inner.available()
    }
    fn exists(&self, name: &str) -> bool {
        self.0.inner.exists(name)
    }
    fn create(&self, name: &str, private: bool) -> io::Result<Box<dyn TargetFile>> {
        self.0.step()?;
        let inner = self.0.inner.create(name, private)?;
        Ok(Box::new(OwnedFaultyFile {
            inner,
            owner: self.0.clone(),
        }))
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.0.step()?;
        self.0.inner.rename(from, to)
    }
    fn sync_dir(&self) -> io::Result<()> {
        self.0.step()?;
        self.0.inner.sync_dir()
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        self.0.inner.remove(name)
    }
    fn open(&self, name: &str) -> io::Result<Box<dyn Read>> {
        self.0.step()?;
        self.0.inner.open(name)
    }
    fn path_of(&self, name: &str) -> PathBuf {
        self.0.inner.path_of(name)
    }
}

struct OwnedFaultyFile {
    inner: Box<dyn TargetFile>,
    owner: std::rc::Rc<Faulty>,
}

impl Write for OwnedFaultyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.owner.step()?;
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl TargetFile for OwnedFaultyFile {
    fn sync(&mut self) -> io::Result<()> {
        self.owner.step()?;
        self.inner.sync()
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_failure_at_any_step_leaves_no_file_and_nothing_marked() {
    let s = setup(8);
    let before = status_counts(&s.device);
    let watermark = s.device.store.export_watermark().unwrap();
    // Fail at step 0, 1, 2, … (each write counts, so the number of steps depends on the size and on
    // age's random header) until a run has fewer steps than the failure point and succeeds.
    let mut succeeded_at = None;
    'steps: for fail_at in 0..10_000 {
        for full in [true, false] {
            let t = std::rc::Rc::new(Faulty {
                inner: DirTarget::new(&s.stick),
                fail_at,
                ops: Cell::new(0),
                full,
            });
            let result =
                s.device
                    .export_to(&Shared(t), Selection::SinceLast, "P001", &mut |_, _| {});
            let err = match result {
                Ok(ExportOutcome::Written(e)) => {
                    succeeded_at = Some((fail_at, e));
                    break 'steps;
                }
                Ok(other) => panic!("step {fail_at}: {other:?}"),
                Err(e) => e,
            };
            let msg = err.to_string();
            assert!(
                msg.contains("nothing was left under the final name")
                    || msg.contains("removed")
                    || msg.contains("free space"),
                "step {fail_at}: {msg}"
            );
            if full && fail_at > 0 {
                assert!(
                    msg.contains("full") || msg.contains("free"),
                    "step {fail_at}: {msg}"
                );
            }
            assert!(
                files(&s.stick).is_empty(),
                "step {fail_at}: {:?}",
                files(&s.stick)
            );
            assert_eq!(status_counts(&s.device), before, "step {fail_at}");
            assert_eq!(s.device.store.export_watermark().unwrap(), watermark);
        }
    }
    let (steps, e) = succeeded_at.expect("the export never succeeded");
    assert!(
        steps >= 7,
        "free space, create, writes, fsync, rename, dir fsync, read back: {steps}"
    );
    assert_eq!(files(&s.stick), vec![e.file.clone()]);
    open(&std::fs::read(&e.path).unwrap(), &s.keys).unwrap();
}

#[test]
fn a_stick_without_enough_space_is_refused_before_writing() {
    struct Tiny(DirTarget);
    impl Target for Tiny {
        fn available(&self) -> io::Result<u64> {
            Ok(1000)
        }
        fn exists(&self, n: &str) -> bool {
            self.0.exists(n)
        }
        fn create(&self, n: &str, private: bool) -> io::Result<Box<dyn TargetFile>> {
            self.0.create(n, private)
        }
        fn rename(&self, a: &str, b: &str) -> io::Result<()> {
            self.0.rename(a, b)
        }
        fn sync_dir(&self) -> io::Result<()> {
            self.0.sync_dir()
        }
        fn remove(&self, n: &str) -> io::Result<()> {
            self.0.remove(n)
        }
        fn open(&self, n: &str) -> io::Result<Box<dyn Read>> {
            self.0.open(n)
        }
        fn path_of(&self, n: &str) -> PathBuf {
            self.0.path_of(n)
        }
    }
    let s = setup(5);
    let e = s
        .device
        .export_to(
            &Tiny(DirTarget::new(&s.stick)),
            Selection::SinceLast,
            "P001",
            &mut |_, _| {},
        )
        .unwrap_err();
    assert!(e.to_string().contains("not enough free space"), "{e}");
    assert!(files(&s.stick).is_empty());
    assert_eq!(status_counts(&s.device).get(&Status::Exported), None);
}

#[test]
fn progress_is_reported_in_order() {
    let s = setup(5);
    let mut stages = Vec::new();
    s.device
        .export(&s.stick, Selection::All, "P001", &mut |st, _| {
            if stages.last() != Some(&st) {
                stages.push(st);
            }
        })
        .unwrap();
    assert_eq!(
        stages,
        vec![
            Stage::Collecting,
            Stage::Writing,
            Stage::Verifying,
            Stage::Marking
        ]
    );
}

#[test]
fn the_manifest_follows_its_json_schema() {
    let s = setup(6);
    attach_photo(&s);
    let e = export(&s, Selection::All);
    let (v, _, _) = open(&std::fs::read(&e.path).unwrap(), &s.keys).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("schemas/bundle-manifest.schema.json").unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&v.manifest_bytes).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&manifest)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(manifest["parts"].as_array().unwrap().len(), 3);
    // And the schema is not vacuous: a manifest without counts fails it.
    let mut broken = manifest.clone();
    broken.as_object_mut().unwrap().remove("counts");
    assert!(!validator.is_valid(&broken));
}

/// The lines an export by the outbox's lines alone carries for `from..=to` (no frames).
fn lines_of(d: &Device, from: u64, to: u64) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    d.store
        .export_revisions::<pendata::store::StoreError>(from, to, |raw| {
            lines.push(raw.to_vec());
            Ok(())
        })
        .unwrap();
    lines
}

#[test]
fn frames_made_when_families_are_finalized_go_out_as_the_lines_would() {
    let s = setup_with(40, |device| {
        // Frames of a few families each (a real one holds about 280).
        device.store.set_frame_bytes(8 * 1024).unwrap();
        device.add_petugas("P002", "Budi", "135790").unwrap();
    });
    let (_, hash) = attach_photo(&s);
    let frames = s.device.store.frame_count().unwrap();
    assert!(frames >= 3, "{frames} frames");
    assert_eq!(s.device.store.consistency().unwrap(), Vec::<String>::new());

    let first = export(&s, Selection::SinceLast);
    let (v, lines, photos) = open(&std::fs::read(&first.path).unwrap(), &s.keys).unwrap();
    assert_eq!(lines, lines_of(&s.device, first.from, first.to));
    assert_eq!(v.manifest.counts.revisions, lines.len() as u64);
    assert_eq!(v.manifest.counts.records, first.families);
    assert_eq!(v.manifest.petugas, vec!["P001".to_string()]);
    assert_eq!(photos, vec![hash]);
    let finals = s.device.list(None).unwrap();
    assert!(finals.iter().all(|h| h.status != Status::Final));

    // More families, by another petugas, with corrections: the next incremental export starts inside a
    // frame (its earlier part went out before) and ends in lines not framed yet.
    demo::fill(&s.device, "P002", 30, 11, 10).unwrap();
    assert!(s.device.store.frame_count().unwrap() > frames);
    let second = export(&s, Selection::SinceLast);
    assert_eq!(second.from, first.to + 1);
    let (v, lines, _) = open(&std::fs::read(&second.path).unwrap(), &s.keys).unwrap();
    assert_eq!(lines, lines_of(&s.device, second.from, second.to));
    assert!(!lines.is_empty());
    assert_eq!(v.manifest.petugas, vec!["P002".to_string()]);

    // A range across both, again (a lost stick).
    let (a, b) = (first.to / 2, second.to - 3);
    std::fs::remove_dir_all(&s.stick).unwrap();
    std::fs::create_dir(&s.stick).unwrap();
    let again = export(&s, Selection::Range(a, b));
    let (_, lines, _) = open(&std::fs::read(&again.path).unwrap(), &s.keys).unwrap();
    assert_eq!(lines, lines_of(&s.device, a, b));

    // (`open` reads as the registry does: the manifest, the list of line hashes, every line against it.)
    assert_eq!(s.device.store.consistency().unwrap(), Vec::<String>::new());

    // The registry accepts the first bundle; its families are purged, and with them the frames that
    // held them. A range over everything now carries only the second bundle's families.
    let device_id = s.device.store.device().unwrap().id;
    let receipt = Receipt::new(
        &s.keys.public.name,
        device_id,
        now(),
        vec![SeqRange {
            from: first.from,
            to: first.to,
        }],
        vec![],
    );
    let (_, applied, _) = s
        .device
        .apply_receipt(&receipt.sign(&s.keys.signing))
        .unwrap();
    assert_eq!(applied.accepted, first.families);
    let before = s.device.store.frame_count().unwrap();
    let tomorrow = now().date_naive() + chrono::Duration::days(1);
    let purged = s.device.purge_accepted_before(tomorrow).unwrap();
    assert_eq!(purged.records, first.families);
    let after = s.device.store.frame_count().unwrap();
    assert!(after < before && after > 0, "{before} frames, then {after}");
    assert_eq!(s.device.store.consistency().unwrap(), Vec::<String>::new());
    std::fs::remove_dir_all(&s.stick).unwrap();
    std::fs::create_dir(&s.stick).unwrap();
    let all = export(&s, Selection::Range(1, second.to));
    let (v, lines, _) = open(&std::fs::read(&all.path).unwrap(), &s.keys).unwrap();
    assert_eq!(lines, lines_of(&s.device, 1, second.to));
    assert_eq!(v.manifest.petugas, vec!["P002".to_string()]);
}
