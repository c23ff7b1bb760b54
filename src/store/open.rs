//! Opening the store file: read-only or for writing, with redb's integrity check where the file cannot
//! be trusted, and each way it can fail told apart (missing, no permission, a read-only file, damaged,
//! busy).
//!
//! redb trusts a file it closed cleanly: reading a page that was damaged since (a bad sector, a copy cut
//! short, bytes written by another program) can panic inside redb instead of returning an error, and the
//! release build aborts on a panic. So a file is verified (every page's checksum, redb's own check) before
//! anything reads it, unless it is provably the file this program closed cleanly: after each clean close
//! the store writes a *stamp* beside it (`pendata.redb.clean`: the file's length, modification time and
//! inode). A file with no stamp (a crash, a power cut, an older build) or whose metadata no
//! longer matches (written by anything since) is checked on open. A read-only open of a stamped file
//! writes nothing; only a file that needs the check or a migration is opened for writing, and the store
//! says so ([`Opened`]). What the stamp cannot see: a page gone bad on the medium with no write through
//! the file system, or a file whose modification time was set back on purpose; `pendata check` and the
//! check before every export read every page whatever the stamp says.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use redb::backends::FileBackend;
use redb::{Database, DatabaseError, ReadOnlyDatabase, ReadableDatabase, StorageError};
use serde::{Deserialize, Serialize};

use super::crypt::{DataKey, Encrypted};
use super::keys::{self, HEADER_LEN, Header, Holder, MasterKey};
use super::{CACHE_BYTES, Result, STORE_FILE, StoreError};

/// How the store is unlocked (see `store::keys`).
#[derive(Debug, Clone, Copy)]
pub enum Unlock<'a> {
    /// A petugas signs in with their PIN.
    Pin { code: &'a str, pin: &'a str },
    /// Any petugas's PIN, or the recovery code (the command line: `--pin-stdin`, `PENDATA_PIN`).
    Secret(&'a str),
    /// No secret: opens only a store made by `init` that has no petugas yet.
    Setup,
}

/// The keys of an unlocked store.
pub(super) struct Keys {
    pub header: Header,
    pub master: MasterKey,
    pub data: DataKey,
    /// The petugas whose PIN opened it.
    pub signed_in: Option<String>,
}

/// The master key `unlock` opens in `header`, and who it was.
fn resolve(dir: &Path, header: &Header, unlock: Unlock<'_>) -> Result<(MasterKey, Option<String>)> {
    if let Some(master) = header.setup_master() {
        return Ok((master, None));
    }
    match unlock {
        Unlock::Pin { code, pin } => {
            let holder = header
                .slots
                .iter()
                .find(|s| matches!(&s.holder, Holder::Petugas { code: c, .. } if c == code))
                .map(|s| s.holder.clone())
                .ok_or_else(|| StoreError::UnknownPetugas(code.to_string()))?;
            keys::check_wait(dir, code)?;
            let master = header.try_slot(&holder, pin)?;
            keys::record_try(dir, code, master.is_some());
            let master = master.ok_or_else(|| StoreError::WrongPin(code.to_string()))?;
            Ok((master, Some(code.to_string())))
        }
        Unlock::Secret(secret) => {
            let secret = secret.trim();
            if secret.is_empty() {
                return Err(StoreError::PinNeeded);
            }
            keys::check_wait(dir, "*")?;
            let found = if keys::is_recovery_code(secret) {
                header
                    .try_slot(&Holder::Recovery, secret)?
                    .map(|m| (m, None))
            } else {
                let mut found = None;
                for (code, name) in header.petugas() {
                    let holder = Holder::Petugas {
                        code: code.clone(),
                        name,
                    };
                    if let Some(m) = header.try_slot(&holder, secret)? {
                        found = Some((m, Some(code)));
                        break;
                    }
                }
                found
            };
            keys::record_try(dir, "*", found.is_some());
            found.ok_or(StoreError::WrongSecret)
        }
        Unlock::Setup => Err(StoreError::PinNeeded),
    }
}

/// Unlocks the header of the store file at `path`: its keys, or `None` for a plaintext store of an
/// earlier build.
fn unlock_header(dir: &Path, path: &Path, unlock: Unlock<'_>) -> Result<Option<Keys>> {
    let mut file =
        std::fs::File::open(path).map_err(|e| open_error(path, DatabaseError::from(e)))?;
    let Some(header) = Header::read_from(&mut file, path)? else {
        return Ok(None);
    };
    if file.metadata()?.len() <= HEADER_LEN {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "no database after the key header".into(),
        });
    }
    let (master, signed_in) = resolve(dir, &header, unlock)?;
    let data = header
        .data_key(&master)
        .ok_or_else(|| StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "the data key does not open with the master key".into(),
        })?;
    Ok(Some(Keys {
        header,
        master,
        data,
        signed_in,
    }))
}

