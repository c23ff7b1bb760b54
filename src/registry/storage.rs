//! The registry's storage interface: what the import pipeline, the merge rules, the operator's decisions
//! and the read-only views need of a store, in the registry's own types (`entries`, `family`, `model`),
//! nothing of redb. `registry::db` implements it over redb (`registry.redb`); a second backend (the
//! planned PostgreSQL registry) implements the same three traits and the rules in `registry::merge` run on
//! it unchanged.
//!
//! - [`Storage`]: the store. Begins write transactions and answers read-only queries, each on what was
//!   committed; makes the [`Pack`]ers that turn revision lines into the form it stores them in.
//! - [`Transaction`]: one write transaction. Nothing in it is seen by readers or durable before
//!   [`Transaction::commit`]; dropping it discards everything.
//! - [`Tables`]: the rows a transaction reads and writes; its reads see its own writes.
//!
//! Record and device ids are `u128` (`Uuid::as_u128`) where the merge handles them row by row. Errors are
//! [`RegistryError`](super::RegistryError)s: a backend adds its own variant with a `From` (as redb's
//! `DbError` has `RegistryError::Db`).

use uuid::Uuid;

use super::Result;
use super::entries::{
    AuditEntry, BundleEntry, Conflict, Custody, DeviceEntry, EndorsementEntry, EvaluationEntry,
    FamilyEntry, ImportEntry, OperatorEntry, PackageEntry, PendingBundle, QuarantineEntry,
};
use crate::bundle::BundleError;
use crate::bundle::manifest::SeqRange;
use crate::model::record::{Revision, VisitBase};

/// The registry's store. Shared by the import's reader threads (they ask [`Storage::bundle`] and
/// [`Storage::device`] before they read a bundle past its manifest).
pub trait Storage: Sync {
    type Txn: Transaction;
    type Packer: Pack;

    /// A packer for one bundle's revision lines (made on a reader thread, used there).
    fn packer(&self) -> Result<Self::Packer, BundleError>;

    /// Begins a write transaction (one at a time: a second waits until the first ends).
    fn begin(&self) -> Result<Self::Txn>;

