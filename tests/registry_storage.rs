//! The registry's storage seam holds: a second backend written only against `registry::storage` (here
//! maps in memory, no redb) runs the same import, merge rules and decisions as the redb store and ends
//! in the same state.

#![expect(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

use std::cell::{RefCell, RefMut};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset, NaiveDate};
use pendata::app::demo::{self, FamilySpec, Rng};
use pendata::bundle::BundleError;
use pendata::bundle::manifest::SeqRange;
use pendata::form::catalog::Catalog;
use pendata::form::evaluate;
use pendata::model::record::{Action, Answers, Revision};
use pendata::registry::storage::{Added, Final, Index, Pack, Storage, Tables, Transaction};
use pendata::registry::synth::SynthTablet;
use pendata::registry::{
    self, AuditEntry, BundleEntry, Conflict, ConflictKind, Custody, DeviceEntry, EndorsementEntry,
    EvaluationEntry, FamilyEntry, ImportEntry, OperatorEntry, PackageEntry, PendingBundle,
    QuarantineEntry, Registry, RegistryError, Result,
};
use serde_json::json;
use uuid::Uuid;

/// Everything a registry holds, in maps.
#[derive(Clone, Default)]
struct State {
    devices: BTreeMap<Uuid, DeviceEntry>,
    bundles: BTreeMap<Uuid, BundleEntry>,
    files: BTreeMap<String, Uuid>,
    pending: BTreeMap<Uuid, PendingBundle>,
    coverage: BTreeMap<(u128, u64), u64>,
    revisions: BTreeMap<(u128, u64), Vec<u8>>,
    attachments: BTreeMap<String, Vec<u8>>,
    finals: BTreeMap<(u128, u128, u32), Final>,
    quarantine: BTreeMap<(u128, u64), QuarantineEntry>,
    families: BTreeMap<u128, FamilyEntry>,
    index: BTreeSet<(bool, u64, u128)>,
    conflicts: BTreeMap<u64, Conflict>,
    latest_conflict: BTreeMap<String, u64>,
    open: BTreeSet<(u128, u64)>,
    next_conflict: u64,
    imports: BTreeMap<u64, ImportEntry>,
    packages: BTreeMap<Uuid, PackageEntry>,
    packaged: BTreeMap<u128, Uuid>,
    aliases: BTreeMap<u128, (u128, String)>,
    operators: BTreeMap<String, OperatorEntry>,
    audit: BTreeMap<u64, AuditEntry>,
    endorsements: BTreeMap<u128, EndorsementEntry>,
    custody: BTreeMap<Uuid, Custody>,
    counters: BTreeMap<String, u64>,
    evaluations: BTreeMap<u128, EvaluationEntry>,
}

#[derive(Default)]
struct Mem(Arc<Mutex<State>>);

/// A write transaction: a copy of the state, put back on commit.
struct MemTxn {
    store: Arc<Mutex<State>>,
    work: RefCell<State>,
}

struct MemRows<'t>(RefMut<'t, State>);

/// Lines are kept as they come.
struct Plain;

impl Pack for Plain {
    fn pack(&mut self, line: &[u8]) -> Result<Vec<u8>, BundleError> {
        Ok(line.to_vec())
    }
}

fn is_kk(index: Index) -> bool {
    index == Index::Kk
}

impl Storage for Mem {
    type Txn = MemTxn;
    type Packer = Plain;

    fn packer(&self) -> Result<Plain, BundleError> {
        Ok(Plain)
    }

    fn begin(&self) -> Result<MemTxn> {
        let work = RefCell::new(self.0.lock().unwrap().clone());
        Ok(MemTxn {
            store: self.0.clone(),
            work,
        })
    }

    fn bundle(&self, id: Uuid) -> Result<Option<BundleEntry>> {
        Ok(self.0.lock().unwrap().bundles.get(&id).cloned())
    }

    fn device(&self, id: Uuid) -> Result<Option<DeviceEntry>> {
        Ok(self.0.lock().unwrap().devices.get(&id).cloned())
    }

    fn devices(&self) -> Result<Vec<DeviceEntry>> {
        Ok(self.0.lock().unwrap().devices.values().cloned().collect())
    }

    fn pending_bundles(&self) -> Result<Vec<PendingBundle>> {
        Ok(self.0.lock().unwrap().pending.values().cloned().collect())
    }

    fn bundles(&self) -> Result<Vec<BundleEntry>> {
        Ok(self.0.lock().unwrap().bundles.values().cloned().collect())
    }