/// The petugas who can sign in to the store in `dir` (code, name), read without a PIN; `None` for a
/// plaintext store of an earlier build.
pub fn holders(dir: &Path) -> Result<Option<Vec<(String, String)>>> {
    let path = locate(dir)?;
    let mut file =
        std::fs::File::open(&path).map_err(|e| open_error(&path, DatabaseError::from(e)))?;
    Ok(Header::read_from(&mut file, &path)?.map(|h| h.petugas()))
}

/// Opens the encrypted database in `path` for writing (creating it when `create`).
pub(super) fn encrypted_db(
    path: &Path,
    data: &DataKey,
    check: bool,
    create: bool,
) -> Result<Database> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| open_error(path, DatabaseError::from(e)))?;
    let backend = FileBackend::new(file).map_err(|e| open_error(path, e))?;
    let mut builder = redb::Builder::new();
    builder
        .set_cache_size(CACHE_BYTES)
        .set_check_integrity_on_open(check);
    if create {
        builder.set_check_integrity_on_open(false);
    }
    builder
        .create_with_backend(Encrypted::new(backend, data, HEADER_LEN))
        .map_err(|e| open_error(path, e))
}

/// The stamp's file name, beside the store.
pub const STAMP_FILE: &str = "pendata.redb.clean";

/// The open database, read-only or writable.
pub(super) enum Db {
    Write(Database),
    Read(ReadOnlyDatabase),
    /// Closed by `Drop` (nothing reads it after).
    Closed,
}

impl Db {
    pub(super) fn begin_read(&self) -> Result<redb::ReadTransaction> {
        match self {
            Db::Write(db) => Ok(db.begin_read()?),
            Db::Read(db) => Ok(db.begin_read()?),
            Db::Closed => Err(StoreError::Storage("the store is closed".into())),
        }
    }

    pub(super) fn begin_write(&self) -> Result<redb::WriteTransaction> {
        match self {
            Db::Write(db) => Ok(db.begin_write()?),
            Db::Read(_) => Err(StoreError::Storage(
                "the store was opened read-only, for a command that only reads (a bug)".into(),
            )),
            Db::Closed => Err(StoreError::Storage("the store is closed".into())),
        }
    }
}

/// How the store is to be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// For a command that only reads: the file is not written unless it must be checked or migrated.
    ReadOnly,
    /// For writing; checked only when not provably closed cleanly by this program.
    Write,
    /// For writing, after redb's full integrity check whatever the stamp says (before an export, `check`).
    Checked,
}

/// What opening did to the file beyond reading it (a command that only reads says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// Nothing beyond what was asked.
    AsAsked,
    /// The file was not provably closed cleanly by Pendata (a crash, a power cut, written by another
    /// program, or made by an older build): it was checked completely, which rewrites its header.
    Checked,
    /// An older store format was migrated to this build's.
    Migrated,
}

/// The file's identity as the stamp keeps it: any write to the file through the file system changes it.
/// (Not the inode's change time: a `chmod` changes that, and a file made read-only must still read.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    len: u64,
    modified_ns: u128,
    /// Unix only: the inode number (a file copied over the store is another file).
    #[serde(default)]
    inode: Option<u64>,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Stamp> {
        let meta = std::fs::metadata(path)?;
        let modified_ns = meta
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        #[cfg(unix)]
        let inode = Some(std::os::unix::fs::MetadataExt::ino(&meta));
        #[cfg(not(unix))]
        let inode = None;
        Ok(Stamp {
            len: meta.len(),
            modified_ns,
            inode,
        })
    }
}

/// Whether the store file is the one this program closed cleanly and stamped.
fn stamped(dir: &Path, path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(dir.join(STAMP_FILE)) else {
        return false;
    };
    let Ok(kept) = serde_json::from_slice::<Stamp>(&bytes) else {
        return false;
    };
    Stamp::of(path).is_ok_and(|now| now == kept)
}

/// Stamps the store file as closed cleanly (after redb's close). A stamp that cannot be written only
/// means the next open checks the file.
pub(super) fn stamp(dir: &Path) {
    let path = dir.join(STORE_FILE);
    let Ok(stamp) = Stamp::of(&path) else { return };
    let Ok(bytes) = serde_json::to_vec(&stamp) else {
        return;
    };
    let options = crate::durable::Options::replace().private().unverified();
    if let Err(e) = crate::durable::write_bytes(&dir.join(STAMP_FILE), &bytes, &options) {
        tracing::warn!(error = %e, "the store's clean-close stamp was not written");
    }
}

