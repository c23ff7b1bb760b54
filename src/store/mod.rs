//! The device store: the only code that touches redb on the tablet. Every user action is one write
//! transaction, committed durably (fsync) before the function returns. Records are never overwritten:
//! each change appends a revision with a full snapshot of the answers, and a gap-free device change
//! sequence orders every revision.
//!
//! The store does not know forms: use cases in `app` validate with the form engine and then call
//! [`Store::finalize`], which refuses when the record changed since it was validated. Of the household
//! form it knows only the names of the fields the list and search show (`model::household`).

mod crypt;
mod frames;
pub mod keys;
mod list;
mod open;
mod package;
#[cfg(feature = "test-support")]
pub mod power_cut;
/// The store's cipher, for the benchmarks' throughput figure.
#[cfg(feature = "test-support")]
pub use crypt::{BlockCipher, DataKey};
#[cfg(feature = "test-support")]
pub use crypt::{READ_BYTES, READ_CALLS};
mod rewrite;
mod sync;
mod tables;
mod text;

pub use list::{ListFilter, ListRow, ListView};
pub use open::{Access, Opened, STAMP_FILE, Unlock, holders};
pub use package::{PackageApplied, PackageLog, PackagedRecord};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chrono::{DateTime, FixedOffset};
use ed25519_dalek::SigningKey;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::model::Localized;
use crate::model::household::{self as hh, member};
use tables::{
    ATTACHMENTS, EXPORTED, LIST, META, MILESTONES, OUTBOX, PACKAGES, PETUGAS, RECORDS, REVISIONS,
    SEARCH, SEQUENCE,
};

/// The store format this build writes. Older formats are migrated on open; newer ones are refused.
pub const FORMAT_VERSION: u32 = 9;

/// redb's page cache. Its default (1 GiB) would let a long export or import grow the tablet app's memory
/// far past its budget; the operating system's file cache still holds what is read often.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The file name of the store inside the data directory.
pub const STORE_FILE: &str = "pendata.redb";

pub use crate::model::record::{Action, Answers, Revision, Status};
pub use frames::{ExportFrame, Outgoing};
pub use sync::{ExportItem, ExportLog, Marked, Purged, ReceiptLog, ReceiptOutcome, RejectionIn};

/// What went wrong in the store. Each variant says what happened; `Display` says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no Pendata store in {0}: run `pendata init --device-name NAME` first")]
    NotInitialized(PathBuf),
    #[error("a Pendata store already exists in {0}; it was left untouched")]
    AlreadyInitialized(PathBuf),
    #[error(
        "the store in {path} has format {found}, newer than this program understands ({supported}): install pendata {needed} or newer"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
        needed: String,
    },
    #[error(
        "the store file {path} is damaged ({detail}); it was left as it is. Do not delete it or init a new store: copy the whole data folder somewhere safe and give it to support. Families already exported are safe at the registry"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the store file {0} is read-only, so Pendata cannot save into it; nothing is lost: make it writable again (`chmod u+w`, or the file's properties) and try again"
    )]
    ReadOnlyFile(PathBuf),
    #[error(
        "no permission to open {0}: the data may well be there; give this user access to it again (its owner or an administrator) — do not run `pendata init`, which would start a second store"
    )]
    NoPermission(PathBuf),
    #[error("the store is open in another Pendata program; close it and try again")]
    Busy,
    #[error("storage failure: {0}")]
    Storage(String),
    #[error("no record {0}")]
    UnknownRecord(Uuid),
    #[error("no petugas with code `{0}`: add one with `pendata petugas add`")]
    UnknownPetugas(String),
    #[error("petugas `{0}` already exists")]
    PetugasExists(String),
    #[error("wrong PIN for petugas `{0}`")]
    WrongPin(String),
    #[error(
        "the store is locked: give a petugas's PIN (or the recovery code) with --pin-stdin or PENDATA_PIN"
    )]
    PinNeeded,
    #[error("wrong PIN (or recovery code): no petugas of this tablet has it")]
    WrongSecret,
    #[error(
        "wrong recovery code: nothing was changed (the supervisor keeps the code shown at setup)"
    )]
    WrongRecoveryCode,
    #[error("too many wrong PINs: wait {wait_secs} seconds before the next try")]
    TooManyTries { wait_secs: u64 },
    /// Bad input, said in both languages (the petugas reads it in the app).
    #[error("{}", .0.en)]
    Invalid(crate::model::Localized),
    #[error("record {id} is {from}; it cannot become {to}")]
    IllegalTransition { id: Uuid, from: Status, to: Status },
    #[error("record {0} is final: give a reason to correct it")]
    ReasonRequired(Uuid),
    #[error("record {id} changed since it was checked (now revision {now}); check it again")]
    Stale { id: Uuid, now: u32 },
}

impl StoreError {
    /// Whether the error is a refusal of the request (exit 1) rather than bad input or a failure.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            StoreError::IllegalTransition { .. }
                | StoreError::ReasonRequired(_)
                | StoreError::Stale { .. }
                | StoreError::WrongPin(_)
                | StoreError::WrongSecret
                | StoreError::WrongRecoveryCode
                | StoreError::TooManyTries { .. }
                | StoreError::AlreadyInitialized(_)
                | StoreError::PetugasExists(_)
        )
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Storage(e.to_string())
            }
        }
    )*};
}
storage_from!(
    redb::TransactionError,
    redb::CommitError,
    redb::StorageError,
    redb::TableError,
    redb::Error,
    serde_json::Error,
    std::io::Error
);

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The device: created once by `init`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<FixedOffset>,
    /// Ed25519 public key, hex.
    pub public_key: String,
    /// A demo tablet (`pendata init --demo`): only it takes synthetic families, and its bundles say so.
    /// Absent (false) in stores made before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub demo: bool,
}

/// A petugas as stored. Their PIN unwraps the store's key (`store::keys`); a plaintext store of an
/// earlier build kept an argon2id hash of it instead.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Petugas {
    pub code: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pin_hash: String,
    pub created_at: DateTime<FixedOffset>,
}

/// A status change of a record, kept in its head (exports and receipts are not content revisions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub status: Status,
    pub at: DateTime<FixedOffset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Localized>,
}

/// What the list and search show of a family without reading its answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    #[serde(default)]
    pub head_name: String,
    #[serde(default)]
    pub no_kk: String,
    #[serde(default)]
    pub desa: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub members: usize,
}

impl Summary {
    /// Reads the household form's well-known fields; other forms get what they share of them.
    pub fn of(answers: &Answers) -> Summary {
        let text = |k: &str| {
            answers
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let members = answers.get(hh::MEMBERS).and_then(Value::as_array);
        let head = members
            .and_then(|m| {
                m.iter().find(|a| {
                    a.get(member::RELATION).and_then(Value::as_str) == Some(hh::HEAD_OF_FAMILY)
                })
            })
            .and_then(|a| a.get(member::NAME))
            .and_then(Value::as_str)
            .map(str::to_string);
        Summary {
            head_name: head.unwrap_or_else(|| text(hh::HEAD_NAME)),
            no_kk: text(hh::NO_KK),
            desa: text(hh::DESA),
            address: text(hh::ADDRESS),
            members: members.map_or(0, Vec::len),
        }
    }
}

/// The current view of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordHead {
    pub id: Uuid,
    pub form_id: String,
    pub form_version: u64,
    pub status: Status,
    /// Number of the latest revision (from 1).
    pub revision: u32,
    /// Sequence position of the latest revision (0 before the first; since format 8, which fills it
    /// in every head).
    #[serde(default)]
    pub seq: u64,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
    pub created_by: String,
    pub updated_by: String,
    pub summary: Summary,
    /// Status changes after finalizing: exports, acceptance, rejection with the registry's reasons.
    #[serde(default)]
    pub events: Vec<StatusEvent>,
    #[serde(default)]
    terms: Vec<String>,
    /// A registry family brought by a work package: the visit's base, stamped on every revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<crate::model::record::VisitBase>,
}

