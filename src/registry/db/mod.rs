//! The registry's redb store (`DIR/registry.redb`): the only registry code that names redb. Opening,
//! creating, the format version and its migrations here; the tables in `tables`, the rows of a write
//! transaction in `rows`, stored revision lines in `lines`. It implements `registry::storage`'s traits;
//! the rules that decide what to write live in `registry::merge`.

mod lines;
mod rows;
pub mod tables;

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableHandle};
use uuid::Uuid;

pub use lines::Packer;
pub use rows::Rows;
use tables::*;

use super::entries::{
    AuditEntry, BundleEntry, Conflict, Custody, DeviceEntry, EndorsementEntry, EvaluationEntry,
    FamilyEntry, ImportEntry, OperatorEntry, PackageEntry, PendingBundle, QuarantineEntry,
    id_number,
};
use super::family::FamilyState;
use super::storage::{Final, Index, PackageSource, Storage, Transaction};
use super::{RegistryError, Result};
use crate::bundle::manifest::SeqRange;
use crate::model::record::{Revision, VisitBase};

pub const STORE_FILE: &str = "registry.redb";
/// The registry store's format. Opening a newer one is refused; an older one is brought up to date.
/// 2: the NIK and KK indexes are plain tables keyed by the number (format 1: multimaps keyed by text).
/// 3: work packages (`PACKAGES`, `PACKAGED`) and families merged as updates (`ALIASES`, `ALIASED`).
/// 4: operators (`OPERATORS`) and the audit trail (`AUDIT`).
/// 5: the desa index (`DESA_INDEX`): a work package reads its desa's families, not every family.
/// 6: a kabupaten/kota's pengesahan decisions (`ENDORSEMENTS`) and the signed manifests and line hashes
///    of the device bundles merged (`CUSTODY`), a province's evaluations (`EVALUATIONS`).
pub const FORMAT_VERSION: u32 = 6;
const CACHE_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the registry store is open in another pendata program; close it and try again")]
    Busy,
    #[error(
        "the registry store {path} has format {found}, newer than this program understands ({supported}): update pendata"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "the registry store {path} is damaged ({detail}); it was not changed — keep it as it is, copy the whole registry folder and give the copy to support; do not put an older backup over it (what was imported since would be lost)"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("registry storage failure: {0}")]
    Redb(#[from] redb::Error),
    #[error("registry storage failure: unreadable {what}: {source}")]
    Unreadable {
        what: String,
        source: serde_json::Error,
    },
    #[error("registry storage failure: {0}")]
    Json(#[from] serde_json::Error),
    #[error("registry storage failure: {0}")]
    Io(#[from] std::io::Error),
    /// Something the store should hold is missing or damaged.
    #[error("registry storage failure: {0}")]
    Storage(String),
}

/// redb's errors become a `DbError` (and so a `RegistryError`) with `?`, keeping their source.
macro_rules! redb_from {
    ($($t:ty),*) => {$(
        impl From<$t> for DbError {
            fn from(e: $t) -> Self {
                DbError::Redb(e.into())
            }
        }
        impl From<$t> for RegistryError {
            fn from(e: $t) -> Self {
                RegistryError::Db(DbError::Redb(e.into()))
            }
        }
    )*};
}
redb_from!(
    redb::TransactionError,
    redb::SetDurabilityError,
    redb::CommitError,
    redb::StorageError,
    redb::TableError
);

impl From<redb::Error> for RegistryError {
    fn from(e: redb::Error) -> Self {
        RegistryError::Db(DbError::Redb(e))
    }
}

pub type DbResult<T> = std::result::Result<T, DbError>;

pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> DbResult<T> {
    serde_json::from_slice(bytes).map_err(|source| DbError::Unreadable {
        what: what.to_string(),
        source,
    })
}

pub(crate) fn encode<T: serde::Serialize>(v: &T) -> DbResult<Vec<u8>> {
    Ok(serde_json::to_vec(v)?)
}

/// The JSON document under `key` in an open table, of a read or a write transaction.
fn doc<K: redb::Key + 'static, T: serde::de::DeserializeOwned>(
    t: &impl ReadableTable<K, &'static [u8]>,
    key: K::SelfType<'_>,
    what: &str,
) -> DbResult<Option<T>> {
    match t.get(key)? {
        Some(v) => Ok(Some(decode(v.value(), what)?)),
        None => Ok(None),
    }
}

/// The open registry store.
pub struct Db {
    db: Database,
    pub path: PathBuf,
}

fn corrupt(path: &Path, detail: impl std::fmt::Display) -> DbError {
    DbError::Corrupt {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

/// A write transaction of the registry store.
pub struct Txn(redb::WriteTransaction);

impl Transaction for Txn {
    type Tables<'t> = Rows<'t>;

    fn tables(&self) -> Result<Rows<'_>> {
        Rows::open(&self.0)
    }

    fn commit(self) -> Result<()> {
        Ok(self.0.commit()?)
    }
}

impl Db {
    /// Opens the store in `dir`, creating it (under a temporary name, renamed when complete) when the
    /// folder has none yet.
    pub fn open_or_create(dir: &Path) -> DbResult<Db> {
        let path = dir.join(STORE_FILE);
        if !path.exists() {
            create(dir, &path)?;
        }
        let db = match Database::builder().set_cache_size(CACHE_BYTES).open(&path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(DbError::Busy),
            Err(e) => return Err(corrupt(&path, e)),
        };
        let me = Db { db, path };
        let found: u32 = {
            let txn = me.db.begin_read()?;
            let meta = txn.open_table(META)?;
            let v = meta
                .get("format_version")?
                .ok_or_else(|| corrupt(&me.path, "no format version"))?;
            decode(v.value(), "format version")?
        };
        if found > FORMAT_VERSION {
            return Err(DbError::TooNew {
                path: me.path.clone(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        if found < 2 {
            me.migrate_1_to_2()?;
        }
        if found < 3 {
            me.migrate_2_to_3()?;
        }
        if found < 4 {
            me.migrate_3_to_4()?;
        }
        if found < 5 {
            me.migrate_4_to_5()?;
        }
        if found < 6 {
            me.migrate_5_to_6()?;
        }
        Ok(me)
    }

    /// Format 1 → 2: the NIK and KK indexes are rebuilt from the family entries (which list what is
    /// indexed), in one transaction.
    fn migrate_1_to_2(&self) -> DbResult<()> {
        let txn = self.db.begin_write()?;
        {
            txn.delete_multimap_table(NIKS_V1)?;
            txn.delete_multimap_table(KKS_V1)?;
            let mut niks = txn.open_table(NIK_INDEX)?;
            let mut kks = txn.open_table(KK_INDEX)?;
            let families = txn.open_table(FAMILIES)?;
            for e in families.iter()? {
                let (k, v) = e?;
                let entry: FamilyEntry = decode(v.value(), "family")?;
                for n in entry.niks.iter().filter_map(|n| id_number(n)) {
                    niks.insert((n, k.value()), ())?;
                }
                if let Some(n) = entry.kk.as_deref().and_then(id_number) {
                    kks.insert((n, k.value()), ())?;
                }
            }
            let mut meta = txn.open_table(META)?;
            meta.insert("format_version", encode(&2u32)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Format 2 → 3: the work package tables, empty.
    fn migrate_2_to_3(&self) -> DbResult<()> {
        let txn = self.db.begin_write()?;
        {
            txn.open_table(PACKAGES)?;
            txn.open_table(PACKAGED)?;
            txn.open_table(ALIASES)?;
            txn.open_multimap_table(ALIASED)?;
            let mut meta = txn.open_table(META)?;
            meta.insert("format_version", encode(&3u32)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Format 3 → 4: the operator and audit tables, empty (decisions made before have no author).
    fn migrate_3_to_4(&self) -> DbResult<()> {
        let txn = self.db.begin_write()?;
        {
            txn.open_table(OPERATORS)?;
            txn.open_table(AUDIT)?;
            let mut meta = txn.open_table(META)?;
            meta.insert("format_version", encode(&4u32)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Format 4 → 5: the desa index, built from the family entries (which name their desa), in one
    /// transaction.
    fn migrate_4_to_5(&self) -> DbResult<()> {
        let txn = self.db.begin_write()?;
        {
            let mut desa = txn.open_table(DESA_INDEX)?;
            let families = txn.open_table(FAMILIES)?;
            for e in families.iter()? {
                let (k, v) = e?;
                let entry: FamilyEntry = decode(v.value(), "family")?;
                if let Some(d) = rows::entry_desa(&entry) {
                    desa.insert((d, k.value()), ())?;
                }
            }
            let mut meta = txn.open_table(META)?;
            meta.insert("format_version", encode(&5u32)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Format 5 → 6: the pengesahan table, empty.
    fn migrate_5_to_6(&self) -> DbResult<()> {
        let txn = self.db.begin_write()?;
        {
            txn.open_table(ENDORSEMENTS)?;
            txn.open_table(CUSTODY)?;
            txn.open_table(EVALUATIONS)?;
            let mut meta = txn.open_table(META)?;
            meta.insert("format_version", encode(&6u32)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Makes the store look like one of format 3 (no operator, audit or desa index tables), for the test that such
    /// a store opens and is brought up to date. Test support only.
    #[cfg(feature = "test-support")]
    pub fn downgrade_to_3(&self) -> DbResult<()> {
        let txn = self.db.begin_write()?;
        txn.delete_table(OPERATORS)?;
        txn.delete_table(AUDIT)?;
        txn.delete_table(DESA_INDEX)?;
        txn.delete_table(ENDORSEMENTS)?;
        txn.delete_table(CUSTODY)?;
        txn.delete_table(EVALUATIONS)?;
        txn.open_table(META)?
            .insert("format_version", encode(&3u32)?.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// The store's format version as recorded in it.
    pub fn format_version(&self) -> DbResult<u32> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let v = meta
            .get("format_version")?
            .ok_or_else(|| corrupt(&self.path, "no format version"))?;
        decode(v.value(), "format version")
    }

    /// Every document of a table keyed by id, in key order.
    fn all_json<T: serde::de::DeserializeOwned>(
        &self,
        table: redb::TableDefinition<u128, &[u8]>,
    ) -> DbResult<Vec<T>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(table)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (_, v) = e?;
            out.push(decode(v.value(), table.name())?);
        }
        Ok(out)
    }
}

/// A new, empty store of the current format, created under a temporary name and renamed when complete.
fn create(dir: &Path, path: &Path) -> DbResult<()> {
    let tmp = dir.join(format!("{STORE_FILE}.creating"));
    if tmp.exists() {
        std::fs::remove_file(&tmp)?;
    }
    // The store holds every family's answers: the owner's alone from its first byte (redb fills an
    // empty file it is given).
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&tmp)?;
    }
    let db = Database::builder()
        .create(&tmp)
        .map_err(|e| corrupt(&tmp, e))?;
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        meta.insert("format_version", encode(&FORMAT_VERSION)?.as_slice())?;
        txn.open_table(DEVICES)?;
        txn.open_table(BUNDLES)?;
        txn.open_table(FILE_HASHES)?;
        txn.open_table(PENDING)?;
        txn.open_table(COVERAGE)?;
        txn.open_table(REVISIONS)?;
        txn.open_table(FINALS)?;
        txn.open_table(FAMILIES)?;
        txn.open_table(NIK_INDEX)?;
        txn.open_table(KK_INDEX)?;
        txn.open_table(DESA_INDEX)?;
        txn.open_table(QUARANTINE)?;
        txn.open_table(CONFLICTS)?;
        txn.open_table(CONFLICT_KEYS)?;
        txn.open_multimap_table(OPEN_BY_RECORD)?;
        txn.open_table(IMPORTS)?;
        txn.open_table(ATTACHMENTS)?;
        txn.open_table(PACKAGES)?;
        txn.open_table(PACKAGED)?;
        txn.open_table(ALIASES)?;
        txn.open_multimap_table(ALIASED)?;
        txn.open_table(OPERATORS)?;
        txn.open_table(AUDIT)?;
        txn.open_table(ENDORSEMENTS)?;
        txn.open_table(CUSTODY)?;
        txn.open_table(EVALUATIONS)?;
    }
    txn.commit()?;
    drop(db);
    std::fs::rename(&tmp, path)?;
    crate::bundle::write::sync_dir(dir)?;
    Ok(())
}

impl Storage for Db {
    type Txn = Txn;
    type Packer = Packer;

    fn packer(&self) -> std::result::Result<Packer, crate::bundle::BundleError> {
        lines::packer()
    }

    fn begin(&self) -> Result<Txn> {
        Ok(Txn(self.db.begin_write()?))
    }

    fn bundle(&self, id: Uuid) -> Result<Option<BundleEntry>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(BUNDLES)?;
        Ok(doc(&t, id.as_u128(), BUNDLES.name())?)
    }

    fn device(&self, id: Uuid) -> Result<Option<DeviceEntry>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(DEVICES)?;
        Ok(doc(&t, id.as_u128(), DEVICES.name())?)
    }

    fn devices(&self) -> Result<Vec<DeviceEntry>> {
        Ok(self.all_json(DEVICES)?)
    }

    fn pending_bundles(&self) -> Result<Vec<PendingBundle>> {
        Ok(self.all_json(PENDING)?)
    }

    fn bundles(&self) -> Result<Vec<BundleEntry>> {
        Ok(self.all_json(BUNDLES)?)
    }

    fn coverage(&self, device: Uuid) -> Result<Vec<SeqRange>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(COVERAGE)?;
        let mut out = Vec::new();
        let d = device.as_u128();
        for e in t.range((d, 0)..=(d, u64::MAX))? {
            let (k, v) = e?;
            out.push(SeqRange {
                from: k.value().1,
                to: v.value(),
            });
        }
        Ok(out)
    }

    fn quarantine(&self) -> Result<Vec<QuarantineEntry>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(QUARANTINE)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (_, v) = e?;
            out.push(decode(v.value(), "quarantine entry")?);
        }
        Ok(out)
    }

    fn conflicts(&self) -> Result<Vec<Conflict>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(CONFLICTS)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (_, v) = e?;
            out.push(decode(v.value(), "conflict")?);
        }
        Ok(out)
    }

    fn family(&self, record: Uuid) -> Result<Option<FamilyEntry>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(FAMILIES)?;
        Ok(doc(&t, record.as_u128(), FAMILIES.name())?)
    }

    fn families(&self, mut f: impl FnMut(&FamilyEntry) -> Result<()>) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let fams = txn.open_table(FAMILIES)?;
        let mut n = 0;
        for e in fams.iter()? {
            let (_, v) = e?;
            f(&decode(v.value(), "family")?)?;
            n += 1;
        }
        Ok(n)
    }

    fn family_count(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        Ok(redb::ReadableTableMetadata::len(
            &txn.open_table(FAMILIES)?,
        )?)
    }

    fn families_in_desa(
        &self,
        desa: u64,
        mut f: impl FnMut(&FamilyEntry) -> Result<()>,
    ) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let index = txn.open_table(DESA_INDEX)?;
        let fams = txn.open_table(FAMILIES)?;
        let mut n = 0;
        for record in rows::indexed(&index, desa)? {
            let fam: FamilyEntry = doc(&fams, record, FAMILIES.name())?.ok_or_else(|| {
                DbError::Storage("the desa index names a family that is missing".into())
            })?;
            f(&fam)?;
            n += 1;
        }
        Ok(n)
    }

    fn package_sources(
        &self,
        desa: u64,
        mut f: impl FnMut(PackageSource<'_>) -> Result<()>,
    ) -> Result<u64> {
        // Of an entry only what a package needs is built (its NIKs, KK and facts are skipped).
        #[derive(serde::Deserialize)]
        struct Slim {
            family: SlimFamily,
            #[serde(default)]
            revision_hash: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct SlimFamily {
            record: Uuid,
            state: FamilyState,
            device: Uuid,
            seq: u64,
        }
        let txn = self.db.begin_read()?;
        let index = txn.open_table(DESA_INDEX)?;
        let fams = txn.open_table(FAMILIES)?;
        let revs = txn.open_table(REVISIONS)?;
        let packaged = txn.open_table(PACKAGED)?;
        let mut n = 0;
        for record in rows::indexed(&index, desa)? {
            let e: Slim = doc(&fams, record, FAMILIES.name())?.ok_or_else(|| {
                DbError::Storage("the desa index names a family that is missing".into())
            })?;
            let accepted = e.family.state == FamilyState::Accepted;
            let (line, package) = if accepted {
                let raw = revs
                    .get((e.family.device.as_u128(), e.family.seq))?
                    .ok_or_else(|| DbError::Storage("a family's revision is missing".into()))?;
                let package = packaged
                    .get(e.family.record.as_u128())?
                    .map(|v| Uuid::from_u128(v.value()));
                (lines::unpack(raw.value())?, package)
            } else {
                (Vec::new(), None)
            };
            f(PackageSource {
                record: e.family.record,
                accepted,
                revision_hash: e.revision_hash,
                line: &line,
                package,
            })?;
            n += 1;
        }
        Ok(n)
    }

    fn families_with_revisions(
        &self,
        mut f: impl FnMut(&FamilyEntry, &Revision) -> Result<()>,
    ) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let fams = txn.open_table(FAMILIES)?;
        let revs = txn.open_table(REVISIONS)?;
        let mut n = 0;
        for e in fams.iter()? {
            let (_, v) = e?;
            let fam: FamilyEntry = decode(v.value(), "family")?;
            let raw = revs
                .get((fam.family.device.as_u128(), fam.family.seq))?
                .ok_or_else(|| DbError::Storage("a family's revision is missing".into()))?;
            let rev: Revision = decode(&lines::unpack(raw.value())?, "revision")?;
            f(&fam, &rev)?;
            n += 1;
        }
        Ok(n)
    }

    fn families_with_revisions_from(
        &self,
        after: Option<Uuid>,
        max: usize,
        mut f: impl FnMut(&FamilyEntry, &Revision) -> Result<()>,
    ) -> Result<Option<Uuid>> {
        use std::ops::Bound;
        let txn = self.db.begin_read()?;
        let fams = txn.open_table(FAMILIES)?;
        let revs = txn.open_table(REVISIONS)?;
        let from = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.as_u128()));
        let mut last = None;
        for e in fams.range((from, Bound::Unbounded))?.take(max) {
            let (_, v) = e?;
            let fam: FamilyEntry = decode(v.value(), "family")?;
            let raw = revs
                .get((fam.family.device.as_u128(), fam.family.seq))?
                .ok_or_else(|| DbError::Storage("a family's revision is missing".into()))?;
            let rev: Revision = decode(&lines::unpack(raw.value())?, "revision")?;
            f(&fam, &rev)?;
            last = Some(fam.family.record);
        }
        Ok(last)
    }

    fn families_based(
        &self,
        records: &[Uuid],
        mut f: impl FnMut(&FamilyEntry, Option<&VisitBase>) -> Result<()>,
    ) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let fams = txn.open_table(FAMILIES)?;
        let revs = txn.open_table(REVISIONS)?;
        let mut n = 0;
        for r in records {
            let Some(fam) = doc::<_, FamilyEntry>(&fams, r.as_u128(), FAMILIES.name())? else {
                continue;
            };
            let raw = revs
                .get((fam.family.device.as_u128(), fam.family.seq))?
                .ok_or_else(|| DbError::Storage("a family's revision is missing".into()))?;
            f(&fam, rows::stored_base(raw.value())?.as_ref())?;
            n += 1;
        }
        Ok(n)
    }

    fn indexed(&self, index: Index, number: u64) -> Result<Vec<Uuid>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(index_table(index))?;
        Ok(rows::indexed(&t, number)?
            .into_iter()
            .map(Uuid::from_u128)
            .collect())
    }

    fn imports(&self) -> Result<Vec<ImportEntry>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(IMPORTS)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (_, v) = e?;
            out.push(decode(v.value(), "import")?);
        }
        Ok(out)
    }

    fn packages(&self) -> Result<Vec<PackageEntry>> {
        Ok(self.all_json(PACKAGES)?)
    }

    fn stored_revision(&self, device: Uuid, seq: u64) -> Result<Option<Revision>> {
        let txn = self.db.begin_read()?;
        let revs = txn.open_table(REVISIONS)?;
        let Some(raw) = revs.get((device.as_u128(), seq))? else {
            return Ok(None);
        };
        Ok(Some(decode(&lines::unpack(raw.value())?, "revision")?))
    }

    fn operators(&self) -> Result<Vec<OperatorEntry>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(OPERATORS)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (_, v) = e?;
            out.push(decode(v.value(), OPERATORS.name())?);
        }
        Ok(out)
    }

    fn audit(&self) -> Result<Vec<AuditEntry>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(AUDIT)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (_, v) = e?;
            out.push(decode(v.value(), AUDIT.name())?);
        }
        Ok(out)
    }

    fn conflict(&self, id: u64) -> Result<Option<Conflict>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(CONFLICTS)?;
        Ok(doc(&t, id, CONFLICTS.name())?)
    }

    fn finals_of(&self, record: Uuid) -> Result<Vec<Final>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(FINALS)?;
        let r = record.as_u128();
        let mut out = Vec::new();
        for e in t.range((r, 0, 0)..=(r, u128::MAX, u32::MAX))? {
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

    fn endorsements(&self) -> Result<Vec<EndorsementEntry>> {
        Ok(self.all_json(ENDORSEMENTS)?)
    }

    fn custody(&self, bundle: Uuid) -> Result<Option<Custody>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(CUSTODY)?;
        let Some(v) = t.get(bundle.as_u128())? else {
            return Ok(None);
        };
        Custody::from_bytes(v.value())
            .map(Some)
            .ok_or_else(|| corrupt(&self.path, format!("custody of bundle {bundle}")).into())
    }

    fn evaluations(&self) -> Result<Vec<EvaluationEntry>> {
        Ok(self.all_json(EVALUATIONS)?)
    }

    fn stored_line(&self, device: Uuid, seq: u64) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        let revs = txn.open_table(REVISIONS)?;
        let Some(raw) = revs.get((device.as_u128(), seq))? else {
            return Ok(None);
        };
        Ok(Some(lines::unpack(raw.value())?))
    }

    fn counter(&self, name: &str) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(match meta.get(name)? {
            Some(v) => decode(v.value(), name)?,
            None => 0,
        })
    }
}

fn index_table(index: Index) -> redb::TableDefinition<'static, (u64, u128), ()> {
    match index {
        Index::Nik => NIK_INDEX,
        Index::Kk => KK_INDEX,
    }
}