/// Forgets the stamp before the file is opened for writing: from now on it may change.
fn unstamp(dir: &Path) {
    match std::fs::remove_file(dir.join(STAMP_FILE)) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(error = %e, "the store's clean-close stamp was not removed"),
    }
}

/// Finds the store file, telling "missing" from "no permission to look".
pub(super) fn locate(dir: &Path) -> Result<PathBuf> {
    let path = dir.join(STORE_FILE);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err(StoreError::Corrupt {
            path,
            detail: "it is not a file".into(),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            // A folder that exists but cannot be listed hides its files: say so, not "missing".
            match std::fs::read_dir(dir) {
                Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                    Err(StoreError::NoPermission(dir.to_path_buf()))
                }
                _ => Err(StoreError::NotInitialized(dir.to_path_buf())),
            }
        }
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            Err(StoreError::NoPermission(dir.to_path_buf()))
        }
        Err(e) => Err(StoreError::Storage(e.to_string())),
    }
}

/// What a failed open means, in the store's terms.
fn open_error(path: &Path, e: DatabaseError) -> StoreError {
    match e {
        DatabaseError::DatabaseAlreadyOpen => StoreError::Busy,
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == ErrorKind::PermissionDenied =>
        {
            let read_only = std::fs::metadata(path).is_ok_and(|m| m.permissions().readonly());
            if read_only {
                StoreError::ReadOnlyFile(path.to_path_buf())
            } else {
                StoreError::NoPermission(path.to_path_buf())
            }
        }
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == ErrorKind::ReadOnlyFilesystem =>
        {
            StoreError::ReadOnlyFile(path.to_path_buf())
        }
        e => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
    }
}

/// What [`open_db`] opened.
pub(super) struct OpenedDb {
    pub db: Db,
    pub path: PathBuf,
    pub opened: Opened,
    /// `None` for a plaintext store of an earlier build.
    pub keys: Option<Keys>,
}

/// Opens the store file of `dir` as `access` asks, unlocked by `unlock`: the database, the file's path,
/// what the open did beyond what was asked, and its keys.
pub(super) fn open_db(dir: &Path, access: Access, unlock: Unlock<'_>) -> Result<OpenedDb> {
    let path = locate(dir)?;
    let keys = unlock_header(dir, &path, unlock)?;
    let (db, opened) = open_unlocked(dir, &path, access, keys.as_ref().map(|k| &k.data))?;
    Ok(OpenedDb {
        db,
        path,
        opened,
        keys,
    })
}

/// Opens the encrypted store file of `dir` for writing with keys already unlocked (after a rewrite).
pub(super) fn open_db_with(dir: &Path, keys: Keys) -> Result<OpenedDb> {
    let path = locate(dir)?;
    let (db, opened) = open_unlocked(dir, &path, Access::Write, Some(&keys.data))?;
    Ok(OpenedDb {
        db,
        path,
        opened,
        keys: Some(keys),
    })
}

fn open_unlocked(
    dir: &Path,
    path: &Path,
    access: Access,
    data: Option<&DataKey>,
) -> Result<(Db, Opened)> {
    let path = path.to_path_buf();
    let clean = stamped(dir, &path);
    let mut check = access == Access::Checked || !clean;
    if access == Access::ReadOnly && clean {
        let builder = {
            let mut b = redb::Builder::new();
            b.set_cache_size(CACHE_BYTES);
            b
        };
        let db = match data {
            Some(data) => std::fs::File::open(&path)
                .map_err(DatabaseError::from)
                .and_then(FileBackend::new)
                .and_then(|f| {
                    builder.open_read_only_with_backend(Encrypted::new(f, data, HEADER_LEN))
                }),
            None => builder.open_read_only(&path),
        };
        match db {
            Ok(db) => return Ok((Db::Read(db), Opened::AsAsked)),
            // Stamped, yet redb finds it not closed cleanly: checked below like any unstamped file.
            Err(DatabaseError::RepairAborted) => check = true,
            Err(e) => return Err(open_error(&path, e)),
        }
    }
    // Refused early for a file that cannot be written, before the stamp is given up.
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
    {
        return Err(open_error(&path, DatabaseError::from(e)));
    }
    unstamp(dir);
    if check {
        tracing::info!("store file not provably closed cleanly, or asked: checking it completely");
    }
    let db = match data {
        Some(data) => encrypted_db(&path, data, check, false)?,
        None => redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .set_check_integrity_on_open(check)
            .open(&path)
            .map_err(|e| open_error(&path, e))?,
    };
    // A command that only reads got a file opened for writing: it says so.
    let opened = if access == Access::ReadOnly {
        Opened::Checked
    } else {
        Opened::AsAsked
    };
    Ok((Db::Write(db), opened))
}