    fn coverage(&self, device: Uuid) -> Result<Vec<SeqRange>> {
        let d = device.as_u128();
        let s = self.0.lock().unwrap();
        Ok(s.coverage
            .range((d, 0)..=(d, u64::MAX))
            .map(|(k, v)| SeqRange { from: k.1, to: *v })
            .collect())
    }

    fn quarantine(&self) -> Result<Vec<QuarantineEntry>> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .quarantine
            .values()
            .cloned()
            .collect())
    }

    fn conflicts(&self) -> Result<Vec<Conflict>> {
        Ok(self.0.lock().unwrap().conflicts.values().cloned().collect())
    }

    fn family(&self, record: Uuid) -> Result<Option<FamilyEntry>> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .families
            .get(&record.as_u128())
            .cloned())
    }

    fn families(&self, mut f: impl FnMut(&FamilyEntry) -> Result<()>) -> Result<u64> {
        let s = self.0.lock().unwrap().clone();
        for e in s.families.values() {
            f(e)?;
        }
        Ok(s.families.len() as u64)
    }

    fn families_in_desa(
        &self,
        desa: u64,
        mut f: impl FnMut(&FamilyEntry) -> Result<()>,
    ) -> Result<u64> {
        // No index here: the entries that name the desa, found by looking at each.
        let s = self.0.lock().unwrap().clone();
        let mut n = 0;
        for e in s.families.values().filter(|e| {
            e.facts
                .as_ref()
                .and_then(|f| f.desa.as_deref())
                .and_then(pendata::registry::entries::desa_number)
                == Some(desa)
        }) {
            f(e)?;
            n += 1;
        }
        Ok(n)
    }

    fn families_with_revisions(
        &self,
        mut f: impl FnMut(&FamilyEntry, &Revision) -> Result<()>,
    ) -> Result<u64> {
        let s = self.0.lock().unwrap().clone();
        for e in s.families.values() {
            let line = &s.revisions[&(e.family.device.as_u128(), e.family.seq)];
            f(e, &serde_json::from_slice(line).unwrap())?;
        }
        Ok(s.families.len() as u64)
    }

    fn indexed(&self, index: Index, number: u64) -> Result<Vec<Uuid>> {
        let k = is_kk(index);
        let s = self.0.lock().unwrap();
        Ok(s.index
            .range((k, number, 0)..=(k, number, u128::MAX))
            .map(|e| Uuid::from_u128(e.2))
            .collect())
    }

    fn imports(&self) -> Result<Vec<ImportEntry>> {
        Ok(self.0.lock().unwrap().imports.values().cloned().collect())
    }
    fn packages(&self) -> Result<Vec<PackageEntry>> {
        Ok(self.0.lock().unwrap().packages.values().cloned().collect())
    }
    fn stored_revision(&self, device: Uuid, seq: u64) -> Result<Option<Revision>> {
        let s = self.0.lock().unwrap();
        Ok(s.revisions
            .get(&(device.as_u128(), seq))
            .map(|l| serde_json::from_slice(l).unwrap()))
    }
    fn operators(&self) -> Result<Vec<OperatorEntry>> {
        Ok(self.0.lock().unwrap().operators.values().cloned().collect())
    }
    fn audit(&self) -> Result<Vec<AuditEntry>> {
        Ok(self.0.lock().unwrap().audit.values().cloned().collect())
    }
    fn custody(&self, bundle: Uuid) -> Result<Option<Custody>> {
        Ok(self.0.lock().unwrap().custody.get(&bundle).cloned())
    }
    fn counter(&self, name: &str) -> Result<u64> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .counters
            .get(name)
            .copied()
            .unwrap_or(0))
    }
    fn evaluations(&self) -> Result<Vec<EvaluationEntry>> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .evaluations
            .values()
            .cloned()
            .collect())
    }
    fn stored_line(&self, device: Uuid, seq: u64) -> Result<Option<Vec<u8>>> {
        let s = self.0.lock().unwrap();
        Ok(s.revisions.get(&(device.as_u128(), seq)).cloned())
    }
    fn endorsements(&self) -> Result<Vec<EndorsementEntry>> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .endorsements
            .values()
            .cloned()
            .collect())
    }
}

impl Transaction for MemTxn {
    type Tables<'t> = MemRows<'t>;

    fn tables(&self) -> Result<MemRows<'_>> {
        Ok(MemRows(self.work.borrow_mut()))
    }

    fn commit(self) -> Result<()> {
        *self.store.lock().unwrap() = self.work.into_inner();
        Ok(())
    }
}

