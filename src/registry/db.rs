//! The registry's own redb store (`DIR/registry.redb`): the only code of the registry that imports redb.
//! Tables and the documents they hold; opening, creating and the format version. The merge rules live in
//! `registry::import`, the operator's decisions in `registry::decide`.
//!
//! Values are JSON documents of the types below (add fields with defaults, never change meanings) or
//! fixed-width tuples where a table is large.

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use redb::{
    Database, MultimapTableDefinition, ReadableDatabase, ReadableTable, TableDefinition,
    TableHandle,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::family::Family;
use crate::bundle::manifest::{Counts, ExportKind, SeqRange};
use crate::model::Localized;

pub const STORE_FILE: &str = "registry.redb";
/// The registry store's format. Opening a newer one is refused; an older one is brought up to date.
/// 2: the NIK and KK indexes are plain tables keyed by the number (format 1: multimaps keyed by text).
pub const FORMAT_VERSION: u32 = 2;
const CACHE_BYTES: usize = 256 * 1024 * 1024;

/// `format_version` (u32 JSON), `next_conflict` (u64 JSON), `imports` (u64 JSON).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Device id → DeviceEntry.
pub const DEVICES: TableDefinition<u128, &[u8]> = TableDefinition::new("devices");
/// Bundle id → BundleEntry: every bundle merged.
pub const BUNDLES: TableDefinition<u128, &[u8]> = TableDefinition::new("bundles");
/// SHA-256 of a bundle file (hex) → bundle id: the same file twice is recognised before decrypting.
pub const FILE_HASHES: TableDefinition<&str, u128> = TableDefinition::new("file_hashes");
/// Bundle id → PendingBundle: held (not merged) until its device is approved.
pub const PENDING: TableDefinition<u128, &[u8]> = TableDefinition::new("pending");
/// (device, first position) → last position: the parts of each device's change sequence received.
pub const COVERAGE: TableDefinition<(u128, u64), u64> = TableDefinition::new("coverage");
/// (device, sequence position) → the revision's exact JSON line from the bundle, zstd-compressed with the
/// line dictionary its frame names (`zstd -d -D schemas/dict/registry-lines-1.zdict` gives the line back
/// byte for byte; lines stored before 2026-11-30 have no dictionary: `zstd -d`).
pub const REVISIONS: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("revisions");
/// (record, device, revision number) → (sequence position, device time in ms, candidate): the final
/// revisions received. A candidate passed validation (or was released) and was not overruled.
#[allow(clippy::type_complexity)]
pub const FINALS: TableDefinition<(u128, u128, u32), (u64, i64, bool)> =
    TableDefinition::new("finals");
/// Record → FamilyEntry: the current view of each family.
pub const FAMILIES: TableDefinition<u128, &[u8]> = TableDefinition::new("families");
/// (NIK as a number, record) → (): the records whose current revision lists the NIK (see [`id_number`]).
pub const NIK_INDEX: TableDefinition<(u64, u128), ()> = TableDefinition::new("nik_index");
/// (KK number as a number, record) → (): the records whose current revision has it.
pub const KK_INDEX: TableDefinition<(u64, u128), ()> = TableDefinition::new("kk_index");
/// Format 1's indexes (text → records), read only to bring a store up to format 2.
const NIKS_V1: MultimapTableDefinition<&str, u128> = MultimapTableDefinition::new("niks");
const KKS_V1: MultimapTableDefinition<&str, u128> = MultimapTableDefinition::new("kks");

/// A NIK or KK number (16 digits) as the indexes key it: a fixed-width number compares and stores
/// faster than its text. `None` for anything else (only well-formed numbers are indexed).
pub fn id_number(text: &str) -> Option<u64> {
    if text.len() == 16 && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

/// The 16-digit text of an indexed NIK or KK number.
pub fn id_text(n: u64) -> String {
    format!("{n:016}")
}

/// The records an index lists under `number`.
pub fn indexed<T: ReadableTable<(u64, u128), ()>>(t: &T, number: u64) -> DbResult<Vec<u128>> {
    let mut out = Vec::new();
    for e in t.range((number, 0)..=(number, u128::MAX))? {
        out.push(e?.0.value().1);
    }
    Ok(out)
}
/// (device, sequence position) → QuarantineEntry.
pub const QUARANTINE: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("quarantine");
/// Conflict id → Conflict.
pub const CONFLICTS: TableDefinition<u64, &[u8]> = TableDefinition::new("conflicts");
/// Conflict key (`nik:…`, `kk:…`, `record:…`) → the id of the latest conflict on it.
pub const CONFLICT_KEYS: TableDefinition<&str, u64> = TableDefinition::new("conflict_keys");
/// Record → ids of the open conflicts it is in.
pub const OPEN_BY_RECORD: MultimapTableDefinition<u128, u64> =
    MultimapTableDefinition::new("open_by_record");
/// Attachments (photos) of merged bundles: SHA-256 (hex) → bytes.
pub const ATTACHMENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("attachments");
/// Import number → ImportEntry (summary and the report snapshot after it).
pub const IMPORTS: TableDefinition<u64, &[u8]> = TableDefinition::new("imports");

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
        "the registry store {path} is damaged ({detail}); it was not changed — restore it from a backup"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("registry storage failure: {0}")]
    Storage(String),
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for DbError {
            fn from(e: $t) -> Self {
                DbError::Storage(e.to_string())
            }
        }
    )*};
}
storage_from!(
    redb::TransactionError,
    redb::SetDurabilityError,
    redb::CommitError,
    redb::StorageError,
    redb::TableError,
    redb::Error,
    serde_json::Error,
    std::io::Error
);