    /// The bundle merged under this id, if one was.
    fn bundle(&self, id: Uuid) -> Result<Option<BundleEntry>>;
    fn device(&self, id: Uuid) -> Result<Option<DeviceEntry>>;
    /// Every device, in id order.
    fn devices(&self) -> Result<Vec<DeviceEntry>>;
    /// Every bundle held for a device not yet approved, in bundle id order.
    fn pending_bundles(&self) -> Result<Vec<PendingBundle>>;
    /// Every bundle merged, in bundle id (time) order.
    fn bundles(&self) -> Result<Vec<BundleEntry>>;
    /// The covered ranges of a device's sequence, sorted and disjoint.
    fn coverage(&self, device: Uuid) -> Result<Vec<SeqRange>>;
    /// Every quarantine entry (open, released, rejected), by (device, position).
    fn quarantine(&self) -> Result<Vec<QuarantineEntry>>;
    /// Every conflict (open and decided), by id.
    fn conflicts(&self) -> Result<Vec<Conflict>>;
    fn family(&self, record: Uuid) -> Result<Option<FamilyEntry>>;
    /// Visits every family's entry in record order; returns how many.
    fn families(&self, f: impl FnMut(&FamilyEntry) -> Result<()>) -> Result<u64>;
    /// How many families there are (a backend that keeps the count says it without reading them).
    fn family_count(&self) -> Result<u64> {
        self.families(|_| Ok(()))
    }
    /// Visits the entries of the families whose entry names this desa (its digits as a number,
    /// `entries::desa_number`), in record order; returns how many. Reads only those families.
    fn families_in_desa(&self, desa: u64, f: impl FnMut(&FamilyEntry) -> Result<()>)
    -> Result<u64>;
    /// Visits the families of a desa as a work package reads them ([`PackageSource`]), in record
    /// order; returns how many. A store answers from one read-only view and builds only those parts of
    /// an entry; the default reads the entries, then the lines in a write transaction it drops.
    fn package_sources(
        &self,
        desa: u64,
        mut f: impl FnMut(PackageSource<'_>) -> Result<()>,
    ) -> Result<u64> {
        let mut entries = Vec::new();
        let n = self.families_in_desa(desa, |e| {
            entries.push(e.clone());
            Ok(())
        })?;
        let txn = self.begin()?;
        let t = txn.tables()?;
        for e in entries {
            let accepted = e.family.state == super::family::FamilyState::Accepted;
            let record = e.family.record;
            let (line, package) = if accepted {
                (
                    t.revision_line(e.family.device.as_u128(), e.family.seq)?,
                    t.package_of(record.as_u128())?,
                )
            } else {
                (Vec::new(), None)
            };
            f(PackageSource {
                record,
                accepted,
                revision_hash: e.revision_hash,
                line: &line,
                package,
            })?;
        }
        Ok(n)
    }
    /// Visits every family's entry with its current revision, in record order; returns how many.
    fn families_with_revisions(
        &self,
        f: impl FnMut(&FamilyEntry, &Revision) -> Result<()>,
    ) -> Result<u64>;
    /// Visits at most `max` families after record `after` (`None`: from the first), in record order,
    /// each with its current revision; returns the last record visited (`None`: none was left). A
    /// reader that must not hold the registry for long (the office's name search) reads in such
    /// parts. The default walks every family to find the part; a backend seeks to it.
    fn families_with_revisions_from(
        &self,
        after: Option<Uuid>,
        max: usize,
        mut f: impl FnMut(&FamilyEntry, &Revision) -> Result<()>,
    ) -> Result<Option<Uuid>> {
        let mut last = None;
        let mut n = 0;
        self.families_with_revisions(|e, r| {
            if n < max && after.is_none_or(|a| e.family.record > a) {
                f(e, r)?;
                last = Some(e.family.record);
                n += 1;
            }
            Ok(())
        })?;
        Ok(last)
    }
    /// The records whose current revision lists this NIK or KK number (see `entries::id_number`).
    fn indexed(&self, index: Index, number: u64) -> Result<Vec<Uuid>>;
    /// The import runs, oldest first.
    fn imports(&self) -> Result<Vec<ImportEntry>>;
    /// Every work package issued, in id (time) order.
    fn packages(&self) -> Result<Vec<PackageEntry>>;
    /// The revision stored at a device's sequence position, if any.
    fn stored_revision(&self, device: Uuid, seq: u64) -> Result<Option<Revision>>;
    /// The entries of these families (those the store has), each with what its current revision is
    /// based on if it is a visit. A store may read just that part of the revision.
    fn families_based(
        &self,
        records: &[Uuid],
        mut f: impl FnMut(&FamilyEntry, Option<&VisitBase>) -> Result<()>,
    ) -> Result<u64> {
        let mut n = 0;
        for r in records {
            let Some(fam) = self.family(*r)? else {
                continue;
            };
            let rev = self.stored_revision(fam.family.device, fam.family.seq)?;
            f(&fam, rev.and_then(|r| r.base).as_deref())?;
            n += 1;
        }
        Ok(n)
    }
    /// Every operator (enabled or not), by name.
    fn operators(&self) -> Result<Vec<OperatorEntry>>;
    /// The audit trail, oldest first.
    fn audit(&self) -> Result<Vec<AuditEntry>>;
    /// One conflict (open or decided). The default looks through every conflict; a backend reads one.
    fn conflict(&self, id: u64) -> Result<Option<Conflict>> {
        Ok(self.conflicts()?.into_iter().find(|c| c.id == id))
    }
    /// Every final revision received of a record, by (device, number): a family's history. The
    /// default reads them in a write transaction it then drops (nothing is written); a backend
    /// answers from a read-only view.
    fn finals_of(&self, record: Uuid) -> Result<Vec<Final>> {
        let txn = self.begin()?;
        let t = txn.tables()?;
        t.finals_of(record.as_u128())
    }
    /// Every family's latest pengesahan decision (a kabupaten/kota's), in record order.
    fn endorsements(&self) -> Result<Vec<EndorsementEntry>>;
    /// What was kept of a device bundle's signature (format 2 bundles), if anything.
    fn custody(&self, bundle: Uuid) -> Result<Option<Custody>>;
    /// A counter of the store (0 until set).
    fn counter(&self, name: &str) -> Result<u64>;
    /// The exact line stored at a device's sequence position, as the device sent it, if any.
    fn stored_line(&self, device: Uuid, seq: u64) -> Result<Option<Vec<u8>>>;
    /// Every forwarded family's latest evaluation (a province's), in record order.
    fn evaluations(&self) -> Result<Vec<EvaluationEntry>>;
}

/// What a work package reads of one family of its desa ([`Storage::package_sources`]).
#[derive(Debug)]
pub struct PackageSource<'a> {
    pub record: Uuid,
    /// Its current revision is accepted (only such families are packaged; the others wait for an
    /// operator).
    pub accepted: bool,
    /// The current revision's hash, where the entry keeps it (`FamilyEntry::revision_hash`).
    pub revision_hash: Option<String>,
    /// For an accepted family: the current revision's JSON ([`Tables::revision_line`]); empty for
    /// the others.
    pub line: &'a [u8],
    /// For an accepted family: the open package it is in, if any.
    pub package: Option<Uuid>,
}