impl Tables for MemRows<'_> {
    fn device(&self, id: Uuid) -> Result<Option<DeviceEntry>> {
        Ok(self.0.devices.get(&id).cloned())
    }
    fn put_device(&mut self, d: &DeviceEntry) -> Result<()> {
        self.0.devices.insert(d.id, d.clone());
        Ok(())
    }
    fn bundle(&self, id: Uuid) -> Result<Option<BundleEntry>> {
        Ok(self.0.bundles.get(&id).cloned())
    }
    fn bundle_by_file(&self, sha: &str) -> Result<Option<BundleEntry>> {
        Ok(self
            .0
            .files
            .get(sha)
            .and_then(|id| self.0.bundles.get(id))
            .cloned())
    }
    fn put_bundle(&mut self, b: &BundleEntry) -> Result<()> {
        self.0.bundles.insert(b.bundle_id, b.clone());
        self.0.files.insert(b.file_sha256.clone(), b.bundle_id);
        Ok(())
    }
    fn pending(&self, bundle: Uuid) -> Result<Option<PendingBundle>> {
        Ok(self.0.pending.get(&bundle).cloned())
    }
    fn put_pending(&mut self, p: &PendingBundle) -> Result<()> {
        self.0.pending.insert(p.bundle_id, p.clone());
        Ok(())
    }
    fn remove_pending(&mut self, bundle: Uuid) -> Result<()> {
        self.0.pending.remove(&bundle);
        Ok(())
    }
    fn add_coverage(&mut self, device: u128, r: SeqRange) -> Result<()> {
        let (mut from, mut to) = (r.from, r.to);
        let touching: Vec<(u64, u64)> = self
            .0
            .coverage
            .range((device, 0)..=(device, u64::MAX))
            .map(|(k, v)| (k.1, *v))
            .filter(|(a, b)| b.saturating_add(1) >= from && *a <= to.saturating_add(1))
            .collect();
        for (a, b) in touching {
            from = from.min(a);
            to = to.max(b);
            self.0.coverage.remove(&(device, a));
        }
        self.0.coverage.insert((device, from), to);
        Ok(())
    }
    fn add_revision(&mut self, device: u128, seq: u64, stored: &[u8]) -> Result<Added> {
        Ok(match self.0.revisions.get(&(device, seq)) {
            None => {
                self.0.revisions.insert((device, seq), stored.to_vec());
                Added::New
            }
            Some(old) if old == stored => Added::Same,
            Some(_) => Added::Different,
        })
    }
    fn revision(&self, device: u128, seq: u64) -> Result<Revision> {
        let line = self
            .0
            .revisions
            .get(&(device, seq))
            .ok_or_else(|| RegistryError::Invalid("no such revision".into()))?;
        Ok(serde_json::from_slice(line).unwrap())
    }
    fn add_attachment(&mut self, sha: &str, bytes: &[u8]) -> Result<()> {
        self.0
            .attachments
            .entry(sha.to_string())
            .or_insert_with(|| bytes.to_vec());
        Ok(())
    }
    fn put_final(&mut self, record: u128, f: &Final) -> Result<()> {
        self.0.finals.insert((record, f.device, f.number), *f);
        Ok(())
    }
    fn final_revision(&self, record: u128, device: u128, number: u32) -> Result<Option<Final>> {
        Ok(self.0.finals.get(&(record, device, number)).copied())
    }
    fn finals_of(&self, record: u128) -> Result<Vec<Final>> {
        Ok(self
            .0
            .finals
            .range((record, 0, 0)..=(record, u128::MAX, u32::MAX))
            .map(|(_, f)| *f)
            .collect())
    }
    fn quarantined(&self, device: Uuid, seq: u64) -> Result<Option<QuarantineEntry>> {
        Ok(self.0.quarantine.get(&(device.as_u128(), seq)).cloned())
    }
    fn put_quarantine(&mut self, q: &QuarantineEntry) -> Result<()> {
        self.0
            .quarantine
            .insert((q.device.as_u128(), q.seq), q.clone());
        Ok(())
    }
    fn family(&self, record: u128) -> Result<Option<FamilyEntry>> {
        Ok(self.0.families.get(&record).cloned())
    }
    fn put_family(&mut self, record: u128, e: &FamilyEntry) -> Result<()> {
        self.0.families.insert(record, e.clone());
        Ok(())
    }
    fn index_insert(&mut self, index: Index, number: u64, record: u128) -> Result<()> {
        self.0.index.insert((is_kk(index), number, record));
        Ok(())
    }
    fn index_remove(&mut self, index: Index, number: u64, record: u128) -> Result<()> {
        self.0.index.remove(&(is_kk(index), number, record));
        Ok(())
    }
    fn indexed(&self, index: Index, number: u64) -> Result<Vec<u128>> {
        let k = is_kk(index);
        Ok(self
            .0
            .index
            .range((k, number, 0)..=(k, number, u128::MAX))
            .map(|e| e.2)
            .collect())
    }
    fn conflict(&self, id: u64) -> Result<Option<Conflict>> {
        Ok(self.0.conflicts.get(&id).cloned())
    }
    fn put_conflict(&mut self, c: &Conflict) -> Result<()> {
        self.0.conflicts.insert(c.id, c.clone());
        Ok(())
    }
    fn latest_conflict(&self, key: &str) -> Result<Option<u64>> {
        Ok(self.0.latest_conflict.get(key).copied())
    }
    fn set_latest_conflict(&mut self, key: &str, id: u64) -> Result<()> {
        self.0.latest_conflict.insert(key.to_string(), id);
        Ok(())
    }
    fn in_open_conflict(&self, record: u128) -> Result<bool> {
        Ok(self
            .0
            .open
            .range((record, 0)..=(record, u64::MAX))
            .next()
            .is_some())
    }
    fn add_open_conflict(&mut self, record: u128, id: u64) -> Result<()> {
        self.0.open.insert((record, id));
        Ok(())
    }
    fn remove_open_conflict(&mut self, record: u128, id: u64) -> Result<()> {
        self.0.open.remove(&(record, id));
        Ok(())
    }
    fn next_conflict_id(&mut self) -> Result<u64> {
        self.0.next_conflict += 1;
        Ok(self.0.next_conflict)
    }
    fn next_import_number(&self) -> Result<u64> {
        Ok(self.0.imports.keys().next_back().map_or(1, |n| n + 1))
    }
    fn put_import(&mut self, e: &ImportEntry) -> Result<()> {
        self.0.imports.insert(e.number, e.clone());
        Ok(())
    }
    fn package(&self, id: Uuid) -> Result<Option<PackageEntry>> {
        Ok(self.0.packages.get(&id).cloned())
    }
    fn put_package(&mut self, p: &PackageEntry) -> Result<()> {
        self.0.packages.insert(p.package_id, p.clone());
        Ok(())
    }
    fn alias_of(&self, record: u128) -> Result<Option<(u128, String)>> {
        Ok(self.0.aliases.get(&record).cloned())
    }
    fn aliases_into(&self, record: u128) -> Result<Vec<u128>> {
        Ok(self
            .0
            .aliases
            .iter()
            .filter(|(_, (into, _))| *into == record)
            .map(|(from, _)| *from)
            .collect())
    }
    fn put_alias(&mut self, from: u128, into: u128, base: &str) -> Result<()> {
        self.0.aliases.insert(from, (into, base.to_string()));
        Ok(())
    }
    fn remove_family(&mut self, record: u128) -> Result<()> {
        self.0.families.remove(&record);
        Ok(())
    }
    fn operator(&self, name: &str) -> Result<Option<OperatorEntry>> {
        Ok(self.0.operators.get(name).cloned())
    }
    fn put_operator(&mut self, o: &OperatorEntry) -> Result<()> {
        self.0.operators.insert(o.name.clone(), o.clone());
        Ok(())
    }
    fn has_operators(&self) -> Result<bool> {
        Ok(!self.0.operators.is_empty())
    }
    fn add_audit(&mut self, e: &AuditEntry) -> Result<u64> {
        let number = self.0.audit.keys().next_back().map_or(1, |n| n + 1);
        self.0.audit.insert(
            number,
            AuditEntry {
                number,
                ..e.clone()
            },
        );
        Ok(number)
    }
    fn package_of(&self, record: u128) -> Result<Option<Uuid>> {
        Ok(self.0.packaged.get(&record).copied())
    }
    fn set_package_of(&mut self, record: u128, package: Option<Uuid>) -> Result<()> {
        match package {
            Some(p) => self.0.packaged.insert(record, p),
            None => self.0.packaged.remove(&record),
        };
        Ok(())
    }
    fn endorsement(&self, record: u128) -> Result<Option<EndorsementEntry>> {
        Ok(self.0.endorsements.get(&record).cloned())
    }
    fn put_endorsement(&mut self, e: &EndorsementEntry) -> Result<()> {
        self.0.endorsements.insert(e.record.as_u128(), e.clone());
        Ok(())
    }
    fn put_custody(&mut self, bundle: Uuid, c: &Custody) -> Result<()> {
        self.0.custody.insert(bundle, c.clone());
        Ok(())
    }
    fn counter(&self, name: &str) -> Result<u64> {
        Ok(self.0.counters.get(name).copied().unwrap_or(0))
    }
    fn put_evaluation(&mut self, e: &EvaluationEntry) -> Result<()> {
        self.0.evaluations.insert(e.record.as_u128(), e.clone());
        Ok(())
    }
    fn set_counter(&mut self, name: &str, value: u64) -> Result<()> {
        self.0.counters.insert(name.to_string(), value);
        Ok(())
    }
}