pub type DbResult<T> = std::result::Result<T, DbError>;

pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> DbResult<T> {
    serde_json::from_slice(bytes).map_err(|e| DbError::Storage(format!("unreadable {what}: {e}")))
}

/// The JSON document under `key` in an open table, of a read or a write transaction.
pub fn doc<T: serde::de::DeserializeOwned>(
    t: &impl ReadableTable<u128, &'static [u8]>,
    key: u128,
    what: &str,
) -> DbResult<Option<T>> {
    match t.get(key)? {
        Some(v) => Ok(Some(decode(v.value(), what)?)),
        None => Ok(None),
    }
}

pub fn encode<T: Serialize>(v: &T) -> DbResult<Vec<u8>> {
    Ok(serde_json::to_vec(v)?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Seen in a bundle, not yet trusted: its bundles are held.
    Pending,
    Approved,
    /// Its bundles are refused.
    Revoked,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Pending => "pending",
            DeviceState::Approved => "approved",
            DeviceState::Revoked => "revoked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceEntry {
    pub id: Uuid,
    pub name: String,
    /// Ed25519 public key (hex) the device signs with.
    pub public_key: String,
    pub state: DeviceState,
    pub first_seen: DateTime<FixedOffset>,
    pub changed_at: DateTime<FixedOffset>,
}

/// What one bundle's merge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeCounts {
    /// Revisions newly stored (finals that passed validation, and corrections kept as history).
    pub accepted: u64,
    /// Revisions the registry already had.
    pub duplicates: u64,
    pub quarantined: u64,
    /// Conflicts opened (or reopened) by this bundle.
    pub conflicts: u64,
    /// Positions the registry already had with different contents (a reset or forged tablet): not
    /// stored, reported for an operator.
    #[serde(default)]
    pub mismatched: u64,
}

impl MergeCounts {
    pub fn add(&mut self, o: &MergeCounts) {
        self.accepted += o.accepted;
        self.duplicates += o.duplicates;
        self.quarantined += o.quarantined;
        self.conflicts += o.conflicts;
        self.mismatched += o.mismatched;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleEntry {
    pub bundle_id: Uuid,
    pub device: Uuid,
    pub file_name: String,
    pub file_sha256: String,
    pub sequence: SeqRange,
    pub kind: ExportKind,
    pub created_at: DateTime<FixedOffset>,
    pub imported_at: DateTime<FixedOffset>,
    pub counts: Counts,
    pub merged: MergeCounts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingBundle {
    pub bundle_id: Uuid,
    pub device: Uuid,
    /// Where the held copy lives, relative to the registry folder.
    pub file: String,
    pub file_sha256: String,
    pub sequence: SeqRange,
    pub received_at: DateTime<FixedOffset>,
}

/// The registry's view of a family plus what keeps its indexes right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyEntry {
    pub family: Family,
    /// NIKs and KK number of the current revision, as indexed.
    #[serde(default)]
    pub niks: Vec<String>,
    #[serde(default)]
    pub kk: Option<String>,
    /// The report's facts about the current revision.
    #[serde(default)]
    pub facts: Option<super::facts::Facts>,
}

/// Why a revision is held: a stable code, where in the answers, and a message in both languages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub code: String,
    #[serde(default)]
    pub path: String,
    pub message: Localized,
}

impl Reason {
    pub fn new(code: &str, path: &str, id: impl Into<String>, en: impl Into<String>) -> Reason {
        Reason {
            code: code.into(),
            path: path.into(),
            message: Localized::new(id, en),
        }
    }

