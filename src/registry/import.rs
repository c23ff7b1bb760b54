//! Importing bundles: decrypt and verify (through `bundle::read`), then merge each bundle in one write
//! transaction. Every revision is validated against its form version and accepted or quarantined on its
//! own; the family's current revision, its NIK/KK indexes and the conflicts it takes part in follow from
//! the set of revisions received, so the order bundles arrive in does not change the end state.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use redb::{ReadableDatabase, ReadableMultimapTable, ReadableTable, TableHandle, WriteTransaction};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::db::*;
use super::family::{Family, FamilyState};
use super::{RegistryError, RegistryKeys, Result};
use crate::bundle::manifest::SeqRange;
use crate::bundle::read::{self, Item};
use crate::bundle::{BundleError, EXTENSION, hex};
use crate::form::catalog::Catalog;
use crate::form::eval::evaluate;
use crate::form::schema::FieldKind;
use crate::form::{Form, Severity};
use crate::model::record::{Action, Revision};

/// An open registry: its keys, its store and the forms it validates against.
pub struct Registry {
    pub dir: PathBuf,
    pub keys: RegistryKeys,
    pub db: Db,
    pub catalog: &'static Catalog,
    /// How long an import of many files merges into one write transaction before it commits it
    /// durably and reports the files in it ([`SAVE_EVERY`]; zero: after every file).
    pub save_every: std::time::Duration,
}

/// What happened to one bundle file.
#[derive(Debug, Clone, PartialEq)]
pub enum FileOutcome {
    /// Merged: what it did.
    Merged(BundleEntry),
    /// This bundle (the same file, or the same bundle id) was merged before; nothing changed.
    AlreadyImported { bundle: BundleEntry },
    /// From a device not yet approved: kept aside, not merged, until an operator approves it.
    Held {
        device: DeviceEntry,
        already_held: bool,
    },
    /// Not merged, with the reason (a revoked device, a key that does not match, a damaged or
    /// foreign file).
    Refused { reason: String },
}

impl FileOutcome {
    /// Whether an operator has something to do about this file.
    pub fn needs_operator(&self) -> bool {
        match self {
            FileOutcome::Merged(b) => {
                b.merged.quarantined > 0 || b.merged.conflicts > 0 || b.merged.mismatched > 0
            }
            FileOutcome::AlreadyImported { .. } => false,
            FileOutcome::Held { .. } | FileOutcome::Refused { .. } => true,
        }
    }
}

/// A bundle that passed every check of the reader, held in memory for its merge.
pub struct Opened {
    verified: read::Verified,
    revisions: Vec<Slim>,
    attachments: Vec<(String, Vec<u8>)>,
}

/// What a merge needs of one revision, worked out beside the merge: its exact line, its keys, the
/// validation verdict and the summary of its answers. The parsed answers are dropped where they were
/// parsed.
pub(crate) struct Slim {
    /// The line as stored: zstd-compressed (see `db::REVISIONS`). The line itself is not kept: only a
    /// position the registry already holds in other bytes needs it (unpacked then).
    stored: Vec<u8>,
    record: Uuid,
    number: u32,
    seq: u64,
    action: Action,
    at: DateTime<FixedOffset>,
    /// Validation of the revision (empty: it passed).
    reasons: Vec<Reason>,
    summary: Summary,
}

/// The parts of a revision a family's entry is made of.
#[derive(Clone)]
pub(crate) struct Summary {
    petugas: String,
    at: DateTime<FixedOffset>,
    form_id: String,
    form_version: u64,
    niks: Vec<String>,
    kk: Option<String>,
    facts: Option<super::facts::Facts>,
}

fn summarize(catalog: &Catalog, rev: &Revision) -> Summary {
    let form = catalog.version(&rev.form_id, rev.form_version);
    let (niks, kk) = form
        .map(|f| identifiers(f, &rev.answers))
        .unwrap_or_default();
    Summary {
        petugas: rev.petugas.clone(),
        at: rev.at,
        form_id: rev.form_id.clone(),
        form_version: rev.form_version,
        niks,
        kk,
        facts: form.and_then(|f| super::facts_of(f, &rev.answers)),
    }
}

fn check(catalog: &Catalog, rev: &Revision) -> Vec<Reason> {
    match rev.action {
        Action::Corrected => Vec::new(),
        Action::Finalized => validate(catalog, rev),
        Action::Created | Action::Saved => vec![Reason::new(
            "not_final",
            "",
            "revisi draf tidak dikirim ke registri",
            "a draft revision is not sent to the registry",
        )],
    }
}

/// A bundle file read, decrypted, verified and validated: ready to be merged.
pub struct Prepared {
    bytes: Vec<u8>,
    name: String,
    sha: String,
    /// `Err` also for a file merged before (looked up again when it is merged).
    opened: Result<Opened, BundleError>,
}

fn db_err(e: impl Into<DbError>) -> RegistryError {
    RegistryError::Db(e.into())
}

/// The bundle files under `paths`: files as given, folders searched (one level deep and their
/// subfolders) for `*.age` files that are not `.partial` leftovers. Sorted, without repeats.
pub fn bundle_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = BTreeSet::new();
    for p in paths {
        let meta = fs::metadata(p).map_err(|source| RegistryError::Io {
            path: p.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(p, &mut out, 0)?;
        } else {
            out.insert(p.clone());
        }
    }
    Ok(out.into_iter().collect())
}

fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>, depth: u32) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|source| RegistryError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for e in entries {
        let e = e.map_err(|source| RegistryError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() && depth < 3 {
            walk(&path, out, depth + 1)?;
        } else if ft.is_file() && path.extension().is_some_and(|x| x == EXTENSION) {
            out.insert(path);
        }
    }
    Ok(())
}

impl Registry {
    /// Opens the registry in `dir` (its keys must be there; the store is created on first use).
    pub fn open(dir: &Path) -> Result<Registry> {
        let keys = super::load(dir)?;
        let db = Db::open_or_create(dir).map_err(RegistryError::Db)?;
        let catalog = Catalog::shared().map_err(|e| RegistryError::Key {
            path: dir.to_path_buf(),
            detail: format!("the built-in forms do not load: {e}"),
        })?;
        Ok(Registry {
            dir: dir.to_path_buf(),
            keys,
            db,
            catalog,
            save_every: SAVE_EVERY,
        })
    }