fn now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap()
}

fn record(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_2222_0000_7000_8000_0000_0000_0000 | n)
}

fn family(rng: &mut Rng) -> Answers {
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let spec = FamilySpec {
        interview: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
    };
    demo::family(form, rng, &spec)
}

/// Finalizes `answers` as revision `number` of `record`, its warnings acknowledged as a tablet does.
fn finalize(t: &mut SynthTablet, record: Uuid, number: u32, answers: Answers) {
    let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
    let day = (t.clock + chrono::Duration::minutes(3)).date_naive();
    let ack = evaluate(form, &answers, day)
        .warnings()
        .map(|w| format!("{} {}", w.path, w.code))
        .collect();
    t.revise(record, number, Action::Finalized, answers, ack);
}

/// What an operator and the outputs see of a registry.
#[derive(Debug, PartialEq)]
struct Picture {
    families: Vec<FamilyEntry>,
    conflicts: Vec<Conflict>,
    quarantine: Vec<QuarantineEntry>,
    devices: Vec<DeviceEntry>,
    bundles: usize,
    coverage: Vec<Vec<SeqRange>>,
    receipts: Vec<String>,
}

fn picture<S: Storage>(reg: &Registry<S>, tablets: &[SynthTablet]) -> Picture {
    let mut families = Vec::new();
    reg.family_entries(|f| families.push(f.clone())).unwrap();
    let mut answers = 0;
    reg.for_each_family(|_, _| {
        answers += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(answers, families.len());
    Picture {
        families,
        conflicts: reg.conflicts(true).unwrap(),
        quarantine: reg.quarantine(true).unwrap(),
        devices: reg.devices().unwrap(),
        bundles: reg.bundles().unwrap().len(),
        coverage: tablets
            .iter()
            .map(|t| reg.coverage(t.id).unwrap())
            .collect(),
        receipts: tablets
            .iter()
            .map(|t| {
                let (r, accepted, held) = reg.receipt(&t.id.to_string(), now()).unwrap();
                format!("{:?} {accepted} {held}", r.rejected)
            })
            .collect(),
    }
}

#[test]
fn a_second_backend_runs_the_same_rules_to_the_same_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("registry");
    registry::init(&dir, "Kaltim", now()).unwrap();
    let on_redb = Registry::open(&dir).unwrap();
    // Its own folder for held copies; the same keys.
    let in_memory = Registry {
        dir: tmp.path().join("in-memory"),
        keys: registry::load(&dir).unwrap(),
        db: Mem::default(),
        catalog: Catalog::shared().unwrap(),
        save_every: std::time::Duration::from_secs(5),
        limits: Default::default(),
        share: pendata::registry::upward_import::SHARE,
        session: Default::default(),
    };
    let recipients = vec![on_redb.keys.identity.to_public()];

    // Three tablets: a NIK in two families, a KK in two families, one family on two tablets, a bad
    // revision, corrections; bundles repeated.
    let mut rng = Rng::new(3);
    let start = DateTime::parse_from_rfc3339("2026-11-20T08:00:00+08:00").unwrap();
    let mut tablets: Vec<SynthTablet> = (0..3).map(|n| SynthTablet::new(40 + n, start)).collect();
    let shared = family(&mut rng);
    let mut bundles = Vec::new();
    for (ti, t) in tablets.iter_mut().enumerate() {
        for k in 0..6u128 {
            let n = ti as u128 * 10 + k;
            let mut fam = family(&mut rng);
            if k == 0 {
                fam["anggota"][0]["nik"] = shared["anggota"][0]["nik"].clone();
            }
            if k == 1 && ti < 2 {
                fam["no_kk"] = shared["no_kk"].clone();
            }
            finalize(t, record(n), 1, fam.clone());
            if k == 2 {
                t.revise(record(n), 2, Action::Corrected, fam.clone(), vec![]);
                fam["alamat"] = json!("Jl. Koreksi");
                finalize(t, record(n), 3, fam);
            }
        }
        if ti == 1 {
            let mut bad = family(&mut rng);
            bad["anggota"][0]["nik"] = json!("12");
            t.revise(record(99), 1, Action::Finalized, bad, vec![]);
        }
        finalize(t, record(100), ti as u32 + 1, family(&mut rng));
        bundles.push(t.bundle(&recipients).unwrap());
    }
    bundles.push(bundles[0].clone());

    // The first tablet's bundle is held until it is approved; the others are enrolled before.
    for t in &tablets[1..] {
        let key = pendata::bundle::hex(t.key.verifying_key().as_bytes());
        on_redb.enrol(t.id, &t.name, &key, now()).unwrap();
        in_memory.enrol(t.id, &t.name, &key, now()).unwrap();
    }
    for (i, b) in bundles.iter().enumerate() {
        let name = format!("{i}.age");
        let a = on_redb.import_bytes(b, &name, now()).unwrap();
        let m = in_memory.import_bytes(b, &name, now()).unwrap();
        assert_eq!(a, m, "bundle {i}");
    }
    let first = tablets[0].id.to_string();
    let (_, a) = on_redb.approve(&first, now()).unwrap();
    let (_, m) = in_memory.approve(&first, now()).unwrap();
    assert_eq!(a, m);
    let before = picture(&on_redb, &tablets);
    assert_eq!(picture(&in_memory, &tablets), before);
    let kinds: BTreeSet<ConflictKind> = before.conflicts.iter().map(|c| c.kind).collect();
    assert_eq!(kinds.len(), 3, "{:?}", before.conflicts);
    assert_eq!(before.quarantine.len(), 1);

    // The operator's decisions, the same on both.
    let two_devices = before
        .conflicts
        .iter()
        .find(|c| c.kind == ConflictKind::TwoDevices)
        .unwrap()
        .id;
    let shared_kk = before
        .conflicts
        .iter()
        .find(|c| c.kind == ConflictKind::SharedKk)
        .unwrap()
        .id;
    let q = &before.quarantine[0];
    let q = format!("{}:{}", q.device, q.seq);
    for reg in [&on_redb as &dyn Decide, &in_memory] {
        reg.decide(two_devices, shared_kk, &q);
    }
    assert_eq!(picture(&in_memory, &tablets), picture(&on_redb, &tablets));
    assert_ne!(picture(&on_redb, &tablets), before);

    // What a work package reads of a desa: the same on both (redb's one view, the trait's default).
    let desa = before
        .families
        .iter()
        .filter(|f| f.family.state == pendata::registry::family::FamilyState::Accepted)
        .find_map(|f| {
            f.facts
                .as_ref()?
                .desa
                .as_deref()
                .and_then(pendata::registry::entries::desa_number)
        })
        .unwrap();
    let read = package_sources(&on_redb, desa);
    assert!(read.iter().any(|s| s.starts_with("true")), "{read:?}");
    assert_eq!(package_sources(&in_memory, desa), read);
}

/// `Storage::package_sources` of a desa, one line a family: accepted, hash, line (as JSON), package.
fn package_sources<S: Storage>(reg: &Registry<S>, desa: u64) -> Vec<String> {
    let mut out = Vec::new();
    reg.db
        .package_sources(desa, |s| {
            let line: Option<serde_json::Value> =
                (!s.line.is_empty()).then(|| serde_json::from_slice(s.line).unwrap());
            out.push(format!(
                "{} {} {:?} {line:?} {:?}",
                s.accepted, s.record, s.revision_hash, s.package
            ));
            Ok(())
        })
        .unwrap();
    out
}

/// The same decisions on either registry.
trait Decide {
    fn decide(&self, two_devices: u64, shared_kk: u64, quarantined: &str);
}

impl<S: Storage> Decide for Registry<S> {
    fn decide(&self, two_devices: u64, shared_kk: u64, quarantined: &str) {
        self.keep(two_devices, 2, now()).unwrap();
        self.distinct(shared_kk, now()).unwrap();
        self.decide_quarantine(quarantined, true, now()).unwrap();
        assert!(self.distinct(shared_kk, now()).is_err(), "decided already");
    }
}