/// Turns revision lines into the form the store keeps them in ([`Tables::add_revision`]), one line
/// after the other, on the import's reader threads.
pub trait Pack {
    fn pack(&mut self, line: &[u8]) -> Result<Vec<u8>, BundleError>;
}

/// One write transaction.
pub trait Transaction {
    type Tables<'t>: Tables
    where
        Self: 't;

    /// Its rows. One view at a time (a bundle's merge or a decision holds one while it works).
    fn tables(&self) -> Result<Self::Tables<'_>>;

    /// Makes everything written durable and visible at once.
    fn commit(self) -> Result<()>;
}

/// Which index of identity numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Nik,
    Kk,
}

/// A final revision received of a record: `(record, device, number)` → the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Final {
    pub device: u128,
    pub number: u32,
    /// Its position in the device's change sequence.
    pub seq: u64,
    /// Device time, in ms.
    pub at_ms: i64,
    /// It passed validation (or was released) and was not overruled.
    pub candidate: bool,
}

/// What storing a revision line found at its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Nothing: the line is stored.
    New,
    /// The same line (perhaps stored in other bytes): nothing changed.
    Same,
    /// Another line (a reset or forged tablet): the one held is kept.
    Different,
}

/// The rows of one write transaction.
pub trait Tables {
    fn device(&self, id: Uuid) -> Result<Option<DeviceEntry>>;
    fn put_device(&mut self, d: &DeviceEntry) -> Result<()>;

    fn bundle(&self, id: Uuid) -> Result<Option<BundleEntry>>;
    /// The bundle merged from a file with this SHA-256 (hex).
    fn bundle_by_file(&self, sha: &str) -> Result<Option<BundleEntry>>;
    /// Records a merged bundle and its file's SHA-256.
    fn put_bundle(&mut self, b: &BundleEntry) -> Result<()>;

    fn pending(&self, bundle: Uuid) -> Result<Option<PendingBundle>>;
    fn put_pending(&mut self, p: &PendingBundle) -> Result<()>;
    fn remove_pending(&mut self, bundle: Uuid) -> Result<()>;

    /// Adds a covered range to a device's coverage, merged with the ranges it touches.
    fn add_coverage(&mut self, device: u128, r: SeqRange) -> Result<()>;