impl RecordHead {
    /// When the registry accepted the family (the latest acceptance), if it is accepted now.
    pub fn accepted_at(&self) -> Option<DateTime<FixedOffset>> {
        if self.status != Status::Accepted {
            return None;
        }
        self.events
            .iter()
            .rev()
            .find(|e| e.status == Status::Accepted)
            .map(|e| e.at)
    }

    /// A new draft with no revision yet.
    fn new(
        id: Uuid,
        form_id: String,
        form_version: u64,
        petugas: &str,
        now: DateTime<FixedOffset>,
    ) -> RecordHead {
        RecordHead {
            id,
            form_id,
            form_version,
            status: Status::Draft,
            revision: 0,
            seq: 0,
            created_at: now,
            updated_at: now,
            created_by: petugas.to_string(),
            updated_by: petugas.to_string(),
            summary: Summary::default(),
            events: Vec::new(),
            terms: Vec::new(),
            base: None,
        }
    }

    /// The registry's reasons, when the latest decision was a rejection.
    pub fn rejection_reasons(&self) -> &[Localized] {
        match self.events.last() {
            Some(e) if self.status == Status::Rejected => &e.reasons,
            _ => &[],
        }
    }
}

/// A record to create in a batch.
pub struct NewRecord {
    pub form_id: String,
    pub form_version: u64,
    pub answers: Answers,
    pub finalize: bool,
    pub acknowledged: Vec<String>,
}

/// Families per status (the home screen's figures).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub draft: usize,
    pub final_: usize,
    pub exported: usize,
    pub accepted: usize,
    pub rejected: usize,
}

/// The open device store.
pub struct Store {
    db: open::Db,
    path: PathBuf,
    /// The data directory, for the clean-close stamp (none while the store is built, or on a simulated
    /// disk).
    dir: Option<PathBuf>,
    opened: Opened,
    /// The keys of an encrypted store (`None`: a plaintext store of an earlier build).
    keys: std::sync::Mutex<Option<open::Keys>>,
    /// The recovery code, only on the store `init` just made (shown once).
    recovery: Option<String>,
}

impl Drop for Store {
    /// Closes the database, then stamps the file as closed cleanly (see `store::open`).
    fn drop(&mut self) {
        if let open::Db::Write(db) = std::mem::replace(&mut self.db, open::Db::Closed) {
            let closed = db.close();
            if let (Ok(()), Some(dir)) = (closed, &self.dir) {
                open::stamp(dir);
            }
        }
    }
}

fn corrupt(path: &Path, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Storage(format!("unreadable {what}: {e}")))
}

/// Lower-cased, accent-free words for search.
pub fn search_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
}

fn terms_of(answers: &Answers) -> Vec<String> {
    let mut terms = BTreeSet::new();
    let mut add_text = |s: &str| terms.extend(search_words(s));
    for key in [hh::ADDRESS, hh::HEAD_NAME, hh::RESPONDENT_NAME, hh::NO_KK] {
        if let Some(s) = answers.get(key).and_then(Value::as_str) {
            add_text(s);
        }
    }
    for m in answers
        .get(hh::MEMBERS)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for key in [member::NAME, member::NIK] {
            if let Some(s) = m.get(key).and_then(Value::as_str) {
                add_text(s);
            }
        }
    }
    terms.into_iter().filter(|t| t.len() <= 64).collect()
}

impl Store {
    fn file(dir: &Path) -> PathBuf {
        dir.join(STORE_FILE)
    }

    /// Creates the store and the device identity in `dir`. Refuses when a store is already there.
    pub fn create(
        dir: &Path,
        device_name: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<(Store, DeviceInfo)> {
        Self::create_as(dir, device_name, now, false, None)
    }

    /// [`Store::create`] with its first petugas (`code`, `name`, `pin`): the first-run setup. The
    /// store's key is wrapped for that petugas and the recovery code from the start: it never has a
    /// setup slot.
    pub fn create_with_petugas(
        dir: &Path,
        device_name: &str,
        first: (&str, &str, &str),
        now: DateTime<FixedOffset>,
    ) -> Result<(Store, DeviceInfo)> {
        let (code, name, pin) = first;
        check_petugas(code, name, pin)?;
        Self::create_as(dir, device_name, now, false, Some(first))
    }

    /// [`Store::create`] for a demo tablet: marked as such from its first transaction.
    pub fn create_demo(
        dir: &Path,
        device_name: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<(Store, DeviceInfo)> {
        Self::create_as(dir, device_name, now, true, None)
    }

    fn create_as(
        dir: &Path,
        device_name: &str,
        now: DateTime<FixedOffset>,
        demo: bool,
        first: Option<(&str, &str, &str)>,
    ) -> Result<(Store, DeviceInfo)> {
        let name = device_name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid(Localized::new(
                "nama perangkat belum diisi",
                "the device name is empty",
            )));
        }
        let path = match open::locate(dir) {
            Ok(_) | Err(StoreError::Corrupt { .. }) => {
                return Err(StoreError::AlreadyInitialized(dir.to_path_buf()));
            }
            Err(StoreError::NotInitialized(_)) => Self::file(dir),
            Err(e) => return Err(e),
        };
        let new_dir = !dir.exists();
        std::fs::create_dir_all(dir)?;
        if new_dir {
            make_private(dir, 0o700)?;
        }
        // Built under a temporary name and renamed when complete: a crash during `init` never leaves a
        // half-made store under the real name.
        let tmp = dir.join(format!("{STORE_FILE}.creating"));
        if tmp.exists() {
            std::fs::remove_file(&tmp)?;
        }
        // The key header first: a data key under a new master key, wrapped for the recovery code and
        // (until the first petugas is added) in the setup slot.
        let (mut header, master, data) = keys::Header::new()?;
        let recovery = keys::new_recovery_code()?;
        header.add_slot(keys::Holder::Recovery, &recovery, &master)?;
        match first {
            Some((code, pname, pin)) => header.add_slot(
                keys::Holder::Petugas {
                    code: code.trim().to_string(),
                    name: pname.trim().to_string(),
                },
                pin,
                &master,
            )?,
            None => header.add_slot(keys::Holder::Setup, "", &master)?,
        }
        {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            // Private before the device key and any family is written into it.
            make_private(&tmp, 0o600)?;
            header.write(&file, true)?;
        }
        let db = open::encrypted_db(&tmp, &data, false, true)?;
        let (store, device) = Store::init(db, tmp.clone(), name, now, demo)?;
        if let Some((code, pname, _)) = first {
            store.insert_petugas(&Petugas {
                code: code.trim().to_string(),
                name: pname.trim().to_string(),
                pin_hash: String::new(),
                created_at: now,
            })?;
        }
        drop(store);
        std::fs::rename(&tmp, &path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            // Makes the rename durable where directories can be synced (not on Windows).
            let _ = d.sync_all();
        }
        let mut store = Store::open_with_keys(
            dir,
            open::Keys {
                header,
                master,
                data,
                signed_in: first.map(|(code, _, _)| code.trim().to_string()),
            },
        )?;
        store.recovery = Some(recovery);
        Ok((store, device))
    }

