//! The rows of one write transaction of the registry store, in the registry's types: `storage::Tables`
//! over redb. Every table is opened once per view (opening one costs a lookup; a bundle's merge touches
//! a dozen rows per family).

use redb::{
    MultimapTable, ReadableMultimapTable, ReadableTable, Table, TableHandle, WriteTransaction,
};
use uuid::Uuid;

use super::tables::*;
use super::{DbError, DbResult, decode, doc, encode, lines};
use crate::bundle::manifest::SeqRange;
use crate::model::record::{Revision, VisitBase};
use crate::registry::Result;
use crate::registry::entries::{
    AuditEntry, BundleEntry, Conflict, Custody, DeviceEntry, EndorsementEntry, EvaluationEntry,
    FamilyEntry, ImportEntry, OperatorEntry, PackageEntry, PendingBundle, QuarantineEntry,
    desa_number,
};
use crate::registry::storage::{Added, Final, Index, Tables};

/// The records an index lists under `number`.
pub(super) fn indexed<T: ReadableTable<(u64, u128), ()>>(
    t: &T,
    number: u64,
) -> DbResult<Vec<u128>> {
    let mut out = Vec::new();
    for e in t.range((number, 0)..=(number, u128::MAX))? {
        out.push(e?.0.value().1);
    }
    Ok(out)
}

/// The desa index's key of a family entry.
pub(super) fn entry_desa(e: &FamilyEntry) -> Option<u64> {
    e.facts
        .as_ref()
        .and_then(|f| f.desa.as_deref())
        .and_then(desa_number)
}

/// Just the desa of a stored family entry (the rest of the document is skipped, not built).
fn stored_desa(bytes: &[u8]) -> DbResult<Option<u64>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        facts: Option<Facts>,
    }
    #[derive(serde::Deserialize)]
    struct Facts {
        #[serde(default)]
        desa: Option<String>,
    }
    let e: Entry = decode(bytes, "family")?;
    Ok(e.facts
        .and_then(|f| f.desa)
        .as_deref()
        .and_then(desa_number))
}

/// Every table of the store, open in one write transaction.
pub struct Rows<'t> {
    meta: Table<'t, &'static str, &'static [u8]>,
    devices: Table<'t, u128, &'static [u8]>,
    bundles: Table<'t, u128, &'static [u8]>,
    file_hashes: Table<'t, &'static str, u128>,
    pending: Table<'t, u128, &'static [u8]>,
    coverage: Table<'t, (u128, u64), u64>,
    revisions: Table<'t, (u128, u64), &'static [u8]>,
    finals: Table<'t, (u128, u128, u32), (u64, i64, bool)>,
    families: Table<'t, u128, &'static [u8]>,
    niks: Table<'t, (u64, u128), ()>,
    kks: Table<'t, (u64, u128), ()>,
    desa: Table<'t, (u64, u128), ()>,
    quarantine: Table<'t, (u128, u64), &'static [u8]>,
    conflicts: Table<'t, u64, &'static [u8]>,
    conflict_keys: Table<'t, &'static str, u64>,
    open_by_record: MultimapTable<'t, u128, u64>,
    attachments: Table<'t, &'static str, &'static [u8]>,
    imports: Table<'t, u64, &'static [u8]>,
    packages: Table<'t, u128, &'static [u8]>,
    packaged: Table<'t, u128, u128>,
    aliases: Table<'t, u128, (u128, &'static str)>,
    aliased: MultimapTable<'t, u128, u128>,
    operators: Table<'t, &'static str, &'static [u8]>,
    audit: Table<'t, u64, &'static [u8]>,
    endorsements: Table<'t, u128, &'static [u8]>,
    custody: Table<'t, u128, &'static [u8]>,
    evaluations: Table<'t, u128, &'static [u8]>,
}

impl<'t> Rows<'t> {
    pub(super) fn open(txn: &'t WriteTransaction) -> Result<Rows<'t>> {
        Ok(Rows {
            meta: txn.open_table(META)?,
            devices: txn.open_table(DEVICES)?,
            bundles: txn.open_table(BUNDLES)?,
            file_hashes: txn.open_table(FILE_HASHES)?,
            pending: txn.open_table(PENDING)?,
            coverage: txn.open_table(COVERAGE)?,
            revisions: txn.open_table(REVISIONS)?,
            finals: txn.open_table(FINALS)?,
            families: txn.open_table(FAMILIES)?,
            niks: txn.open_table(NIK_INDEX)?,
            kks: txn.open_table(KK_INDEX)?,
            desa: txn.open_table(DESA_INDEX)?,
            quarantine: txn.open_table(QUARANTINE)?,
            conflicts: txn.open_table(CONFLICTS)?,
            conflict_keys: txn.open_table(CONFLICT_KEYS)?,
            open_by_record: txn.open_multimap_table(OPEN_BY_RECORD)?,
            attachments: txn.open_table(ATTACHMENTS)?,
            imports: txn.open_table(IMPORTS)?,
            packages: txn.open_table(PACKAGES)?,
            packaged: txn.open_table(PACKAGED)?,
            aliases: txn.open_table(ALIASES)?,
            aliased: txn.open_multimap_table(ALIASED)?,
            operators: txn.open_table(OPERATORS)?,
            audit: txn.open_table(AUDIT)?,
            endorsements: txn.open_table(ENDORSEMENTS)?,
            custody: txn.open_table(CUSTODY)?,
            evaluations: txn.open_table(EVALUATIONS)?,
        })
    }

    fn index(&self, index: Index) -> &Table<'t, (u64, u128), ()> {
        match index {
            Index::Nik => &self.niks,
            Index::Kk => &self.kks,
        }
    }