    /// One line for a receipt or a listing: `anggota[1].nik: NIK harus 16 digit`.
    pub fn localized(&self) -> Localized {
        if self.path.is_empty() {
            self.message.clone()
        } else {
            Localized::new(
                format!("{}: {}", self.path, self.message.id),
                format!("{}: {}", self.path, self.message.en),
            )
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineState {
    /// Waits for an operator; the tablet is told it was rejected.
    Open,
    /// An operator let it in despite the reasons.
    Released,
    /// An operator confirmed the rejection (or a conflict decision overruled it).
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    pub device: Uuid,
    pub seq: u64,
    pub record: Uuid,
    pub revision: u32,
    pub bundle: Uuid,
    pub reasons: Vec<Reason>,
    pub state: QuarantineState,
    pub held_at: DateTime<FixedOffset>,
    #[serde(default)]
    pub decided_at: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// One family (record) revised on two devices.
    TwoDevices,
    /// One NIK in two families.
    SharedNik,
    /// One KK number in two families.
    SharedKk,
}

impl ConflictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::TwoDevices => "two_devices",
            ConflictKind::SharedNik => "shared_nik",
            ConflictKind::SharedKk => "shared_kk",
        }
    }
}

/// One revision taking part in a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Member {
    pub record: Uuid,
    pub device: Uuid,
    pub revision: u32,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Decision {
    /// The operator kept this revision; the others were overruled.
    Kept { member: Member },
    /// The operator confirmed these are different families (for the members listed).
    Distinct,
    /// Nothing is shared any more (a later revision fixed it).
    Dissolved,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub id: u64,
    pub kind: ConflictKind,
    /// The NIK, the KK number or the record id they share.
    pub key: String,
    pub members: Vec<Member>,
    pub detected_at: DateTime<FixedOffset>,
    #[serde(default)]
    pub decision: Option<Decision>,
    #[serde(default)]
    pub decided_at: Option<DateTime<FixedOffset>>,
}

impl Conflict {
    pub fn is_open(&self) -> bool {
        self.decision.is_none()
    }

    pub fn table_key(kind: ConflictKind, key: &str) -> String {
        match kind {
            ConflictKind::TwoDevices => format!("record:{key}"),
            ConflictKind::SharedNik => format!("nik:{key}"),
            ConflictKind::SharedKk => format!("kk:{key}"),
        }
    }
}

/// One `registry import` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportEntry {
    pub number: u64,
    pub at: DateTime<FixedOffset>,
    pub bundles: u64,
    pub merged: MergeCounts,
    /// The report's snapshot after this import ("changes since the previous import").
    #[serde(default)]
    pub snapshot: Option<serde_json::Value>,
}

/// The open registry store.
pub struct Db {
    pub(crate) db: Database,
    pub path: PathBuf,
}

fn corrupt(path: &Path, detail: impl std::fmt::Display) -> DbError {
    DbError::Corrupt {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

impl Db {
    /// Opens the store in `dir`, creating it (under a temporary name, renamed when complete) when the
    /// folder has none yet.
    pub fn open_or_create(dir: &Path) -> DbResult<Db> {
        let path = dir.join(STORE_FILE);
        if !path.exists() {
            let tmp = dir.join(format!("{STORE_FILE}.creating"));
            if tmp.exists() {
                std::fs::remove_file(&tmp)?;
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
                txn.open_table(QUARANTINE)?;
                txn.open_table(CONFLICTS)?;
                txn.open_table(CONFLICT_KEYS)?;
                txn.open_multimap_table(OPEN_BY_RECORD)?;
                txn.open_table(IMPORTS)?;
                txn.open_table(ATTACHMENTS)?;
            }
            txn.commit()?;
            drop(db);
            std::fs::rename(&tmp, &path)?;
            crate::bundle::write::sync_dir(dir)?;
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

    /// Begins a write transaction (committed durably).
    pub(crate) fn begin_write(&self) -> DbResult<redb::WriteTransaction> {
        Ok(self.db.begin_write()?)
    }

    /// Reads one JSON document.
    pub fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        table: TableDefinition<u128, &[u8]>,
        key: u128,
    ) -> DbResult<Option<T>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(table)?;
        doc(&t, key, table.name())
    }

    /// Every document of a table keyed by id, in key order.
    pub fn all_json<T: serde::de::DeserializeOwned>(
        &self,
        table: TableDefinition<u128, &[u8]>,
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