    /// Imports one bundle given as bytes (`name` is its file name, for the log).
    pub fn import_bytes(
        &self,
        bytes: &[u8],
        name: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<FileOutcome> {
        let prepared = self.prepare(bytes.to_vec(), name)?;
        self.commit(prepared, now)
    }

    /// Imports files in order, reading, decrypting and validating the next file on a second thread
    /// while the current one is merged. `each` sees every outcome as it happens.
    pub fn import_files(
        &self,
        files: &[PathBuf],
        now: DateTime<FixedOffset>,
        mut each: impl FnMut(usize, &Path, &FileOutcome),
    ) -> Result<Vec<FileOutcome>> {
        // Readers take files in turn (the CPU work: decrypt, verify, validate, one per core, at least
        // two and at most eight); this thread merges them in the given order.
        let readers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..readers {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Prepared>>(AHEAD);
            senders.push(tx);
            receivers.push(rx);
        }
        std::thread::scope(|scope| {
            for (k, tx) in senders.into_iter().enumerate() {
                scope.spawn(move || {
                    for f in files.iter().skip(k).step_by(readers) {
                        let prepared = read_file(f).and_then(|bytes| {
                            let name = f
                                .file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_default();
                            self.prepare(bytes, &name)
                        });
                        let stop = prepared.is_err();
                        if tx.send(prepared).is_err() || stop {
                            break;
                        }
                    }
                });
            }
            let mut out = Vec::with_capacity(files.len());
            let mut merged = || -> Result<()> {
                // One write transaction for every bundle merged within a few seconds, committed
                // durably; outcomes are reported once they are on disk.
                let mut batch = Some(Batch::begin(&self.db)?);
                for i in 0..files.len() {
                    let prepared = receivers
                        .get(i % readers)
                        .ok_or_else(|| RegistryError::Invalid("no reader".into()))
                        .and_then(|rx| {
                            rx.recv().map_err(|_| {
                                RegistryError::Invalid("a reading thread stopped early".into())
                            })
                        })
                        .and_then(|p| p);
                    let prepared = match prepared {
                        Ok(p) => p,
                        Err(e) => {
                            // A file that cannot be read (a stick pulled out) wrote nothing: what was
                            // merged before it is saved, then the import stops.
                            if let Some(open) = batch.take() {
                                report(open.commit()?, files, &mut out, &mut each);
                            }
                            return Err(e);
                        }
                    };
                    // (redb has one write transaction at a time: the next begins after a commit.)
                    let mut open = match batch.take() {
                        Some(b) => b,
                        None => Batch::begin(&self.db)?,
                    };
                    let outcome = match self.commit_in(&open.txn, prepared, now) {
                        Ok(o) => o,
                        // A failed merge may have written part of a bundle: the transaction is
                        // dropped, with the bundles merged in it since the last save.
                        Err(e) if open.done.is_empty() => return Err(e),
                        Err(e) => {
                            return Err(RegistryError::Unsaved {
                                source: Box::new(e),
                                unsaved: open.done.len(),
                            });
                        }
                    };
                    open.done.push((i, outcome));
                    if open.started.elapsed() >= self.save_every {
                        report(open.commit()?, files, &mut out, &mut each);
                    } else {
                        batch = Some(open);
                    }
                }
                if let Some(open) = batch {
                    report(open.commit()?, files, &mut out, &mut each);
                }
                Ok(())
            };
            let result = merged();
            // Ends the readers early when the loop stopped on an error.
            drop(receivers);
            result.map(|()| out)
        })
    }

    /// The CPU part of an import, safe to run beside a merge: hash, decrypt, verify, validate every
    /// final revision. Nothing is written.
    pub fn prepare(&self, bytes: Vec<u8>, name: &str) -> Result<Prepared> {
        let sha = hex(&Sha256::digest(&bytes));
        if self.file_known(&sha)? {
            return Ok(Prepared {
                bytes,
                name: name.to_string(),
                sha,
                opened: Err(BundleError::invalid("imported before")),
            });
        }
        let opened = open_bundle(&bytes, &self.keys.identity, self.catalog);
        Ok(Prepared {
            bytes,
            name: name.to_string(),
            sha,
            opened,
        })
    }

    /// The writing part of an import: hold, refuse or merge a prepared bundle, durably.
    pub fn commit(&self, p: Prepared, now: DateTime<FixedOffset>) -> Result<FileOutcome> {
        let batch = Batch::begin(&self.db)?;
        let outcome = self.commit_in(&batch.txn, p, now)?;
        batch.txn.commit().map_err(db_err)?;
        Ok(outcome)
    }

    /// [`Registry::commit`] inside a write transaction that may hold other bundles too: everything it
    /// reads (files and bundles merged, devices) is read in that transaction, so a bundle repeated
    /// within one import is recognised. Nothing is durable before the transaction commits.
    fn commit_in(
        &self,
        txn: &WriteTransaction,
        p: Prepared,
        now: DateTime<FixedOffset>,
    ) -> Result<FileOutcome> {
        if let Some(b) = bundle_by_file_in(txn, &p.sha)? {
            return Ok(FileOutcome::AlreadyImported { bundle: b });
        }
        let opened = match p.opened {
            Ok(o) => o,
            Err(e) => {
                return Ok(FileOutcome::Refused {
                    reason: e.to_string(),
                });
            }
        };
        let m = &opened.verified.manifest;
        if let Some(b) = get_json_in::<BundleEntry>(txn, BUNDLES, m.bundle_id.as_u128())? {
            return Ok(FileOutcome::AlreadyImported { bundle: b });
        }
        let device = get_json_in::<DeviceEntry>(txn, DEVICES, m.device.id.as_u128())?;
        match device {
            Some(d) if d.public_key != m.device.public_key => Ok(FileOutcome::Refused {
                reason: format!(
                    "device {} ({}) is registered with another signing key: this bundle was signed by a different tablet using the same id; check the tablet before approving anything",
                    d.id, d.name
                ),
            }),
            Some(d) if d.state == DeviceState::Revoked => Ok(FileOutcome::Refused {
                reason: format!(
                    "device {} ({}) was revoked on {}: its bundles are refused",
                    d.id,
                    d.name,
                    d.changed_at.format("%Y-%m-%d")
                ),
            }),
            Some(d) if d.state == DeviceState::Approved => {
                let entry = self.merge(txn, &opened, &p.sha, &p.name, now)?;
                Ok(FileOutcome::Merged(entry))
            }
            other => self.hold(txn, &p.bytes, &opened, &p.sha, &p.name, other, now),
        }
    }

    /// Registers a device as approved before its first bundle (provisioning: the operator knows the
    /// tablet's key from `pendata device` on it).
    pub fn enrol(
        &self,
        id: Uuid,
        name: &str,
        public_key: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<DeviceEntry> {
        crate::bundle::keys::parse_verifying_key(public_key)
            .map_err(|e| RegistryError::Invalid(format!("the device key {e}")))?;
        if let Some(d) = self
            .db
            .get_json::<DeviceEntry>(DEVICES, id.as_u128())
            .map_err(RegistryError::Db)?
        {
            if d.public_key != public_key {
                return Err(RegistryError::Invalid(format!(
                    "device {id} is already registered with another key"
                )));
            }
            return Ok(d);
        }
        let d = DeviceEntry {
            id,
            name: name.to_string(),
            public_key: public_key.to_string(),
            state: DeviceState::Approved,
            first_seen: now,
            changed_at: now,
        };
        let txn = self.db.db.begin_write().map_err(db_err)?;
        {
            let mut t = txn.open_table(DEVICES).map_err(db_err)?;
            t.insert(id.as_u128(), encode(&d)?.as_slice())
                .map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        Ok(d)
    }

    /// Whether a file with this SHA-256 was merged (as far as committed transactions tell).
    fn file_known(&self, sha: &str) -> Result<bool> {
        let txn = self.db.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(FILE_HASHES).map_err(db_err)?;
        Ok(t.get(sha).map_err(db_err)?.is_some())
    }

    /// Keeps a bundle of an unknown or pending device aside (a copy under `pending/`, written durably
    /// first), registering the device as pending.
    #[allow(clippy::too_many_arguments)]
    fn hold(
        &self,
        txn: &WriteTransaction,
        bytes: &[u8],
        opened: &Opened,
        sha: &str,
        name: &str,
        known: Option<DeviceEntry>,
        now: DateTime<FixedOffset>,
    ) -> Result<FileOutcome> {
        let m = &opened.verified.manifest;
        let already_held =
            get_json_in::<PendingBundle>(txn, PENDING, m.bundle_id.as_u128())?.is_some();
        let device = known.unwrap_or_else(|| DeviceEntry {
            id: m.device.id,
            name: m.device.name.clone(),
            public_key: m.device.public_key.clone(),
            state: DeviceState::Pending,
            first_seen: now,
            changed_at: now,
        });
        if already_held {
            return Ok(FileOutcome::Held {
                device,
                already_held,
            });
        }
        let dir = self.dir.join(PENDING_DIR);
        fs::create_dir_all(&dir).map_err(|source| RegistryError::Io {
            path: dir.clone(),
            source,
        })?;
        let file_name = if name.is_empty() || name.contains(['/', '\\']) {
            format!("{}.{EXTENSION}", m.bundle_id)
        } else {
            name.to_string()
        };
        let rel = format!("{PENDING_DIR}/{}-{file_name}", m.bundle_id.simple());
        write_durably(&self.dir.join(&rel), bytes)?;
        let pending = PendingBundle {
            bundle_id: m.bundle_id,
            device: m.device.id,
            file: rel,
            file_sha256: sha.to_string(),
            sequence: m.sequence,
            received_at: now,
        };
        let mut devices = txn.open_table(DEVICES).map_err(db_err)?;
        devices
            .insert(device.id.as_u128(), encode(&device)?.as_slice())
            .map_err(db_err)?;
        let mut p = txn.open_table(PENDING).map_err(db_err)?;
        p.insert(m.bundle_id.as_u128(), encode(&pending)?.as_slice())
            .map_err(db_err)?;
        Ok(FileOutcome::Held {
            device,
            already_held,
        })
    }

    /// Merges a verified bundle of an approved device in `txn`.
    fn merge(
        &self,
        txn: &WriteTransaction,
        b: &Opened,
        sha: &str,
        name: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<BundleEntry> {
        let m = &b.verified.manifest;
        let device = m.device.id.as_u128();
        let mut counts = MergeCounts::default();
        let mut touched: BTreeSet<u128> = BTreeSet::new();
        {
            let mut revisions = txn.open_table(REVISIONS).map_err(db_err)?;
            let mut finals = txn.open_table(FINALS).map_err(db_err)?;
            let mut quarantine = txn.open_table(QUARANTINE).map_err(db_err)?;
            for rev in &b.revisions {
                let key = (device, rev.seq);
                // Inserted at once (one look-up instead of two); a position held before is put back.
                let old = revisions
                    .insert(key, rev.stored.as_slice())
                    .map_err(db_err)?
                    .map(|old| old.value().to_vec());
                if let Some(old) = old {
                    // The same bytes, or the same line compressed otherwise (an older level).
                    let same = old == rev.stored
                        || matches!(
                            (unpack(&old), unpack(&rev.stored)),
                            (Ok(o), Ok(n)) if o == n
                        );
                    if same {
                        counts.duplicates += 1;
                    } else {
                        counts.mismatched += 1;
                    }
                    revisions.insert(key, old.as_slice()).map_err(db_err)?;
                    continue;
                }
                if rev.action == Action::Corrected {
                    counts.accepted += 1;
                    continue;
                }
                let reasons = rev.reasons.clone();
                let candidate = reasons.is_empty();
                finals
                    .insert(
                        (rev.record.as_u128(), device, rev.number),
                        (rev.seq, rev.at.timestamp_millis(), candidate),
                    )
                    .map_err(db_err)?;
                if candidate {
                    counts.accepted += 1;
                } else {
                    counts.quarantined += 1;
                    let q = QuarantineEntry {
                        device: m.device.id,
                        seq: rev.seq,
                        record: rev.record,
                        revision: rev.number,
                        bundle: m.bundle_id,
                        reasons,
                        state: QuarantineState::Open,
                        held_at: now,
                        decided_at: None,
                    };
                    quarantine
                        .insert(key, encode(&q)?.as_slice())
                        .map_err(db_err)?;
                }
                touched.insert(rev.record.as_u128());
            }
            let mut att = txn.open_table(ATTACHMENTS).map_err(db_err)?;
            for (sha, bytes) in &b.attachments {
                if att.get(sha.as_str()).map_err(db_err)?.is_none() {
                    att.insert(sha.as_str(), bytes.as_slice()).map_err(db_err)?;
                }
            }
        }
        add_coverage(txn, device, m.sequence)?;
        let fresh = b
            .revisions
            .iter()
            .map(|r| ((device, r.seq), &r.summary))
            .collect();
        let mut merge = Merge::new(txn, self.catalog, now, fresh)?;
        for r in &touched {
            merge.recompute(*r)?;
        }
        counts.conflicts += merge.opened;
        drop(merge);
        let entry = BundleEntry {
            bundle_id: m.bundle_id,
            device: m.device.id,
            file_name: name.to_string(),
            file_sha256: sha.to_string(),
            sequence: m.sequence,
            kind: m.kind,
            created_at: m.created_at,
            imported_at: now,
            counts: m.counts,
            merged: counts,
        };
        {
            let mut bundles = txn.open_table(BUNDLES).map_err(db_err)?;
            bundles
                .insert(m.bundle_id.as_u128(), encode(&entry)?.as_slice())
                .map_err(db_err)?;
            let mut hashes = txn.open_table(FILE_HASHES).map_err(db_err)?;
            hashes.insert(sha, m.bundle_id.as_u128()).map_err(db_err)?;
        }
        Ok(entry)
    }
}

pub const PENDING_DIR: &str = "pending";

/// How many bundles each reader may prepare ahead of the merge: enough to keep both cores busy while
/// the merging thread waits for a durable commit (a few hundred ms), at 2–3 MB per prepared bundle.
const AHEAD: usize = 8;

/// How long a long import merges into one write transaction before it commits it durably (and at its
/// end): syncing every bundle's transaction to disk cost more than merging it, and B-tree pages changed
/// by many bundles in one transaction are copied once instead of once per bundle.
pub const SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A write transaction over the bundles merged since the last save, with their outcomes, which are
/// reported only once it is committed.
struct Batch {
    txn: WriteTransaction,
    started: std::time::Instant,
    done: Vec<(usize, FileOutcome)>,
}

impl Batch {
    fn begin(db: &Db) -> Result<Batch> {
        Ok(Batch {
            txn: db.begin_write().map_err(RegistryError::Db)?,
            started: std::time::Instant::now(),
            done: Vec::new(),
        })
    }

    /// Commits durably; the outcomes are now true on disk.
    fn commit(self) -> Result<Vec<(usize, FileOutcome)>> {
        self.txn.commit().map_err(db_err)?;
        Ok(self.done)
    }
}

/// Tells `each` about outcomes that are saved, and keeps them.
fn report(
    saved: Vec<(usize, FileOutcome)>,
    files: &[PathBuf],
    out: &mut Vec<FileOutcome>,
    each: &mut impl FnMut(usize, &Path, &FileOutcome),
) {
    for (i, outcome) in saved {
        if let Some(f) = files.get(i) {
            each(i, f, &outcome);
        }
        out.push(outcome);
    }
}

/// The bundle merged from a file with this SHA-256, read in `txn`.
fn bundle_by_file_in(txn: &WriteTransaction, sha: &str) -> Result<Option<BundleEntry>> {
    let id = {
        let t = txn.open_table(FILE_HASHES).map_err(db_err)?;
        t.get(sha).map_err(db_err)?.map(|v| v.value())
    };
    match id {
        Some(id) => get_json_in(txn, BUNDLES, id),
        None => Ok(None),
    }
}

/// One JSON document of a table keyed by id, read in `txn`.
fn get_json_in<T: serde::de::DeserializeOwned>(
    txn: &WriteTransaction,
    table: redb::TableDefinition<u128, &[u8]>,
    key: u128,
) -> Result<Option<T>> {
    let t = txn.open_table(table).map_err(db_err)?;
    doc(&t, key, table.name()).map_err(db_err)
}

/// The zstd dictionary stored revision lines are compressed with (`schemas/dict/`, trained on the
/// structure of revision lines — keys, codes — never on anyone's data). A 4 kB line becomes a sixth of
/// it (a third of that of zstd without it), no slower: the store of a province is a third of the size
/// and the merge writes that much less. Frames name their dictionary; a published one never changes, a
/// new one gets the next number and the old ones stay here to read what they compressed.
const LINE_DICT_ID: u32 = 1;
const LINE_DICT: &[u8] = include_bytes!("../../schemas/dict/registry-lines-1.zdict");
/// The level lines are compressed at with the dictionary.
const PACK_LEVEL: i32 = 1;

static PACK_DICT: std::sync::LazyLock<zstd::dict::EncoderDictionary<'static>> =
    std::sync::LazyLock::new(|| zstd::dict::EncoderDictionary::copy(LINE_DICT, PACK_LEVEL));
static UNPACK_DICT: std::sync::LazyLock<zstd::dict::DecoderDictionary<'static>> =
    std::sync::LazyLock::new(|| zstd::dict::DecoderDictionary::copy(LINE_DICT));

/// Compresses a bundle's lines for the store, one after the other.
struct Packer {
    z: zstd::bulk::Compressor<'static>,
    /// Room for the largest frame of the line at hand; each frame is copied out at its own size (a frame
    /// returned in a buffer sized for the worst case would hold ~6x its size until the bundle is merged).
    scratch: Vec<u8>,
}

fn packer() -> Result<Packer, BundleError> {
    Ok(Packer {
        z: zstd::bulk::Compressor::with_prepared_dictionary(&PACK_DICT).map_err(BundleError::Io)?,
        scratch: Vec::new(),
    })
}

/// A revision line as the store keeps it: zstd-compressed with the line dictionary
/// (`zstd -d -D schemas/dict/registry-lines-1.zdict` gives it back byte for byte).
fn pack(p: &mut Packer, line: &[u8]) -> Result<Vec<u8>, BundleError> {
    let bound = zstd::zstd_safe::compress_bound(line.len());
    p.scratch.clear();
    p.scratch.reserve(bound);
    p.z.compress_to_buffer(line, &mut p.scratch)
        .map_err(BundleError::Io)?;
    Ok(p.scratch.as_slice().to_vec())
}

/// A stored revision line, decompressed: with the dictionary its frame names, or none (lines stored
/// before the registry used one).
pub(crate) fn unpack(stored: &[u8]) -> Result<Vec<u8>> {
    use std::io::Read;
    let damaged = |e: std::io::Error| {
        db_err(DbError::Storage(format!(
            "a stored revision is damaged: {e}"
        )))
    };
    match zstd::zstd_safe::get_dict_id_from_frame(stored).map(|d| d.get()) {
        None => zstd::decode_all(stored).map_err(damaged),
        Some(LINE_DICT_ID) => {
            let mut out = Vec::with_capacity(stored.len() * 8);
            zstd::stream::read::Decoder::with_prepared_dictionary(stored, &UNPACK_DICT)
                .and_then(|mut d| d.read_to_end(&mut out))
                .map_err(damaged)?;
            Ok(out)
        }
        Some(other) => Err(db_err(DbError::Storage(format!(
            "a stored revision is compressed with line dictionary {other}, which this version of pendata does not have: update pendata"
        )))),
    }
}

/// Writes a new file durably: temporary name, fsync, rename, folder fsync.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("partial");
    {
        let mut f = fs::File::create(&tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        crate::bundle::write::sync_dir(dir).map_err(io)?;
    }
    Ok(())
}

fn open_bundle(
    bytes: &[u8],
    identity: &age::x25519::Identity,
    catalog: &Catalog,
) -> Result<Opened, BundleError> {
    let mut revisions = Vec::new();
    let mut attachments = Vec::new();
    let mut z = packer()?;
    let verified = read::read(bytes, std::slice::from_ref(identity), |item| {
        match item {
            Item::Revision { raw, revision } => revisions.push(Slim {
                stored: pack(&mut z, raw)?,
                record: revision.record,
                number: revision.number,
                seq: revision.seq,
                action: revision.action,
                at: revision.at,
                reasons: check(catalog, &revision),
                summary: summarize(catalog, &revision),
            }),
            Item::Attachment { sha256, bytes } => {
                attachments.push((sha256.to_string(), bytes.to_vec()))
            }
        }
        Ok(())
    })?;
    Ok(Opened {
        verified,
        revisions,
        attachments,
    })
}

/// Reads a whole file into memory (bundles are a few MB); the reader then streams over the bytes.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let mut f = fs::File::open(path).map_err(|source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut v = Vec::new();
    f.read_to_end(&mut v).map_err(|source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(v)
}

/// Checks a final revision against its form version on the day it was made: errors, and warnings the
/// tablet should have had acknowledged.
pub fn validate(catalog: &Catalog, rev: &Revision) -> Vec<Reason> {
    let Some(form) = catalog.version(&rev.form_id, rev.form_version) else {
        return vec![Reason::new(
            "unknown_form",
            "",
            format!(
                "formulir {} versi {} tidak dikenal registri ini: perbarui pendata di registri",
                rev.form_id, rev.form_version
            ),
            format!(
                "form {} version {} is unknown to this registry: update pendata at the registry",
                rev.form_id, rev.form_version
            ),
        )];
    };
    let acked: BTreeSet<&str> = rev.acknowledged.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for issue in evaluate(form, &rev.answers, rev.at.date_naive()).issues {
        match issue.severity {
            Severity::Error => out.push(Reason {
                code: issue.code.to_string(),
                path: issue.path.clone(),
                message: issue.message.clone(),
            }),
            Severity::Warning => {
                let key = format!("{} {}", issue.path, issue.code);
                if !acked.contains(key.as_str()) {
                    out.push(Reason {
                        code: "unacknowledged_warning".into(),
                        path: issue.path.clone(),
                        message: crate::model::Localized::new(
                            format!("peringatan belum dikonfirmasi: {}", issue.message.id),
                            format!("warning not acknowledged: {}", issue.message.en),
                        ),
                    });
                }
            }
        }
    }
    out
}

/// The NIKs and the KK number in a revision's answers, found through the form's field kinds (at the
/// top level and inside repeats). Only well-formed 16-digit values count.
pub fn identifiers(
    form: &Form,
    answers: &crate::model::record::Answers,
) -> (Vec<String>, Option<String>) {
    let mut niks = BTreeSet::new();
    let mut kk = None;
    let well_formed = |v: &serde_json::Value| {
        v.as_str()
            .map(str::trim)
            .filter(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_string)
    };
    for f in &form.fields {
        match (f.kind, f.container) {
            (FieldKind::Nik, crate::form::compile::Container::Top) => {
                if let Some(n) = answers.get(&f.name).and_then(well_formed) {
                    niks.insert(n);
                }
            }
            (FieldKind::Nik, crate::form::compile::Container::Repeat(r)) => {
                let Some(rep) = form.field_by_id(r) else {
                    continue;
                };
                if let Some(items) = answers.get(&rep.name).and_then(|v| v.as_array()) {
                    for it in items {
                        if let Some(n) = it.get(&f.name).and_then(well_formed) {
                            niks.insert(n);
                        }
                    }
                }
            }
            (FieldKind::Kk, crate::form::compile::Container::Top) if kk.is_none() => {
                kk = answers.get(&f.name).and_then(well_formed);
            }
            _ => {}
        }
    }
    (niks.into_iter().collect(), kk)
}

/// Adds a covered range to a device's coverage, merging neighbours.
fn add_coverage(txn: &WriteTransaction, device: u128, r: SeqRange) -> Result<()> {
    let mut t = txn.open_table(COVERAGE).map_err(db_err)?;
    let (mut from, mut to) = (r.from, r.to);
    let mut remove = Vec::new();
    for e in t.range((device, 0)..=(device, u64::MAX)).map_err(db_err)? {
        let (k, v) = e.map_err(db_err)?;
        let (a, b) = (k.value().1, v.value());
        if b.saturating_add(1) >= from && a <= to.saturating_add(1) {
            from = from.min(a);
            to = to.max(b);
            remove.push(a);
        }
    }
    for a in remove {
        t.remove((device, a)).map_err(db_err)?;
    }
    t.insert((device, from), to).map_err(db_err)?;
    Ok(())
}

/// The per-record recomputation inside a merge or a decision. Holds every table it touches open for the
/// whole transaction (opening a table costs a lookup; a merge touches a dozen per family).
pub(crate) struct Merge<'t> {
    /// Summaries of the bundle being merged, by (device, position): read from memory, not the table.
    pub fresh: std::collections::HashMap<(u128, u64), &'t Summary>,
    pub catalog: &'static Catalog,
    pub now: DateTime<FixedOffset>,
    /// Conflicts opened or reopened.
    pub opened: u64,
    revisions: redb::Table<'t, (u128, u64), &'static [u8]>,
    pub(crate) finals: redb::Table<'t, (u128, u128, u32), (u64, i64, bool)>,
    pub(crate) quarantine: redb::Table<'t, (u128, u64), &'static [u8]>,
    families: redb::Table<'t, u128, &'static [u8]>,
    niks: redb::Table<'t, (u64, u128), ()>,
    kks: redb::Table<'t, (u64, u128), ()>,
    conflicts: redb::Table<'t, u64, &'static [u8]>,
    conflict_keys: redb::Table<'t, &'static str, u64>,
    open_by_record: redb::MultimapTable<'t, u128, u64>,
    meta: redb::Table<'t, &'static str, &'static [u8]>,
}

#[derive(Clone, Copy)]
struct Final {
    device: u128,
    number: u32,
    seq: u64,
    at_ms: i64,
    candidate: bool,
}

impl<'t> Merge<'t> {
    pub fn new(
        txn: &'t WriteTransaction,
        catalog: &'static Catalog,
        now: DateTime<FixedOffset>,
        fresh: std::collections::HashMap<(u128, u64), &'t Summary>,
    ) -> Result<Merge<'t>> {
        Ok(Merge {
            fresh,
            catalog,
            now,
            opened: 0,
            revisions: txn.open_table(REVISIONS).map_err(db_err)?,
            finals: txn.open_table(FINALS).map_err(db_err)?,
            quarantine: txn.open_table(QUARANTINE).map_err(db_err)?,
            families: txn.open_table(FAMILIES).map_err(db_err)?,
            niks: txn.open_table(NIK_INDEX).map_err(db_err)?,
            kks: txn.open_table(KK_INDEX).map_err(db_err)?,
            conflicts: txn.open_table(CONFLICTS).map_err(db_err)?,
            conflict_keys: txn.open_table(CONFLICT_KEYS).map_err(db_err)?,
            open_by_record: txn.open_multimap_table(OPEN_BY_RECORD).map_err(db_err)?,
            meta: txn.open_table(META).map_err(db_err)?,
        })
    }

    fn summary(&self, device: u128, seq: u64) -> Result<std::borrow::Cow<'t, Summary>> {
        if let Some(r) = self.fresh.get(&(device, seq)) {
            return Ok(std::borrow::Cow::Borrowed(*r));
        }
        let raw = self
            .revisions
            .get((device, seq))
            .map_err(db_err)?
            .ok_or_else(|| {
                db_err(DbError::Storage(format!(
                    "revision {device:x}/{seq} missing"
                )))
            })?;
        let rev: Revision = serde_json::from_slice(&unpack(raw.value())?)
            .map_err(|e| db_err(DbError::Storage(format!("stored revision unreadable: {e}"))))?;
        Ok(std::borrow::Cow::Owned(summarize(self.catalog, &rev)))
    }

    /// Every final revision received of a record.
    fn finals_of(&self, record: u128) -> Result<Vec<Final>> {
        let mut out = Vec::new();
        for e in self
            .finals
            .range((record, 0, 0)..=(record, u128::MAX, u32::MAX))
            .map_err(db_err)?
        {
            let (k, v) = e.map_err(db_err)?;
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

    /// Every candidate revision of a record: (device, number, seq).
    pub fn candidates_of(&self, record: u128) -> Result<Vec<(u128, u32, u64)>> {
        Ok(self
            .finals_of(record)?
            .into_iter()
            .filter(|f| f.candidate)
            .map(|f| (f.device, f.number, f.seq))
            .collect())
    }

    /// Marks a final revision as a candidate for its family's current revision, or not.
    pub fn set_candidate(&mut self, q: &QuarantineEntry, candidate: bool) -> Result<()> {
        let key = (q.record.as_u128(), q.device.as_u128(), q.revision);
        let v = self.finals.get(key).map_err(db_err)?.map(|v| v.value());
        if let Some((seq, at, _)) = v {
            self.finals
                .insert(key, (seq, at, candidate))
                .map_err(db_err)?;
        }
        Ok(())
    }

    pub fn put_quarantine(&mut self, q: &QuarantineEntry) -> Result<()> {
        self.quarantine
            .insert((q.device.as_u128(), q.seq), encode(q)?.as_slice())
            .map_err(db_err)?;
        Ok(())
    }

    /// Makes the family's current revision, indexes and conflicts agree with the revisions received.
    pub fn recompute(&mut self, record: u128) -> Result<()> {
        let all = self.finals_of(record)?;
        // The latest candidate of each device.
        let mut latest: BTreeMap<u128, Final> = BTreeMap::new();
        for f in all.iter().filter(|f| f.candidate) {
            let e = latest.entry(f.device).or_insert(*f);
            if f.number > e.number {
                *e = *f;
            }
        }
        let rid = Uuid::from_u128(record);
        let member = |f: &Final| Member {
            record: rid,
            device: Uuid::from_u128(f.device),
            revision: f.number,
            seq: f.seq,
        };
        let two_devices = latest.len() > 1;
        let (current, state) = if latest.is_empty() {
            // Only held revisions: the newest of them stands for the family, quarantined.
            match all.iter().max_by_key(|f| (f.at_ms, f.device, f.number)) {
                Some(f) => (*f, FamilyState::Quarantined),
                None => return Ok(()),
            }
        } else {
            let f = latest
                .values()
                .max_by_key(|f| (f.at_ms, f.device))
                .copied()
                .ok_or_else(|| db_err(DbError::Storage("no candidate".into())))?;
            (f, FamilyState::Accepted)
        };
        let rev = self.summary(current.device, current.seq)?;
        let (niks, kk) = match state {
            FamilyState::Accepted => (rev.niks.clone(), rev.kk.clone()),
            _ => (Vec::new(), None),
        };
        let old = self.family(record)?;
        let mut entry = FamilyEntry {
            family: Family {
                record: rid,
                state,
                device: Uuid::from_u128(current.device),
                revision: current.number,
                seq: current.seq,
                petugas: rev.petugas.clone(),
                at: rev.at,
                form_id: rev.form_id.clone(),
                form_version: rev.form_version,
            },
            niks: niks.clone(),
            kk: kk.clone(),
            facts: rev.facts.clone(),
        };
        // Written first (conflicts read members' current revisions), then once more only if the
        // conflicts changed its state.
        self.put_family(record, &entry)?;
        if two_devices {
            let members: Vec<Member> = latest.values().map(member).collect();
            self.ensure(ConflictKind::TwoDevices, &rid.to_string(), members)?;
        } else if old.is_some() {
            self.dissolve(ConflictKind::TwoDevices, &rid.to_string())?;
        }
        let (old_niks, old_kk) = old.map(|o| (o.niks, o.kk)).unwrap_or_default();
        self.reindex(record, ConflictKind::SharedNik, &old_niks, &niks)?;
        self.reindex(
            record,
            ConflictKind::SharedKk,
            &old_kk.into_iter().collect::<Vec<_>>(),
            &kk.into_iter().collect::<Vec<_>>(),
        )?;
        if state != FamilyState::Quarantined {
            let in_conflict = self.in_open_conflict(record)?;
            let now = if in_conflict {
                FamilyState::Conflict
            } else {
                FamilyState::Accepted
            };
            if now != entry.family.state {
                entry.family.state = now;
                self.put_family(record, &entry)?;
            }
        }
        Ok(())
    }

    fn in_open_conflict(&self, record: u128) -> Result<bool> {
        let mut it = self.open_by_record.get(record).map_err(db_err)?;
        Ok(it.next().is_some())
    }

    fn put_family(&mut self, record: u128, e: &FamilyEntry) -> Result<()> {
        self.families
            .insert(record, encode(e)?.as_slice())
            .map_err(db_err)?;
        Ok(())
    }

    fn family(&self, record: u128) -> Result<Option<FamilyEntry>> {
        match self.families.get(record).map_err(db_err)? {
            Some(v) => Ok(Some(decode(v.value(), "family").map_err(db_err)?)),
            None => Ok(None),
        }
    }

    /// Moves a record's entries in the NIK or KK index from `old` to `new` and brings the conflicts on
    /// every value involved up to date.
    fn reindex(
        &mut self,
        record: u128,
        kind: ConflictKind,
        old: &[String],
        new: &[String],
    ) -> Result<()> {
        let touched: BTreeSet<&String> = old.iter().chain(new).collect();
        {
            let t = if kind == ConflictKind::SharedKk {
                &mut self.kks
            } else {
                &mut self.niks
            };
            for v in old.iter().filter(|v| !new.contains(v)) {
                if let Some(n) = id_number(v) {
                    t.remove((n, record)).map_err(db_err)?;
                }
            }
            for v in new.iter().filter(|v| !old.contains(v)) {
                if let Some(n) = id_number(v) {
                    t.insert((n, record), ()).map_err(db_err)?;
                }
            }
        }
        for v in touched {
            let Some(n) = id_number(v) else { continue };
            let records: Vec<u128> = {
                let t = if kind == ConflictKind::SharedKk {
                    &self.kks
                } else {
                    &self.niks
                };
                indexed(t, n).map_err(db_err)?
            };
            if records.len() < 2 {
                // Only a value that was shared can have a conflict to dissolve.
                if old.contains(v) {
                    self.dissolve(kind, v)?;
                }
                continue;
            }
            let mut members = Vec::new();
            for r in records {
                if let Some(f) = self.family(r)? {
                    members.push(Member {
                        record: f.family.record,
                        device: f.family.device,
                        revision: f.family.revision,
                        seq: f.family.seq,
                    });
                }
            }
            self.ensure(kind, v, members)?;
        }
        Ok(())
    }

    fn conflict_on(&self, kind: ConflictKind, key: &str) -> Result<Option<Conflict>> {
        let id = self
            .conflict_keys
            .get(Conflict::table_key(kind, key).as_str())
            .map_err(db_err)?
            .map(|v| v.value());
        let Some(id) = id else { return Ok(None) };
        self.conflict(id)
    }

    pub fn conflict(&self, id: u64) -> Result<Option<Conflict>> {
        match self.conflicts.get(id).map_err(db_err)? {
            Some(v) => Ok(Some(decode(v.value(), "conflict").map_err(db_err)?)),
            None => Ok(None),
        }
    }

    pub fn put_conflict(&mut self, c: &Conflict) -> Result<()> {
        self.conflicts
            .insert(c.id, encode(c)?.as_slice())
            .map_err(db_err)?;
        Ok(())
    }

    /// Makes sure an open conflict with these members exists on `key` — unless an operator already
    /// decided about exactly these families.
    fn ensure(&mut self, kind: ConflictKind, key: &str, mut members: Vec<Member>) -> Result<()> {
        members.sort();
        let records = |ms: &[Member]| ms.iter().map(|m| m.record).collect::<BTreeSet<_>>();
        if let Some(mut c) = self.conflict_on(kind, key)? {
            if c.is_open() {
                if c.members != members {
                    let before: BTreeSet<Uuid> = records(&c.members);
                    let after: BTreeSet<Uuid> = records(&members);
                    c.members = members;
                    self.put_conflict(&c)?;
                    for r in before.difference(&after) {
                        self.open_by_record
                            .remove(r.as_u128(), c.id)
                            .map_err(db_err)?;
                    }
                    for r in after.difference(&before) {
                        self.open_by_record
                            .insert(r.as_u128(), c.id)
                            .map_err(db_err)?;
                    }
                    for r in before.symmetric_difference(&after) {
                        self.refresh_state(r.as_u128())?;
                    }
                }
                return Ok(());
            }
            let same_families = records(&c.members) == records(&members);
            let settled = match &c.decision {
                Some(Decision::Distinct) => same_families,
                Some(Decision::Kept { .. }) => c.members == members,
                _ => false,
            };
            if settled {
                return Ok(());
            }
        }
        let id = self.next_conflict_id()?;
        let c = Conflict {
            id,
            kind,
            key: key.to_string(),
            members,
            detected_at: self.now,
            decision: None,
            decided_at: None,
        };
        self.put_conflict(&c)?;
        self.conflict_keys
            .insert(Conflict::table_key(kind, key).as_str(), id)
            .map_err(db_err)?;
        for m in &c.members {
            self.open_by_record
                .insert(m.record.as_u128(), id)
                .map_err(db_err)?;
        }
        self.opened += 1;
        for m in &c.members {
            self.refresh_state(m.record.as_u128())?;
        }
        Ok(())
    }

    /// Closes the open conflict on `key`, if any, because nothing is shared any more.
    fn dissolve(&mut self, kind: ConflictKind, key: &str) -> Result<()> {
        let Some(mut c) = self.conflict_on(kind, key)? else {
            return Ok(());
        };
        if !c.is_open() {
            return Ok(());
        }
        self.close(&mut c, Decision::Dissolved)
    }

    /// Records a decision on an open conflict and lets its families leave the conflict state.
    pub fn close(&mut self, c: &mut Conflict, d: Decision) -> Result<()> {
        c.decision = Some(d);
        c.decided_at = Some(self.now);
        self.put_conflict(c)?;
        for m in &c.members {
            self.open_by_record
                .remove(m.record.as_u128(), c.id)
                .map_err(db_err)?;
        }
        for m in c.members.clone() {
            self.refresh_state(m.record.as_u128())?;
        }
        Ok(())
    }

    fn next_conflict_id(&mut self) -> Result<u64> {
        let next: u64 = match self.meta.get("next_conflict").map_err(db_err)? {
            Some(v) => decode(v.value(), "next conflict").map_err(db_err)?,
            None => 1,
        };
        self.meta
            .insert("next_conflict", encode(&(next + 1))?.as_slice())
            .map_err(db_err)?;
        Ok(next)
    }

    /// A family in an open conflict is `Conflict`; otherwise `Accepted` (quarantined ones stay so).
    fn refresh_state(&mut self, record: u128) -> Result<()> {
        let Some(mut f) = self.family(record)? else {
            return Ok(());
        };
        if f.family.state == FamilyState::Quarantined {
            return Ok(());
        }
        let state = if self.in_open_conflict(record)? {
            FamilyState::Conflict
        } else {
            FamilyState::Accepted
        };
        if f.family.state != state {
            f.family.state = state;
            self.put_family(record, &f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// A revision line as a tablet writes it.
    fn line() -> Vec<u8> {
        let form = Catalog::shared().unwrap().latest("keluarga").unwrap();
        let mut rng = crate::app::demo::Rng::new(5);
        let spec = crate::app::demo::FamilySpec {
            interview: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        };
        let rev = serde_json::json!({
            "record": "0193a1b2-0000-7000-8000-000000000001",
            "number": 1,
            "seq": 17,
            "action": "finalized",
            "status": "final",
            "form_id": "keluarga",
            "form_version": form.version,
            "answers": crate::app::demo::family(form, &mut rng, &spec),
            "petugas": "ANI",
            "device": "0193a1b2-0000-7000-8000-0000000000ff",
            "at": "2026-11-20T09:30:00+08:00",
        });
        serde_json::to_vec(&rev).unwrap()
    }

    #[test]
    fn stored_lines_name_the_dictionary_and_come_back_byte_for_byte() {
        let line = line();
        let mut packer = packer().unwrap();
        let stored = pack(&mut packer, &line).unwrap();
        // A bundle's frames wait in memory for their merge: each holds its own size, not the worst case.
        assert!(stored.capacity() * 2 < line.len(), "{}", stored.capacity());
        // The packer's scratch room is reused from line to line,
        assert_eq!(pack(&mut packer, &line).unwrap(), stored);
        // and a short line after a long one is packed as by a fresh packer: nothing left over.
        assert_eq!(
            pack(&mut packer, b"{}").unwrap(),
            pack(&mut super::packer().unwrap(), b"{}").unwrap()
        );
        assert_eq!(
            zstd::zstd_safe::get_dict_id_from_frame(&stored).map(|d| d.get()),
            Some(LINE_DICT_ID)
        );
        assert_eq!(unpack(&stored).unwrap(), line);
        // The dictionary earns its place: without it zstd keeps about 40 % of a line.
        assert!(
            stored.len() * 4 < line.len(),
            "{} of {} bytes",
            stored.len(),
            line.len()
        );
    }

    #[test]
    fn lines_stored_without_a_dictionary_are_read_and_unknown_dictionaries_are_named() {
        let line = line();
        let plain = zstd::encode_all(line.as_slice(), -1).unwrap();
        assert_eq!(unpack(&plain).unwrap(), line);
        // The same frame claiming a dictionary this version does not have (frame header: magic,
        // descriptor, window descriptor, then the one-byte dictionary id).
        let mut stored = pack(&mut packer().unwrap(), &line).unwrap();
        let descriptor = stored[4];
        assert_eq!(descriptor & 0b11, 1, "a one-byte dictionary id");
        let at = if descriptor & 0b10_0000 == 0 { 6 } else { 5 };
        assert_eq!(stored[at], 1);
        stored[at] = 9;
        let e = unpack(&stored).unwrap_err().to_string();
        assert!(
            e.contains("line dictionary 9") && e.contains("update pendata"),
            "{e}"
        );
        assert!(unpack(b"not zstd").is_err());
    }
}