    /// Adds the row of a petugas whose key slot is already in the header (the first-run setup).
    fn insert_petugas(&self, petugas: &Petugas) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(PETUGAS)?.insert(
            petugas.code.as_str(),
            serde_json::to_vec(petugas)?.as_slice(),
        )?;
        txn.commit()?;
        Ok(())
    }

    /// The recovery code of a store this instance just made (`init`): to be shown once, written down
    /// and kept by the supervisor. `None` on a store opened later.
    pub fn recovery_code(&self) -> Option<&str> {
        self.recovery.as_deref()
    }

    /// Writes the device identity and the empty tables into a new database.
    fn init(
        db: Database,
        path: PathBuf,
        name: &str,
        now: DateTime<FixedOffset>,
        demo: bool,
    ) -> Result<(Store, DeviceInfo)> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| StoreError::Storage(format!("no randomness: {e}")))?;
        let key = SigningKey::from_bytes(&secret);
        let device = DeviceInfo {
            id: Uuid::now_v7(),
            name: name.to_string(),
            created_at: now,
            public_key: hex(key.verifying_key().as_bytes()),
            demo,
        };
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            meta.insert(
                "format_version",
                serde_json::to_vec(&FORMAT_VERSION)?.as_slice(),
            )?;
            meta.insert("device", serde_json::to_vec(&device)?.as_slice())?;
            meta.insert("device_secret", secret.as_slice())?;
            meta.insert(DEVICE_AGE, new_age_identity().as_bytes())?;
            txn.open_table(PACKAGES)?;
            txn.open_table(RECORDS)?;
            txn.open_table(LIST)?;
            txn.open_table(REVISIONS)?;
            txn.open_table(SEQUENCE)?;
            txn.open_table(MILESTONES)?;
            txn.open_table(OUTBOX)?;
            txn.open_table(EXPORTED)?;
            txn.open_table(PETUGAS)?;
            txn.open_table(ATTACHMENTS)?;
            txn.open_multimap_table(SEARCH)?;
        }
        frames::create(&txn)?;
        txn.commit()?;
        let store = Store {
            db: open::Db::Write(db),
            path,
            dir: None,
            opened: Opened::AsAsked,
            keys: std::sync::Mutex::new(None),
            recovery: None,
        };
        Ok((store, device))
    }

    /// Opens the store in `dir` for writing, unlocked by `unlock`, migrating an older format. Never
    /// creates or replaces a file. A file not provably closed cleanly by this program is checked
    /// completely first (`store::open`).
    pub fn open(dir: &Path, unlock: Unlock<'_>) -> Result<Store> {
        Store::open_as(dir, Access::Write, unlock)
    }

    /// Opens the store in `dir` as `access` asks (see [`Access`]), unlocked by `unlock`;
    /// [`Store::opened`] says what the open did to the file beyond that.
    pub fn open_as(dir: &Path, access: Access, unlock: Unlock<'_>) -> Result<Store> {
        // Stores made by earlier builds were readable by other local users: closed now (best effort: a
        // read-only medium or file still opens).
        let _ = make_private(&Self::file(dir), 0o600);
        let o = open::open_db(dir, access, unlock)?;
        let plaintext = o.keys.is_none();
        let store = Store::from_opened(dir, o, unlock)?;
        if plaintext && !matches!(unlock, Unlock::Setup) {
            return store.upgrade(dir, access, unlock);
        }
        Ok(store)
    }

    /// Opens the store of `dir` for writing with keys already unlocked (after a rewrite).
    fn open_with_keys(dir: &Path, keys: open::Keys) -> Result<Store> {
        let o = open::open_db_with(dir, keys)?;
        Store::from_opened(dir, o, Unlock::Setup)
    }

    /// The store on an opened database: a newer format refused, an older one migrated.
    fn from_opened(dir: &Path, o: open::OpenedDb, unlock: Unlock<'_>) -> Result<Store> {
        let read_only = matches!(o.db, open::Db::Read(_));
        let store = Store {
            db: o.db,
            path: o.path,
            dir: Some(dir.to_path_buf()),
            opened: o.opened,
            keys: std::sync::Mutex::new(o.keys),
            recovery: None,
        };
        match store.check_format()? {
            // Reading an older format needs its migration, which writes: opened again for writing.
            Some(_) if read_only => {
                drop(store);
                let mut store = Store::open_as(dir, Access::Write, unlock)?;
                store.opened = Opened::Migrated;
                Ok(store)
            }
            Some(version) => {
                store.migrate(version)?;
                Ok(store)
            }
            None => Ok(store),
        }
    }

    /// A plaintext store of an earlier build, opened with a PIN: when the PIN is one of its petugas's,
    /// the file is encrypted (`store::rewrite`) with a slot for that petugas and a new recovery code
    /// (shown once: [`Store::recovery_code`]); the other petugas get theirs when a signed-in petugas
    /// adds them again. A store with no petugas stays as it is.
    fn upgrade(self, dir: &Path, access: Access, unlock: Unlock<'_>) -> Result<Store> {
        let candidates = self.petugas_list()?;
        if candidates.is_empty() {
            return Ok(self);
        }
        let found = match unlock {
            Unlock::Pin { code, pin } => Some((self.verify_pin(code, pin)?, pin)),
            Unlock::Secret(secret) => candidates
                .into_iter()
                .find(|p| self.verify_pin(&p.code, secret.trim()).is_ok())
                .map(|p| (p, secret.trim())),
            Unlock::Setup => None,
        };
        let Some((p, pin)) = found else {
            return Err(StoreError::WrongSecret);
        };
        drop(self);
        let recovery = rewrite::upgrade(dir, (&p.code, &p.name, pin))?;
        let mut store = Store::open_as(dir, access, Unlock::Pin { code: &p.code, pin })?;
        store.recovery = Some(recovery);
        Ok(store)
    }

    /// What opening did to the file beyond what was asked (a command that only reads says so).
    pub fn opened(&self) -> Opened {
        self.opened
    }

    /// Checks the format of an opened database and migrates it when older.
    #[cfg(feature = "test-support")]
    fn opened_on(db: Database, path: PathBuf) -> Result<Store> {
        let store = Store {
            db: open::Db::Write(db),
            path,
            dir: None,
            opened: Opened::AsAsked,
            keys: std::sync::Mutex::new(None),
            recovery: None,
        };
        if let Some(version) = store.check_format()? {
            store.migrate(version)?;
        }
        Ok(store)
    }

    /// Refuses a newer format; returns an older one's version (to migrate).
    fn check_format(&self) -> Result<Option<u32>> {
        let version = self.format_version()?;
        if version > FORMAT_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
                supported: FORMAT_VERSION,
                needed: needed_release(version),
            });
        }
        Ok((version < FORMAT_VERSION).then_some(version))
    }

    fn format_version(&self) -> Result<u32> {
        let txn = self.db.begin_read()?;
        let meta = match txn.open_table(META) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => {
                return Err(corrupt(&self.path, "no meta table"));
            }
            Err(e) => return Err(e.into()),
        };
        let raw = meta
            .get("format_version")?
            .ok_or_else(|| corrupt(&self.path, "no format version"))?;
        serde_json::from_slice(raw.value()).map_err(|e| corrupt(&self.path, e))
    }

    /// Brings an older store up to [`FORMAT_VERSION`], one step at a time, in one transaction.
    fn migrate(&self, from: u32) -> Result<()> {
        let txn = self.db.begin_write()?;
        let mut version = from;
        while version < FORMAT_VERSION {
            match version {
                // Format 1 had no search index: build it from the current view.
                1 => {
                    let mut search = txn.open_multimap_table(SEARCH)?;
                    let mut records = txn.open_table(RECORDS)?;
                    let revisions = txn.open_table(REVISIONS)?;
                    let ids: Vec<u128> = records
                        .iter()?
                        .map(|r| r.map(|(k, _)| k.value()))
                        .collect::<Result<_, _>>()?;
                    for id in ids {
                        let head_bytes = records.get(id)?.map(|g| g.value().to_vec());
                        let Some(bytes) = head_bytes else { continue };
                        let mut head: RecordHead = decode(&bytes, "record")?;
                        let rev_bytes = revisions
                            .get((id, head.revision))?
                            .map(|g| g.value().to_vec());
                        let Some(rev) = rev_bytes else { continue };
                        let rev: Revision = decode(&rev, "revision")?;
                        head.terms = terms_of(&rev.answers);
                        head.summary = Summary::of(&rev.answers);
                        for t in &head.terms {
                            search.insert(t.as_str(), id)?;
                        }
                        records.insert(id, serde_json::to_vec(&head)?.as_slice())?;
                    }
                }
                // Format 2 had no list index: one row per head.
                2 => {
                    let records = txn.open_table(RECORDS)?;
                    for r in records.iter()? {
                        let (_, v) = r?;
                        list::list(&txn, &decode(v.value(), "record")?)?;
                    }
                }
                // Format 3 had no milestone index: one pass over the history.
                3 => {
                    let revisions = txn.open_table(REVISIONS)?;
                    let mut milestones = txn.open_table(MILESTONES)?;
                    for r in revisions.iter()? {
                        let (k, v) = r?;
                        if let Some(code) = sync::milestone_code(sync::action_of(v.value())?) {
                            milestones.insert(k.value(), code)?;
                        }
                    }
                }
                // Format 4 kept exports only in the heads (status Exported, an event each). Those heads
                // stay as they are and still read the same; new exports go to their own table.
                4 => {
                    txn.open_table(EXPORTED)?;
                }
                // Format 5 had no age identity (work packages are encrypted to it) and no packages.
                5 => {
                    let mut meta = txn.open_table(META)?;
                    if meta.get(DEVICE_AGE)?.is_none() {
                        meta.insert(DEVICE_AGE, new_age_identity().as_bytes())?;
                    }
                    txn.open_table(PACKAGES)?;
                }
                // Format 6 had no outbox: the export looked its lines up in the whole history.
                6 => sync::fill_outbox(&txn)?,
                // Format 7 kept no sequence position in the heads and the list rows: every head gets
                // its latest revision's, and the list is rebuilt with it (its rows change type). Its
                // outbox kept no line hashes: filled again.
                7 => {
                    txn.delete_table(OUTBOX)?;
                    sync::fill_outbox(&txn)?;
                    let mut records = txn.open_table(RECORDS)?;
                    let revisions = txn.open_table(REVISIONS)?;
                    let marks = sync::Marks::write(&txn)?;
                    let mut heads = Vec::new();
                    for r in records.iter()? {
                        let (k, v) = r?;
                        let mut head: RecordHead = decode(v.value(), "record")?;
                        if head.revision > 0 {
                            let raw =
                                revisions.get((k.value(), head.revision))?.ok_or_else(|| {
                                    StoreError::Storage(format!(
                                        "record {}: revision {} is missing",
                                        head.id, head.revision
                                    ))
                                })?;
                            head.seq = sync::seq_of(raw.value())?;
                        }
                        heads.push(head);
                    }
                    txn.delete_table(LIST)?;
                    let mut list = txn.open_table(LIST)?;
                    for mut head in heads {
                        records.insert(head.id.as_u128(), serde_json::to_vec(&head)?.as_slice())?;
                        sync::effective_status(&mut head, &marks)?;
                        list::list_in(&mut list, &head)?;
                    }
                }
                // Format 8 kept the outbox's lines only one by one: they are framed.
                8 => frames::fill(&txn)?,
                v => {
                    return Err(corrupt(&self.path, format!("unknown store format {v}")));
                }
            }
            version += 1;
        }
        txn.open_table(META)?.insert(
            "format_version",
            serde_json::to_vec(&FORMAT_VERSION)?.as_slice(),
        )?;
        txn.commit()?;
        Ok(())
    }

    /// The store file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn device(&self) -> Result<DeviceInfo> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let raw = meta
            .get("device")?
            .ok_or_else(|| corrupt(&self.path, "no device"))?;
        decode(raw.value(), "device")
    }

    /// The device's age identity (never leaves the device; work packages are encrypted to it).
    pub fn age_identity(&self) -> Result<age::x25519::Identity> {
        use std::str::FromStr as _;
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let raw = meta
            .get(DEVICE_AGE)?
            .ok_or_else(|| corrupt(&self.path, "no device age identity"))?;
        let text = std::str::from_utf8(raw.value())
            .map_err(|_| corrupt(&self.path, "device age identity is not text"))?;
        age::x25519::Identity::from_str(text)
            .map_err(|e| corrupt(&self.path, format!("device age identity: {e}")))
    }

    /// The device's age recipient (`age1…`): public, it travels in every bundle's manifest.
    pub fn age_recipient(&self) -> Result<String> {
        Ok(self.age_identity()?.to_public().to_string())
    }

    /// The device's signing key (never leaves the device; bundles are signed with it).
    pub fn signing_key(&self) -> Result<SigningKey> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let raw = meta
            .get("device_secret")?
            .ok_or_else(|| corrupt(&self.path, "no device key"))?;
        let secret: [u8; 32] = raw
            .value()
            .try_into()
            .map_err(|_| corrupt(&self.path, "device key has the wrong length"))?;
        Ok(SigningKey::from_bytes(&secret))
    }

    /// Adds a petugas (the store is open, so unlocked by a signed-in petugas, or it is a new store with
    /// no petugas yet). On an encrypted store their PIN (6–12 digits) wraps the store's key in a new
    /// slot; the first petugas also removes the setup slot. A plaintext store of an earlier build keeps
    /// an argon2id hash of the PIN.
    pub fn add_petugas(
        &self,
        code: &str,
        name: &str,
        pin: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<Petugas> {
        check_petugas(code, name, pin)?;
        let code = code.trim();
        let name = name.trim();
        let mut keys = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pin_hash = if keys.is_some() {
            String::new()
        } else {
            Argon2::default()
                .hash_password(pin.as_bytes())
                .map_err(|e| StoreError::Storage(format!("cannot hash the PIN: {e}")))?
                .to_string()
        };
        let petugas = Petugas {
            code: code.to_string(),
            name: name.to_string(),
            pin_hash,
            created_at: now,
        };
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(PETUGAS)?;
            let known = table.get(code)?.map(|g| g.value().to_vec());
            match known {
                // A petugas of a store that was upgraded by another one's PIN has no slot yet: a
                // signed-in petugas gives them one (their PIN set anew).
                Some(bytes)
                    if keys
                        .as_ref()
                        .is_some_and(|k| !k.header.petugas().iter().any(|(c, _)| c == code)) =>
                {
                    let old: Petugas = decode(&bytes, "petugas")?;
                    if let Some(k) = keys.as_mut() {
                        let holder = keys::Holder::Petugas {
                            code: old.code.clone(),
                            name: old.name.clone(),
                        };
                        k.header.add_slot(holder, pin, &k.master)?;
                        let file = std::fs::OpenOptions::new().write(true).open(&self.path)?;
                        k.header.write(&file, false)?;
                    }
                    return Ok(old);
                }
                Some(_) => return Err(StoreError::PetugasExists(code.to_string())),
                None => {}
            }
            table.insert(code, serde_json::to_vec(&petugas)?.as_slice())?;
        }
        // The slot first: a crash between the two leaves a slot whose petugas the store does not
        // know yet (refused at sign-in as unknown), never a petugas who cannot sign in.
        if let Some(k) = keys.as_mut() {
            let holder = keys::Holder::Petugas {
                code: code.to_string(),
                name: name.to_string(),
            };
            k.header.add_slot(holder, pin, &k.master)?;
            let first = k.header.has(&keys::Holder::Setup);
            k.header.remove(&keys::Holder::Setup);
            let file = std::fs::OpenOptions::new().write(true).open(&self.path)?;
            k.header.write(&file, first)?;
        }
        txn.commit()?;
        Ok(petugas)
    }

    pub fn petugas(&self, code: &str) -> Result<Petugas> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(PETUGAS)?;
        let raw = table
            .get(code)?
            .ok_or_else(|| StoreError::UnknownPetugas(code.to_string()))?;
        decode(raw.value(), "petugas")
    }

    pub fn petugas_list(&self) -> Result<Vec<Petugas>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(PETUGAS)?;
        table
            .iter()?
            .map(|r| {
                let (_, v) = r?;
                decode(v.value(), "petugas")
            })
            .collect()
    }

    /// Sign-in on the open store: checks a petugas's PIN (against their key slot, with the waits after
    /// wrong PINs; on a plaintext store of an earlier build, against its hash).
    pub fn verify_pin(&self, code: &str, pin: &str) -> Result<Petugas> {
        let p = self.petugas(code)?;
        let keys = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(k) = keys.as_ref() else {
            Argon2::default()
                .verify_password(pin.as_bytes(), p.pin_hash.as_str())
                .map_err(|_| StoreError::WrongPin(code.to_string()))?;
            return Ok(p);
        };
        let holder = keys::Holder::Petugas {
            code: p.code.clone(),
            name: p.name.clone(),
        };
        if !k.header.has(&holder) {
            return Err(StoreError::UnknownPetugas(code.to_string()));
        }
        if let Some(dir) = &self.dir {
            keys::check_wait(dir, code)?;
        }
        let right = k.header.try_slot(&holder, pin)?.is_some();
        if let Some(dir) = &self.dir {
            keys::record_try(dir, code, right);
        }
        if right {
            Ok(p)
        } else {
            Err(StoreError::WrongPin(code.to_string()))
        }
    }

    /// Checks the store's recovery code (kept by the supervisor): the proof a supervisor is present
    /// for what a petugas alone may not do on the tablet (replacing the pinned registry key). Wrong
    /// codes count towards the same growing waits as wrong secrets at sign-in. A plaintext store of an
    /// earlier build has no recovery code: refused.
    pub fn verify_recovery_code(&self, code: &str) -> Result<()> {
        let keys = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(k) = keys.as_ref() else {
            return Err(StoreError::WrongRecoveryCode);
        };
        if !keys::is_recovery_code(code) {
            return Err(StoreError::WrongRecoveryCode);
        }
        if let Some(dir) = &self.dir {
            keys::check_wait(dir, "*")?;
        }
        let right = k.header.try_slot(&keys::Holder::Recovery, code)?.is_some();
        if let Some(dir) = &self.dir {
            keys::record_try(dir, "*", right);
        }
        if right {
            Ok(())
        } else {
            Err(StoreError::WrongRecoveryCode)
        }
    }

    /// The petugas whose PIN opened the store, if one did.
    pub fn signed_in(&self) -> Option<String> {
        let keys = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.as_ref().and_then(|k| k.signed_in.clone())
    }

    /// Whether the store file is encrypted (a plaintext store of an earlier build is not).
    pub fn is_encrypted(&self) -> bool {
        let keys = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.is_some()
    }

    /// Creates a record with its first revision. One durable transaction.
    pub fn create_record(
        &self,
        form_id: &str,
        form_version: u64,
        answers: Answers,
        petugas: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<RecordHead> {
        let item = NewRecord {
            form_id: form_id.to_string(),
            form_version,
            answers,
            finalize: false,
            acknowledged: Vec::new(),
        };
        self.create_batch(vec![item], petugas, now)?
            .pop()
            .ok_or_else(|| StoreError::Storage("a created record went missing".into()))
    }

    /// Creates many records in one transaction (demo data, imports), through the same path as
    /// [`Store::create_record`] and [`Store::finalize`]. The caller has validated the finalized ones.
    pub fn create_batch(
        &self,
        items: Vec<NewRecord>,
        petugas: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<RecordHead>> {
        let device = self.device()?;
        self.petugas(petugas)?;
        let txn = self.db.begin_write()?;
        let mut heads = Vec::with_capacity(items.len());
        for item in items {
            let mut head = RecordHead::new(
                Uuid::now_v7(),
                item.form_id,
                item.form_version,
                petugas,
                now,
            );
            let answers = item.answers;
            if item.finalize {
                append(
                    &txn,
                    &mut head,
                    Action::Created,
                    answers.clone(),
                    petugas,
                    device.id,
                    now,
                    None,
                    Vec::new(),
                )?;
                head.status = Status::Final;
                append(
                    &txn,
                    &mut head,
                    Action::Finalized,
                    answers,
                    petugas,
                    device.id,
                    now,
                    None,
                    item.acknowledged,
                )?;
            } else {
                append(
                    &txn,
                    &mut head,
                    Action::Created,
                    answers,
                    petugas,
                    device.id,
                    now,
                    None,
                    Vec::new(),
                )?;
            }
            heads.push(head);
        }
        txn.commit()?;
        Ok(heads)
    }

    /// Saves a full snapshot of the answers as a new revision. A record that was final (or later) needs
    /// a reason and becomes a draft again (a correction).
    pub fn save_answers(
        &self,
        id: Uuid,
        answers: Answers,
        petugas: &str,
        reason: Option<&str>,
        now: DateTime<FixedOffset>,
    ) -> Result<RecordHead> {
        let device = self.device()?;
        self.petugas(petugas)?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let txn = self.db.begin_write()?;
        let head = {
            let mut head = read_head(&txn.open_table(RECORDS)?, &sync::Marks::write(&txn)?, id)?;
            let action = if head.status.is_locked() {
                if reason.is_none() {
                    return Err(StoreError::ReasonRequired(id));
                }
                Action::Corrected
            } else {
                Action::Saved
            };
            head.status = Status::Draft;
            append(
                &txn,
                &mut head,
                action,
                answers,
                petugas,
                device.id,
                now,
                reason.map(str::to_string),
                Vec::new(),
            )?;
            head
        };
        txn.commit()?;
        Ok(head)
    }

    /// Marks a draft final. `checked_revision` is the revision the caller validated: if the record has
    /// changed since, the call is refused. Appends a `Finalized` revision (same answers) to the sequence.
    pub fn finalize(
        &self,
        id: Uuid,
        checked_revision: u32,
        petugas: &str,
        acknowledged: Vec<String>,
        now: DateTime<FixedOffset>,
    ) -> Result<RecordHead> {
        let device = self.device()?;
        self.petugas(petugas)?;
        let txn = self.db.begin_write()?;
        let head = {
            let mut head = read_head(&txn.open_table(RECORDS)?, &sync::Marks::write(&txn)?, id)?;
            if !head.status.can_become(Status::Final) {
                return Err(StoreError::IllegalTransition {
                    id,
                    from: head.status,
                    to: Status::Final,
                });
            }
            if head.revision != checked_revision {
                return Err(StoreError::Stale {
                    id,
                    now: head.revision,
                });
            }
            let answers = read_revision(&txn.open_table(REVISIONS)?, id, head.revision)?.answers;
            head.status = Status::Final;
            append(
                &txn,
                &mut head,
                Action::Finalized,
                answers,
                petugas,
                device.id,
                now,
                None,
                acknowledged,
            )?;
            head
        };
        txn.commit()?;
        Ok(head)
    }

    /// Test support: moves records to a new status in one transaction as an event on the head; refuses
    /// illegal moves, and then changes nothing. The program never writes a status this way (exports are
    /// marked in their own table, receipts through `sync`); the model-based status test and the tests of
    /// stores made by older formats do.
    #[cfg(feature = "test-support")]
    pub fn set_status(
        &self,
        ids: &[Uuid],
        to: Status,
        by: Option<&str>,
        reasons: &[Localized],
        now: DateTime<FixedOffset>,
    ) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut records = txn.open_table(RECORDS)?;
            let marks = sync::Marks::write(&txn)?;
            for &id in ids {
                let mut head = read_head(&records, &marks, id)?;
                if !head.status.can_become(to) {
                    return Err(StoreError::IllegalTransition {
                        id,
                        from: head.status,
                        to,
                    });
                }
                head.status = to;
                list::list(&txn, &head)?;
                head.events.push(StatusEvent {
                    status: to,
                    at: now,
                    by: by.map(str::to_string),
                    reasons: reasons.to_vec(),
                });
                records.insert(id.as_u128(), serde_json::to_vec(&head)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    pub fn record(&self, id: Uuid) -> Result<RecordHead> {
        let txn = self.db.begin_read()?;
        let mut head = read_head(&txn.open_table(RECORDS)?, &sync::Marks::read(&txn)?, id)?;
        sync::ExportEvents::read(&txn)?.add_to(&mut head)?;
        Ok(head)
    }

    /// The answers of the latest revision.
    pub fn answers(&self, id: Uuid) -> Result<(RecordHead, Answers)> {
        let txn = self.db.begin_read()?;
        let mut head = read_head(&txn.open_table(RECORDS)?, &sync::Marks::read(&txn)?, id)?;
        sync::ExportEvents::read(&txn)?.add_to(&mut head)?;
        let rev = read_revision(&txn.open_table(REVISIONS)?, id, head.revision)?;
        Ok((head, rev.answers))
    }

    /// Every revision of a record, oldest first: the audit trail.
    pub fn history(&self, id: Uuid) -> Result<Vec<Revision>> {
        let txn = self.db.begin_read()?;
        let revisions = txn.open_table(REVISIONS)?;
        let mut out = Vec::new();
        for r in revisions.range((id.as_u128(), 0)..=(id.as_u128(), u32::MAX))? {
            let (_, v) = r?;
            out.push(decode(v.value(), "revision")?);
        }
        if out.is_empty() {
            return Err(StoreError::UnknownRecord(id));
        }
        Ok(out)
    }

    /// Records, newest change first, optionally of one status.
    pub fn list(&self, status: Option<Status>) -> Result<Vec<RecordHead>> {
        let txn = self.db.begin_read()?;
        let records = txn.open_table(RECORDS)?;
        let marks = sync::Marks::read(&txn)?;
        let events = sync::ExportEvents::read(&txn)?;
        let mut out = Vec::new();
        for r in records.iter()? {
            let (_, v) = r?;
            let mut head: RecordHead = decode(v.value(), "record")?;
            sync::effective_status(&mut head, &marks)?;
            if status.is_none_or(|s| s == head.status) {
                // The search terms are the index's business; lists of 100,000 do not carry them.
                head.terms = Vec::new();
                events.add_to(&mut head)?;
                out.push(head);
            }
        }
        out.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)));
        Ok(out)
    }

    /// Records whose words, NIKs or KK number start with every word of `query`, newest first.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<RecordHead>> {
        let mut words: Vec<String> = search_words(query).collect();
        // The longest prefix first: it matches least, so the intersection stays small.
        words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_read()?;
        let search = txn.open_multimap_table(SEARCH)?;
        let mut found: Option<BTreeSet<u128>> = None;
        for w in &words {
            let mut ids = BTreeSet::new();
            let upper = format!("{w}\u{10FFFF}");
            for r in search.range(w.as_str()..upper.as_str())? {
                let (_, values) = r?;
                for v in values {
                    ids.insert(v?.value());
                }
            }
            found = Some(match found {
                None => ids,
                Some(prev) => prev.intersection(&ids).copied().collect(),
            });
            if found.as_ref().is_some_and(BTreeSet::is_empty) {
                break;
            }
        }
        let records = txn.open_table(RECORDS)?;
        let marks = sync::Marks::read(&txn)?;
        let events = sync::ExportEvents::read(&txn)?;
        let mut out = Vec::new();
        // UUIDv7 ids sort by creation time: newest first.
        for id in found.unwrap_or_default().into_iter().rev().take(limit) {
            let mut head = read_head(&records, &marks, Uuid::from_u128(id))?;
            events.add_to(&mut head)?;
            out.push(head);
        }
        Ok(out)
    }

    /// The last position of the change sequence (0 when empty).
    pub fn last_seq(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let seq = txn.open_table(SEQUENCE)?;
        Ok(seq.last()?.map_or(0, |(k, _)| k.value()))
    }

    /// Revisions in a range of the change sequence, in order.
    pub fn revisions_in(&self, from: u64, to: u64) -> Result<Vec<Revision>> {
        let txn = self.db.begin_read()?;
        let seq = txn.open_table(SEQUENCE)?;
        let revisions = txn.open_table(REVISIONS)?;
        let mut out = Vec::new();
        for r in seq.range(from..=to)? {
            let (_, v) = r?;
            let (id, n) = v.value();
            if revisions.get((id, n))?.is_none() && self.is_purged(Uuid::from_u128(id))? {
                continue;
            }
            out.push(read_revision(&revisions, Uuid::from_u128(id), n)?);
        }
        Ok(out)
    }

    /// Stores an attachment by content; the same bytes are stored once. Returns the SHA-256 (hex).
    pub fn put_attachment(&self, bytes: &[u8]) -> Result<String> {
        let hash = hex(&Sha256::digest(bytes));
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(ATTACHMENTS)?;
            if table.get(hash.as_str())?.is_none() {
                table.insert(hash.as_str(), bytes)?;
            }
        }
        txn.commit()?;
        Ok(hash)
    }

    pub fn attachment(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ATTACHMENTS)?;
        Ok(table.get(hash)?.map(|g| g.value().to_vec()))
    }

    pub fn attachment_count(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(ATTACHMENTS)?.len()?)
    }

    /// Full consistency check: redb's own check, then ours — every record's revisions exist and are
    /// numbered 1..=n, the sequence has no gaps and points at existing revisions. Returns the problems.
    pub fn check(&mut self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        match &mut self.db {
            open::Db::Write(db) => match db.check_integrity() {
                Ok(true) => {}
                Ok(false) => problems.push("redb repaired the file on open".to_string()),
                Err(e) => problems.push(format!("redb integrity check failed: {e}")),
            },
            open::Db::Read(_) | open::Db::Closed => {
                problems.push("the store was opened read-only: redb's check was not run".into());
            }
        }
        problems.extend(self.consistency()?);
        Ok(problems)
    }

    /// redb's check of every page's checksum, on a store open for writing with no transaction alive
    /// (before an export from the app, whose store was checked only when it opened). Damage is
    /// [`StoreError::Corrupt`]; a store open read-only is not checked here (its open was).
    pub fn verify_pages(&mut self) -> Result<()> {
        let open::Db::Write(db) = &mut self.db else {
            return Ok(());
        };
        match db.check_integrity() {
            Ok(true) => Ok(()),
            Ok(false) => {
                tracing::warn!("redb repaired the store file during its check");
                Ok(())
            }
            Err(redb::DatabaseError::TransactionInProgress) => Err(StoreError::Storage(
                "the store is in use; its check waits for another moment".into(),
            )),
            Err(e) => Err(corrupt(&self.path, e)),
        }
    }

    /// Our own consistency check (after redb's, which the open ran or [`Store::check`] runs): every
    /// record's revisions exist and are numbered 1..=n, the sequence has no gaps and points at existing
    /// revisions, the indexes agree. Returns the problems.
    pub fn consistency(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let txn = self.db.begin_read()?;
        let records = txn.open_table(RECORDS)?;
        let revisions = txn.open_table(REVISIONS)?;
        let seq = txn.open_table(SEQUENCE)?;
        let listed = txn.open_table(LIST)?;
        let milestones = txn.open_table(MILESTONES)?;
        let marks = sync::Marks::read(&txn)?;
        if listed.len()? != records.len()? {
            problems.push(format!(
                "{} records but {} rows in the list index",
                records.len()?,
                listed.len()?
            ));
        }
        let mut total = 0u64;
        for r in records.iter()? {
            let (k, v) = r?;
            let mut head: RecordHead = decode(v.value(), "record")?;
            sync::effective_status(&mut head, &marks)?;
            let id = k.value();
            list_problems(&listed, &revisions, marks.watermark, &head, &mut problems)?;
            let mut expected = 1;
            for rv in revisions.range((id, 0)..=(id, u32::MAX))? {
                let (key, raw) = rv?;
                if key.value().1 != expected {
                    problems.push(format!("record {}: revision {} missing", head.id, expected));
                }
                let indexed = milestones.get(key.value())?.map(|c| c.value());
                if indexed != sync::milestone_code(sync::action_of(raw.value())?) {
                    problems.push(format!(
                        "record {}: revision {} wrong in the milestone index",
                        head.id,
                        key.value().1
                    ));
                }
                expected = key.value().1 + 1;
                total += 1;
            }
            if expected - 1 != head.revision {
                problems.push(format!(
                    "record {}: head points at revision {}, history ends at {}",
                    head.id,
                    head.revision,
                    expected - 1
                ));
            }
        }
        let mut next = 1u64;
        for r in seq.iter()? {
            let (k, v) = r?;
            if k.value() != next {
                problems.push(format!(
                    "change sequence jumps from {} to {}",
                    next - 1,
                    k.value()
                ));
            }
            next = k.value() + 1;
            let (id, n) = v.value();
            if revisions.get((id, n))?.is_none() {
                if self.is_purged(Uuid::from_u128(id))? {
                    total += 1;
                } else {
                    problems.push(format!(
                        "sequence {} points at a missing revision",
                        k.value()
                    ));
                }
            }
        }
        if next - 1 != total {
            problems.push(format!(
                "{} revisions but {} sequence entries",
                total,
                next - 1
            ));
        }
        problems.extend(sync::check_exported(&txn)?);
        problems.extend(sync::check_outbox(&txn)?);
        problems.extend(frames::check(&txn)?);
        Ok(problems)
    }

    /// Saves a device setting (UI language, last open family…) as JSON, durably.
    pub fn put_setting(&self, key: &str, value: &Value) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(META)?.insert(
            format!("setting:{key}").as_str(),
            serde_json::to_vec(value)?.as_slice(),
        )?;
        txn.commit()?;
        Ok(())
    }

    /// A device setting saved with [`Store::put_setting`].
    pub fn setting(&self, key: &str) -> Result<Option<Value>> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let raw = meta.get(format!("setting:{key}").as_str())?;
        raw.map(|r| decode(r.value(), "setting")).transpose()
    }

    /// Test support: rewrites the stored format version (to exercise migrations and refusals); with
    /// `drop_indexes`, also drops the indexes that format did not have (search before 2, list before 3,
    /// milestones before 4, exports before 5, packages before 6, the outbox before 7, its frames before 9) and puts back
    /// what format 7 had instead of format 8's (list rows and heads without a sequence position).
    #[cfg(feature = "test-support")]
    pub fn force_format_version(&self, version: u32, drop_indexes: bool) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(META)?
            .insert("format_version", serde_json::to_vec(&version)?.as_slice())?;
        if drop_indexes && version < 2 {
            txn.delete_multimap_table(SEARCH)?;
        }
        if drop_indexes && version < 3 {
            txn.delete_table(LIST)?;
        }
        if drop_indexes && version < 4 {
            txn.delete_table(MILESTONES)?;
        }
        if drop_indexes && version < 5 {
            txn.delete_table(EXPORTED)?;
        }
        if drop_indexes && version < 6 {
            txn.open_table(META)?.remove(DEVICE_AGE)?;
            txn.delete_table(PACKAGES)?;
        }
        if drop_indexes && version < 7 {
            txn.delete_table(OUTBOX)?;
        }
        if drop_indexes && (3..8).contains(&version) {
            let mut rows = Vec::new();
            for r in txn.open_table(LIST)?.iter()? {
                let (k, v) = r?;
                let (code, _, name, kk, desa, address) = v.value();
                let text = [name, kk, desa, address].map(str::to_string);
                rows.push((k.value(), code, text));
            }
            txn.delete_table(LIST)?;
            let mut old = txn.open_table(tables::LIST_V7)?;
            for (k, code, [name, kk, desa, address]) in rows {
                old.insert(
                    k,
                    (
                        code,
                        name.as_str(),
                        kk.as_str(),
                        desa.as_str(),
                        address.as_str(),
                    ),
                )?;
            }
        }
        if drop_indexes && version < 9 {
            // (The frames' state stays: the migration keeps only the target a test set.)
            txn.delete_table(tables::FRAMES)?;
        }
        if drop_indexes && version < 8 {
            let mut records = txn.open_table(RECORDS)?;
            let mut heads = Vec::new();
            for r in records.iter()? {
                let (k, v) = r?;
                let mut head: Value = serde_json::from_slice(v.value())?;
                if let Some(h) = head.as_object_mut() {
                    h.remove("seq");
                }
                heads.push((k.value(), serde_json::to_vec(&head)?));
            }
            for (k, bytes) in heads {
                records.insert(k, bytes.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

/// Whether a new petugas's code, name and PIN are acceptable (a code of 1–32 letters, digits, `-` or
/// `_`; a name; a PIN of 4 to 12 digits): checked before anything is created (first-run setup).
pub fn check_petugas(code: &str, name: &str, pin: &str) -> Result<()> {
    let code = code.trim();
    if code.is_empty()
        || code.len() > 32
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(StoreError::Invalid(Localized::new(
            "kode petugas terdiri dari 1–32 huruf, angka, - atau _",
            "a petugas code is 1–32 letters, digits, - or _",
        )));
    }
    if name.trim().is_empty() {
        return Err(StoreError::Invalid(Localized::new(
            "nama petugas belum diisi",
            "the petugas name is empty",
        )));
    }
    if !(6..=12).contains(&pin.len()) || !pin.chars().all(|c| c.is_ascii_digit()) {
        return Err(StoreError::Invalid(Localized::new(
            "PIN terdiri dari 6 sampai 12 angka",
            "a PIN is 6 to 12 digits",
        )));
    }
    Ok(())
}

/// The first release that writes a given store format, for the "install pendata X or newer" message.
/// Keeps personal data and the device key from other local users of the machine: takes the group's and
/// others' permissions away from `path` (the store file 0600, a data directory Pendata made 0700). On
/// Windows the user's application-data folder is private already.
#[cfg(unix)]
fn make_private(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// The `META` key of the device's age identity (`AGE-SECRET-KEY-1…`). Since format 6.
const DEVICE_AGE: &str = "device_age";

fn new_age_identity() -> String {
    use age::secrecy::ExposeSecret as _;
    age::x25519::Identity::generate()
        .to_string()
        .expose_secret()
        .to_string()
}

fn needed_release(format: u32) -> String {
    format!("with store format {format}")
}

/// Problems of a head's list row (missing, another status, another sequence position) and of its
/// sequence position (not its latest revision's), for [`Store::consistency`].
fn list_problems(
    listed: &impl ReadableTable<list::ListKey, tables::ListValue>,
    revisions: &impl ReadableTable<(u128, u32), &'static [u8]>,
    watermark: u64,
    head: &RecordHead,
    problems: &mut Vec<String>,
) -> Result<()> {
    let id = head.id.as_u128();
    match listed.get(list::list_key(head))? {
        None => problems.push(format!("record {}: missing from the list index", head.id)),
        Some(row) => {
            let (code, seq, ..) = row.value();
            if list::row_status(code, seq, watermark) != Some(head.status) {
                problems.push(format!(
                    "record {}: wrong status in the list index",
                    head.id
                ));
            }
            if seq != head.seq {
                problems.push(format!(
                    "record {}: wrong sequence position in the list index",
                    head.id
                ));
            }
        }
    }
    if head.revision > 0 {
        let latest = revisions.get((id, head.revision))?;
        if let Some(raw) = latest
            && sync::seq_of(raw.value())? != head.seq
        {
            problems.push(format!(
                "record {}: the head's sequence position is not its latest revision's",
                head.id
            ));
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A head as it reads: a final head whose current revision went out in a bundle is Exported (exports
/// are kept apart from the heads: the watermark and `tables::EXPORTED`, see `sync::Marks`). Its
/// events are the stored ones only: writers store what they
/// read here, so export events are added by the public reads alone.
fn read_head(
    records: &impl ReadableTable<u128, &'static [u8]>,
    marks: &sync::Marks<impl ReadableTable<(u128, u32, u128), ()>>,
    id: Uuid,
) -> Result<RecordHead> {
    let raw = records
        .get(id.as_u128())?
        .ok_or(StoreError::UnknownRecord(id))?;
    let mut head = decode(raw.value(), "record")?;
    sync::effective_status(&mut head, marks)?;
    Ok(head)
}

fn read_revision(
    revisions: &impl ReadableTable<(u128, u32), &'static [u8]>,
    id: Uuid,
    n: u32,
) -> Result<Revision> {
    let raw = revisions
        .get((id.as_u128(), n))?
        .ok_or_else(|| StoreError::Storage(format!("record {id}: revision {n} is missing")))?;
    decode(raw.value(), "revision")
}

/// Appends a revision to `head` inside `txn`: history, sequence, search index and the current view.
#[expect(
    clippy::too_many_arguments,
    reason = "every part of a revision, as each writer has them at hand"
)]
fn append(
    txn: &redb::WriteTransaction,
    head: &mut RecordHead,
    action: Action,
    answers: Answers,
    petugas: &str,
    device: Uuid,
    now: DateTime<FixedOffset>,
    reason: Option<String>,
    acknowledged: Vec<String>,
) -> Result<()> {
    let id = head.id.as_u128();
    let mut seq = txn.open_table(SEQUENCE)?;
    let next = seq.last()?.map_or(0, |(k, _)| k.value()) + 1;
    head.revision += 1;
    let rev = Revision {
        record: head.id,
        number: head.revision,
        seq: next,
        action,
        status: head.status,
        form_id: head.form_id.clone(),
        form_version: head.form_version,
        answers,
        petugas: petugas.to_string(),
        device,
        at: now,
        reason,
        acknowledged,
        base: head.base.clone().map(Box::new),
    };
    seq.insert(next, (id, head.revision))?;
    head.seq = next;
    if let Some(code) = sync::milestone_code(action) {
        txn.open_table(MILESTONES)?
            .insert((id, head.revision), code)?;
    }
    let bytes = serde_json::to_vec(&rev)?;
    let mut revisions = txn.open_table(REVISIONS)?;
    if matches!(action, Action::Finalized) {
        // The export's lines, put together now, in sequence order (`tables::OUTBOX`).
        let milestones = txn.open_table(MILESTONES)?;
        let lines = sync::outbox_lines(&milestones, &revisions, id, head.revision, &bytes)?;
        txn.open_table(OUTBOX)?
            .insert(next, (id, head.revision, lines.as_slice()))?;
        frames::after_finalize(txn, next, lines.len())?;
    }
    revisions.insert((id, head.revision), bytes.as_slice())?;
    drop(revisions);
    let terms = terms_of(&rev.answers);
    if terms != head.terms {
        let mut search = txn.open_multimap_table(SEARCH)?;
        for t in &head.terms {
            search.remove(t.as_str(), id)?;
        }
        for t in &terms {
            search.insert(t.as_str(), id)?;
        }
        head.terms = terms;
    }
    list::unlist(txn, list::list_key(head))?;
    head.summary = Summary::of(&rev.answers);
    head.updated_at = now;
    head.updated_by = petugas.to_string();
    list::list(txn, head)?;
    txn.open_table(RECORDS)?
        .insert(id, serde_json::to_vec(&*head)?.as_slice())?;
    Ok(())
}