    fn index_mut(&mut self, index: Index) -> &mut Table<'t, (u64, u128), ()> {
        match index {
            Index::Nik => &mut self.niks,
            Index::Kk => &mut self.kks,
        }
    }
}

/// What a stored revision is based on, if it is a visit: only that part of its line is read, the rest
/// skipped, not built.
pub(super) fn stored_base(stored: &[u8]) -> DbResult<Option<VisitBase>> {
    #[derive(serde::Deserialize)]
    struct BaseOnly {
        #[serde(default)]
        base: Option<VisitBase>,
    }
    let only: BaseOnly = serde_json::from_slice(&lines::unpack(stored)?)
        .map_err(|e| DbError::Storage(format!("stored revision unreadable: {e}")))?;
    Ok(only.base)
}

impl Tables for Rows<'_> {
    fn device(&self, id: Uuid) -> Result<Option<DeviceEntry>> {
        Ok(doc(&self.devices, id.as_u128(), DEVICES.name())?)
    }

    fn put_device(&mut self, d: &DeviceEntry) -> Result<()> {
        self.devices.insert(d.id.as_u128(), encode(d)?.as_slice())?;
        Ok(())
    }

    fn bundle(&self, id: Uuid) -> Result<Option<BundleEntry>> {
        Ok(doc(&self.bundles, id.as_u128(), BUNDLES.name())?)
    }

    fn bundle_by_file(&self, sha: &str) -> Result<Option<BundleEntry>> {
        let id = self.file_hashes.get(sha)?.map(|v| v.value());
        match id {
            Some(id) => Ok(doc(&self.bundles, id, BUNDLES.name())?),
            None => Ok(None),
        }
    }

    fn put_bundle(&mut self, b: &BundleEntry) -> Result<()> {
        self.bundles
            .insert(b.bundle_id.as_u128(), encode(b)?.as_slice())?;
        self.file_hashes
            .insert(b.file_sha256.as_str(), b.bundle_id.as_u128())?;
        Ok(())
    }

    fn pending(&self, bundle: Uuid) -> Result<Option<PendingBundle>> {
        Ok(doc(&self.pending, bundle.as_u128(), PENDING.name())?)
    }

    fn put_pending(&mut self, p: &PendingBundle) -> Result<()> {
        self.pending
            .insert(p.bundle_id.as_u128(), encode(p)?.as_slice())?;
        Ok(())
    }

    fn remove_pending(&mut self, bundle: Uuid) -> Result<()> {
        self.pending.remove(bundle.as_u128())?;
        Ok(())
    }

    fn add_coverage(&mut self, device: u128, r: SeqRange) -> Result<()> {
        let (mut from, mut to) = (r.from, r.to);
        let mut remove = Vec::new();
        for e in self.coverage.range((device, 0)..=(device, u64::MAX))? {
            let (k, v) = e?;
            let (a, b) = (k.value().1, v.value());
            if b.saturating_add(1) >= from && a <= to.saturating_add(1) {
                from = from.min(a);
                to = to.max(b);
                remove.push(a);
            }
        }
        for a in remove {
            self.coverage.remove((device, a))?;
        }
        self.coverage.insert((device, from), to)?;
        Ok(())
    }

    fn add_revision(&mut self, device: u128, seq: u64, stored: &[u8]) -> Result<Added> {
        let key = (device, seq);
        // Inserted at once (one look-up instead of two); a position held before is put back.
        let old = self
            .revisions
            .insert(key, stored)?
            .map(|old| old.value().to_vec());
        let Some(old) = old else {
            return Ok(Added::New);
        };
        // The same bytes, or the same line compressed otherwise (an older level).
        let same = old == stored
            || matches!(
                (lines::unpack(&old), lines::unpack(stored)),
                (Ok(o), Ok(n)) if o == n
            );
        self.revisions.insert(key, old.as_slice())?;
        Ok(if same { Added::Same } else { Added::Different })
    }

    fn revision(&self, device: u128, seq: u64) -> Result<Revision> {
        let raw = self
            .revisions
            .get((device, seq))?
            .ok_or_else(|| DbError::Storage(format!("revision {device:x}/{seq} missing")))?;
        let rev = serde_json::from_slice(&lines::unpack(raw.value())?)
            .map_err(|e| DbError::Storage(format!("stored revision unreadable: {e}")))?;
        Ok(rev)
    }

    fn revision_line(&self, device: u128, seq: u64) -> Result<Vec<u8>> {
        let raw = self
            .revisions
            .get((device, seq))?
            .ok_or_else(|| DbError::Storage(format!("revision {device:x}/{seq} missing")))?;
        Ok(lines::unpack(raw.value())?)
    }

    fn revision_base(&self, device: u128, seq: u64) -> Result<Option<VisitBase>> {
        let raw = self
            .revisions
            .get((device, seq))?
            .ok_or_else(|| DbError::Storage(format!("revision {device:x}/{seq} missing")))?;
        Ok(stored_base(raw.value())?)
    }

    fn add_attachment(&mut self, sha: &str, bytes: &[u8]) -> Result<()> {
        if self.attachments.get(sha)?.is_none() {
            self.attachments.insert(sha, bytes)?;
        }
        Ok(())
    }

    fn put_final(&mut self, record: u128, f: &Final) -> Result<()> {
        self.finals
            .insert((record, f.device, f.number), (f.seq, f.at_ms, f.candidate))?;
        Ok(())
    }

    fn final_revision(&self, record: u128, device: u128, number: u32) -> Result<Option<Final>> {
        Ok(self.finals.get((record, device, number))?.map(|v| {
            let (seq, at_ms, candidate) = v.value();
            Final {
                device,
                number,
                seq,
                at_ms,
                candidate,
            }
        }))
    }

    fn finals_of(&self, record: u128) -> Result<Vec<Final>> {
        let mut out = Vec::new();
        for e in self
            .finals
            .range((record, 0, 0)..=(record, u128::MAX, u32::MAX))?
        {
            let (k, v) = e?;
            let (_, device, number) = k.value();
            let (seq, at_ms, candidate) = v.value();
            out.push(Final {
                device,
                number,
                seq,
                at_ms,
                candidate,
            });
        }
        Ok(out)
    }

    fn quarantined(&self, device: Uuid, seq: u64) -> Result<Option<QuarantineEntry>> {
        match self.quarantine.get((device.as_u128(), seq))? {
            Some(v) => Ok(Some(decode(v.value(), "quarantine entry")?)),
            None => Ok(None),
        }
    }

    fn put_quarantine(&mut self, q: &QuarantineEntry) -> Result<()> {
        self.quarantine
            .insert((q.device.as_u128(), q.seq), encode(q)?.as_slice())?;
        Ok(())
    }

    fn family(&self, record: u128) -> Result<Option<FamilyEntry>> {
        Ok(doc(&self.families, record, "family")?)
    }

    fn put_family(&mut self, record: u128, e: &FamilyEntry) -> Result<()> {
        let new = entry_desa(e);
        let old = match self.families.insert(record, encode(e)?.as_slice())? {
            Some(v) => stored_desa(v.value())?,
            None => None,
        };
        if old != new {
            if let Some(d) = old {
                self.desa.remove((d, record))?;
            }
            if let Some(d) = new {
                self.desa.insert((d, record), ())?;
            }
        }
        Ok(())
    }

    fn index_insert(&mut self, index: Index, number: u64, record: u128) -> Result<()> {
        self.index_mut(index).insert((number, record), ())?;
        Ok(())
    }

    fn index_remove(&mut self, index: Index, number: u64, record: u128) -> Result<()> {
        self.index_mut(index).remove((number, record))?;
        Ok(())
    }

    fn indexed(&self, index: Index, number: u64) -> Result<Vec<u128>> {
        Ok(indexed(self.index(index), number)?)
    }

    fn conflict(&self, id: u64) -> Result<Option<Conflict>> {
        match self.conflicts.get(id)? {
            Some(v) => Ok(Some(decode(v.value(), "conflict")?)),
            None => Ok(None),
        }
    }

    fn put_conflict(&mut self, c: &Conflict) -> Result<()> {
        self.conflicts.insert(c.id, encode(c)?.as_slice())?;
        Ok(())
    }

    fn latest_conflict(&self, key: &str) -> Result<Option<u64>> {
        Ok(self.conflict_keys.get(key)?.map(|v| v.value()))
    }

    fn set_latest_conflict(&mut self, key: &str, id: u64) -> Result<()> {
        self.conflict_keys.insert(key, id)?;
        Ok(())
    }

    fn in_open_conflict(&self, record: u128) -> Result<bool> {
        let mut it = self.open_by_record.get(record)?;
        Ok(it.next().is_some())
    }

    fn add_open_conflict(&mut self, record: u128, id: u64) -> Result<()> {
        self.open_by_record.insert(record, id)?;
        Ok(())
    }

    fn remove_open_conflict(&mut self, record: u128, id: u64) -> Result<()> {
        self.open_by_record.remove(record, id)?;
        Ok(())
    }

    fn next_conflict_id(&mut self) -> Result<u64> {
        let next: u64 = match self.meta.get("next_conflict")? {
            Some(v) => decode(v.value(), "next conflict")?,
            None => 1,
        };
        self.meta
            .insert("next_conflict", encode(&(next + 1))?.as_slice())?;
        Ok(next)
    }

    fn next_import_number(&self) -> Result<u64> {
        Ok(self
            .imports
            .last()?
            .map(|(k, _)| k.value() + 1)
            .unwrap_or(1))
    }

    fn put_import(&mut self, e: &ImportEntry) -> Result<()> {
        self.imports.insert(e.number, encode(e)?.as_slice())?;
        Ok(())
    }

    fn package(&self, id: Uuid) -> Result<Option<PackageEntry>> {
        Ok(doc(&self.packages, id.as_u128(), PACKAGES.name())?)
    }

    fn put_package(&mut self, p: &PackageEntry) -> Result<()> {
        self.packages
            .insert(p.package_id.as_u128(), encode(p)?.as_slice())?;
        Ok(())
    }

    fn package_of(&self, record: u128) -> Result<Option<Uuid>> {
        Ok(self
            .packaged
            .get(record)?
            .map(|v| Uuid::from_u128(v.value())))
    }

    fn alias_of(&self, record: u128) -> Result<Option<(u128, String)>> {
        Ok(self.aliases.get(record)?.map(|v| {
            let (into, base) = v.value();
            (into, base.to_string())
        }))
    }

    fn aliases_into(&self, record: u128) -> Result<Vec<u128>> {
        let mut out = Vec::new();
        for v in self.aliased.get(record)? {
            out.push(v?.value());
        }
        Ok(out)
    }

    fn put_alias(&mut self, from: u128, into: u128, base: &str) -> Result<()> {
        self.aliases.insert(from, (into, base))?;
        self.aliased.insert(into, from)?;
        Ok(())
    }

    fn remove_family(&mut self, record: u128) -> Result<()> {
        let old = match self.families.remove(record)? {
            Some(v) => stored_desa(v.value())?,
            None => None,
        };
        if let Some(d) = old {
            self.desa.remove((d, record))?;
        }
        Ok(())
    }

    fn set_package_of(&mut self, record: u128, package: Option<Uuid>) -> Result<()> {
        match package {
            Some(p) => {
                self.packaged.insert(record, p.as_u128())?;
            }
            None => {
                self.packaged.remove(record)?;
            }
        }
        Ok(())
    }

    fn operator(&self, name: &str) -> Result<Option<OperatorEntry>> {
        Ok(doc(&self.operators, name, OPERATORS.name())?)
    }

    fn put_operator(&mut self, o: &OperatorEntry) -> Result<()> {
        self.operators
            .insert(o.name.as_str(), encode(o)?.as_slice())?;
        Ok(())
    }

    fn has_operators(&self) -> Result<bool> {
        Ok(self.operators.first()?.is_some())
    }

    fn add_audit(&mut self, e: &AuditEntry) -> Result<u64> {
        let number = self.audit.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1);
        let entry = AuditEntry {
            number,
            ..e.clone()
        };
        self.audit.insert(number, encode(&entry)?.as_slice())?;
        Ok(number)
    }

    fn endorsement(&self, record: u128) -> Result<Option<EndorsementEntry>> {
        Ok(doc(&self.endorsements, record, ENDORSEMENTS.name())?)
    }

    fn put_endorsement(&mut self, e: &EndorsementEntry) -> Result<()> {
        self.endorsements
            .insert(e.record.as_u128(), encode(e)?.as_slice())?;
        Ok(())
    }

    fn put_custody(&mut self, bundle: Uuid, c: &Custody) -> Result<()> {
        self.custody
            .insert(bundle.as_u128(), c.to_bytes().as_slice())?;
        Ok(())
    }

    fn counter(&self, name: &str) -> Result<u64> {
        Ok(match self.meta.get(name)? {
            Some(v) => decode(v.value(), name)?,
            None => 0,
        })
    }

    fn set_counter(&mut self, name: &str, value: u64) -> Result<()> {
        self.meta.insert(name, encode(&value)?.as_slice())?;
        Ok(())
    }

    fn put_evaluation(&mut self, e: &EvaluationEntry) -> Result<()> {
        self.evaluations
            .insert(e.record.as_u128(), encode(e)?.as_slice())?;
        Ok(())
    }
}