    /// Stores a revision line (as its [`Pack`] made it) at its position unless
    /// one is there already: then the one held stays.
    fn add_revision(&mut self, device: u128, seq: u64, stored: &[u8]) -> Result<Added>;
    /// The revision stored at a position (an error if there is none).
    fn revision(&self, device: u128, seq: u64) -> Result<Revision>;
    /// What the revision stored at a position is based on, if it is a visit (an error if there is
    /// none). A store may read just that part.
    fn revision_base(&self, device: u128, seq: u64) -> Result<Option<VisitBase>> {
        Ok(self.revision(device, seq)?.base.map(|b| *b))
    }
    /// The JSON of the revision stored at a position (an error if there is none): the line as the
    /// bundle carried it, where the store keeps that.
    fn revision_line(&self, device: u128, seq: u64) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.revision(device, seq)?).map_err(|e| {
            super::RegistryError::Invalid(format!("cannot write a stored revision: {e}"))
        })
    }
    /// Stores an attachment unless one with this SHA-256 (hex) is there.
    fn add_attachment(&mut self, sha: &str, bytes: &[u8]) -> Result<()>;

    fn put_final(&mut self, record: u128, f: &Final) -> Result<()>;
    fn final_revision(&self, record: u128, device: u128, number: u32) -> Result<Option<Final>>;
    /// Every final revision received of a record, by (device, number).
    fn finals_of(&self, record: u128) -> Result<Vec<Final>>;

    fn quarantined(&self, device: Uuid, seq: u64) -> Result<Option<QuarantineEntry>>;
    fn put_quarantine(&mut self, q: &QuarantineEntry) -> Result<()>;

    fn family(&self, record: u128) -> Result<Option<FamilyEntry>>;
    fn put_family(&mut self, record: u128, e: &FamilyEntry) -> Result<()>;
    fn index_insert(&mut self, index: Index, number: u64, record: u128) -> Result<()>;
    fn index_remove(&mut self, index: Index, number: u64, record: u128) -> Result<()>;
    /// The records an index lists under `number`, in record order.
    fn indexed(&self, index: Index, number: u64) -> Result<Vec<u128>>;

    fn conflict(&self, id: u64) -> Result<Option<Conflict>>;
    fn put_conflict(&mut self, c: &Conflict) -> Result<()>;
    /// The latest conflict on a key (`Conflict::table_key`).
    fn latest_conflict(&self, key: &str) -> Result<Option<u64>>;
    fn set_latest_conflict(&mut self, key: &str, id: u64) -> Result<()>;
    /// Whether a record is in an open conflict.
    fn in_open_conflict(&self, record: u128) -> Result<bool>;
    fn add_open_conflict(&mut self, record: u128, id: u64) -> Result<()>;
    fn remove_open_conflict(&mut self, record: u128, id: u64) -> Result<()>;
    /// A new conflict id (1, 2, …).
    fn next_conflict_id(&mut self) -> Result<u64>;

    /// The number the next import run gets (1, 2, …).
    fn next_import_number(&self) -> Result<u64>;
    fn put_import(&mut self, e: &ImportEntry) -> Result<()>;

    fn package(&self, id: Uuid) -> Result<Option<PackageEntry>>;
    fn put_package(&mut self, p: &PackageEntry) -> Result<()>;
    /// The open package a family is in, if any.
    fn package_of(&self, record: u128) -> Result<Option<Uuid>>;
    /// Puts a family into an open package (`Some`) or takes it out (`None`).
    fn set_package_of(&mut self, record: u128, package: Option<Uuid>) -> Result<()>;

    /// The family a record was merged into as an update (`conflicts same`), with the hash of that
    /// family's revision its revisions count as visits of.
    fn alias_of(&self, record: u128) -> Result<Option<(u128, String)>>;
    /// The records merged into a family.
    fn aliases_into(&self, record: u128) -> Result<Vec<u128>>;
    fn put_alias(&mut self, from: u128, into: u128, base: &str) -> Result<()>;
    /// Removes a family's entry (a family merged into another).
    fn remove_family(&mut self, record: u128) -> Result<()>;

    fn operator(&self, name: &str) -> Result<Option<OperatorEntry>>;
    fn put_operator(&mut self, o: &OperatorEntry) -> Result<()>;
    /// Whether any operator was ever added (from then on, decisions need one signed in).
    fn has_operators(&self) -> Result<bool>;
    /// Appends an entry to the audit trail under the next number (1, 2, …); returns the number.
    fn add_audit(&mut self, e: &AuditEntry) -> Result<u64>;

    /// A family's latest pengesahan decision.
    fn endorsement(&self, record: u128) -> Result<Option<EndorsementEntry>>;
    fn put_endorsement(&mut self, e: &EndorsementEntry) -> Result<()>;
    /// Keeps a merged bundle's signed manifest and line hashes.
    fn put_custody(&mut self, bundle: Uuid, c: &Custody) -> Result<()>;
    /// A counter of the store (0 until set): `upward_last`, the last position of the upward sequence;
    /// `upward_watermark`, the last one forwarded.
    fn counter(&self, name: &str) -> Result<u64>;
    fn set_counter(&mut self, name: &str, value: u64) -> Result<()>;
    fn put_evaluation(&mut self, e: &EvaluationEntry) -> Result<()>;
}
